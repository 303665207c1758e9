"""The quarterly strategy review's strategy sections, and when the next one is due.

Quarterly strategy reviews are operating reviews (apps.governance, kind "quarterly"): holding one
freezes, besides the leading indicators, red flags and leaks every review keeps, the sections built
here: each goal against its actual, the quarter's primary plan, the channel plan against actual
spend and results, and the KPI tree's statuses. A review is due 90 days after the last held one (or
at once when there has never been one): the strategy pages say so, and a daily task reminds the
organisation's admins and RevOps leads once per due period.
"""

import datetime
from collections.abc import Callable
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.accounts.roles import OPERATORS
from apps.execution.models import Notification
from apps.execution.services.notifications import notify
from apps.governance.models import OperatingReview, ReviewKind
from apps.strategy.services import budget as budget_services
from apps.strategy.services import goals as goal_services
from apps.strategy.services import plans as plan_services
from apps.strategy.services.kpi.tree import kpi_tree

DUE_AFTER_DAYS = 90
REMINDER_KIND = "strategy.review_due"


# --- When one is due --------------------------------------------------------------------------------


def last_review(org) -> OperatingReview | None:
    """The last quarterly review held."""
    return (
        OperatingReview.objects.for_org(org)
        .filter(kind=ReviewKind.QUARTERLY, status=OperatingReview.Status.HELD)
        .order_by("-held_on", "-id")
        .first()
    )


def days_since_last(org, today: datetime.date) -> int | None:
    """Days since the last review was held; None when none ever was."""
    last = last_review(org)
    return None if last is None else (today - last.held_on).days


def is_due(org, today: datetime.date) -> bool:
    days = days_since_last(org, today)
    return days is None or days >= DUE_AFTER_DAYS


def remind_if_due(org, today: datetime.date) -> int:
    """Notify the admins and RevOps leads that a review is due, once per due period; returns how many."""
    if not is_due(org, today):
        return 0
    last = last_review(org)
    reminded = Notification.objects.filter(organization=org, kind=REMINDER_KIND)
    if last is not None:  # reminders of this due period only: from the day it fell due
        due_from = last.held_on + datetime.timedelta(days=DUE_AFTER_DAYS)
        reminded = reminded.filter(
            created_at__gte=timezone.make_aware(datetime.datetime.combine(due_from, datetime.time()))
        )
    if reminded.exists():
        return 0
    days = days_since_last(org, today)
    body = (
        "No strategy review has been held yet."
        if days is None
        else f"The last strategy review was {days} days ago."
    )
    url = reverse("governance_reviews", args=[org.slug]) + "?kind=quarterly"
    operators = Membership.objects.for_org(org).filter(is_active=True, role__in=OPERATORS)
    for membership in operators:
        notify(
            org=org,
            recipient_id=membership.pk,
            kind=REMINDER_KIND,
            title="A quarterly strategy review is due",
            body=f"{body} Review goals, the channel plan and the KPI tree, and record the decisions.",
            url=url,
        )
    return len(operators)


# --- The snapshot -----------------------------------------------------------------------------------


def _number(value) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal | int | float) else value


def goals_section(org, fiscal_year: int, quarter: int, today: datetime.date) -> list[dict]:
    rows = []
    for goal in goal_services.goals_for_quarter(org=org, fiscal_year=fiscal_year, quarter=quarter):
        progress = goal_services.goal_progress(org=org, goal=goal, today=today)
        rows.append(
            {
                "goal": goal.pk,
                "metric": goal.metric,
                "label": goal.get_metric_display(),
                "team": goal.team.name if goal.team_id else "",
                "owner": goal.owner.user.display_name if goal.owner_id else "",
                "unit": progress.unit,
                "target": progress.target,
                "actual": progress.actual,
                "percent": progress.percent,
                "status": progress.status,
                "status_label": progress.status_label,
            }
        )
    return rows


def plan_section(org, fiscal_year: int, quarter: int, today: datetime.date) -> dict | None:
    plan = plan_services.primary_plan(org=org, fiscal_year=fiscal_year, quarter=quarter)
    if plan is None:
        return None
    result = plan_services.plan_result(org=org, plan=plan, today=today)
    stages = []
    if result.ok:
        names = dict(result.stages)
        for key, rows in result.rows.items():
            ended = [row for row in rows if row.actual is not None]
            stages.append(
                {
                    "stage": key,
                    "name": names[key],
                    "required": sum(row.required_rounded for row in rows),
                    "required_to_date": sum(row.required_rounded for row in ended),
                    "actual_to_date": sum(row.actual for row in ended),
                }
            )
    return {"plan": plan.pk, "name": plan.name, "target": result.target, "stages": stages}


def channels_section(org, fiscal_year: int, quarter: int, today: datetime.date) -> list[dict]:
    report = budget_services.quarter_report(org=org, fiscal_year=fiscal_year, quarter=quarter, today=today)
    return [
        {
            "channel": row.channel,
            "planned_spend": row.planned_spend,
            "actual_spend": row.actual_spend,
            "expected_pipeline": row.expected_pipeline,
            "actual_pipeline": row.actual_pipeline,
        }
        for row in report.rows
    ]


def kpi_rows(states) -> list[dict]:
    """KPI-tree node states as the rows a review's snapshot keeps."""
    return [
        {
            "node": state.node.pk,
            "name": state.node.name,
            "depth": state.depth,
            "status": state.status,
            "status_label": state.status_label,
            "actual": state.actual,
            "target": state.target,
            "owner": state.owner_name,
        }
        for state in states
    ]


def kpi_section(org, fiscal_year: int, quarter: int, today: datetime.date) -> list[dict]:
    """Every node's status on the day (the tree's own current period, by each node's grain)."""
    return kpi_rows(kpi_tree(org=org, today=today).nodes)


# Each section: (key, function(org, fiscal_year, quarter, today) -> JSON-able value).
SECTIONS: list[tuple[str, Callable]] = [
    ("goals", goals_section),
    ("plan", plan_section),
    ("channels", channels_section),
    ("kpi", kpi_section),
]


def sections(org, fiscal_year: int, quarter: int, today: datetime.date) -> dict:
    """The strategy sections of a quarterly review's snapshot (JSON-able), as of `today`."""
    return {key: section(org, fiscal_year, quarter, today) for key, section in SECTIONS}
