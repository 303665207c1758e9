"""The routing API: a lead's routing history and touches, assignments and
their accept / reject, reject reasons, and a read-only routing preview.

Every write calls a service. Accepting or rejecting through the API has no
user behind it, so the services get `actor=None`.
"""

import django_filters as filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.errors import error_body
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.errors import ServiceError
from apps.execution.models import (
    Assignment,
    RejectReason,
    RoutingDecision,
    RoutingPolicyVersion,
    RoutingPool,
    SlaTimer,
)
from apps.execution.routing import types
from apps.execution.services import routing, simulation, sla
from apps.records.models import Account, Lead, Opportunity, Origin

from . import serializers as s

# A lead re-routed on every rejection can pile up decisions; the newest are the ones worth reading.
DECISIONS_SHOWN = 100


def _conflict_or_raise(error: ServiceError) -> Response:
    """An offer that is no longer open is a conflict with the assignment's state (409); the rest are 400s."""
    if error.code == "not_offered":
        return Response(
            error_body(error.code, error.message, error.fields or {"status": [error.message]}),
            status=status.HTTP_409_CONFLICT,
        )
    raise error


class LeadRoutingViewSet(OrgScopedViewSet):
    """Routing seen from one lead: why it went where it went, and logging a touch.

    Mounted under /leads/<pk>/ next to the records API's lead routes.
    """

    queryset = Lead.objects.filter(merged_into__isnull=True)

    @extend_schema(responses=s.LeadRoutingOutput)
    def routing(self, request, pk=None):
        """The lead's routing decisions (the newest 100), assignments and SLA timers, newest first."""
        lead = self.get_object()
        decisions = (
            RoutingDecision.objects.for_org(self.org)
            .filter(lead=lead)
            .select_related("policy_version", "assignee__user", "pool")
            .order_by("-created_at", "-id")[:DECISIONS_SHOWN]
        )
        assignments = (
            Assignment.objects.for_org(self.org)
            .filter(lead=lead)
            .select_related("assignee__user", "pool", "reject_reason")
            .order_by("-offered_at", "-id")
        )
        timers = (
            SlaTimer.objects.for_org(self.org)
            .filter(lead=lead)
            .select_related("policy")
            .order_by("-started_at", "-id")
        )
        return Response(
            {
                "decisions": s.DecisionOutput(decisions, many=True).data,
                "assignments": s.AssignmentOutput(assignments, many=True).data,
                "sla_timers": s.TimerOutput(timers, many=True).data,
            }
        )

    @extend_schema(request=s.TouchInput, responses={201: s.TouchOutput})
    def touches(self, request, pk=None):
        """Log a call, e-mail or meeting; the first one meets the lead's first-touch SLA."""
        lead = self.get_object()
        data = s.TouchInput(data=request.data)
        data.is_valid(raise_exception=True)
        touch = sla.touch_record(
            org=self.org,
            lead=lead,
            kind=data.validated_data["kind"],
            note=data.validated_data.get("note", ""),
            at=data.validated_data.get("occurred_at"),
        )
        live = (
            Assignment.objects.for_org(self.org)
            .filter(lead=lead, status__in=Assignment.LIVE)
            .only("id", "status", "first_touch_at")
            .first()
        )
        body = {
            "touchpoint": s.TouchpointOutput(touch).data,
            "assignment": s.TouchAssignment(live).data if live else None,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class OwnerRoutingViewSet(OrgScopedViewSet):
    """Routing seen from an account or an opportunity: the decisions that gave it an owner or
    found nobody. Mounted under /accounts/<pk>/ and /opportunities/<pk>/."""

    subject: str  # "account" or "opportunity": the decisions' field naming the record

    @extend_schema(responses=s.OwnerRoutingOutput)
    def routing(self, request, pk=None):
        """The record's routing decisions (the newest 100), newest first."""
        record = self.get_object()
        decisions = (
            RoutingDecision.objects.for_org(self.org)
            .filter(**{self.subject: record})
            .select_related("policy_version", "assignee__user", "pool")
            .order_by("-created_at", "-id")[:DECISIONS_SHOWN]
        )
        return Response({"decisions": s.DecisionOutput(decisions, many=True).data})


class AccountRoutingViewSet(OwnerRoutingViewSet):
    queryset = Account.objects.all()
    subject = "account"


class OpportunityRoutingViewSet(OwnerRoutingViewSet):
    queryset = Opportunity.objects.all()
    subject = "opportunity"


class AssignmentFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Assignment.Status.choices)
    assignee = filters.NumberFilter(field_name="assignee_id", help_text="A member id.")
    lead = filters.NumberFilter(field_name="lead_id")

    class Meta:
        model = Assignment
        fields = ["status", "assignee", "lead"]


class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Leads offered to reps; an offer is accepted or rejected (with a reason) once."""

    queryset = Assignment.objects.select_related("assignee__user", "pool", "reject_reason")
    serializer_class = s.AssignmentOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = AssignmentFilter

    def _respond(self, assignment):
        return Response(s.AssignmentOutput(self.get_queryset().get(pk=assignment.pk)).data)

    @extend_schema(request=None, responses={200: s.AssignmentOutput})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Accept an offered lead: the assignee becomes its owner.

        409 `not_offered` when it is no longer an offer (accepted, rejected or moved on).
        """
        assignment = self.get_object()
        try:
            routing.assignment_accept(
                org=self.org, assignment=assignment, actor=None, origin=Origin.API, api_key=request.auth
            )
        except ServiceError as error:
            return _conflict_or_raise(error)
        return self._respond(assignment)

    @extend_schema(request=s.RejectInput, responses={200: s.AssignmentOutput})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject an offered lead with a reason; the lead is routed again, to someone else."""
        assignment = self.get_object()
        data = s.RejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        key = data.validated_data["reason"]
        reason = RejectReason.objects.for_org(self.org).filter(key=key, is_active=True).first()
        if reason is None:
            raise serializers.ValidationError({"reason": [f"No reject reason {key!r} here."]})
        try:
            routing.assignment_reject(
                org=self.org,
                assignment=assignment,
                actor=None,
                reason=reason,
                note=data.validated_data.get("note", ""),
            )
        except ServiceError as error:
            return _conflict_or_raise(error)
        return self._respond(assignment)


class RejectReasonViewSet(mixins.ListModelMixin, OrgScopedViewSet):
    """Why a rep may reject a lead; `key` is what POST …/reject/ takes. All of them, in display order."""

    queryset = RejectReason.objects.order_by("order", "label")
    serializer_class = s.RejectReasonOutput
    pagination_class = None  # a short, ordered list: one page, in the order the inbox shows it


class RoutingViewSet(OrgScopedViewSet):
    """Routing previews: nothing is written, so a read-scoped key may ask."""

    queryset = RoutingPolicyVersion.objects.all()
    required_scopes = {"POST": "read"}

    @extend_schema(request=s.PreviewInput, responses={200: s.PreviewOutput})
    @action(detail=False, methods=["post"])
    def preview(self, request):
        """Who a lead would be routed to now, under the draft or the published rules. Writes nothing."""
        data = s.PreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        for object_type, model in (("account", Account), ("opportunity", Opportunity)):
            if object_type in data.validated_data:
                return Response(self._preview_record(object_type, model, data.validated_data))
        version = simulation.version_for(self.org, data.validated_data.get("version"))
        if "lead" in data.validated_data:
            lead = (
                Lead.objects.for_org(self.org)
                .filter(pk=data.validated_data["lead"], merged_into__isnull=True)
                .select_related("account", "stage")
                .first()
            )
            if lead is None:
                raise serializers.ValidationError(
                    {"lead": [f"No lead with id {data.validated_data['lead']} here."]}
                )
            decision = simulation.simulate_lead(org=self.org, lead=lead, version=version)
        else:
            try:
                decision = simulation.preview_lead_data(
                    org=self.org, data=data.validated_data["lead_data"], version=version
                )
            except ServiceError as error:
                # The service names a lead field; in this body it sits under lead_data.
                field = f"lead_data.{error.field}" if error.field else "lead_data"
                raise serializers.ValidationError({field: [error.message]}) from error
        return Response(self._preview_body(version, decision))

    def _preview_record(self, object_type: str, model, data: dict) -> dict:
        record = model.objects.for_org(self.org).filter(pk=data[object_type]).first()
        if record is None:
            raise serializers.ValidationError(
                {object_type: [f"No {object_type} with id {data[object_type]} here."]}
            )
        try:
            version = simulation.version_for(self.org, data.get("version"), object_type)
        except ServiceError as error:
            raise serializers.ValidationError({error.field or "version": [error.message]}) from error
        return self._preview_body(
            version, simulation.simulate_record(org=self.org, record=record, version=version)
        )

    def _preview_body(self, version, decision: types.Decision) -> dict:
        names = {c.candidate: c.name for c in decision.considered}
        pool_names = dict(
            RoutingPool.objects.for_org(self.org)
            .filter(pk__in={decision.pool, *(c.pool for c in decision.considered)} - {None})
            .values_list("pk", "name")
        )
        assignee = decision.assignee if decision.outcome == types.ASSIGNED else None
        return {
            "version": {"number": version.number, "status": version.status} if version else None,
            "outcome": decision.outcome,
            "assignee": {"id": assignee, "name": names.get(assignee, "")} if assignee else None,
            "pool": {"id": decision.pool, "name": pool_names.get(decision.pool, "")}
            if decision.pool
            else None,
            "rule_index": decision.rule_index,
            "rule_name": decision.rule_name,
            "considered": s.considered_rows(decision.considered),
            "trail": decision.trail,
        }
