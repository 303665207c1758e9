"""The pipeline dashboard, the leaks and the red flags as JSON.

    GET /api/v1/dashboards/pipeline/?preset=…&from=&to=&compare=previous_period&channel=&team=&owner=
        &campaign=&type=new_business|expansion|renewal&bucket=<a waterfall bucket to list>
    GET /api/v1/leaks/?preset=…&from=&to=
    GET /api/v1/red-flags/

The pipeline answer echoes the query and gives the waterfall (amounts and counts by bucket), the
scope (fiscal quarter and filters), coverage and forecast (`outlook`) and every table of the page;
the leaks answer every leak of the range, most revenue at stake first, and today's red flags. The
pages and their CSV exports are built by the same calls, so the numbers match.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api.viewsets import OrgScopedViewSet
from apps.measurement import leaks, pipeline, redflags
from apps.measurement.dashboards.base import PRESETS
from apps.measurement.metrics import engine
from apps.measurement.models import OpportunityDay

OBJECT = {200: OpenApiTypes.OBJECT}
RANGE = [
    OpenApiParameter("preset", str, enum=list(PRESETS), description="Wins over from/to."),
    OpenApiParameter("from", OpenApiTypes.DATE, description="First local day of a custom range."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last local day, inclusive."),
]
PIPELINE = [
    *RANGE,
    OpenApiParameter("compare", str, enum=["previous_period"]),
    OpenApiParameter("channel", str, description="The primary contact's channel."),
    OpenApiParameter("team", int, description="Team id: the opportunity's owner is one of its members."),
    OpenApiParameter("owner", int, description="Member id of the opportunity's owner."),
    OpenApiParameter("campaign", str, description="The primary contact's utm_campaign."),
    OpenApiParameter("type", str, enum=list(pipeline.TYPE_CHOICES)),
    OpenApiParameter("bucket", str, enum=list(pipeline.BUCKETS), description="List its opportunities."),
]


def _invalid(errors: dict):
    return serializers.ValidationError({k: [v] for k, v in errors.items()})


class PipelineViewSet(OrgScopedViewSet):
    """The pipeline waterfall, coverage and forecast, and the leak finder, for the API key's organisation."""

    queryset = OpportunityDay.objects.all()
    serializer_class = serializers.Serializer
    pagination_class = None

    @extend_schema(operation_id="dashboards_pipeline", parameters=PIPELINE, responses=OBJECT)
    def report(self, request):
        """The pipeline waterfall (start + created + progressed - regressed - won - lost - pushed = end)."""
        board, errors = pipeline.build_dashboard(self.org, request.query_params)
        if board is None:
            raise _invalid(errors)
        return Response(board.as_dict())

    @extend_schema(operation_id="leaks", parameters=RANGE, responses=OBJECT)
    def leaks(self, request):
        """Every leak of the range, the most revenue at stake first, and today's red flags."""
        board, errors = leaks.findings_dashboard(self.org, request.query_params)
        if board is None:
            raise _invalid(errors)
        return Response({"query": board.query.as_dict(), **board.extra})

    @extend_schema(operation_id="red_flags", responses=OBJECT)
    def red_flags(self, request):
        """The red flags raised today, critical ones first."""
        today = engine.local_today(self.org)
        flags = redflags.red_flags(self.org, today=today)
        return Response({"today": today.isoformat(), "red_flags": [flag.as_dict() for flag in flags]})
