"""`/api/v1/programs/`: the marketing plan's programs with their budget lines, targets and progress.

`budget_lines` and `targets` are nested: given on a write, each replaces the
program's whole set (omit it to leave the set as it is). `progress` is read
only: each target's actual from the metric engine over the program's dates up
to today. `warnings` lists dependencies that do not end before the program
starts, or were cancelled: accepted, but worth a look.
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.strategy.models import Program, ProgramStatus
from apps.strategy.services import programs as services

STATUS_ERROR = f"“{{input}}” is not a status; use one of: {', '.join(ProgramStatus.values)}."


class ProgramBudgetLineSerializer(StrictSerializer):
    channel = serializers.CharField(max_length=60, required=False, allow_blank=True)
    description = serializers.CharField(max_length=200)
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=0)


class ProgramTargetSerializer(StrictSerializer):
    metric = serializers.CharField(max_length=60, help_text="A catalogue metric key (GET /api/v1/metrics/).")
    target = serializers.DecimalField(max_digits=18, decimal_places=4, min_value=0)


class ProgramTargetProgressOutput(serializers.Serializer):
    metric = serializers.CharField()
    target = serializers.FloatField()
    unit = serializers.CharField()
    direction = serializers.ChoiceField(choices=["higher", "lower"])
    measured_to = serializers.DateField(
        allow_null=True, help_text="The last day read; null before the start."
    )
    actual = serializers.FloatField(allow_null=True)
    percent = serializers.FloatField(allow_null=True, help_text="actual / target x 100.")
    met = serializers.BooleanField(
        allow_null=True, help_text="At or beyond the target in the good direction."
    )


class ProgramOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    objective = serializers.CharField()
    rationale = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    start = serializers.DateField()
    end = serializers.DateField()
    status = serializers.CharField()
    segment = serializers.IntegerField(source="segment_id", allow_null=True)
    offer = serializers.IntegerField(source="offer_id", allow_null=True)
    goal = serializers.IntegerField(source="goal_id", allow_null=True)
    depends_on = serializers.SerializerMethodField()
    budget_lines = ProgramBudgetLineSerializer(many=True)
    budget_total = serializers.SerializerMethodField()
    targets = ProgramTargetSerializer(many=True)
    progress = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_depends_on(self, program) -> list[int]:
        return sorted(dependency.pk for dependency in program.depends_on.all())

    @extend_schema(responses=serializers.DecimalField(max_digits=18, decimal_places=2))
    def get_budget_total(self, program) -> str:
        return f"{services.budget_total(program):.2f}"

    @extend_schema(responses=ProgramTargetProgressOutput(many=True))
    def get_progress(self, program) -> list[dict]:
        rows = services.program_progress(org=self.context["org"], program=program, today=timezone.localdate())
        return ProgramTargetProgressOutput([row.as_dict() for row in rows], many=True).data

    def get_warnings(self, program) -> list[str]:
        return [warning.message for warning in services.dependency_warnings(program)]


class ProgramInput(StrictSerializer):
    name = serializers.CharField(max_length=120)
    objective = serializers.CharField(max_length=4000)
    rationale = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="A member's id.")
    start = serializers.DateField()
    end = serializers.DateField()
    status = serializers.ChoiceField(
        choices=ProgramStatus.choices, required=False, error_messages={"invalid_choice": STATUS_ERROR}
    )
    segment = serializers.IntegerField(required=False, allow_null=True)
    offer = serializers.IntegerField(required=False, allow_null=True)
    goal = serializers.IntegerField(required=False, allow_null=True)
    depends_on = serializers.ListField(child=serializers.IntegerField(), required=False)
    budget_lines = ProgramBudgetLineSerializer(many=True, required=False)
    targets = ProgramTargetSerializer(many=True, required=False)


class ProgramFilterInput(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=ProgramStatus.choices, required=False, error_messages={"invalid_choice": STATUS_ERROR}
    )
    active_on = serializers.DateField(required=False, help_text="Programs running on this day.")


class ProgramViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Programs of the marketing plan: objective, owner, dates, dependencies, budget lines and targets."""

    queryset = Program.objects.prefetch_related("depends_on", "budget_lines", "targets")
    serializer_class = ProgramOutput

    @extend_schema(parameters=[ProgramFilterInput])
    def list(self, request):
        data = self.query_filters(ProgramFilterInput)
        programs = self.get_queryset().order_by("start", "name", "id")
        if "status" in data:
            programs = programs.filter(status=data["status"])
        if "active_on" in data:
            day = data["active_on"]
            programs = programs.filter(start__lte=day, end__gte=day)
        page = self.paginate_queryset(programs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _saved(self, program):
        return self.get_queryset().get(pk=program.pk)  # fresh prefetches after a write

    @extend_schema(request=ProgramInput, responses={201: ProgramOutput})
    def create(self, request):
        data = ProgramInput(data=request.data)
        data.is_valid(raise_exception=True)
        program = services.program_create(org=self.org, **data.validated_data)
        return Response(self.get_serializer(self._saved(program)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ProgramInput, responses=ProgramOutput)
    def partial_update(self, request, pk=None):
        program = self.get_object()
        data = ProgramInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.program_update(org=self.org, program=program, **data.validated_data)
        return Response(self.get_serializer(self._saved(program)).data)

    def perform_destroy(self, program):
        services.program_delete(org=self.org, program=program)
