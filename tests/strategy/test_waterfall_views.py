"""The reverse waterfall page, its CSV export and the API, against a small funnel worked by hand.

A UTC organisation (fiscal year starting in January) with the default funnel
(Inquiry, MQL, SAL, SQL, Opportunity, Customer = won), rolled up in full.
"Today" is 15 May 2026, so every month of FY2026 Q1 has ended. 2026, UTC:

    lead  Inquiry  MQL     SAL    SQL     Opportunity  Customer
    a     Jan 5    Jan 6   Jan 8  Jan 12  Jan 22       Feb 21
    b     Jan 10   -
    c     Feb 3    Feb 4

One opportunity, won: created Jan 22, closed Feb 21, 30,000.

First entries by month: Inquiry Jan 2, Feb 1; MQL Jan 1, Feb 1; SAL, SQL and
Opportunity Jan 1; won (by close date) Feb 1. Everything else 0.

The plan used by hand: target 120,000 for the quarter, so 40,000 a month; deal
size 10,000, so 4 deals a month; every rate 50 % and every lag 0, so each stage
needs twice the stage below it in the same month: Opportunity 8, SQL 16, SAL
32, MQL 64, Inquiry 128 a month.
"""

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.measurement.services import rollup
from apps.records.models import Account, Lead, LifecycleStage, Opportunity, StageEvent
from apps.strategy.models import Goal
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 5, 15)
STAGES = ["inquiry", "mql", "sal", "sql", "opportunity"]
PLAN = {
    "fiscal_year": "2026",
    "quarter": "1",
    "target": "120000",
    "deal_size": "10000",
    **{f"rate.{key}": "50" for key in STAGES},
    **{f"lag.{key}": "0" for key in STAGES},
}
# stage -> {month: (required, actual, gap)}
EXPECTED = {
    "inquiry": {"2026-01": (128, 2, 126), "2026-02": (128, 1, 127), "2026-03": (128, 0, 128)},
    "mql": {"2026-01": (64, 1, 63), "2026-02": (64, 1, 63), "2026-03": (64, 0, 64)},
    "sal": {"2026-01": (32, 1, 31), "2026-02": (32, 0, 32), "2026-03": (32, 0, 32)},
    "sql": {"2026-01": (16, 1, 15), "2026-02": (16, 0, 16), "2026-03": (16, 0, 16)},
    "opportunity": {"2026-01": (8, 1, 7), "2026-02": (8, 0, 8), "2026-03": (8, 0, 8)},
    "won": {"2026-01": (4, 0, 4), "2026-02": (4, 1, 3), "2026-03": (4, 0, 4)},
}


def at(month, day):
    return datetime.datetime(2026, month, day, 9, tzinfo=datetime.UTC)


def make_lead(org, email, path):
    stages = {s.key: s for s in LifecycleStage.objects.for_org(org)}
    lead = Lead.objects.create(
        organization=org, email=email, stage=stages[path[-1][0]], captured_at=path[0][1]
    )
    previous = ""
    for key, moment in path:
        StageEvent.objects.create(
            organization=org, lead=lead, from_stage=previous, to_stage=key, at=moment, origin="api"
        )
        previous = key
    return lead


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)


@pytest.fixture
def funnel(org):
    return build_funnel(org)


def build_funnel(org):
    """The worked funnel of the module docstring, rolled up."""
    org.time_zone = "UTC"
    org.save(update_fields=["time_zone"])
    assert org.fiscal_year_start_month == 1
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
    make_lead(org, "b@x.test", [("inquiry", at(1, 10))])
    make_lead(org, "c@x.test", [("inquiry", at(2, 3)), ("mql", at(2, 4))])
    Opportunity.objects.create(
        organization=org,
        name="W1",
        account=Account.objects.create(organization=org, name="Acme", domain="acme.test"),
        primary_contact=a,
        amount=Decimal(30_000),
        created_date=datetime.date(2026, 1, 22),
        status="won",
        close_date=datetime.date(2026, 2, 21),
    )
    rollup.rollup(org, full=True)
    return org


def page_url(org, name="strategy_waterfall"):
    return reverse(name, args=[org.slug])


def page_numbers(html: str) -> dict:
    """stage -> {month: (required, actual, gap)} read from the page's tables."""
    out = {}
    for stage, body in re.findall(r'<table class="waterfall" data-stage="(\w+)">(.*?)</table>', html, re.S):
        rows = re.findall(
            r'data-month="(\d{4}-\d\d)">.*?required">(\d+)</td><td class="num actual">(.*?)</td>'
            r'<td class="num gap">(.*?)</td>',
            body,
        )
        out[stage] = {m: (int(r), int(a), int(g)) for m, r, a, g in rows}
    return out


def csv_numbers(response) -> dict:
    text = b"".join(response.streaming_content).decode()
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        month = row["month"][:7]
        out.setdefault(row["stage"], {})[month] = (int(row["required"]), int(float(row["actual"])),
                                                   int(float(row["gap"])))  # fmt: skip
    return out


def api_numbers(body: dict) -> dict:
    return {
        stage["stage"]: {
            m["month"][:7]: (m["required_rounded"], int(m["actual"]), int(m["gap"])) for m in stage["months"]
        }
        for stage in body["stages"]
    }


def test_page_csv_and_api_give_the_hand_worked_numbers(funnel, owner_client):
    response = owner_client.get(page_url(funnel), PLAN)
    assert response.status_code == 200
    html = response.content.decode()
    assert page_numbers(html) == EXPECTED
    assert "vendor/plotly.min.js" in html and 'id="waterfall-chart"' in html

    export = owner_client.get(page_url(funnel, "strategy_waterfall_export"), PLAN)
    assert export.status_code == 200
    assert csv_numbers(export) == EXPECTED

    api = api_client_for(funnel).get(reverse("api-waterfall"), PLAN)
    assert api.status_code == 200, api.content
    body = api.json()
    assert api_numbers(body) == EXPECTED
    assert body["target"] == 120_000
    assert body["months"] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    used = {a["parameter"]: a["value"] for a in body["assumptions"]}
    assert used["deal_size"] == 10_000 and used["rate.mql"] == 50 and used["lag.sql"] == 0
    # Exact required volumes: 128 inquiries a month, no rounding needed.
    assert [m["required"] for m in body["stages"][0]["months"]] == [128, 128, 128]


def test_a_lag_moves_volume_into_earlier_months(funnel, owner_client):
    # Opportunity -> won takes 31 days, so every stage's need moves back 31 days. January (31 days)
    # moves wholly into December; February (Feb 1 - Mar 1, 28 days) to Jan 1 - Jan 29, all January;
    # March (Mar 1 - Apr 1) to Jan 29 - Mar 1: 3 of its 31 days in January, 28 in February.
    # Opportunity needs 8 a month: Dec 8; Jan 8 + 8*3/31 = 8.77 -> 9; Feb 8*28/31 = 7.23 -> 8; Mar 0.
    # Inquiry needs 16 times that: Dec 128; Jan 128 + 384/31 = 140.39 -> 141; Feb 3584/31 = 115.6 -> 116.
    response = owner_client.get(page_url(funnel), {**PLAN, "lag.opportunity": "31"})
    numbers = page_numbers(response.content.decode())
    assert numbers["opportunity"] == {
        "2025-12": (8, 0, 8),
        "2026-01": (9, 1, 8),
        "2026-02": (8, 0, 8),
        "2026-03": (0, 0, 0),
    }
    assert numbers["inquiry"] == {
        "2025-12": (128, 0, 128),
        "2026-01": (141, 2, 139),
        "2026-02": (116, 1, 115),
        "2026-03": (0, 0, 0),
    }
    assert numbers["won"]["2026-02"] == (4, 1, 3)  # won has no lag


def test_scenario_side_by_side(funnel, owner_client):
    # Opportunity -> won from 50 % to 80 %: 4 deals need 5 opportunities, 10 SQLs ... 80 inquiries.
    response = owner_client.get(
        page_url(funnel), {**PLAN, "scenario_stage": "opportunity", "scenario_rate": "30"}
    )
    html = response.content.decode()
    inquiry = re.search(r'data-stage="inquiry">(.*?)</table>', html, re.S).group(1)
    january = re.search(r'data-month="2026-01">(.*?)</tr>', inquiry, re.S).group(1)
    assert '<td class="num scenario">80</td><td class="num change">-48</td>' in january
    body = (
        api_client_for(funnel)
        .get(reverse("api-waterfall"), {**PLAN, "scenario_stage": "opportunity", "scenario_rate": "30"})
        .json()
    )
    opportunity = body["stages"][4]["months"][0]
    assert (opportunity["scenario_required"], opportunity["scenario_change"]) == (5, -3)


def test_plan_errors_are_shown_next_to_their_fields(funnel, owner_client):
    response = owner_client.get(page_url(funnel), {**PLAN, "deal_size": "0"})
    assert response.status_code == 200
    html = response.content.decode()
    field = re.search(
        r'<label for="id_deal_size">.*?</div>\s*</div>|<label for="id_deal_size">.*?</ul>', html, re.S
    )
    assert "must be more than 0, not 0.0." in field.group(0)
    assert 'data-stage="' not in html  # no table without a valid plan

    # A scenario pushing a rate past 100 % is the plan's own error, named for the scenario field.
    response = owner_client.get(page_url(funnel), {**PLAN, "scenario_stage": "mql", "scenario_rate": "60"})
    assert "must be more than 0 and at most 1, not 1.1 (mql)." in response.content.decode()

    api = api_client_for(funnel)
    response = api.get(reverse("api-waterfall"), {**PLAN, "deal_size": "0"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"deal_size": ["must be more than 0, not 0.0."]}
    response = api.get(reverse("api-waterfall"), {**PLAN, "rate.sal": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"rate.sal": ["must be a number, not 'x'."]}

    export = owner_client.get(page_url(funnel, "strategy_waterfall_export"), {**PLAN, "rate.mql": "0"})
    assert export.status_code == 400
    assert b"rate.mql" in export.content


def test_defaults_from_goals_and_history(funnel, owner_client, owner):
    membership = owner.memberships.get(organization=funnel)
    Goal.objects.create(
        organization=funnel, metric="new_bookings", fiscal_year=2026, quarter=1, owner=membership,
        target=Decimal("90000"),
    )  # fmt: skip
    response = owner_client.get(page_url(funnel), {"fiscal_year": "2026", "quarter": "1"})
    html = response.content.decode()
    assert 'name="target" id="id_target" value="90000"' in html
    # History (May 2025 - April 2026): one deal won, 30,000, so the deal size defaults to it with its note.
    assert 'name="deal_size" id="id_deal_size" value="30000"' in html
    assert "average deal size of the deals won 2025-05-01 to 2026-04-30" in html
    # One lead reached Opportunity and it was won: the win rate is 100 %, the lag its 30 days.
    assert 'name="rate.opportunity" id="id_rate.opportunity" value="100"' in html
    assert 'name="lag.opportunity" id="id_lag.opportunity" value="30"' in html


def test_missing_history_and_target_are_asked_for(owner_client, org):
    response = owner_client.get(page_url(org), {"fiscal_year": "2026", "quarter": "2"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "no organisation-wide new bookings goal is set for FY2026 Q2; enter the target." in html
    assert "no deal was won 2025-05-01 to 2026-04-30. Enter it." in html
    assert 'name="deal_size" id="id_deal_size" value=""' in html
    api = api_client_for(org).get(reverse("api-waterfall"))
    assert api.status_code == 400
    assert {"target", "deal_size", "rate.inquiry"} <= set(api.json()["error"]["fields"])
