"""`/api/v1/goals/`: revenue goals per fiscal quarter, each with its progress read from the metric engine.

`progress.scope` says what the actual counts: "team" (the opportunities the
team's members own) or "organisation" (an organisation goal, or a team goal on
a metric that cannot be split by owner, such as net revenue retention).
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.strategy.models import Goal, GoalMetric
from apps.strategy.services import goals as services

METRIC_ERROR = f"“{{input}}” is not a goal metric; use one of: {', '.join(GoalMetric.values)}."


class ProgressOutput(serializers.Serializer):
    start = serializers.DateField(help_text="The quarter's first day.")
    end = serializers.DateField(help_text="The quarter's last day (inclusive).")
    measured_to = serializers.DateField(
        allow_null=True, help_text="The last day read; null before the quarter starts."
    )
    unit = serializers.CharField(help_text="currency, count or percent.")
    scope = serializers.ChoiceField(choices=["team", "organisation"])
    actual = serializers.FloatField(allow_null=True)
    target = serializers.FloatField()
    percent = serializers.FloatField(allow_null=True, help_text="actual / target x 100.")
    expected_share = serializers.FloatField(help_text="The share of the quarter's days elapsed, 0 to 1.")
    expected = serializers.FloatField(help_text="What linear pace asks for by now (the target for a rate).")
    status = serializers.ChoiceField(choices=list(services.STATUS_LABELS))


class GoalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    metric = serializers.CharField()
    fiscal_year = serializers.IntegerField(help_text="The calendar year the fiscal year ends in.")
    quarter = serializers.IntegerField()
    team = serializers.IntegerField(source="team_id", allow_null=True)
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    target = serializers.DecimalField(max_digits=16, decimal_places=2)
    note = serializers.CharField()
    progress = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema(responses=ProgressOutput)
    def get_progress(self, goal) -> dict:
        org = self.context["org"]
        progress = services.goal_progress(org=org, goal=goal, today=timezone.localdate())
        return ProgressOutput(progress.as_dict()).data


class GoalInput(StrictSerializer):
    metric = serializers.ChoiceField(
        choices=GoalMetric.choices, error_messages={"invalid_choice": METRIC_ERROR}
    )
    fiscal_year = serializers.IntegerField(min_value=services.MIN_YEAR, max_value=services.MAX_YEAR)
    quarter = serializers.IntegerField(min_value=1, max_value=4)
    team = serializers.IntegerField(
        required=False, allow_null=True, help_text="A team id; omit for the organisation."
    )
    owner = serializers.IntegerField(help_text="The id of the member who owns the goal.")
    target = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=0)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class GoalFilterInput(serializers.Serializer):
    fiscal_year = serializers.IntegerField(required=False)
    quarter = serializers.IntegerField(required=False, min_value=1, max_value=4)
    metric = serializers.ChoiceField(
        choices=GoalMetric.choices, required=False, error_messages={"invalid_choice": METRIC_ERROR}
    )


class GoalViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Revenue goals: a target per metric, fiscal quarter and (optionally) team, with progress."""

    queryset = Goal.objects.all()
    serializer_class = GoalOutput

    @extend_schema(parameters=[GoalFilterInput])
    def list(self, request):
        data = self.query_filters(GoalFilterInput)
        goals = self.get_queryset().filter(**data)
        page = self.paginate_queryset(goals)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=GoalInput, responses={201: GoalOutput})
    def create(self, request):
        data = GoalInput(data=request.data)
        data.is_valid(raise_exception=True)
        goal = services.goal_create(org=self.org, **data.validated_data)
        return Response(self.get_serializer(goal).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=GoalInput, responses=GoalOutput)
    def partial_update(self, request, pk=None):
        goal = self.get_object()
        data = GoalInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.goal_update(org=self.org, goal=goal, **data.validated_data)
        return Response(self.get_serializer(goal).data)

    def perform_destroy(self, goal):
        services.goal_delete(org=self.org, goal=goal)
