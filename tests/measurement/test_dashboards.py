"""The dashboards' shared query, the metric engine's filters and the weekly leading indicators.

Numbers are worked out by hand from tests/measurement/test_dashboards_fixtures.py.
"""

import datetime

import pytest

from apps.accounts.models import Membership, Team, TeamMember
from apps.measurement.dashboards import base, weekly
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY
from apps.strategy.models import SavedPlan
from tests import factories
from tests.measurement.test_dashboards_fixtures import TODAY, build

pytestmark = pytest.mark.django_db

WEEK = {"from": "2026-03-09", "to": "2026-03-15"}


@pytest.fixture
def fx(db):
    return build()


def owner_of(org):
    return Membership.objects.for_org(org).filter(role="admin").first().user


def total(org, key, **values):
    metric, window, group_by, compare, params, filters = engine.parse_all(
        key, {**WEEK, "grain": "week", **values}, org=org
    )
    return engine.evaluate(org, metric, window, group_by, compare, params, filters).total


# --- Presets and the query --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "start", "end"),
    [
        ("last_7", "2026-03-09", "2026-03-15"),
        ("last_30", "2026-02-14", "2026-03-15"),
        ("last_90", "2025-12-16", "2026-03-15"),
        ("this_month", "2026-03-01", "2026-03-15"),
        ("last_month", "2026-02-01", "2026-02-28"),
        ("this_quarter", "2026-01-01", "2026-03-15"),
        ("last_quarter", "2025-10-01", "2025-12-31"),
    ],
)
def test_presets(preset, start, end):
    org = factories.make_org(time_zone="UTC")
    query = base.parse_query(org, {"preset": preset}, today=TODAY)
    assert (query.start.isoformat(), query.end.isoformat()) == (start, end)
    assert query.preset == preset


def test_quarter_presets_follow_the_fiscal_calendar():
    # A fiscal year starting in February: Q4 of FY2026 runs Nov 2025 - Jan 2026, Q1 of FY2027 Feb - Apr.
    org = factories.make_org(time_zone="UTC", fiscal_year_start_month=2)
    this = base.parse_query(org, {"preset": "this_quarter"}, today=TODAY)
    last = base.parse_query(org, {"preset": "last_quarter"}, today=TODAY)
    assert (this.start, this.end) == (datetime.date(2026, 2, 1), TODAY)
    assert (last.start, last.end) == (datetime.date(2025, 11, 1), datetime.date(2026, 1, 31))


def test_custom_range_compare_and_previous_window(fx):
    query = base.parse_query(
        fx.org, {"from": "2026-03-09", "to": "2026-03-15", "compare": "previous_period"}, today=TODAY
    )
    assert query.preset == "" and query.compare and query.days == 7
    assert query.previous == (datetime.date(2026, 3, 2), datetime.date(2026, 3, 8))
    assert query.params() == {"from": "2026-03-09", "to": "2026-03-15", "compare": "previous_period"}
    assert base.parse_query(fx.org, {}, today=TODAY, default_preset="last_7").start == datetime.date(
        2026, 3, 9
    )


def test_query_errors_name_the_parameter(fx):
    with pytest.raises(engine.QueryError) as error:
        base.parse_query(
            fx.org,
            {"preset": "", "from": "2026-03-10", "to": "2026-03-01", "compare": "yes", "owner": "abc"},
            today=TODAY,
        )
    assert set(error.value.errors) == {"to", "compare", "owner"}
    with pytest.raises(engine.QueryError) as error:
        base.parse_query(fx.org, {"preset": "next_year", "from": "x"}, today=TODAY)
    assert set(error.value.errors) == {"preset"}
    with pytest.raises(engine.QueryError) as error:
        base.parse_query(fx.org, {"from": "2026-03-40", "to": "2026-03-10"}, today=TODAY)
    assert set(error.value.errors) == {"from"}


def test_another_organisations_ids_are_unknown(fx):
    other = build()
    for name, value in [("team", other.team.pk), ("owner", other.alice.pk), ("segment", other.segment.pk)]:
        with pytest.raises(engine.QueryError) as error:
            base.parse_query(fx.org, {name: str(value)}, today=TODAY)
        assert list(error.value.errors) == [name]
        assert "of this organisation has id" in error.value.errors[name]


# --- Filters in the metric engine --------------------------------------------------------------------


def test_unfiltered_week(fx):
    assert [total(fx.org, key) for key in ("leads", "mqls", "sals", "sqls")] == [3, 2, 1, 1]
    assert total(fx.org, "pipeline_created") == 20000
    assert total(fx.org, "reject_rate") == 25.0
    assert total(fx.org, "sla_compliance") == 75.0


def test_each_filter_narrows_the_funnel_counts(fx):
    ids = {"alice": fx.alice.pk, "bob": fx.bob.pk, "team": fx.team.pk, "segment": fx.segment.pk}
    # leads, MQLs, SALs, SQLs of Mar 9-15 under each filter (see the fixture's table)
    for name, value, expected in [
        ("channel", "Paid Search", [1, 1, 0, 1]),
        ("channel", "Events", [2, 1, 1, 0]),
        ("campaign", "spring", [1, 1, 0, 1]),
        ("owner", "alice", [1, 1, 1, 1]),
        ("owner", "bob", [1, 1, 0, 0]),
        ("team", "team", [1, 1, 1, 1]),
        ("segment", "segment", [1, 1, 1, 1]),
    ]:
        value = str(ids.get(value, value))
        counts = [total(fx.org, key, **{name: value}) for key in ("leads", "mqls", "sals", "sqls")]
        assert counts == expected, (name, value)


def test_filters_on_opportunity_and_response_metrics(fx):
    assert total(fx.org, "pipeline_created", owner=str(fx.bob.pk)) == 0
    assert total(fx.org, "pipeline_created", owner=str(fx.alice.pk)) == 20000
    assert total(fx.org, "pipeline_created", team=str(fx.team.pk)) == 20000
    assert total(fx.org, "pipeline_created", channel="Events") == 0
    assert total(fx.org, "reject_rate", owner=str(fx.bob.pk)) is None  # no offers this week
    assert total(fx.org, "sla_compliance", channel="Paid Search") == 75.0
    assert total(fx.org, "sla_compliance", channel="Events") is None


def test_a_team_without_active_members_counts_nothing(fx):
    fx.alice.is_active = False
    fx.alice.save()
    assert total(fx.org, "leads", team=str(fx.team.pk)) == 0


def grouped(org, key, **values) -> dict:
    metric, window, group_by, compare, params, filters = engine.parse_all(key, values, org=org)
    rows = engine.evaluate(org, metric, window, group_by, compare, params, filters).rows
    return {row["group_label"]: row["value"] for row in rows}


def test_grouping_by_team_gives_each_team_its_active_members_figures(fx):
    # Alice is in Hunters and in Closers, Bob in Closers only: Alice's figures count in both teams.
    closers = Team.objects.create(organization=fx.org, name="Closers")
    for member in (fx.alice, fx.bob):
        TeamMember.objects.create(organization=fx.org, team=closers, membership=member)
    by_team = {**WEEK, "group_by": "team"}
    # New leads of Mar 9-15: b (Bob), c (Alice), d (nobody's).
    assert grouped(fx.org, "leads", **by_team) == {"Hunters": 1, "Closers": 2, "(no team)": 1}
    assert grouped(fx.org, "pipeline_created", **by_team) == {"Hunters": 20000, "Closers": 20000}
    # Speed-to-lead over Mar 2-15, median of the lower nearest rank: Alice's 1, 2, 10, 20, 50 min -> 10;
    # with Bob's 5 min, 1, 2, 5, 10, 20, 50 -> 5. Sketch buckets are within 1 %.
    fortnight = {"from": "2026-03-02", "to": "2026-03-15", "grain": "month", "group_by": "team"}
    speed = grouped(fx.org, "speed_to_lead", **fortnight)
    assert speed == {"Hunters": pytest.approx(10, rel=0.01), "Closers": pytest.approx(5, rel=0.01)}
    # SLA: Hunters 3 met of 4; Closers 4 met of 6.
    sla = grouped(fx.org, "sla_compliance", **fortnight)
    assert sla == {"Hunters": 75.0, "Closers": pytest.approx(400 / 6, abs=1e-6)}
    # A group equals the team filter's total, and an inactive member leaves the team's group.
    assert total(fx.org, "leads", team=str(closers.pk)) == 2
    fx.bob.is_active = False
    fx.bob.save()
    assert grouped(fx.org, "leads", **by_team) == {"Hunters": 1, "Closers": 1, "(no team)": 2}


def test_a_filter_a_metric_cannot_take_is_an_error(fx):
    ids = {"OWNER": fx.alice.pk, "TEAM": fx.team.pk, "SEGMENT": fx.segment.pk}
    for key, values, parameter, words in [
        ("cac_blended", {"owner": "OWNER"}, "owner", "CAC (blended) cannot be filtered by owner"),
        ("cost_per_lead", {"team": "TEAM"}, "team", "it can be filtered by channel, campaign"),
        ("pipeline_created", {"segment": "SEGMENT"}, "segment", "cannot be filtered by segment"),
        ("time_in_stage_median", {"segment": "SEGMENT"}, "segment", "cannot be filtered by segment"),
        ("leads", {"segment": "SEGMENT", "channel": "Events"}, "segment", "cannot be combined with channel"),
        ("leads", {"segment": "SEGMENT", "group_by": "owner"}, "segment", "group_by=owner"),
        ("leads", {"channel": "Events", "group_by": "segment"}, "channel", "group_by=segment"),
    ]:
        values = {name: str(ids.get(value, value)) for name, value in values.items()}
        with pytest.raises(engine.QueryError) as error:
            total(fx.org, key, **values)
        assert words in error.value.errors[parameter], (key, values)


def test_metrics_api_takes_the_filters(fx):
    from tests.conftest import api_client_for

    client = api_client_for(fx.org)
    response = client.get("/api/v1/metrics/mqls/", {**WEEK, "grain": "week", "owner": fx.alice.pk})
    assert response.status_code == 200, response.content
    assert response.json()["total"] == 1
    assert response.json()["filters"] == {"owner": fx.alice.pk}
    response = client.get("/api/v1/metrics/cac_blended/", {**WEEK, "channel": "Events"})
    assert response.status_code == 400
    assert "cannot be filtered by channel" in str(response.json())
    assert "channel" in str(response.json())


# --- Leading indicators ------------------------------------------------------------------------------


def _by_key(rows):
    return {row["key"]: row for row in rows}


def test_leading_indicators_this_week_against_last_week(fx):
    rows = _by_key(
        weekly.leading_indicators(
            fx.org, start=datetime.date(2026, 3, 9), end=datetime.date(2026, 3, 15), today=TODAY
        )
    )
    assert [(k, rows[k]["value"], rows[k]["previous"]) for k in ("new_leads", "mqls", "sals", "sqls")] == [
        ("new_leads", 3, 2),
        ("mqls", 2, 1),
        ("sals", 1, 1),
        ("sqls", 1, 0),
    ]
    assert (rows["pipeline_created"]["value"], rows["pipeline_created"]["previous"]) == (20000, 5000)
    # Speed-to-lead this week 1, 2, 10, 20, 50 min: median (rank 2) 10 min, p90 (rank 3) 20 min; last week 5.
    assert rows["speed_to_lead_p50"]["value"] == pytest.approx(10, rel=0.01)
    assert rows["speed_to_lead_p90"]["value"] == pytest.approx(20, rel=0.01)
    assert rows["speed_to_lead_p50"]["previous"] == pytest.approx(5, rel=0.01)
    assert (rows["sla_compliance"]["value"], rows["sla_compliance"]["previous"]) == (75.0, 50.0)
    assert (rows["reject_rate"]["value"], rows["reject_rate"]["previous"]) == (25.0, 0.0)
    assert rows["mqls"]["change"] == 1 and rows["mqls"]["status"] == "better"
    assert rows["reject_rate"]["status"] == "worse"  # lower is better
    assert rows["speed_to_lead_p50"]["status"] == "worse"
    assert rows["sals"]["status"] == "flat"
    assert rows["sla_compliance"]["shown"] == {
        "value": "75.0%",
        "previous": "50.0%",
        "target": "\u2013",
        "change": "+25.0 pts",
    }
    assert all(row["target"] is None for row in rows.values())  # no plan


def test_leading_indicators_equal_the_metric_engine(fx):
    rows = weekly.leading_indicators(
        fx.org,
        start=datetime.date(2026, 3, 9),
        end=datetime.date(2026, 3, 15),
        filters={"owner": fx.alice.pk},
    )
    for row in rows:
        assert row["value"] == total(fx.org, row["metric"], owner=str(fx.alice.pk))


def test_leading_indicators_are_json_ready(fx):
    import json

    rows = weekly.leading_indicators(fx.org, start=datetime.date(2026, 3, 9), end=datetime.date(2026, 3, 15))
    assert json.loads(json.dumps(rows)) == rows


def test_an_indicator_that_cannot_take_a_filter_says_so(fx):
    rows = _by_key(
        weekly.leading_indicators(
            fx.org,
            start=datetime.date(2026, 3, 9),
            end=datetime.date(2026, 3, 15),
            filters={"segment": fx.segment.pk},
        )
    )
    assert rows["mqls"]["value"] == 1 and rows["mqls"]["unavailable"] is None
    assert rows["pipeline_created"]["value"] is None
    assert "cannot be filtered by segment" in rows["pipeline_created"]["unavailable"]
    assert rows["pipeline_created"]["shown"]["value"] == "n/a"


def _plan(org, *, fiscal_year=2026, quarter=1, primary=True, name="Plan"):
    # Lags of 0 days keep each month's need in that month: 90,000 a quarter = 30,000 a month at a
    # deal size of 10,000 → 3 won; 50 % win → 6 opportunities; 100 % SQL → opp → 6 SQLs; 50 % each
    # above: 12 SALs, 24 MQLs, 48 inquiries a month.
    params = {
        "fiscal_year": str(fiscal_year),
        "quarter": str(quarter),
        "target": "90000",
        "deal_size": "10000",
    }
    for stage, rate in [("inquiry", 50), ("mql", 50), ("sal", 50), ("sql", 100), ("opportunity", 50)]:
        params[f"rate.{stage}"] = str(rate)
        params[f"lag.{stage}"] = "0"
    return SavedPlan.objects.create(
        organization=org, name=name, fiscal_year=fiscal_year, quarter=quarter, params=params,
        is_primary=primary,
    )  # fmt: skip


def test_targets_from_the_primary_plan_prorated_by_days(fx):
    _plan(fx.org)
    rows = _by_key(
        weekly.leading_indicators(
            fx.org, start=datetime.date(2026, 3, 9), end=datetime.date(2026, 3, 15), today=TODAY
        )
    )
    # Seven of March's 31 days.
    assert rows["new_leads"]["target"] == pytest.approx(48 * 7 / 31, abs=0.01)
    assert rows["mqls"]["target"] == pytest.approx(24 * 7 / 31, abs=0.01)
    assert rows["sals"]["target"] == pytest.approx(12 * 7 / 31, abs=0.01)
    assert rows["sqls"]["target"] == pytest.approx(6 * 7 / 31, abs=0.01)
    assert rows["pipeline_created"]["target"] == pytest.approx(6 * 10000 * 7 / 31, abs=0.01)
    assert rows["sla_compliance"]["target"] is None
    assert rows["new_leads"]["target_status"] == "behind"  # 3 < 10.8


def test_targets_across_two_quarters_and_without_a_plan(fx):
    _plan(fx.org)
    # Mar 25 - Apr 3: Q2 has no primary plan, so no target at all.
    assert (
        weekly.plan_targets(fx.org, datetime.date(2026, 3, 25), datetime.date(2026, 4, 3), today=TODAY)
        is None
    )
    _plan(fx.org, quarter=2)
    targets = weekly.plan_targets(fx.org, datetime.date(2026, 3, 25), datetime.date(2026, 4, 3), today=TODAY)
    assert targets["mql"] == pytest.approx(24 * 7 / 31 + 24 * 3 / 30, abs=1e-6)
    _plan(fx.org, quarter=2, primary=False, name="Scenario")  # a scenario does not count
    assert weekly.plan_targets(fx.org, datetime.date(2026, 4, 1), datetime.date(2026, 4, 30), today=TODAY)[
        "mql"
    ] == pytest.approx(24)


def test_a_filtered_view_has_no_plan_target(fx):
    _plan(fx.org)
    rows = weekly.leading_indicators(
        fx.org, start=datetime.date(2026, 3, 9), end=datetime.date(2026, 3, 15), filters={"channel": "Events"}
    )
    assert all(row["target"] is None for row in rows)


# --- Drill-down --------------------------------------------------------------------------------------


def test_drilldown_lists_exactly_the_leads_behind_a_number(fx, client):
    client.force_login(owner_of(fx.org))
    query = base.parse_query(fx.org, {"preset": "last_7"}, today=TODAY)

    def emails(url):
        response = client.get(url)
        assert response.status_code == 200
        return sorted(e for e in ("a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test")
                      if e in response.content.decode())  # fmt: skip

    assert emails(base.drilldown_url(fx.org, "leads", query, entered_stage="mql")) == ["b@x.test", "c@x.test"]
    assert emails(base.drilldown_url(fx.org, "leads", query, created=True)) == [
        "b@x.test",
        "c@x.test",
        "d@x.test",
    ]
    assert emails(base.drilldown_url(fx.org, "leads", query, window=query.previous, created=True)) == [
        "a@x.test",
        "e@x.test",
    ]
    owner = base.parse_query(fx.org, {"preset": "last_7", "team": str(fx.team.pk)}, today=TODAY)
    assert emails(base.drilldown_url(fx.org, "leads", owner, entered_stage="mql")) == ["c@x.test"]
    segment = base.parse_query(fx.org, {"preset": "last_7", "segment": str(fx.segment.pk)}, today=TODAY)
    assert emails(base.drilldown_url(fx.org, "leads", segment, entered_stage="sql")) == ["a@x.test"]
    spring = base.parse_query(fx.org, {"preset": "last_7", "campaign": "spring"}, today=TODAY)
    assert emails(base.drilldown_url(fx.org, "leads", spring, created=True)) == ["b@x.test"]


def test_drilldown_to_opportunities(fx, client):
    client.force_login(owner_of(fx.org))
    query = base.parse_query(fx.org, {"preset": "last_7"}, today=TODAY)
    url = base.drilldown_url(fx.org, "opportunities", query, created=True)
    assert "created_after=2026-03-09" in url and "created_before=2026-03-16" in url
    page = client.get(url).content.decode()
    assert "Big" in page and "Small" not in page
    team = base.parse_query(fx.org, {"preset": "last_30", "team": str(fx.team.pk)}, today=TODAY)
    page = client.get(base.drilldown_url(fx.org, "opportunities", team, created=True)).content.decode()
    assert "Big" in page and "Small" not in page
    assert BY_KEY["pipeline_created"].unit == "currency"
