"""`GET /api/v1/attribution/`: credit of the opportunities created in a period, by model and group.

Reads the daily attribution facts only (the rollup writes them), through the
same `attribution_table` the workbench page and its CSV export use. The
response carries every model's label and the data-driven model's last fit
(with its warning when there were too few conversions to trust it).
"""

import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api.viewsets import OrgScopedViewSet
from apps.measurement.attribution.compute import ALL_MODELS, markov_fit
from apps.measurement.models import AttributionDay
from apps.measurement.services import attribution as services

DEFAULT_DAYS = 90
MAX_DAYS = 3 * 366


class AttributionQuery(serializers.Serializer):
    model = serializers.ChoiceField(
        choices=ALL_MODELS,
        required=False,
        help_text="One model; every model when absent.",
        error_messages={
            "invalid_choice": f"“{{input}}” is not a model; use one of: {', '.join(ALL_MODELS)}."
        },
    )
    group_by = serializers.ChoiceField(
        choices=services.GROUPS,
        required=False,
        default="channel",
        error_messages={
            "invalid_choice": f"“{{input}}” cannot be grouped by; use one of: {', '.join(services.GROUPS)}."
        },
    )

    def get_fields(self):
        # `from` is a Python keyword, so these two cannot be class attributes.
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, help_text=f"First created day, inclusive (default: {DEFAULT_DAYS} days ago)."
        )
        fields["to"] = serializers.DateField(required=False, help_text="Last created day, inclusive (today).")
        return fields

    def validate(self, data):
        today = timezone.localdate(timezone.now(), self.context["tz"])
        end = data.get("to") or today
        start = data.get("from") or end - datetime.timedelta(days=DEFAULT_DAYS - 1)
        if end < start:
            raise serializers.ValidationError({"to": ["The period ends before it starts."]})
        if (end - start).days >= MAX_DAYS:
            raise serializers.ValidationError({"from": [f"The period spans at most {MAX_DAYS} days."]})
        return {**data, "from": start, "to": end}


class ResultOutput(serializers.Serializer):
    model = serializers.CharField()
    group = serializers.CharField(
        help_text="The channel, source or campaign; “(no touch)” for opportunities with none."
    )
    opportunities = serializers.DecimalField(max_digits=18, decimal_places=6)
    pipeline = serializers.DecimalField(max_digits=20, decimal_places=2)
    won = serializers.DecimalField(max_digits=18, decimal_places=6)
    revenue = serializers.DecimalField(max_digits=20, decimal_places=2)


class AttributionOutput(serializers.Serializer):
    model = serializers.CharField(allow_null=True)
    group_by = serializers.CharField()
    models = serializers.ListField(child=serializers.DictField(), help_text="Each model's key and label.")
    markov = serializers.DictField(allow_null=True, help_text="The data-driven model's last fit.")
    results = ResultOutput(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField()
        fields["to"] = serializers.DateField()
        return fields


class AttributionViewSet(OrgScopedViewSet):
    """Opportunities, pipeline, won deals and won revenue credited by each attribution model."""

    queryset = AttributionDay.objects.all()
    pagination_class = None

    @extend_schema(parameters=[AttributionQuery], responses=AttributionOutput)
    def report(self, request):
        known = {"model", "group_by", "from", "to"}
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise serializers.ValidationError(
                {name: [f"Unknown parameter; use {', '.join(sorted(known))}."] for name in unknown}
            )
        query = AttributionQuery(data=request.query_params, context={"tz": ZoneInfo(self.org.time_zone)})
        query.is_valid(raise_exception=True)
        data = query.validated_data
        models = (data["model"],) if data.get("model") else ALL_MODELS
        table = services.attribution_table(
            org=self.org, start=data["from"], end=data["to"], group_by=data["group_by"], models=models
        )
        fit = markov_fit(self.org)
        results = [
            {"model": model, "group": row.value, **row.cells[model]}
            for row in table.rows
            for model in models
            if model in row.cells
        ]
        body = {
            "model": data.get("model"),
            "from": table.start,
            "to": table.end,
            "group_by": table.group_by,
            "models": services.model_labels(models),
            "markov": None
            if fit is None
            else {
                "warning": fit.warning,
                "conversions": fit.conversions,
                "journeys": fit.journeys,
                "fitted_at": fit.fitted_at,
            },
            "results": results,
        }
        return Response(AttributionOutput(body).data)
