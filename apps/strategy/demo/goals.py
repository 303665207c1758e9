"""Demo goals: this fiscal quarter and the last, set about a tenth above what the quarter before delivered."""

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from apps.accounts.models import Membership, Team
from apps.measurement.metrics import engine

from ..fiscal import fiscal_quarter_of, fiscal_quarter_range, shift_quarter
from ..models import Goal
from ..services import goals as services

# metric, owner's e-mail, how far above the previous quarter's actual the target is set
GOALS = [
    ("new_bookings", "admin@northwind.example", Decimal("1.10")),
    ("pipeline_created", "marketer@northwind.example", Decimal("1.15")),
    ("new_logos", "manager@northwind.example", Decimal("1.10")),
    ("net_revenue_retention", "csm@northwind.example", Decimal("1.02")),
]


def _actual(org, metric: str, start: datetime.date, end: datetime.date) -> Decimal:
    found, window, *_ = engine.parse(
        metric, {"from": start.isoformat(), "to": end.isoformat(), "grain": "month"}
    )
    total = engine.evaluate(org, found, window).total
    return Decimal(str(total or 0))


def seed_goals(org) -> int | None:
    """Goals for this fiscal quarter and the last; the rollups must have run. None when goals exist."""
    if Goal.objects.for_org(org).exists():
        return None
    members = {m.user.email: m for m in Membership.objects.for_org(org).select_related("user")}
    today = timezone.localdate()
    this_year, this_quarter = fiscal_quarter_of(org.fiscal_year_start_month, today)
    made = 0
    for year, quarter in (shift_quarter(this_year, this_quarter, -1), (this_year, this_quarter)):
        base_year, base_quarter = shift_quarter(year, quarter, -1)
        start, end = fiscal_quarter_range(org.fiscal_year_start_month, base_year, base_quarter)
        for metric, email, uplift in GOALS:
            target = (_actual(org, metric, start, end) * uplift).quantize(Decimal("1"), ROUND_HALF_UP)
            services.goal_create(
                org=org,
                metric=metric,
                fiscal_year=year,
                quarter=quarter,
                owner=members[email],
                target=max(target, Decimal(1)),
                note="Last quarter's result plus a stretch.",
            )
            made += 1
    # A team goal, and a target raised once, so the history has something to show.
    inbound = Team.objects.for_org(org).filter(name="Inbound SDR").first()
    if inbound is not None:
        services.goal_create(
            org=org,
            metric="pipeline_created",
            fiscal_year=this_year,
            quarter=this_quarter,
            owner=members["manager@northwind.example"],
            team=inbound,
            target=Decimal("1500000"),
        )
        made += 1
    bookings = Goal.objects.for_org(org).get(
        metric="new_bookings", fiscal_year=this_year, quarter=this_quarter, team__isnull=True
    )
    services.goal_update(org=org, goal=bookings, target=bookings.target + Decimal(250000))
    return made
