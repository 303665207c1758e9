"""The growth diagnostic as JSON and its components as CSV.

    GET /api/v1/diagnostic/                 today's report (scores, quadrant, every component with its
                                            evidence and fix link, symptoms, alignment checks, ranked
                                            recommendations) and the weekly trend of every score
    GET /api/v1/diagnostic/components.csv   the components, one row each

Both read the stored snapshot of the organisation's day (taken on the spot when there is none yet), the
same one the page shows, so the numbers match.
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api.viewsets import OrgScopedViewSet
from apps.measurement.diagnostic import export, snapshot
from apps.measurement.models import DiagnosticSnapshot


class DiagnosticViewSet(OrgScopedViewSet):
    """The growth diagnostic of the API key's organisation."""

    queryset = DiagnosticSnapshot.objects.all()
    serializer_class = serializers.Serializer
    pagination_class = None

    @extend_schema(operation_id="diagnostic", responses={200: OpenApiTypes.OBJECT})
    def report(self, request):
        """Today's diagnostic and the weekly trend of its scores."""
        taken = snapshot.current(self.org)
        trend = [{**row, "week": row["week"].isoformat()} for row in snapshot.trend_rows(self.org)]
        return Response({**taken.report, "trend": trend})

    @extend_schema(operation_id="diagnostic_components", responses={(200, "text/csv"): OpenApiTypes.STR})
    def components(self, request):
        """Every scored component of today's diagnostic, one CSV row each."""
        report = snapshot.current(self.org).report
        response = HttpResponse(export.as_text(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="diagnostic-{report["taken_on"]}.csv"'
        return response
