"""`/api/v1/plans/`: saved reverse-waterfall plans and their scenarios.

A plan is saved with every input of its waterfall, defaults included
(apps.strategy.services.plans); `params` takes the same names as
`/api/v1/waterfall/`. `GET /api/v1/plans/{id}/waterfall/` recomputes the plan
from those inputs, in the same shape as `/api/v1/waterfall/`.
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
from apps.strategy.api.waterfall import result_as_dict
from apps.strategy.models import SavedPlan
from apps.strategy.services import plans as services


class PlanOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    fiscal_year = serializers.IntegerField(help_text="The calendar year the fiscal year ends in.")
    quarter = serializers.IntegerField()
    params = serializers.DictField(child=serializers.CharField(), help_text="Every input of the waterfall.")
    based_on = serializers.IntegerField(source="based_on_id", allow_null=True)
    is_primary = serializers.BooleanField()
    note = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PlanInput(StrictSerializer):
    name = serializers.CharField(max_length=120)
    params = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="fiscal_year, quarter, target, deal_size, rate.<stage>, lag.<stage> and the scenario_* "
        "parameters of /api/v1/waterfall/; what is left out is filled from history and goals and kept.",
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    primary = serializers.BooleanField(required=False, default=False)
    based_on = serializers.IntegerField(required=False, allow_null=True, help_text="The plan this copies.")
    owner = serializers.IntegerField(required=False, allow_null=True, help_text="A member id.")


class PlanUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=120, required=False)
    params = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    owner = serializers.IntegerField(required=False, allow_null=True)
    primary = serializers.BooleanField(required=False, help_text="true makes it the quarter's primary plan.")


class PlanFilterInput(serializers.Serializer):
    fiscal_year = serializers.IntegerField(required=False)
    quarter = serializers.IntegerField(required=False, min_value=1, max_value=4)


class PlanViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Saved plans: a quarter's waterfall inputs under a name, with scenarios and one primary plan."""

    queryset = SavedPlan.objects.order_by("fiscal_year", "quarter", "-is_primary", "name", "id")
    serializer_class = PlanOutput

    @extend_schema(parameters=[PlanFilterInput])
    def list(self, request):
        data = self.query_filters(PlanFilterInput)
        page = self.paginate_queryset(self.get_queryset().filter(**data))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _based_on(self, pk):
        if pk is None:
            return None
        found = SavedPlan.objects.for_org(self.org).filter(pk=pk).first()
        if found is None:
            raise serializers.ValidationError({"based_on": ["No plan of this organisation has this id."]})
        return found

    @extend_schema(request=PlanInput, responses={201: PlanOutput})
    def create(self, request):
        data = PlanInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        plan = services.plan_save(
            org=self.org,
            name=values["name"],
            params=values["params"],
            note=values.get("note", ""),
            primary=values["primary"],
            based_on=self._based_on(values.get("based_on")),
            owner=values.get("owner"),
            today=timezone.localdate(),
        )
        return Response(self.get_serializer(plan).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PlanUpdateInput, responses=PlanOutput)
    def partial_update(self, request, pk=None):
        plan = self.get_object()
        data = PlanUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        primary = values.pop("primary", None)
        services.plan_update(org=self.org, plan=plan, today=timezone.localdate(), **values)
        if primary:
            services.plan_make_primary(org=self.org, plan=plan)
        return Response(self.get_serializer(plan).data)

    def perform_destroy(self, plan):
        services.plan_delete(org=self.org, plan=plan)

    @extend_schema(operation_id="plans_waterfall", responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def waterfall(self, request, pk=None):
        """The plan's waterfall from its saved inputs, with the actuals of today."""
        plan = get_for_org(SavedPlan.objects.all(), org=self.org, pk=pk)
        result = services.plan_result(org=self.org, plan=plan, today=timezone.localdate())
        if result.errors:
            raise serializers.ValidationError({k: [v] for k, v in result.errors.items()})
        return Response(result_as_dict(result))
