"""The KPI tree: status rules against hand-computed cases, tree writes, metric binding, alerts.

The fixture organisation (UTC, fiscal year from January) is read on 16 March
2026, 16 of March's 31 days elapsed. Its opportunities (new business):

    created          count  amount each   status
    10, 12 Nov 2025    2      1,000       won 5 Mar 2026 / lost 6 Mar 2026
    5-7 Dec 2025       3      1,000       open
    10, 11 Jan 2026    2      2,000       open
    10 Feb 2026        1      5,000       open
    2-5, 16 Mar 2026   5      4,000 x 3, 2,000 x 2 (16,000)
    20 Mar 2026        1      9,999       (after "today": never counted)

So opportunities created by month, October to March: 0, 2, 3, 2, 1, 5 (the
three months before March fall: 3, 2, 1); pipeline created 0, 2,000, 3,000,
4,000, 5,000, 16,000 (rising); the March win rate is 1 won of 2 closed = 50 %.
"""

import datetime
import math
from decimal import Decimal

import pytest

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import Notification
from apps.measurement.services import rollup
from apps.records.models import Account, Opportunity
from apps.strategy import kpi_rules as rules
from apps.strategy.models import KpiNode, KpiTarget
from apps.strategy.services import kpi as services
from tests import factories

D = datetime.date
TODAY = D(2026, 3, 16)
MARCH = D(2026, 3, 1)
SHARE = 16 / 31


# --- Status rules (pure, hand-computed) ----------------------------------------------------------


def status(actual, target, *, share=0.5, accumulating=True, direction="higher", trend=None):
    expected = None if target is None else rules.expected_by_now(target, accumulating=accumulating,
                                                                  elapsed_share=share)  # fmt: skip
    return rules.status_for(
        actual=actual, target=target, expected=expected, direction=direction, trend=trend
    )[0]


def test_a_count_is_paced_by_the_days_elapsed():
    # Target 100, half the period gone: 50 expected.
    assert rules.expected_by_now(100, accumulating=True, elapsed_share=0.5) == 50
    assert status(50, 100) == rules.ON_TRACK  # 100 % of pace
    assert status(49.5, 100) == rules.ON_TRACK  # 99 %: within the 2 % tolerance
    assert status(48, 100) == rules.AT_RISK  # 96 %
    assert status(45, 100) == rules.AT_RISK  # 90 % exactly
    assert status(44, 100) == rules.OFF_TRACK  # 88 %
    assert status(80, 100) == rules.ON_TRACK  # ahead


def test_a_rate_is_compared_with_the_target_itself():
    assert rules.expected_by_now(25, accumulating=False, elapsed_share=0.5) == 25
    assert status(25, 25, accumulating=False) == rules.ON_TRACK
    assert status(24, 25, accumulating=False) == rules.AT_RISK  # 96 %
    assert status(20, 25, accumulating=False) == rules.OFF_TRACK  # 80 %, though above a paced 12.5


def test_lower_is_better_inverts_the_pace():
    # CAC target 500: 600 is 500/600 = 83 % of pace, 520 is 96 %, 400 is 125 %.
    assert status(600, 500, accumulating=False, direction="lower") == rules.OFF_TRACK
    assert status(520, 500, accumulating=False, direction="lower") == rules.AT_RISK
    assert status(400, 500, accumulating=False, direction="lower") == rules.ON_TRACK
    assert status(0, 500, accumulating=False, direction="lower") == rules.ON_TRACK
    assert rules.pace(600, 500, "lower") == pytest.approx(500 / 600)
    assert math.isinf(rules.pace(0, 500, "lower"))


def test_a_falling_trend_puts_an_on_track_node_at_risk():
    assert status(60, 100, trend=rules.FALLING) == rules.AT_RISK  # 120 % of pace, but worse 3 periods running
    assert status(60, 100, trend=rules.STEADY) == rules.ON_TRACK
    assert status(40, 100, trend=rules.RISING) == rules.OFF_TRACK  # a rising trend does not rescue 80 %


def test_no_target_or_no_actual_is_no_data():
    assert status(10, None) == rules.NO_DATA
    assert status(None, 100) == rules.NO_DATA


def test_a_zero_target_is_met_by_any_actual_when_higher_is_better():
    assert status(0, 0) == rules.ON_TRACK


def test_trend_by_direction():
    assert rules.trend_of([3, 2, 1], "higher") == rules.FALLING
    assert rules.trend_of([3, 2, 1], "lower") == rules.RISING
    assert rules.trend_of([1, 2, 3], "higher") == rules.RISING
    assert rules.trend_of([1, 1, 2], "higher") == rules.STEADY
    assert rules.trend_of([None, 1, 2], "higher") is None


def test_periods_by_grain_and_fiscal_calendar():
    org = type("Org", (), {"fiscal_year_start_month": 2})()
    assert rules.period_of(org, "month", D(2026, 2, 14)) == (D(2026, 2, 1), D(2026, 2, 28))
    assert rules.period_of(org, "quarter", D(2026, 3, 16)) == (D(2026, 2, 1), D(2026, 4, 30))
    assert rules.period_of(org, "quarter", D(2026, 1, 31)) == (D(2025, 11, 1), D(2026, 1, 31))
    months = rules.recent_periods(org, "month", TODAY)
    assert [start for start, _ in months] == [D(2025, 10, 1), D(2025, 11, 1), D(2025, 12, 1), D(2026, 1, 1),
                                              D(2026, 2, 1), D(2026, 3, 1)]  # fmt: skip
    assert rules.period_label("quarter", D(2026, 2, 1), org) == "FY2027 Q1"


# --- Fixture -------------------------------------------------------------------------------------


@pytest.fixture
def books(db, owner):
    org = factories.make_org(
        name="Acme", owner=owner, slug="acme", time_zone="UTC", fiscal_year_start_month=1
    )
    account = Account.objects.create(organization=org, name="Initech", domain="initech.test")
    rows = [
        (D(2025, 11, 10), 1000, "won", D(2026, 3, 5)),
        (D(2025, 11, 12), 1000, "lost", D(2026, 3, 6)),
        *[(D(2025, 12, day), 1000, "open", None) for day in (5, 6, 7)],
        *[(D(2026, 1, day), 2000, "open", None) for day in (10, 11)],
        (D(2026, 2, 10), 5000, "open", None),
        *[(D(2026, 3, day), amount, "open", None) for day, amount in ((2, 4000), (3, 4000), (4, 4000),
                                                                        (5, 2000), (16, 2000))],
        (D(2026, 3, 20), 9999, "open", None),
    ]  # fmt: skip
    for n, (created, amount, state, closed) in enumerate(rows):
        Opportunity.objects.create(
            organization=org, name=f"Deal {n}", account=account, type="new_business", created_date=created,
            status=state, close_date=closed, amount=Decimal(amount),
        )  # fmt: skip
    rollup.rollup(org, full=True)
    admin = Membership.objects.get(organization=org, user=owner)
    rep = factories.make_member(org, role=Role.SALES_REP, user=factories.make_user(full_name="Ann Rep"))
    return {"org": org, "admin": admin, "rep": rep}


def node(books, name="Node", **fields):
    return services.kpi_node_create(org=books["org"], name=name, **fields)


def target(books, node_, value, period_start=MARCH):
    return services.kpi_target_set(org=books["org"], node=node_, period_start=period_start, value=value)


def states(books, today=TODAY):
    return {state.node.name: state for state in services.kpi_tree(org=books["org"], today=today).nodes}


# --- Statuses from the metric engine -------------------------------------------------------------


def test_tree_statuses_hand_computed(books):
    created_10 = node(books, "Opps 10", metric="opportunities_created")
    target(books, created_10, 10)
    created_8 = node(books, "Opps 8", metric="opportunities_created")
    target(books, created_8, 8)
    pipeline = node(books, "Pipeline 31k", metric="pipeline_created")
    target(books, pipeline, 31000)
    pipeline_low = node(books, "Pipeline 40k", metric="pipeline_created")
    target(books, pipeline_low, 40000)
    win = node(books, "Win rate", metric="win_rate")
    target(books, win, 55)
    node(books, "No target", metric="pipeline_created")
    found = states(books)

    opps = found["Opps 10"]
    assert [p.actual for p in opps.series] == [0, 2, 3, 2, 1, 5]
    assert opps.actual == 5 and opps.target == 10
    assert opps.elapsed_share == pytest.approx(SHARE)
    assert opps.expected == pytest.approx(10 * SHARE)  # 5.16
    assert opps.pace == pytest.approx(5 / (10 * SHARE))  # 96.9 %
    assert opps.trend == rules.FALLING
    assert opps.status == rules.AT_RISK
    # 8 → 4.13 expected: 121 % of pace, but the count fell three months running.
    assert found["Opps 8"].pace == pytest.approx(5 / (8 * SHARE))
    assert found["Opps 8"].status == rules.AT_RISK

    assert [p.actual for p in found["Pipeline 31k"].series] == [0, 2000, 3000, 4000, 5000, 16000]
    assert found["Pipeline 31k"].expected == pytest.approx(16000)
    assert found["Pipeline 31k"].trend == rules.RISING
    assert found["Pipeline 31k"].status == rules.ON_TRACK
    assert found["Pipeline 40k"].pace == pytest.approx(16000 / (40000 * SHARE))  # 77.5 %
    assert found["Pipeline 40k"].status == rules.OFF_TRACK

    rate = found["Win rate"]
    assert rate.actual == pytest.approx(50) and rate.expected == 55  # not paced
    assert rate.pace == pytest.approx(50 / 55)  # 90.9 %
    assert rate.status == rules.AT_RISK
    assert rate.trend is None  # nothing closed before March

    assert found["No target"].status == rules.NO_DATA
    assert found["No target"].actual == 16000


def test_quarter_grain_on_the_calendar(books):
    quarterly = node(books, "Pipeline Q", metric="pipeline_created", grain="quarter")
    target(books, quarterly, 30000, period_start=D(2026, 1, 1))
    state = states(books)["Pipeline Q"]
    assert (state.period_start, state.period_end) == (D(2026, 1, 1), D(2026, 3, 31))
    assert state.actual == 25000  # 4,000 + 5,000 + 16,000
    assert state.elapsed_share == pytest.approx(75 / 90)
    assert state.expected == pytest.approx(25000)
    assert [p.actual for p in state.series][-2:] == [5000, 25000]
    assert state.status == rules.ON_TRACK


def test_quarter_grain_off_the_calendar(books):
    org = books["org"]
    org.fiscal_year_start_month = 2  # FY2027 Q1: 1 Feb to 30 Apr 2026, 89 days
    org.save()
    quarterly = node(books, "Pipeline FQ", metric="pipeline_created", grain="quarter")
    target(books, quarterly, 42000, period_start=D(2026, 2, 1))
    state = states(books)["Pipeline FQ"]
    assert (state.period_start, state.period_end) == (D(2026, 2, 1), D(2026, 4, 30))
    assert state.actual == 21000  # 5,000 + 16,000
    assert [p.actual for p in state.series][-2:] == [9000, 21000]  # Nov to Jan: 2,000 + 3,000 + 4,000
    assert state.expected == pytest.approx(42000 * 44 / 89)  # 20,764
    assert state.status == rules.ON_TRACK


def test_a_manual_node_reads_its_entered_values(books):
    manual = node(books, "NPS detractors", direction="lower")
    assert manual.direction == "lower" and manual.metric == ""
    target(books, manual, 10)
    services.kpi_value_set(org=books["org"], node=manual, period_start=MARCH, value=11)
    state = states(books)["NPS detractors"]
    assert state.actual == 11 and state.expected == 10  # entered values are not paced
    assert state.pace == pytest.approx(10 / 11)
    assert state.status == rules.AT_RISK
    services.kpi_value_set(org=books["org"], node=manual, period_start=MARCH, value=12)
    assert states(books)["NPS detractors"].status == rules.OFF_TRACK  # 83 %


def test_the_direction_defaults_to_the_metrics(books):
    assert node(books, metric="cac_blended").direction == "lower"
    assert node(books, metric="leads").direction == "higher"


def test_one_evaluation_per_metric_parameters_and_grain(books, django_assert_max_num_queries):
    for n in range(6):
        target(books, node(books, f"Pipeline {n}", metric="pipeline_created"), 1000)
    node(books, "Manual")
    # Nodes, targets, manual values, and one pipeline evaluation (series + total) for all six.
    with django_assert_max_num_queries(6):
        tree = services.kpi_tree(org=books["org"], today=TODAY)
    assert len(tree.nodes) == 7


# --- Tree writes ---------------------------------------------------------------------------------


def children_of(books, parent):
    return list(
        KpiNode.objects.for_org(books["org"])
        .filter(parent=parent)
        .order_by("position")
        .values_list("name", flat=True)
    )


def test_moves_and_cycle_prevention(books):
    a = node(books, "A")
    b = node(books, "B", parent=a)
    c = node(books, "C", parent=b)
    for parent in (c, b, a):
        with pytest.raises(ServiceError) as error:
            services.kpi_node_move(org=books["org"], node=a, parent=parent)
        assert error.value.field == "parent"
    services.kpi_node_move(org=books["org"], node=c, parent=None, position=0)
    assert children_of(books, None) == ["C", "A"]
    services.kpi_node_move(org=books["org"], node=a, parent=c)  # fine now that C is not under A
    assert children_of(books, c) == ["A"]
    tree = services.kpi_tree(org=books["org"], today=TODAY)
    assert [(s.path, s.depth) for s in tree.nodes] == [("C", 0), ("C / A", 1), ("C / A / B", 2)]


def test_delete_lifts_the_children_into_the_nodes_place(books):
    root = node(books, "Root")
    node(books, "X", parent=root)
    b = node(books, "B", parent=root)
    node(books, "Y", parent=root)
    node(books, "C1", parent=b)
    node(books, "C2", parent=b)
    services.kpi_node_delete(org=books["org"], node=b)
    assert children_of(books, root) == ["X", "C1", "C2", "Y"]
    positions = KpiNode.objects.for_org(books["org"]).filter(parent=root).order_by("position")
    assert list(positions.values_list("position", flat=True)) == [0, 1, 2, 3]


def test_delete_of_a_root_makes_its_children_roots(books):
    root = node(books, "Root")
    node(books, "Child", parent=root)
    services.kpi_node_delete(org=books["org"], node=root)
    assert children_of(books, None) == ["Child"]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"metric": "arr"}, "metric"),
        ({"metric_params": {"from_stage": "mql"}}, "metric_params"),  # a manual node takes none
        ({"metric": "leads", "metric_params": {"from_stage": "mql"}}, "metric_params"),
        ({"metric": "romi", "metric_params": {"model": "guesswork"}}, "metric_params"),
        ({"metric": "stage_conversion_period", "metric_params": {"from_stage": "nope"}}, "metric_params"),
        ({"metric": "pipeline_coverage", "metric_params": {"target": "-5"}}, "metric_params"),
        ({"kind": "sideways"}, "kind"),
        ({"grain": "week"}, "grain"),
        ({"name": "  "}, "name"),
        ({"owner": 999999}, "owner"),
        ({"parent": 999999}, "parent"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field(books, fields, field):
    with pytest.raises(ServiceError) as error:
        services.kpi_node_create(org=books["org"], **{"name": "Node", **fields})
    assert error.value.field == field


def test_a_metric_with_valid_parameters_binds(books):
    bound = node(
        books, metric="stage_conversion_period", metric_params={"from_stage": "mql", "to_stage": "sql"}
    )
    assert bound.metric_params == {"from_stage": "mql", "to_stage": "sql"}
    coverage = node(books, metric="pipeline_coverage", metric_params={"target": "1000000"})
    assert coverage.metric_params == {"target": "1000000"}  # not a stage: checked by the engine only
    services.kpi_node_update(org=books["org"], node=bound, metric="leads")
    bound.refresh_from_db()
    assert bound.metric == "leads" and bound.metric_params == {}  # a new metric starts without parameters


def test_another_organisations_member_and_node_are_refused(books, other_org):
    theirs = services.kpi_node_create(org=other_org, name="Theirs")
    outsider = Membership.objects.get(organization=other_org)
    with pytest.raises(ServiceError) as error:
        node(books, owner=outsider)
    assert error.value.field == "owner"
    with pytest.raises(ServiceError) as error:
        node(books, parent=theirs)
    assert error.value.field == "parent"
    inactive = factories.make_member(books["org"], role=Role.VIEWER)
    inactive.is_active = False
    inactive.save()
    with pytest.raises(ServiceError):
        node(books, owner=inactive)


def test_targets_and_values_by_period(books):
    monthly = node(books, "Monthly", metric="leads")
    with pytest.raises(ServiceError) as error:
        target(books, monthly, 5, period_start=D(2026, 3, 2))
    assert error.value.field == "period_start"
    with pytest.raises(ServiceError) as error:
        target(books, monthly, -5)
    assert error.value.field == "value"
    target(books, monthly, 5)
    target(books, monthly, 7)  # replaces
    assert list(KpiTarget.objects.filter(node=monthly).values_list("value", flat=True)) == [Decimal("7")]
    assert services.kpi_target_delete(org=books["org"], node=monthly, period_start=MARCH)
    with pytest.raises(ServiceError) as error:
        services.kpi_value_set(org=books["org"], node=monthly, period_start=MARCH, value=3)
    assert error.value.field == "metric"  # a metric node reads its actuals from the engine
    quarterly = node(books, "Quarterly", grain="quarter")
    with pytest.raises(ServiceError) as error:
        target(books, quarterly, 5, period_start=D(2026, 2, 1))
    assert error.value.field == "period_start"
    target(books, quarterly, 5, period_start=D(2026, 1, 1))
    with pytest.raises(ServiceError) as error:
        services.kpi_node_update(org=books["org"], node=quarterly, grain="month")
    assert error.value.field == "grain"


# --- Stored statuses and alerts ------------------------------------------------------------------


def test_turning_off_track_notifies_the_owner_once(books):
    watched = node(books, "Opportunities", metric="opportunities_created", owner=books["rep"])
    target(books, watched, 20)  # 5 of 10.3 expected: 48 % of pace
    unowned = node(books, "Unowned", metric="opportunities_created")
    target(books, unowned, 20)
    result = services.kpi_refresh_statuses(org=books["org"], today=TODAY)
    assert (result.changed, result.alerted) == (2, 1)
    watched.refresh_from_db()
    assert watched.status == rules.OFF_TRACK and watched.status_changed_at is not None
    alerts = Notification.objects.filter(organization=books["org"], kind=services.ALERT_KIND)
    assert [(a.recipient_id, a.title) for a in alerts] == [(books["rep"].pk, "KPI off track: Opportunities")]
    assert f"/strategy/kpi/{watched.pk}/" in alerts[0].url

    # Staying off track: no second alert.
    assert services.kpi_refresh_statuses(org=books["org"], today=TODAY).alerted == 0
    assert alerts.all().count() == 1

    # Recovering, then turning again: a new alert.
    target(books, watched, 5)
    services.kpi_refresh_statuses(org=books["org"], today=TODAY)
    watched.refresh_from_db()
    assert watched.status == rules.AT_RISK  # 194 % of pace, but three falling months: no longer off track
    target(books, watched, 20)
    assert services.kpi_refresh_statuses(org=books["org"], today=TODAY).alerted == 1
    assert alerts.all().count() == 2


def test_the_refresh_task_covers_organisations_with_a_tree(books, other_org, monkeypatch):
    from apps.strategy import kpi_tasks as tasks

    node(books, "Only here")
    queued = []
    monkeypatch.setattr(tasks.kpi_refresh_organization, "delay", queued.append)
    tasks.kpi_refresh_due()
    assert queued == [books["org"].pk]
    assert tasks.kpi_refresh_organization(books["org"].pk) == {
        "changed": 0,
        "alerted": 0,
    }  # no data is the default
    assert tasks.kpi_refresh_organization(0) is None


def test_the_refresh_is_in_the_beat_schedule():
    from revops.celery import app

    entries = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "strategy.kpi_refresh_due" in entries


# --- Demo ----------------------------------------------------------------------------------------


def test_demo_tree_is_built_once_with_one_node_left_without_an_owner(books):
    from apps.strategy.demo import kpi as demo

    for email in (demo.ADMIN, demo.MARKETER, demo.MANAGER, demo.CSM):
        factories.make_member(books["org"], role=Role.REVOPS_LEAD, user=factories.make_user(email=email))
    assert demo.seed_kpi_tree(books["org"]) == len(demo.NODES) == 16
    assert demo.seed_kpi_tree(books["org"]) is None
    tree = services.kpi_tree(org=books["org"])
    assert [root.node.name for root in tree.roots] == [
        "New bookings",
        "Net revenue retention",
        "CAC (blended)",
    ]
    assert [state.node.name for state in tree.nodes if not state.owner_name] == ["Speed-to-lead"]
    health = next(state for state in tree.nodes if state.node.name == "Customer health score")
    assert [p.actual for p in health.series] == [71, 73, 72, 75, 76, 74]
    assert (health.target, health.status) == (78, rules.AT_RISK)  # 74 of 78: 94.9 % of pace


def test_accumulating_metrics_are_catalogue_sums():
    from apps.measurement.metrics.catalogue import BY_KEY, METRICS

    assert rules.ACCUMULATING.issubset(BY_KEY)
    assert {m.key for m in METRICS if m.unit == "count"} <= rules.ACCUMULATING  # every count is a sum
    assert not {"average_deal_size", "cac_blended", "ltv", "win_rate"} & rules.ACCUMULATING
