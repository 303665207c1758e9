"""`/api/v1/strategy-reviews/`: quarterly strategy reviews, their frozen snapshot, notes and decisions.

POST /api/v1/strategy-reviews/                  hold a review (the current fiscal quarter by default)
PATCH /api/v1/strategy-reviews/{id}/            change the notes
POST /api/v1/strategy-reviews/{id}/decisions/   record a decision
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.lookups import get_for_org
from apps.strategy.models import StrategyReview
from apps.strategy.services import reviews as services


class StrategyDecisionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    rationale = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    due = serializers.DateField(allow_null=True)
    done = serializers.BooleanField()


class StrategyReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    fiscal_year = serializers.IntegerField()
    quarter = serializers.IntegerField()
    held_on = serializers.DateField()
    snapshot = serializers.JSONField(
        help_text="Goals, plan, channels and KPI statuses on the day it was held."
    )
    notes = serializers.CharField()
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    decisions = StrategyDecisionOutput(many=True, source="decisions.all")


class StrategyReviewInput(StrictSerializer):
    fiscal_year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)
    quarter = serializers.IntegerField(required=False, min_value=1, max_value=4)
    notes = serializers.CharField(required=False, allow_blank=True)

    def validate(self, data):
        if ("fiscal_year" in data) != ("quarter" in data):
            raise serializers.ValidationError({"quarter": ["Give both fiscal_year and quarter, or neither."]})
        return data


class StrategyReviewNotesInput(StrictSerializer):
    notes = serializers.CharField(allow_blank=True)


class StrategyDecisionInput(StrictSerializer):
    text = serializers.CharField(max_length=500)
    rationale = serializers.CharField(required=False, allow_blank=True)
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="A member id.")
    due = serializers.DateField(required=False, allow_null=True)


class StrategyReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Quarterly strategy reviews: what the numbers were when it was held, and what was decided."""

    queryset = StrategyReview.objects.prefetch_related("decisions")
    serializer_class = StrategyReviewOutput

    @extend_schema(request=StrategyReviewInput, responses={201: StrategyReviewOutput})
    def create(self, request):
        data = StrategyReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_hold(org=self.org, today=timezone.localdate(), **data.validated_data)
        return Response(self.get_serializer(review).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=StrategyReviewNotesInput, responses=StrategyReviewOutput)
    def partial_update(self, request, pk=None):
        review = self.get_object()
        data = StrategyReviewNotesInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.review_notes(org=self.org, review=review, notes=data.validated_data["notes"])
        return Response(self.get_serializer(review).data)

    @extend_schema(
        operation_id="strategy_reviews_decide",
        request=StrategyDecisionInput,
        responses={201: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["post"])
    def decisions(self, request, pk=None):
        review = get_for_org(StrategyReview.objects.all(), org=self.org, pk=pk)
        data = StrategyDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        decision = services.decision_add(org=self.org, review=review, **data.validated_data)
        return Response(StrategyDecisionOutput(decision).data, status=status.HTTP_201_CREATED)
