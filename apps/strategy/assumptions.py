"""A plan's default assumptions from the organisation's own history, and its actual volumes by month.

Everything is read from the rolled-up facts through the metric engine and the
fact store (apps.measurement), so the defaults are the same numbers the
metrics pages show for the same range.

`assumptions_from_history(org, start, end)` walks the funnel stages
(LifecycleStage of kind "funnel", in order). The last funnel stage (Customer
by default) is the waterfall's WON; every stage above it gets:

- rate: the cohort conversion to the next stage (`stage_conversion_cohort`:
  of the leads that first entered the stage in the range, the share that has
  reached the next one since). The stage just above WON uses the win rate
  (`win_rate`: won ÷ closed, by close date) instead, because a deal is won on
  the opportunity, not on the lead;
- lag_days: the mean time from first entering the stage to first entering the
  next, from the cohort facts (Σ lag_seconds ÷ Σ reached for the pair, in
  days). For the stage above WON, when no lead reached the last stage in the
  range, the mean sales cycle of the deals won (`sales_cycle_length`) stands in.

and the plan gets the average deal size (`average_deal_size`). Where history
cannot give a number (nobody entered the stage, nothing closed, a rate of 0),
the value is None and `basis` says why: no number is made up. `History.plan`
turns complete defaults into a waterfall.Plan and names every missing one
otherwise.

`actuals_by_month(org, stages, months)` gives first entries into each stage
per month (FunnelDay.first_entries: a re-entry after recycling does not count
again) and, for WON, the deals won per month by close date (OpportunityDay.won).
"""

import datetime
import itertools
from dataclasses import dataclass

from apps.core import memo
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.records.models import LifecycleStage
from apps.records.stages import FUNNEL

from . import waterfall

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Estimate:
    value: float | None  # None: history cannot say
    basis: str  # how the value was computed, or why there is none


@dataclass(frozen=True)
class StageHistory:
    key: str
    name: str
    next_key: str  # the funnel stage it converts to (the last funnel stage is WON)
    rate: Estimate  # 0..1
    lag_days: Estimate


@dataclass(frozen=True)
class History:
    start: datetime.date
    end: datetime.date
    stages: tuple[StageHistory, ...]  # top of the funnel first
    deal_size: Estimate
    won_stage: str | None  # the funnel stage that stands for WON

    def missing(self) -> dict[str, str]:
        """{field: reason} for every assumption history could not give."""
        out = {}
        if not self.stages:
            out["stages"] = "the organisation needs at least two funnel stages."
        for i, stage in enumerate(self.stages):
            for name in ("rate", "lag_days"):
                estimate = getattr(stage, name)
                if estimate.value is None:
                    out[f"stages[{i}].{name}"] = f"{stage.key}: {estimate.basis}"
        if self.deal_size.value is None:
            out["deal_size"] = self.deal_size.basis
        return out

    def plan(self, targets) -> waterfall.Plan:
        """A plan with these assumptions; a PlanError naming every missing one when history is incomplete."""
        missing = self.missing()
        if missing:
            raise waterfall.PlanError(missing)
        stages = tuple(waterfall.Stage(s.key, s.rate.value, s.lag_days.value) for s in self.stages)
        return waterfall.Plan(stages, self.deal_size.value, targets)


def funnel_stages(org) -> list[LifecycleStage]:
    stages = LifecycleStage.objects.for_org(org).filter(kind=FUNNEL).order_by("order", "id")
    return list(memo.remembered(("funnel_stages", org.pk), lambda: list(stages)))


def _metric_total(org, key: str, start: datetime.date, end: datetime.date, **params) -> float | None:
    values = {"from": start.isoformat(), "to": end.isoformat(), "grain": "month", **params}
    metric, window, group_by, compare, parsed = engine.parse(key, values)
    return engine.evaluate(org, metric, window, group_by, compare, parsed).total


def _cohort_lag(org, window: store.Window, from_stage: str, to_stage: str) -> tuple[float, float]:
    """(leads that reached to_stage, their mean days to get there) of those first entering from_stage."""
    frame = store.sums(
        org, "cohort", ["reached", "lag_seconds"], window, from_stage=from_stage, to_stage=to_stage
    )
    reached, seconds = float(frame["reached"].sum()), float(frame["lag_seconds"].sum())
    return reached, (seconds / reached / DAY_SECONDS if reached else 0.0)


def _rate(total: float | None, empty: str, zero: str, basis: str) -> Estimate:
    if total is None:
        return Estimate(None, empty)
    if total <= 0:
        return Estimate(None, zero)
    return Estimate(total / 100, basis)


def assumptions_from_history(org, start: datetime.date, end: datetime.date) -> History:
    """Default conversion assumptions from the organisation's history between start and end (inclusive).

    Computed once within a memo scope (a dashboard's targets and leaks read the same history)."""
    return memo.remembered(("history", org.pk, start, end), lambda: _from_history(org, start, end))


def _from_history(org, start: datetime.date, end: datetime.date) -> History:
    stages = funnel_stages(org)
    window = store.Window(start, end, None)
    span = f"{start.isoformat()} to {end.isoformat()}"
    deal_size = _metric_total(org, "average_deal_size", start, end)
    deal = (
        Estimate(deal_size, f"average deal size of the deals won {span}")
        if deal_size
        else Estimate(None, f"no deal was won {span}.")
    )
    if len(stages) < 2:
        return History(start, end, (), deal, stages[-1].key if stages else None)
    won = stages[-1]
    out = []
    for current, following in itertools.pairwise(stages):
        last = following is won
        if last:
            rate = _rate(
                _metric_total(org, "win_rate", start, end),
                f"no opportunity closed {span}.",
                f"no opportunity closed {span} was won.",
                f"win rate of the opportunities closed {span}",
            )
        else:
            rate = _rate(
                _metric_total(
                    org, "stage_conversion_cohort", start, end, from_stage=current.key, to_stage=following.key
                ),
                f"no lead first entered {current.name} {span}.",
                f"none of the leads that first entered {current.name} {span} has reached {following.name}.",
                f"cohort conversion {current.name} → {following.name} of the leads entering {span}",
            )
        reached, days = _cohort_lag(org, window, current.key, following.key)
        if reached:
            lag = Estimate(
                days, f"mean time {current.name} → {following.name} of {reached:g} leads entering {span}"
            )
        elif last and (cycle := _metric_total(org, "sales_cycle_length", start, end)) is not None:
            lag = Estimate(cycle, f"mean sales cycle (created to won) of the deals won {span}")
        else:
            lag = Estimate(
                None, f"no lead that first entered {current.name} {span} has reached {following.name}."
            )
        out.append(
            StageHistory(current.key, current.name, waterfall.WON if last else following.key, rate, lag)
        )
    return History(start, end, tuple(out), deal, won.key)


def actuals_by_month(org, stages, months) -> dict[str, dict[datetime.date, float]]:
    """{stage: {month: volume}}: first entries into each funnel stage, and deals won for WON.

    `months` are first days of months; the result has every one of them for every stage (0 where nothing
    happened)."""
    months = sorted({waterfall.month_start(m) for m in months})
    if not months:
        return {key: {} for key in stages}
    last_day = waterfall.next_month(months[-1]) - datetime.timedelta(days=1)
    window = store.Window(months[0], last_day, "month")
    out = {}
    for key in stages:
        if key == waterfall.WON:
            series = store.sums(org, "opportunity", ["won"], window)["won"]
        else:
            series = store.sums(org, "funnel", ["first_entries"], window, stage=key)["first_entries"]
        out[key] = {month: float(series.get(month, 0.0)) for month in months}
    return out
