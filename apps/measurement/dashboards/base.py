"""What every review dashboard shares: the query in the address, drill-down links and CSV tables.

A dashboard reads one `DashboardQuery` from its GET parameters, so any view of
it can be bookmarked, shared and exported:

    preset      last_7, last_30, last_90, this_month, last_month, this_quarter,
                last_quarter (quarters are the organisation's fiscal quarters),
                or empty with from/to for a custom range
    from, to    YYYY-MM-DD, inclusive (a custom range; a preset wins when both are given)
    compare     "previous_period": set every number against the same-length window just before
    segment, channel, team, owner, campaign
                filters, checked by apps.measurement.metrics.engine.parse_filters

    query = parse_query(org, request.GET, default_preset="last_7")   # raises engine.QueryError
    evaluate(org, metric, query.window("week"), compare=query.compare, filters=query.filters)
    drilldown_url(org, "leads", query, entered_stage="mql")           # the records behind a number
    table_csv("weekly-indicators.csv", header, rows)                  # any table as CSV

Errors are engine.QueryError({parameter: reason}), the metric API's error shape.
"""

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.core.cache import cache
from django.urls import reverse

from apps.core import memo
from apps.core.csv import csv_response
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY
from apps.strategy.fiscal import fiscal_quarter_of, fiscal_quarter_range, shift_quarter

DASH, TIMES, MINUS = "\u2013", "\u00d7", "\u2212"  # what an empty number, a ratio and a fall print
PRESETS = {
    "last_7": "Last 7 days",
    "last_30": "Last 30 days",
    "last_90": "Last 90 days",
    "this_month": "This month",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "last_quarter": "Last quarter",
}
FILTERS = engine.FILTERS
COMPARE = "previous_period"
MAX_DAYS = engine.MAX_DAYS


@dataclass(frozen=True)
class DashboardQuery:
    org: object
    start: datetime.date
    end: datetime.date  # inclusive
    preset: str = ""  # "" for a custom range
    compare: bool = False
    filters: dict = field(default_factory=dict)  # parsed: segment/team/owner ids, channel/campaign text
    version: str = "none"  # the facts' version (facts_version) the cached numbers belong to
    fresh: bool = False  # recompute instead of reading the cache

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> tuple[datetime.date, datetime.date]:
        """The window of the same length just before this one (what "compare" sets numbers against)."""
        window = store.Window(self.start, self.end, None).previous()
        return window.start, window.end

    def window(self, grain: str | None = None) -> store.Window:
        return store.Window(self.start, self.end, grain)

    def params(self, **overrides) -> dict[str, str]:
        """The GET parameters that rebuild this query (a preset, or from/to), with `overrides` applied;
        an override of None drops the parameter."""
        values: dict[str, str] = {}
        if self.preset:
            values["preset"] = self.preset
        else:
            values.update({"from": self.start.isoformat(), "to": self.end.isoformat()})
        if self.compare:
            values["compare"] = COMPARE
        values.update({name: str(value) for name, value in self.filters.items()})
        for name, value in overrides.items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = str(value)
        return values

    def querystring(self, **overrides) -> str:
        return urlencode(self.params(**overrides))

    def as_dict(self) -> dict:
        """The query as the dashboards' API echoes it."""
        previous = self.previous
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "preset": self.preset or None,
            "compare": COMPARE if self.compare else None,
            "previous_from": previous[0].isoformat(),
            "previous_to": previous[1].isoformat(),
            "filters": dict(self.filters),
        }


def quarter_range(org, day: datetime.date, shift: int = 0) -> tuple[datetime.date, datetime.date]:
    """The organisation's fiscal quarter holding `day` (`shift` quarters later or earlier)."""
    start_month = org.fiscal_year_start_month
    year, quarter = shift_quarter(*fiscal_quarter_of(start_month, day), shift)
    return fiscal_quarter_range(start_month, year, quarter)


def preset_range(org, preset: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day of a preset; the "this …" presets end today, not at the period's end."""
    if preset in ("last_7", "last_30", "last_90"):
        days = int(preset.split("_")[1])
        return today - datetime.timedelta(days=days - 1), today
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        end = today.replace(day=1) - datetime.timedelta(days=1)
        return end.replace(day=1), end
    if preset == "this_quarter":
        return quarter_range(org, today)[0], today
    if preset == "last_quarter":
        return quarter_range(org, today, -1)
    raise ValueError(preset)


def _date(values, name: str, errors: dict) -> datetime.date | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        errors[name] = "give a date (YYYY-MM-DD), or choose a preset."
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"{raw!r} is not a date (YYYY-MM-DD)."
        return None


def parse_query(
    org, values, *, default_preset: str = "last_30", today: datetime.date | None = None
) -> DashboardQuery:
    """Read a dashboard query from GET parameters (a QueryDict or dict); raise engine.QueryError naming
    each bad parameter. Without preset, from or to, `default_preset` applies; days are the
    organisation's local days (`today` defaults to its local today)."""
    today = today or engine.local_today(org)
    errors: dict[str, str] = {}
    preset = (values.get("preset") or "").strip()
    custom = bool(values.get("from") or values.get("to"))
    if not preset and not custom:
        preset = default_preset
    start = end = None
    if preset:
        if preset not in PRESETS:
            errors["preset"] = f"{preset!r} is not one of {', '.join(PRESETS)}; or leave it empty."
        else:
            start, end = preset_range(org, preset, today)
    else:
        start, end = _date(values, "from", errors), _date(values, "to", errors)
        if start and end:
            if end < start:
                errors["to"] = "must not be before from."
            elif (end - start).days + 1 > MAX_DAYS:
                errors["from"] = f"the range may cover at most {MAX_DAYS} days."
    compare = (values.get("compare") or "").strip()
    if compare not in ("", COMPARE):
        errors["compare"] = f"{compare!r} is not supported; use {COMPARE}."
    filters = {}
    try:
        filters = engine.parse_filters(org, values)
    except engine.QueryError as error:
        errors.update(error.errors)
    if errors:
        raise engine.QueryError(errors)
    fresh = values.get("fresh") in ("1", "true")
    return DashboardQuery(org, start, end, preset, compare == COMPARE, filters, facts_version(org), fresh)


def filter_options(org, query: DashboardQuery | None = None) -> dict:
    """Choices for a filter bar: lead segments, teams, active members, the channels of the window's
    funnel facts (of the last 400 days without a query) and the campaigns' utm_campaign values."""
    from apps.accounts.models import Membership, Team
    from apps.execution.models import Campaign
    from apps.measurement.models import FunnelChannelDay
    from apps.strategy.models import Segment

    channels = FunnelChannelDay.objects.for_org(org).exclude(channel="")
    if query is not None:
        channels = channels.filter(day__gte=query.start, day__lte=query.end)
    else:  # the channels of the last year or so: a bounded read
        channels = channels.filter(day__gte=engine.local_today(org) - datetime.timedelta(days=400))
    campaigns = Campaign.objects.for_org(org).exclude(utm_campaign="").values_list("utm_campaign", flat=True)
    return {
        "segments": Segment.objects.for_org(org).filter(object_type="lead").order_by("name"),
        "teams": Team.objects.for_org(org).order_by("name"),
        "members": Membership.objects.for_org(org).filter(is_active=True).select_related("user"),
        "channels": sorted(set(channels.values_list("channel", flat=True).distinct()[:200])),
        "campaigns": sorted(set(campaigns)),
    }


# --- Drill-down ------------------------------------------------------------------------------------

# Each dashboard filter as the records list pages (apps.records.filters) take it.
LEAD_FILTERS = {
    "segment": "segment",
    "channel": "channel",
    "team": "team",
    "owner": "owner",
    "campaign": "utm_campaign",
}
OPPORTUNITY_FILTERS = {"channel": "channel", "team": "team", "owner": "owner", "campaign": "campaign"}
LISTS = {
    "leads": ("records_leads", LEAD_FILTERS),
    "opportunities": ("records_opportunities", OPPORTUNITY_FILTERS),
    # The offers behind the assignment figures (apps.execution.selectors.offers): the rep offered to is
    # the owner, channel and campaign are the lead's.
    "offers": ("execution_offers", OPPORTUNITY_FILTERS),
}


def drilldown_url(
    org, kind: str, query: DashboardQuery | None = None, *, window: tuple | None = None, **extra
) -> str:
    """The records list ("leads", "opportunities" or "offers") behind a number, carrying the dashboard's
    filters.

    `extra` are the list's own filters. Three of them take the days of the query's window (or of
    `window`, a (start, end) pair such as the previous period):

        entered_stage="mql"   leads that first entered MQL in the window (entered_from/entered_to)
        created=True          leads created (first stage event) / opportunities created in the window
        closed=True           opportunities closed in the window

    Offers always take the window's days (`from`, `to`: the days they were offered on).
    """
    name, mapping = LISTS[kind]
    params: dict[str, str] = {}
    if query is not None:
        params.update({mapping[k]: str(v) for k, v in query.filters.items() if k in mapping})
    start, end = window or ((query.start, query.end) if query is not None else (None, None))
    created, closed = extra.pop("created", False), extra.pop("closed", False)
    params.update({k: str(v) for k, v in extra.items() if v is not None})
    if start is not None:
        after = (end + datetime.timedelta(days=1)).isoformat()
        if extra.get("entered_stage"):
            params.update({"entered_from": start.isoformat(), "entered_to": end.isoformat()})
        if created and kind == "leads":
            params.update({"new_from": start.isoformat(), "new_to": end.isoformat()})
        if created and kind == "opportunities":
            params.update({"created_after": start.isoformat(), "created_before": after})
        if closed:
            params.update({"close_after": start.isoformat(), "close_before": after})
        if kind == "offers":
            params.update({"from": start.isoformat(), "to": end.isoformat()})
    return f"{_path(name, org.slug)}?{urlencode(params)}"


def _path(url_name: str, *args) -> str:
    # A dashboard links dozens of its numbers to the same few lists: each path is resolved once a build.
    return memo.remembered(("path", url_name, *args), lambda: reverse(url_name, args=list(args)))


# --- Showing numbers -------------------------------------------------------------------------------

UNITS = {
    "percent": "%",
    "ratio": TIMES,
    "days": "days",
    "hours": "hours",
    "minutes": "min",
    "seconds": "s",
    "months": "months",
}


def format_value(value, unit: str) -> str:
    """A number as the metric pages print it (apps.measurement.views.metrics.format_value)."""
    if value is None:
        return DASH
    if unit == "count":
        return f"{value:,.0f}"
    if unit in ("currency", "currency_per_day"):
        return f"{value:,.0f}" + (" per day" if unit == "currency_per_day" else "")
    suffix = UNITS.get(unit, "")
    return f"{value:,.1f}{' ' if suffix and suffix not in ('%', TIMES) else ''}{suffix}"


# --- Tables and charts ----------------------------------------------------------------------------


@dataclass
class Cell:
    """One number (or label) of a table: its plain value for CSV and API, its text for the page, and the
    records list behind it."""

    value: object
    shown: str = ""
    url: str = ""
    css: str = ""  # "better", "worse", "ahead", "behind", ... for colours

    def __post_init__(self):
        if not self.shown:
            self.shown = DASH if self.value is None else str(self.value)


@dataclass
class Table:
    key: str
    title: str
    columns: list[tuple[str, str]]  # (key, label)
    rows: list[dict[str, Cell]] = field(default_factory=list)
    empty: str = ""  # what to do when there is no row
    note: str = ""

    def header(self) -> list[str]:
        return [key for key, _ in self.columns]

    def plain_rows(self) -> list[list]:
        return [[row[key].value if key in row else None for key, _ in self.columns] for row in self.rows]

    def shown_rows(self) -> list[list[Cell]]:
        """Rows as the page prints them, in column order."""
        return [[row.get(key) or Cell(None) for key, _ in self.columns] for row in self.rows]

    def as_dict(self) -> dict:
        """The table as the API gives it: one object per row, keyed by column."""
        return {
            "title": self.title,
            "columns": self.header(),
            "rows": [dict(zip(self.header(), values, strict=True)) for values in self.plain_rows()],
            **({"note": self.note} if self.note else {}),
        }


@dataclass
class Chart:
    key: str
    title: str
    figure: str | None  # apps.core.charts JSON; None when there is nothing to draw
    table: Table  # the numbers drawn, for the CSV export and the API


@dataclass
class Dashboard:
    query: DashboardQuery
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # dashboard-specific JSON-ready sections

    def export(self, key: str) -> Table | None:
        """The table, or the table behind the chart, with this key."""
        for table in self.tables:
            if table.key == key:
                return table
        for chart in self.charts:
            if chart.key == key:
                return chart.table
        return None

    def table(self, key: str) -> Table | None:
        return next((t for t in self.tables if t.key == key), None)

    def chart(self, key: str) -> Chart | None:
        return next((c for c in self.charts if c.key == key), None)

    def as_dict(self) -> dict:
        return {
            "query": self.query.as_dict(),
            **self.extra,
            "tables": {table.key: table.as_dict() for table in self.tables},
            "charts": {chart.key: {**chart.table.as_dict(), "title": chart.title} for chart in self.charts},
        }


def metric_url(org, metric_key: str, query: DashboardQuery, **params) -> str:
    """The metric's page over the query's window and filters (for numbers no records list can show)."""
    values = {"from": query.start.isoformat(), "to": query.end.isoformat(), **query.filters, **params}
    return f"{_path('measurement_metric', org.slug, metric_key)}?{urlencode(values)}"


# --- Cached reads ----------------------------------------------------------------------------------

# Facts change only when a rollup finishes, and a review reads the same numbers many times between two
# rollups: what a dashboard computes from facts is cached under the rollup's finishing time (as the KPI
# tree does), so a new rollup is never hidden; what people edit (action items, goals, red flags) is read
# on every request. `fresh` (the pages' ?fresh=1) recomputes.
CACHE_SECONDS = 70 * 60


def facts_version(org) -> str:
    from apps.measurement.models import RollupState

    finished = RollupState.objects.for_org(org).values_list("finished_at", flat=True).first()
    return finished.isoformat() if finished else "none"


def cached(org, version: str, parts, compute, *, fresh: bool = False, seconds: int = CACHE_SECONDS):
    """compute(), or what it returned for the same `parts` under the same `version` (of the facts, or
    of whatever else it reads) within `seconds`."""
    spec = json.dumps(parts, sort_keys=True, default=str)
    key = f"dash:{org.pk}:{version}:{hashlib.sha256(spec.encode()).hexdigest()[:32]}"
    if not fresh:
        found = cache.get(key)
        if found is not None:
            return found[0]
    value = compute()
    cache.set(key, (value,), seconds)
    return value


def evaluate(
    query: DashboardQuery,
    metric_key: str,
    window: store.Window,
    group_by=None,
    *,
    compare=False,
    params=None,
    total=True,
) -> dict:
    """engine.evaluate with the query's filters: {"total", "total_previous", "rows"}."""
    result = engine.evaluate(
        query.org, BY_KEY[metric_key], window, group_by, compare, params or {}, query.filters, total=total
    )
    return {"total": result.total, "total_previous": result.total_previous, "rows": result.rows}


def section(query: DashboardQuery, name: str, parts: list, compute):
    """The part of a dashboard computed from facts, cached for this query until the next rollup.

    `parts` name what else it depends on (plans, stage definitions, today)."""
    spec = [name, query.org.slug, query.start, query.end, query.compare, query.filters, *parts]
    return cached(query.org, query.version, spec, compute, fresh=query.fresh)


def primary_plans_stamp(org) -> list:
    """The primary plans and when each last changed: targets and leaks follow their inputs."""
    from apps.strategy.models import SavedPlan

    plans = SavedPlan.objects.for_org(org).filter(is_primary=True).order_by("pk")
    return memo.remembered(("primary_plans", org.pk), lambda: list(plans.values_list("pk", "updated_at")))


def metric_total(query: DashboardQuery, metric_key: str, *, compare: bool | None = None, **params) -> dict:
    """One metric's total over the query's window (and the previous one when comparing; `compare`
    defaults to the query's), or why a filter cannot apply:
    {"key", "label", "unit", "direction", "value", "previous", "change", "unavailable"}."""
    metric = BY_KEY[metric_key]
    reasons = engine.filter_errors(metric, query.filters)
    row = {
        "key": metric_key,
        "label": metric.name,
        "unit": metric.unit,
        "direction": metric.direction,
        "value": None,
        "previous": None,
        "change": None,
        "unavailable": " ".join(reasons.values()) or None,
    }
    if reasons:
        return row
    compare = query.compare if compare is None else compare
    result = evaluate(query, metric_key, query.window(), compare=compare, params=params)
    row["value"], row["previous"] = result["total"], result["total_previous"]
    if row["value"] is not None and row["previous"] is not None:
        row["change"] = round(row["value"] - row["previous"], 6)
    return row


def metric_cells(query: DashboardQuery, row: dict, url: str = "") -> dict[str, Cell]:
    """A metric_total row as table cells (value, previous, change), "n/a" where a filter cannot apply."""
    if row["unavailable"]:
        return {"value": Cell(None, "n/a"), "previous": Cell(None, "n/a"), "change": Cell(None, DASH)}
    change = row["change"]
    css = ""
    if change:
        css = "better" if (change > 0) == (row["direction"] == "higher") else "worse"
    return {
        "value": Cell(
            row["value"], format_value(row["value"], row["unit"]), url=url if row["value"] is not None else ""
        ),
        "previous": Cell(row["previous"], format_value(row["previous"], row["unit"])),
        "change": Cell(change, format_change(change, row["unit"]), css=css),
    }


def format_change(change: float | None, unit: str) -> str:
    """A difference with its sign; percentages change by points."""
    if change is None:
        return DASH
    sign = "+" if change > 0 else (MINUS if change < 0 else "\u00b1")
    if unit == "percent":
        return f"{sign}{abs(change):,.1f} pts"
    return sign + format_value(abs(change), unit)


def unavailable_note(rows: list[dict]) -> str:
    """Why some numbers read n/a: each filter a metric cannot take, said once."""
    reasons = dict.fromkeys(row["unavailable"] for row in rows if row.get("unavailable"))
    return " ".join(reasons)


# --- CSV -------------------------------------------------------------------------------------------


def table_csv(filename: str, header: list[str], rows):
    """A table (header + rows of plain values) as a CSV download; cells are defused by apps.core.csv."""
    return csv_response(filename, header, rows)


def export_response(dashboard: Dashboard, key: str, name: str):
    """The CSV of a dashboard's table or chart `key`, or None when it has no such table."""
    table = dashboard.export(key)
    if table is None:
        return None
    query = dashboard.query
    return table_csv(f"{name}-{key}-{query.start}-{query.end}.csv", table.header(), table.plain_rows())
