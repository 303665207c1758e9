"""The pipeline waterfall against a history worked out by hand, and coverage and forecast against the goal.

A UTC organisation with a calendar fiscal year; the scope is FY2026 Q2 (April to June) and the window is
May 2026. Each opportunity's history is written with its event times set by hand:

    opp  before May                 in May                                buckets
    A    open, May 20, 100          amount 150 on May 5                   start 100, progressed 50, end 150
    B    open, Jun 15, 200          won at 180 on May 10                  start 200, regressed 20, won 180
    C    open, Jun 1, 300           lost on May 12                        start 300, lost 300
    D    open, May 30, 400          close date to Jul 15 on May 15        start 400, pushed 400
    E    -                          created May 3 at 500, 450 on May 20   created 500, regressed 50, end 450
    F    open, Jul 20, 600          close date to Jun 20 on May 8         progressed 600 (pulled in), end 600
    G    lost on Apr 20             reopened May 9 (Jun 5, 700),          progressed 700 + 100, won 800
                                    won at 800 on May 25
    H    -                          created May 2, closes Aug 1           not in scope
    I    open, Jun 30, 1000         (lost on Jun 5, after the window)     start 1000, end 1000
    J    -                          created already won on May 4 (300)    never open pipeline
    K    -                          created May 6 (Jun 1, 50), to Jul 1   created 50, progressed 20, end 70
                                    on May 7, back to Jun 2 at 70 on
                                    May 21 (an expansion)
    L    open, Jun 3, 110           to Jul 3 on May 11, 130 on May 28     start 110, pushed 110

    start 2110 + created 550 + progressed 1470 - regressed 70 - won 980 - lost 300 - pushed 510 = end 2270
"""

import datetime
from decimal import Decimal

import pgtrigger
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.measurement import pipeline
from apps.measurement.models import PipelineSpell
from apps.measurement.services import rollup
from apps.records.models import Lead, LifecycleStage, Opportunity
from apps.strategy.models import Goal
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

Event = Opportunity.pgh_event_model
MAY_1, MAY_31 = datetime.date(2026, 5, 1), datetime.date(2026, 5, 31)


def noon(month, day):
    return datetime.datetime(2026, month, day, 12, tzinfo=datetime.UTC)


def d(month, day):
    return datetime.date(2026, month, day)


def stamp(opp, when):
    """Date the opportunity's latest history snapshot as if it had been written `when`."""
    latest = Event.objects.filter(pgh_obj_id=opp.pk).order_by("-pgh_id").first()
    with pgtrigger.ignore("records.OpportunityEvent:append_only"):
        Event.objects.filter(pk=latest.pk).update(pgh_created_at=when)


def make(org, name, when, *, amount, close, status="open", type="new_business", created=None):
    opp = Opportunity.objects.create(
        organization=org,
        name=name,
        amount=Decimal(amount),
        close_date=close,
        status=status,
        type=type,
        created_date=created or when.date(),
    )
    stamp(opp, when)
    return opp


def change(opp, when, **fields):
    for key, value in fields.items():
        setattr(opp, key, Decimal(value) if key == "amount" else value)
    opp.save()
    stamp(opp, when)


@pytest.fixture
def history(owner):
    return build_history(owner)


def build_history(owner):
    """The history of the table above, in a new organisation owned by `owner`."""
    org = factories.make_org(time_zone="UTC", owner=owner)
    a = make(org, "A", noon(4, 10), amount=100, close=d(5, 20))
    change(a, noon(5, 5), amount=150)
    b = make(org, "B", noon(4, 5), amount=200, close=d(6, 15))
    change(b, noon(5, 10), status="won", amount=180, close_date=d(5, 10))
    c = make(org, "C", noon(4, 1), amount=300, close=d(6, 1))
    change(c, noon(5, 12), status="lost", close_date=d(5, 12))
    dd = make(org, "D", noon(4, 2), amount=400, close=d(5, 30))
    change(dd, noon(5, 15), close_date=d(7, 15))
    e = make(org, "E", noon(5, 3), amount=500, close=d(6, 10))
    change(e, noon(5, 20), amount=450)
    f = make(org, "F", noon(3, 1), amount=600, close=d(7, 20))
    change(f, noon(5, 8), close_date=d(6, 20))
    g = make(org, "G", noon(4, 1), amount=700, close=d(6, 5))
    change(g, noon(4, 20), status="lost", close_date=d(4, 20))
    change(g, noon(5, 9), status="open", close_date=d(6, 5))
    change(g, noon(5, 25), status="won", amount=800, close_date=d(5, 25))
    make(org, "H", noon(5, 2), amount=900, close=d(8, 1))
    i = make(org, "I", noon(4, 1), amount=1000, close=d(6, 30))
    change(i, noon(6, 5), status="lost")
    make(org, "J", noon(5, 4), amount=300, close=d(5, 4), status="won")
    k = make(org, "K", noon(5, 6), amount=50, close=d(6, 1), type="expansion")
    change(k, noon(5, 7), close_date=d(7, 1))
    change(k, noon(5, 21), close_date=d(6, 2), amount=70)
    lo = make(org, "L", noon(4, 3), amount=110, close=d(6, 3))
    change(lo, noon(5, 11), close_date=d(7, 3))
    change(lo, noon(5, 28), amount=130)
    # Deals closed before the quarter, for the forecast's win rate: 1000 won of 4000 closed.
    make(org, "Old won", noon(1, 2), amount=1000, close=d(1, 10), status="won", created=d(1, 2))
    make(org, "Old lost", noon(1, 3), amount=3000, close=d(2, 1), status="lost", created=d(1, 3))
    # Another organisation's pipeline never counts.
    other = factories.make_org(time_zone="UTC")
    make(other, "Elsewhere", noon(4, 1), amount=99999, close=d(6, 1))
    return org


def test_the_waterfall_balances_with_the_hand_computed_buckets(history):
    result = pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    assert (result.scope.quarter_start, result.scope.quarter_end) == (d(4, 1), d(6, 30))
    assert {k: float(v) for k, v in result.amounts.items()} == {
        "start": 2110,
        "created": 550,
        "progressed": 1470,
        "regressed": 70,
        "won": 980,
        "lost": 300,
        "pushed": 510,
        "end": 2270,
    }
    assert result.counts == {
        "start": 6,
        "created": 2,
        "progressed": 4,
        "regressed": 2,
        "won": 2,
        "lost": 1,
        "pushed": 2,
        "end": 5,
    }
    assert result.balanced


def test_each_bucket_lists_the_opportunities_behind_it(history):
    def names(bucket):
        rows = pipeline.bucket_opportunities(history, start=MAY_1, end=MAY_31, bucket=bucket)
        return [(row["name"], row["contribution"]) for row in rows]

    assert names("progressed") == [("G", 800), ("F", 600), ("A", 50), ("K", 20)]
    assert names("pushed") == [("D", 400), ("L", 110)]
    assert names("won") == [("G", 800), ("B", 180)]
    assert names("regressed") == [("E", 50), ("B", 20)]
    assert sorted(names("end")) == [("A", 150), ("E", 450), ("F", 600), ("I", 1000), ("K", 70)]
    with pytest.raises(ValueError):
        pipeline.bucket_opportunities(history, start=MAY_1, end=MAY_31, bucket="nope")


def test_a_filter_narrows_the_scope_and_still_balances(history):
    scope = pipeline.scope_for(history, MAY_31, {"type": "new_business"})
    result = pipeline.waterfall(history, start=MAY_1, end=MAY_31, scope=scope)
    amounts = {k: float(v) for k, v in result.amounts.items()}
    assert amounts["created"] == 500 and amounts["progressed"] == 1450 and amounts["end"] == 2200
    assert result.balanced


def test_a_window_before_the_changes_sees_them_all_still_open(history):
    # On April 30 everything of the quarter is open: A, B, C, D, I, L (G was lost on April 20).
    result = pipeline.waterfall(history, start=d(4, 30), end=d(4, 30))
    assert float(result.amounts["start"]) == float(result.amounts["end"]) == 2110


def test_coverage_and_forecast_against_the_new_bookings_goal(history):
    rollup.rollup(history, full=True)
    Goal.objects.create(organization=history, metric="new_bookings", fiscal_year=2026, quarter=2, target=5000)
    result = pipeline.outlook(history, end=MAY_31)
    # Won so far: B 180 (May 10), G 800 (May 25) and J 300 (May 4), all new business.
    assert result.won == 1280
    # Open new-business pipeline closing in the quarter on May 31: A 150, E 450, F 600, I 1000 (not K).
    assert result.open_pipeline == 2200
    assert result.target == 5000 and result.remaining == 3720
    assert result.coverage == pytest.approx(2200 / 3720)
    assert result.win_rate == pytest.approx(0.25)
    assert result.forecast == pytest.approx(1280 + 2200 * 0.25)
    assert result.forecast_attainment == pytest.approx((1280 + 550) / 5000 * 100)


def test_the_open_pipeline_is_the_new_business_part_of_the_waterfalls_end(history):
    # End of May: A 150, E 450, F 600, I 1000 are new business, K 70 an expansion.
    result = pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    assert float(result.amounts["end"]) == 2270 and result.new_business_end == 2200
    scope = pipeline.scope_for(history, MAY_31)
    assert pipeline.open_at(history, end=MAY_31, scope=scope) == (Decimal("2270.00"), 5)
    assert pipeline.open_pipeline(history, end=MAY_31, scope=scope) == 2200
    # On April 30: A 100, B 200, C 300, D 400, I 1000, L 110, all new business.
    assert pipeline.open_pipeline(history, end=d(4, 30), scope=pipeline.scope_for(history, d(4, 30))) == 2110


def test_without_a_goal_there_is_no_coverage(history):
    rollup.rollup(history, full=True)
    result = pipeline.outlook(history, end=MAY_31)
    assert result.target is None and result.coverage is None
    assert result.forecast == pytest.approx(1830)


MAY = {"from": "2026-05-01", "to": "2026-05-31"}


def test_the_page_the_csv_and_the_api_show_the_same_waterfall(history, client, owner):
    rollup.rollup(history, full=True)
    client.force_login(owner)
    page = client.get(reverse("measurement_pipeline", args=[history.slug]), MAY)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Pipeline waterfall, FY2026 Q2" in body and "2,270" in body and "\u2212 980" in body
    export = client.get(
        reverse("measurement_pipeline_export", args=[history.slug]), {**MAY, "table": "waterfall"}
    )
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0] == "bucket,label,amount,opportunities"
    assert lines[1:] == [
        "start,Open at start,2110.0,6",
        "created,Created,550.0,2",
        "progressed,Progressed,1470.0,4",
        "regressed,Regressed,70.0,2",
        "won,Won,980.0,2",
        "lost,Lost,300.0,1",
        "pushed,Pushed,510.0,2",
        "end,Open at end,2270.0,5",
    ]
    answer = api_client_for(history).get(reverse("api-dashboard-pipeline"), MAY).json()
    assert answer["waterfall"] == {
        "start": 2110, "created": 550, "progressed": 1470, "regressed": 70,
        "won": 980, "lost": 300, "pushed": 510, "end": 2270,
    }  # fmt: skip
    assert answer["balanced"] is True
    assert answer["scope"]["quarter_start"] == "2026-04-01"
    assert answer["outlook"]["open_pipeline"] == 2200 and answer["outlook"]["won"] == 1280
    # A channel filter empties the waterfall (no deal has a contact) but not the goal's pipeline.
    filtered = (
        api_client_for(history).get(reverse("api-dashboard-pipeline"), {**MAY, "channel": "Web"}).json()
    )
    assert filtered["waterfall"]["end"] == 0 and filtered["outlook"]["open_pipeline"] == 2200


def test_a_bucket_lists_its_opportunities_on_the_page_and_in_csv(history, client, owner):
    client.force_login(owner)
    page = client.get(reverse("measurement_pipeline", args=[history.slug]), {**MAY, "bucket": "pushed"})
    body = page.content.decode()
    assert "Pushed: the opportunities behind it" in body and ">D</a>" in body and ">L</a>" in body
    export = client.get(
        reverse("measurement_pipeline_export", args=[history.slug]),
        {**MAY, "bucket": "pushed", "table": "opportunities"},
    )
    rows = [line.split(",") for line in b"".join(export.streaming_content).decode().splitlines()[1:]]
    assert [(row[1], row[-1]) for row in rows] == [("D", "400.0"), ("L", "110.0")]


def test_bad_parameters_are_named(history, client, owner):
    client.force_login(owner)
    page = client.get(
        reverse("measurement_pipeline", args=[history.slug]), {"type": "gift", "bucket": "x", "segment": "1"}
    )
    assert page.status_code == 400
    answer = api_client_for(history).get(reverse("api-dashboard-pipeline"), {"type": "gift"})
    assert answer.status_code == 400 and "type" in answer.json()["error"]["fields"]


def test_empty_pages_say_what_to_do(org, owner_client):
    page = owner_client.get(reverse("measurement_pipeline", args=[org.slug]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Add close dates to open opportunities" in body and "set one on the goals page" in body
    leaks_page = owner_client.get(reverse("measurement_leaks", args=[org.slug]))
    assert leaks_page.status_code == 200
    assert "Choose a longer range" in leaks_page.content.decode()


def test_compare_adds_the_previous_period_which_ends_where_this_one_starts(history):
    # 31 March - 30 April: A, B, C, D, G (700), I and L are created; G is lost on 20 April.
    answer = api_client_for(history).get(
        reverse("api-dashboard-pipeline"), {**MAY, "compare": "previous_period"}
    )
    assert answer.json()["previous_waterfall"] == {
        "start": 0, "created": 2810, "progressed": 0, "regressed": 0,
        "won": 0, "lost": 700, "pushed": 0, "end": 2110,
    }  # fmt: skip
    assert answer.json()["waterfall"]["start"] == 2110


def test_the_definitions_page_defines_the_buckets(org, owner_client):
    page = owner_client.get(reverse("measurement_index", args=[org.slug])).content.decode()
    assert "Pipeline, leaks and red flags" in page
    assert "start + created + progressed \u2212 regressed \u2212 won \u2212 lost \u2212 pushed = end" in page
    assert "Revenue at stake" in page


def _waterfall_statements(queries) -> int:
    return sum("spells AS" in query["sql"] for query in queries.captured_queries)


def test_the_page_keeps_its_waterfall_until_a_deal_changes(history):
    first, _ = pipeline.build_dashboard(history, MAY)
    with CaptureQueriesContext(connection) as queries:
        again, _ = pipeline.build_dashboard(history, MAY)
    assert _waterfall_statements(queries) == 0
    assert again.extra["waterfall"] == first.extra["waterfall"]
    with CaptureQueriesContext(connection) as queries:
        pipeline.build_dashboard(history, {**MAY, "fresh": "1"})
    # One statement: without filters the outlook's open pipeline is the new business of the period's end.
    assert _waterfall_statements(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        pipeline.build_dashboard(history, {**MAY, "fresh": "1", "channel": "Web"})
    assert _waterfall_statements(queries) == 2  # the channel's waterfall and the goal's open pipeline

    # E (open at the end of May at 450) is raised to 460: a new snapshot, so the page recomputes.
    change(Opportunity.objects.get(organization=history, name="E"), noon(5, 29), amount=460)
    with CaptureQueriesContext(connection) as queries:
        changed, _ = pipeline.build_dashboard(history, MAY)
    assert _waterfall_statements(queries) == 1
    assert changed.extra["waterfall"]["end"] == first.extra["waterfall"]["end"] + 10


def _spells(org) -> list[tuple]:
    fields = [f.attname for f in PipelineSpell._meta.concrete_fields if f.attname not in SPELL_STAMPS]
    return sorted(PipelineSpell.objects.for_org(org).values_list(*fields))


SPELL_STAMPS = {"id", "created_at", "updated_at"}


def test_the_rows_of_a_changed_deal_are_rebuilt_alone_and_equal_a_whole_rebuild(history):
    pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    e = Opportunity.objects.get(organization=history, name="E")
    change(e, noon(5, 29), amount=460)
    with CaptureQueriesContext(connection) as queries:
        result = pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    rebuilt = [
        q["sql"] for q in queries.captured_queries if "INSERT INTO measurement_pipelinespell" in q["sql"]
    ]
    assert len(rebuilt) == 1 and "ANY(" in rebuilt[0]  # E's history only
    assert float(result.amounts["end"]) == 2280 and result.balanced
    with CaptureQueriesContext(connection) as queries:
        pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    assert not any("measurement_pipelinespell (" in q["sql"] for q in queries.captured_queries)
    refreshed = _spells(history)
    pipeline.rebuild_facts(history)
    assert _spells(history) == refreshed
    # E's three snapshots are open in the quarter; the last is current.
    rows = [r for r in PipelineSpell.objects.for_org(history).filter(opportunity=e).order_by("snapshot_id")]
    assert [float(r.amount) for r in rows] == [500, 450, 460]
    assert rows[-1].left_at is None and rows[0].left_at == rows[1].entered_at == noon(5, 20)


def test_a_snapshot_committed_after_a_later_one_is_still_counted(history):
    """A transaction can commit its snapshot after another's with a higher id has been read: the mark
    its trigger writes is taken by the next refresh, not skipped by an id watermark."""
    pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    i = Opportunity.objects.get(organization=history, name="I")
    table, columns = Event._meta.db_table, [f.column for f in Event._meta.concrete_fields]
    values = [{"pgh_id": "-1", "status": "'lost'", "pgh_created_at": "%s"}.get(c, c) for c in columns]
    with pgtrigger.ignore("records.OpportunityEvent:append_only"), connection.cursor() as cursor:
        cursor.execute(  # lost on May 15, with an id below every other snapshot
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {table} "
            "WHERE pgh_id = (SELECT min(pgh_id) FROM records_opportunityevent WHERE pgh_obj_id = %s)",
            [noon(5, 15), i.pk],
        )
    result = pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    assert float(result.amounts["lost"]) == 300 + 1000
    assert float(result.amounts["end"]) == 2270 - 1000
    assert result.balanced


def test_a_deleted_deal_leaves_the_waterfall(history):
    before = pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    Opportunity.objects.get(organization=history, name="I").delete()
    after = pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    assert float(after.amounts["start"]) == float(before.amounts["start"]) - 1000
    assert float(after.amounts["end"]) == float(before.amounts["end"]) - 1000
    assert after.balanced


def test_a_rollup_brings_the_contacts_channel_into_the_filter(history):
    stage = LifecycleStage.objects.for_org(history).order_by("order").first()
    lead = Lead.objects.create(organization=history, email="buyer@example.com", stage=stage, channel="Events")
    Opportunity.objects.filter(organization=history, name="I").update(primary_contact=lead)
    web = pipeline.scope_for(history, MAY_31, {"channel": "Web"})
    assert not any(pipeline.waterfall(history, start=MAY_1, end=MAY_31, scope=web).counts.values())
    Lead.objects.filter(pk=lead.pk).update(channel="Web")  # the deal writes no snapshot
    assert not any(pipeline.waterfall(history, start=MAY_1, end=MAY_31, scope=web).counts.values())
    rollup.rollup(history, full=True)
    result = pipeline.waterfall(history, start=MAY_1, end=MAY_31, scope=web)
    assert float(result.amounts["start"]) == float(result.amounts["end"]) == 1000


def test_moving_the_fiscal_year_recuts_the_quarters(history):
    pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    history.fiscal_year_start_month = 2  # quarters Feb-Apr, May-Jul: May 31 is in the second
    history.save()
    result = pipeline.waterfall(history, start=MAY_1, end=MAY_31)
    assert (result.scope.quarter_start, result.scope.quarter_end) == (d(5, 1), d(7, 31))
    assert PipelineSpell.objects.for_org(history).filter(quarter_start=d(5, 1)).exists()
    assert not PipelineSpell.objects.for_org(history).filter(quarter_start=d(4, 1)).exists()
    assert result.balanced
