"""Change request pages: the list (with the change-control switch), a new request, editing a draft's
proposed document, and one request with its diff, impact preview, actions and trail.

Everyone reads; who may propose, approve, apply and roll back is decided per subject by
`services.changes.APPROVER_ROLES`, and the buttons shown follow it. A new request starts from the
subject's current state, which the draft's page edits as JSON (errors listed per field).
"""

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone

from apps.accounts.access import org_view, require_permission
from apps.audit.selectors import audit_actor
from apps.core.errors import ServiceError
from apps.core.lookups import get_for_org
from apps.execution.views.setup.routing import diff_rows
from apps.governance.changes import as_of, registry
from apps.governance.models import ChangeRequest, ChangeStatus, ChangeSubject
from apps.governance.services import changes as services

PAGE_SIZE = 50
ACTIONS = ("submit", "approve", "reject", "apply", "rollback", "rebase", "preview")


# --- Forms -------------------------------------------------------------------------------------------


class FilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *ChangeStatus.choices], required=False)
    subject = forms.ChoiceField(choices=[("", "Any subject"), *ChangeSubject.choices], required=False)


def what_choices(org) -> list[tuple[str, str]]:
    """One list of everything a request can change: "subject" or "subject:target"."""
    choices = []
    for subject, label in ChangeSubject.choices:
        if subject in registry.TARGETED:
            for pk, name in registry.targets(org, subject):
                choices.append((f"{subject}:{pk}", f"{label}: {name}"))
            if subject == ChangeSubject.SLA:
                choices.append((f"{subject}:new", f"{label}: a new policy"))
            elif not registry.targets(org, subject):
                choices.append((subject, f"{label}: lead routing"))
        else:
            choices.append((subject, label))
    return choices


def parse_what(value: str) -> tuple[str, int | None]:
    subject, _, target = value.partition(":")
    return subject, int(target) if target.isdigit() else None


class EffectiveField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class ChangeForm(forms.Form):
    title = forms.CharField(max_length=200, help_text="What the change does, in a line.")
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                                help_text="Why: the problem it solves, what you expect to see.")  # fmt: skip
    effective_at = EffectiveField(
        label="Effective from",
        required=False,
        help_text="Empty: applied as soon as it is approved. A future moment: applied then, once approved.",
    )

    def __init__(self, *args, time_zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone

    def effective(self) -> datetime | None:
        value = self.cleaned_data.get("effective_at")
        return value.replace(tzinfo=ZoneInfo(self.time_zone)) if value else None


class NewChangeForm(ChangeForm):
    what = forms.ChoiceField(label="What to change", choices=[])

    field_order = ["what", "title", "rationale", "effective_at"]

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, time_zone=org.time_zone, **kwargs)
        self.fields["what"].choices = what_choices(org)


class EditChangeForm(ChangeForm):
    proposed = forms.CharField(
        label="Proposed state (JSON)",
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "class": "code"}),
        help_text="The subject's whole state as it should be after the change; it starts as the current one.",
    )

    def clean_proposed(self):
        try:
            return json.loads(self.cleaned_data["proposed"])
        except ValueError as error:
            raise forms.ValidationError(f"Not valid JSON: {error}.") from None


def _local(value: datetime | None, time_zone: str) -> str:
    return value.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%dT%H:%M") if value else ""


# --- Pages -------------------------------------------------------------------------------------------


@org_view()
def governance_changes(request):
    org = request.org
    form = FilterForm(request.GET)
    changes = ChangeRequest.objects.for_org(org).select_related("requested_by__user")
    filtered = False
    if form.is_valid():
        for name in ("status", "subject"):
            if form.cleaned_data[name]:
                changes = changes.filter(**{name: form.cleaned_data[name]})
                filtered = True
    page = Paginator(changes, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "governance/changes.html",
        {
            "form": form,
            "page": page,
            "filtered": filtered,
            "can_propose": services.can_propose(request.membership),
            "settings": services.governance_settings(org=org),
            "can_switch": request.membership.can("org.edit"),
        },
    )


@org_view("org.edit")
def governance_change_control(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    enabled = request.POST.get("change_control") == "on"
    services.change_control_set(org=request.org, enabled=enabled)
    if enabled:
        messages.success(
            request, "Change control is on: the operating model now changes only through change requests."
        )
    else:
        messages.success(request, "Change control is off: definitions can be edited directly again.")
    return redirect("governance_changes", org_slug=request.org.slug)


@org_view()
def governance_change_new(request):
    org = request.org
    if not services.can_propose(request.membership):
        raise PermissionDenied("Your role cannot propose changes to the operating model.")
    form = NewChangeForm(request.POST or None, org=org, initial={"what": request.GET.get("what", "")})
    if request.method == "POST" and form.is_valid():
        subject, target = parse_what(form.cleaned_data["what"])
        try:
            change = services.change_create(
                org=org,
                by=request.membership,
                subject=subject,
                target_id=target,
                title=form.cleaned_data["title"],
                rationale=form.cleaned_data["rationale"],
                effective_at=form.effective(),
            )
        except ServiceError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Draft created from the current state: edit the proposed state below.")
            return redirect("governance_change_edit", org_slug=org.slug, pk=change.pk)
    return render(request, "governance/change_form.html", {"form": form, "creating": True})


@org_view()
def governance_change_edit(request, pk):
    org = request.org
    change = get_for_org(ChangeRequest.objects.all(), org=org, pk=pk)
    if change.status != ChangeStatus.DRAFT:
        messages.info(request, "Only a draft can be edited.")
        return redirect("governance_change", org_slug=org.slug, pk=change.pk)
    if not services.can_approve(request.membership, change.subject):
        raise PermissionDenied("Your role cannot edit this change request.")
    proposal_errors = {}
    if request.method == "POST":
        form = EditChangeForm(request.POST, time_zone=org.time_zone)
        if form.is_valid():
            try:
                services.change_update(
                    org=org,
                    change=change,
                    by=request.membership,
                    title=form.cleaned_data["title"],
                    rationale=form.cleaned_data["rationale"],
                    effective_at=form.effective(),
                    proposed=form.cleaned_data["proposed"],
                )
            except services.ProposalInvalid as error:
                proposal_errors = error.fields
                form.add_error("proposed", "The proposed state has errors; see the list below.")
            except ServiceError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, "Draft saved.")
                return redirect("governance_change", org_slug=org.slug, pk=change.pk)
    else:
        form = EditChangeForm(
            time_zone=org.time_zone,
            initial={
                "title": change.title,
                "rationale": change.rationale,
                "effective_at": _local(change.effective_at, org.time_zone),
                "proposed": json.dumps(change.proposed, indent=2, ensure_ascii=False),
            },
        )
    return render(
        request,
        "governance/change_form.html",
        {
            "form": form,
            "change": change,
            "target": services.target_label(change),
            "proposal_errors": sorted(proposal_errors.items()),
            "creating": False,
        },
    )


def trail(change: ChangeRequest) -> list[dict]:
    """The request's history from its pghistory events: who moved it where, and when."""
    rows, previous = [], None
    for event in change.events.select_related("pgh_context").order_by("pgh_created_at", "pgh_id"):
        context = event.pgh_context.metadata if event.pgh_context_id else None
        changed = []
        if previous is not None:
            changed = [name for name in ("title", "rationale", "proposed", "effective_at", "impact", "before")
                       if getattr(event, name) != getattr(previous, name)]  # fmt: skip
        status_changed = previous is None or previous.status != event.status
        rows.append(
            {
                "at": event.pgh_created_at,
                "who": audit_actor(context),
                "status": ChangeStatus(event.status).label,
                "status_changed": status_changed,
                "changed": changed,
            }
        )
        previous = event
    return rows


def allowed_actions(change: ChangeRequest, membership) -> list[str]:
    """The buttons to show; the services check the same rules again when one is pressed."""
    if not services.can_approve(membership, change.subject):
        return []
    by_status = {
        ChangeStatus.DRAFT: ["submit", "preview"],
        ChangeStatus.IN_REVIEW: ["approve", "reject", "preview", "rebase"],
        ChangeStatus.APPROVED: ["apply", "reject", "rebase"],
        ChangeStatus.APPLIED: ["rollback"],
    }
    actions = list(by_status.get(change.status, []))
    if "approve" in actions and not services.self_approval_allowed(change, membership):
        actions.remove("approve")
    return actions


def _impact_at(change: ChangeRequest) -> datetime | None:
    try:
        return datetime.fromisoformat(change.impact["computed_at"])
    except (TypeError, KeyError, ValueError):
        return None


@org_view()
def governance_change(request, pk):
    org = request.org
    change = get_for_org(
        ChangeRequest.objects.select_related(
            "requested_by__user", "decided_by__user", "rolled_back_by__user"
        ),
        org=org,
        pk=pk,
    )
    conflict = services.has_conflict(change)
    actions = allowed_actions(change, request.membership)
    return render(
        request,
        "governance/change.html",
        {
            "change": change,
            "target": services.target_label(change),
            "diff": diff_rows(services.change_diff(change)),
            "readable": diff_rows(services.readable_diff(change)),
            "impact_at": _impact_at(change),
            "conflict": conflict,
            "actions": actions,
            "can_edit": change.status == ChangeStatus.DRAFT
            and services.can_approve(request.membership, change.subject),
            "self_request": change.requested_by_id == request.membership.pk,
            "trail": trail(change),
            "approvers": services.approver_labels(change.subject),
            "proposed_json": json.dumps(change.proposed, indent=2, ensure_ascii=False),
        },
    )


@org_view()
def governance_change_action(request, pk):
    """One step of the workflow, named by the posted `action`."""
    org = request.org
    change = get_for_org(ChangeRequest.objects.all(), org=org, pk=pk)
    if request.method != "POST":  # after the lookup: another organisation's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        return redirect("governance_change", org_slug=org.slug, pk=change.pk)
    if not services.can_approve(request.membership, change.subject):
        # Every role outside the subject's approvers lacks this permission too: the refusal is
        # recorded in the security log and answered with a 403.
        require_permission(request, "operating_model.approve")
    by, note = request.membership, request.POST.get("note", "")
    try:
        if action == "submit":
            services.change_submit(org=org, change=change, by=by)
            done = "Submitted for review."
        elif action == "approve":
            change = services.change_approve(org=org, change=change, by=by, note=note)
            done = (
                "Approved and applied."
                if change.status == ChangeStatus.APPLIED
                else "Approved; it applies on its effective date."
            )
        elif action == "reject":
            services.change_reject(org=org, change=change, by=by, note=note)
            done = "Rejected."
        elif action == "apply":
            services.change_apply(org=org, change=change, by=by)
            done = "Applied."
        elif action == "rollback":
            services.change_rollback(org=org, change=change, by=by)
            done = "Rolled back: the earlier state is restored."
        elif action == "rebase":
            services.change_rebase(org=org, change=change, by=by)
            done = "Re-based on the current state; the request is a draft again."
        else:
            services.change_preview(org=org, change=change)
            done = "Impact preview computed."
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("governance_change", org_slug=org.slug, pk=change.pk)


# --- The definitions page as of a date ---------------------------------------------------------------


def definitions_as_of(request):
    """`records_definitions?as_of=YYYY-MM-DD`: the operating model at the end of that day (already
    resolved to the organisation by the definitions view)."""
    org = request.org
    raw = request.GET.get("as_of", "").strip()
    error, parts, day = "", [], None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        error = "Give the date as YYYY-MM-DD."
    else:
        if day > timezone.localdate(timezone=ZoneInfo(org.time_zone)):
            error, day = "Pick today or a past date: the future is what change requests are for.", None
        else:
            parts = as_of.operating_model_as_of(org=org, day=day)
    return render(
        request,
        "governance/changes_as_of.html",
        {"day": day, "raw": raw, "error": error, "parts": parts},
    )


urlpatterns = [
    path("changes/", governance_changes, name="governance_changes"),
    path("changes/new/", governance_change_new, name="governance_change_new"),
    path("changes/control/", governance_change_control, name="governance_change_control"),
    path("changes/<int:pk>/", governance_change, name="governance_change"),
    path("changes/<int:pk>/edit/", governance_change_edit, name="governance_change_edit"),
    path("changes/<int:pk>/act/", governance_change_action, name="governance_change_action"),
]
