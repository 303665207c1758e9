"""Goals per fiscal quarter: the fiscal calendar, validation, progress against hand-computed numbers, history.

The fixture is an organisation whose fiscal year starts in February, so FY2027
Q1 runs 1 Feb to 30 Apr 2026 (28 + 31 + 30 = 89 days). Rep Ann is in team
"East", rep Bob is not.

    opportunity  type          owner  created  closed         amount
    W1           new business  Ann    Feb 10   won Mar 5      40,000
    W2           new business  Bob    Feb 12   won Mar 20     20,000
    W3           expansion     Ann    Mar 1    won Mar 25      5,000
    O1           new business  Ann    Apr 2    open           15,000
    L1           new business  Bob    Jan 20   lost Feb 15     8,000  (created the quarter before)
    W4           new business  Ann    Apr 10   won May 3      10,000  (won the quarter after)

Read on 31 March (59 of 89 days elapsed): new bookings 60,000 (Ann 40,000),
new logos 2 (Ann 1), pipeline created 65,000 (Ann 45,000). Subscriptions:
100,000 ARR since 2025 and 20,000 ARR churning on Mar 10, so net revenue
retention is (120,000 - 20,000 + 5,000 expansion) ÷ 120,000 = 87.5 %.
"""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts import services as account_services
from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.measurement.services import rollup
from apps.records.models import Account, Customer, Opportunity
from apps.strategy.fiscal import fiscal_quarter_of, fiscal_quarter_range, shift_quarter
from apps.strategy.models import Goal
from apps.strategy.services import goals as services
from tests import factories
from tests.conftest import api_client_for

D = datetime.date
MARCH_31 = D(2026, 3, 31)
SHARE = 59 / 89  # 28 days of February + 31 of March, over the quarter's 89 days


# --- The fiscal calendar (pure) ------------------------------------------------------------------


def test_calendar_year_quarters():
    assert fiscal_quarter_range(1, 2026, 1) == (D(2026, 1, 1), D(2026, 3, 31))
    assert fiscal_quarter_range(1, 2026, 4) == (D(2026, 10, 1), D(2026, 12, 31))
    assert fiscal_quarter_of(1, D(2026, 12, 31)) == (2026, 4)
    assert fiscal_quarter_of(1, D(2027, 1, 1)) == (2027, 1)


def test_fiscal_year_starting_in_october_is_named_by_the_year_it_ends_in():
    assert fiscal_quarter_range(10, 2027, 1) == (D(2026, 10, 1), D(2026, 12, 31))
    assert fiscal_quarter_range(10, 2027, 2) == (D(2027, 1, 1), D(2027, 3, 31))
    assert fiscal_quarter_range(10, 2027, 4) == (D(2027, 7, 1), D(2027, 9, 30))
    assert fiscal_quarter_of(10, D(2026, 9, 30)) == (2026, 4)
    assert fiscal_quarter_of(10, D(2026, 10, 1)) == (2027, 1)
    assert fiscal_quarter_of(10, D(2027, 2, 14)) == (2027, 2)


def test_fiscal_year_starting_in_february_crosses_new_year_in_q4():
    assert fiscal_quarter_range(2, 2027, 1) == (D(2026, 2, 1), D(2026, 4, 30))
    # Q4: November, December and January, whose last day is 31 January of the year the FY ends in.
    assert fiscal_quarter_range(2, 2027, 4) == (D(2026, 11, 1), D(2027, 1, 31))
    assert fiscal_quarter_range(2, 2028, 1) == (D(2027, 2, 1), D(2027, 4, 30))
    assert fiscal_quarter_of(2, D(2027, 1, 15)) == (2027, 4)
    assert fiscal_quarter_of(2, D(2026, 2, 1)) == (2027, 1)
    assert fiscal_quarter_of(2, D(2026, 1, 31)) == (2026, 4)


def test_every_day_falls_in_the_quarter_whose_range_holds_it():
    for start_month in (1, 2, 7, 10, 12):
        day = D(2025, 12, 1)
        while day < D(2027, 3, 1):
            year, quarter = fiscal_quarter_of(start_month, day)
            first, last = fiscal_quarter_range(start_month, year, quarter)
            assert first <= day <= last, (start_month, day)
            day += datetime.timedelta(days=9)


def test_shift_quarter_wraps_the_year():
    assert shift_quarter(2026, 1, -1) == (2025, 4)
    assert shift_quarter(2026, 4, 1) == (2027, 1)
    assert shift_quarter(2026, 2, 1) == (2026, 3)


def test_calendar_refuses_bad_arguments():
    with pytest.raises(ValueError):
        fiscal_quarter_range(13, 2026, 1)
    with pytest.raises(ValueError):
        fiscal_quarter_range(1, 2026, 5)


# --- Fixture -------------------------------------------------------------------------------------


@pytest.fixture
def books(db, owner):
    org = factories.make_org(
        name="Acme", owner=owner, slug="acme", time_zone="UTC", fiscal_year_start_month=2
    )
    ann = factories.make_member(org, role=Role.SALES_REP, user=factories.make_user(full_name="Ann Rep"))
    bob = factories.make_member(org, role=Role.SALES_REP, user=factories.make_user(full_name="Bob Rep"))
    team = account_services.team_create(org=org, name="East", members=[ann])
    account = Account.objects.create(organization=org, name="Initech", domain="initech.test")
    other = Account.objects.create(organization=org, name="Hooli", domain="hooli.test")
    rows = [
        ("W1", "new_business", ann, D(2026, 2, 10), "won", D(2026, 3, 5), 40000),
        ("W2", "new_business", bob, D(2026, 2, 12), "won", D(2026, 3, 20), 20000),
        ("W3", "expansion", ann, D(2026, 3, 1), "won", D(2026, 3, 25), 5000),
        ("O1", "new_business", ann, D(2026, 4, 2), "open", None, 15000),
        ("L1", "new_business", bob, D(2026, 1, 20), "lost", D(2026, 2, 15), 8000),
        ("W4", "new_business", ann, D(2026, 4, 10), "won", D(2026, 5, 3), 10000),
    ]
    for name, kind, member, created, status, closed, amount in rows:
        Opportunity.objects.create(
            organization=org,
            name=name,
            account=account,
            type=kind,
            owner=member,
            created_date=created,
            status=status,
            close_date=closed,
            amount=Decimal(amount),
        )
    Customer.objects.create(organization=org, account=account, arr=Decimal(100000), start_date=D(2025, 1, 1))
    Customer.objects.create(
        organization=org,
        account=other,
        arr=Decimal(20000),
        start_date=D(2025, 1, 1),
        churn_date=D(2026, 3, 10),
    )
    rollup.rollup(org, full=True)
    admin = Membership.objects.get(organization=org, user=owner)
    return {"org": org, "ann": ann, "bob": bob, "team": team, "admin": admin}


def make_goal(books, metric="new_bookings", target=90000, team=None, **fields):
    values = {"fiscal_year": 2027, "quarter": 1, "owner": books["admin"], **fields}
    return services.goal_create(org=books["org"], metric=metric, target=target, team=team, **values)


def progress(books, goal, today=MARCH_31):
    return services.goal_progress(org=books["org"], goal=goal, today=today)


# --- Progress ------------------------------------------------------------------------------------


def test_organisation_new_bookings_on_pace(books):
    result = progress(books, make_goal(books, target=90000))
    assert (result.start, result.end, result.measured_to) == (D(2026, 2, 1), D(2026, 4, 30), MARCH_31)
    assert result.actual == 60000  # W1 + W2; W4 closes in May, W3 is expansion
    assert result.percent == pytest.approx(60000 / 90000 * 100)
    assert result.expected_share == pytest.approx(SHARE)
    assert result.expected == pytest.approx(90000 * SHARE)  # 59,662.92
    assert result.scope == "organisation"
    assert result.status == "on_pace"  # 60,000 / 59,662.92 = 1.006 of pace


def test_team_goal_counts_the_members_opportunities(books):
    result = progress(books, make_goal(books, target=100000, team=books["team"]))
    assert result.scope == "team"
    assert result.actual == 40000  # Ann's W1 only
    assert result.status == "behind"  # 40,000 / (100,000 x 59/89 = 66,292.13) = 0.60 of pace


def test_new_logos_and_pipeline(books):
    logos = progress(books, make_goal(books, metric="new_logos", target=1))
    assert logos.actual == 2
    assert logos.status == "ahead"  # 2 / (1 x 59/89) = 3.0 of pace
    team_logos = progress(books, make_goal(books, metric="new_logos", target=1, team=books["team"]))
    assert team_logos.actual == 1
    pipeline = make_goal(books, metric="pipeline_created", target=65000)
    assert progress(books, pipeline).actual == 65000  # W1 + W2 + W3; O1 and W4 are created in April
    assert progress(books, pipeline).status == "ahead"  # 65,000 / 43,089.89 = 1.51 of pace
    # On the quarter's last day the April opportunities count and pace is the whole target.
    end = progress(books, pipeline, today=D(2026, 4, 30))
    assert end.actual == 90000
    assert end.expected_share == 1
    assert end.status == "ahead"  # 90,000 / 65,000 = 1.38
    team_pipeline = make_goal(books, metric="pipeline_created", target=45000, team=books["team"])
    assert progress(books, team_pipeline).actual == 45000  # W1 + W3


def test_net_revenue_retention_is_organisation_wide_and_compared_with_the_target(books):
    goal = make_goal(books, metric="net_revenue_retention", target=90, team=books["team"])
    result = progress(books, goal)
    assert result.scope == "organisation"  # no owner dimension: not split by team, and said so
    assert result.actual == pytest.approx(87.5)
    assert result.expected == 90  # a rate is not paced
    assert result.status == "behind"  # 87.5 < 90 - 1
    services.goal_update(org=books["org"], goal=goal, target=88)
    assert progress(books, goal).status == "on_pace"  # 87 <= 87.5 < 89
    services.goal_update(org=books["org"], goal=goal, target=86)
    assert progress(books, goal).status == "ahead"  # 87.5 >= 87


def test_pace_thresholds():
    # Just under 110 % of pace is on pace, 110 % is ahead; just under 90 % is behind.
    assert services._status("currency", 109.9, 200, 100) == "on_pace"
    assert services._status("currency", 110, 200, 100) == "ahead"
    assert services._status("currency", 90, 200, 100) == "on_pace"
    assert services._status("currency", 89.9, 200, 100) == "behind"
    assert services._status("percent", 99, 100, 100) == "on_pace"
    assert services._status("percent", 98.9, 100, 100) == "behind"
    assert services._status("percent", None, 100, 100) == "no_data"
    assert services._status("count", 0, 0, 0) == "on_pace"  # a zero target is met by nothing


def test_before_the_quarter_starts(books):
    result = progress(books, make_goal(books), today=D(2026, 1, 15))
    assert result.status == "not_started"
    assert result.actual is None
    assert result.expected_share == 0


# --- Validation and history ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target": -1}, "target"),
        ({"target": "1.234"}, "target"),
        ({"target": "lots"}, "target"),
        ({"metric": "revenue"}, "metric"),
        ({"quarter": 5}, "quarter"),
        ({"fiscal_year": 1999}, "fiscal_year"),
        ({"owner": None}, "owner"),
        ({"owner": 999999}, "owner"),
        ({"team": 999999}, "team"),
        ({"note": "x" * 301}, "note"),
    ],
)
def test_bad_input_names_the_field(books, fields, field):
    values = {
        "metric": "new_bookings",
        "fiscal_year": 2027,
        "quarter": 1,
        "owner": books["admin"],
        "target": 10,
    }
    with pytest.raises(ServiceError) as caught:
        services.goal_create(org=books["org"], **{**values, **fields})
    assert caught.value.field == field
    assert not Goal.objects.exists()


def test_another_organisations_member_and_team_are_refused(books, other_org):
    stranger = factories.make_member(other_org, role=Role.SALES_REP)
    foreign_team = account_services.team_create(org=other_org, name="West", members=[stranger])
    with pytest.raises(ServiceError) as caught:
        make_goal(books, owner=stranger)
    assert caught.value.field == "owner"
    with pytest.raises(ServiceError) as caught:
        make_goal(books, team=foreign_team.pk)
    assert caught.value.field == "team"


def test_one_goal_per_metric_quarter_and_team(books):
    make_goal(books)
    with pytest.raises(ServiceError) as caught:
        make_goal(books, target=5)  # the organisation-wide slot (team NULL) is taken
    assert (caught.value.field, caught.value.code) == ("metric", "duplicate")
    team_goal = make_goal(books, team=books["team"])  # a team goal is another slot
    with pytest.raises(ServiceError):
        make_goal(books, team=books["team"])
    make_goal(books, quarter=2)
    make_goal(books, metric="new_logos", target=3)
    other = make_goal(books, fiscal_year=2028)
    with pytest.raises(ServiceError) as caught:
        services.goal_update(org=books["org"], goal=other, fiscal_year=2027)
    assert caught.value.field == "metric"
    assert Goal.objects.filter(organization=books["org"]).count() == 5
    assert team_goal.team_id == books["team"].pk


def test_target_changes_are_kept(books):
    goal = make_goal(books, target=100)
    services.goal_update(org=books["org"], goal=goal, target="150.50")
    services.goal_update(org=books["org"], goal=goal, note="Board asked for more")  # target unchanged
    services.goal_update(org=books["org"], goal=goal, target=120)
    history = services.goal_history(org=books["org"], goal=goal)
    assert [(change.before, change.after) for change in history] == [
        (None, Decimal("100.00")),
        (Decimal("100.00"), Decimal("150.50")),
        (Decimal("150.50"), Decimal("120.00")),
    ]
    assert history[-1].note == "Board asked for more"
    goal.refresh_from_db()
    assert goal.target == Decimal("120.00")


def test_delete(books):
    goal = make_goal(books)
    services.goal_delete(org=books["org"], goal=goal)
    assert not Goal.objects.filter(pk=goal.pk).exists()


# --- Pages ---------------------------------------------------------------------------------------


def _client(client, membership):
    client.force_login(membership.user)
    return client


def test_goals_page_lists_the_chosen_quarter(books, client):
    make_goal(books, target=90000, note="Q1 plan")
    make_goal(books, metric="net_revenue_retention", target=90, team=books["team"])
    make_goal(books, metric="new_logos", target=4, quarter=2)
    url = reverse("strategy_index", args=["acme"]) + "?year=2027&quarter=1"
    response = _client(client, books["ann"]).get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Goals: FY2027 Q1" in body
    assert "New bookings" in body and "Net revenue retention" in body
    assert "New logos" not in body  # a Q2 goal
    assert "measured on the whole organisation" in body
    assert "FY2026 Q4" in body and "FY2027 Q2" in body  # previous and next
    assert "New goal" not in body  # a rep reads, does not edit


def test_goals_page_defaults_to_the_current_quarter_and_explains_an_empty_one(books, client):
    from django.utils import timezone

    year, quarter = fiscal_quarter_of(2, timezone.localdate())
    response = _client(client, books["admin"]).get(reverse("strategy_index", args=["acme"]))
    body = response.content.decode()
    assert f"Goals: FY{year} Q{quarter}" in body
    assert "No goals for this quarter" in body
    assert "Set the first goal" in body


def test_create_edit_and_delete_through_the_pages(books, client):
    client = _client(client, books["admin"])
    new = reverse("strategy_goal_new", args=["acme"])
    form = {
        "metric": "new_bookings",
        "fiscal_year": 2027,
        "quarter": 1,
        "team": "",
        "owner": books["ann"].pk,
        "target": "-5",
        "note": "",
    }
    response = client.post(new, form)
    assert response.status_code == 400
    assert "target" in response.context["form"].errors
    response = client.post(new, {**form, "target": "90000"})
    goal = Goal.objects.get(organization=books["org"])
    assert response.status_code == 302 and goal.owner == books["ann"]
    duplicate = client.post(new, {**form, "target": "1"})
    assert duplicate.status_code == 400
    assert "already has a goal" in duplicate.context["form"].errors["metric"][0]
    edit = reverse("strategy_goal_edit", args=["acme", goal.pk])
    assert client.post(edit, {**form, "target": "95000"}).status_code == 302
    detail = client.get(reverse("strategy_goal", args=["acme", goal.pk])).content.decode()
    assert "Target history" in detail
    assert "90,000.00" in detail and "95,000.00" in detail
    assert "owner@acme.test" in detail  # who changed it, from the audit trail
    assert client.get(reverse("strategy_goal_delete", args=["acme", goal.pk])).status_code == 405
    assert client.post(reverse("strategy_goal_delete", args=["acme", goal.pk])).status_code == 302
    assert not Goal.objects.filter(pk=goal.pk).exists()


def test_only_revops_leads_and_admins_edit(books, client):
    goal = make_goal(books)
    lead = factories.make_member(books["org"], role=Role.REVOPS_LEAD)
    assert _client(client, lead).get(reverse("strategy_goal_edit", args=["acme", goal.pk])).status_code == 200
    for role in (Role.SALES_MANAGER, Role.MARKETER, Role.VIEWER):
        member = factories.make_member(books["org"], role=role)
        client = _client(client, member)
        assert client.get(reverse("strategy_goal", args=["acme", goal.pk])).status_code == 200
        assert client.get(reverse("strategy_goal_new", args=["acme"])).status_code == 403
        assert client.post(reverse("strategy_goal_delete", args=["acme", goal.pk])).status_code == 403
    assert Goal.objects.filter(pk=goal.pk).exists()


# --- API -----------------------------------------------------------------------------------------


def test_api_create_list_update_delete(books, monkeypatch):
    monkeypatch.setattr(services, "goal_progress", _progress_on(MARCH_31))
    api = api_client_for(books["org"])
    body = {
        "metric": "new_bookings",
        "fiscal_year": 2027,
        "quarter": 1,
        "owner": books["ann"].pk,
        "target": "90000",
    }
    created = api.post("/api/v1/goals/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["progress"]["actual"] == 60000
    assert data["progress"]["scope"] == "organisation"
    assert data["progress"]["status"] == "on_pace"
    assert data["team"] is None and data["owner"] == books["ann"].pk
    team_goal = api.post(
        "/api/v1/goals/",
        {**body, "metric": "net_revenue_retention", "target": "90", "team": books["team"].pk},
        format="json",
    ).json()
    assert team_goal["progress"]["scope"] == "organisation"
    assert team_goal["progress"]["actual"] == pytest.approx(87.5)
    api.post("/api/v1/goals/", {**body, "quarter": 2}, format="json")

    listed = api.get("/api/v1/goals/", {"fiscal_year": 2027, "quarter": 1}).json()["results"]
    assert sorted(row["metric"] for row in listed) == ["net_revenue_retention", "new_bookings"]
    only = api.get("/api/v1/goals/", {"metric": "new_bookings"}).json()["results"]
    assert sorted(row["quarter"] for row in only) == [1, 2]

    patched = api.patch(f"/api/v1/goals/{data['id']}/", {"target": "120000"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["target"] == "120000.00"
    assert patched.json()["progress"]["percent"] == pytest.approx(50)
    goal = Goal.objects.get(pk=data["id"])
    assert [c.after for c in services.goal_history(org=books["org"], goal=goal)] == [
        Decimal("90000.00"),
        Decimal("120000.00"),
    ]
    assert api.delete(f"/api/v1/goals/{data['id']}/").status_code == 204
    assert not Goal.objects.filter(pk=data["id"]).exists()


def _progress_on(day):
    """goal_progress read on `day`, whatever the API passes as today."""
    real = services.goal_progress

    def pinned(*, org, goal, today):
        return real(org=org, goal=goal, today=day)

    return pinned


def test_api_errors_name_the_field(books):
    api = api_client_for(books["org"])
    body = {
        "metric": "new_bookings",
        "fiscal_year": 2027,
        "quarter": 1,
        "owner": books["ann"].pk,
        "target": "9",
    }
    for change, field in [
        ({"target": "-1"}, "target"),
        ({"metric": "arr"}, "metric"),
        ({"quarter": 5}, "quarter"),
        ({"owner": 999999}, "owner"),
        ({"team": 999999}, "team"),
    ]:
        response = api.post("/api/v1/goals/", {**body, **change}, format="json")
        assert response.status_code == 400, change
        assert field in response.json()["error"]["fields"], response.content
    assert api.post("/api/v1/goals/", body, format="json").status_code == 201
    again = api.post("/api/v1/goals/", body, format="json")
    assert again.status_code == 400
    assert "metric" in again.json()["error"]["fields"]
    bad_filter = api.get("/api/v1/goals/", {"quarter": 9, "colour": "red"})
    assert bad_filter.status_code == 400
    assert "colour" in bad_filter.json()["error"]["fields"]
