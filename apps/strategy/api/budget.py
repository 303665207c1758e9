"""`/api/v1/channel-budget/`: budget lines per fiscal quarter and channel, with their plan against actuals.

    GET/POST /api/v1/channel-budget/            lines (filters: fiscal_year, quarter, channel)
    GET/PATCH/DELETE /api/v1/channel-budget/<id>/
    GET /api/v1/channel-budget/summary/?fiscal_year=&quarter=
                                                every channel of the quarter, plan against actual,
                                                with totals: the page's and the CSV's numbers
    GET /api/v1/channel-budget/reallocation/?from=&to=&amount=
                                                channels ranked by cost per qualified opportunity
                                                and pipeline per unit of spend, and the top move

A line's `plan` (what its spend should buy, and where each assumption comes
from) and `channel_summary` (its channel's plan against actual for the line's
quarter, all lines of the channel together) are computed and read-only.
apps.strategy.services.budget defines every number.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.measurement.metrics import engine
from apps.strategy.fiscal import fiscal_quarter_of
from apps.strategy.models import ChannelBudget
from apps.strategy.services import budget as services


class BudgetLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    fiscal_year = serializers.IntegerField(help_text="The calendar year the fiscal year ends in.")
    quarter = serializers.IntegerField()
    channel = serializers.CharField()
    segment = serializers.IntegerField(source="segment_id", allow_null=True)
    planned_spend = serializers.DecimalField(max_digits=16, decimal_places=2)
    expected_cost_per_lead = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    note = serializers.CharField()
    plan = serializers.SerializerMethodField()
    channel_summary = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def _report(self, line) -> services.Report:
        reports = self.context.setdefault("reports", {})
        key = (line.fiscal_year, line.quarter)
        if key not in reports:
            reports[key] = services.quarter_report(
                org=self.context["org"], fiscal_year=key[0], quarter=key[1], today=timezone.localdate()
            )
        return reports[key]

    def get_plan(self, line) -> dict:
        return services.plan_values(self._report(line).line_plans[line.pk])

    def get_channel_summary(self, line) -> dict:
        return services.row_values(self._report(line).row_for(line.channel))


class BudgetLineInput(StrictSerializer):
    fiscal_year = serializers.IntegerField(min_value=services.MIN_YEAR, max_value=services.MAX_YEAR)
    quarter = serializers.IntegerField(min_value=1, max_value=4)
    channel = serializers.CharField(max_length=60, help_text="A channel the organisation knows.")
    segment = serializers.IntegerField(
        required=False, allow_null=True, help_text="A segment id; omit for all."
    )
    planned_spend = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=0)
    expected_cost_per_lead = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text="Omit to plan with the channel's own cost per lead over the last four fiscal quarters.",
    )
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class BudgetLineFilterInput(serializers.Serializer):
    fiscal_year = serializers.IntegerField(required=False)
    quarter = serializers.IntegerField(required=False, min_value=1, max_value=4)
    channel = serializers.CharField(required=False, help_text="Case-insensitive.")


class BudgetQuarterInput(serializers.Serializer):
    fiscal_year = serializers.IntegerField(
        required=False,
        min_value=services.MIN_YEAR,
        max_value=services.MAX_YEAR,
        help_text="Default: current.",
    )
    quarter = serializers.IntegerField(
        required=False, min_value=1, max_value=4, help_text="Default: current."
    )


REALLOCATION_QUERY = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="Default: 89 days before `to`."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Default: today."),
    OpenApiParameter(
        "amount", OpenApiTypes.DECIMAL, description="Default: a tenth of the dearest channel's spend."
    ),
]


def _unknown(params, allowed):
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise serializers.ValidationError({name: ["Unknown parameter."] for name in unknown})


class ChannelBudgetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Channel budget lines: planned spend per fiscal quarter and channel, with plan against actual."""

    queryset = ChannelBudget.objects.all()
    serializer_class = BudgetLineOutput

    def filter_queryset_for(self, queryset):
        return queryset.select_related("segment")

    @extend_schema(parameters=[BudgetLineFilterInput])
    def list(self, request):
        _unknown(request.query_params, {*BudgetLineFilterInput().fields, *self.NOT_FILTERS})
        params = BudgetLineFilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = dict(params.validated_data)
        if "channel" in filters:
            filters["channel__iexact"] = filters.pop("channel")
        lines = self.get_queryset().filter(**filters)
        page = self.paginate_queryset(lines)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=BudgetLineInput, responses={201: BudgetLineOutput})
    def create(self, request):
        data = BudgetLineInput(data=request.data)
        data.is_valid(raise_exception=True)
        line = services.budget_create(org=self.org, **data.validated_data)
        return Response(self.get_serializer(line).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=BudgetLineInput, responses=BudgetLineOutput)
    def partial_update(self, request, pk=None):
        line = self.get_object()
        data = BudgetLineInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.budget_update(org=self.org, line=line, **data.validated_data)
        return Response(self.get_serializer(line).data)

    def perform_destroy(self, line):
        services.budget_delete(org=self.org, line=line)

    @extend_schema(
        operation_id="channel_budget_summary",
        parameters=[BudgetQuarterInput],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request):
        """Every channel of the quarter, plan against actual, with totals (the page's and CSV's numbers)."""
        _unknown(request.query_params, BudgetQuarterInput().fields)
        params = BudgetQuarterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        today = timezone.localdate()
        year, quarter = fiscal_quarter_of(self.org.fiscal_year_start_month, today)
        year = params.validated_data.get("fiscal_year", year)
        quarter = params.validated_data.get("quarter", quarter)
        report = services.quarter_report(org=self.org, fiscal_year=year, quarter=quarter, today=today)
        return Response(services.report_as_dict(report))

    @extend_schema(
        operation_id="channel_budget_reallocation",
        parameters=REALLOCATION_QUERY,
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def reallocation(self, request):
        """Channels ranked by cost per qualified opportunity and pipeline per unit of spend."""
        _unknown(request.query_params, {"from", "to", "amount"})
        try:
            start, end = services.reallocation_window(
                self.org, request.query_params, engine.local_today(self.org)
            )
        except engine.QueryError as exc:
            raise serializers.ValidationError({k: [v] for k, v in exc.errors.items()}) from None
        result = services.reallocation(
            org=self.org, start=start, end=end, amount=request.query_params.get("amount")
        )
        return Response(services.reallocation_as_dict(result))
