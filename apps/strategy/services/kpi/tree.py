"""Reading the KPI tree with every node's status, and storing statuses (alerting owners once)."""

import datetime
import hashlib
import json
import math
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.execution.services.notifications import notify
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY, Metric, Query
from apps.measurement.models import RollupState
from apps.strategy.kpi_rules import (
    NO_DATA,
    OFF_TRACK,
    TREND_PERIODS,
    accumulates,
    expected_by_now,
    pace,
    period_label,
    recent_periods,
    status_for,
    trend_of,
)
from apps.strategy.models import KpiNode, KpiStatus, KpiTarget, KpiValue
from apps.strategy.models.kpi import KpiGrain

ALERT_KIND = "kpi_off_track"
# How long a metric series is reused. A rollup makes every cached series stale at once (its finish
# time is part of the key). The hourly refresh recomputes and re-caches every series, so with a little
# more than an hour the page never waits for a computation; data the rollups do not cover (spend
# entries, subscriptions) shows within the hour, or at once when an editor asks for fresh figures.
SERIES_SECONDS = 70 * 60

# --- Reading the tree ----------------------------------------------------------------------------


@dataclass
class Point:
    start: datetime.date
    end: datetime.date
    actual: float | None
    target: float | None


@dataclass
class NodeState:
    node: KpiNode
    depth: int
    path: str
    unit: str
    period_start: datetime.date
    period_end: datetime.date
    elapsed_share: float
    actual: float | None
    target: float | None
    expected: float | None
    pace: float | None  # None without data; inf when any actual meets the target
    trend: str | None
    status: str
    reason: str
    series: list[Point]
    children: list["NodeState"] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return KpiStatus(self.status).label

    @property
    def owner_name(self) -> str:
        owner = self.node.owner
        return owner.user.display_name if owner is not None and owner.is_active else ""

    @property
    def pace_percent(self) -> float | None:
        if self.pace is None or math.isinf(self.pace):
            return None
        return round(self.pace * 100, 1)

    def as_dict(self) -> dict:
        """The node as the API and the CSV give it (numbers as the metric engine returns them)."""
        node = self.node
        return {
            "id": node.pk,
            "name": node.name,
            "path": self.path,
            "parent": node.parent_id,
            "metric": node.metric,
            "metric_params": node.metric_params,
            "combine": node.combine,
            "kind": node.kind,
            "direction": node.direction,
            "grain": node.grain,
            "unit": self.unit,
            "owner": node.owner_id if self.owner_name else None,
            "owner_name": self.owner_name,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "elapsed_share": round(self.elapsed_share, 6),
            "actual": self.actual,
            "target": self.target,
            "expected": None if self.expected is None else round(self.expected, 6),
            "pace_percent": self.pace_percent,
            "trend": self.trend,
            "status": self.status,
            "status_reason": self.reason,
            "series": [
                {"period_start": p.start, "period_end": p.end, "actual": p.actual, "target": p.target}
                for p in self.series
            ],
        }


@dataclass
class Tree:
    today: datetime.date
    roots: list[NodeState]
    nodes: list[NodeState]  # depth first, in sibling order
    computed_at: datetime.datetime | None  # when the oldest metric series shown was computed

    def counts(self) -> dict[str, int]:
        found = {status: 0 for status in KpiStatus.values}
        for state in self.nodes:
            found[state.status] += 1
        return found


def _rounded(value) -> float | None:
    """A value as the metric engine returns it: rounded to six places, None where undefined."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else round(value, 6)


def _metric_series(org, metric: Metric, params: dict, grain: str, periods, today) -> list[float | None]:
    """The metric's value in each period (the last one up to today).

    The catalogue's computation is called directly, once over the whole range
    by month or calendar quarter (once per period for a fiscal quarter off the
    calendar's): `engine.evaluate` would compute the range's total as well,
    which the tree never shows, doubling the page's cost. The values are the
    engine's, rounded as it rounds them."""
    aligned = grain == KpiGrain.MONTH or org.fiscal_year_start_month % 3 == 1
    if aligned:
        window = store.Window(periods[0][0], today, "month" if grain == KpiGrain.MONTH else "quarter")
        series = metric.compute(Query(org, window, None, params))
        return [_rounded(series.get(start)) for start, _ in periods]
    values = []
    for start, end in periods:
        series = metric.compute(Query(org, store.Window(start, min(end, today), None), None, params))
        values.append(_rounded(series.iloc[0]) if len(series) else None)
    return values


def _elapsed_share(start: datetime.date, end: datetime.date, today: datetime.date) -> float:
    return ((today - start).days + 1) / ((end - start).days + 1)


def _state(node: KpiNode, periods, actuals, targets, *, depth: int, path: str, today) -> NodeState:
    metric = BY_KEY.get(node.metric)
    unit = metric.unit if metric else "number"
    start, end = periods[-1][0], periods[-1][1]
    share = _elapsed_share(start, end, today)
    series = [Point(s, e, a, t) for (s, e), a, t in zip(periods, actuals, targets, strict=True)]
    actual, target = actuals[-1], targets[-1]
    expected = (
        None
        if target is None
        else expected_by_now(target, accumulating=accumulates(node.metric), elapsed_share=share)
    )
    trend = trend_of(actuals[-1 - TREND_PERIODS : -1], node.direction)
    status, reason = status_for(
        actual=actual, target=target, expected=expected, direction=node.direction, trend=trend
    )
    ratio = pace(actual, expected, node.direction) if status != NO_DATA else None
    return NodeState(
        node,
        depth,
        path,
        unit,
        start,
        end,
        share,
        actual,
        target,
        expected,
        ratio,
        trend,
        status,
        reason,
        series,
    )


def _params_key(node: KpiNode) -> tuple:
    return (node.metric, json.dumps(node.metric_params, sort_keys=True), node.grain)


def _cache_key(org, node: KpiNode, periods, today: datetime.date, version) -> str:
    """Everything a metric series depends on but the data: the metric, its parameters, the periods."""
    spec = [node.metric, node.metric_params, [start.isoformat() for start, _ in periods], today.isoformat()]
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
    return f"kpi:series:{org.pk}:{version}:{digest}"


def _facts_version(org) -> str:
    """Changes when a rollup finishes, so new facts are never hidden behind a cached series."""
    finished = RollupState.objects.for_org(org).values_list("finished_at", flat=True).first()
    return finished.isoformat() if finished else "none"


def _evaluate(org, nodes, periods, today, *, fresh: bool):
    """Each distinct (metric, parameters, grain) series, from the cache when it holds it, else computed
    (and cached for SERIES_SECONDS); returns them and when the oldest was computed."""
    version = _facts_version(org)
    keys = {}
    for node in nodes:
        if node.metric in BY_KEY:
            keys.setdefault(
                _params_key(node), (node, _cache_key(org, node, periods[node.grain], today, version))
            )
    cached = {} if fresh else cache.get_many([key for _, key in keys.values()])
    evaluated, computed, missing = {}, [], {}
    for spec, (node, key) in keys.items():
        if key in cached:
            at, evaluated[spec] = cached[key]
            computed.append(at)
            continue
        metric = BY_KEY[node.metric]
        evaluated[spec] = _metric_series(
            org, metric, node.metric_params, node.grain, periods[node.grain], today
        )
        missing[key] = (timezone.now(), evaluated[spec])
        computed.append(missing[key][0])
    if missing:
        cache.set_many(missing, SERIES_SECONDS)
    return evaluated, min(computed, default=None)


@dataclass
class _Inputs:
    """What the states of `nodes` are computed from, each read once for all of them."""

    periods: dict[str, list]  # grain -> recent periods
    targets: dict[tuple[int, datetime.date], float]
    manual: dict[tuple[int, datetime.date], float]
    evaluated: dict[tuple, list]  # (metric, params, grain) -> value per period
    computed_at: datetime.datetime | None  # when the oldest metric series was computed

    def series(self, node: KpiNode) -> tuple[list, list]:
        """(actuals, targets) of the node, one per recent period."""
        periods = self.periods[node.grain]
        if node.metric in BY_KEY:
            actuals = self.evaluated[_params_key(node)]
        else:
            actuals = [self.manual.get((node.pk, start)) for start, _ in periods]
        return actuals, [self.targets.get((node.pk, start)) for start, _ in periods]


def _inputs(org, nodes: list[KpiNode], today: datetime.date, *, fresh: bool = False) -> _Inputs:
    periods = {grain: recent_periods(org, grain, today) for grain in {node.grain for node in nodes}}
    earliest = min(p[0][0] for p in periods.values())
    ids = [node.pk for node in nodes]
    window = {"node_id__in": ids, "period_start__gte": earliest, "period_start__lte": today}
    fields = ("node_id", "period_start", "value")
    targets = {
        (node_id, start): float(value)
        for node_id, start, value in KpiTarget.objects.for_org(org).filter(**window).values_list(*fields)
    }
    manual_ids = [node.pk for node in nodes if node.metric not in BY_KEY]
    manual = {}
    if manual_ids:
        rows = KpiValue.objects.for_org(org).filter(**{**window, "node_id__in": manual_ids})
        manual = {(node_id, start): float(value) for node_id, start, value in rows.values_list(*fields)}
    evaluated, computed_at = _evaluate(org, nodes, periods, today, fresh=fresh)
    return _Inputs(periods, targets, manual, evaluated, computed_at)


def kpi_tree(*, org, today: datetime.date | None = None, fresh: bool = False) -> Tree:
    """Every node with its current status, actual, target and last periods, as a tree.

    Metric series come from the cache when it holds them (see SERIES_SECONDS); `fresh` recomputes them."""
    today = today or engine.local_today(org)
    nodes = list(KpiNode.objects.for_org(org).select_related("owner__user").order_by("position", "pk"))
    if not nodes:
        return Tree(today, [], [], None)
    inputs = _inputs(org, nodes, today, fresh=fresh)
    children: dict[int | None, list[KpiNode]] = {}
    known = {node.pk for node in nodes}
    for node in nodes:
        children.setdefault(node.parent_id if node.parent_id in known else None, []).append(node)
    ordered: list[NodeState] = []

    def build(node: KpiNode, depth: int, trail: str) -> NodeState:
        actuals, targets = inputs.series(node)
        path = f"{trail} / {node.name}" if trail else node.name
        periods = inputs.periods[node.grain]
        state = _state(node, periods, actuals, targets, depth=depth, path=path, today=today)
        ordered.append(state)
        state.children = [build(child, depth + 1, path) for child in children.get(node.pk, [])]
        return state

    roots = [build(node, 0, "") for node in children.get(None, [])]
    return Tree(today, roots, ordered, inputs.computed_at)


def kpi_node_state(*, org, node: KpiNode, today: datetime.date | None = None) -> NodeState:
    """One node's state, as the tree shows it, without evaluating the other nodes."""
    today = today or engine.local_today(org)
    links = {
        pk: (parent, name)
        for pk, parent, name in KpiNode.objects.for_org(org).values_list("pk", "parent_id", "name")
    }
    trail, current = [], node.parent_id
    while current in links and len(trail) < len(links):
        trail.insert(0, links[current][1])
        current = links[current][0]
    inputs = _inputs(org, [node], today)
    actuals, targets = inputs.series(node)
    path = " / ".join([*trail, node.name])
    return _state(
        node, inputs.periods[node.grain], actuals, targets, depth=len(trail), path=path, today=today
    )


# --- Stored statuses and alerts ------------------------------------------------------------------


@dataclass
class RefreshResult:
    changed: int = 0
    alerted: int = 0


def _alert(org, node: KpiNode, state: NodeState) -> bool:
    owner = node.owner
    if owner is None or not owner.is_active:
        return False
    notify(
        org=org,
        recipient_id=owner.pk,
        kind=ALERT_KIND,
        title=f"KPI off track: {node.name}",
        body=f"{state.path} is off track for {period_label(node.grain, state.period_start, org)}: "
        f"{state.reason}",
        url=reverse("strategy_kpi_node", args=[org.slug, node.pk]),
    )
    return True


def kpi_refresh_statuses(*, org, today: datetime.date | None = None) -> RefreshResult:
    """Store every node's current status; alert the owner of each node that has just turned off track.

    Each change is claimed with a conditional update on the status read before,
    so two runs at once store and alert a turn only once."""
    result = RefreshResult()
    now = timezone.now()
    for state in kpi_tree(org=org, today=today, fresh=True).nodes:
        node = state.node
        if node.status == state.status:
            if node.status_reason != state.reason:
                KpiNode.objects.filter(pk=node.pk, status=state.status).update(
                    status_reason=state.reason[:300]
                )
            continue
        with transaction.atomic():
            claimed = KpiNode.objects.filter(pk=node.pk, status=node.status).update(
                status=state.status, status_changed_at=now, status_reason=state.reason[:300]
            )
            if not claimed:
                continue
            result.changed += 1
            if state.status == OFF_TRACK and _alert(org, node, state):
                result.alerted += 1
    return result


def organizations_with_kpis():
    from apps.accounts.models import Organization

    return Organization.objects.filter(pk__in=KpiNode.objects.values("organization_id")).order_by("pk")
