"""One reverse-waterfall plan read from request parameters: the page, its CSV export and the API share it.

Parameters (all optional):

    fiscal_year, quarter          the quarter to plan (default: the current fiscal quarter)
    target                        the quarter's revenue target (default: the sum of its
                                  organisation-wide new bookings goals)
    deal_size                     average deal size
    rate.<stage>                  conversion of <stage> to the next stage, in percent (0 < rate ≤ 100)
    lag.<stage>                   days from entering <stage> to entering the next
    scenario_stage, scenario_rate, scenario_lag
                                  a scenario: one stage's rate moved by scenario_rate
                                  percentage points and its lag by scenario_lag days

A missing assumption defaults to the organisation's own history over the 12
full months before the current one (apps.strategy.assumptions); when history
cannot give one either, the reason is the field's error. The quarter's target
is spread evenly over its three months. Volumes are fractional; the table
shows them rounded up to whole leads or deals, and the gap is that rounded
need minus the actual first entries (deals won for "won") of a month that has
ended; months still to come have no actual.
"""

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from django.db.models import Sum

from apps.strategy import waterfall
from apps.strategy.assumptions import actuals_by_month, assumptions_from_history
from apps.strategy.fiscal import fiscal_quarter_of, fiscal_quarter_range
from apps.strategy.models import Goal, GoalMetric

MIN_YEAR, MAX_YEAR = 2000, 2100
HISTORY_MONTHS = 12


@dataclass(frozen=True)
class Assumption:
    name: str  # the parameter: deal_size, rate.<stage>, lag.<stage>
    label: str
    value: float | None  # as entered / shown: rate in percent, lag in days, deal size in currency
    default: float | None  # from history
    note: str  # how the default was computed, or why there is none


@dataclass(frozen=True)
class Row:
    stage: str
    month: datetime.date
    required: float  # exact (fractional) volume
    required_rounded: int
    actual: float | None  # None: the month has not ended
    gap: float | None  # required_rounded - actual
    scenario: float | None = None
    scenario_rounded: int | None = None
    change: int | None = None  # scenario_rounded - required_rounded


@dataclass
class Result:
    fiscal_year: int
    quarter: int
    start: datetime.date
    end: datetime.date
    history_start: datetime.date
    history_end: datetime.date
    target: float | None
    target_note: str
    assumptions: list[Assumption]
    stages: list[tuple[str, str]]  # (key, name), top of the funnel first, ending with WON
    scenario: dict = field(default_factory=dict)  # {"stage", "rate", "lag"} as entered
    errors: dict[str, str] = field(default_factory=dict)  # parameter -> reason
    months: list[datetime.date] = field(default_factory=list)
    rows: dict[str, list[Row]] = field(default_factory=dict)  # stage -> rows by month

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)


def _months_back(month: datetime.date, count: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 - count
    return datetime.date(index // 12, index % 12 + 1, 1)


def history_range(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The 12 full months before today's month."""
    this_month = waterfall.month_start(today)
    return _months_back(this_month, HISTORY_MONTHS), this_month - datetime.timedelta(days=1)


def _number(params, name, errors) -> Decimal | None:
    raw = (params.get(name) or "").strip().replace(",", "")
    if raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        errors[name] = f"must be a number, not {params.get(name)!r}."
        return None
    return value


def _quarter(org, params, today, errors) -> tuple[int, int]:
    current = fiscal_quarter_of(org.fiscal_year_start_month, today)
    year, quarter = current
    raw_year, raw_quarter = params.get("fiscal_year"), params.get("quarter")
    if raw_year not in (None, ""):
        try:
            year = int(raw_year)
        except ValueError:
            year = None
        if year is None or not MIN_YEAR <= year <= MAX_YEAR:
            errors["fiscal_year"] = f"must be a year from {MIN_YEAR} to {MAX_YEAR}, not {raw_year!r}."
            year = current[0]
    if raw_quarter not in (None, ""):
        try:
            quarter = int(raw_quarter)
        except ValueError:
            quarter = None
        if quarter not in (1, 2, 3, 4):
            errors["quarter"] = f"must be 1, 2, 3 or 4, not {raw_quarter!r}."
            quarter = current[1]
    return year, quarter


def goal_target(org, fiscal_year: int, quarter: int) -> Decimal | None:
    """The sum of the quarter's organisation-wide new bookings goals; None when there is none."""
    goals = Goal.objects.for_org(org).filter(
        metric=GoalMetric.NEW_BOOKINGS, fiscal_year=fiscal_year, quarter=quarter, team__isnull=True
    )
    return goals.aggregate(total=Sum("target"))["total"]


def _rename(error_key: str, keys: list[str], prefix: str = "") -> str:
    """A waterfall.PlanError field (stages[1].rate) as the parameter the reader typed (rate.mql)."""
    if error_key.startswith("stages[") and "]." in error_key:
        index, attribute = error_key[len("stages[") :].split("].", 1)
        key = keys[int(index)] if index.isdigit() and int(index) < len(keys) else index
        if prefix:
            return {"rate": "scenario_rate", "lag_days": "scenario_lag"}.get(attribute, "scenario_stage")
        return f"{'lag' if attribute == 'lag_days' else 'rate'}.{key}"
    if prefix and error_key == "stage":
        return "scenario_stage"
    return error_key


def build(org, params: Mapping[str, str], today: datetime.date) -> Result:
    """Parse the parameters, fill the defaults from history and goals, and compute the waterfall."""
    errors: dict[str, str] = {}
    year, quarter = _quarter(org, params, today, errors)
    start, end = fiscal_quarter_range(org.fiscal_year_start_month, year, quarter)
    history_start, history_end = history_range(today)
    history = assumptions_from_history(org, history_start, history_end)

    target = _number(params, "target", errors)
    target_note = "as entered"
    if target is None and "target" not in errors:
        target = goal_target(org, year, quarter)
        if target is None:
            errors["target"] = (
                f"no organisation-wide new bookings goal is set for FY{year} Q{quarter}; enter the target."
            )
            target_note = ""
        else:
            target_note = f"the organisation's new bookings goal for FY{year} Q{quarter}"
    if target is not None and target < 0:
        errors["target"] = f"must be 0 or more, not {target}."

    assumptions: list[Assumption] = []

    def assume(name, label, estimate, scale=1):
        entered = _number(params, name, errors)
        default = None if estimate.value is None else estimate.value * scale
        value = float(entered) if entered is not None else default
        if value is None and name not in errors:
            errors[name] = f"{estimate.basis} Enter it."
        assumptions.append(Assumption(name, label, value, default, estimate.basis))
        return value

    deal_size = assume("deal_size", "Average deal size", history.deal_size)
    stages = []
    names = [(s.key, s.name) for s in history.stages]
    for stage, (key, name) in zip(history.stages, names, strict=True):
        following = dict(names).get(stage.next_key, "Won")
        rate = assume(f"rate.{key}", f"{name} → {following} rate (%)", stage.rate, 100)
        if rate is not None and f"rate.{key}" not in errors and not 0 < rate <= 100:
            errors[f"rate.{key}"] = f"must be more than 0 and at most 100 %, not {rate:g}."
        lag = assume(f"lag.{key}", f"{name} → {following} lag (days)", stage.lag_days)
        stages.append((key, rate, lag))
    if not history.stages:
        errors.update(history.missing())

    scenario = {
        "stage": (params.get("scenario_stage") or "").strip(),
        "rate": _number(params, "scenario_rate", errors),
        "lag": _number(params, "scenario_lag", errors),
    }
    if (scenario["rate"] or scenario["lag"]) and not scenario["stage"]:
        errors["scenario_stage"] = "name the stage whose rate or lag changes."

    result = Result(
        year,
        quarter,
        start,
        end,
        history_start,
        history_end,
        None if target is None else float(target),
        target_note,
        assumptions,
        [*names, (waterfall.WON, "Won")],
        scenario,
        errors,
    )
    if errors:
        return result

    # The quarter's target evenly over its three months (a third each, whatever their days).
    months = [start]
    while len(months) < 3:
        months.append(waterfall.next_month(months[-1]))
    share = float(Fraction(target) / 3)
    keys = [key for key, _, _ in stages]
    try:
        plan = waterfall.Plan(
            tuple(waterfall.Stage(key, rate / 100, lag) for key, rate, lag in stages),
            deal_size,
            {month: share for month in months},
        )
    except waterfall.PlanError as exc:
        errors.update({_rename(k, keys): v for k, v in exc.errors.items()})
        return result

    changed = None
    if scenario["stage"]:
        try:
            changed = waterfall.with_change(
                plan,
                scenario["stage"],
                rate_delta=float(Fraction(scenario["rate"] or 0) / 100),
                lag_delta=float(scenario["lag"] or 0),
            )
        except waterfall.PlanError as exc:
            errors.update({_rename(k, keys, "scenario"): v for k, v in exc.errors.items()})
            return result

    required = waterfall.reverse(plan)
    first = min(required.months)
    calendar = [first]
    while calendar[-1] < months[-1]:
        calendar.append(waterfall.next_month(calendar[-1]))
    this_month = waterfall.month_start(today)
    passed = [m for m in calendar if m < this_month]
    actuals = actuals_by_month(org, list(plan.keys), passed)
    other = waterfall.reverse(changed).volumes if changed else None

    result.months = calendar
    for key in plan.keys:
        rows = []
        for month in calendar:
            need = required.volumes[key].get(month, 0.0)
            rounded = waterfall.round_up(need)
            actual = actuals[key].get(month) if month in passed else None
            row = Row(key, month, need, rounded, actual, None if actual is None else rounded - actual)
            if other is not None:
                alt = other[key].get(month, 0.0)
                alt_rounded = waterfall.round_up(alt)
                row = replace(row, scenario=alt, scenario_rounded=alt_rounded, change=alt_rounded - rounded)
            rows.append(row)
        result.rows[key] = rows
    return result


CSV_HEADER = ["stage", "month", "required", "actual", "gap", "scenario_required", "scenario_change"]


def csv_rows(result: Result):
    for key, rows in result.rows.items():
        for row in rows:
            yield [
                key,
                row.month,
                row.required_rounded,
                row.actual,
                row.gap,
                row.scenario_rounded,
                row.change,
            ]
