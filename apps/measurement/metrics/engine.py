"""One engine for every metric: the page, the API and the CSV export all call `evaluate`.

`evaluate` checks the query (each problem names its parameter), computes the
metric over the window and, when asked, over the previous window of the same
length, and returns plain rows: the same numbers wherever they are shown.
"""

import datetime
import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.utils import timezone

from apps.accounts.models import Membership, Team, TeamMember
from apps.strategy.models import Segment

from .. import store
from .catalogue import BY_KEY, Metric, Query

MAX_DAYS = 3 * 366
MAX_DAYS_BY_DAY = 400

# Filters a query can narrow its facts by, in the order the pages show them. `team` is the owner being an
# active member of the team; `segment` is only kept by the funnel counts (FunnelSegmentDay), which carry
# no other dimension, so it combines with no other filter and no other grouping.
FILTERS = ("segment", "channel", "team", "owner", "campaign")


class QueryError(ValueError):
    """Bad query parameters: {parameter: reason}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Result:
    metric: Metric
    start: datetime.date
    end: datetime.date
    grain: str | None
    group_by: str | None
    params: dict
    compare: bool
    rows: list[dict] = field(default_factory=list)  # {period, group, group_label, value, previous}
    filters: dict = field(default_factory=dict)  # as parse_filters gives them: {name: value}
    total: float | None = None
    total_previous: float | None = None


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else round(value, 6)


def local_today(org) -> datetime.date:
    """Today in the organisation's time zone: the days of its facts are its local days."""
    return timezone.localdate(timezone.now(), ZoneInfo(org.time_zone))


def parse(
    metric_key: str, values, today: datetime.date | None = None
) -> tuple[Metric, store.Window, str | None, bool, dict]:
    """Read a query from request parameters (a QueryDict or dict); raise QueryError naming each bad one.

    Without from/to the range is the 90 days ending `today` (pass the organisation's `local_today`)."""
    errors: dict[str, str] = {}
    metric = BY_KEY.get(metric_key)
    if metric is None:
        raise QueryError({"metric": f"{metric_key!r} is not a metric; GET /api/v1/metrics/ lists them."})
    today = today or datetime.date.today()
    dates = {}
    for name, default in (("from", today - datetime.timedelta(days=89)), ("to", today)):
        raw = values.get(name)
        try:
            dates[name] = datetime.date.fromisoformat(raw) if raw else default
        except ValueError:
            errors[name] = f"{raw!r} is not a date (YYYY-MM-DD)."
    grain = values.get("grain") or "week"
    if grain not in store.GRAINS:
        errors["grain"] = f"{grain!r} is not one of {', '.join(store.GRAINS)}."
    group_by = values.get("group_by") or None
    if group_by and group_by not in metric.dimensions:
        allowed = ", ".join(metric.dimensions) or "nothing"
        errors["group_by"] = f"{metric.key} can be grouped by {allowed}, not {group_by!r}."
    compare = values.get("compare") or ""
    if compare not in ("", "previous_period"):
        errors["compare"] = f"{compare!r} is not supported; use previous_period."
    params = {}
    for param in metric.params:
        raw = values.get(param.name)
        if raw in (None, ""):
            continue
        if param.choices and raw not in param.choices:
            errors[param.name] = f"{raw!r} is not one of {', '.join(param.choices)}."
        elif param.name == "target":
            try:
                if float(raw) <= 0:
                    raise ValueError
            except ValueError:
                errors[param.name] = f"{raw!r} is not a positive number."
        params[param.name] = raw
    if "from" in dates and "to" in dates:
        span = (dates["to"] - dates["from"]).days + 1
        if span < 1:
            errors["to"] = "must not be before from."
        elif span > MAX_DAYS:
            errors["from"] = f"the range may cover at most {MAX_DAYS} days."
        elif grain == "day" and span > MAX_DAYS_BY_DAY:
            errors["grain"] = f"a daily series may cover at most {MAX_DAYS_BY_DAY} days."
    if errors:
        raise QueryError(errors)
    window = store.Window(dates["from"], dates["to"], grain)
    return metric, window, group_by, compare == "previous_period", params


def parse_all(metric_key: str, values, *, org, today: datetime.date | None = None):
    """`parse` and `parse_filters` together, every bad parameter in one QueryError.

    Returns (metric, window, group_by, compare, params, filters)."""
    errors: dict[str, str] = {}
    parsed = None
    try:
        parsed = parse(metric_key, values, today=today)
    except QueryError as error:
        errors.update(error.errors)
        if "metric" in error.errors:
            raise
    metric = BY_KEY[metric_key]
    group_by = values.get("group_by") or None
    filters = {}
    try:
        filters = parse_filters(org, values, metric, group_by if group_by in metric.dimensions else None)
    except QueryError as error:
        errors.update(error.errors)
    if errors:
        raise QueryError(errors)
    return (*parsed, filters)


def _whole_id(raw, name: str, errors: dict) -> int | None:
    text = str(raw).strip()
    if not text.isdigit():
        errors[name] = f"{raw!r} is not an id (a whole number)."
        return None
    return int(text)


def parse_filters(org, values, metric: Metric | None = None, group_by: str | None = None) -> dict:
    """The filters among `values` ({name: value}, blanks dropped); raise QueryError naming each bad one.

    Ids must name a segment, team or member of `org` (another organisation's id is simply unknown
    here). With a `metric`, a filter it cannot honour is an error on that filter (see filter_errors),
    never ignored."""
    errors: dict[str, str] = {}
    found: dict = {}
    for name in FILTERS:
        raw = values.get(name)
        if raw is None or str(raw).strip() == "":
            continue
        if name in ("channel", "campaign"):
            found[name] = str(raw).strip()
            continue
        pk = _whole_id(raw, name, errors)
        if pk is None:
            continue
        model = {"segment": Segment, "team": Team, "owner": Membership}[name]
        if not model.objects.for_org(org).filter(pk=pk).exists():
            errors[name] = f"no {'member' if name == 'owner' else name} of this organisation has id {pk}."
            continue
        found[name] = pk
    if metric is not None:
        errors.update(filter_errors(metric, found, group_by))
    if errors:
        raise QueryError(errors)
    return found


def filter_errors(metric: Metric, filters: dict, group_by: str | None = None) -> dict[str, str]:
    """{filter: reason} for each filter `metric` cannot honour: the metric must have the dimension,
    and segment stands alone (its facts carry no other dimension)."""
    errors: dict[str, str] = {}
    for name in filters:
        if name not in metric.dimensions:
            allowed = [f for f in FILTERS if f in metric.dimensions]
            errors[name] = f"{metric.name} cannot be filtered by {name}; " + (
                f"it can be filtered by {', '.join(allowed)}." if allowed else "it takes no filter."
            )
    others = [f for f in filters if f != "segment"]
    if "segment" in filters and "segment" not in errors:
        if others:
            errors["segment"] = (
                f"cannot be combined with {', '.join(others)}: the segment figures carry no other dimension."
            )
        elif group_by and group_by != "segment":
            errors["segment"] = (
                f"cannot be combined with group_by={group_by}; group by segment or not at all."
            )
    if group_by == "segment":
        for name in others:
            errors.setdefault(name, "cannot be combined with group_by=segment.")
    return errors


def filter_lookups(org, filters: dict) -> dict:
    """Parsed filters as the values the store filters on: a team becomes its active members' ids."""
    lookups = dict(filters)
    if "team" in lookups:
        members = TeamMember.objects.for_org(org).filter(team_id=lookups["team"], membership__is_active=True)
        lookups["team"] = sorted(members.values_list("membership_id", flat=True))
    return lookups


def evaluate(
    org,
    metric: Metric,
    window: store.Window,
    group_by=None,
    compare=False,
    params=None,
    filters=None,
    *,
    total: bool = True,
) -> Result:
    """The metric over the window (and the previous one with `compare`), narrowed by parsed `filters`.

    `total=False` skips the range's total (None) when only the series is wanted."""
    params = params or {}
    filters = filters or {}
    lookups = filter_lookups(org, filters)
    series, whole = _series_and_total(org, metric, window, group_by, params, lookups, total)
    result = Result(metric, window.start, window.end, window.grain, group_by, params, compare)
    result.filters = dict(filters)
    result.total = _number(whole.iloc[0]) if whole is not None and len(whole) else None
    previous = None
    if compare:
        previous, previous_total = _series_and_total(
            org, metric, window.previous(), group_by, params, lookups, total
        )
        if previous_total is not None and len(previous_total):
            result.total_previous = _number(previous_total.iloc[0])
    labels = _labels(org, group_by, series)
    periods = window.periods()
    previous_periods = window.previous().periods() if compare else []
    for key, value in series.items():
        period, group = key if group_by else (key, None)
        group = _group_value(group)
        row = {
            "period": period,
            "group": group,
            "group_label": labels.get(group, group),
            "value": _number(value),
        }
        if compare:
            # The previous window's period in the same position (the previous week of this week, …).
            position = periods.index(period)
            earlier = previous_periods[position] if position < len(previous_periods) else None
            lookup = (earlier, group) if group_by else earlier
            row["previous"] = _number(previous.get(lookup)) if earlier is not None else None
        result.rows.append(row)
    return result


def _series_and_total(org, metric: Metric, window: store.Window, group_by, params, lookups=None, total=True):
    """The metric by period (and group), and over the whole window: one computation when they coincide."""
    lookups = lookups or {}
    series = metric.compute(Query(org, window, group_by, params, lookups))
    if window.grain is None and group_by is None:
        return series, series
    if not total:
        return series, None
    whole = store.Window(window.start, window.end, None)
    return series, metric.compute(Query(org, whole, None, params, lookups))


def _group_value(value):
    """A group as JSON can carry it: pandas turns a missing owner into NaN and the others into floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


def _labels(org, group_by, series) -> dict:
    """Readable names for group values: member, segment and team names, "(none)" for blanks."""
    if not group_by:
        return {}
    groups = {_group_value(g) for g in series.index.get_level_values("group")} if len(series) else set()
    labels = {g: ("(none)" if g in ("", None) else str(g)) for g in groups}
    if group_by == "owner":
        ids = [g for g in groups if g]
        for member in Membership.objects.for_org(org).filter(pk__in=ids).select_related("user"):
            labels[member.pk] = member.user.display_name
    if group_by == "segment":
        labels.update(Segment.objects.for_org(org).filter(pk__in=groups).values_list("pk", "name"))
    if group_by == "team":
        labels[None] = "(no team)"
        labels.update(Team.objects.for_org(org).filter(pk__in=groups - {None}).values_list("pk", "name"))
    return labels
