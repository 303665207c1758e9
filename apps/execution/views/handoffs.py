"""The hand-off inbox (accept or return, filters, CSV, SLA compliance) and
"no man's land": records nobody owns or that sit in a stage too long."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone

from apps.accounts.access import org_view
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.lookups import get_for_org
from apps.execution.models import HandoffKind, HandoffStatus
from apps.execution.selectors import stuck
from apps.execution.services import handoffs as services

PAGE_SIZE = 50
COMPLIANCE_DAYS = 30


class ReturnForm(forms.Form):
    reason = forms.CharField(max_length=500)


def _handoff(request, pk):
    """A hand-off the caller may see; another organisation's (or one not theirs) is a 404."""
    return get_for_org(
        services.handoffs_visible(org=request.org, membership=request.membership), org=request.org, pk=pk
    )


def _filtered(request):
    handoffs = services.handoffs_visible(org=request.org, membership=request.membership)
    status = request.GET.get("status", HandoffStatus.PENDING)
    if status not in HandoffStatus.values and status != "all":
        status = HandoffStatus.PENDING
    kind = request.GET.get("kind", "")
    if kind not in HandoffKind.values:
        kind = ""
    mine = request.GET.get("mine") == "1"
    if status != "all":
        handoffs = handoffs.filter(status=status)
    if kind:
        handoffs = handoffs.filter(kind=kind)
    if mine:
        handoffs = handoffs.filter(receiver=request.membership)
    order = ("due_at", "pk") if status == HandoffStatus.PENDING else ("-created_at", "-pk")
    return handoffs.order_by(*order), {"status": status, "kind": kind, "mine": mine}


@org_view()
def handoff_inbox(request):
    handoffs, filters = _filtered(request)
    page = Paginator(handoffs, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    since = now - timedelta(days=COMPLIANCE_DAYS)
    visible = services.handoffs_visible(org=request.org, membership=request.membership)
    return render(
        request,
        "execution/handoffs/inbox.html",
        {
            "page": page,
            "items": [(h, services.missing_fields(h)) for h in page.object_list],
            **filters,
            "statuses": HandoffStatus.choices,
            "kinds": HandoffKind.choices,
            "now": now,
            "compliance": services.compliance(visible.filter(created_at__gte=since), now=now),
            "compliance_days": COMPLIANCE_DAYS,
        },
    )


@org_view()
def handoff_export(request):
    handoffs, _ = _filtered(request)
    rows = (
        (
            h.pk, h.get_kind_display(), h.get_status_display(), h.lead or "", h.opportunity or "",
            h.account or "", h.sender.user.display_name if h.sender else "",
            h.receiver.user.display_name if h.receiver else "", h.receiving_team or "", h.created_at,
            h.due_at, h.responded_at, h.breached_at, h.return_reason, h.notes,
        )
        for h in handoffs.iterator(chunk_size=500)
    )  # fmt: skip
    header = [
        "id", "kind", "status", "lead", "opportunity", "account", "sender", "receiver", "receiving team",
        "created at", "due at", "answered at", "breached at", "return reason", "notes",
    ]  # fmt: skip
    return csv_response("handoffs.csv", header, rows)


@org_view()
def handoff_detail(request, pk):
    handoff = _handoff(request, pk)
    labels = services.FIELD_LABELS
    return render(
        request,
        "execution/handoffs/detail.html",
        {
            "handoff": handoff,
            "fields": [(labels.get(k, k), v) for k, v in handoff.fields.items()],
            "missing": [labels.get(k, k) for k in services.missing_fields(handoff)],
            "may_answer": services.may_answer(request.membership, handoff),
            "now": timezone.now(),
        },
    )


def _answerable(request, pk):
    handoff = _handoff(request, pk)
    if request.method != "POST":
        return handoff, redirect("execution_handoff", org_slug=request.org.slug, pk=handoff.pk)
    if not services.may_answer(request.membership, handoff):
        raise PermissionDenied("Only the receiver, their team or a manager can answer this hand-off.")
    return handoff, None


@org_view()
def handoff_accept(request, pk):
    handoff, refused = _answerable(request, pk)
    if refused:
        return refused
    try:
        services.handoff_accept(org=request.org, handoff=handoff, by=request.membership)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Accepted: {handoff.lead or handoff.opportunity} is yours to work.")
    return redirect("execution_handoff", org_slug=request.org.slug, pk=handoff.pk)


@org_view()
def handoff_return(request, pk):
    handoff, refused = _answerable(request, pk)
    if refused:
        return refused
    form = ReturnForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why it goes back, so the sender can fix it.")
        return redirect("execution_handoff", org_slug=request.org.slug, pk=handoff.pk)
    try:
        services.handoff_return(
            org=request.org, handoff=handoff, reason=form.cleaned_data["reason"], by=request.membership
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Returned to the sender with your reason.")
    return redirect("execution_handoff", org_slug=request.org.slug, pk=handoff.pk)


# --- No man's land -------------------------------------------------------------------------------


@org_view("leads.reassign")
def no_mans_land(request):
    thresholds = stuck.thresholds_from(request.GET, org=request.org)
    now = timezone.now()
    leads = stuck.stuck_leads(org=request.org, thresholds=thresholds, now=now)
    page = Paginator(leads, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "execution/handoffs/no_mans_land.html",
        {
            "page": page,
            "items": [stuck.describe(lead, thresholds=thresholds, now=now) for lead in page.object_list],
            "thresholds": thresholds,
            "default_days": stuck.DEFAULT_DAYS,
        },
    )


@org_view("leads.reassign")
def no_mans_land_export(request):
    thresholds = stuck.thresholds_from(request.GET, org=request.org)
    now = timezone.now()
    leads = stuck.stuck_leads(org=request.org, thresholds=thresholds, now=now)
    items = (stuck.describe(lead, thresholds=thresholds, now=now) for lead in leads.iterator(chunk_size=500))
    rows = (
        (item.lead.pk, str(item.lead), item.lead.email, item.lead.company, item.lead.stage.name,
         item.lead.owner.user.display_name if item.lead.owner else "", item.lead.stage_entered_at,
         item.days_in_stage, item.reason)
        for item in items
    )  # fmt: skip
    header = ["id", "name", "email", "company", "stage", "owner", "in stage since", "days in stage", "why"]
    return csv_response("no-mans-land.csv", header, rows)


urlpatterns = [
    path("handoffs/", handoff_inbox, name="execution_handoffs"),
    path("handoffs/export/", handoff_export, name="execution_handoffs_export"),
    path("handoffs/<int:pk>/", handoff_detail, name="execution_handoff"),
    path("handoffs/<int:pk>/accept/", handoff_accept, name="execution_handoff_accept"),
    path("handoffs/<int:pk>/return/", handoff_return, name="execution_handoff_return"),
    path("handoffs/no-mans-land/", no_mans_land, name="execution_no_mans_land"),
    path("handoffs/no-mans-land/export/", no_mans_land_export, name="execution_no_mans_land_export"),
]
