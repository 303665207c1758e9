"""`/api/v1/metrics/`: the catalogue, and any metric as a series.

    GET /api/v1/metrics/
    GET /api/v1/metrics/{key}/?from=&to=&grain=day|week|month|quarter&group_by=&compare=previous_period
        &segment=&channel=&team=&owner=&campaign=   (filters; one a metric cannot take is a 400 on it)

The numbers come from apps.measurement.metrics.engine, the same call the
metric page and its CSV export make.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from apps.core.api.viewsets import OrgScopedViewSet
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY, METRICS
from apps.measurement.models import FunnelDay


def result_as_dict(result: engine.Result) -> dict:
    return {
        "metric": result.metric.as_dict(),
        "from": result.start.isoformat(),
        "to": result.end.isoformat(),
        "grain": result.grain,
        "group_by": result.group_by,
        "params": result.params,
        "compare": "previous_period" if result.compare else None,
        "filters": result.filters,
        "total": result.total,
        "total_previous": result.total_previous if result.compare else None,
        "series": [
            {
                "period": row["period"].isoformat(),
                **({"group": row["group"], "group_label": row["group_label"]} if result.group_by else {}),
                "value": row["value"],
                **({"previous": row["previous"]} if result.compare else {}),
            }
            for row in result.rows
        ],
    }


QUERY = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First local day (default: 89 days ago)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last local day, inclusive (default: today)."),
    OpenApiParameter("grain", str, enum=["day", "week", "month", "quarter"], description="Default week."),
    OpenApiParameter("group_by", str, description="One of the metric's dimensions."),
    OpenApiParameter("compare", str, enum=["previous_period"]),
    OpenApiParameter("segment", int, description="Lead segment id (funnel counts only, no other filter)."),
    OpenApiParameter("channel", str, description="Lead channel."),
    OpenApiParameter("team", int, description="Team id: the owner is one of its active members."),
    OpenApiParameter("owner", int, description="Member id of the owner."),
    OpenApiParameter("campaign", str, description="Campaign (the lead's utm_campaign)."),
]


class MetricViewSet(OrgScopedViewSet):
    """The metric catalogue. Facts are read through the organisation of the API key only."""

    queryset = FunnelDay.objects.all()
    serializer_class = serializers.Serializer
    lookup_value_regex = "[a-z0-9_]+"

    @extend_schema(operation_id="metrics_list", responses={200: OpenApiTypes.OBJECT})
    def list(self, request):
        """Every metric with its definition, formula, unit, direction, dimensions and what it reads."""
        return Response({"results": [metric.as_dict() for metric in METRICS]})

    @extend_schema(operation_id="metrics_retrieve", parameters=QUERY, responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, pk=None):
        """One metric over a date range, by period (and group), with the total of the range."""
        if pk not in BY_KEY:
            raise NotFound(f"There is no metric {pk!r}; GET /api/v1/metrics/ lists them.")
        try:
            metric, window, group_by, compare, params, filters = engine.parse_all(
                pk, request.query_params, org=self.org, today=engine.local_today(self.org)
            )
        except engine.QueryError as error:
            raise serializers.ValidationError({k: [v] for k, v in error.errors.items()}) from None
        result = engine.evaluate(self.org, metric, window, group_by, compare, params, filters)
        return Response(result_as_dict(result))
