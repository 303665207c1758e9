"""The rep inbox (accept, reject, log a first touch), the manager queue
(reassign, route again, availability) and in-app notifications."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from apps.accounts.access import org_view, require_permission
from apps.accounts.models import Membership
from apps.core.errors import ServiceError
from apps.core.lookups import get_for_org
from apps.execution.models import Assignment, RoutingDecision
from apps.execution.models.routing import Trigger
from apps.execution.routing import types
from apps.execution.selectors import inbox as selectors
from apps.execution.services import notifications, ownership, routing, sla
from apps.records.models import Account, Lead, Opportunity

WORK = "leads.work"
REASSIGN = "leads.reassign"
QUEUE_PAGE_SIZE = 50
NOTIFICATIONS_PAGE_SIZE = 25
TOUCH_KINDS = [("call", "Call"), ("email", "E-mail")]


class RejectForm(forms.Form):
    reason = forms.ModelChoiceField(queryset=None, empty_label="Choose a reason")
    note = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, reasons, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].queryset = reasons


class TouchForm(forms.Form):
    kind = forms.ChoiceField(choices=TOUCH_KINDS)
    note = forms.CharField(max_length=500, required=False)


# --- Lookups: one per entity, 404 for anything the caller may not act on ----------------------


def _assignment(request, pk) -> Assignment:
    """An assignment of this organisation the caller may act on.

    A rep without "leads.reassign" only reaches their own, a manager those of
    the teams they manage; anything else is the same 404 as a missing one.
    """
    assignments = Assignment.objects.select_related("lead", "assignee__user")
    if not request.membership.can(REASSIGN):
        assignments = assignments.filter(assignee=request.membership)
    else:
        steered = selectors.managed_member_ids(org=request.org, membership=request.membership)
        if steered is not None:
            assignments = assignments.filter(assignee_id__in=steered)
    return get_for_org(assignments, org=request.org, pk=pk)


def _touchable_lead(request, pk) -> Lead:
    """A lead the caller may log a touch on: their own (owned or offered to
    them), or any lead for someone who steers other people's leads."""
    leads = Lead.objects.all()
    if not request.membership.can(REASSIGN):
        mine = Assignment.objects.filter(
            lead_id=pk, assignee=request.membership, status__in=Assignment.LIVE
        ).values("lead_id")
        leads = leads.filter(Q(owner=request.membership) | Q(pk__in=mine))
    return get_for_org(leads, org=request.org, pk=pk)


def _back(request, default: str):
    """Where to go after a form: the safe `next` the page sent, else `default`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


def _inbox_url(request) -> str:
    return reverse("execution_inbox", args=[request.org.slug])


def _queue_url(request) -> str:
    return reverse("execution_queue", args=[request.org.slug])


# --- The rep inbox ---------------------------------------------------------------------------


@org_view(WORK)
def execution_inbox(request):
    org, me = request.org, request.membership
    return render(
        request,
        "execution/inbox/inbox.html",
        {
            "offers": selectors.inbox_offers(org=org, membership=me),
            "awaiting": selectors.inbox_awaiting_touch(org=org, membership=me),
            "reasons": list(selectors.reject_reasons(org=org)),
            "touch_kinds": TOUCH_KINDS,
            "available": selectors.rep_profile_available(membership=me),
            "now": timezone.now(),
        },
    )


def _card_problem(request, assignment, message: str):
    """An offer that can no longer be acted on (taken back, answered in another tab)."""
    if request.htmx:
        return render(
            request, "execution/inbox/_gone.html", {"assignment": assignment, "status_message": message}
        )
    messages.error(request, message)
    return redirect("execution_inbox", org_slug=request.org.slug)


@org_view(WORK)
def execution_assignment_accept(request, pk):
    assignment = _assignment(request, pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    try:
        routing.assignment_accept(org=request.org, assignment=assignment, actor=request.user)
    except ServiceError as exc:
        return _card_problem(request, assignment, exc.message)
    message = f"Accepted {assignment.lead}. Call or e-mail them next: the first-touch clock is running."
    if request.htmx:
        return render(
            request,
            "execution/inbox/_accepted.html",
            {
                "item": selectors.inbox_item(org=request.org, assignment=assignment),
                "touch_kinds": TOUCH_KINDS,
                "status_message": message,
                "now": timezone.now(),
            },
        )
    messages.success(request, message)
    return redirect("execution_inbox", org_slug=request.org.slug)


@org_view(WORK)
def execution_assignment_reject(request, pk):
    assignment = _assignment(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    reasons = selectors.reject_reasons(org=request.org)
    form = RejectForm(request.POST, reasons=reasons)
    if form.is_valid():
        try:
            routing.assignment_reject(
                org=request.org,
                assignment=assignment,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        except ServiceError as exc:
            if exc.field != "reason":
                return _card_problem(request, assignment, exc.message)
            form.add_error("reason", exc.message)
        else:
            message = f"Rejected {assignment.lead}; it goes to someone else."
            if request.htmx:
                return render(request, "execution/inbox/_status.html", {"status_message": message})
            messages.success(request, message)
            return redirect("execution_inbox", org_slug=request.org.slug)
    if request.htmx:
        # The card again, its reject form open with the problem next to the field.
        item = selectors.inbox_item(org=request.org, assignment=assignment)
        return render(
            request,
            "execution/inbox/_offer.html",
            {"item": item, "reasons": list(reasons), "reject_form": form, "now": timezone.now()},
        )
    messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("execution_inbox", org_slug=request.org.slug)


@org_view(WORK)
def execution_lead_touch(request, pk):
    lead = _touchable_lead(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = TouchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say whether it was a call or an e-mail.")
        return _back(request, _inbox_url(request))
    kind = form.cleaned_data["kind"]
    sla.touch_record(org=request.org, lead=lead, kind=kind, note=form.cleaned_data["note"])
    message = f"Logged {'a call' if kind == 'call' else 'an e-mail'} with {lead}."
    if request.htmx:
        return render(request, "execution/inbox/_status.html", {"status_message": message})
    messages.success(request, message)
    return _back(request, _inbox_url(request))


# --- The manager queue -----------------------------------------------------------------------------


def _pick(options, raw: str):
    """The option whose pk is `raw`, else None: filters ignore values they do not know."""
    return next((option for option in options if str(option.pk) == raw), None)


@org_view(REASSIGN)
def execution_queue(request):
    org, me = request.org, request.membership
    teams = list(selectors.managed_teams(org=org, membership=me))
    reps = selectors.queue_reps(org=org, membership=me)
    team = _pick(teams, request.GET.get("team", ""))
    rep = _pick(reps, request.GET.get("rep", ""))
    status = request.GET.get("status", "")
    if status not in selectors.QUEUE_STATUSES:
        status = ""
    live = selectors.queue_assignments(org=org, membership=me, team=team, rep=rep, status=status)
    page = Paginator(live, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "execution/inbox/queue.html",
        {
            "teams": teams,
            "reps": reps,
            "targets": [r for r in reps if r.can(WORK)],
            "team": team,
            "rep": rep,
            "status": status,
            "statuses": selectors.QUEUE_STATUSES,
            "page": page,
            "items": selectors.clocked(page.object_list),
            "waiting": selectors.queue_waiting(org=org),
            "waiting_limit": selectors.WAITING_LIMIT,
            "sees_everyone": selectors.sees_everyone(me),
            "now": timezone.now(),
        },
    )


@org_view(REASSIGN)
def execution_assignment_reassign(request, pk):
    assignment = _assignment(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    to = None
    raw = request.POST.get("to", "")
    if raw:
        targets = selectors.reassign_targets(org=request.org, membership=request.membership)
        to = targets.filter(pk=int(raw)).first() if raw.isdigit() else None
        if to is None:
            messages.error(request, "Choose one of the people you manage.")
            return _back(request, _queue_url(request))
    try:
        routing.assignment_reassign(org=request.org, assignment=assignment, actor=request.user, to=to)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if to is None:
            messages.success(
                request, f"{assignment.lead} is being routed again, without {_name(assignment)}."
            )
        else:
            messages.success(request, f"{assignment.lead} offered to {to.user.display_name}.")
    return _back(request, _queue_url(request))


def _name(assignment) -> str:
    return assignment.assignee.user.display_name


@org_view(REASSIGN)
def execution_lead_route(request, pk):
    lead = get_for_org(Lead.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    with transaction.atomic():
        routing_request = routing.routing_request(org=request.org, lead=lead, trigger=Trigger.MANUAL)
    if routing_request is None:
        messages.error(request, "Publish a routing policy first: there are no rules to route by.")
        return _back(request, _queue_url(request))
    # Usually already routed by the on-commit hook; this call is a no-op then.
    routing.route_request_or_retry(request_id=routing_request.pk)
    decision = (
        RoutingDecision.objects.for_org(request.org)
        .filter(request=routing_request)
        .select_related("assignee__user")
        .order_by("-created_at")
        .first()
    )
    if decision is None:
        messages.warning(request, f"{lead} already has someone working it; nothing was changed.")
    elif decision.outcome == types.ASSIGNED and decision.assignee:
        messages.success(request, f"{lead} offered to {decision.assignee.user.display_name}.")
    elif decision.outcome == types.HELD:
        messages.warning(request, f"{lead} is still held: {decision.trail[-1] if decision.trail else ''}")
    else:
        messages.warning(request, f"Still nobody can take {lead}; it stays in the queue.")
    return _back(request, _queue_url(request))


@org_view(REASSIGN)
def execution_record_route(request, object_type, pk):
    """Route an unowned account or opportunity now, by its published policy."""
    model = Account if object_type == ownership.ACCOUNT else Opportunity
    record = get_for_org(model.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    back = reverse(f"records_{object_type}", kwargs={"org_slug": request.org.slug, "pk": record.pk})
    if record.owner_id is not None:
        messages.warning(request, f"{record} already has an owner; nothing was changed.")
        return redirect(back)
    with transaction.atomic():
        routing_request = ownership.ownership_request(org=request.org, record=record, trigger=Trigger.MANUAL)
    if routing_request is None:
        messages.error(
            request, f"Publish a routing policy for {object_type} first: there are no rules to route by."
        )
        return redirect(back)
    routing.route_request_or_retry(request_id=routing_request.pk)  # a no-op when on-commit routed it
    decision = (
        RoutingDecision.objects.for_org(request.org)
        .filter(request=routing_request)
        .select_related("assignee__user")
        .first()
    )
    if decision is not None and decision.outcome == types.ASSIGNED and decision.assignee:
        messages.success(request, f"{record} now belongs to {decision.assignee.user.display_name}.")
    elif decision is not None:
        messages.warning(
            request, f"Nobody can take {record} now: {decision.trail[-1] if decision.trail else ''}"
        )
    else:
        messages.warning(request, f"{record} was given an owner in the meantime; nothing was changed.")
    return redirect(back)


@org_view(WORK)
def execution_rep_availability(request, pk):
    target = get_for_org(Membership.objects.select_related("user"), org=request.org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if target.pk != request.membership.pk:
        require_permission(request, REASSIGN)
        if not selectors.may_steer(org=request.org, membership=request.membership, target=target):
            raise PermissionDenied("You can change the availability of your own teams' reps only.")
    available = request.POST.get("available", "") in {"1", "true", "on", "yes"}
    routing.rep_set_available(org=request.org, membership=target, available=available)
    who = "You are" if target.pk == request.membership.pk else f"{target.user.display_name} is"
    state = "available for new leads" if available else "paused: no new leads until switched back on"
    messages.success(request, f"{who} {state}.")
    default = _queue_url(request) if request.membership.can(REASSIGN) else _inbox_url(request)
    return _back(request, default)


# --- Notifications -------------------------------------------------------------------------------


@org_view()
def execution_notifications(request):
    org, me = request.org, request.membership
    page = Paginator(selectors.notifications_for(org=org, membership=me), NOTIFICATIONS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "execution/inbox/notifications.html",
        {"page": page, "unread": notifications.unread_count(org=org, membership=me)},
    )


@org_view()
def execution_notifications_count(request):
    """The bell in the top bar: polled by htmx, so it stays one cheap COUNT."""
    return _bell(request)


def _bell(request):
    unread = notifications.unread_count(org=request.org, membership=request.membership)
    return render(request, "execution/inbox/_bell.html", {"unread": unread})


@org_view()
def execution_notifications_read(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    raw = request.POST.get("id", "")
    if raw and not raw.isdigit():
        messages.error(request, "No such notification.")
        return redirect("execution_notifications", org_slug=request.org.slug)
    notifications.mark_read(
        org=request.org, membership=request.membership, notification_id=int(raw) if raw else None
    )
    if request.htmx:
        return _bell(request)
    return _back(request, reverse("execution_notifications", args=[request.org.slug]))


urlpatterns = [
    path("inbox/", execution_inbox, name="execution_inbox"),
    path("inbox/<int:pk>/accept/", execution_assignment_accept, name="execution_assignment_accept"),
    path("inbox/<int:pk>/reject/", execution_assignment_reject, name="execution_assignment_reject"),
    path("inbox/leads/<int:pk>/touch/", execution_lead_touch, name="execution_lead_touch"),
    path("routing/queue/", execution_queue, name="execution_queue"),
    path(
        "routing/queue/<int:pk>/reassign/",
        execution_assignment_reassign,
        name="execution_assignment_reassign",
    ),
    path("routing/queue/leads/<int:pk>/route/", execution_lead_route, name="execution_lead_route"),
    path(
        "routing/queue/accounts/<int:pk>/route/",
        execution_record_route,
        {"object_type": "account"},
        name="execution_account_route",
    ),
    path(
        "routing/queue/opportunities/<int:pk>/route/",
        execution_record_route,
        {"object_type": "opportunity"},
        name="execution_opportunity_route",
    ),
    path(
        "routing/reps/<int:pk>/availability/", execution_rep_availability, name="execution_rep_availability"
    ),
    path("notifications/", execution_notifications, name="execution_notifications"),
    path("notifications/count/", execution_notifications_count, name="execution_notifications_count"),
    path("notifications/read/", execution_notifications_read, name="execution_notifications_read"),
]
