"""The review dashboards' pages, CSV exports and API: the same hand-computed numbers in all three.

The data is tests/measurement/test_dashboards_fixtures.py; the pages read "today"
from the organisation's clock, so these tests ask for explicit dates.
"""

import csv
import io

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.governance.models import ActionItem, OperatingReview
from tests.conftest import api_client_for
from tests.measurement.test_dashboards_fixtures import build

pytestmark = pytest.mark.django_db

WEEK = {"from": "2026-03-09", "to": "2026-03-15"}


@pytest.fixture
def fx(db):
    return build()


@pytest.fixture
def browser(fx, client):
    client.force_login(Membership.objects.for_org(fx.org).filter(role="admin").first().user)
    return client


def page(client, fx, name, **params):
    return client.get(reverse(f"measurement_{name}", args=[fx.org.slug]), params)


def export(client, fx, name, table, **params):
    response = client.get(
        reverse(f"measurement_{name}_export", args=[fx.org.slug]), {**params, "table": table}
    )
    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def api(fx, name, **params):
    response = api_client_for(fx.org).get(f"/api/v1/dashboards/{name}/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_weekly_page_csv_and_api_agree(fx, browser):
    response = page(browser, fx, "weekly", **WEEK)
    assert response.status_code == 200
    html = response.content.decode()
    board = response.context["board"]
    values = {row["key"]: (row["value"], row["previous"]) for row in board.extra["indicators"]}
    assert values["new_leads"] == (3, 2) and values["mqls"] == (2, 1) and values["sqls"] == (1, 0)
    assert values["pipeline_created"] == (20000, 5000)
    assert "20,000" in html and "5,000" in html

    rows = export(browser, fx, "weekly", "indicators", **WEEK)
    assert rows[0] == ["indicator", "value", "previous", "change", "target", "unit"]
    by_label = {row[0]: row for row in rows[1:]}
    assert by_label["MQLs"][1:4] == ["2.0", "1.0", "1.0"]
    assert by_label["SLA compliance"][1:3] == ["75.0", "50.0"]

    data = api(fx, "weekly", **WEEK)
    assert data["query"]["from"] == "2026-03-09" and data["query"]["previous_to"] == "2026-03-08"
    assert data["indicators"] == board.extra["indicators"]
    table = data["tables"]["indicators"]["rows"]
    assert [(r["indicator"], r["value"], r["previous"]) for r in table] == [
        (row[0], float(row[1]) if row[1] else None, float(row[2]) if row[2] else None) for row in rows[1:]
    ]


def test_weekly_numbers_link_to_the_records_behind_them(fx, browser):
    response = page(browser, fx, "weekly", **WEEK, owner=fx.alice.pk)
    table = response.context["tables"]["indicators"]
    mqls = next(row for row in table.rows if row["indicator"].value == "MQLs")
    assert mqls["value"].value == 1
    listing = browser.get(mqls["value"].url).content.decode()
    assert "c@x.test" in listing and "b@x.test" not in listing
    assert f'href="{mqls["value"].url.replace("&", "&amp;")}"' in response.content.decode()


def test_a_filter_changes_the_numbers_and_a_bad_one_is_named(fx, browser):
    all_leads = page(browser, fx, "weekly", **WEEK).context["board"].extra["indicators"][0]
    events = page(browser, fx, "weekly", **WEEK, channel="Events").context["board"].extra["indicators"][0]
    assert (all_leads["value"], events["value"]) == (3, 2)
    response = page(browser, fx, "weekly", **WEEK, team="999999")
    assert response.status_code == 400
    assert "no team of this organisation has id 999999" in response.content.decode()
    response = api_client_for(fx.org).get("/api/v1/dashboards/weekly/", {"preset": "next_week"})
    assert response.status_code == 400
    assert "'next_week' is not one of last_7" in str(response.json())
    assert "preset" in str(response.json())


def test_segment_filter_leaves_what_it_cannot_narrow_as_n_a(fx, browser):
    response = page(browser, fx, "weekly", **WEEK, segment=fx.segment.pk)
    rows = {row["key"]: row for row in response.context["board"].extra["indicators"]}
    assert rows["mqls"]["value"] == 1
    assert rows["pipeline_created"]["value"] is None
    assert "cannot be filtered by segment" in response.content.decode()


def test_weekly_action_items_due(fx, browser):
    import datetime

    review = OperatingReview.objects.create(
        organization=fx.org, period_start=datetime.date(2026, 3, 2), period_end=datetime.date(2026, 3, 8)
    )
    for title, due, status in [
        ("Fix the Events follow-up", datetime.date(2020, 1, 6), "open"),
        ("Later", datetime.date(2099, 1, 1), "open"),
        ("Done already", datetime.date(2026, 3, 10), "done"),
    ]:
        ActionItem.objects.create(
            organization=fx.org, review=review, title=title, due=due, status=status, owner=fx.alice
        )
    rows = export(browser, fx, "weekly", "action_items", **WEEK)
    assert rows == [
        ["item", "owner", "due", "overdue"],
        ["Fix the Events follow-up", "Alice Hunter", "2020-01-06", "true"],
    ]
    assert export(browser, fx, "weekly", "action_items", **WEEK, owner=fx.bob.pk) == [rows[0]]


def test_funnel_numbers(fx, browser):
    data = api(fx, "funnel", **WEEK)
    conversion = {(r["from_stage"], r["to_stage"]): r for r in data["charts"]["conversion"]["rows"]}
    # Mar 9-15: MQL entries b, c; c reached SAL since (cohort 50 %); SAL entries c over MQL entries 2 (50 %).
    assert conversion["mql", "sal"]["cohort"] == 50.0 and conversion["mql", "sal"]["period"] == 50.0
    # SAL entries c, none reached SQL (cohort 0 %); SQL entries a over SAL entries c (period 100 %).
    assert conversion["sal", "sql"]["cohort"] == 0.0 and conversion["sal", "sql"]["period"] == 100.0
    times = {r["stage"]: r for r in data["charts"]["time_in_stage"]["rows"]}
    assert times["mql"]["median"] == pytest.approx(30, rel=0.01)
    assert times["sal"]["median"] == pytest.approx(144, rel=0.01)
    spread = {(r["stage"], r["range"]): r["exits"] for r in data["charts"]["time_distribution"]["rows"]}
    assert spread["inquiry", "under 1 hour"] == 1 and spread["inquiry", "1 to 3 days"] == 1
    assert spread["mql", "1 to 3 days"] == 1 and spread["sal", "3 to 7 days"] == 1
    velocity = {r["metric"]: r["value"] for r in data["tables"]["velocity"]["rows"]}
    # 1 opportunity created x 100 % win rate x 20,000 ÷ 3 days (Mar 10 to 13).
    assert velocity["Pipeline velocity"] == pytest.approx(20000 / 3, abs=0.01)
    rows = export(browser, fx, "funnel", "time_distribution", **WEEK)
    assert ["sal", "3 to 7 days", "1"] in rows
    assert page(browser, fx, "funnel", **WEEK).status_code == 200


def test_quarterly_numbers(fx, browser):
    data = api(fx, "quarterly", **{"from": "2026-03-01", "to": "2026-03-15"})
    flow = {(r["month"], r["channel"]): r["leads"] for r in data["charts"]["lead_flow"]["rows"]}
    assert flow == {("2026-03-01", "Paid Search"): 3, ("2026-03-01", "Events"): 2}
    assert data["tables"]["goals"]["rows"] == []
    response = page(browser, fx, "quarterly", **{"from": "2026-03-01", "to": "2026-03-15"})
    assert response.status_code == 200
    assert "No goal is set for FY2026 Q1" in response.content.decode()
    lead_flow = response.context["charts"]["lead_flow"].table
    paid = next(row for row in lead_flow.rows if row["channel"].value == "Paid Search")
    listing = browser.get(paid["leads"].url).content.decode()
    assert all(e in listing for e in ("a@x.test", "b@x.test", "e@x.test")) and "c@x.test" not in listing


def test_unknown_export_is_named(fx, browser):
    response = browser.get(reverse("measurement_weekly_export", args=[fx.org.slug]), {"table": "nope"})
    assert response.status_code == 400
    assert b"table: 'nope' is not one of" in response.content


def test_presets_and_compare_on_the_page(fx, browser):
    response = page(browser, fx, "funnel", preset="last_month", compare="previous_period")
    assert response.status_code == 200
    query = response.context["query"]
    assert query.compare and query.preset == "last_month"
    assert (query.end - query.start).days + 1 == query.days


def test_cached_numbers_follow_the_next_rollup(fx, browser):
    import datetime

    from apps.measurement.services import rollup
    from apps.records.models import Lead, LifecycleStage, StageEvent

    def new_leads(**params):
        board = page(browser, fx, "weekly", **WEEK, **params).context["board"]
        return board.extra["indicators"][0]["value"]

    assert new_leads() == 3
    inquiry = LifecycleStage.objects.for_org(fx.org).get(key="inquiry")
    lead = Lead.objects.create(organization=fx.org, email="f@x.test", stage=inquiry, channel="Events")
    moment = datetime.datetime(2026, 3, 14, 9, tzinfo=datetime.UTC)
    StageEvent.objects.create(organization=fx.org, lead=lead, to_stage="inquiry", at=moment, origin="api")
    assert new_leads() == 3  # the facts have not moved yet: the cached figure is still theirs
    rollup.rollup(fx.org, full=True)
    assert new_leads() == 4  # a finished rollup is a new facts version
    assert new_leads(fresh="1") == 4


def test_compare_adds_the_previous_period(fx, browser):
    plain = api(fx, "funnel", **WEEK)["charts"]["conversion"]
    assert "cohort_previous" not in plain["columns"]
    data = api(fx, "funnel", **WEEK, compare="previous_period")
    rows = {(r["from_stage"], r["to_stage"]): r for r in data["charts"]["conversion"]["rows"]}
    # Mar 2-8: a first entered MQL (Mar 3) and reached SAL (Mar 4): 100 % by cohort and by period.
    assert rows["mql", "sal"]["cohort_previous"] == 100.0 and rows["mql", "sal"]["period_previous"] == 100.0
    assert rows["mql", "sal"]["cohort"] == 50.0
    velocity = {r["metric"]: r for r in data["tables"]["velocity"]["rows"]}
    assert velocity["Opportunities created"]["previous"] == 1  # "Small", created Mar 4
    assert velocity["Opportunities created"]["change"] == 0
    csv_rows = export(browser, fx, "funnel", "velocity", **WEEK, compare="previous_period")
    assert csv_rows[0] == ["metric", "value", "previous", "change", "unit"]
    assert ["Opportunities created", "1.0", "1.0", "0.0", "count"] in csv_rows


def test_an_organisation_without_data_gets_empty_states(client):
    from tests import factories

    owner = factories.make_user()
    org = factories.make_org(owner=owner, time_zone="UTC")
    client.force_login(owner)
    expected = {
        "weekly": ["No KPI tree yet", "No open action item is due", "No red flag is raised"],
        "quarterly": ["No lead was created in this period", "No campaign return yet", "No goal is set"],
        "funnel": ["No lead left a funnel stage in this period"],
    }
    for name, texts in expected.items():
        response = client.get(reverse(f"measurement_{name}", args=[org.slug]))
        assert response.status_code == 200, name
        html = response.content.decode()
        assert all(text in html for text in texts), name
        assert api_client_for(org).get(f"/api/v1/dashboards/{name}/").status_code == 200


def test_time_in_stage_equals_the_metric_engine(fx):
    from apps.measurement.metrics import engine

    for params in ({}, {"compare": "previous_period"}, {"owner": str(fx.alice.pk)}, {"channel": "Events"}):
        rows = api(fx, "funnel", **WEEK, **params)["charts"]["time_in_stage"]["rows"]
        assert len(rows) == 5
        for row in rows:
            for column, key in (("median", "time_in_stage_median"), ("p90", "time_in_stage_p90")):
                values = {**WEEK, "stage": row["stage"], "compare": "previous_period", **params}
                parsed = engine.parse_all(key, values, org=fx.org)
                result = engine.evaluate(fx.org, *parsed)
                assert row[column] == result.total, (params, row["stage"], column)
                if params.get("compare"):
                    assert row[f"{column}_previous"] == result.total_previous
