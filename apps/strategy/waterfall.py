"""The reverse waterfall: from a revenue target back to the volume each funnel stage needs, month by month.

Pure functions over plain data (no database), so every number can be checked by hand.

Assumptions
    A `Plan` holds the funnel's stages from the top down (say Inquiry, MQL, SAL,
    SQL, Opportunity), the average deal size and a revenue target per month.
    Each `Stage` carries its conversion rate to the next stage (0 < rate ≤ 1)
    and its lag: the days from entering it to entering the next stage. The
    stage after the last one is always "won" (`WON`), so the last stage's rate
    is the win rate and its lag the time from that stage to a won deal.
    Targets are keyed by the first day of their month; `spread_quarter` splits
    a quarterly target evenly over its three months.

The calculation (`reverse`)
    1. Deals won in month m = target[m] ÷ deal size.
    2. A stage needs the volume of the stage below it ÷ its rate, so stage i
       needs deals[m] ÷ (rate_i * rate_i+1 * … * rate_last).
    3. That volume must enter stage i earlier, by the stage's lag to won: the
       sum of the lags from stage i down to won (lag_i + … + lag_last).
    4. Lags are rarely whole months, so a month's volume is treated as spread
       evenly over the days of its month (time is continuous; days start at
       midnight), the whole window is moved back by the lag, and each calendar
       month receives the share of the moved window that falls in it:
       volume * (days of the moved window inside that month ÷ days of the
       original month). Example: 310 MQLs needed for January (31 days) with a
       45-day lag move to 17 November - 17 December inclusive, so November
       gets 14/31 (140) and December 17/31 (170). The shares of a window always
       add up to 1, so no volume is lost or counted twice at a month or quarter
       boundary. Each target month is moved by the total lag from the stage to
       won in one step (not month by month), so volumes are not smeared further
       at each stage.

    Volumes stay fractional (the arithmetic runs on exact fractions); round up
    only for display, with `round_up`.

Scenarios
    `with_change(plan, "mql", rate_delta=0.05)` returns a copy of the plan with
    one assumption changed (rate in points of 1: 0.05 is five percentage
    points; lag in days; or a new deal size), and `compare(plan_a, plan_b)`
    gives, per stage and month, both volumes and the difference (b - a).

Against actuals
    `versus_actuals(required, actuals)` sets the required volumes next to the
    actual first entries per stage and month: required, actual, gap
    (required - actual; positive is a shortfall) and the share of the need met
    (actual ÷ required; None when nothing was required).

Invalid assumptions raise `PlanError` (a ValueError) whose `errors` name each
field and the reason, e.g. {"stages[1].rate": "must be more than 0 and at most 1, not 0."}.
"""

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction

WON = "won"


class PlanError(ValueError):
    """Invalid plan: {field: reason}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Stage:
    key: str
    rate: float  # share of this stage's entries that go on to enter the next stage, 0 < rate ≤ 1
    lag_days: float = 0.0  # days from entering this stage to entering the next


@dataclass(frozen=True)
class Plan:
    stages: tuple[Stage, ...]  # top of the funnel first; the stage after the last is WON
    deal_size: float
    targets: Mapping[datetime.date, float] = field(default_factory=dict)  # first day of month -> revenue

    def __post_init__(self):
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "targets", dict(self.targets))
        errors = _validate(self)
        if errors:
            raise PlanError(errors)

    @property
    def keys(self) -> tuple[str, ...]:
        """Stage keys from the top down, ending with WON."""
        return (*(s.key for s in self.stages), WON)


@dataclass(frozen=True)
class Waterfall:
    """Volume needed entering each stage, by month: volumes[stage][first day of month]."""

    stages: tuple[str, ...]  # top of the funnel first, WON last
    months: tuple[datetime.date, ...]  # every month with a volume, in order
    volumes: dict[str, dict[datetime.date, float]]

    def total(self, stage: str) -> float:
        return math.fsum(self.volumes[stage].values())


@dataclass(frozen=True)
class Difference:
    a: float
    b: float
    difference: float  # b - a


@dataclass(frozen=True)
class Gap:
    required: float
    actual: float
    gap: float  # required - actual: positive is a shortfall
    met: float | None  # actual ÷ required; None when nothing was required


# Months -----------------------------------------------------------------------


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(month: datetime.date) -> datetime.date:
    return datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def spread_quarter(year: int, quarter: int, amount: float) -> dict[datetime.date, float]:
    """A quarterly target split evenly over its three months (a third each, whatever their days)."""
    if quarter not in (1, 2, 3, 4):
        raise PlanError({"quarter": f"must be 1, 2, 3 or 4, not {quarter!r}."})
    share = float(_exact(amount) / 3)
    first = (quarter - 1) * 3 + 1
    return {datetime.date(year, first + i, 1): share for i in range(3)}


# Validation -------------------------------------------------------------------


def _finite_number(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _validate(plan: Plan) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not plan.stages:
        errors["stages"] = "at least one stage is needed above won."
    seen = set()
    for i, stage in enumerate(plan.stages):
        name = f"stages[{i}]"
        if not stage.key or stage.key == WON or stage.key in seen:
            errors[f"{name}.key"] = f"must be a distinct stage key other than {WON!r}, not {stage.key!r}."
        seen.add(stage.key)
        if not _finite_number(stage.rate) or not 0 < float(stage.rate) <= 1:
            errors[f"{name}.rate"] = f"must be more than 0 and at most 1, not {stage.rate!r} ({stage.key})."
        if not _finite_number(stage.lag_days) or float(stage.lag_days) < 0:
            errors[f"{name}.lag_days"] = f"must be 0 or more days, not {stage.lag_days!r} ({stage.key})."
    if not _finite_number(plan.deal_size) or float(plan.deal_size) <= 0:
        errors["deal_size"] = f"must be more than 0, not {plan.deal_size!r}."
    for month, amount in plan.targets.items():
        if not isinstance(month, datetime.date) or isinstance(month, datetime.datetime) or month.day != 1:
            errors[f"targets[{month}]"] = "months are keyed by their first day (a date)."
        elif not _finite_number(amount) or float(amount) < 0:
            errors[f"targets[{month}]"] = f"must be 0 or more, not {amount!r}."
    return errors


# The calculation --------------------------------------------------------------


def _exact(value) -> Fraction:
    """A number as an exact fraction; floats by their shortest repr, so 0.3 is 3/10."""
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def shift(month: datetime.date, volume, lag_days) -> dict[datetime.date, Fraction]:
    """A month's volume, spread evenly over its days, moved `lag_days` earlier and re-bucketed by month.

    Each month receives volume * (overlap of the moved window with it ÷ days of the original month)."""
    volume, lag_days = _exact(volume), _exact(lag_days)
    start, end = month.toordinal(), next_month(month).toordinal()
    length = end - start
    moved_start, moved_end = start - lag_days, end - lag_days
    out: dict[datetime.date, Fraction] = {}
    bucket = month_start(datetime.date.fromordinal(math.floor(moved_start)))
    while bucket.toordinal() < moved_end:
        following = next_month(bucket)
        overlap = min(moved_end, following.toordinal()) - max(moved_start, bucket.toordinal())
        if overlap > 0:
            out[bucket] = out.get(bucket, 0) + volume * overlap / length
        bucket = following
    return out


def _required(plan: Plan) -> dict[str, dict[datetime.date, Fraction]]:
    deal_size = _exact(plan.deal_size)
    deals = {month: _exact(amount) / deal_size for month, amount in plan.targets.items()}
    required: dict[str, dict[datetime.date, Fraction]] = {WON: dict(deals)}
    divisor, lag = Fraction(1), Fraction(0)
    for stage in reversed(plan.stages):
        divisor *= _exact(stage.rate)
        lag += _exact(stage.lag_days)
        volumes: dict[datetime.date, Fraction] = {}
        for month, count in deals.items():
            for bucket, share in shift(month, count / divisor, lag).items():
                volumes[bucket] = volumes.get(bucket, 0) + share
        required[stage.key] = volumes
    return required


def reverse(plan: Plan) -> Waterfall:
    """The volume each stage needs entering it in each month to meet the plan's targets."""
    required = _required(plan)
    months = tuple(sorted({m for volumes in required.values() for m in volumes}))
    volumes = {key: {m: float(required[key][m]) for m in sorted(required[key])} for key in plan.keys}
    return Waterfall(plan.keys, months, volumes)


def round_up(volume: float) -> int:
    """A volume for display: whole leads or deals, rounded up (a need of 12.2 is 13).

    Values within a millionth of a whole number are that number, so float noise
    (100.00000000001) does not add one."""
    nearest = round(volume)
    if abs(volume - nearest) < 1e-6:
        return int(nearest)
    return math.ceil(volume)


# Scenarios --------------------------------------------------------------------


def with_change(
    plan: Plan,
    stage: str | None = None,
    *,
    rate_delta: float = 0.0,
    lag_delta: float = 0.0,
    deal_size: float | None = None,
) -> Plan:
    """A copy of the plan with one stage's rate and/or lag moved, and/or a new deal size.

    `rate_delta` is in points of 1 (0.05 adds five percentage points); the
    result is validated like any plan, so a rate pushed past 1 is a PlanError."""
    if (rate_delta or lag_delta) and stage is None:
        raise PlanError({"stage": "name the stage whose rate or lag changes."})
    stages = list(plan.stages)
    if stage is not None:
        index = next((i for i, s in enumerate(stages) if s.key == stage), None)
        if index is None:
            raise PlanError(
                {"stage": f"{stage!r} is not a stage of this plan ({', '.join(plan.keys[:-1])})."}
            )
        current = stages[index]
        stages[index] = replace(
            current,
            rate=float(_exact(current.rate) + _exact(rate_delta)),
            lag_days=float(_exact(current.lag_days) + _exact(lag_delta)),
        )
    return Plan(tuple(stages), plan.deal_size if deal_size is None else deal_size, plan.targets)


def compare(plan_a: Plan, plan_b: Plan) -> dict[str, dict[datetime.date, Difference]]:
    """Per stage and month, the volume each plan needs and the difference (b - a).

    Both plans must have the same stages; a month only one of them needs counts 0 in the other."""
    if plan_a.keys != plan_b.keys:
        raise PlanError({"stages": f"the plans' stages differ: {plan_a.keys} and {plan_b.keys}."})
    a, b = _required(plan_a), _required(plan_b)
    out: dict[str, dict[datetime.date, Difference]] = {}
    for key in plan_a.keys:
        months = sorted(set(a[key]) | set(b[key]))
        out[key] = {}
        for month in months:
            x, y = a[key].get(month, Fraction(0)), b[key].get(month, Fraction(0))
            out[key][month] = Difference(float(x), float(y), float(y - x))
    return out


def versus_actuals(
    required: Waterfall, actuals: Mapping[str, Mapping[datetime.date, float]]
) -> dict[str, dict[datetime.date, Gap]]:
    """Per stage and month: required, actual, gap and share of the need met.

    Months are those the waterfall needs plus any month with actuals for one of its stages."""
    out: dict[str, dict[datetime.date, Gap]] = {}
    for key in required.stages:
        need, done = required.volumes.get(key, {}), actuals.get(key, {})
        out[key] = {}
        for month in sorted(set(need) | set(done)):
            want, have = need.get(month, 0.0), float(done.get(month, 0.0))
            out[key][month] = Gap(want, have, want - have, have / want if want > 0 else None)
    return out
