"""`/api/v1/change-requests/`: change requests to the operating model, and their workflow.

    GET    /api/v1/change-requests/                  list (?status=, ?subject=), newest first
    POST   /api/v1/change-requests/                  {"subject", "target_id", "title", "rationale",
                                                     "proposed", "effective_at"}: a draft (proposed
                                                     omitted: the subject's current state)
    GET    /api/v1/change-requests/<id>/             one request, with its diff
    PATCH  /api/v1/change-requests/<id>/             edit a draft (title, rationale, proposed, effective_at)
    POST   /api/v1/change-requests/<id>/submit/      draft → in review
    POST   /api/v1/change-requests/<id>/approve/     {"note"}: approve (applied at once unless its
                                                     effective date is ahead)
    POST   /api/v1/change-requests/<id>/reject/      {"note"} (required)
    POST   /api/v1/change-requests/<id>/apply/       apply an approved request now
    POST   /api/v1/change-requests/<id>/rollback/    restore the state it replaced
    POST   /api/v1/change-requests/<id>/rebase/      take the current state as the base; back to draft
    POST   /api/v1/change-requests/<id>/preview/     compute and store the impact preview

Reads need the `read` scope, writes `write`. The API key acts as the member who created it: the
workflow's role rules (who may propose, approve, apply) apply to that member's role, and a key whose
creator is no longer an active member can read but not change anything. Errors in the proposed
document name the field inside it (`proposed.stages[2].entry_criteria`).
"""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.models import Membership
from apps.core.api.serializers import StrictSerializer
from apps.core.api.viewsets import OrgScopedViewSet
from apps.governance.models import ChangeRequest, ChangeStatus, ChangeSubject
from apps.governance.services import changes as services


class ChangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.ChoiceField(choices=ChangeSubject.choices)
    target_id = serializers.IntegerField(
        allow_null=True, help_text="A routing or SLA policy id; null otherwise."
    )
    title = serializers.CharField()
    rationale = serializers.CharField()
    status = serializers.ChoiceField(choices=ChangeStatus.choices)
    proposed = serializers.JSONField()
    before = serializers.JSONField(
        allow_null=True, help_text="Open requests: the state drafted against. Applied: the state it replaced."
    )
    impact = serializers.JSONField(allow_null=True, help_text="The last impact preview, with computed_at.")
    effective_at = serializers.DateTimeField(allow_null=True)
    requested_by = serializers.IntegerField(source="requested_by_id", allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.IntegerField(source="decided_by_id", allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_note = serializers.CharField()
    applied_at = serializers.DateTimeField(allow_null=True)
    rolled_back_at = serializers.DateTimeField(allow_null=True)
    rolled_back_by = serializers.IntegerField(source="rolled_back_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ChangeDetailOutput(ChangeOutput):
    diff = serializers.SerializerMethodField(help_text="Unified diff lines of the state, as JSON text.")
    conflict = serializers.SerializerMethodField(
        help_text="The subject changed since the request was drafted."
    )

    def get_diff(self, change) -> list[str]:
        return services.change_diff(change)

    def get_conflict(self, change) -> bool:
        return services.has_conflict(change)


class ChangeInput(StrictSerializer):
    subject = serializers.ChoiceField(choices=ChangeSubject.choices)
    target_id = serializers.IntegerField(required=False, allow_null=True)
    title = serializers.CharField(max_length=200)
    rationale = serializers.CharField(required=False, allow_blank=True)
    proposed = serializers.JSONField(required=False, help_text="Omit to start from the current state.")
    effective_at = serializers.DateTimeField(required=False, allow_null=True)


class ChangeEditInput(StrictSerializer):
    title = serializers.CharField(max_length=200, required=False)
    rationale = serializers.CharField(required=False, allow_blank=True)
    proposed = serializers.JSONField(required=False)
    effective_at = serializers.DateTimeField(required=False, allow_null=True)


class NoteInput(StrictSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class FilterInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=ChangeStatus.choices, required=False)
    subject = serializers.ChoiceField(choices=ChangeSubject.choices, required=False)


class ChangeRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Change requests: the only way the operating model changes under change control."""

    queryset = ChangeRequest.objects.all()
    serializer_class = ChangeOutput

    def get_serializer_class(self):
        return ChangeDetailOutput if self.action != "list" else ChangeOutput

    def _member(self) -> Membership:
        creator = self.request.auth.created_by_id
        member = Membership.objects.for_org(self.org).filter(user_id=creator, is_active=True).first()
        if member is None:
            raise PermissionDenied("This API key's creator is no longer a member; it can only read.")
        return member

    def _answer(self, change, code=status.HTTP_200_OK):
        change.refresh_from_db()
        return Response(ChangeDetailOutput(change, context=self.get_serializer_context()).data, status=code)

    @extend_schema(parameters=[FilterInput])
    def list(self, request):
        data = self.query_filters(FilterInput)
        page = self.paginate_queryset(self.get_queryset().filter(**data))
        return self.get_paginated_response(ChangeOutput(page, many=True).data)

    @extend_schema(request=ChangeInput, responses={201: ChangeDetailOutput})
    def create(self, request):
        data = ChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        change = services.change_create(org=self.org, by=self._member(), **data.validated_data)
        return self._answer(change, status.HTTP_201_CREATED)

    @extend_schema(request=ChangeEditInput, responses=ChangeDetailOutput)
    def partial_update(self, request, pk=None):
        change = self.get_object()
        data = ChangeEditInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.change_update(org=self.org, change=change, by=self._member(), **data.validated_data)
        return self._answer(change)

    def _act(self, request, function, *, note: bool = False):
        change = self.get_object()
        kwargs = {}
        if note:
            data = NoteInput(data=request.data)
            data.is_valid(raise_exception=True)
            kwargs["note"] = data.validated_data.get("note", "")
        function(org=self.org, change=change, by=self._member(), **kwargs)
        return self._answer(change)

    @extend_schema(request=None, responses=ChangeDetailOutput)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._act(request, services.change_submit)

    @extend_schema(request=NoteInput, responses=ChangeDetailOutput)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._act(request, services.change_approve, note=True)

    @extend_schema(request=NoteInput, responses=ChangeDetailOutput)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._act(request, services.change_reject, note=True)

    @extend_schema(request=None, responses=ChangeDetailOutput)
    @action(detail=True, methods=["post"], url_path="apply", url_name="apply")
    def apply_now(self, request, pk=None):
        return self._act(request, services.change_apply)

    @extend_schema(request=None, responses=ChangeDetailOutput)
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        return self._act(request, services.change_rollback)

    @extend_schema(request=None, responses=ChangeDetailOutput)
    @action(detail=True, methods=["post"])
    def rebase(self, request, pk=None):
        return self._act(request, services.change_rebase)

    @extend_schema(request=None, responses=ChangeDetailOutput)
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        change = self.get_object()
        member = self._member()
        if not services.can_propose(member, change.subject):
            raise PermissionDenied("Your role cannot preview changes to this subject.")
        services.change_preview(org=self.org, change=change)
        return self._answer(change)
