"""Default plan assumptions from history, and actual volumes by month, against a funnel worked by hand.

The fixture is a UTC organisation with the default funnel (Inquiry, MQL, SAL,
SQL, Opportunity, Customer), rolled up in full. Times are 2026, UTC:

    lead  Inquiry       MQL              SAL          SQL          Opportunity   Customer
    a     Jan 5 09:00   Jan 6 09:00 +1d  Jan 8 +2d    Jan 12 +4d   Jan 22 +10d   Feb 21 +30d
    b     Jan 10 09:00  Jan 13 09:00 +3d Jan 17 +4d   Feb 2 +16d   -             -
    c     Feb 3 12:00   Feb 4 00:00 +12h -            -            -             -
    d     Feb 10 09:00  -                -            -            -             -
    e     Mar 2 09:00   Mar 3 09:00 +1d  (recycled Mar 5, MQL again Mar 9: a re-entry)

Opportunities: W1 won (created Jan 22, closed Feb 21, 30,000), W2 won (created
Feb 1, closed Mar 10, 50,000), L1 lost (created Feb 5, closed Mar 15, 20,000),
O1 open (created Mar 1, 99,000).
"""

import datetime
from decimal import Decimal

import pytest

from apps.measurement.services import rollup
from apps.records.models import Account, Lead, LifecycleStage, Opportunity, StageEvent
from apps.strategy import waterfall
from apps.strategy.assumptions import actuals_by_month, assumptions_from_history
from apps.strategy.waterfall import WON, PlanError
from tests import factories

pytestmark = pytest.mark.django_db

JAN, FEB, MAR = (datetime.date(2026, month, 1) for month in (1, 2, 3))
Q1_END = datetime.date(2026, 3, 31)


def at(month, day, hour=9, minute=0):
    return datetime.datetime(2026, month, day, hour, minute, tzinfo=datetime.UTC)


def make_lead(org, email, path):
    stages = {s.key: s for s in LifecycleStage.objects.for_org(org)}
    record = Lead.objects.create(
        organization=org, email=email, stage=stages[path[-1][0]], captured_at=path[0][1]
    )
    previous = ""
    for key, moment in path:
        StageEvent.objects.create(
            organization=org, lead=record, from_stage=previous, to_stage=key, at=moment, origin="api"
        )
        previous = key
    return record


@pytest.fixture
def history(db):
    org = factories.make_org(time_zone="UTC")
    a = make_lead(
        org,
        "a@x.test",
        [
            ("inquiry", at(1, 5)),
            ("mql", at(1, 6)),
            ("sal", at(1, 8)),
            ("sql", at(1, 12)),
            ("opportunity", at(1, 22)),
            ("customer", at(2, 21)),
        ],
    )
    b = make_lead(
        org,
        "b@x.test",
        [("inquiry", at(1, 10)), ("mql", at(1, 13)), ("sal", at(1, 17)), ("sql", at(2, 2))],
    )
    make_lead(org, "c@x.test", [("inquiry", at(2, 3, 12)), ("mql", at(2, 4, 0))])
    make_lead(org, "d@x.test", [("inquiry", at(2, 10))])
    make_lead(
        org,
        "e@x.test",
        [("inquiry", at(3, 2)), ("mql", at(3, 3)), ("recycled", at(3, 5)), ("mql", at(3, 9))],
    )
    account = Account.objects.create(organization=org, name="Acme", domain="acme.test")
    for name, contact, created, status, closed, amount in [
        ("W1", a, (1, 22), "won", (2, 21), 30_000),
        ("W2", b, (2, 1), "won", (3, 10), 50_000),
        ("L1", b, (2, 5), "lost", (3, 15), 20_000),
        ("O1", a, (3, 1), "open", None, 99_000),
    ]:
        Opportunity.objects.create(
            organization=org,
            name=name,
            account=account,
            primary_contact=contact,
            amount=Decimal(amount),
            created_date=datetime.date(2026, *created),
            status=status,
            close_date=datetime.date(2026, *closed) if closed else None,
        )
    # Another organisation's funnel must not leak into this one's numbers.
    other = factories.make_org(time_zone="UTC")
    make_lead(other, "z@x.test", [("inquiry", at(1, 5)), ("mql", at(1, 5, 10))])
    Opportunity.objects.create(
        organization=other,
        name="Other",
        account=Account.objects.create(organization=other, name="Other", domain="other.test"),
        amount=Decimal(1_000_000),
        created_date=datetime.date(2026, 1, 2),
        status="won",
        close_date=datetime.date(2026, 1, 3),
    )
    rollup.rollup(org, full=True)
    rollup.rollup(other, full=True)
    return org


def values(history, name):
    return [getattr(stage, name).value for stage in history.stages]


def test_assumptions_from_a_quarter_of_history(history):
    found = assumptions_from_history(history, JAN, Q1_END)
    assert [s.key for s in found.stages] == ["inquiry", "mql", "sal", "sql", "opportunity"]
    assert [s.next_key for s in found.stages] == ["mql", "sal", "sql", "opportunity", WON]
    assert found.won_stage == "customer"
    assert values(found, "rate") == pytest.approx(
        [
            4 / 5,  # Inquiry -> MQL: a, b, c, e of the 5 leads
            2 / 4,  # MQL -> SAL: a, b of a, b, c, e (e's second MQL is not a new cohort member)
            2 / 2,  # SAL -> SQL: a, b
            1 / 2,  # SQL -> Opportunity: a of a, b
            2 / 3,  # win rate: W1, W2 won of W1, W2, L1 closed
        ]
    )
    assert values(found, "lag_days") == pytest.approx(
        [
            (1 + 3 + 0.5 + 1) / 4,  # 1.375 days
            (2 + 4) / 2,  # 3
            (4 + 16) / 2,  # 10
            10,  # a only
            30,  # a: Opportunity Jan 22 -> Customer Feb 21
        ]
    )
    assert found.deal_size.value == pytest.approx((30_000 + 50_000) / 2)
    assert found.missing() == {}
    assert "cohort conversion" in found.stages[0].rate.basis
    assert "win rate" in found.stages[-1].rate.basis


def test_missing_history_is_none_with_a_reason(history):
    # February and March only: nobody who entered MQL then reached SAL, nobody entered SAL, and b (SQL
    # Feb 2) has not reached Opportunity; no lead entered Opportunity, so the sales cycle stands in.
    found = assumptions_from_history(history, FEB, Q1_END)
    assert values(found, "rate")[0] == pytest.approx(2 / 3)  # c, e of c, d, e
    assert values(found, "lag_days")[0] == pytest.approx((0.5 + 1) / 2)
    assert values(found, "rate")[1:4] == [None, None, None]
    assert "has reached SAL" in found.stages[1].rate.basis
    assert "no lead first entered SAL" in found.stages[2].rate.basis
    assert "has reached Opportunity" in found.stages[3].rate.basis
    assert values(found, "rate")[4] == pytest.approx(2 / 3)
    # Sales cycle of W1 (Jan 22 -> Feb 21, 30 days) and W2 (Feb 1 -> Mar 10, 37 days).
    assert values(found, "lag_days")[4] == pytest.approx((30 + 37) / 2)
    assert "sales cycle" in found.stages[4].lag_days.basis
    missing = found.missing()
    assert set(missing) == {
        "stages[1].rate", "stages[1].lag_days", "stages[2].rate", "stages[2].lag_days",
        "stages[3].rate", "stages[3].lag_days",
    }  # fmt: skip
    with pytest.raises(PlanError) as raised:
        found.plan({JAN: 100_000})
    assert raised.value.errors == missing


def test_no_history_at_all():
    org = factories.make_org(time_zone="UTC")
    found = assumptions_from_history(org, JAN, Q1_END)
    assert all(v is None for v in values(found, "rate") + values(found, "lag_days"))
    assert found.deal_size.value is None
    assert "no deal was won" in found.deal_size.basis
    assert found.stages[-1].rate.basis.startswith("no opportunity closed")


def test_history_feeds_a_plan(history):
    found = assumptions_from_history(history, JAN, Q1_END)
    plan = found.plan(waterfall.spread_quarter(2026, 2, 120_000))
    required = waterfall.reverse(plan)
    # 120,000 / 40,000 = 3 deals; inquiries 3 / (2/3 * 1/2 * 1 * 1/2 * 4/5) = 3 / (2/15) = 22.5
    assert required.total(WON) == pytest.approx(3)
    assert required.total("inquiry") == pytest.approx(22.5)


def test_actuals_by_month(history):
    stages = ["inquiry", "mql", "sal", "sql", "opportunity", WON]
    actuals = actuals_by_month(history, stages, [MAR, JAN, FEB])
    assert actuals == {
        "inquiry": {JAN: 2, FEB: 2, MAR: 1},  # a, b | c, d | e
        "mql": {JAN: 2, FEB: 1, MAR: 1},  # a, b | c | e (its second entry is a re-entry)
        "sal": {JAN: 2, FEB: 0, MAR: 0},
        "sql": {JAN: 1, FEB: 1, MAR: 0},  # a | b
        "opportunity": {JAN: 1, FEB: 0, MAR: 0},
        WON: {JAN: 0, FEB: 1, MAR: 1},  # W1 closed Feb 21, W2 Mar 10 (the other org's Jan win not counted)
    }
    assert actuals_by_month(history, ["mql"], []) == {"mql": {}}
