"""Saved plans and scenarios, on the hand-worked funnel of test_waterfall_views.

The plan of that module (target 120,000, deal size 10,000, every rate 50 %,
every lag 0) needs 128 inquiries a month; the scenario moving Opportunity ->
won to 80 % needs 5 opportunities and 80 inquiries instead of 8 and 128.
"""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.governance.models import OperatingReview
from apps.measurement.services import rollup
from apps.records.models import Account, Opportunity
from apps.strategy import planning
from apps.strategy.models import Goal, SavedPlan
from apps.strategy.services import plans as services
from tests import factories
from tests.conftest import api_client_for
from tests.strategy.test_waterfall_views import EXPECTED, PLAN, TODAY, build_funnel, page_numbers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)


@pytest.fixture
def funnel(org):
    return build_funnel(org)


def save(org, name="Base", params=PLAN, **kwargs):
    return services.plan_save(org=org, name=name, params=params, today=TODAY, **kwargs)


def test_a_saved_plan_keeps_the_defaults_it_was_saved_with(funnel):
    plan = save(funnel, params={"fiscal_year": "2026", "quarter": "1", "target": "120000"})
    # History gave a deal size of 30,000 (one deal won) and Opportunity -> won 100 % in 30 days.
    assert plan.params["deal_size"] == "30000"
    assert plan.params["rate.opportunity"] == "100"
    assert plan.params["lag.opportunity"] == "30"
    assert (plan.fiscal_year, plan.quarter) == (2026, 1)

    # A second deal of 90,000 moves the history's average to 60,000; the plan does not move.
    Opportunity.objects.create(
        organization=funnel, name="W2", account=Account.objects.create(organization=funnel, name="B"),
        amount=Decimal(90_000), created_date=datetime.date(2026, 3, 2), status="won",
        close_date=datetime.date(2026, 3, 20),
    )  # fmt: skip
    rollup.rollup(funnel, full=True)
    live = planning.build(funnel, {"fiscal_year": "2026", "quarter": "1", "target": "120000"}, TODAY)
    assert {a.name: a.value for a in live.assumptions}["deal_size"] == 60_000
    kept = services.plan_result(org=funnel, plan=plan, today=TODAY)
    assert {a.name: a.value for a in kept.assumptions}["deal_size"] == 30_000


def test_the_plan_page_shows_the_hand_worked_waterfall(funnel, owner_client):
    plan = save(funnel)
    response = owner_client.get(reverse("strategy_plan", args=[funnel.slug, plan.pk]))
    assert response.status_code == 200
    assert page_numbers(response.content.decode()) == EXPECTED


def test_saving_from_the_waterfall_page(funnel, owner_client):
    waterfall = owner_client.get(reverse("strategy_waterfall", args=[funnel.slug]), PLAN).content.decode()
    assert 'name="param.rate.mql" value="50"' in waterfall  # the inputs on screen travel with the form

    form = {f"param.{key}": value for key, value in PLAN.items()}
    response = owner_client.post(
        reverse("strategy_plan_new", args=[funnel.slug]), {**form, "name": "Q1 plan", "primary": "1"}
    )
    plan = SavedPlan.objects.get(organization=funnel)
    assert response.status_code == 302
    assert response["Location"] == reverse("strategy_plan", args=[funnel.slug, plan.pk])
    assert plan.params == PLAN
    assert plan.is_primary and plan.name == "Q1 plan"
    assert plan.owner.user.email == "owner@acme.test"


def test_a_plan_with_a_missing_input_is_refused_and_nothing_is_saved(org, owner_client):
    with pytest.raises(ServiceError) as caught:
        save(org, params={"fiscal_year": "2026", "quarter": "1", "target": "1000"})
    assert caught.value.field == "deal_size"
    assert "no deal was won" in caught.value.message

    response = owner_client.post(
        reverse("strategy_plan_new", args=[org.slug]), {"param.target": "1000", "name": "Nope"}, follow=True
    )
    assert "The plan was not saved: deal_size: no deal was won" in response.content.decode()
    assert not SavedPlan.objects.filter(organization=org).exists()


def test_names_are_unique_within_a_quarter(funnel):
    save(funnel, name="Base")
    with pytest.raises(ServiceError) as caught:
        save(funnel, name="Base")
    assert caught.value.field == "name"
    save(funnel, name="Base", params={**PLAN, "quarter": "2"})  # another quarter may reuse it


def test_one_primary_plan_per_quarter(funnel):
    first = save(funnel, name="First", primary=True)
    second = save(funnel, name="Second")
    other_quarter = save(funnel, name="Q2", params={**PLAN, "quarter": "2"}, primary=True)
    services.plan_make_primary(org=funnel, plan=second)
    first.refresh_from_db()
    other_quarter.refresh_from_db()
    assert not first.is_primary and other_quarter.is_primary
    assert services.primary_plan(org=funnel, fiscal_year=2026, quarter=1) == second


def test_copy_as_a_scenario_and_compare(funnel, owner_client):
    base = save(funnel)
    response = owner_client.post(
        reverse("strategy_plan_copy", args=[funnel.slug, base.pk]),
        {"name": "Better closing", "stage": "opportunity", "rate_change": "30"},
    )
    scenario = SavedPlan.objects.get(organization=funnel, name="Better closing")
    assert scenario.based_on == base
    assert scenario.params == {**PLAN, "rate.opportunity": "80"}
    assert response["Location"].endswith(f"?first={base.pk}&second={scenario.pk}")

    html = owner_client.get(response["Location"]).content.decode()
    changed = re.findall(r'data-input="([\w.]+)"><th scope="row">.*?</th><td class="num">(.*?)</td>'
                         r'<td class="num">(.*?)</td>', html)  # fmt: skip
    assert changed == [("rate.opportunity", "50", "80")]
    inquiry = re.search(r'data-stage="inquiry">(.*?)</table>', html, re.S).group(1)
    january = re.search(r'data-month="2026-01">(.*?)</tr>', inquiry, re.S).group(1)
    assert (
        '<td class="num first">128</td><td class="num second">80</td><td class="num change">-48</td>'
        in january
    )

    comparison = services.compare(org=funnel, first=base, second=scenario, today=TODAY)
    opportunity = {row.month: (row.first, row.second, row.change) for row in comparison.rows["opportunity"]}
    assert opportunity[datetime.date(2026, 1, 1)] == (8, 5, -3)


def test_a_scenario_needs_a_change_and_a_known_stage(funnel, owner_client):
    base = save(funnel)
    url = reverse("strategy_plan_copy", args=[funnel.slug, base.pk])
    html = owner_client.post(url, {"name": "Same", "stage": "opportunity"}, follow=True).content.decode()
    assert "Give a rate change, a lag change or both." in html
    html = owner_client.post(url, {"name": "Bad", "stage": "nope", "lag_change": "3"}, follow=True)
    assert "The plan has no lag for “nope”." in html.content.decode()
    html = owner_client.post(url, {"name": "Big", "stage": "mql", "rate_change": "60"}, follow=True)
    assert "must be more than 0 and at most 100 %, not 110." in html.content.decode()
    assert SavedPlan.objects.filter(organization=funnel).count() == 1


def test_readers_see_plans_and_editors_change_them(funnel, client, members):
    plan = save(funnel)
    client.force_login(members[Role.MARKETER].user)
    assert client.get(reverse("strategy_plans", args=[funnel.slug])).status_code == 200
    page = client.get(reverse("strategy_plan", args=[funnel.slug, plan.pk])).content.decode()
    assert "Copy as a scenario" not in page
    for name in ("strategy_plan_primary", "strategy_plan_delete", "strategy_plan_edit", "strategy_plan_copy"):
        assert client.post(reverse(name, args=[funnel.slug, plan.pk])).status_code == 403
    assert client.post(reverse("strategy_plan_new", args=[funnel.slug]), {"name": "x"}).status_code == 403

    client.force_login(members[Role.REVOPS_LEAD].user)
    response = client.post(reverse("strategy_plan_edit", args=[funnel.slug, plan.pk]), {"name": "Renamed"})
    assert response.status_code == 302
    client.post(reverse("strategy_plan_delete", args=[funnel.slug, plan.pk]))
    assert not SavedPlan.objects.filter(pk=plan.pk).exists()


def test_the_plans_page_lists_quarters_and_says_what_to_do_when_empty(funnel, owner_client):
    html = owner_client.get(reverse("strategy_plans", args=[funnel.slug])).content.decode()
    assert "No saved plans yet" in html and "Open the reverse waterfall" in html
    base = save(funnel, primary=True)
    services.plan_copy(org=funnel, plan=base, name="Faster", changes={"lag.sql": "0"}, today=TODAY)
    save(funnel, name="Next", params={**PLAN, "quarter": "2"})
    html = owner_client.get(reverse("strategy_plans", args=[funnel.slug])).content.decode()
    assert html.index("FY2026 Q2") < html.index("FY2026 Q1")
    assert "Compare with its base" in html and "Primary" in html


def test_comparing_another_organisations_plan_is_a_404(funnel, client, other_org, outsider):
    victim = save(funnel)
    client.force_login(outsider)
    url = reverse("strategy_plan_compare", args=[other_org.slug])
    assert client.get(url, {"first": victim.pk, "second": victim.pk}).status_code == 404


def test_api_plans(funnel):
    api = api_client_for(funnel)
    response = api.post(reverse("api-plan-list"), {"name": "API plan", "params": PLAN, "primary": True},
                        format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert (
        body["params"] == PLAN and body["is_primary"] and (body["fiscal_year"], body["quarter"]) == (2026, 1)
    )

    waterfall = api.get(reverse("api-plan-waterfall", args=[body["id"]])).json()
    inquiry = waterfall["stages"][0]
    assert [m["required_rounded"] for m in inquiry["months"]] == [128, 128, 128]

    bad = api.post(
        reverse("api-plan-list"), {"name": "Bad", "params": {**PLAN, "rate.sal": "0"}}, format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"rate.sal": ["must be more than 0 and at most 100 %, not 0."]}

    scenario = {"name": "Copy", "based_on": body["id"], "params": {**PLAN, "rate.opportunity": "80"}}
    copy = api.post(reverse("api-plan-list"), scenario, format="json")
    assert copy.status_code == 201, copy.content
    assert copy.json()["based_on"] == body["id"]
    listed = api.get(reverse("api-plan-list"), {"fiscal_year": 2026, "quarter": 1}).json()["results"]
    assert [p["name"] for p in listed] == ["Copy", "API plan"]  # newest first, like every list


def test_a_member_who_is_not_an_editor_cannot_be_named_owner_from_elsewhere(funnel, other_org):
    stranger = factories.make_member(other_org, role=Role.REVOPS_LEAD)
    with pytest.raises(ServiceError) as caught:
        save(funnel, owner=stranger.pk)
    assert caught.value.field == "owner"


def test_the_demo_saves_a_primary_plan_with_a_scenario_and_holds_last_quarters_review(funnel, owner):
    from apps.strategy.demo import seed_plans, seed_review

    Goal.objects.create(
        organization=funnel, metric="new_bookings", fiscal_year=2026, quarter=2,
        owner=owner.memberships.get(organization=funnel), target=Decimal(90_000),
    )  # fmt: skip
    assert seed_plans(funnel) == 2
    base, scenario = SavedPlan.objects.filter(organization=funnel).order_by("id")
    assert base.is_primary and (base.fiscal_year, base.quarter, base.params["target"]) == (2026, 2, "90000")
    # SAL -> SQL was 100 % in history (one of one): five points more is capped at 100.
    assert (base.params["rate.sal"], scenario.params["rate.sal"], scenario.based_on) == ("100", "100", base)
    assert seed_plans(funnel) is None

    assert seed_review(funnel) == 2
    review = OperatingReview.objects.get(organization=funnel, kind="quarterly")
    assert (review.period_start, review.status, review.held_on) == (
        datetime.date(2026, 1, 1),
        "held",
        datetime.date(2026, 4, 7),
    )
    assert review.decisions.count() == 2
    assert seed_review(funnel) is None
