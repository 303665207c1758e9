"""The queries behind the reports, turned into the plain rows `apps.execution.metrics` reads."""

from apps.execution import metrics
from apps.execution.metrics import Offer, Timer
from apps.execution.models import Assignment, SlaTimer

_OFFER_FIELDS = (
    "id",
    "lead_id",
    "assignee_id",
    "pool_id",
    "pool__team_id",
    "lead__channel",
    "lead__source",
    "lead__utm_campaign",
    "status",
    "lead__captured_at",
    "offered_at",
    "accepted_at",
    "first_touch_at",
    "reject_reason__label",
    "reject_reason__order",
    "decision__timings__decide_ms",
)


def _offers(queryset) -> list[Offer]:
    return [
        Offer(
            id=row["id"],
            lead_id=row["lead_id"],
            assignee_id=row["assignee_id"],
            pool_id=row["pool_id"],
            team_id=row["pool__team_id"],
            source=metrics.source_of(row["lead__channel"], row["lead__source"]),
            campaign=row["lead__utm_campaign"] or metrics.NO_CAMPAIGN,
            status=row["status"],
            captured_at=row["lead__captured_at"],
            offered_at=row["offered_at"],
            accepted_at=row["accepted_at"],
            first_touch_at=row["first_touch_at"],
            reject_reason=row["reject_reason__label"] or "",
            reject_reason_order=row["reject_reason__order"] or 0,
            decide_ms=_number(row["decision__timings__decide_ms"]),
        )
        for row in queryset.values(*_OFFER_FIELDS).iterator(chunk_size=5000)
    ]


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def offers_made(*, org, bounds) -> list[Offer]:
    """Every offer made in the period."""
    start, end = bounds
    return _offers(Assignment.objects.for_org(org).filter(offered_at__gte=start, offered_at__lt=end))


def offers_of_leads_captured(*, org, bounds) -> list[Offer]:
    """Every offer, whenever made, of the leads captured in the period."""
    start, end = bounds
    return _offers(
        Assignment.objects.for_org(org).filter(
            lead__organization=org, lead__captured_at__gte=start, lead__captured_at__lt=end
        )
    )


def timers_started(*, org, bounds) -> tuple[list[Timer], dict[int, str]]:
    """The SLA timers started in the period, and the names of their policies."""
    start, end = bounds
    rows = (
        SlaTimer.objects.for_org(org)
        .filter(started_at__gte=start, started_at__lt=end)
        .values(
            "id",
            "policy_id",
            "policy__name",
            "clock",
            "assignee_id",
            "assignment__pool__team_id",
            "lead__channel",
            "lead__source",
            "status",
            "due_at",
            "met_at",
            "breached_at",
        )
    )
    timers, policies = [], {}
    for row in rows.iterator(chunk_size=5000):
        policies[row["policy_id"]] = row["policy__name"]
        timers.append(
            Timer(
                id=row["id"],
                policy_id=row["policy_id"],
                clock=row["clock"],
                assignee_id=row["assignee_id"],
                team_id=row["assignment__pool__team_id"],
                source=metrics.source_of(row["lead__channel"], row["lead__source"]),
                status=row["status"],
                due_at=row["due_at"],
                met_at=row["met_at"],
                breached_at=row["breached_at"],
            )
        )
    return timers, policies
