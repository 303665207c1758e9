"""`/api/v1/holdout-tests/`: the incrementality register, each test with its measured lift.

The lift is computed from the group counts on every read (see
apps.measurement.attribution.incrementality): rates, the absolute difference
with its confidence interval, the relative lift with its interval, the p-value
and a verdict that follows the interval.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.measurement.models import HoldoutTest
from apps.measurement.services import holdouts as services


class LiftOutput(serializers.Serializer):
    treatment_rate = serializers.FloatField()
    control_rate = serializers.FloatField()
    difference = serializers.FloatField(help_text="treatment_rate - control_rate.")
    difference_ci = serializers.ListField(child=serializers.FloatField(), help_text="[low, high].")
    relative_lift = serializers.FloatField(
        allow_null=True, help_text="treatment_rate / control_rate - 1; null when control has no conversion."
    )
    relative_lift_ci = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    p_value = serializers.FloatField(help_text="Two-sided two-proportion z test.")
    confidence = serializers.FloatField()
    verdict = serializers.ChoiceField(choices=["positive", "negative", "inconclusive"])
    summary = serializers.CharField()

    def to_representation(self, result):
        return {
            "treatment_rate": result.treatment_rate,
            "control_rate": result.control_rate,
            "difference": result.difference,
            "difference_ci": list(result.difference_ci),
            "relative_lift": result.relative_lift,
            "relative_lift_ci": list(result.relative_lift_ci) if result.relative_lift_ci else None,
            "p_value": result.p_value,
            "confidence": result.confidence,
            "verdict": result.verdict,
            "summary": result.summary,
        }


class HoldoutOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    channel = serializers.CharField()
    campaign = serializers.CharField(source="campaign_ref")
    hypothesis = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    treatment_size = serializers.IntegerField()
    treatment_conversions = serializers.IntegerField()
    control_size = serializers.IntegerField()
    control_conversions = serializers.IntegerField()
    conversion_event = serializers.CharField()
    notes = serializers.CharField()
    lift = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema(responses=LiftOutput)
    def get_lift(self, test) -> dict:
        return LiftOutput(services.holdout_lift(test)).data


class HoldoutInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    channel = serializers.CharField(max_length=60, required=False, allow_blank=True)
    campaign = serializers.CharField(max_length=255, required=False, allow_blank=True)
    hypothesis = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    treatment_size = serializers.IntegerField(min_value=1, help_text="People who saw the program.")
    treatment_conversions = serializers.IntegerField(min_value=0)
    control_size = serializers.IntegerField(min_value=1, help_text="People held out of it.")
    control_conversions = serializers.IntegerField(min_value=0)
    conversion_event = serializers.CharField(
        max_length=120, required=False, allow_blank=True, help_text="What counts as a conversion."
    )
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)


# What PUT sets a field it does not name back to.
PUT_DEFAULTS = {
    "channel": "",
    "campaign": "",
    "hypothesis": "",
    "notes": "",
    "conversion_event": services.DEFAULT_CONVERSION_EVENT,
}


class HoldoutTestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Holdout tests: treatment and control groups over a period, and the lift they measure."""

    queryset = HoldoutTest.objects.all()
    serializer_class = HoldoutOutput

    @extend_schema(request=HoldoutInput, responses={201: HoldoutOutput})
    def create(self, request):
        data = HoldoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        test = services.holdout_create(org=self.org, **data.validated_data)
        return Response(HoldoutOutput(test).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=HoldoutInput, responses=HoldoutOutput)
    def update(self, request, pk=None):
        test = self.get_object()
        data = HoldoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.holdout_update(org=self.org, test=test, **{**PUT_DEFAULTS, **data.validated_data})
        return Response(HoldoutOutput(test).data)

    @extend_schema(request=HoldoutInput, responses=HoldoutOutput)
    def partial_update(self, request, pk=None):
        test = self.get_object()
        data = HoldoutInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.holdout_update(org=self.org, test=test, **data.validated_data)
        return Response(HoldoutOutput(test).data)

    def perform_destroy(self, test):
        services.holdout_delete(org=self.org, test=test)
