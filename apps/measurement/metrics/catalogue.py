"""The metric catalogue: every revenue metric, its written definition and how it is computed.

A metric's `compute` takes a Query and returns a Series indexed by period (and
group when the query groups), NaN where the metric is undefined (a rate with
nothing to divide by). Everything is read through apps.measurement.store, so
the page, the API and the CSV export all get their numbers from here.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from apps.core import memo

from .. import sketch, store
from ..models import PAID_TYPES, MeasurementSettings

# "team" groups by the owner's teams (apps.measurement.store).
LEAD_DIMS = ("channel", "campaign", "owner", "team")
# Counts of stage entries can also be split by lead segment (FunnelSegmentDay); a lead in two segments
# counts in both.
FUNNEL_COUNT_DIMS = (*LEAD_DIMS, "segment")
OPPORTUNITY_DIMS = ("channel", "campaign", "owner", "team", "type")
RESPONSE_DIMS = ("channel", "campaign", "owner", "team")
SPEND_DIMS = ("channel", "campaign")


# The column each filter narrows, per kind of fact table (see engine.parse_filters for who may take which).
FILTER_COLUMNS = {
    "channel": "channel",
    "campaign": "campaign",
    "owner": "owner_id",
    "team": "owner_id__in",
    "segment": "segment_id",
}


@dataclass(frozen=True)
class Query:
    org: object
    window: store.Window
    group_by: str | None = None
    params: dict = field(default_factory=dict)
    # Filters as the store reads them: {"channel": str, "campaign": str, "owner": id, "team": [ids],
    # "segment": id}; engine.parse_filters has checked the metric can take each one.
    filters: dict = field(default_factory=dict)

    def param(self, name: str, default):
        return self.params.get(name) or default

    def where(self, **where) -> dict:
        """`where` plus the filters, as lookups on a fact table."""
        return {**where, **{FILTER_COLUMNS[name]: value for name, value in self.filters.items()}}

    def spend_filters(self) -> dict:
        """The filters as store.spend takes them (spend has channel and campaign only)."""
        found = {}
        if "channel" in self.filters:
            found["channels"] = [self.filters["channel"]]
        if "campaign" in self.filters:
            found["campaigns"] = [self.filters["campaign"]]
        return found


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    default: str
    choices: tuple[str, ...] = ()  # empty: the organisation's funnel stages


@dataclass(frozen=True)
class Metric:
    key: str
    name: str
    definition: str
    formula: str
    unit: str  # count, currency, percent, ratio, days, hours, minutes, seconds, months, currency_per_day
    direction: str  # "higher" or "lower" is better
    dimensions: tuple[str, ...]
    reads: tuple[str, ...]
    compute: Callable[[Query], pd.Series]
    params: tuple[Param, ...] = ()
    group: str = ""

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "name": self.name,
            "group": self.group,
            "definition": self.definition,
            "formula": self.formula,
            "unit": self.unit,
            "direction": self.direction,
            "dimensions": list(self.dimensions),
            "reads": list(self.reads),
            "params": [{"name": p.name, "label": p.label, "default": p.default} for p in self.params],
        }


# Building blocks -----------------------------------------------------------


def _sum(q: Query, table: str, measure: str, **where) -> pd.Series:
    return store.sums(q.org, table, [measure], q.window, q.group_by, **q.where(**where))[measure]


def _sums(q: Query, table: str, measures: list[str]) -> pd.DataFrame:
    return store.sums(q.org, table, measures, q.window, q.group_by, **q.where())


def _ratio(numerator: pd.Series, denominator: pd.Series, scale=1.0) -> pd.Series:
    """numerator / denominator x scale, NaN where the denominator is 0 (a group only one of them has
    counts 0). `scale` is a number, or an array in the order of an index both series share.

    Divided as arrays: a page computes dozens of these over one or a few periods, where pandas'
    aligned arithmetic cost many times the division."""
    if not numerator.index.equals(denominator.index):
        if np.ndim(scale):
            raise ValueError("an array scale needs both series on the same index")
        numerator, denominator = numerator.align(denominator, fill_value=0.0)
    top, bottom = numerator.to_numpy(dtype=float), denominator.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(bottom == 0.0, np.nan, top / bottom * scale)
    return pd.Series(values, index=numerator.index, dtype=float)


def _quantile(q: Query, table: str, field_name: str, quantile: float, divisor: float, **where) -> pd.Series:
    filters = q.where(**where)
    # A median and a p90 of the same durations read the same merged sketches (once per dashboard).
    key = ("sketches", q.org.pk, table, field_name, q.window, q.group_by, repr(sorted(filters.items())))
    merged = memo.remembered(
        key, lambda: store.sketches(q.org, table, field_name, q.window, q.group_by, **filters)
    )
    periods = q.window.periods()
    if q.group_by:
        groups = sorted({key[1] for key in merged}, key=lambda g: (g is None, str(g)))
        index = pd.MultiIndex.from_product([periods, groups], names=["period", "group"])
        keys = list(index)
    else:
        index = pd.Index(periods, name="period")
        keys = [(p,) for p in periods]
    values = [sketch.quantile(merged.get(key, {}), quantile) for key in keys]
    return pd.Series([np.nan if v is None else v / divisor for v in values], index=index, dtype=float)


def _stage(q: Query, name: str, default: str) -> str:
    return q.param(name, default)


def _spend(q: Query, types=None) -> pd.Series:
    return store.spend(q.org, q.window, q.group_by, types=types, **q.spend_filters())["amount"]


def _new_customers(q: Query, **where) -> pd.Series:
    return _sum(q, "opportunity", "won", type="new_business", **where)


def _settings(q: Query) -> MeasurementSettings:
    def read():
        return MeasurementSettings.objects.for_org(q.org).first() or MeasurementSettings(organization=q.org)

    return memo.remembered(("measurement-settings", q.org.pk), read)  # several metrics of one page


def _ungrouped(q: Query) -> Query:
    return Query(q.org, q.window, None, q.params, q.filters)


def _spread(total: pd.Series, like: pd.Series) -> pd.Series:
    """An ungrouped per-period series repeated for every group of `like`."""
    if not isinstance(like.index, pd.MultiIndex):
        return total
    return pd.Series(like.index.get_level_values("period").map(total).astype(float), index=like.index)


# Computations ---------------------------------------------------------------


def leads(q):
    return _sum(q, "funnel", "created")


def stage_first_entries(stage_key: str):
    return lambda q: _sum(q, "funnel", "first_entries", stage=stage_key)


def opportunities_created(q):
    return _sum(q, "opportunity", "created")


def pipeline_created(q):
    return _sum(q, "opportunity", "created_amount")


def new_bookings(q):
    return _sum(q, "opportunity", "won_amount", type="new_business")


def new_logos(q):
    return _new_customers(q)


def conversion_period(q):
    from_stage, to_stage = _stage(q, "from_stage", "mql"), _stage(q, "to_stage", "sql")
    reached = _sum(q, "funnel", "first_entries", stage=to_stage)
    return _ratio(reached, _sum(q, "funnel", "first_entries", stage=from_stage), 100)


def conversion_cohort(q):
    from_stage, to_stage = _stage(q, "from_stage", "mql"), _stage(q, "to_stage", "sql")
    reached = _sum(q, "cohort", "reached", from_stage=from_stage, to_stage=to_stage)
    return _ratio(reached, _sum(q, "funnel", "first_entries", stage=from_stage), 100)


def lead_to_close(q):
    customer = _stage(q, "to_stage", "customer")
    return _ratio(_sum(q, "cohort", "reached", from_stage="", to_stage=customer), leads(q), 100)


def win_rate(q):
    frame = _sums(q, "opportunity", ["won", "lost"])
    return _ratio(frame["won"], frame["won"] + frame["lost"], 100)


def average_deal_size(q):
    frame = _sums(q, "opportunity", ["won", "won_amount"])
    return _ratio(frame["won_amount"], frame["won"])


def sales_cycle(q):
    frame = _sums(q, "opportunity", ["won", "won_cycle_days"])
    return _ratio(frame["won_cycle_days"], frame["won"])


def time_in_stage(quantile: float):
    return lambda q: _quantile(q, "funnel", "exit_sketch", quantile, 3600, stage=_stage(q, "stage", "mql"))


def velocity(q):
    frame = _sums(q, "opportunity", ["created", "won", "lost", "won_amount", "won_cycle_days"])
    rate = _ratio(frame["won"], frame["won"] + frame["lost"])
    size = _ratio(frame["won_amount"], frame["won"])
    cycle = _ratio(frame["won_cycle_days"], frame["won"])
    return frame["created"] * rate * size / cycle.replace(0.0, np.nan)


def pipeline_coverage(q):
    target = q.params.get("target")
    if not target:
        return _nan_like(q)
    target = float(target)
    window = q.window
    before = window.start - pd.Timedelta(days=1)
    opening = store.cumulative(q.org, "opportunity", ["created_amount", "won_amount", "lost_amount"], before)
    daily = store.sums(
        q.org,
        "opportunity",
        ["created_amount", "won_amount", "lost_amount"],
        store.Window(window.start, window.end, "day"),
    )
    balance = (daily["created_amount"] - daily["won_amount"] - daily["lost_amount"]).cumsum() + (
        opening["created_amount"] - opening["won_amount"] - opening["lost_amount"]
    )
    won = _sum(_ungrouped(q), "opportunity", "won_amount")
    periods = window.periods()
    values = []
    for index, start in enumerate(periods):
        end = periods[index + 1] - pd.Timedelta(days=1) if index + 1 < len(periods) else window.end
        remaining = target - won.get(start, 0.0)
        values.append(balance.get(end, np.nan) / remaining if remaining > 0 else np.nan)
    return pd.Series(values, index=pd.Index(periods, name="period"), dtype=float)


def _nan_like(q: Query) -> pd.Series:
    periods = q.window.periods()
    return pd.Series(np.nan, index=pd.Index(periods, name="period"), dtype=float)


def cac_blended(q):
    return _ratio(_spend(q), _new_customers(q))


def cac_paid(q):
    paid = store.spend(q.org, q.window, "channel", types=PAID_TYPES)
    channels = sorted(set(paid.index.get_level_values("group")[paid["amount"].to_numpy() > 0]))
    spend = _spend(q, types=PAID_TYPES)
    customers = _new_customers(q, channel__in=channels)
    return _ratio(spend, customers)


def cost_per_lead(q):
    return _ratio(_spend(q), leads(q))


def cost_per_opportunity(q):
    return _ratio(_spend(q), opportunities_created(q))


def romi(q, campaigns_only: bool = False):
    model = q.param("model", "linear")
    if not store.has_attribution(q.org, model):
        return _nan_like(q) if not q.group_by else pd.Series(dtype=float)
    where = q.where(**({"campaign__gt": ""} if campaigns_only else {}))
    revenue = store.attributed(q.org, model, q.window, q.group_by, **where)["revenue"]
    spend = _spend(q) if not campaigns_only else _campaign_spend(q)
    revenue, spend = revenue.align(spend, fill_value=0.0)
    return _ratio(revenue - spend, spend, 100)


def _campaign_spend(q):
    frame = store.spend(q.org, q.window, "campaign", **q.spend_filters())
    frame = frame[frame.index.get_level_values("group") != ""]
    if q.group_by == "campaign":
        return frame["amount"]
    return frame["amount"].groupby(level="period").sum().reindex(q.window.periods(), fill_value=0.0)


def campaign_roi(q):
    return romi(q, campaigns_only=True)


def _customers(q) -> pd.DataFrame:
    return store.subscriptions(q.org, q.window)


def _ltv_parts(q):
    subs = _customers(q)
    margin = float(_settings(q).gross_margin)
    arpa = _ratio(subs["end_arr"], subs["end_accounts"])
    churn_rate = _ratio(subs["churned_accounts"], subs["start_accounts"], 365 / subs["days"].to_numpy())
    return arpa, margin, churn_rate


def ltv(q):
    arpa, margin, churn_rate = _ltv_parts(q)
    return _ratio(arpa * margin, churn_rate)


def ltv_to_cac(q):
    return _ratio(ltv(q), cac_blended(_ungrouped(q)))


def cac_payback(q):
    arpa, margin, _ = _ltv_parts(q)
    return _ratio(cac_blended(_ungrouped(q)), arpa / 12 * margin)


def gross_retention(q):
    subs = _customers(q)
    return _ratio(subs["start_arr"] - subs["churned_arr"], subs["start_arr"], 100)


def net_retention(q):
    subs = _customers(q)
    expansion = _sum(_ungrouped(q), "opportunity", "won_amount", type="expansion")
    return _ratio(subs["start_arr"] - subs["churned_arr"] + expansion, subs["start_arr"], 100)


def expansion_revenue(q):
    return _sum(q, "opportunity", "won_amount", type="expansion")


def churned_revenue(q):
    return _customers(q)["churned_arr"]


def response_median(field_name: str, divisor: float):
    return lambda q: _quantile(q, "response", field_name, 0.5, divisor)


def speed_to_lead_p90(q):
    return _quantile(q, "response", "speed_sketch", 0.9, 60)


def sla_compliance(q):
    frame = _sums(q, "response", ["sla_met", "sla_breached"])
    return _ratio(frame["sla_met"], frame["sla_met"] + frame["sla_breached"], 100)


def reject_rate(q):
    rejected = _sum(q, "response", "rejected")
    if q.group_by == "reason":
        total = _sum(_ungrouped(q), "response", "assignments")
        return _ratio(rejected, _spread(total, rejected), 100)
    return _ratio(rejected, _sum(q, "response", "assignments"), 100)


def data_completeness(q):
    frame = _sums(q, "funnel", ["created", "created_completeness"])
    return _ratio(frame["created_completeness"], frame["created"], 100)


# The catalogue --------------------------------------------------------------

STAGE_PAIR = (
    Param("from_stage", "From stage", "mql"),
    Param("to_stage", "To stage", "sql"),
)
MODEL = (
    Param(
        "model",
        "Attribution model",
        "linear",
        ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped", "full_path", "time_decay", "markov"),
    ),
)

METRICS: list[Metric] = [
    Metric(
        "leads", "Leads", "New leads captured: each lead counts once, on the local day it was created.",
        "count of leads created", "count", "higher", FUNNEL_COUNT_DIMS, ("stage events (creation)",), leads,
        group="Funnel volume",
    ),
    Metric(
        "mqls", "MQLs", "Leads entering the MQL stage for the first time; a re-entry after recycling does "
        "not count again.", "count of first entries into MQL", "count", "higher", FUNNEL_COUNT_DIMS,
        ("stage events",), stage_first_entries("mql"), group="Funnel volume",
    ),
    Metric(
        "sals", "SALs", "Leads sales accepted (entering SAL) for the first time.",
        "count of first entries into SAL", "count", "higher", FUNNEL_COUNT_DIMS, ("stage events",),
        stage_first_entries("sal"), group="Funnel volume",
    ),
    Metric(
        "sqls", "SQLs", "Leads entering SQL for the first time.", "count of first entries into SQL", "count",
        "higher", FUNNEL_COUNT_DIMS, ("stage events",), stage_first_entries("sql"), group="Funnel volume",
    ),
    Metric(
        "opportunities_created", "Opportunities created", "Opportunities by their created date.",
        "count of opportunities", "count", "higher", OPPORTUNITY_DIMS, ("opportunities",),
        opportunities_created, group="Funnel volume",
    ),
    Metric(
        "pipeline_created", "Pipeline created", "The amount of the opportunities created in the period.",
        "sum of amount of opportunities created", "currency", "higher", OPPORTUNITY_DIMS, ("opportunities",),
        pipeline_created, group="Funnel volume",
    ),
    Metric(
        "new_bookings", "New bookings", "The amount of the new-business opportunities won in the period, "
        "by close date.", "sum of amount of new-business opportunities won", "currency", "higher",
        OPPORTUNITY_DIMS, ("opportunities",), new_bookings, group="Funnel volume",
    ),
    Metric(
        "new_logos", "New logos", "New customers won: the new-business opportunities won in the period, by "
        "close date.", "count of new-business opportunities won", "count", "higher", OPPORTUNITY_DIMS,
        ("opportunities",), new_logos, group="Funnel volume",
    ),
    Metric(
        "stage_conversion_period", "Stage conversion (period)", "Of the leads that first entered the "
        "from-stage in this period, as many as first entered the to-stage in the same period, as a share: "
        "volumes of one period set against each other, whoever they are.",
        "first entries into to-stage ÷ first entries into from-stage, same period", "percent", "higher",
        FUNNEL_COUNT_DIMS, ("stage events",), conversion_period, STAGE_PAIR, group="Conversion and velocity",
    ),
    Metric(
        "stage_conversion_cohort", "Stage conversion (cohort)", "Of the leads that first entered the "
        "from-stage in this period, the share that has reached the to-stage since (at any later time). "
        "Recent cohorts are still maturing.",
        "cohort leads that reached to-stage ÷ leads that first entered from-stage", "percent", "higher",
        LEAD_DIMS, ("stage events",), conversion_cohort, STAGE_PAIR, group="Conversion and velocity",
    ),
    Metric(
        "lead_to_close", "Lead-to-close rate", "Of the leads created in the period, the share that has "
        "reached Customer since.", "leads created that reached Customer ÷ leads created", "percent", "higher",
        LEAD_DIMS, ("stage events",), lead_to_close, group="Conversion and velocity",
    ),
    Metric(
        "win_rate", "Win rate", "Of the opportunities closed in the period, the share won.",
        "won ÷ (won + lost), by close date", "percent", "higher", OPPORTUNITY_DIMS, ("opportunities",),
        win_rate, group="Conversion and velocity",
    ),
    Metric(
        "average_deal_size", "Average deal size", "The mean amount of the opportunities won in the period.",
        "won amount ÷ opportunities won", "currency", "higher", OPPORTUNITY_DIMS, ("opportunities",),
        average_deal_size, group="Conversion and velocity",
    ),
    Metric(
        "sales_cycle_length", "Sales cycle length", "Mean days from created date to close date of the "
        "opportunities won in the period.", "sum of (close date − created date) ÷ opportunities won", "days",
        "lower", OPPORTUNITY_DIMS, ("opportunities",), sales_cycle, group="Conversion and velocity",
    ),
    Metric(
        "time_in_stage_median", "Time in stage (median)", "The median time leads spent in a stage, over the "
        "exits from it in the period (from entering the stage to the next stage event), within 1 %.",
        "median of (exit time − entry time)", "hours", "lower", LEAD_DIMS, ("stage events",),
        time_in_stage(0.5), (Param("stage", "Stage", "mql"),), group="Conversion and velocity",
    ),
    Metric(
        "time_in_stage_p90", "Time in stage (p90)", "The time within which 90 % of the leads leaving a "
        "stage in the period had left it, within 1 %.", "90th percentile of (exit time − entry time)",
        "hours", "lower",
        LEAD_DIMS, ("stage events",), time_in_stage(0.9), (Param("stage", "Stage", "mql"),),
        group="Conversion and velocity",
    ),
    Metric(
        "pipeline_velocity", "Pipeline velocity", "Revenue the pipeline produces per day: opportunities "
        "created × win rate × average deal size ÷ sales cycle length, each over the period.",
        "opportunities × win rate × average deal size ÷ cycle length", "currency_per_day", "higher",
        OPPORTUNITY_DIMS, ("opportunities",), velocity, group="Conversion and velocity",
    ),
    Metric(
        "pipeline_coverage", "Pipeline coverage", "Open pipeline at the end of the period divided by the "
        "revenue still to win in it (the target less what was won in the period). Needs a target.",
        "open pipeline at period end ÷ (target − won in period)", "ratio", "higher", (), ("opportunities",),
        pipeline_coverage, (Param("target", "Revenue target of each period", ""),),
        group="Conversion and velocity",
    ),
    Metric(
        "cac_blended", "CAC (blended)", "All marketing spend of the period divided by the new customers won "
        "in it (new-business opportunities won).", "spend ÷ new-business opportunities won", "currency",
        "lower", (), ("spend ledger", "opportunities"), cac_blended, group="Cost and return",
    ),
    Metric(
        "cac_paid", "CAC (paid)", "Media and event spend divided by the new customers won from the channels "
        "that had such spend in the period.", "paid spend ÷ new customers from paid channels", "currency",
        "lower", (), ("spend ledger", "opportunities"), cac_paid, group="Cost and return",
    ),
    Metric(
        "cost_per_lead", "Cost per lead", "Spend divided by leads created.", "spend ÷ leads created",
        "currency", "lower", ("channel", "campaign"), ("spend ledger", "stage events"), cost_per_lead,
        group="Cost and return",
    ),
    Metric(
        "cost_per_opportunity", "Cost per qualified opportunity", "Spend divided by opportunities created.",
        "spend ÷ opportunities created", "currency", "lower", ("channel", "campaign"),
        ("spend ledger", "opportunities"), cost_per_opportunity, group="Cost and return",
    ),
    Metric(
        "romi", "ROMI", "Return on marketing investment: revenue won from the opportunities created in the "
        "period, as the attribution model credits it, less the period's spend, over that spend.",
        "(attributed won revenue − spend) ÷ spend", "percent", "higher", SPEND_DIMS,
        ("attribution", "spend ledger"), romi, MODEL, group="Cost and return",
    ),
    Metric(
        "campaign_roi", "Campaign ROI", "ROMI over campaign spend only (entries with a campaign) and the "
        "revenue credited to campaigns.", "(campaign revenue − campaign spend) ÷ campaign spend", "percent",
        "higher", ("campaign",), ("attribution", "spend ledger"), campaign_roi, MODEL,
        group="Cost and return",
    ),
    Metric(
        "ltv", "LTV", "Lifetime value of a customer account: ARPA × gross margin ÷ annual churn rate. "
        "ARPA is the ARR per active account at the period's end; the churn rate is the accounts lost in "
        "the period over those active at its start, annualised.",
        "ARPA × gross margin ÷ annual account churn",
        "currency", "higher", (), ("customers",), ltv, group="Customers",
    ),
    Metric(
        "ltv_to_cac", "LTV:CAC", "LTV divided by blended CAC.", "LTV ÷ CAC (blended)", "ratio", "higher", (),
        ("customers", "spend ledger", "opportunities"), ltv_to_cac, group="Customers",
    ),
    Metric(
        "cac_payback_months", "CAC payback", "Months of gross margin a new account needs to earn its CAC "
        "back.",
        "CAC (blended) ÷ (ARPA ÷ 12 × gross margin)", "months", "lower", (),
        ("customers", "spend ledger", "opportunities"), cac_payback, group="Customers",
    ),
    Metric(
        "gross_revenue_retention", "Gross revenue retention", "ARR kept from the subscriptions active at the "
        "period's start, ignoring expansion.", "(ARR at start − churned ARR) ÷ ARR at start", "percent",
        "higher", (), ("customers",), gross_retention, group="Customers",
    ),
    Metric(
        "net_revenue_retention", "Net revenue retention", "ARR kept from the subscriptions active at the "
        "period's start plus expansion won in the period.",
        "(ARR at start − churned ARR + expansion won) ÷ ARR at start", "percent", "higher", (),
        ("customers", "opportunities"), net_retention, group="Customers",
    ),
    Metric(
        "expansion_revenue", "Expansion revenue", "The amount of expansion opportunities won in the period.",
        "sum of expansion opportunities won", "currency", "higher", OPPORTUNITY_DIMS, ("opportunities",),
        expansion_revenue, group="Customers",
    ),
    Metric(
        "churned_revenue", "Churned revenue", "ARR of the subscriptions whose churn date falls in the "
        "period.",
        "sum of ARR churned", "currency", "lower", (), ("customers",), churned_revenue, group="Customers",
    ),
    Metric(
        "speed_to_lead", "Speed-to-lead (median)", "Median time from a lead's capture to its first human "
        "touch, over the leads first assigned in the period.", "median of (first touch − capture)", "minutes",
        "lower", RESPONSE_DIMS, ("assignments",), response_median("speed_sketch", 60),
        group="Speed and SLAs",
    ),
    Metric(
        "speed_to_lead_p90", "Speed-to-lead (p90)", "The time within which 90 % of the leads first assigned "
        "in the period had their first human touch, within 1 %.",
        "90th percentile of (first touch − capture)", "minutes", "lower", RESPONSE_DIMS, ("assignments",),
        speed_to_lead_p90, group="Speed and SLAs",
    ),
    Metric(
        "system_latency", "System latency (median)", "Median time from capture to the first assignment: the "
        "part of speed-to-lead the system owns.", "median of (first offer − capture)", "seconds", "lower",
        RESPONSE_DIMS, ("assignments",), response_median("system_sketch", 1), group="Speed and SLAs",
    ),
    Metric(
        "human_response", "Human response (median)", "Median time from an offer to the rep's first touch: "
        "the part people own.", "median of (first touch − offer)", "minutes", "lower", RESPONSE_DIMS,
        ("assignments",), response_median("touch_sketch", 60), group="Speed and SLAs",
    ),
    Metric(
        "accept_time", "Time to accept (median)", "Median time from an offer to its acceptance.",
        "median of (accepted − offered)", "minutes", "lower", RESPONSE_DIMS, ("assignments",),
        response_median("accept_sketch", 60), group="Speed and SLAs",
    ),
    Metric(
        "sla_compliance", "SLA compliance", "Of the SLA clocks of the assignments offered in the period that "
        "have ended, the share met in time.", "met ÷ (met + breached)", "percent", "higher", RESPONSE_DIMS,
        ("SLA timers",), sla_compliance, group="Speed and SLAs",
    ),
    Metric(
        "reject_rate", "Reject rate", "Of the assignments offered in the period, the share the rep rejected; "
        "grouped by reason, each reason's share of all offers.", "rejected ÷ offered", "percent", "lower",
        (*RESPONSE_DIMS, "reason"), ("assignments",), reject_rate, group="Speed and SLAs",
    ),
    Metric(
        "data_completeness", "Data completeness", "Mean completeness score of the leads created in the "
        "period (their current score).", "mean of lead completeness", "percent", "higher", LEAD_DIMS,
        ("stage events", "leads"), data_completeness, group="Data quality",
    ),
]  # fmt: skip

BY_KEY = {metric.key: metric for metric in METRICS}
