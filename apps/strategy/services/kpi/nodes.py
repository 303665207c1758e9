"""KPI tree writes: nodes (create, update, move, delete), targets per period and hand-entered values."""

import datetime
import json
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from apps.accounts.services import active_member
from apps.core.errors import ServiceError
from apps.governance.changes.guard import ensure_direct_edit_allowed
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY
from apps.records.models import LifecycleStage
from apps.records.normalize import normalize_text
from apps.strategy.kpi_rules import period_of
from apps.strategy.models import KpiCombine, KpiKind, KpiNode, KpiTarget, KpiValue
from apps.strategy.models.kpi import KpiDirection, KpiGrain

FIELDS = ("name", "description", "parent", "position", "metric", "metric_params", "combine", "kind",
          "direction", "grain", "owner")  # fmt: skip
MAX_VALUE = Decimal("99999999999999.9999")  # the columns hold 18 digits, 4 of them decimals


# --- Cleaning ------------------------------------------------------------------------------------


def _choice(value, *, field: str, choices) -> str:
    text = normalize_text(value)
    if text not in choices.values:
        raise ServiceError(f"“{text}” is not one of: {', '.join(choices.values)}.", field=field)
    return text


def _name(value) -> str:
    text = normalize_text(value)
    if not text:
        raise ServiceError("Give the node a name.", field="name")
    if len(text) > 120:
        raise ServiceError(f"At most 120 characters ({len(text)} given).", field="name")
    return text


def _description(value) -> str:
    text = normalize_text(value)
    if len(text) > 300:
        raise ServiceError(f"At most 300 characters ({len(text)} given).", field="description")
    return text


def _metric(value) -> str:
    text = normalize_text(value)
    if text and text not in BY_KEY:
        raise ServiceError(
            f"“{text}” is not a catalogue metric; GET /api/v1/metrics/ lists them (leave it blank to enter "
            "values by hand).",
            field="metric",
        )
    return text


def _params(org, metric_key: str, value) -> dict:
    """The metric's extra parameters, checked by the metric engine (and stages against the funnel)."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ServiceError("Give the parameters as a JSON object.", field="metric_params") from None
    if not isinstance(value, dict):
        raise ServiceError("Give the parameters as an object of names and values.", field="metric_params")
    if not value:
        return {}
    if not metric_key:
        raise ServiceError("Only a node bound to a metric takes parameters.", field="metric_params")
    metric = BY_KEY[metric_key]
    names = {param.name: param for param in metric.params}
    cleaned = {}
    for name, raw in value.items():
        if name not in names:
            allowed = ", ".join(names) or "none"
            raise ServiceError(
                f"{metric.name} has no parameter “{name}” (it takes: {allowed}).", field="metric_params"
            )
        cleaned[name] = normalize_text(raw)
    try:
        engine.parse(metric_key, cleaned)
    except engine.QueryError as exc:
        name, reason = next(iter(exc.errors.items()))
        raise ServiceError(f"{name}: {reason}", field="metric_params") from None
    # A stage parameter has no fixed choices: its values are the organisation's own funnel stages.
    stages = {
        name: v for name, v in cleaned.items() if v and name.endswith("stage") and not names[name].choices
    }
    if stages:
        known = set(LifecycleStage.objects.for_org(org).values_list("key", flat=True))
        for name, stage in stages.items():
            if stage not in known:
                raise ServiceError(f"{name}: “{stage}” is not a stage of this funnel.", field="metric_params")
    return {name: v for name, v in cleaned.items() if v}


def _parent(org, value) -> KpiNode | None:
    if value in (None, ""):
        return None
    pk = value.pk if isinstance(value, KpiNode) else value
    found = KpiNode.objects.for_org(org).filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise ServiceError("No node of this organisation's KPI tree has this id.", field="parent")
    return found


def _position(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ServiceError(f"“{value}” is not a whole number.", field="position") from None
    if number < 0:
        raise ServiceError("A position cannot be negative.", field="position")
    return number


def _number(value, *, field: str, negative: bool = False) -> Decimal:
    if isinstance(value, bool) or value in (None, ""):
        raise ServiceError("Give a number.", field=field)
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ServiceError(f"“{value}” is not a number; write it like 250000 or 12.5.", field=field) from None
    if not number.is_finite():
        raise ServiceError(f"“{value}” is not a number; write it like 250000 or 12.5.", field=field)
    if number < 0 and not negative:
        raise ServiceError("Cannot be negative.", field=field)
    if abs(number) > MAX_VALUE:
        raise ServiceError(f"At most {MAX_VALUE:,} in size.", field=field)
    if number != number.quantize(Decimal("0.0001")):
        raise ServiceError("Use at most four decimals.", field=field)
    return number


def _period_start(org, node: KpiNode, value) -> datetime.date:
    if isinstance(value, datetime.date):
        day = value
    else:
        try:
            day = datetime.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ServiceError(f"“{value}” is not a date (YYYY-MM-DD).", field="period_start") from None
    first, _ = period_of(org, node.grain, day)
    if day != first:
        what = "fiscal quarter" if node.grain == KpiGrain.QUARTER else "month"
        raise ServiceError(
            f"Give the first day of a {what} (the period holding {day:%d %b %Y} starts {first:%d %b %Y}).",
            field="period_start",
        )
    return day


def node_values(node: KpiNode) -> dict:
    """A node as the service's field names (what a form or a partial update starts from)."""
    return {name: getattr(node, name) for name in FIELDS}


def _clean(org, values: dict, *, base: dict) -> dict:
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])
    cleaned = dict(base)
    simple = {
        "name": _name,
        "description": _description,
        "metric": _metric,
        "combine": lambda v: _choice(v, field="combine", choices=KpiCombine),
        "kind": lambda v: _choice(v, field="kind", choices=KpiKind),
        "direction": lambda v: _choice(v, field="direction", choices=KpiDirection),
        "grain": lambda v: _choice(v, field="grain", choices=KpiGrain),
        "owner": lambda v: active_member(org, v),
        "parent": lambda v: _parent(org, v),
        "position": _position,
    }
    for name, clean in simple.items():
        if name in values:
            cleaned[name] = clean(values[name])
    if "metric_params" in values or "metric" in values:
        raw = values.get("metric_params", {} if "metric" in values else base.get("metric_params"))
        cleaned["metric_params"] = _params(org, cleaned["metric"], raw)
    if not cleaned.get("name"):
        raise ServiceError("Give the node a name.", field="name")
    if "direction" not in values and base.get("direction") is None:
        metric = BY_KEY.get(cleaned["metric"])
        cleaned["direction"] = metric.direction if metric else KpiDirection.HIGHER.value
    return cleaned


# --- Tree writes ---------------------------------------------------------------------------------


def _same_org(org, node: KpiNode) -> None:
    if node.organization_id != org.pk:
        raise ServiceError("No such node in this organisation.", code="not_found")


def _lock_tree(org) -> dict[int, int | None]:
    """Lock the organisation's nodes (tree changes are serialised) and return {id: parent id}."""
    return dict(
        KpiNode.objects.for_org(org).select_for_update().order_by("pk").values_list("pk", "parent_id")
    )


def _check_not_descendant(parents: dict[int, int | None], node_pk: int, parent_pk: int | None) -> None:
    seen, current = set(), parent_pk
    while current is not None and current not in seen:
        if current == node_pk:
            raise ServiceError(
                "A node cannot be placed under itself or one of its own children.", field="parent"
            )
        seen.add(current)
        current = parents.get(current)


def _place(org, node: KpiNode, parent_id: int | None, position: int | None) -> None:
    """Put `node` among the children of `parent_id` at `position` (the end when None); renumber them."""
    siblings = list(
        KpiNode.objects.for_org(org)
        .filter(parent_id=parent_id)
        .exclude(pk=node.pk)
        .order_by("position", "pk")
    )
    index = len(siblings) if position is None else min(position, len(siblings))
    siblings.insert(index, node)
    for number, sibling in enumerate(siblings):
        if sibling.pk == node.pk:
            node.position = number
        elif sibling.position != number:
            KpiNode.objects.filter(pk=sibling.pk).update(position=number)


@transaction.atomic
def kpi_node_create(*, org, **fields) -> KpiNode:
    ensure_direct_edit_allowed(org, "kpi")
    base = {
        **dict.fromkeys(("name", "description", "metric"), ""),
        **dict.fromkeys(("direction", "owner", "parent", "position")),
        "metric_params": {},
        "combine": KpiCombine.DRIVER.value,
        "kind": KpiKind.LAGGING.value,
        "grain": KpiGrain.MONTH.value,
    }
    cleaned = _clean(org, fields, base=base)
    _lock_tree(org)
    position = cleaned.pop("position")
    node = KpiNode(organization=org, **cleaned)
    _place(org, node, node.parent_id, position)
    node.save()
    return node


@transaction.atomic
def kpi_node_update(*, org, node: KpiNode, **fields) -> KpiNode:
    """Change some fields; a new parent or position moves the node (never under its own descendants)."""
    ensure_direct_edit_allowed(org, "kpi")
    _same_org(org, node)
    parents = _lock_tree(org)
    locked = KpiNode.objects.get(pk=node.pk, organization=org)
    cleaned = _clean(org, fields, base=node_values(locked))
    if cleaned["grain"] != locked.grain and (locked.targets.exists() or locked.values.exists()):
        raise ServiceError(
            "This node has targets or values for its current grain; delete them before changing it.",
            field="grain",
        )
    new_parent = cleaned["parent"].pk if cleaned["parent"] else None
    _check_not_descendant(parents, node.pk, new_parent)
    moved = new_parent != locked.parent_id or (
        "position" in fields and cleaned["position"] != locked.position
    )
    position = cleaned.pop("position")
    for name, value in cleaned.items():
        setattr(node, name, value)
    if moved:
        _place(org, node, new_parent, position)
    node.save()
    return node


def kpi_node_move(*, org, node: KpiNode, parent, position: int | None = None) -> KpiNode:
    return kpi_node_update(org=org, node=node, parent=parent, position=position)


@transaction.atomic
def kpi_node_delete(*, org, node: KpiNode) -> None:
    """Delete a node; its children take its place under its parent, in their order."""
    ensure_direct_edit_allowed(org, "kpi")
    _same_org(org, node)
    _lock_tree(org)
    node = KpiNode.objects.get(pk=node.pk, organization=org)
    siblings = list(KpiNode.objects.for_org(org).filter(parent_id=node.parent_id).order_by("position", "pk"))
    children = list(KpiNode.objects.for_org(org).filter(parent=node).order_by("position", "pk"))
    index = next(i for i, sibling in enumerate(siblings) if sibling.pk == node.pk)
    ordered = siblings[:index] + children + siblings[index + 1 :]
    node.delete()
    for number, item in enumerate(ordered):
        KpiNode.objects.filter(pk=item.pk).update(parent_id=node.parent_id, position=number)


# --- Targets and values --------------------------------------------------------------------------


@transaction.atomic
def kpi_target_set(*, org, node: KpiNode, period_start, value) -> KpiTarget:
    """Set (or replace) the node's target for one period: a month or a fiscal quarter, by its grain."""
    ensure_direct_edit_allowed(org, "kpi")
    _same_org(org, node)
    day = _period_start(org, node, period_start)
    number = _number(value, field="value")
    try:
        with transaction.atomic():
            target, _ = KpiTarget.objects.update_or_create(
                organization=org, node=node, period_start=day, defaults={"value": number}
            )
    except IntegrityError:  # a concurrent write made the row between the lookup and the insert
        raise ServiceError(
            "Another target for this period was just saved; try again.", field="period_start"
        ) from None
    return target


@transaction.atomic
def kpi_target_delete(*, org, node: KpiNode, period_start) -> bool:
    ensure_direct_edit_allowed(org, "kpi")
    _same_org(org, node)
    day = _period_start(org, node, period_start)
    deleted, _ = KpiTarget.objects.for_org(org).filter(node=node, period_start=day).delete()
    return bool(deleted)


@transaction.atomic
def kpi_value_set(*, org, node: KpiNode, period_start, value) -> KpiValue:
    """Enter one period's actual of a node that is not bound to a metric."""
    _same_org(org, node)
    if node.metric:
        raise ServiceError(
            f"This node reads its actuals from the metric “{node.metric}”; values are entered by hand only "
            "for nodes without a metric.",
            field="metric",
        )
    day = _period_start(org, node, period_start)
    number = _number(value, field="value", negative=True)
    try:
        with transaction.atomic():
            entry, _ = KpiValue.objects.update_or_create(
                organization=org, node=node, period_start=day, defaults={"value": number}
            )
    except IntegrityError:
        raise ServiceError(
            "Another value for this period was just saved; try again.", field="period_start"
        ) from None
    return entry
