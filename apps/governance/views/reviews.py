"""Operating review pages: the governance overview, the reviews list, one review (agenda, numbers,
decisions, action items) and the action items across reviews, with their CSV.

Everyone reads reviews; RevOps leads and admins ("reviews.run") plan and hold them and record
decisions and action items; any member updates the status of the action items they own. Forms post
plainly and, with htmx, swap only the part of the page they change.
"""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone

from apps.accounts.access import org_view, require_permission
from apps.accounts.models import Membership
from apps.audit.services import export_recorded
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.lookups import get_for_org
from apps.governance.models import ActionItem, ActionStatus, AgendaItem, OperatingReview, ReviewKind
from apps.governance.services import reviews as services

RUN = "reviews.run"
EXPORT = "data.export"
PAGE_SIZE = 50


def _members(org):
    return (
        Membership.objects.for_org(org)
        .filter(is_active=True)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )


def _changes_url(org) -> str:
    """The change requests page, once it is there."""
    try:
        return reverse("governance_changes", args=[org.slug])
    except NoReverseMatch:
        return ""


def _review_url(review) -> str:
    return reverse("governance_review", args=[review.organization.slug, review.pk])


# --- Overview and list -------------------------------------------------------------------------------


@org_view()
def governance_index(request):
    org = request.org
    today = timezone.localdate()
    open_items = services.action_items(org, status=ActionStatus.OPEN, today=today)
    return render(
        request,
        "governance/reviews_index.html",
        {
            "recent": _annotated(services.reviews_for(org))[:5],
            "open_count": open_items.count(),
            "overdue_count": services.overdue_items(org, today=today).count(),
            "mine": services.action_rows(org, open_items.filter(owner=request.membership)[:10], today),
            "changes_url": _changes_url(org),
            "can_run": request.membership.can(RUN),
            "kinds": ReviewKind.choices,
            "today": today,
        },
    )


def _annotated(reviews):
    return (
        reviews.annotate(
            decision_count=Count("decisions", distinct=True),
            action_count=Count("action_items", distinct=True),
        )
        .select_related("created_by__user")
        .order_by("-period_start", "-id")
    )


class ReviewFilterForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "Any"), *ReviewKind.choices])
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any"), *OperatingReview.Status.choices]
    )


@org_view()
def reviews_list(request):
    org = request.org
    form = ReviewFilterForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {"kind": "", "status": ""}
    reviews = _annotated(services.reviews_for(org, kind=data["kind"], status=data["status"]))
    page = Paginator(reviews, PAGE_SIZE).get_page(request.GET.get("page"))
    for review in page:
        review.label = services.period_label(org, review)
    return render(
        request,
        "governance/reviews.html",
        {
            "form": form,
            "page": page,
            "filtered": bool(data["kind"] or data["status"]),
            "can_run": request.membership.can(RUN),
            "kinds": ReviewKind.choices,
            "today": timezone.localdate(),
            "changes_url": _changes_url(org),
        },
    )


@org_view(RUN)
def review_new(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    org = request.org
    try:
        review = services.review_create(
            org=org,
            kind=request.POST.get("kind", ""),
            day=request.POST.get("date") or None,
            today=timezone.localdate(),
            created_by=request.membership,
            attendees=[pk for pk in request.POST.getlist("attendees") if pk],
        )
    except ServiceError as exc:
        messages.error(request, f"The review was not planned: {exc.message}")
        return redirect("governance_reviews", org_slug=org.slug)
    messages.success(request, "Review planned: its agenda is proposed below; edit it before the meeting.")
    return redirect(_review_url(review))


# --- One review --------------------------------------------------------------------------------------


def _review(request, pk):
    return get_for_org(
        OperatingReview.objects.select_related("created_by__user", "organization"), org=request.org, pk=pk
    )


def _work_context(request, review) -> dict:
    """The agenda, decisions and action items: the part of the page htmx forms swap."""
    org = request.org
    today = timezone.localdate()
    items = review.action_items.select_related("owner__user", "review")
    rows = services.action_rows(org, items, today)
    for row in rows:
        row["can_update"] = request.membership.can(RUN) or row["owner"] == request.membership.pk
    return {
        "review": review,
        "agenda": list(review.agenda.all()),
        "decisions": list(review.decisions.select_related("agenda_item")),
        "actions": rows,
        "members": _members(org),
        "linkable": [(key, link.label) for key, link in services.LINKABLE.items()],
        "can_run": request.membership.can(RUN),
        "planned": review.status == OperatingReview.Status.PLANNED,
        "today": today,
    }


@org_view()
def review_detail(request, pk):
    org = request.org
    review = _review(request, pk)
    today = timezone.localdate()
    held = review.status == OperatingReview.Status.HELD
    numbers = review.snapshot if held else services.review_numbers(org, review, today=today)
    return render(
        request,
        "governance/review.html",
        {
            **_work_context(request, review),
            "numbers": numbers,
            "held": held,
            "label": services.period_label(org, review),
            "attendees": review.attendees.select_related("user").order_by("user__full_name"),
            "attendee_ids": set(review.attendees.values_list("pk", flat=True)),
        },
    )


def _after_work(request, review, error: ServiceError | None = None, done: str = ""):
    """With htmx, the refreshed work section (and its error); otherwise back to the review page."""
    if request.htmx:
        context = _work_context(request, review)
        context["error"] = error.message if error else ""
        context["error_field"] = error.field if error else ""
        context["done"] = "" if error else done
        return render(request, "governance/review_work.html", context)
    if error:
        messages.error(request, error.message)
    elif done:
        messages.success(request, done)
    return redirect(_review_url(review))


def _post_only(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return None


@org_view(RUN)
def review_hold(request, pk):
    review = _review(request, pk)
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        services.review_hold(
            org=request.org,
            review=review,
            today=timezone.localdate(),
            attendees=[pk for pk in request.POST.getlist("attendees") if pk] or None,
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Review held: its numbers are frozen and the digest goes to the attendees.")
    return redirect(_review_url(review))


@org_view(RUN)
def review_edit(request, pk):
    """Notes, and the attendees while the review is planned."""
    review = _review(request, pk)
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        services.review_notes(org=request.org, review=review, notes=request.POST.get("notes", ""))
        if review.status == OperatingReview.Status.PLANNED and "attendees_shown" in request.POST:
            services.attendees_set(
                org=request.org, review=review, attendees=[p for p in request.POST.getlist("attendees") if p]
            )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Saved.")
    return redirect(_review_url(review))


@org_view(RUN)
def agenda_propose(request, pk):
    review = _review(request, pk)
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        added = services.agenda_propose(org=request.org, review=review, today=timezone.localdate())
    except ServiceError as exc:
        return _after_work(request, review, exc)
    return _after_work(request, review, done=f"{added} item{'s' if added != 1 else ''} added to the agenda.")


@org_view(RUN)
def agenda_add(request, pk):
    review = _review(request, pk)
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        services.agenda_add(
            org=request.org,
            review=review,
            title=request.POST.get("title", ""),
            detail=request.POST.get("detail", ""),
        )
    except ServiceError as exc:
        return _after_work(request, review, exc)
    return _after_work(request, review, done="Item added to the agenda.")


@org_view(RUN)
def agenda_item_remove(request, pk):
    item = get_for_org(AgendaItem.objects.select_related("review__organization"), org=request.org, pk=pk)
    if (refused := _post_only(request)) is not None:
        return refused
    review = item.review
    try:
        services.agenda_remove(org=request.org, item=item)
    except ServiceError as exc:
        return _after_work(request, review, exc)
    return _after_work(request, review, done="Item removed from the agenda.")


@org_view(RUN)
def agenda_item_move(request, pk):
    item = get_for_org(AgendaItem.objects.select_related("review__organization"), org=request.org, pk=pk)
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        by = -1 if request.POST.get("direction") == "up" else 1
        services.agenda_move(org=request.org, item=item, by=by)
    except ServiceError as exc:
        return _after_work(request, item.review, exc)
    return _after_work(request, item.review)


@org_view(RUN)
def decision_new(request, pk):
    review = _review(request, pk)
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        services.decision_add(
            org=request.org,
            review=review,
            text=request.POST.get("text", ""),
            rationale=request.POST.get("rationale", ""),
            agenda_item=request.POST.get("agenda_item") or None,
            decided_by=request.membership,
        )
    except ServiceError as exc:
        return _after_work(request, review, exc)
    return _after_work(request, review, done="Decision recorded.")


@org_view(RUN)
def action_new(request, pk):
    review = _review(request, pk)
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        services.action_add(
            org=request.org,
            review=review,
            title=request.POST.get("title", ""),
            owner=request.POST.get("owner") or None,
            due=request.POST.get("due") or None,
            decision=request.POST.get("decision") or None,
            subject_type=request.POST.get("subject_type") or None,
            subject_id=request.POST.get("subject_id") or None,
        )
    except ServiceError as exc:
        return _after_work(request, review, exc)
    return _after_work(request, review, done="Action item assigned.")


@org_view(RUN)
def link_options(request):
    """The action item form's object picker: <option>s of the chosen kind matching what was typed."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    subject_type = request.GET.get("subject_type", "")
    options, message = [], "Nothing in particular"
    if subject_type:
        try:
            options = services.link_candidates(request.org, subject_type, request.GET.get("q", ""))
        except ServiceError as exc:
            return HttpResponseBadRequest(exc.message)
        label = services.LINKABLE[subject_type].label.lower()
        message = f"Choose a {label}…" if options else f"No {label} matches"
    return render(request, "governance/review_link_options.html", {"options": options, "message": message})


@org_view()
def action_status(request, pk):
    """Mark an action item done, dropped or open again: its owner or an operator."""
    item = get_for_org(ActionItem.objects.select_related("review__organization"), org=request.org, pk=pk)
    if (refused := _post_only(request)) is not None:
        return refused
    if not services.can_update_action(request.membership, item):
        require_permission(request, RUN)  # not the owner nor an operator: records the refusal, 403
    try:
        services.action_set_status(org=request.org, item=item, status=request.POST.get("status", ""))
    except ServiceError as exc:
        error = exc
    else:
        error = None
    back = request.POST.get("next", "")
    if back == "actions":
        if error:
            messages.error(request, error.message)
        return redirect(reverse("governance_actions", args=[request.org.slug]) + _safe_query(request))
    return _after_work(request, item.review, error, done="" if error else "Action item updated.")


def _safe_query(request) -> str:
    query = request.POST.get("query", "")
    return f"?{query}" if query and "//" not in query and not query.startswith(("/", "?")) else ""


# --- Action items across reviews ---------------------------------------------------------------------


class ActionFilterForm(forms.Form):
    owner = forms.TypedChoiceField(label="Owner", required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any"), *ActionStatus.choices])
    overdue = forms.BooleanField(label="Overdue only", required=False)

    def __init__(self, data, *, org):
        super().__init__(data)
        self.fields["owner"].choices = [("", "Anyone"), *((m.pk, m.user.display_name) for m in _members(org))]


CSV_HEADER = [
    "id",
    "title",
    "owner",
    "due",
    "status",
    "overdue",
    "completed_at",
    "review",
    "subject",
]


@org_view()
def actions_list(request):
    org = request.org
    today = timezone.localdate()
    form = ActionFilterForm(request.GET, org=org)
    data = form.cleaned_data if form.is_valid() else {"owner": None, "status": "", "overdue": False}
    items = services.action_items(
        org, owner=data["owner"], status=data["status"], overdue=data["overdue"], today=today
    )
    if request.GET.get("format") == "csv":
        require_permission(request, EXPORT)
        export_recorded(
            request,
            what="action items",
            rows=items.count(),
            filters=dict(request.GET.items()),
        )
        rows = services.action_rows(org, items, today)
        return csv_response(
            f"action-items-{org.slug}-{today}.csv",
            CSV_HEADER,
            (
                [
                    row["id"],
                    row["title"],
                    row["owner_name"],
                    row["due"],
                    row["status"],
                    row["overdue"],
                    row["completed_at"],
                    row["review_label"],
                    row["subject"],
                ]
                for row in rows
            ),
        )
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = services.action_rows(org, page.object_list, today)
    for row in rows:
        row["can_update"] = request.membership.can(RUN) or row["owner"] == request.membership.pk
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "governance/reviews_actions.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "filtered": bool(data["owner"] or data["status"] or data["overdue"]),
            "query": query.urlencode(),
            "can_export": request.membership.can(EXPORT),
        },
    )


urlpatterns = [
    path("reviews/", reviews_list, name="governance_reviews"),
    path("reviews/new/", review_new, name="governance_review_new"),
    path("reviews/<int:pk>/", review_detail, name="governance_review"),
    path("reviews/<int:pk>/hold/", review_hold, name="governance_review_hold"),
    path("reviews/<int:pk>/edit/", review_edit, name="governance_review_edit"),
    path("reviews/<int:pk>/agenda/propose/", agenda_propose, name="governance_review_agenda_propose"),
    path("reviews/<int:pk>/agenda/", agenda_add, name="governance_review_agenda_add"),
    path("reviews/agenda/<int:pk>/remove/", agenda_item_remove, name="governance_agenda_item_remove"),
    path("reviews/agenda/<int:pk>/move/", agenda_item_move, name="governance_agenda_item_move"),
    path("reviews/<int:pk>/decisions/", decision_new, name="governance_review_decision_new"),
    path("reviews/<int:pk>/actions/", action_new, name="governance_review_action_new"),
    path("reviews/link-options/", link_options, name="governance_link_options"),
    path("actions/", actions_list, name="governance_actions"),
    path("actions/<int:pk>/status/", action_status, name="governance_action_status"),
]
