"""The KPI tree: writes of nodes, targets and hand-entered values, and every node's status.

Writes are atomic and keyword-only and refuse bad input with a `ServiceError`
naming the field. A node is bound to a catalogue metric (its parameters checked
by the metric engine) or, with no metric, reads a series entered by hand
(`KpiValue`). Moving a node under one of its own descendants is refused;
deleting a node lifts its children into its place under its parent.

Status of a node (`kpi_tree`), for its current period (the month, or the fiscal
quarter, holding today in the organisation's time zone):

- actual: the metric engine's value over the period's days up to today (the
  same number as the metric's page for that range), or the value entered by
  hand for the period;
- expected: for a metric that accumulates over the period (counts and summed
  amounts: leads, pipeline created, new bookings, churned revenue, …) the
  target times the share of the period's days elapsed, today included; for
  everything else (rates, averages, medians, ratios, CAC) and for values
  entered by hand, the target itself;
- pace: actual ÷ expected when higher is better, expected ÷ actual when lower
  is better (so above 100 % is always good); an actual of 0 against a
  lower-is-better target is on track, an expected of 0 meets any actual when
  higher is better;
- trend, over the three periods before the current one: "falling" when the
  value got worse (by the node's direction) from each period to the next,
  "rising" when it got better each time, "steady" otherwise, unknown when one
  is missing.

The rules, in order:

1. no target for the period, or no actual → **no data**;
2. pace under 90 % → **off track**;
3. pace from 90 % up to 98 % (below the 2 % tolerance) → **at risk**;
4. pace of 98 % or more but a falling trend → **at risk**;
5. otherwise → **on track**.

The tree is evaluated in one pass: one query each for the nodes, their targets
and their hand-entered values, and one metric evaluation per distinct metric,
parameters and grain, covering the last six periods at once (the sparkline,
the trend and the current actual come from the same series). Those series
are cached for seventy minutes under a key holding the last rollup's finish
time, and the hourly refresh recomputes and re-caches them: the page does not
wait for a computation, a rollup's new facts show at once, and what the
rollups do not cover (spend entries, subscriptions) within the hour.

`kpi_refresh_statuses` stores each node's status; a node whose stored status
turns off track notifies its owner once (it stays quiet while the node stays
off track, and speaks again only after it has recovered and turned again).
"""

from .nodes import (
    FIELDS,
    kpi_node_create,
    kpi_node_delete,
    kpi_node_move,
    kpi_node_update,
    kpi_target_delete,
    kpi_target_set,
    kpi_value_set,
    node_values,
)
from .tree import (
    ALERT_KIND,
    NodeState,
    Point,
    RefreshResult,
    Tree,
    kpi_node_state,
    kpi_refresh_statuses,
    kpi_tree,
    organizations_with_kpis,
)

__all__ = [
    "ALERT_KIND",
    "FIELDS",
    "NodeState",
    "Point",
    "RefreshResult",
    "Tree",
    "kpi_node_create",
    "kpi_node_delete",
    "kpi_node_move",
    "kpi_node_state",
    "kpi_node_update",
    "kpi_refresh_statuses",
    "kpi_target_delete",
    "kpi_target_set",
    "kpi_tree",
    "kpi_value_set",
    "node_values",
    "organizations_with_kpis",
]
