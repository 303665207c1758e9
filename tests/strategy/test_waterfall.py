"""The reverse waterfall against volumes worked out by hand (no database needed).

Months are keyed by their first day; a lag moves a month's volume, spread
evenly over its days, that many days earlier (see apps/strategy/waterfall.py).
"""

import datetime
import math

import pytest

from apps.strategy.waterfall import (
    WON,
    Plan,
    PlanError,
    Stage,
    compare,
    reverse,
    round_up,
    shift,
    spread_quarter,
    versus_actuals,
    with_change,
)


def m(year, month):
    return datetime.date(year, month, 1)


JAN, FEB, MAR = m(2026, 1), m(2026, 2), m(2026, 3)
NOV, DEC = m(2025, 11), m(2025, 12)


def simple_plan(**changes):
    """MQL -(25%)-> SQL -(40%)-> won, no lags; deal size 10,000; January 100,000, February 200,000."""
    fields = {
        "stages": (Stage("mql", 0.25), Stage("sql", 0.4)),
        "deal_size": 10_000,
        "targets": {JAN: 100_000, FEB: 200_000},
    }
    return Plan(**{**fields, **changes})


def approx(mapping):
    return {k: pytest.approx(v, rel=1e-12, abs=1e-12) for k, v in mapping.items()}


def test_no_lags():
    result = reverse(simple_plan())
    assert result.stages == ("mql", "sql", WON)
    # won: 100,000 / 10,000 = 10 in January; 200,000 / 10,000 = 20 in February
    assert result.volumes[WON] == approx({JAN: 10, FEB: 20})
    # SQL: 10 / 0.4 = 25; 20 / 0.4 = 50
    assert result.volumes["sql"] == approx({JAN: 25, FEB: 50})
    # MQL: 25 / 0.25 = 100; 50 / 0.25 = 200
    assert result.volumes["mql"] == approx({JAN: 100, FEB: 200})
    assert result.months == (JAN, FEB)


def test_whole_month_lags():
    # A lag equal to the previous month's length moves a month onto that month exactly:
    # January 2026 (31 days) minus 31 days is 1-31 December 2025; August 2026 minus 31 days is July.
    plan = Plan(
        stages=(Stage("mql", 0.2, lag_days=0), Stage("sql", 0.5, lag_days=31)),
        deal_size=5_000,
        targets={JAN: 50_000, m(2026, 8): 100_000},
    )
    result = reverse(plan)
    # won: 50,000 / 5,000 = 10 in January; 100,000 / 5,000 = 20 in August
    assert result.volumes[WON] == approx({JAN: 10, m(2026, 8): 20})
    # SQL: 10 / 0.5 = 20 entering a month earlier (December 2025); 20 / 0.5 = 40 in July
    assert result.volumes["sql"] == approx({DEC: 20, m(2026, 7): 40})
    # MQL: 20 / 0.2 = 100 and 40 / 0.2 = 200, total lag 0 + 31 days: the same months
    assert result.volumes["mql"] == approx({DEC: 100, m(2026, 7): 200})


def test_a_45_day_lag_crosses_the_quarter_boundary():
    # Q1 2026 target 300,000 spread evenly: 100,000 a month; deal size 10,000 -> 10 deals a month.
    targets = spread_quarter(2026, 1, 300_000)
    assert targets == {JAN: 100_000, FEB: 100_000, MAR: 100_000}
    plan = Plan(
        stages=(Stage("mql", 0.25, lag_days=45), Stage("sql", 0.4, lag_days=0)),
        deal_size=10_000,
        targets=targets,
    )
    result = reverse(plan)
    assert result.volumes[WON] == approx({JAN: 10, FEB: 10, MAR: 10})
    # SQL: 10 / 0.4 = 25 a month, no lag.
    assert result.volumes["sql"] == approx({JAN: 25, FEB: 25, MAR: 25})
    # MQL: 25 / 0.25 = 100 a month, moved 45 days earlier:
    #   January  [Jan 1, Feb 1) 31 days -> [Nov 17, Dec 18): 14 days in Nov, 17 in Dec
    #            Nov += 100*14/31, Dec += 100*17/31
    #   February [Feb 1, Mar 1) 28 days -> [Dec 18, Jan 15): 14 days in Dec, 14 in Jan
    #            Dec += 100*14/28 = 50, Jan += 50
    #   March    [Mar 1, Apr 1) 31 days -> [Jan 15, Feb 15): 17 days in Jan, 14 in Feb
    #            Jan += 100*17/31, Feb += 100*14/31
    assert result.volumes["mql"] == approx(
        {
            NOV: 1400 / 31,  # 45.16
            DEC: 1700 / 31 + 50,  # 104.84
            JAN: 50 + 1700 / 31,  # 104.84
            FEB: 1400 / 31,  # 45.16
        }
    )
    # Half of Q1's 300 MQLs must enter in Q4 2025: 1400/31 + 1700/31 + 50 = 100 + 50.
    assert result.volumes["mql"][NOV] + result.volumes["mql"][DEC] == pytest.approx(150)
    assert result.total("mql") == pytest.approx(300)
    assert result.months == (NOV, DEC, JAN, FEB, MAR)


def test_lags_add_up_from_the_stage_to_won():
    # MQL lag 30 + SQL lag 15: MQLs move 45 days (as above), SQLs 15.
    plan = Plan(
        stages=(Stage("mql", 0.25, lag_days=30), Stage("sql", 0.4, lag_days=15)),
        deal_size=10_000,
        targets={FEB: 100_000},
    )
    result = reverse(plan)
    # SQL 25 for February [Feb 1, Mar 1) moved 15 days -> [Jan 17, Feb 14): 15 days in Jan, 13 in Feb
    assert result.volumes["sql"] == approx({JAN: 25 * 15 / 28, FEB: 25 * 13 / 28})
    # MQL 100 moved 45 days -> [Dec 18, Jan 15): 14 days each side: 50 and 50
    assert result.volumes["mql"] == approx({DEC: 50, JAN: 50})


def test_a_fractional_lag_splits_a_day():
    # 31 in January, moved half a day: [Dec 31.5, Jan 31.5) -> half a day in December.
    assert shift(JAN, 31, 0.5) == {DEC: 0.5, JAN: 30.5}
    assert shift(JAN, 31, 0) == {JAN: 31}


def test_totals_are_conserved():
    targets = {m(2026, month): 10_000 * month for month in range(1, 13)}  # 780,000 in all
    plan = Plan(
        stages=(
            Stage("inquiry", 0.3, lag_days=7.25),
            Stage("mql", 0.35, lag_days=12.5),
            Stage("sql", 0.6, lag_days=45),
            Stage("opportunity", 0.22, lag_days=61),
        ),
        deal_size=13_000,
        targets=targets,
    )
    result = reverse(plan)
    deals = 780_000 / 13_000  # 60
    assert result.total(WON) == pytest.approx(60)
    assert result.total("opportunity") == pytest.approx(deals / 0.22)
    assert result.total("sql") == pytest.approx(deals / 0.22 / 0.6)
    assert result.total("mql") == pytest.approx(deals / 0.22 / 0.6 / 0.35)
    assert result.total("inquiry") == pytest.approx(deals / 0.22 / 0.6 / 0.35 / 0.3)
    # 7.25 + 12.5 + 45 + 61 = 125.75 days back from 1 January 2026 lands in late August 2025.
    assert min(result.volumes["inquiry"]) == m(2025, 8)


def test_scenario_mql_to_sql_plus_five_points():
    base = simple_plan()
    better = with_change(base, "mql", rate_delta=0.05)
    assert better.stages[0] == Stage("mql", 0.30)
    assert base.stages[0].rate == 0.25  # the original plan is unchanged
    # MQL: 25 / 0.30 = 83.33 (January), 50 / 0.30 = 166.67 (February); SQL and won unchanged.
    assert reverse(better).volumes["mql"] == approx({JAN: 250 / 3, FEB: 500 / 3})
    side_by_side = compare(base, better)
    assert side_by_side["mql"][JAN].a == pytest.approx(100)
    assert side_by_side["mql"][JAN].b == pytest.approx(250 / 3)
    assert side_by_side["mql"][JAN].difference == pytest.approx(250 / 3 - 100)  # -16.67
    assert side_by_side["mql"][FEB].difference == pytest.approx(500 / 3 - 200)  # -33.33
    assert side_by_side["sql"][JAN].difference == 0
    assert side_by_side[WON][FEB].difference == 0


def test_scenario_lag_and_deal_size():
    base = simple_plan()
    # A 31-day SQL lag: January's 25 SQLs [Jan 1, Feb 1) move to [Dec 1, Jan 1), all December;
    # February's 50 [Feb 1, Mar 1) move to [Jan 1, Jan 29), all January.
    later = with_change(base, "sql", lag_delta=31)
    assert reverse(later).volumes["sql"] == approx({DEC: 25, JAN: 50})
    # Deal size 12,500: won 100,000 / 12,500 = 8 and 200,000 / 12,500 = 16.
    bigger = with_change(base, deal_size=12_500)
    assert reverse(bigger).volumes[WON] == approx({JAN: 8, FEB: 16})
    diff = compare(base, later)["sql"]
    # December appears only in the scenario: 0 -> 25; January 25 -> 50; February 50 -> 0.
    assert {month: d.difference for month, d in diff.items()} == approx({DEC: 25, JAN: 25, FEB: -50})


def test_versus_actuals():
    required = reverse(simple_plan())
    actuals = {"mql": {JAN: 80, FEB: 200, MAR: 5}, WON: {JAN: 10}}
    rows = versus_actuals(required, actuals)
    assert rows["mql"][JAN].required == pytest.approx(100)
    assert rows["mql"][JAN].actual == 80
    assert rows["mql"][JAN].gap == pytest.approx(20)  # 100 - 80 short
    assert rows["mql"][JAN].met == pytest.approx(0.8)
    assert rows["mql"][FEB].gap == pytest.approx(0)
    assert rows["mql"][FEB].met == pytest.approx(1)
    assert rows["mql"][MAR].required == 0  # nothing needed in March: met is undefined
    assert rows["mql"][MAR].gap == -5
    assert rows["mql"][MAR].met is None
    assert rows[WON][FEB].actual == 0  # no actuals yet: all of the 20 are a gap
    assert rows[WON][FEB].gap == pytest.approx(20)
    assert rows[WON][FEB].met == 0
    assert rows["sql"][JAN].actual == 0


def test_round_up_for_display():
    assert round_up(12.2) == 13
    assert round_up(100.00000000001) == 100
    assert round_up(1400 / 31) == 46
    assert round_up(0) == 0


def test_spread_quarter():
    assert spread_quarter(2025, 4, 90_000) == {m(2025, 10): 30_000, NOV: 30_000, DEC: 30_000}
    q = spread_quarter(2026, 2, 100_000)
    assert math.fsum(q.values()) == pytest.approx(100_000)
    with pytest.raises(PlanError, match="quarter"):
        spread_quarter(2026, 5, 1)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"stages": (Stage("mql", 0), Stage("sql", 0.4))}, "stages[0].rate", "more than 0"),
        ({"stages": (Stage("mql", 0.25), Stage("sql", 1.2))}, "stages[1].rate", "at most 1"),
        ({"stages": (Stage("mql", 0.25, lag_days=-3), Stage("sql", 0.4))}, "stages[0].lag_days", "0 or more"),
        ({"deal_size": 0}, "deal_size", "more than 0"),
        ({"stages": ()}, "stages", "at least one"),
        ({"stages": (Stage("mql", 0.25), Stage("mql", 0.4))}, "stages[1].key", "distinct"),
        ({"stages": (Stage(WON, 0.25),)}, "stages[0].key", "distinct"),
        ({"targets": {datetime.date(2026, 1, 15): 1}}, "targets[2026-01-15]", "first day"),
        ({"targets": {JAN: -1}}, "targets[2026-01-01]", "0 or more"),
    ],
)
def test_invalid_plans_name_the_field(changes, field, words):
    with pytest.raises(ValueError, match=words) as raised:
        simple_plan(**changes)
    assert isinstance(raised.value, PlanError)
    assert field in raised.value.errors
    assert field in str(raised.value)


def test_invalid_scenarios():
    with pytest.raises(PlanError, match=r"stages\[0\]\.rate"):
        with_change(simple_plan(), "mql", rate_delta=0.8)  # 1.05
    with pytest.raises(PlanError, match="'sal' is not a stage"):
        with_change(simple_plan(), "sal", rate_delta=0.05)
    with pytest.raises(PlanError, match="stage"):
        with_change(simple_plan(), rate_delta=0.05)
    with pytest.raises(PlanError, match="stages differ"):
        compare(simple_plan(), simple_plan(stages=(Stage("sql", 0.4),)))
