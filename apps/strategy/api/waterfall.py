"""`/api/v1/waterfall/`: the reverse waterfall for a fiscal quarter, the same numbers as its page and CSV.

    GET /api/v1/waterfall/?fiscal_year=&quarter=&target=&deal_size=&rate.<stage>=&lag.<stage>=
        &scenario_stage=&scenario_rate=&scenario_lag=

Rates are in percent, lags in days; every assumption left out defaults to the
organisation's history (apps.strategy.planning documents the parameters). The
answer gives the assumptions used and, per stage and month, the volume
required (exact and rounded up), the actual of a month that has ended and the
gap (rounded required - actual). Nothing is stored.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api.viewsets import OrgScopedViewSet
from apps.strategy import planning
from apps.strategy.models import Goal

QUERY = [
    OpenApiParameter("fiscal_year", int, description="Default: the current fiscal year."),
    OpenApiParameter("quarter", int, enum=[1, 2, 3, 4], description="Default: the current fiscal quarter."),
    OpenApiParameter(
        "target", OpenApiTypes.DECIMAL, description="Default: the quarter's new bookings goals."
    ),
    OpenApiParameter("deal_size", OpenApiTypes.DECIMAL, description="Default: from history."),
    OpenApiParameter("rate.<stage>", OpenApiTypes.DECIMAL, description="Percent, 0 < rate ≤ 100."),
    OpenApiParameter("lag.<stage>", OpenApiTypes.DECIMAL, description="Days, 0 or more."),
    OpenApiParameter("scenario_stage", str, description="A stage key, to compare a scenario."),
    OpenApiParameter("scenario_rate", OpenApiTypes.DECIMAL, description="Percentage points added."),
    OpenApiParameter("scenario_lag", OpenApiTypes.DECIMAL, description="Days added."),
]


def result_as_dict(result: planning.Result) -> dict:
    return {
        "fiscal_year": result.fiscal_year,
        "quarter": result.quarter,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "target": result.target,
        "target_basis": result.target_note,
        "history": {"from": result.history_start.isoformat(), "to": result.history_end.isoformat()},
        "assumptions": [
            {"parameter": a.name, "value": a.value, "default": a.default, "basis": a.note}
            for a in result.assumptions
        ],
        "scenario": (
            {
                "stage": result.scenario["stage"],
                "rate": float(result.scenario["rate"] or 0),
                "lag": float(result.scenario["lag"] or 0),
            }
            if result.scenario["stage"]
            else None
        ),
        "months": [month.isoformat() for month in result.months],
        "stages": [
            {
                "stage": key,
                "name": name,
                "months": [
                    {
                        "month": row.month.isoformat(),
                        "required": row.required,
                        "required_rounded": row.required_rounded,
                        "actual": row.actual,
                        "gap": row.gap,
                        **(
                            {"scenario_required": row.scenario_rounded, "scenario_change": row.change}
                            if result.scenario["stage"]
                            else {}
                        ),
                    }
                    for row in result.rows[key]
                ],
            }
            for key, name in result.stages
        ],
    }


class WaterfallViewSet(OrgScopedViewSet):
    """The reverse waterfall, read for the organisation of the API key only."""

    queryset = Goal.objects.all()
    serializer_class = serializers.Serializer
    pagination_class = None

    @extend_schema(operation_id="waterfall_retrieve", parameters=QUERY, responses={200: OpenApiTypes.OBJECT})
    def report(self, request):
        """Per stage and month: required volume, actual and gap, with the assumptions used."""
        result = planning.build(self.org, request.query_params, timezone.localdate())
        if result.errors:
            raise serializers.ValidationError({k: [v] for k, v in result.errors.items()})
        return Response(result_as_dict(result))
