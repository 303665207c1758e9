"""The KPI tree: every node (name, metric and parameters, how children combine, kind, direction, grain,
owner, place in the tree) and its targets per period.

The document is {"nodes": [{"id", "parent", "position", "name", ..., "targets": [{"period_start",
"value"}]}]}. `id` is a node's id for nodes that exist; a proposed new node takes any other id (a
number or a text such as "new-1") that its children name as their `parent`. Nodes missing from the
document are deleted. Applying goes through the tree's own services (`kpi_node_create`, `_update`,
`_delete`, `kpi_target_set`, `_delete`), so every check they make applies; rolling back a request that
deleted nodes creates them again, with new ids.
"""

from decimal import Decimal

from apps.core.errors import ServiceError
from apps.strategy.models import KpiNode, KpiTarget
from apps.strategy.services import kpi as kpi_services

from . import base

SUBJECT = "kpi"
FIELDS = ("name", "description", "metric", "metric_params", "combine", "kind", "direction", "grain", "owner")
NODE_KEYS = {"id": (int, str), "parent": (int, str, type(None)), "position": int, "name": str,
             "description": str, "metric": str, "metric_params": dict, "combine": str, "kind": str,
             "direction": str, "grain": str, "owner": (int, type(None)), "targets": list}  # fmt: skip


def target_label(org, target=None) -> str:
    return "KPI tree"


def _value(number: Decimal) -> str:
    return format(number.normalize(), "f")


def export(org, target=None) -> dict:
    targets: dict[int, list] = {}
    for row in KpiTarget.objects.for_org(org).order_by("node_id", "period_start"):
        targets.setdefault(row.node_id, []).append(
            {"period_start": row.period_start.isoformat(), "value": _value(row.value)}
        )
    return {
        "nodes": [
            {
                "id": node.pk,
                "parent": node.parent_id,
                "position": node.position,
                **{name: getattr(node, name) for name in FIELDS if name != "owner"},
                "owner": node.owner_id,
                "targets": targets.get(node.pk, []),
            }
            for node in KpiNode.objects.for_org(org).order_by("pk")
        ]
    }


def _structure_errors(proposed) -> dict[str, list[str]]:
    errors = base.require_object(proposed, {"nodes": list})
    if errors:
        return errors
    ids = {}
    for index, node in enumerate(proposed["nodes"]):
        where = f"nodes[{index}]"
        if not isinstance(node, dict):
            errors[where] = ["A node is an object."]
            continue
        for key, message in base.require_object(node, NODE_KEYS).items():
            errors[f"{where}.{key}"] = message
        if node.get("id") in ids:
            errors[f"{where}.id"] = ["Two nodes have this id."]
        ids[node.get("id")] = node.get("parent")
        for t_index, row in enumerate(node.get("targets") or []):
            if not isinstance(row, dict) or set(row) != {"period_start", "value"}:
                errors[f"{where}.targets[{t_index}]"] = ['A target is {"period_start", "value"}.']
    if errors:
        return errors
    for index, node in enumerate(proposed["nodes"]):
        if node["parent"] is not None and node["parent"] not in ids:
            errors[f"nodes[{index}].parent"] = ["No node of the document has this id."]
            continue
        seen, current = {node["id"]}, node["parent"]
        while current is not None:
            if current in seen:
                errors[f"nodes[{index}].parent"] = ["This parent would make the tree loop on itself."]
                break
            seen.add(current)
            current = ids.get(current)
    return errors


def validate(org, target, proposed) -> dict[str, list[str]]:
    return _structure_errors(proposed) or base.dry_run(apply, org, target, proposed)


def _depth_order(nodes: list[dict], every: list[dict]) -> list[dict]:
    """`nodes` with parents before their children, depth read in the whole document `every`."""
    by_id = {n["id"]: n for n in every}

    def depth(node):
        count, current = 0, node["parent"]
        while current is not None:
            count, current = count + 1, by_id[current]["parent"]
        return count

    return sorted(nodes, key=depth)


def apply(org, target, proposed, by=None, note: str = "") -> None:
    errors = _structure_errors(proposed)
    if errors:
        field, messages = next(iter(errors.items()))
        raise ServiceError(messages[0], field=field)
    docs = proposed["nodes"]
    where = {id(doc): f"nodes[{index}]" for index, doc in enumerate(docs)}
    existing = {n.pk: n for n in KpiNode.objects.for_org(org)}
    nodes: dict = {}  # document id -> KpiNode

    def fresh(doc) -> KpiNode:
        # The services save the instance they are given: always hand them the row as it is now.
        return KpiNode.objects.get(pk=nodes[doc["id"]].pk)

    def guarded(doc, call, **kwargs):
        try:
            return call(org=org, **kwargs)
        except ServiceError as error:
            raise base.nested(where[id(doc)], error) from None

    # 1. New nodes are created at the root; step 2 puts them in place.
    for doc in docs:
        if isinstance(doc["id"], int) and doc["id"] in existing:
            nodes[doc["id"]] = existing[doc["id"]]
        else:
            fields = {name: doc[name] for name in FIELDS}
            nodes[doc["id"]] = guarded(doc, kpi_services.kpi_node_create, **fields)
    # 2. Re-parent: first lift every node that moves to the root, then attach them parents first, so
    # no intermediate state puts a node under its own descendant.
    moving = [d for d in docs if (nodes[d["parent"]].pk if d["parent"] is not None else None)
              != nodes[d["id"]].parent_id]  # fmt: skip
    for doc in moving:
        node = fresh(doc)
        if node.parent_id is not None:
            guarded(doc, kpi_services.kpi_node_update, node=node, parent=None)
    for doc in _depth_order(moving, docs):
        if doc["parent"] is not None:
            guarded(doc, kpi_services.kpi_node_update, node=fresh(doc), parent=nodes[doc["parent"]].pk)
    # 3. Targets that go (before a grain changes), then the fields, then targets that are set.
    for doc in docs:
        node = fresh(doc)
        wanted = {row["period_start"] for row in doc["targets"]}
        for row in KpiTarget.objects.for_org(org).filter(node=node):
            if row.period_start.isoformat() not in wanted:
                guarded(doc, kpi_services.kpi_target_delete, node=node, period_start=row.period_start)
        node = fresh(doc)
        changes = {name: doc[name] for name in FIELDS if doc[name] != _current(node, name)}
        if changes:
            guarded(doc, kpi_services.kpi_node_update, node=node, **changes)
        current = {
            r.period_start.isoformat(): r.value for r in KpiTarget.objects.for_org(org).filter(node=node)
        }
        for t_index, row in enumerate(doc["targets"]):
            try:
                same = current.get(row["period_start"]) == Decimal(str(row["value"]))
            except ArithmeticError:
                same = False
            if not same:
                try:
                    kpi_services.kpi_target_set(
                        org=org, node=node, period_start=row["period_start"], value=row["value"]
                    )
                except ServiceError as error:
                    raise base.nested(f"{where[id(doc)]}.targets[{t_index}]", error) from None
    # 4. Nodes the document no longer lists, deepest first (their listed children have moved already).
    kept = {node.pk for node in nodes.values()}
    gone = [n for pk, n in existing.items() if pk not in kept]
    for node in sorted(gone, key=lambda n: -_depth_in_db(org, n)):
        kpi_services.kpi_node_delete(org=org, node=node)
    # 5. Order among siblings, each group from the first place to the last.
    groups: dict = {}
    for index, doc in enumerate(docs):
        groups.setdefault(doc["parent"], []).append((doc["position"], index, doc))
    for group in groups.values():
        for place, (_, _, doc) in enumerate(sorted(group, key=lambda item: item[:2])):
            node = fresh(doc)
            if node.position != place:
                guarded(doc, kpi_services.kpi_node_update, node=node, position=place, parent=node.parent_id)


def _current(node: KpiNode, name: str):
    return node.owner_id if name == "owner" else getattr(node, name)


def _depth_in_db(org, node: KpiNode) -> int:
    parents = dict(KpiNode.objects.for_org(org).values_list("pk", "parent_id"))
    count, current = 0, parents.get(node.pk)
    while current is not None:
        count, current = count + 1, parents.get(current)
    return count


diff = base.diff
