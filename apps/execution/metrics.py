"""Speed-to-lead, SLA, rejection and fairness metrics: pure functions over plain rows.

The report pages, their CSV exports and the tests all read these functions, so
a number means the same thing wherever it appears. Each metric is defined in
words in the glossary (templates/execution/reports/_glossary.html, shown on
Records → Definitions); change both together.

Durations are seconds. One percentile method is used everywhere: linear
interpolation between the two closest ranks (numpy's default, Hyndman & Fan
type 7), so p50 of [1, 2, 3, 4] is 2.5 and p90 of [0, 10] is 9.
"""

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from apps.core.charts import bar_chart, chart_json, line_chart

NO_SOURCE = "(no source)"
NO_CAMPAIGN = "(no campaign)"
NO_TEAM = "(no team)"

# Timer outcomes (see timer_outcome).
MET = "met"
BREACHED = "breached"
EXCLUDED = "excluded"


# --- Numbers -----------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float | None:
    """The p-th percentile (0 ≤ p ≤ 100) by linear interpolation; None for no values."""
    if not 0 <= p <= 100:
        raise ValueError("p is a percentage between 0 and 100.")
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True)
class Spread:
    """How many values were measured, and their median and 90th percentile."""

    count: int
    p50: float | None
    p90: float | None


def spread(values: Iterable[float | None]) -> Spread:
    measured = [v for v in values if v is not None]
    return Spread(len(measured), percentile(measured, 50), percentile(measured, 90))


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """end minus start in seconds; None when either end is missing."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def rate(part: int, whole: int) -> float | None:
    """part ÷ whole, or None when there is nothing to divide by (shown as "—", never as 0%)."""
    return part / whole if whole else None


def round1(value: float | None) -> float | None:
    """One decimal, halves rounded up (12.25 → 12.3), as people round, not to even as round() does."""
    if value is None:
        return None
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def as_percent(fraction: float | None) -> float | None:
    return None if fraction is None else round1(100 * fraction)


def as_minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round1(seconds / 60)


def as_seconds(seconds: float | None) -> float | None:
    return round1(seconds)


def source_of(channel: str, source: str) -> str:
    """The lead's canonical channel, else the raw source it arrived with."""
    return channel or source or NO_SOURCE


# --- Rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """One assignment (an offer of a lead to a rep) with the lead facts reports split by."""

    id: int
    lead_id: int
    assignee_id: int
    pool_id: int | None
    team_id: int | None  # the team of the assignment's pool
    source: str
    campaign: str
    status: str
    captured_at: datetime
    offered_at: datetime
    accepted_at: datetime | None = None
    first_touch_at: datetime | None = None
    reject_reason: str = ""  # the reason's label, for rejected offers
    reject_reason_order: int = 0
    decide_ms: float | None = None  # the routing engine's own time for the decision behind the offer

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"

    @property
    def time_to_accept(self) -> float | None:
        return seconds_between(self.offered_at, self.accepted_at)

    @property
    def time_to_first_touch(self) -> float | None:
        return seconds_between(self.offered_at, self.first_touch_at)


@dataclass(frozen=True)
class LeadSpeed:
    """A lead's capture, its first offer and its first human touch."""

    lead_id: int
    captured_at: datetime
    first_offer: Offer | None
    first_touch: Offer | None  # the offer under which the lead was first touched

    @property
    def system_latency(self) -> float | None:
        """Capture → first offer."""
        return seconds_between(self.captured_at, self.first_offer.offered_at if self.first_offer else None)

    @property
    def speed_to_lead(self) -> float | None:
        """Capture → first human touch."""
        return seconds_between(
            self.captured_at, self.first_touch.first_touch_at if self.first_touch else None
        )


def lead_speeds(offers: Iterable[Offer]) -> list[LeadSpeed]:
    """One LeadSpeed per lead among `offers`, which must hold every offer of those leads."""
    by_lead: dict[int, list[Offer]] = defaultdict(list)
    for offer in offers:
        by_lead[offer.lead_id].append(offer)
    speeds = []
    for lead_id, own in by_lead.items():
        first_offer = min(own, key=lambda o: (o.offered_at, o.id))
        touched = [o for o in own if o.first_touch_at is not None]
        first_touch = min(touched, key=lambda o: (o.first_touch_at, o.id)) if touched else None
        speeds.append(LeadSpeed(lead_id, own[0].captured_at, first_offer, first_touch))
    return sorted(speeds, key=lambda s: (s.captured_at, s.lead_id))


@dataclass(frozen=True)
class Timer:
    """One SLA clock with what reports split it by."""

    id: int
    policy_id: int
    clock: str
    assignee_id: int
    team_id: int | None
    source: str
    status: str
    due_at: datetime
    met_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def outcome(self) -> str:
        return timer_outcome(
            status=self.status, due_at=self.due_at, met_at=self.met_at, breached_at=self.breached_at
        )


def timer_outcome(*, status: str, due_at: datetime, met_at: datetime | None, breached_at: datetime | None):
    """MET (met on time), BREACHED or EXCLUDED (cancelled, or still running and not breached).

    A breach is a timer with breached_at set, whether the sweeper recorded it
    at the due time or the rep acted late; met on time is met_at ≤ due_at.
    """
    if status == "cancelled":
        return EXCLUDED
    if breached_at is not None:
        return BREACHED
    if met_at is not None and met_at <= due_at:
        return MET
    return EXCLUDED


# --- Filters and groups ------------------------------------------------------------


def keep(row, *, team: int | None = None, rep: int | None = None, source: str | None = None) -> bool:
    """Does an Offer or Timer pass the report filters? (None: no filter on that field.)"""
    return (
        (team is None or row.team_id == team)
        and (rep is None or row.assignee_id == rep)
        and (not source or row.source == source)
    )


def group(rows: Iterable, key: Callable) -> dict:
    """Rows grouped by key(row), in first-seen order."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def days(start: date, end: date) -> list[date]:
    """Every date from start to end, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def daily_medians(
    rows: Iterable, *, when: Callable, value: Callable, tz: ZoneInfo, start: date, end: date
) -> list[float | None]:
    """For each day from start to end (in `tz`), the median of value(row) over rows whose when(row)
    falls that day; None for a day with nothing measured."""
    per_day: dict[date, list[float]] = defaultdict(list)
    for row in rows:
        v = value(row)
        if v is not None:
            per_day[local_date(when(row), tz)].append(v)
    return [percentile(per_day.get(day, []), 50) for day in days(start, end)]


# --- SLA compliance ------------------------------------------------------------------


@dataclass(frozen=True)
class Compliance:
    met: int
    breached: int
    excluded: int

    @property
    def outcomes(self) -> int:
        return self.met + self.breached

    @property
    def rate(self) -> float | None:
        """Timers met on time ÷ timers that reached an outcome."""
        return rate(self.met, self.outcomes)


def compliance(timers: Iterable[Timer]) -> Compliance:
    counts = {MET: 0, BREACHED: 0, EXCLUDED: 0}
    for timer in timers:
        counts[timer.outcome] += 1
    return Compliance(counts[MET], counts[BREACHED], counts[EXCLUDED])


def compliance_by(timers: Iterable[Timer], key: Callable) -> dict[tuple, Compliance]:
    """Compliance per (key(timer), clock): compliance is only ever compared within one clock."""
    return {k: compliance(rows) for k, rows in group(timers, lambda t: (key(t), t.clock)).items()}


# --- Rejections ----------------------------------------------------------------------


@dataclass(frozen=True)
class Rejections:
    offered: int
    rejected: int
    reasons: dict[str, int]  # reason label → rejections

    @property
    def rate(self) -> float | None:
        """Rejected offers ÷ offers."""
        return rate(self.rejected, self.offered)


def rejections(offers: Iterable[Offer]) -> Rejections:
    offered, reasons = 0, defaultdict(int)
    for offer in offers:
        offered += 1
        if offer.rejected:
            reasons[offer.reject_reason] += 1
    return Rejections(offered, sum(reasons.values()), dict(reasons))


def reason_labels(offers: Iterable[Offer]) -> list[str]:
    """The reject reasons that occur, in the organisation's order for them."""
    seen = {(o.reject_reason_order, o.reject_reason) for o in offers if o.rejected}
    return [label for _, label in sorted(seen)]


# --- Fairness ------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """A PoolMember's fairness ledger."""

    pool_id: int
    membership_id: int
    is_active: bool
    weight: int
    assigned: int
    rejected: int
    credits: int
    pass_value: float


def weight_shares(entries: Iterable[LedgerEntry]) -> dict[int, float | None]:
    """Each active member's weight ÷ the pool's active weight; None for inactive members."""
    entries = list(entries)
    total = sum(e.weight for e in entries if e.is_active)
    return {e.membership_id: (rate(e.weight, total) if e.is_active else None) for e in entries}


def assignment_shares(entries: Iterable[LedgerEntry]) -> dict[int, float | None]:
    """Each member's ledger assignments ÷ all assignments the pool's ledger counts."""
    entries = list(entries)
    total = sum(e.assigned for e in entries)
    return {e.membership_id: rate(e.assigned, total) for e in entries}


# --- Charts (selector output → plotly figure JSON, see apps.core.charts) ---------------


def daily_medians_chart(*, dates: list[date], series: dict[str, list]) -> str | None:
    if not any(v is not None for values in series.values() for v in values):
        return None
    return line_chart(
        title="Daily medians", x=[d.isoformat() for d in dates], series=series, y_title="Minutes"
    )


def response_histogram(*, series: dict[str, list[float]]) -> str | None:
    """The distribution of response times (minutes), one overlaid histogram per measure."""
    if not any(series.values()):
        return None
    figure = go.Figure(
        [go.Histogram(x=values, name=name, opacity=0.6) for name, values in series.items() if values]
    )
    figure.update_layout(
        title="Response times", barmode="overlay", xaxis_title="Minutes", yaxis_title="Offers"
    )
    return chart_json(figure)


def grouped_bar_chart(*, title: str, x: list[str], series: dict[str, list], y_title: str, stacked=False):
    if not x:
        return None
    return bar_chart(title=title, x=x, series=series, y_title=y_title, stacked=stacked)


# --- Periods -------------------------------------------------------------------------


def period_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in `tz`: a period of whole local days, end included."""
    return (
        datetime.combine(start, datetime.min.time(), tzinfo=tz),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=tz),
    )
