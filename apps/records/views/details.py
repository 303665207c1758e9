"""Detail pages of a lead (with its stage and owner forms), an account and an opportunity."""

from django.contrib import messages
from django.shortcuts import redirect, render

from apps.accounts.access import org_view, require_permission
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org

from .. import selectors, services
from ..forms import OwnerChangeForm, StageChangeForm
from ..models import (
    Account,
    Lead,
    ObjectType,
    Opportunity,
    Origin,
)
from .lists import _member

# --- Detail pages ----------------------------------------------------------------------------


def _lead_post(request, lead, stages, members):
    """The two forms of a lead page; returns the bound forms (redirects on success)."""
    stage_form = owner_form = None
    if request.POST.get("action") == "owner":
        require_permission(request, "leads.reassign")
        owner_form = OwnerChangeForm(request.POST, members=members)
        if owner_form.is_valid():
            try:
                services.lead_update(
                    org=request.org,
                    lead=lead,
                    owner=_member(request.org, owner_form.cleaned_data["owner"]),
                    actor=request.user,
                    origin=Origin.UI,
                )
            except ServiceError as exc:
                add_service_error(owner_form, exc)
            else:
                messages.success(request, "Owner changed.")
                return None, None, True
    else:
        require_permission(request, "leads.work")
        stage_form = StageChangeForm(request.POST, stages=stages, current=lead.stage.key)
        if stage_form.is_valid():
            try:
                services.lead_change_stage(
                    org=request.org,
                    lead=lead,
                    to=stage_form.cleaned_data["stage"],
                    actor=request.user,
                    origin=Origin.UI,
                    reason=stage_form.cleaned_data["reason"],
                )
            except ServiceError as exc:
                add_service_error(stage_form, exc)
            else:
                messages.success(request, f"Moved to {lead.stage.name}.")
                return None, None, True
    return stage_form, owner_form, False


@org_view()
def records_lead(request, pk):
    org = request.org
    lead = get_for_org(Lead.objects.select_related("stage", "owner__user", "account"), org=org, pk=pk)
    stages = selectors.stage_list(org=org)
    members = list(selectors.members_for_choices(org=org))
    stage_form = owner_form = None
    if request.method == "POST":
        stage_form, owner_form, done = _lead_post(request, lead, stages, members)
        if done:
            return redirect("records_lead", org_slug=org.slug, pk=lead.pk)
    perms = request.membership.permissions
    if stage_form is None and "leads.work" in perms:
        stage_form = StageChangeForm(stages=stages, current=lead.stage.key)
    if owner_form is None and "leads.reassign" in perms:
        owner_form = OwnerChangeForm(members=members, initial={"owner": lead.owner_id or ""})
    events = selectors.lead_stage_events(org=org, lead=lead)
    definitions_ = selectors.custom_fields_for(org=org, object_type=ObjectType.LEAD)
    return render(
        request,
        "records/lead.html",
        {
            "lead": lead,
            "merged_into": Lead.objects.for_org(org).filter(pk=lead.merged_into_id).first()
            if lead.merged_into_id
            else None,
            "custom_values": selectors.custom_values(definitions=definitions_, record=lead),
            "completeness": selectors.lead_completeness(org=org, lead=lead),
            "summary": selectors.lead_stage_summary(
                stage_events=events, stage_list=stages, current_key=lead.stage.key
            ),
            "timeline": selectors.lead_timeline(
                org=org, lead=lead, stage_events=events, stage_names={s.key: s.name for s in stages}
            ),
            "stage_form": stage_form,
            "owner_form": owner_form,
            "opportunities": Opportunity.objects.for_org(org)
            .filter(primary_contact=lead)
            .order_by("-created_date"),
        },
    )


@org_view()
def records_account(request, pk):
    account = get_for_org(Account.objects.select_related("owner__user"), org=request.org, pk=pk)
    definitions_ = selectors.custom_fields_for(org=request.org, object_type=ObjectType.ACCOUNT)
    return render(
        request,
        "records/account.html",
        {
            "account": account,
            "custom_values": selectors.custom_values(definitions=definitions_, record=account),
            **selectors.account_related(org=request.org, account=account),
            **_routing(request, account),
        },
    )


@org_view()
def records_opportunity(request, pk):
    opportunity = get_for_org(
        Opportunity.objects.select_related("account", "owner__user", "primary_contact"),
        org=request.org,
        pk=pk,
    )
    definitions_ = selectors.custom_fields_for(org=request.org, object_type=ObjectType.OPPORTUNITY)
    return render(
        request,
        "records/opportunity.html",
        {
            "opportunity": opportunity,
            "custom_values": selectors.custom_values(definitions=definitions_, record=opportunity),
            **_routing(request, opportunity),
        },
    )


def _routing(request, record) -> dict:
    from apps.execution.selectors.inbox import owner_routing  # execution builds on records

    return {
        **owner_routing(org=request.org, record=record),
        "can_route": request.membership.can("leads.reassign"),
    }
