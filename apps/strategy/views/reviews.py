"""The quarterly strategy review: the list (with whether one is due), holding one, and one review.

Everyone reads reviews; RevOps leads and admins ("strategy.edit") hold them and
record notes and decisions. The snapshot a review shows is the one frozen when
it was held (apps.strategy.services.reviews), never today's numbers.
"""

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone

from apps.accounts.access import org_view
from apps.accounts.models import Membership
from apps.core.errors import ServiceError
from apps.core.lookups import get_for_org
from apps.strategy.models import StrategyDecision, StrategyReview
from apps.strategy.services import reviews as services

EDIT = "strategy.edit"


@org_view()
def reviews_page(request):
    org = request.org
    today = timezone.localdate()
    return render(
        request,
        "strategy/reviews.html",
        {
            "reviews": StrategyReview.objects.for_org(org)
            .select_related("created_by__user")
            .annotate(decision_count=Count("decisions")),
            "due": services.is_due(org, today),
            "days_since": services.days_since_last(org, today),
            "due_after": services.DUE_AFTER_DAYS,
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view(EDIT)
def review_new(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    review = services.review_hold(
        org=request.org,
        today=timezone.localdate(),
        notes=request.POST.get("notes", ""),
        created_by=request.membership,
    )
    messages.success(request, "Review held: the numbers below are frozen as of today.")
    return redirect("strategy_review", org_slug=request.org.slug, pk=review.pk)


@org_view()
def review_detail(request, pk):
    org = request.org
    review = get_for_org(StrategyReview.objects.select_related("created_by__user"), org=org, pk=pk)
    owners = Membership.objects.for_org(org).filter(is_active=True).select_related("user")
    return render(
        request,
        "strategy/review.html",
        {
            "review": review,
            "snapshot": review.snapshot,
            "decisions": review.decisions.select_related("owner__user"),
            "owners": owners.order_by("user__full_name", "user__email"),
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view(EDIT)
def review_notes(request, pk):
    org = request.org
    review = get_for_org(StrategyReview.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.review_notes(org=org, review=review, notes=request.POST.get("notes", ""))
    messages.success(request, "Notes saved.")
    return redirect("strategy_review", org_slug=org.slug, pk=pk)


@org_view(EDIT)
def decision_new(request, pk):
    org = request.org
    review = get_for_org(StrategyReview.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.decision_add(
            org=org,
            review=review,
            text=request.POST.get("text", ""),
            rationale=request.POST.get("rationale", ""),
            owner=request.POST.get("owner") or None,
            due=request.POST.get("due") or None,
        )
    except ServiceError as exc:
        messages.error(request, f"The decision was not recorded: {exc.message}")
    else:
        messages.success(request, "Decision recorded.")
    return redirect("strategy_review", org_slug=org.slug, pk=pk)


@org_view(EDIT)
def decision_done(request, pk):
    org = request.org
    decision = get_for_org(StrategyDecision.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.decision_done(org=org, decision=decision, done=request.POST.get("done") == "1")
    return redirect("strategy_review", org_slug=org.slug, pk=decision.review_id)


urlpatterns = [
    path("reviews/", reviews_page, name="strategy_reviews"),
    path("reviews/new/", review_new, name="strategy_review_new"),
    path("reviews/<int:pk>/", review_detail, name="strategy_review"),
    path("reviews/<int:pk>/notes/", review_notes, name="strategy_review_notes"),
    path("reviews/<int:pk>/decisions/", decision_new, name="strategy_review_decision_new"),
    path("reviews/decisions/<int:pk>/done/", decision_done, name="strategy_review_decision_done"),
]
