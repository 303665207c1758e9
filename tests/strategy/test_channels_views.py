"""The channel budget and reallocation pages, the CSV export and the API: the same numbers everywhere.

Reuses the hand-worked fixture of tests/strategy/test_channels.py (FY2026 Q1,
"today" 15 May 2026); its expected figures are restated where checked.
"""

import csv
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.strategy.models import ChannelBudget
from apps.strategy.services import budget as services
from tests import factories
from tests.conftest import api_client_for
from tests.strategy.test_channels import TODAY, build_history, build_plan

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    monkeypatch.setattr("apps.measurement.metrics.engine.local_today", lambda org: TODAY)


@pytest.fixture
def history(org):
    return build_history(org)


@pytest.fixture
def plan(history):
    return build_plan(history)


Q1 = {"fiscal_year": "2026", "quarter": "1"}
DASH = "\u2013"  # what the page shows for a missing number
FIELDS = [name for name in services.CSV_HEADER if name not in ("channel", "in_plan")]


def url(org, name, *args):
    return reverse(name, args=[org.slug, *args])


def _number(text: str):
    text = re.sub(r"<[^>]+>", "", text).strip().strip("()")
    if text in ("", DASH):
        return None
    return float(text.replace(",", "").replace(" %", ""))


def page_numbers(html: str) -> dict:
    """{channel or "Total": {field: number}} from the plan table (a variance's percent is a span)."""
    out = {}
    rows = re.findall(r'<tr(?: data-channel="([^"]*)")?>\s*<th scope="row">.*?</th>(.*?)</tr>', html, re.S)
    for channel, body in rows:
        spans = re.findall(r'<span[^>]*data-field="(\w+)">(.*?)</span>', body, re.S)
        body = re.sub(r'<span[^>]*data-field="\w+">.*?</span>', "", body, flags=re.S)
        cells = re.findall(r'<td[^>]*data-field="(\w+)">(.*?)</td>', body, re.S)
        if cells:
            out[channel or "Total"] = {name: _number(value) for name, value in [*cells, *spans]}
    return out


def csv_numbers(response) -> dict:
    text = b"".join(response.streaming_content).decode()
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        out[row["channel"]] = {name: float(row[name]) if row[name] else None for name in FIELDS}
    return out


def api_numbers(body: dict) -> dict:
    out = {row["channel"]: {name: row[name] for name in FIELDS} for row in body["channels"]}
    out["Total"] = {name: body["totals"][name] for name in FIELDS}
    return out


def test_page_csv_and_api_agree_on_the_hand_worked_quarter(plan, owner_client):
    response = owner_client.get(url(plan, "strategy_channels"), Q1)
    assert response.status_code == 200
    html = response.content.decode()
    page = page_numbers(html)
    assert set(page) == {"Events", "Paid Search", "Tools", "Total"}
    assert page["Paid Search"]["actual_spend"] == 9900 and page["Paid Search"]["expected_pipeline"] == 30000
    assert page["Total"]["planned_spend"] == 13000 and page["Total"]["actual_spend"] == 15210
    assert "(not in the plan)" in html and 'id="channels-chart"' in html and "vendor/plotly.min.js" in html

    export = owner_client.get(url(plan, "strategy_channels_export"), Q1)
    assert export.status_code == 200
    assert export["Content-Disposition"].endswith('channel-budget-acme-FY2026-Q1.csv"')
    assert csv_numbers(export) == page

    body = api_client_for(plan).get(reverse("api-channel-budget-summary"), Q1).json()
    assert api_numbers(body) == page
    assert body["history"] == {"from": "2025-01-01", "to": "2025-12-31"}


def test_api_lines_carry_their_plan_and_channel_summary(plan):
    api = api_client_for(plan)
    listed = api.get(reverse("api-channel-budget-list"), {**Q1, "channel": "paid search"}).json()["results"]
    assert [line["channel"] for line in listed] == ["Paid Search"]
    line = listed[0]
    assert line["plan"]["expected_leads"] == 3 and line["plan"]["cost_per_lead"] == 3000
    assert line["plan"]["conversion"] == 0.5 and line["plan"]["expected_pipeline"] == 30000
    assert line["channel_summary"]["actual_spend"] == 9900
    assert line["channel_summary"]["spend_variance_percent"] == 10


def test_api_writes_and_errors_name_the_field(plan):
    api = api_client_for(plan)
    created = api.post(
        reverse("api-channel-budget-list"),
        {"fiscal_year": 2026, "quarter": 2, "channel": "events", "planned_spend": "1200.00"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["channel"] == "Events"
    detail = reverse("api-channel-budget-detail", args=[created.json()["id"]])
    patched = api.patch(detail, {"expected_cost_per_lead": "600"}, format="json")
    # 1,200 ÷ 600 = 2 leads.
    assert patched.status_code == 200 and patched.json()["plan"]["expected_leads"] == 2
    bad = api.post(
        reverse("api-channel-budget-list"),
        {"fiscal_year": 2026, "quarter": 2, "channel": "Billboards", "planned_spend": "1"},
        format="json",
    )
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["channel"]
    bad = api.patch(detail, {"planned_spend": "-3"}, format="json")
    assert bad.status_code == 400 and "planned_spend" in bad.json()["error"]["fields"]
    bad = api.get(reverse("api-channel-budget-summary"), {"quarter": "7"})
    assert bad.status_code == 400 and "quarter" in bad.json()["error"]["fields"]
    assert api.delete(detail).status_code == 204
    assert not ChannelBudget.objects.filter(pk=created.json()["id"]).exists()


def test_reallocation_page_and_api(history, owner_client):
    params = {"from": "2026-04-01", "to": "2026-04-30", "amount": "3000"}
    response = owner_client.get(url(history, "strategy_reallocation"), params)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Moving 3,000 USD from Events to Paid Search would buy about 2.0 more opportunities" in html
    assert 'id="reallocation-chart"' in html
    events = re.search(r'data-channel="Events">(.*?)</tr>', html, re.S).group(1)
    assert 'data-field="cost_per_opportunity">3,000</td>' in events
    assert 'data-field="pipeline_share_percent">25.0 %</td>' in events
    assert "Referral (1 opportunities, 40,000 pipeline)" in html
    body = api_client_for(history).get(reverse("api-channel-budget-reallocation"), params).json()
    assert [(c["channel"], c["cost_rank"], c["cost_per_opportunity"]) for c in body["channels"]] == [
        ("Paid Search", 1, 1000),
        ("Events", 2, 3000),
    ]
    assert body["move"]["net_opportunities"] == 2

    bad = owner_client.get(url(history, "strategy_reallocation"), {"from": "soon"})
    assert "&#x27;soon&#x27; is not a date (YYYY-MM-DD)." in bad.content.decode()
    bad = api_client_for(history).get(reverse("api-channel-budget-reallocation"), {"amount": "0"})
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["amount"]


def test_empty_states_say_what_to_do(org, owner_client, members):
    html = owner_client.get(url(org, "strategy_channels")).content.decode()
    assert "No channel budget for this quarter" in html and "Add the first line" in html
    html = owner_client.get(url(org, "strategy_reallocation")).content.decode()
    assert "No spend in this window" in html and "record spend in the spend ledger" in html
    html = owner_client.get(url(org, "strategy_channel_new")).content.decode()
    assert "No channels yet" in html


def test_editors_add_edit_copy_and_delete_lines(plan, owner_client):
    response = owner_client.post(
        url(plan, "strategy_channel_new") + "?fiscal_year=2026&quarter=2",
        {
            "fiscal_year": "2026",
            "quarter": "2",
            "channel": "Events",
            "planned_spend": "700",
            "note": "Spring",
        },
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/strategy/channels/?fiscal_year=2026&quarter=2")
    line = ChannelBudget.objects.get(organization=plan, fiscal_year=2026, quarter=2)
    duplicate = owner_client.post(
        url(plan, "strategy_channel_new"),
        {"fiscal_year": "2026", "quarter": "2", "channel": "Events", "planned_spend": "1"},
    )
    assert duplicate.status_code == 400 and "already has a line in FY2026 Q2" in duplicate.content.decode()
    edited = owner_client.post(
        url(plan, "strategy_channel_edit", line.pk),
        {"fiscal_year": "2026", "quarter": "2", "channel": "Events", "planned_spend": "800"},
    )
    assert edited.status_code == 302
    line.refresh_from_db()
    assert line.planned_spend == 800
    # Q2 has a line, so the copy button is not offered; copying still adds what Q2 lacks.
    page = owner_client.get(url(plan, "strategy_channels"), {"fiscal_year": "2026", "quarter": "2"})
    assert "lines as a start" not in page.content.decode()
    copied = owner_client.post(url(plan, "strategy_channels_copy"), {"fiscal_year": "2026", "quarter": "2"})
    assert copied.status_code == 302
    assert ChannelBudget.objects.filter(organization=plan, fiscal_year=2026, quarter=2).count() == 2
    page = owner_client.get(url(plan, "strategy_channels"), {"fiscal_year": "2026", "quarter": "3"})
    assert "Copy FY2026 Q2's lines as a start" in page.content.decode()
    assert owner_client.get(url(plan, "strategy_channel_delete", line.pk)).status_code == 405
    assert owner_client.post(url(plan, "strategy_channel_delete", line.pk)).status_code == 302
    assert not ChannelBudget.objects.filter(pk=line.pk).exists()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.VIEWER, Role.SALES_REP])
def test_readers_see_the_plan_but_cannot_edit(plan, client, role):
    member = factories.make_member(plan, role=role)
    client.force_login(member.user)
    page = client.get(url(plan, "strategy_channels"), Q1)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Add a line" not in html and "/edit/" not in html
    assert client.get(url(plan, "strategy_channels_export"), Q1).status_code == 200
    assert client.get(url(plan, "strategy_reallocation")).status_code == 200
    line = ChannelBudget.objects.get(organization=plan, channel="Paid Search")
    assert client.get(url(plan, "strategy_channel_new")).status_code == 403
    assert client.post(url(plan, "strategy_channel_edit", line.pk), {"planned_spend": "1"}).status_code == 403
    assert client.post(url(plan, "strategy_channel_delete", line.pk)).status_code == 403
    assert client.post(url(plan, "strategy_channels_copy"), Q1).status_code == 403
    assert ChannelBudget.objects.filter(pk=line.pk, planned_spend=9000).exists()


def test_read_only_api_key_cannot_write(plan):
    api = api_client_for(plan, scopes=("read",))
    assert api.get(reverse("api-channel-budget-summary"), Q1).status_code == 200
    response = api.post(
        reverse("api-channel-budget-list"),
        {"fiscal_year": 2026, "quarter": 2, "channel": "Events", "planned_spend": "1"},
        format="json",
    )
    assert response.status_code == 403
