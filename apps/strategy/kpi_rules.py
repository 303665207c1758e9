"""The KPI tree's periods and status rules: plain functions over plain numbers, no database.

The rules are written out in apps.strategy.services.kpi, which applies them to
the organisation's tree; tests pin them with hand-computed cases.
"""

import datetime
import itertools
import math

from apps.measurement import store
from apps.strategy.fiscal import fiscal_quarter_of, fiscal_quarter_range
from apps.strategy.models import KpiStatus
from apps.strategy.models.kpi import KpiDirection, KpiGrain

SERIES_PERIODS = 6  # the sparkline's length; the trend reads the three before the current one
TREND_PERIODS = 3
OFF_TRACK_BELOW = 0.90
TOLERANCE = 0.02  # on track from 98 % of pace

# Catalogue metrics whose value over a period is a sum of its days: their target is paced by the days
# elapsed. Every other metric (a rate, an average, a median, a ratio) is compared with the target itself.
ACCUMULATING = frozenset({
    "leads", "mqls", "sals", "sqls", "opportunities_created", "pipeline_created", "new_bookings",
    "new_logos", "expansion_revenue", "churned_revenue",
})  # fmt: skip

ON_TRACK, AT_RISK, OFF_TRACK, NO_DATA = (
    KpiStatus.ON_TRACK.value,
    KpiStatus.AT_RISK.value,
    KpiStatus.OFF_TRACK.value,
    KpiStatus.NO_DATA.value,
)
RISING, FALLING, STEADY = "rising", "falling", "steady"


# --- Periods -------------------------------------------------------------------------------------


def period_of(org, grain: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day (inclusive) of the month or fiscal quarter holding `day`."""
    if grain == KpiGrain.QUARTER:
        return fiscal_quarter_range(
            org.fiscal_year_start_month, *fiscal_quarter_of(org.fiscal_year_start_month, day)
        )
    first = day.replace(day=1)
    return first, store.next_period(first, "month") - datetime.timedelta(days=1)


def recent_periods(org, grain: str, today: datetime.date, count: int = SERIES_PERIODS):
    """The last `count` periods up to the current one, oldest first, as (first day, last day)."""
    periods = [period_of(org, grain, today)]
    while len(periods) < count:
        periods.insert(0, period_of(org, grain, periods[0][0] - datetime.timedelta(days=1)))
    return periods


def period_label(grain: str, start: datetime.date, org=None) -> str:
    if grain == KpiGrain.QUARTER and org is not None:
        year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, start)
        return f"FY{year} Q{quarter}"
    return start.strftime("%b %Y")


# --- Status rules (pure) -------------------------------------------------------------------------


def accumulates(metric_key: str) -> bool:
    return metric_key in ACCUMULATING


def expected_by_now(target: float, *, accumulating: bool, elapsed_share: float) -> float:
    return target * elapsed_share if accumulating else target


def pace(actual: float, expected: float, direction: str) -> float:
    """How far along the target the actual is, > 1 being better whatever the direction."""
    if direction == KpiDirection.LOWER:
        if actual <= 0:
            return math.inf
        return expected / actual
    if expected <= 0:
        return math.inf
    return actual / expected


def trend_of(values: list[float | None], direction: str) -> str | None:
    """Rising, falling or steady over consecutive periods' values (oldest first); None if one is missing."""
    if len(values) < 2 or any(v is None for v in values):
        return None
    steps = [later - earlier for earlier, later in itertools.pairwise(values)]
    if direction == KpiDirection.LOWER:
        steps = [-step for step in steps]
    if all(step > 0 for step in steps):
        return RISING
    if all(step < 0 for step in steps):
        return FALLING
    return STEADY


def status_for(
    *, actual: float | None, target: float | None, expected: float | None, direction: str, trend: str | None
) -> tuple[str, str]:
    """(status, a short reason) by the rules of the module docstring."""
    if target is None:
        return NO_DATA, "No target for this period."
    if actual is None or expected is None:
        return NO_DATA, "No actual for this period yet."
    ratio = pace(actual, expected, direction)
    shown = "well ahead of" if math.isinf(ratio) else f"{ratio * 100:.0f} % of"
    if ratio < OFF_TRACK_BELOW:
        return OFF_TRACK, f"{shown} pace (under {OFF_TRACK_BELOW * 100:.0f} %)."
    if ratio < 1 - TOLERANCE:
        return AT_RISK, f"{shown} pace (under {(1 - TOLERANCE) * 100:.0f} %)."
    if trend == FALLING:
        return AT_RISK, f"{shown} pace, but worse in each of the last {TREND_PERIODS} periods."
    return ON_TRACK, f"{shown} pace."
