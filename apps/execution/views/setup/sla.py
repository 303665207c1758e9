"""How reps answer and how fast: the reject reasons they choose from, and SLA
policies with their escalation ladders."""

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import render

from apps.accounts.access import org_view, require_permission
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.execution import forms
from apps.execution.models import RejectReason, SlaPolicy
from apps.execution.services import setup as services
from apps.records import conditions
from apps.records.models import CustomField, LifecycleStage, ObjectType

from .common import EDIT_ROUTING, EDIT_SLA, back, post_only

# --- Reject reasons ----------------------------------------------------------------------------------


@org_view()
def reject_reasons(request):
    org = request.org
    can_edit = request.membership.can(EDIT_ROUTING)
    form = forms.RejectReasonForm(request.POST or None) if can_edit else None
    if request.method == "POST":
        require_permission(request, EDIT_ROUTING)
        if request.POST.get("form") == "defaults":
            added = services.reject_reasons_install_defaults(org=org)
            messages.success(request, f"Added {added} standard reason{'s' if added != 1 else ''}.")
            return back(request, "execution_reject_reasons")
        if form.is_valid():
            try:
                reason = services.reject_reason_create(org=org, label=form.cleaned_data["label"])
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Reason “{reason.label}” added.")
                return back(request, "execution_reject_reasons")
    reasons = RejectReason.objects.for_org(org).annotate(uses=Count("assignments"))
    return render(
        request,
        "execution/setup/reject_reasons.html",
        {"reasons": reasons, "form": form, "can_edit": can_edit},
        status=400 if request.method == "POST" else 200,
    )


@org_view(EDIT_ROUTING)
def reject_reason(request, pk):
    reason = get_for_org(RejectReason.objects.all(), org=request.org, pk=pk)
    if refused := post_only(request):
        return refused
    form = forms.RejectReasonEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a label of at most 120 characters.")
        return back(request, "execution_reject_reasons")
    data = form.cleaned_data
    try:
        services.reject_reason_update(
            org=request.org, reason=reason, label=data["label"] or None, is_active=data["is_active"]
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        state = (
            ""
            if data["is_active"] is None
            else (" (active)" if data["is_active"] else " (inactive: reps no longer see it)")
        )
        messages.success(request, f"Reason “{reason.label}” saved{state}.")
    return back(request, "execution_reject_reasons")


# --- SLA policies ------------------------------------------------------------------------------------


def _sla_forms(request, policy=None, *, read_only=False):
    org = request.org
    stages = LifecycleStage.objects.for_org(org).order_by("order")
    choices = forms.rule_field_choices(CustomField.objects.for_org(org).filter(object_type=ObjectType.LEAD))
    data = request.POST if request.method == "POST" else None
    initial = None
    if policy is not None:
        initial = {
            "name": policy.name,
            "clock": policy.clock,
            "target_minutes": policy.target_minutes,
            "calendar": policy.calendar_id,
            "stage": policy.stage,
            "team": policy.team_id,
            "is_active": policy.is_active,
        }
    form = forms.SlaPolicyForm(data, org=org, stages=stages, initial=initial, read_only=read_only)
    conditions_set = forms.conditions_formset(
        data, prefix="cond", field_choices=choices, conditions=policy.conditions if policy else None
    )
    steps = forms.escalation_formset(data, steps=policy.escalation if policy else None)
    if read_only:
        for row in [*conditions_set.forms, *steps.forms]:
            for field in row.fields.values():
                field.disabled = True
    return form, conditions_set, steps


def _applies_to(policy) -> list[str]:
    parts = [f"stage {policy.stage}"] if policy.stage else []
    if policy.team:
        parts.append(f"team {policy.team.name}")
    return parts + [conditions.describe(c) for c in policy.conditions] or ["every lead"]


def _sla_save(request, form, conditions_set, steps, policy=None):
    """Create or update from valid forms; returns (policy, error_context)."""
    if not (form.is_valid() and conditions_set.is_valid() and steps.is_valid()):
        return None, {}
    fields = dict(form.cleaned_data)
    fields["conditions"] = forms.formset_conditions(conditions_set)
    fields["escalation"] = forms.formset_steps(steps)
    try:
        if policy is None:
            return services.sla_policy_create(org=request.org, **fields), {}
        return services.sla_policy_update(org=request.org, policy=policy, **fields), {}
    except ServiceError as exc:
        if exc.field == "conditions":
            return None, {"conditions_error": exc.message}
        if exc.field and exc.field.startswith("escalation"):
            return None, {"steps_error": exc.message}
        add_service_error(form, exc)
        return None, {}


@org_view()
def sla_policies(request):
    org = request.org
    can_edit = request.membership.can(EDIT_SLA)
    extra = {}
    form = conditions_set = steps = None
    if can_edit:
        form, conditions_set, steps = _sla_forms(request)
    if request.method == "POST":
        require_permission(request, EDIT_SLA)
        policy, extra = _sla_save(request, form, conditions_set, steps)
        if policy is not None:
            messages.success(request, f"SLA policy {policy.name} created.")
            return back(request, "execution_sla_policies")
    rows = [
        (policy, _applies_to(policy))
        for policy in SlaPolicy.objects.for_org(org).select_related("calendar", "team").order_by("name")
    ]
    return render(
        request,
        "execution/setup/sla_policies.html",
        {
            "rows": rows,
            "form": form,
            "formset": conditions_set,
            "steps": steps,
            "can_edit": can_edit,
            **extra,
        },
        status=400 if request.method == "POST" else 200,
    )


@org_view()
def sla_policy(request, pk):
    policy = get_for_org(SlaPolicy.objects.select_related("calendar", "team"), org=request.org, pk=pk)
    can_edit = request.membership.can(EDIT_SLA)
    if request.method == "POST":
        require_permission(request, EDIT_SLA)
    form, conditions_set, steps = _sla_forms(request, policy, read_only=not can_edit)
    extra = {}
    if request.method == "POST":
        saved, extra = _sla_save(request, form, conditions_set, steps, policy)
        if saved is not None:
            messages.success(
                request, f"SLA policy {saved.name} saved. Clocks already running keep their old ladder."
            )
            return back(request, "execution_sla_policy", pk=policy.pk)
        policy.refresh_from_db()
    return render(
        request,
        "execution/setup/sla_policy.html",
        {
            "policy": policy,
            "form": form,
            "formset": conditions_set,
            "steps": steps,
            "can_edit": can_edit,
            **extra,
        },
        status=400 if request.method == "POST" else 200,
    )
