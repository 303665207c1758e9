"""Channel mix arithmetic: what a budget line should buy, how its quarter goes, and where money works best.

Pure functions over plain numbers (no database), so every figure can be
checked by hand; apps.strategy.services.budget feeds them from the spend ledger
and the metric engine.

A line's plan (`line_plan`)
    expected leads          = planned spend ÷ cost per lead
    expected opportunities  = expected leads x lead→opportunity conversion
    expected pipeline       = expected opportunities x average deal size
    Each input may be missing (None: history cannot say), and everything
    derived from a missing input is missing too; nothing is made up.

Plan against actual (`variance`, `pace`)
    variance   = actual - plan, and as a percent of the plan (None when the plan is 0)
    pace       = actual ÷ (plan x the share of the quarter elapsed) x 100: 100 % is on
                 track for the whole quarter's plan at a steady rate.

Reallocation (`rank`, `top_move`)
    cost per qualified opportunity = spend ÷ opportunities created (lower is better)
    pipeline per unit of spend     = pipeline created ÷ spend (higher is better)
    spend share and pipeline share = the channel's part of the totals of the ranked channels.
    The top move takes an amount from the channel with the highest cost per
    opportunity to the one with the lowest and counts the opportunities it would
    buy there (amount ÷ its cost per opportunity) less those it would no longer
    buy at the source (amount ÷ the source's cost per opportunity; none when the
    source bought none). That assumes constant marginal cost: the next dollar
    buys what the average dollar did, which overstates the gain of a channel
    near saturation.
"""

import datetime
import math
from dataclasses import dataclass

NO_HISTORY = "no history"


@dataclass(frozen=True)
class Input:
    """A number a plan rests on and where it came from (basis), or None and why not."""

    value: float | None
    basis: str


@dataclass(frozen=True)
class LinePlan:
    planned_spend: float
    cost_per_lead: Input
    conversion: Input  # opportunities created per lead, 0..1 (or more: a lead may open several)
    deal_size: Input
    expected_leads: float | None
    expected_opportunities: float | None
    expected_pipeline: float | None


@dataclass(frozen=True)
class Variance:
    plan: float | None
    actual: float | None
    difference: float | None  # actual - plan
    percent: float | None  # difference ÷ plan x 100; None when the plan is 0 or either side is missing


@dataclass(frozen=True)
class Pace:
    expected_to_date: float | None  # plan x elapsed share
    percent: float | None  # actual ÷ expected_to_date x 100


def _times(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a * b


def line_plan(planned_spend: float, cost_per_lead: Input, conversion: Input, deal_size: Input) -> LinePlan:
    """What a line's spend should buy: leads, then opportunities, then pipeline."""
    leads = None
    if cost_per_lead.value is not None and cost_per_lead.value > 0:
        leads = planned_spend / cost_per_lead.value
    opportunities = _times(leads, conversion.value)
    pipeline = _times(opportunities, deal_size.value)
    return LinePlan(planned_spend, cost_per_lead, conversion, deal_size, leads, opportunities, pipeline)


def total(values) -> float | None:
    """The sum, or None when any part is missing: a total must not quietly leave a line out."""
    values = list(values)
    if any(v is None for v in values):
        return None
    return math.fsum(values)


def variance(plan: float | None, actual: float | None) -> Variance:
    if plan is None or actual is None:
        return Variance(plan, actual, None, None)
    difference = actual - plan
    return Variance(plan, actual, difference, difference / plan * 100 if plan > 0 else None)


def elapsed_share(start: datetime.date, end: datetime.date, today: datetime.date) -> float:
    """The part of [start, end] (inclusive) that has passed, today included: 0 before, 1 after."""
    if today < start:
        return 0.0
    days = (end - start).days + 1
    return min((today - start).days + 1, days) / days


def pace(plan: float | None, actual: float | None, share: float) -> Pace:
    if plan is None:
        return Pace(None, None)
    expected = plan * share
    if actual is None or expected <= 0:
        return Pace(expected, None)
    return Pace(expected, actual / expected * 100)


# Reallocation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelResult:
    channel: str
    spend: float
    opportunities: float
    pipeline: float


@dataclass(frozen=True)
class Ranked:
    channel: str
    spend: float
    opportunities: float
    pipeline: float
    cost_per_opportunity: float | None  # None: no opportunity created
    pipeline_per_spend: float
    spend_share: float  # percent of the ranked channels' spend
    pipeline_share: float | None  # percent of their pipeline; None when they created none
    cost_rank: int  # 1 = cheapest opportunities; channels with none come last
    pipeline_rank: int  # 1 = most pipeline per unit of spend


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    amount: float
    source_cost: float | None  # cost per opportunity at the source; None: it bought none
    target_cost: float
    gained: float  # amount ÷ target_cost
    lost: float  # amount ÷ source_cost, 0 when the source bought none
    net: float  # gained - lost


def rank(results: list[ChannelResult]) -> list[Ranked]:
    """Channels with spend, cheapest opportunity first; channels without spend cannot be ranked on cost."""
    paid = [r for r in results if r.spend > 0]
    spend_total = math.fsum(r.spend for r in paid)
    pipeline_total = math.fsum(r.pipeline for r in paid)

    def cost(r):
        return r.spend / r.opportunities if r.opportunities > 0 else None

    by_cost = sorted(paid, key=lambda r: (cost(r) is None, cost(r) or 0, r.channel.casefold()))
    by_pipeline = sorted(paid, key=lambda r: (-r.pipeline / r.spend, r.channel.casefold()))
    pipeline_rank = {r.channel: i for i, r in enumerate(by_pipeline, 1)}
    return [
        Ranked(
            r.channel,
            r.spend,
            r.opportunities,
            r.pipeline,
            cost(r),
            r.pipeline / r.spend,
            r.spend / spend_total * 100,
            r.pipeline / pipeline_total * 100 if pipeline_total > 0 else None,
            i,
            pipeline_rank[r.channel],
        )
        for i, r in enumerate(by_cost, 1)
    ]


def top_move(ranked: list[Ranked], amount: float) -> Move | None:
    """Move `amount` from the dearest channel to the cheapest; None when no move would buy more.

    The source gives at most its own spend in the window."""
    if len(ranked) < 2 or ranked[0].cost_per_opportunity is None:
        return None
    target, source = ranked[0], ranked[-1]
    if source.cost_per_opportunity is not None and source.cost_per_opportunity <= target.cost_per_opportunity:
        return None
    amount = min(amount, source.spend)
    if amount <= 0:
        return None
    gained = amount / target.cost_per_opportunity
    lost = amount / source.cost_per_opportunity if source.cost_per_opportunity else 0.0
    return Move(
        source.channel,
        target.channel,
        amount,
        source.cost_per_opportunity,
        target.cost_per_opportunity,
        gained,
        lost,
        gained - lost,
    )


def default_move_amount(ranked: list[Ranked]) -> float:
    """A tenth of the dearest channel's spend, rounded down to a whole hundred (at least 100)."""
    if not ranked:
        return 0.0
    return float(max(100, math.floor(ranked[-1].spend / 10 / 100) * 100))


def _money(value: float, currency: str) -> str:
    return f"{value:,.0f} {currency}"


def move_sentence(move: Move, currency: str) -> str:
    """The move in one plain sentence with its arithmetic and its assumption."""
    gained = (
        f"{_money(move.amount, currency)} ÷ {_money(move.target_cost, currency)} per opportunity in "
        f"{move.target} = {move.gained:.1f} gained"
    )
    if move.source_cost is None:
        lost = f"{move.source} created no opportunity in the window, so none is lost there"
    else:
        lost = (
            f"less {_money(move.amount, currency)} ÷ {_money(move.source_cost, currency)} in {move.source} "
            f"= {move.lost:.1f} lost"
        )
    return (
        f"Moving {_money(move.amount, currency)} from {move.source} to {move.target} would buy about "
        f"{move.net:.1f} more opportunities at recent cost ({gained}, {lost}). This assumes each extra "
        f"unit of spend buys what the average one did (constant marginal cost); a channel near saturation "
        f"buys less, so treat it as an upper bound."
    )
