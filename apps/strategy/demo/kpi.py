"""Demo KPI tree: new bookings broken into the funnel feeding it, retention, CAC and a hand-entered series.

Targets for the last six periods are set a little better than the period
before delivered (so a few nodes are off track, most on track or at risk), and
one node is left without an owner so the tree shows the flag. The rollups must
have run.
"""

from decimal import ROUND_HALF_UP, Decimal

from apps.accounts.models import Membership
from apps.measurement.metrics.engine import local_today

from ..models import KpiNode
from ..services import kpi as services

ADMIN, MARKETER, MANAGER, CSM = (
    "admin@northwind.example",
    "marketer@northwind.example",
    "manager@northwind.example",
    "csm@northwind.example",
)

# name, parent, metric, params, kind, combine, grain, owner, uplift on the period before (None: no owner)
NODES = [
    ("New bookings", None, "new_bookings", {}, "lagging", "product", "month", ADMIN, "1.10"),
    ("Pipeline created", "New bookings", "pipeline_created", {}, "leading", "product", "month", MARKETER,
     "1.25"),
    ("Opportunities created", "Pipeline created", "opportunities_created", {}, "leading", "driver", "month",
     MANAGER, "1.05"),
    ("SQLs", "Opportunities created", "sqls", {}, "leading", "driver", "month", MANAGER, "1.05"),
    ("MQL to SQL conversion", "SQLs", "stage_conversion_period", {"from_stage": "mql", "to_stage": "sql"},
     "leading", "driver", "month", MARKETER, "1.02"),
    ("MQLs", "SQLs", "mqls", {}, "leading", "driver", "month", MARKETER, "1.10"),
    ("Leads", "MQLs", "leads", {}, "leading", "driver", "month", MARKETER, "1.05"),
    ("Average deal size", "New bookings", "average_deal_size", {}, "lagging", "driver", "month", MANAGER,
     "1.00"),
    ("Win rate", "New bookings", "win_rate", {}, "lagging", "driver", "month", MANAGER, "1.05"),
    ("Speed-to-lead", "Win rate", "speed_to_lead", {}, "leading", "driver", "month", None, "0.90"),
    ("SLA compliance", "Win rate", "sla_compliance", {}, "leading", "driver", "month", MANAGER, "1.02"),
    ("Net revenue retention", None, "net_revenue_retention", {}, "lagging", "sum", "quarter", CSM, "1.01"),
    ("Expansion revenue", "Net revenue retention", "expansion_revenue", {}, "leading", "driver", "quarter",
     CSM, "1.10"),
    ("Churned revenue", "Net revenue retention", "churned_revenue", {}, "lagging", "driver", "quarter", CSM,
     "0.90"),
    ("Customer health score", "Net revenue retention", "", {}, "leading", "driver", "month", CSM, None),
    ("CAC (blended)", None, "cac_blended", {}, "lagging", "driver", "month", ADMIN, "0.95"),
]  # fmt: skip

# The hand-entered node: an average health score from the CS team's monthly survey, oldest first.
HEALTH_SCORES = ["71", "73", "72", "75", "76", "74"]
HEALTH_TARGET = Decimal("78")


def _target(previous: float | None, uplift: str) -> Decimal | None:
    if previous is None or previous <= 0:
        return None
    places = Decimal("1") if previous >= 100 else Decimal("0.1")
    return (Decimal(str(previous)) * Decimal(uplift)).quantize(places, ROUND_HALF_UP)


def _set_targets(org, node: KpiNode, uplift: str, today) -> None:
    """Each period's target is the period before's actual times the uplift (the first: its own)."""
    series = services.kpi_node_state(org=org, node=node, today=today).series
    for index, point in enumerate(series):
        previous = series[index - 1].actual if index else point.actual
        target = _target(previous, uplift)
        if target is not None:
            services.kpi_target_set(org=org, node=node, period_start=point.start, value=target)


def seed_kpi_tree(org) -> int | None:
    """About fifteen nodes with owners, targets and statuses; None when the organisation has a tree."""
    if KpiNode.objects.for_org(org).exists():
        return None
    members = {m.user.email: m for m in Membership.objects.for_org(org).select_related("user")}
    today = local_today(org)
    made: dict[str, KpiNode] = {}
    for name, parent, metric, params, kind, combine, grain, owner, uplift in NODES:
        node = services.kpi_node_create(
            org=org, name=name, parent=made.get(parent), metric=metric, metric_params=params, kind=kind,
            combine=combine, grain=grain, owner=members.get(owner) if owner else None,
        )  # fmt: skip
        made[name] = node
        if uplift:
            _set_targets(org, node, uplift, today)
    health = made["Customer health score"]
    for point, score in zip(
        services.kpi_node_state(org=org, node=health, today=today).series, HEALTH_SCORES, strict=True
    ):
        services.kpi_value_set(org=org, node=health, period_start=point.start, value=score)
        services.kpi_target_set(org=org, node=health, period_start=point.start, value=HEALTH_TARGET)
    services.kpi_refresh_statuses(org=org, today=today)
    return len(made)
