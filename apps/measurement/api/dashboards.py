"""`/api/v1/dashboards/{weekly,quarterly,funnel}/`: each review dashboard's numbers as JSON.

    GET /api/v1/dashboards/weekly/?preset=last_7|last_30|last_90|this_month|last_month|this_quarter|
        last_quarter&from=&to=&compare=previous_period&segment=&channel=&team=&owner=&campaign=

The answer echoes the query (dates, previous window, filters) and gives every
table and chart of the page as {"columns": [...], "rows": [{column: value}]},
plus the weekly review's `indicators`: the page and its CSV exports are built
by the same call (apps.measurement.dashboards.registry.build), so the numbers match.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api.viewsets import OrgScopedViewSet
from apps.measurement.dashboards.base import PRESETS
from apps.measurement.dashboards.registry import build
from apps.measurement.models import FunnelDay

OBJECT = {200: OpenApiTypes.OBJECT}
QUERY = [
    OpenApiParameter("preset", str, enum=list(PRESETS), description="Wins over from/to."),
    OpenApiParameter("from", OpenApiTypes.DATE, description="First local day of a custom range."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last local day, inclusive."),
    OpenApiParameter("compare", str, enum=["previous_period"]),
    OpenApiParameter("segment", int, description="Lead segment id (funnel counts only, no other filter)."),
    OpenApiParameter("channel", str, description="Lead channel."),
    OpenApiParameter("team", int, description="Team id: the owner is one of its active members."),
    OpenApiParameter("owner", int, description="Member id of the owner."),
    OpenApiParameter("campaign", str, description="Campaign (the lead's utm_campaign)."),
]


class DashboardViewSet(OrgScopedViewSet):
    """The review dashboards, read for the organisation of the API key only."""

    queryset = FunnelDay.objects.all()
    serializer_class = serializers.Serializer
    pagination_class = None

    def _answer(self, name: str):
        board, errors = build(name, self.org, self.request.query_params)
        if board is None:
            raise serializers.ValidationError({k: [v] for k, v in errors.items()})
        return Response(board.as_dict())

    @extend_schema(operation_id="dashboards_weekly", parameters=QUERY, responses=OBJECT)
    def weekly(self, request):
        """Leading indicators (this period, previous, plan target), KPI status, leaks, red flags, actions."""
        return self._answer("weekly")

    @extend_schema(
        operation_id="dashboards_quarterly", parameters=QUERY, responses={200: OpenApiTypes.OBJECT}
    )
    def quarterly(self, request):
        """Lead flow by source, conversion, campaign ROI, retention, unit economics, goal attainment."""
        return self._answer("quarterly")

    @extend_schema(operation_id="dashboards_funnel", parameters=QUERY, responses=OBJECT)
    def funnel(self, request):
        """Conversion by stage (cohort and period), time in stage and its distribution, velocity."""
        return self._answer("funnel")
