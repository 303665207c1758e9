"""`/api/v1/experiments/`: A/B/n tests, starting and stopping them (with a
winner) and their results: people and conversions per variant, each compared
with the control by a two-proportion z-test (Bonferroni-adjusted for n > 2).

`owner` is a membership id: an active member of the key's organisation, else
400 naming `owner`."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.models import Membership
from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.errors import ServiceError
from apps.execution.models import Campaign, Experiment, Journey
from apps.execution.services import experiments as services


class ExperimentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    hypothesis = serializers.CharField()
    journey = serializers.IntegerField(source="journey_id", allow_null=True)
    step_id = serializers.CharField()
    campaign = serializers.IntegerField(source="campaign_id", allow_null=True)
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    variants = serializers.ListField(child=serializers.DictField())
    goal = serializers.DictField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    winner = serializers.CharField()
    learned = serializers.CharField()
    created_at = serializers.DateTimeField()


class ExperimentInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    hypothesis = serializers.CharField(required=False, allow_blank=True)
    journey = serializers.IntegerField(required=False, allow_null=True)
    step_id = serializers.CharField(max_length=40, required=False, allow_blank=True)
    campaign = serializers.IntegerField(required=False, allow_null=True)
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="An active member's id.")
    variants = serializers.ListField(
        child=serializers.DictField(),
        help_text='[{"key": "a", "name": "…", "weight": 1, …content}]; first: control.',
    )
    goal = serializers.DictField(
        help_text='{"type": "stage_reached", "stage": "sql"} or {"type": "opportunity_created"}.'
    )
    learned = serializers.CharField(required=False, allow_blank=True)


class ExperimentStopInput(StrictSerializer):
    winner = serializers.CharField(max_length=40, required=False, allow_blank=True)
    learned = serializers.CharField(required=False, allow_blank=True)


class ExperimentArmOutput(serializers.Serializer):
    variant = serializers.CharField()
    people = serializers.IntegerField()
    conversions = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    difference = serializers.FloatField(allow_null=True, help_text="Rate minus the control's.")
    z = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    verdict = serializers.CharField(
        help_text="better, worse, no_difference, too_small; empty for the control."
    )
    small_sample = serializers.BooleanField()


class ExperimentResultsOutput(serializers.Serializer):
    control = serializers.CharField()
    comparisons = serializers.IntegerField()
    alpha = serializers.FloatField(help_text="The level each comparison is held to, after Bonferroni.")
    min_sample = serializers.IntegerField()
    small_sample = serializers.BooleanField()
    leader = serializers.CharField(allow_null=True)
    arms = ExperimentArmOutput(many=True)


def _results_data(results) -> dict:
    arms = []
    for r in results.arms:
        c = r.comparison
        arms.append(
            {
                "variant": r.arm.key, "people": r.arm.size, "conversions": r.arm.conversions,
                "rate": r.arm.rate,
                "difference": c.difference if c else None, "z": c.z if c else None,
                "p_value": c.p_value if c else None, "ci_low": c.ci_low if c else None,
                "ci_high": c.ci_high if c else None, "verdict": r.verdict, "small_sample": r.small_sample,
            }
        )  # fmt: skip
    return {
        "control": results.control.key, "comparisons": results.comparisons, "alpha": results.alpha,
        "min_sample": results.min_sample, "small_sample": results.small_sample, "leader": results.leader,
        "arms": arms,
    }  # fmt: skip


class ExperimentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Experiments, newest first."""

    queryset = Experiment.objects.all()
    serializer_class = ExperimentOutput

    def _links(self, data: dict) -> dict:
        for field, model in (("journey", Journey), ("campaign", Campaign)):
            if data.get(field) is not None:
                found = model.objects.for_org(self.org).filter(pk=data[field]).first()
                if found is None:
                    raise ServiceError(f"No such {field} here.", field=field)
                data[field] = found
        if data.get("owner") is not None:
            # Another organisation's member is refused like an inactive one: one message for both.
            owner = (
                Membership.objects.for_org(self.org).select_related("user").filter(pk=data["owner"]).first()
            )
            if owner is None:
                raise ServiceError(services.INACTIVE_OWNER, field="owner")
            data["owner"] = owner
        return data

    @extend_schema(
        request=ExperimentInput, responses={201: ExperimentOutput}, operation_id="experiments_create"
    )
    def create(self, request):
        data = ExperimentInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = self._links(dict(data.validated_data))
        learned = fields.pop("learned", "")
        experiment = services.experiment_create(org=self.org, **fields)
        if learned:
            services.experiment_update(org=self.org, experiment=experiment, learned=learned)
        return Response(self.get_serializer(experiment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ExperimentInput, responses=ExperimentOutput, operation_id="experiments_partial_update"
    )
    def partial_update(self, request, pk=None):
        experiment = self.get_object()
        data = ExperimentInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.experiment_update(
            org=self.org, experiment=experiment, **self._links(dict(data.validated_data))
        )
        return Response(self.get_serializer(experiment).data)

    def perform_destroy(self, experiment):
        services.experiment_delete(org=self.org, experiment=experiment)

    @extend_schema(request=None, responses={200: ExperimentOutput}, operation_id="experiments_start")
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Start a draft: leads reaching its step get a variant from now on."""
        experiment = services.experiment_start(org=self.org, experiment=self.get_object())
        return Response(self.get_serializer(experiment).data)

    @extend_schema(
        request=ExperimentStopInput, responses={200: ExperimentOutput}, operation_id="experiments_stop"
    )
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop the test, optionally declaring a winner (a variant key) and what was learned."""
        experiment = self.get_object()
        data = ExperimentStopInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.experiment_stop(
            org=self.org,
            experiment=experiment,
            winner=data.validated_data.get("winner", ""),
            learned=data.validated_data.get("learned"),
        )
        return Response(self.get_serializer(experiment).data)

    @extend_schema(responses={200: ExperimentResultsOutput}, operation_id="experiments_results")
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        """People and conversions per variant, each compared with the control."""
        experiment = self.get_object()
        return Response(_results_data(services.experiment_results(org=self.org, experiment=experiment)))
