"""`/api/v1/spend/`: the spend ledger for integrations (finance exports, ad platforms' cost feeds).

POST takes one entry or a JSON list of entries. Entries carrying an
`external_id` update the entry that already has it, so a feed can resend the
same costs safely. A list is all or nothing: any invalid item refuses the whole
list, with errors named `<index>.<field>`.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.measurement.models import SpendEntry, SpendType
from apps.measurement.services import spend as services

TYPE_ERROR = f"“{{input}}” is not a spend type; use one of: {', '.join(SpendType.values)}."


class SpendOutput(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    channel = serializers.CharField()
    campaign = serializers.CharField(source="campaign_ref")
    type = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="Inclusive.")
    days = serializers.IntegerField(
        help_text="Days in the period; metrics spread the amount evenly over them."
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SpendInput(StrictSerializer):
    external_id = serializers.CharField(
        max_length=120,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Your id for this cost (an invoice number); sending it again updates the entry.",
    )
    channel = serializers.CharField(
        max_length=60,
        allow_blank=True,
        help_text="A canonical channel, e.g. Paid Social, as source mappings name it.",
    )
    campaign = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text="As UTM campaign."
    )
    type = serializers.ChoiceField(
        choices=SpendType.choices, required=False, error_messages={"invalid_choice": TYPE_ERROR}
    )
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="Inclusive; the same day as period_start for one day.")
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, help_text="In the organisation's currency."
    )
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class SpendFilterInput(serializers.Serializer):
    channel = serializers.CharField(required=False, help_text="Case-insensitive.")
    type = serializers.ChoiceField(
        choices=SpendType.choices, required=False, error_messages={"invalid_choice": TYPE_ERROR}
    )
    campaign = serializers.CharField(required=False, help_text="Case-insensitive.")

    def get_fields(self):
        # `from` is a Python keyword, so these two cannot be class attributes.
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, help_text="Entries ending on or after this day."
        )
        fields["to"] = serializers.DateField(
            required=False, help_text="Entries starting on or before this day."
        )
        return fields

    def validate(self, data):
        if data.get("from") and data.get("to") and data["to"] < data["from"]:
            raise serializers.ValidationError({"to": ["The period ends before it starts."]})
        return data


class SpendBatchOutput(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    results = SpendOutput(many=True)


class SpendViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """Marketing cost entries by channel, campaign, period and type."""

    queryset = SpendEntry.objects.all()
    serializer_class = SpendOutput

    @extend_schema(parameters=[SpendFilterInput])
    def list(self, request):
        data = self.query_filters(SpendFilterInput)
        filters = services.SpendFilters(
            channel=data.get("channel", ""),
            type=data.get("type", ""),
            campaign=data.get("campaign", ""),
            start=data.get("from"),
            end=data.get("to"),
        )
        page = self.paginate_queryset(services.filter_entries(self.get_queryset(), filters))
        return self.get_paginated_response(SpendOutput(page, many=True).data)

    @extend_schema(
        request=SpendInput,
        responses={
            201: OpenApiResponse(SpendOutput, description="Created (a list: some entries were created)."),
            200: OpenApiResponse(SpendOutput, description="Updated the entry with this external_id."),
        },
        description="One entry, or a JSON list of up to 1,000 entries (answered with SpendBatchOutput).",
    )
    def create(self, request):
        if isinstance(request.data, list):
            return self._create_batch(request.data)
        data = SpendInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry, created = services.spend_upsert(org=self.org, **data.validated_data)
        return Response(
            SpendOutput(entry).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    def _create_batch(self, items):
        if not items:
            raise serializers.ValidationError({"non_field_errors": ["Send at least one entry."]})
        if len(items) > services.BATCH_MAX_ITEMS:
            raise serializers.ValidationError(
                {"non_field_errors": [f"Send at most {services.BATCH_MAX_ITEMS} entries at a time."]}
            )
        errors, validated = {}, []
        for index, item in enumerate(items):
            data = SpendInput(data=item)
            if data.is_valid():
                validated.append(data.validated_data)
            else:
                errors[str(index)] = data.errors
        if errors:
            raise serializers.ValidationError(errors)
        results = services.spend_batch_upsert(org=self.org, items=validated)
        created = sum(1 for _, was_created in results if was_created)
        body = {
            "created": created,
            "updated": len(results) - created,
            "results": SpendOutput([entry for entry, _ in results], many=True).data,
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=SpendInput, responses=SpendOutput)
    def partial_update(self, request, pk=None):
        entry = self.get_object()
        data = SpendInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.spend_update(org=self.org, entry=entry, **data.validated_data)
        return Response(SpendOutput(entry).data)

    def perform_destroy(self, entry):
        services.spend_delete(org=self.org, entry=entry)
