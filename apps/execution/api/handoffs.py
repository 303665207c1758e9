"""`/api/v1/handoffs/`: hand-offs between teams, and accepting or returning one.

An API key has no member behind it, so an accept through the API leaves the
receiver as it was; `409 not_pending` when the hand-off was already answered.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.errors import error_body
from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.errors import ServiceError
from apps.execution.models import Handoff, HandoffKind, HandoffStatus
from apps.execution.services import handoffs as services


class HandoffOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    lead = serializers.IntegerField(source="lead_id", allow_null=True)
    opportunity = serializers.IntegerField(source="opportunity_id", allow_null=True)
    account = serializers.IntegerField(source="account_id", allow_null=True)
    sender = serializers.IntegerField(source="sender_id", allow_null=True)
    receiver = serializers.IntegerField(source="receiver_id", allow_null=True)
    receiving_team = serializers.IntegerField(source="receiving_team_id", allow_null=True)
    fields = serializers.DictField(help_text="The required fields as they were when handed over.")
    missing = serializers.SerializerMethodField(help_text="Required fields that were empty.")
    notes = serializers.CharField()
    return_reason = serializers.CharField()
    sla_policy = serializers.IntegerField(source="sla_policy_id", allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    responded_at = serializers.DateTimeField(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_missing(self, handoff) -> list[str]:
        return services.missing_fields(handoff)


class HandoffFilterInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=HandoffStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=HandoffKind.choices, required=False)


class HandoffReturnInput(StrictSerializer):
    reason = serializers.CharField(max_length=500)


class HandoffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Hand-offs, newest first; filter by `status` and `kind`."""

    queryset = Handoff.objects.all()
    serializer_class = HandoffOutput

    @extend_schema(parameters=[HandoffFilterInput], operation_id="handoffs_list")
    def list(self, request):
        data = self.query_filters(HandoffFilterInput)
        handoffs = self.get_queryset().filter(**data)
        page = self.paginate_queryset(handoffs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _answered(self, handoff, answer):
        try:
            answer()
        except ServiceError as error:
            if error.code != "not_pending":
                raise
            return Response(
                error_body(error.code, error.message, error.fields or {"status": [error.message]}),
                status=status.HTTP_409_CONFLICT,
            )
        return Response(self.get_serializer(self.get_queryset().get(pk=handoff.pk)).data)

    @extend_schema(request=None, responses={200: HandoffOutput}, operation_id="handoffs_accept")
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Accept a waiting hand-off."""
        handoff = self.get_object()
        return self._answered(handoff, lambda: services.handoff_accept(org=self.org, handoff=handoff))

    @extend_schema(request=HandoffReturnInput, responses={200: HandoffOutput}, operation_id="handoffs_return")
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_(self, request, pk=None):
        """Return a waiting hand-off to its sender, with the reason."""
        handoff = self.get_object()
        data = HandoffReturnInput(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data["reason"]
        return self._answered(
            handoff, lambda: services.handoff_return(org=self.org, handoff=handoff, reason=reason)
        )
