"""The channel budget: its writes, and the plan-against-actual and reallocation reads page, CSV and API share.

Writes are atomic and keyword-only and refuse bad input with a `ServiceError`
naming the field. A line's channel must be one the organisation already knows
(`known_channels`: the channels of its leads' rolled-up facts, its spend ledger
and its source mappings), written as that channel is spelled there, so plan
and actuals line up.

The numbers (`quarter_report`), per channel of the quarter; the arithmetic is
apps.strategy.channels:

- History is the four full fiscal quarters before the planned quarter (or
  before the current one, when planning ahead), read through the metric engine
  grouped by channel.
- Cost per lead: the line's own `expected_cost_per_lead`, else the channel's
  `cost_per_lead` over the history, else "no history".
- Lead→opportunity conversion: the channel's opportunities created ÷ leads
  created over the history when the channel had leads, else the
  organisation's, else "no history". This is the waterfall's funnel from lead
  to opportunity read as one ratio, per channel where history allows.
- Average deal size: the channel's `average_deal_size` (deals won) over the
  history, else the organisation's, else "no history" — the same deal size the
  reverse waterfall plans with.
- Actuals cover the quarter's days so far (all of them once it has ended):
  spend from the spend ledger (each entry spread evenly over its days, as the
  metrics read it), leads, opportunities created and pipeline created from the
  metric engine. Before the quarter starts there are none.
- A channel with spend in the quarter but no line is listed too ("not in the
  plan": planned 0), so the totals hold all of the quarter's spend.

`reallocation` ranks the channels with spend over a window (default: the 90
days ending today, the metric pages' default range) by cost per qualified
opportunity and pipeline per unit of spend.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F

from apps.core.errors import ServiceError
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY
from apps.measurement.models import FunnelChannelDay, SpendEntry
from apps.records.models import SourceMapping
from apps.records.normalize import normalize_text
from apps.strategy import channels as maths
from apps.strategy.fiscal import fiscal_quarter_of, fiscal_quarter_range, shift_quarter
from apps.strategy.models import ChannelBudget, Segment

FIELDS = ("fiscal_year", "quarter", "channel", "segment", "planned_spend", "expected_cost_per_lead", "note")
REQUIRED = ("fiscal_year", "quarter", "channel", "planned_spend")
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_SPEND = Decimal("99999999999999.99")
MAX_COST = Decimal("9999999999.99")
CENT = Decimal("0.01")
HISTORY_QUARTERS = 4
REALLOCATION_DAYS = 90


# --- Cleaning ------------------------------------------------------------------------------------


def known_channels(*, org) -> list[str]:
    """Channels the organisation uses: in its leads' facts, its spend ledger and its source mappings."""
    names: dict[str, str] = {}
    sources = [
        FunnelChannelDay.objects.for_org(org).exclude(channel="").values_list("channel", flat=True),
        SpendEntry.objects.for_org(org).values_list("channel", flat=True),
        SourceMapping.objects.for_org(org).values_list("channel", flat=True),
    ]
    for queryset in sources:
        for name in queryset.distinct():
            names.setdefault(name.casefold(), name)
    return sorted(names.values(), key=str.casefold)


def _whole(value, *, field: str, low: int, high: int, what: str) -> int:
    if isinstance(value, bool):
        raise ServiceError(f"Give {what}.", field=field)
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ServiceError(f"“{value}” is not {what}.", field=field) from None
    if not low <= number <= high:
        raise ServiceError(f"Give {what} from {low} to {high}.", field=field)
    return number


def _amount(value, *, field: str, maximum: Decimal, positive: bool = False) -> Decimal:
    if isinstance(value, bool) or value is None or value == "":
        raise ServiceError("Give an amount.", field=field)
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ServiceError(f"“{value}” is not an amount; write it like 12000.50.", field=field) from None
    if not amount.is_finite():
        raise ServiceError(f"“{value}” is not an amount; write it like 12000.50.", field=field)
    if amount < 0 or (positive and amount == 0):
        raise ServiceError("Must be more than 0." if positive else "Cannot be negative.", field=field)
    if amount != amount.quantize(CENT):
        raise ServiceError("Use at most two decimals.", field=field)
    if amount > maximum:
        raise ServiceError(f"At most {maximum:,}.", field=field)
    return amount.quantize(CENT)


def _channel(org, value) -> str:
    text = normalize_text(value)
    if not text:
        raise ServiceError("Name the channel, e.g. Paid Search.", field="channel")
    known = known_channels(org=org)
    found = next((name for name in known if name.casefold() == text.casefold()), None)
    if found is None:
        listed = ", ".join(known) or "none yet: add spend or a source mapping first"
        raise ServiceError(
            f"“{text}” is not a channel of this organisation; known: {listed}.", field="channel"
        )
    return found


def _segment(org, value) -> Segment | None:
    if value in (None, ""):
        return None
    pk = value.pk if isinstance(value, Segment) else value
    found = Segment.objects.for_org(org).filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise ServiceError("No segment of this organisation has this id.", field="segment")
    return found


def _note(value) -> str:
    text = normalize_text(value)
    if len(text) > 300:
        raise ServiceError(f"At most 300 characters ({len(text)} given).", field="note")
    return text


def budget_values(line: ChannelBudget) -> dict:
    """A line as the service's field names (what a partial update starts from)."""
    return {name: getattr(line, name) for name in FIELDS}


def _clean(org, values: dict, *, base: dict | None = None) -> dict:
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])
    cleaners = {
        "fiscal_year": lambda v: _whole(v, field="fiscal_year", low=MIN_YEAR, high=MAX_YEAR, what="a year"),
        "quarter": lambda v: _whole(v, field="quarter", low=1, high=4, what="a quarter"),
        "channel": lambda v: _channel(org, v),
        "segment": lambda v: _segment(org, v),
        "planned_spend": lambda v: _amount(v, field="planned_spend", maximum=MAX_SPEND),
        "expected_cost_per_lead": lambda v: (
            None
            if v in (None, "")
            else _amount(v, field="expected_cost_per_lead", maximum=MAX_COST, positive=True)
        ),
        "note": _note,
    }
    cleaned = dict(base or {})
    for name, clean in cleaners.items():
        if name in values:
            cleaned[name] = clean(values[name])
        elif base is None:
            if name in REQUIRED:
                raise ServiceError("This field is required.", field=name)
            cleaned[name] = "" if name == "note" else None
    return cleaned


def _check_free(org, cleaned: dict, *, exclude_pk=None) -> None:
    clash = ChannelBudget.objects.for_org(org).filter(
        fiscal_year=cleaned["fiscal_year"],
        quarter=cleaned["quarter"],
        channel=cleaned["channel"],
        segment=cleaned["segment"],
    )
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        scope = f" for segment {cleaned['segment'].name}" if cleaned["segment"] else ""
        raise ServiceError(
            f"{cleaned['channel']}{scope} already has a line in FY{cleaned['fiscal_year']} "
            f"Q{cleaned['quarter']}; edit that one instead.",
            field="channel",
            code="duplicate",
        )


def _save(line: ChannelBudget) -> ChannelBudget:
    try:
        with transaction.atomic():
            line.save()
    except IntegrityError:  # a concurrent write took the slot between the check and the save
        raise ServiceError(
            "Another line for this channel and quarter was just saved.", field="channel"
        ) from None
    return line


# --- Writes --------------------------------------------------------------------------------------


@transaction.atomic
def budget_create(*, org, **fields) -> ChannelBudget:
    cleaned = _clean(org, fields)
    _check_free(org, cleaned)
    return _save(ChannelBudget(organization=org, **cleaned))


@transaction.atomic
def budget_update(*, org, line: ChannelBudget, **fields) -> ChannelBudget:
    if line.organization_id != org.pk:
        raise ServiceError("No such budget line in this organisation.", code="not_found")
    locked = ChannelBudget.objects.select_for_update().get(pk=line.pk, organization=org)
    cleaned = _clean(org, fields, base=budget_values(locked))
    _check_free(org, cleaned, exclude_pk=line.pk)
    for name, value in cleaned.items():
        setattr(line, name, value)
    return _save(line)


@transaction.atomic
def budget_delete(*, org, line: ChannelBudget) -> None:
    if line.organization_id != org.pk:
        raise ServiceError("No such budget line in this organisation.", code="not_found")
    line.delete()


@transaction.atomic
def budget_copy_quarter(*, org, fiscal_year: int, quarter: int) -> int:
    """Copy the previous quarter's lines into this one, keeping lines already here; returns the count."""
    year, quarter = (
        _whole(fiscal_year, field="fiscal_year", low=MIN_YEAR, high=MAX_YEAR, what="a year"),
        _whole(quarter, field="quarter", low=1, high=4, what="a quarter"),
    )
    source = lines_for_quarter(org=org, fiscal_year=year, quarter=quarter, previous=True)
    taken = {
        (line.channel, line.segment_id)
        for line in ChannelBudget.objects.for_org(org).filter(fiscal_year=year, quarter=quarter)
    }
    copies = [
        ChannelBudget(
            organization=org,
            fiscal_year=year,
            quarter=quarter,
            channel=line.channel,
            segment_id=line.segment_id,
            planned_spend=line.planned_spend,
            expected_cost_per_lead=line.expected_cost_per_lead,
            note=line.note,
        )
        for line in source
        if (line.channel, line.segment_id) not in taken
    ]
    for copy in copies:  # one by one, so the audit trail's triggers record each
        copy.save()
    return len(copies)


# --- Reads ---------------------------------------------------------------------------------------


def lines_for_quarter(*, org, fiscal_year: int, quarter: int, previous: bool = False):
    if previous:
        fiscal_year, quarter = shift_quarter(fiscal_year, quarter, -1)
    return (
        ChannelBudget.objects.for_org(org)
        .filter(fiscal_year=fiscal_year, quarter=quarter)
        .select_related("segment")
        .order_by("channel", F("segment__name").asc(nulls_first=True), "id")  # the whole channel first
    )


def history_range(
    org, fiscal_year: int, quarter: int, today: datetime.date
) -> tuple[datetime.date, datetime.date]:
    """The four full fiscal quarters before the planned quarter, or before the current one when earlier."""
    start_month = org.fiscal_year_start_month
    anchor = min((fiscal_year, quarter), fiscal_quarter_of(start_month, today))
    first = shift_quarter(*anchor, -HISTORY_QUARTERS)
    last = shift_quarter(*anchor, -1)
    return fiscal_quarter_range(start_month, *first)[0], fiscal_quarter_range(start_month, *last)[1]


@dataclass
class ByChannel:
    """One metric over one window: per channel, and for the whole organisation."""

    values: dict[str, float | None]
    total: float | None

    def get(self, channel: str) -> float | None:
        return self.values.get(channel)


def metric_by_channel(org, key: str, start: datetime.date, end: datetime.date) -> ByChannel:
    """A catalogue metric over start..end (inclusive) grouped by channel, through the metric engine."""
    result = engine.evaluate(org, BY_KEY[key], store.Window(start, end, None), group_by="channel")
    return ByChannel({row["group"] or "": row["value"] for row in result.rows}, result.total)


def spend_by_channel(org, start: datetime.date, end: datetime.date) -> ByChannel:
    """Spend per channel from the ledger, each entry spread evenly over its days (as the metrics read it)."""
    frame = store.spend(org, store.Window(start, end, None), "channel")
    values = {group: float(amount) for (_, group), amount in frame["amount"].items()}
    return ByChannel(values, sum(values.values()))


@dataclass
class History:
    start: datetime.date
    end: datetime.date
    cost_per_lead: ByChannel
    leads: ByChannel
    opportunities: ByChannel
    deal_size: ByChannel

    def cost_per_lead_of(self, line: ChannelBudget) -> maths.Input:
        if line.expected_cost_per_lead is not None:
            return maths.Input(float(line.expected_cost_per_lead), "the line's own cost per lead")
        value = self.cost_per_lead.get(line.channel)
        if value:
            return maths.Input(value, f"{line.channel}'s cost per lead {self.span}")
        return maths.Input(None, maths.NO_HISTORY)

    def conversion_of(self, channel: str) -> maths.Input:
        leads = self.leads.get(channel) or 0
        if leads > 0:
            opportunities = self.opportunities.get(channel) or 0
            return maths.Input(opportunities / leads, f"{channel}'s opportunities per lead {self.span}")
        if self.leads.total:
            return maths.Input(
                (self.opportunities.total or 0) / self.leads.total,
                f"the organisation's opportunities per lead {self.span} ({channel} had no leads)",
            )
        return maths.Input(None, maths.NO_HISTORY)

    def deal_size_of(self, channel: str) -> maths.Input:
        value = self.deal_size.get(channel)
        if value:
            return maths.Input(value, f"{channel}'s average deal size {self.span}")
        if self.deal_size.total:
            return maths.Input(
                self.deal_size.total,
                f"the organisation's average deal size {self.span} ({channel} won no deal)",
            )
        return maths.Input(None, maths.NO_HISTORY)

    @property
    def span(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def read_history(org, start: datetime.date, end: datetime.date) -> History:
    return History(
        start,
        end,
        metric_by_channel(org, "cost_per_lead", start, end),
        metric_by_channel(org, "leads", start, end),
        metric_by_channel(org, "opportunities_created", start, end),
        metric_by_channel(org, "average_deal_size", start, end),
    )


@dataclass
class LineRow:
    line: ChannelBudget
    plan: maths.LinePlan


@dataclass
class ChannelRow:
    channel: str
    lines: list[LineRow]
    planned_spend: float
    expected_leads: float | None
    expected_opportunities: float | None
    expected_pipeline: float | None
    actual_spend: float | None
    actual_leads: float | None
    actual_opportunities: float | None
    actual_pipeline: float | None
    spend: maths.Variance = field(init=False)
    leads: maths.Variance = field(init=False)
    pipeline: maths.Variance = field(init=False)
    spend_pace: maths.Pace = field(init=False)
    leads_pace: maths.Pace = field(init=False)
    pipeline_pace: maths.Pace = field(init=False)
    share: float = 0.0

    def __post_init__(self):
        self.spend = maths.variance(self.planned_spend, self.actual_spend)
        self.leads = maths.variance(self.expected_leads, self.actual_leads)
        self.pipeline = maths.variance(self.expected_pipeline, self.actual_pipeline)
        self.spend_pace = maths.pace(self.planned_spend, self.actual_spend, self.share)
        self.leads_pace = maths.pace(self.expected_leads, self.actual_leads, self.share)
        self.pipeline_pace = maths.pace(self.expected_pipeline, self.actual_pipeline, self.share)

    @property
    def planned(self) -> bool:
        return bool(self.lines)


@dataclass
class Report:
    fiscal_year: int
    quarter: int
    start: datetime.date
    end: datetime.date
    measured_to: datetime.date | None  # the last day of actuals; None before the quarter starts
    share: float  # of the quarter elapsed, 0..1
    history: History
    rows: list[ChannelRow]
    totals: ChannelRow

    @property
    def line_plans(self) -> dict[int, maths.LinePlan]:
        return {lr.line.pk: lr.plan for row in self.rows for lr in row.lines}

    def row_for(self, channel: str) -> ChannelRow | None:
        return next((row for row in self.rows if row.channel == channel), None)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def quarter_report(*, org, fiscal_year: int, quarter: int, today: datetime.date) -> Report:
    """Every channel's plan against its actuals for one fiscal quarter (see the module docstring)."""
    start, end = fiscal_quarter_range(org.fiscal_year_start_month, fiscal_year, quarter)
    history = read_history(org, *history_range(org, fiscal_year, quarter, today))
    lines = list(lines_for_quarter(org=org, fiscal_year=fiscal_year, quarter=quarter))
    share = maths.elapsed_share(start, end, today)
    measured_to = min(today, end) if today >= start else None
    actuals: dict[str, ByChannel] = {}
    if measured_to is not None:
        actuals["spend"] = spend_by_channel(org, start, measured_to)
        for name, key in (("leads", "leads"), ("opportunities", "opportunities_created"),
                          ("pipeline", "pipeline_created")):  # fmt: skip
            actuals[name] = metric_by_channel(org, key, start, measured_to)
    by_channel: dict[str, list[LineRow]] = defaultdict(list)
    for line in lines:
        plan = maths.line_plan(
            float(line.planned_spend),
            history.cost_per_lead_of(line),
            history.conversion_of(line.channel),
            history.deal_size_of(line.channel),
        )
        by_channel[line.channel].append(LineRow(line, plan))
    channels = set(by_channel)
    if actuals:
        channels |= {name for name, amount in actuals["spend"].values.items() if round(amount, 2) > 0}

    def actual(name: str, channel: str) -> float | None:
        return _round(actuals[name].get(channel) or 0.0) if actuals else None

    rows = []
    for channel in sorted(channels, key=str.casefold):
        plans = [lr.plan for lr in by_channel.get(channel, [])]
        rows.append(
            ChannelRow(
                channel,
                by_channel.get(channel, []),
                _round(maths.total(p.planned_spend for p in plans)),
                _round(maths.total(p.expected_leads for p in plans)),
                _round(maths.total(p.expected_opportunities for p in plans)),
                _round(maths.total(p.expected_pipeline for p in plans)),
                *(actual(name, channel) for name in ("spend", "leads", "opportunities", "pipeline")),
                share=share,
            )
        )
    totals = ChannelRow(
        "Total",
        [],
        *(
            _round(maths.total(getattr(row, name) for row in rows))
            for name in (
                "planned_spend",
                "expected_leads",
                "expected_opportunities",
                "expected_pipeline",
                "actual_spend",
                "actual_leads",
                "actual_opportunities",
                "actual_pipeline",
            )
        ),
        share=share,
    )
    return Report(fiscal_year, quarter, start, end, measured_to, share, history, rows, totals)


# Output shared by the CSV export and the API ------------------------------------------------------

CSV_HEADER = [
    "channel",
    "in_plan",
    "planned_spend",
    "actual_spend",
    "spend_variance",
    "spend_variance_percent",
    "spend_pace_percent",
    "expected_leads",
    "actual_leads",
    "leads_variance",
    "leads_variance_percent",
    "expected_opportunities",
    "actual_opportunities",
    "expected_pipeline",
    "actual_pipeline",
    "pipeline_variance",
    "pipeline_variance_percent",
    "pipeline_pace_percent",
]


def row_values(row: ChannelRow) -> dict:
    """A channel row as plain numbers rounded as shown (money and counts to 2 decimals, percents to 1)."""
    return {
        "channel": row.channel,
        "in_plan": row.planned,
        "planned_spend": row.planned_spend,
        "actual_spend": row.actual_spend,
        "spend_variance": _round(row.spend.difference),
        "spend_variance_percent": _round(row.spend.percent, 1),
        "spend_pace_percent": _round(row.spend_pace.percent, 1),
        "expected_leads": row.expected_leads,
        "actual_leads": row.actual_leads,
        "leads_variance": _round(row.leads.difference),
        "leads_variance_percent": _round(row.leads.percent, 1),
        "expected_opportunities": row.expected_opportunities,
        "actual_opportunities": row.actual_opportunities,
        "expected_pipeline": row.expected_pipeline,
        "actual_pipeline": row.actual_pipeline,
        "pipeline_variance": _round(row.pipeline.difference),
        "pipeline_variance_percent": _round(row.pipeline.percent, 1),
        "pipeline_pace_percent": _round(row.pipeline_pace.percent, 1),
    }


def csv_rows(report: Report):
    for row in [*report.rows, report.totals]:
        values = row_values(row)
        if row is report.totals:
            values["in_plan"] = ""
        yield [values[name] for name in CSV_HEADER]


def plan_values(plan: maths.LinePlan) -> dict:
    return {
        "cost_per_lead": _round(plan.cost_per_lead.value),
        "cost_per_lead_basis": plan.cost_per_lead.basis,
        "conversion": _round(plan.conversion.value, 4),
        "conversion_basis": plan.conversion.basis,
        "deal_size": _round(plan.deal_size.value),
        "deal_size_basis": plan.deal_size.basis,
        "expected_leads": _round(plan.expected_leads),
        "expected_opportunities": _round(plan.expected_opportunities),
        "expected_pipeline": _round(plan.expected_pipeline),
    }


def report_as_dict(report: Report) -> dict:
    return {
        "fiscal_year": report.fiscal_year,
        "quarter": report.quarter,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "measured_to": report.measured_to.isoformat() if report.measured_to else None,
        "elapsed_share": round(report.share, 4),
        "history": {"from": report.history.start.isoformat(), "to": report.history.end.isoformat()},
        "channels": [
            {**row_values(row), "lines": [{"id": lr.line.pk, **plan_values(lr.plan)} for lr in row.lines]}
            for row in report.rows
        ],
        "totals": {k: v for k, v in row_values(report.totals).items() if k not in ("channel", "in_plan")},
    }


# --- Reallocation --------------------------------------------------------------------------------


@dataclass
class Reallocation:
    start: datetime.date
    end: datetime.date
    ranked: list[maths.Ranked]
    unpaid: list[maths.ChannelResult]  # channels with pipeline or opportunities but no spend
    amount: float
    move: maths.Move | None
    sentence: str


def reallocation_window(org, values, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """from/to from the request (the metric engine checks them, naming each bad one); default 90 days."""
    _, window, *_ = engine.parse(
        "cost_per_opportunity", {"from": values.get("from"), "to": values.get("to")}, today
    )
    return window.start, window.end


def reallocation(*, org, start: datetime.date, end: datetime.date, amount=None) -> Reallocation:
    """Channels ranked by cost per qualified opportunity and pipeline per unit of spend over start..end."""
    spend = spend_by_channel(org, start, end)
    opportunities = metric_by_channel(org, "opportunities_created", start, end)
    pipeline = metric_by_channel(org, "pipeline_created", start, end)
    names = {*spend.values, *opportunities.values, *pipeline.values} - {""}
    results = [
        maths.ChannelResult(
            name,
            round(spend.get(name) or 0.0, 2),
            opportunities.get(name) or 0.0,
            round(pipeline.get(name) or 0.0, 2),
        )
        for name in sorted(names, key=str.casefold)
    ]
    ranked = maths.rank(results)
    unpaid = [r for r in results if r.spend <= 0 and (r.opportunities or r.pipeline)]
    if amount in (None, ""):
        amount = maths.default_move_amount(ranked)
    else:
        amount = float(_amount(amount, field="amount", maximum=MAX_SPEND, positive=True))
    move = maths.top_move(ranked, amount)
    sentence = maths.move_sentence(move, org.currency) if move else ""
    return Reallocation(start, end, ranked, unpaid, amount, move, sentence)


REALLOCATION_HEADER = [
    "channel",
    "spend",
    "opportunities",
    "pipeline",
    "cost_per_opportunity",
    "pipeline_per_spend",
    "spend_share_percent",
    "pipeline_share_percent",
    "cost_rank",
    "pipeline_rank",
]


def ranked_values(row: maths.Ranked) -> dict:
    return {
        "channel": row.channel,
        "spend": row.spend,
        "opportunities": row.opportunities,
        "pipeline": row.pipeline,
        "cost_per_opportunity": _round(row.cost_per_opportunity),
        "pipeline_per_spend": _round(row.pipeline_per_spend),
        "spend_share_percent": _round(row.spend_share, 1),
        "pipeline_share_percent": _round(row.pipeline_share, 1),
        "cost_rank": row.cost_rank,
        "pipeline_rank": row.pipeline_rank,
    }


def reallocation_as_dict(result: Reallocation) -> dict:
    move = result.move
    return {
        "from": result.start.isoformat(),
        "to": result.end.isoformat(),
        "channels": [ranked_values(row) for row in result.ranked],
        "unpaid_channels": [
            {"channel": r.channel, "opportunities": r.opportunities, "pipeline": r.pipeline}
            for r in result.unpaid
        ],
        "move": (
            {
                "from_channel": move.source,
                "to_channel": move.target,
                "amount": _round(move.amount),
                "from_cost_per_opportunity": _round(move.source_cost),
                "to_cost_per_opportunity": _round(move.target_cost),
                "opportunities_gained": _round(move.gained),
                "opportunities_lost": _round(move.lost),
                "net_opportunities": _round(move.net),
                "sentence": result.sentence,
            }
            if move
            else None
        ),
    }
