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

from apps.accounts.models import Membership
from apps.strategy.models import Segment

from .. import store
from .catalogue import BY_KEY, Metric, Query

MAX_DAYS = 3 * 366
MAX_DAYS_BY_DAY = 400


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


def evaluate(org, metric: Metric, window: store.Window, group_by=None, compare=False, params=None) -> Result:
    params = params or {}
    series, total = _series_and_total(org, metric, window, group_by, params)
    result = Result(metric, window.start, window.end, window.grain, group_by, params, compare)
    result.total = _number(total.iloc[0]) if len(total) else None
    previous = None
    if compare:
        previous, previous_total = _series_and_total(org, metric, window.previous(), group_by, params)
        result.total_previous = _number(previous_total.iloc[0]) if len(previous_total) else None
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


def _series_and_total(org, metric: Metric, window: store.Window, group_by, params):
    """The metric by period (and group), and over the whole window: one computation when they coincide."""
    series = metric.compute(Query(org, window, group_by, params))
    if window.grain is None and group_by is None:
        return series, series
    whole = store.Window(window.start, window.end, None)
    return series, metric.compute(Query(org, whole, None, params))


def _group_value(value):
    """A group as JSON can carry it: pandas turns a missing owner into NaN and the others into floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


def _labels(org, group_by, series) -> dict:
    """Readable names for group values: member names for owners, segment names, "(none)" for blanks."""
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
    return labels
