""" "No man's land": leads nobody owns, or that have sat in a stage past its threshold.

Only funnel stages before Customer count (a detour or a customer is not
waiting for anyone). Thresholds are days per stage: `DEFAULT_STAGE_DAYS`
where the working rhythm of a stage is known, `DEFAULT_DAYS` elsewhere; the
page overrides them with `?days=` (every stage) and `?days_<stage key>=`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q

from apps.records.models import Lead, LifecycleStage
from apps.records.stages import FUNNEL

DEFAULT_DAYS = 14
# An MQL should be picked up within days; an open opportunity moves more slowly.
DEFAULT_STAGE_DAYS = {"mql": 3, "sal": 7, "sql": 14, "opportunity": 45, "inquiry": 30}
MAX_DAYS = 3650
EXCLUDED = {"customer"}


def _days(raw, default: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return default
    return min(max(value, 1), MAX_DAYS)


def thresholds_from(params, *, org) -> dict[str, int]:
    """Days per stage key for the organisation's working funnel stages, read from query parameters."""
    base = _days(params.get("days"), 0)
    thresholds = {}
    for stage in (
        LifecycleStage.objects.for_org(org).filter(kind=FUNNEL).exclude(key__in=EXCLUDED).order_by("order")
    ):
        default = base or DEFAULT_STAGE_DAYS.get(stage.key, DEFAULT_DAYS)
        thresholds[stage.key] = _days(params.get(f"days_{stage.key}"), default)
    return thresholds


def _overdue(thresholds: dict[str, int], now: datetime) -> Q:
    overdue = Q()
    for key, days in thresholds.items():
        overdue |= Q(stage__key=key, stage_entered_at__lt=now - timedelta(days=days))
    return overdue


def _working(org, thresholds: dict[str, int]):
    return Lead.objects.for_org(org).filter(merged_into__isnull=True, stage__key__in=list(thresholds))


def stuck_leads(*, org, thresholds: dict[str, int], now: datetime):
    """Unowned or overdue leads, oldest in their stage first."""
    return (
        _working(org, thresholds)
        .filter(Q(owner__isnull=True) | _overdue(thresholds, now))
        .select_related("stage", "owner__user")
        .order_by("stage_entered_at", "pk")
    )


def stage_counts(*, org, thresholds: dict[str, int], now: datetime) -> dict[str, dict[str, int]]:
    """Per working stage key: its open leads, how many have no owner, how many are overdue and how
    many are stuck (either), in one pass. Every stage of `thresholds` is in the answer."""
    unowned, overdue = Q(owner__isnull=True), _overdue(thresholds, now)
    rows = (
        _working(org, thresholds)
        .values("stage__key")
        .annotate(
            open=Count("id"),
            unowned=Count("id", filter=unowned),
            overdue=Count("id", filter=overdue),
            stuck=Count("id", filter=unowned | overdue),
        )
        .order_by()
    )
    counts = {key: {"open": 0, "unowned": 0, "overdue": 0, "stuck": 0} for key in thresholds}
    for row in rows:
        counts[row.pop("stage__key")] = row
    return counts


@dataclass(frozen=True)
class StuckLead:
    lead: Lead
    days_in_stage: int
    threshold: int
    unowned: bool
    overdue: bool

    @property
    def reason(self) -> str:
        parts = []
        if self.unowned:
            parts.append("no owner")
        if self.overdue:
            parts.append(f"{self.days_in_stage} days in {self.lead.stage.name} (limit {self.threshold})")
        return "; ".join(parts)


def describe(lead: Lead, *, thresholds: dict[str, int], now: datetime) -> StuckLead:
    days = (now - lead.stage_entered_at).days
    threshold = thresholds.get(lead.stage.key, DEFAULT_DAYS)
    return StuckLead(
        lead=lead,
        days_in_stage=days,
        threshold=threshold,
        unowned=lead.owner_id is None,
        overdue=lead.stage_entered_at < now - timedelta(days=threshold),
    )
