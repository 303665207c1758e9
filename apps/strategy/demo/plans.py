"""Demo plans and a strategy review: this quarter's primary plan with a scenario, last quarter's review
(a quarterly operating review of apps.governance)."""

import datetime

from django.utils import timezone

from apps.accounts.models import Membership
from apps.core.errors import ServiceError

from ..fiscal import fiscal_quarter_of, fiscal_quarter_range, shift_quarter
from ..models import SavedPlan
from ..services import plans as plan_services

# The scenario's stage: SAL -> SQL up five points, the classic "better qualification" question.
SCENARIO_STAGE = "sal"
SCENARIO_POINTS = 5


def seed_plans(org) -> int | None:
    """The current quarter's primary plan (target from its goals, assumptions from history) and a scenario."""
    if SavedPlan.objects.for_org(org).exists():
        return None
    today = timezone.localdate()
    year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, today)
    owner = Membership.objects.for_org(org).filter(user__email="admin@northwind.example").first()
    try:
        base = plan_services.plan_save(
            org=org,
            name=f"FY{year} Q{quarter} plan",
            params={"fiscal_year": year, "quarter": quarter},
            today=today,
            owner=owner,
            primary=True,
            note="The quarter's new bookings goal, with conversion and lags from the last 12 months.",
        )
    except ServiceError:
        return 0  # history cannot give every assumption: the waterfall page says which
    rate = base.params.get(f"rate.{SCENARIO_STAGE}")
    if rate is None:
        return 1
    better = min(float(rate) + SCENARIO_POINTS, 100.0)
    plan_services.plan_copy(
        org=org,
        plan=base,
        name=f"SAL → SQL +{SCENARIO_POINTS} points",
        changes={f"rate.{SCENARIO_STAGE}": plan_services.as_text(better)},
        today=today,
        owner=owner,
    )
    return 2


DECISIONS = [
    ("Shift a tenth of events budget to paid search", "Lower cost per qualified opportunity last quarter."),
    ("Tighten the MQL definition with a fit-score floor", "Sales rejected too many MQLs outside the ICP."),
]


def seed_review(org) -> int | None:
    """Last quarter's review, held a week into this quarter, with two decisions; None when one exists."""
    from apps.governance.models import OperatingReview, ReviewKind
    from apps.governance.services import reviews as review_services

    if OperatingReview.objects.for_org(org).filter(kind=ReviewKind.QUARTERLY).exists():
        return None
    today = timezone.localdate()
    this_year, this_quarter = fiscal_quarter_of(org.fiscal_year_start_month, today)
    start, _ = fiscal_quarter_range(org.fiscal_year_start_month, this_year, this_quarter)
    held_on = min(today, start + datetime.timedelta(days=6))
    year, quarter = shift_quarter(this_year, this_quarter, -1)
    last_start, _ = fiscal_quarter_range(org.fiscal_year_start_month, year, quarter)
    admin = Membership.objects.for_org(org).filter(user__email="admin@northwind.example").first()
    review = review_services.review_create(
        org=org,
        kind=ReviewKind.QUARTERLY,
        day=last_start,
        today=held_on,
        created_by=admin,
        attendees=[admin] if admin else (),
        propose=False,
    )
    for text, rationale in DECISIONS:
        review_services.decision_add(org=org, review=review, text=text, rationale=rationale, decided_by=admin)
    review_services.review_hold(
        org=org,
        review=review,
        today=held_on,
        notes="Bookings landed close to goal; pipeline creation lagged in the last month.",
    )
    OperatingReview.objects.filter(pk=review.pk).update(digest_sent_at=timezone.now())  # no demo e-mail
    return len(DECISIONS)
