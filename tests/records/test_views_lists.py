"""Lead, account and opportunity lists: filters, sort, columns, saved views, counts, bulk actions, export."""

import csv
import datetime
import io

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts import services as account_services
from apps.accounts.roles import Role
from apps.audit.models import SecurityEvent
from apps.records import definitions, selectors, services, views
from apps.records.models import Lead, Origin, SavedView, StageEvent

pytestmark = pytest.mark.django_db


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_leads(org, n, **fields):
    return [
        services.lead_create(org=org, email=f"person{i}@example{i}.test", first_name=f"P{i}", **fields)
        for i in range(n)
    ]


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- Access ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("name", ["records_leads", "records_accounts", "records_opportunities"])
def test_every_role_reads_the_lists(name, role, org, members):
    lead = services.lead_create(org=org, email="ann@acme.test", first_name="Ann", company="Acme")
    account = services.account_create(org=org, name="Acme", domain="acme.test")
    services.opportunity_create(org=org, name="Acme deal", account=account, primary_contact=lead, amount=500)
    html = html_of(login(members[role].user).get(url(name, org)))
    assert "Acme" in html


def test_outsider_gets_404_on_lists(outsider_client, org):
    make_leads(org, 1)
    for name in ("records_leads", "records_accounts", "records_opportunities", "records_leads_export"):
        assert outsider_client.get(url(name, org)).status_code == 404
    assert outsider_client.post(url("records_leads_bulk", org), {"action": "stage"}).status_code == 404


def test_merged_leads_are_hidden(owner_client, org):
    survivor, merged = make_leads(org, 2)
    Lead.objects.filter(pk=merged.pk).update(merged_into=survivor)
    html = html_of(owner_client.get(url("records_leads", org)))
    assert survivor.email in html and merged.email not in html
    assert "<strong>1</strong> lead" in html


# --- Filters, sort, columns --------------------------------------------------------------


def test_filters_narrow_the_list(owner_client, org, members):
    rep = members[Role.SALES_REP]
    ann = services.lead_create(org=org, email="ann@acme.test", first_name="Ann", company="Acme", owner=rep)
    bob = services.lead_create(org=org, email="bob@globex.test", first_name="Bob", company="Globex")
    services.lead_change_stage(org=org, lead=bob, to="mql", reason="Scored")

    html = html_of(owner_client.get(url("records_leads", org), {"stage": "mql"}))
    assert bob.email in html and ann.email not in html
    html = html_of(owner_client.get(url("records_leads", org), {"q": "acme"}))
    assert ann.email in html and bob.email not in html
    html = html_of(owner_client.get(url("records_leads", org), {"owner": rep.pk}))
    assert ann.email in html and bob.email not in html
    html = html_of(owner_client.get(url("records_leads", org), {"unowned": "true"}))
    assert bob.email in html and ann.email not in html


def test_captured_day_range_is_in_the_org_time_zone(owner_client, org):
    account_services.organization_update(org=org, time_zone="Europe/Paris")
    at = datetime.datetime(2026, 3, 9, 23, 30, tzinfo=datetime.UTC)  # 10 March, 00:30 in Paris
    services.lead_create(org=org, email="late@acme.test", captured_at=at)
    services.lead_create(org=org, email="early@acme.test", captured_at=at - datetime.timedelta(hours=2))
    html = html_of(owner_client.get(url("records_leads", org), {"captured_from": "2026-03-10"}))
    assert "late@acme.test" in html and "early@acme.test" not in html
    html = html_of(owner_client.get(url("records_leads", org), {"captured_to": "2026-03-09"}))
    assert "early@acme.test" in html and "late@acme.test" not in html


def test_invalid_filters_show_the_error_not_everything(owner_client, org):
    make_leads(org, 2)
    html = html_of(owner_client.get(url("records_leads", org), {"score_min": "lots"}))
    assert "Check the filters" in html
    assert "person0@" not in html


def test_account_and_opportunity_filters(owner_client, org):
    acme = services.account_create(org=org, name="Acme", domain="acme.test", industry="Software")
    services.account_create(org=org, name="Initech", domain="initech.test", industry="Banking")
    services.opportunity_create(org=org, name="Acme renewal", account=acme, amount=100, type="renewal")
    services.opportunity_create(org=org, name="Initech pilot", amount=50)

    html = html_of(owner_client.get(url("records_accounts", org), {"industry": "software"}))
    assert "Acme" in html and "Initech" not in html
    html = html_of(owner_client.get(url("records_opportunities", org), {"type": "renewal"}))
    assert "Acme renewal" in html and "Initech pilot" not in html


def _emails_in_order(html, emails):
    return sorted(emails, key=html.index)


def test_sort_by_column_header(owner_client, org):
    emails = ["carol@c.test", "alice@a.test", "bob@b.test"]
    for email in emails:
        services.lead_create(org=org, email=email)
    html = html_of(owner_client.get(url("records_leads", org), {"sort": "email"}))
    assert _emails_in_order(html, emails) == ["alice@a.test", "bob@b.test", "carol@c.test"]
    assert 'aria-sort="ascending"' in html
    assert "sort=-email" in html  # clicking again reverses
    html = html_of(owner_client.get(url("records_leads", org), {"sort": "-email"}))
    assert _emails_in_order(html, emails) == ["carol@c.test", "bob@b.test", "alice@a.test"]


def test_unindexed_sorts_wait_until_the_list_is_under_the_cap(owner_client, org, monkeypatch):
    emails = ["carol@c.test", "alice@a.test", "bob@b.test"]
    for email, company in zip(emails, ["Zed", "Mid", "Abc"], strict=True):
        services.lead_create(org=org, email=email, company=company)
    monkeypatch.setattr(selectors.lists, "COUNT_CAP", 2)
    html = html_of(owner_client.get(url("records_leads", org), {"sort": "company"}))
    assert "Sorting by Company is available on lists of 2 rows or fewer" in html
    assert 'name="sort" value="company"' in html  # kept, so narrowing the filters applies it
    assert _emails_in_order(html, emails) == ["bob@b.test", "alice@a.test", "carol@c.test"]  # newest first
    html = html_of(owner_client.get(url("records_leads", org), {"sort": "email"}))  # indexed: always
    assert "Sorting by" not in html
    assert _emails_in_order(html, emails) == ["alice@a.test", "bob@b.test", "carol@c.test"]
    monkeypatch.setattr(selectors.lists, "COUNT_CAP", 3)
    html = html_of(owner_client.get(url("records_leads", org), {"sort": "company"}))
    assert "Sorting by" not in html
    assert _emails_in_order(html, emails) == ["bob@b.test", "alice@a.test", "carol@c.test"]  # Abc, Mid, Zed
    html = html_of(owner_client.get(url("records_leads", org), {"sort": "-company"}))
    assert _emails_in_order(html, emails) == ["carol@c.test", "alice@a.test", "bob@b.test"]


def test_sort_outside_the_whitelist_falls_back_to_the_default(owner_client, org):
    make_leads(org, 2)
    for bogus in ("organization__name", "-password", "custom__x"):
        html = html_of(owner_client.get(url("records_leads", org), {"sort": bogus}))
        assert "person0@" in html and "person1@" in html


def test_column_chooser(owner_client, org):
    services.lead_create(org=org, email="ann@acme.test", company="Acme Corp", score=42)
    html = html_of(owner_client.get(url("records_leads", org), {"columns": ["email", "score", "nope"]}))
    assert ">Score" in html and "42" in html
    assert "Acme Corp" not in html  # company not chosen
    assert 'value="score" checked' in html and 'value="company" checked' not in html


def test_custom_fields_are_columns(owner_client, org):
    definitions.custom_field_create(org=org, object_type="lead", key="plan", label="Plan tier")
    services.lead_create(org=org, email="ann@acme.test", custom={"plan": "Gold"})
    html = html_of(owner_client.get(url("records_leads", org), {"columns": ["email", "custom.plan"]}))
    assert "Plan tier" in html and "Gold" in html
    html = html_of(owner_client.get(url("records_leads", org), {"columns": ["email"], "sort": "custom.plan"}))
    assert "ann@acme.test" in html


# --- Saved views ------------------------------------------------------------------------------


@pytest.fixture
def team_setup(org, members):
    rep, manager = members[Role.SALES_REP], members[Role.SALES_MANAGER]
    team = account_services.team_create(org=org, name="EMEA", members=[rep, manager])
    return team, rep, manager


def test_saved_view_visibility(org, members, team_setup):
    team, rep, manager = team_setup
    viewer = members[Role.VIEWER]
    definitions.saved_view_create(org=org, owner=rep, object_type="lead", name="Rep private")
    definitions.saved_view_create(
        org=org, owner=rep, object_type="lead", name="EMEA hot", visibility="team", team=team
    )
    definitions.saved_view_create(
        org=org, owner=viewer, object_type="lead", name="Everyone view", visibility="organization"
    )
    definitions.saved_view_create(org=org, owner=rep, object_type="account", name="Rep accounts")

    def tabs(member):
        html = html_of(login(member.user).get(url("records_leads", org)))
        return {name for name in ("Rep private", "EMEA hot", "Everyone view", "Rep accounts") if name in html}

    assert tabs(rep) == {"Rep private", "EMEA hot", "Everyone view"}
    assert tabs(manager) == {"EMEA hot", "Everyone view"}  # a team-mate: not the private one
    assert tabs(viewer) == {"Everyone view"}  # not in the team


def test_saved_view_applies_its_filters_columns_and_sort(owner_client, org, owner):
    membership = owner.memberships.get(organization=org)
    for email in ("b@b.test", "a@a.test", "c@c.test"):
        lead = services.lead_create(org=org, email=email, score=7)
    services.lead_change_stage(org=org, lead=lead, to="mql", reason="x")  # c@c.test leaves inquiry
    view = definitions.saved_view_create(
        org=org,
        owner=membership,
        object_type="lead",
        name="Inquiries by e-mail",
        filters={"stage": "inquiry"},
        columns=["email", "score"],
        sort="email",
    )
    html = html_of(owner_client.get(url("records_leads", org), {"view": view.pk}))
    assert _emails_in_order(html, ["a@a.test", "b@b.test"]) == ["a@a.test", "b@b.test"]
    assert "c@c.test" not in html
    assert ">Score" in html and ">Stage<" not in html
    assert 'aria-current="page">Inquiries by e-mail' in html
    # A filter given in the address wins over the view's, even when cleared.
    html = html_of(owner_client.get(url("records_leads", org), {"view": view.pk, "stage": ""}))
    assert "c@c.test" in html


def test_save_current_filters_as_a_view(client, org, team_setup):
    team, rep, _ = team_setup
    client.force_login(rep.user)
    response = client.post(
        url("records_view_save", org),
        {
            "object_type": "lead",
            "name": "My MQLs",
            "visibility": "team",
            "team": team.pk,
            "query": "stage=mql&q=acme&columns=email&columns=stage&sort=-email&page=3",
        },
    )
    view = SavedView.objects.get(name="My MQLs")
    assert response.status_code == 302 and response["Location"].endswith(f"?view={view.pk}")
    assert view.owner == rep and view.team == team and view.visibility == "team"
    assert view.filters == {"stage": "mql", "q": "acme"}
    assert view.columns == ["email", "stage"] and view.sort == "-email"


def test_team_view_needs_a_team_of_ones_own(client, org, members):
    other_team = account_services.team_create(org=org, name="APAC", members=[members[Role.MARKETER]])
    rep = members[Role.SALES_REP]
    client.force_login(rep.user)
    client.post(
        url("records_view_save", org),
        {"object_type": "lead", "name": "Sneaky", "visibility": "team", "team": other_team.pk, "query": ""},
    )
    assert not SavedView.objects.filter(name="Sneaky").exists()


def test_delete_only_own_views(client, org, members):
    rep, viewer = members[Role.SALES_REP], members[Role.VIEWER]
    shared = definitions.saved_view_create(
        org=org, owner=rep, object_type="lead", name="Shared", visibility="organization"
    )
    client.force_login(viewer.user)
    assert client.post(url("records_view_delete", org, shared.pk)).status_code == 404
    assert SavedView.objects.filter(pk=shared.pk).exists()
    client.force_login(rep.user)
    assert client.post(url("records_view_delete", org, shared.pk)).status_code == 302
    assert not SavedView.objects.filter(pk=shared.pk).exists()


# --- Counts and pagination --------------------------------------------------------------------------


def test_capped_count(org):
    make_leads(org, 5)
    queryset = Lead.objects.for_org(org)
    assert selectors.capped_count(queryset, cap=10) == (5, False)
    assert selectors.capped_count(queryset, cap=5) == (5, False)
    assert selectors.capped_count(queryset, cap=4) == (4, True)
    assert selectors.count_display(10_000, True) == "10,000+"
    assert selectors.count_display(1234, False) == "1,234"


def test_list_shows_a_capped_count_past_the_threshold(owner_client, org, monkeypatch):
    make_leads(org, 5)
    monkeypatch.setattr(selectors.lists, "COUNT_CAP", 3)
    html = html_of(owner_client.get(url("records_leads", org)))
    assert "<strong>3+</strong> leads" in html
    assert "counting stops at 3+" in html
    monkeypatch.setattr(selectors.lists, "COUNT_CAP", 5)
    html = html_of(owner_client.get(url("records_leads", org)))
    assert "<strong>5</strong> leads" in html and "3+" not in html


def test_pages_never_go_past_the_cap(owner_client, org, monkeypatch):
    make_leads(org, 7)
    monkeypatch.setattr(selectors.lists, "COUNT_CAP", 4)
    monkeypatch.setattr(selectors.lists, "PAGE_SIZE", 2)
    html = html_of(owner_client.get(url("records_leads", org), {"page": 99}))
    assert "Rows 3\u20134 of 4+" in html
    assert "Pages stop here" in html


# --- Query counts -------------------------------------------------------------------------------------


def _lead_rows(org, members, n):
    account = services.account_create(org=org, name="Acme", domain="acme.test")
    owners = [members[Role.SALES_REP], members[Role.SALES_MANAGER], None]
    for i in range(n):
        services.lead_create(
            org=org, email=f"p{i}@acme.test", first_name=f"P{i}", owner=owners[i % 3], account=account
        )


@pytest.mark.parametrize("n", [5, 50])
def test_lead_list_query_count_is_bounded(owner_client, org, members, n, django_assert_max_num_queries):
    _lead_rows(org, members, n)
    columns = ["name", "email", "stage", "owner", "account", "captured_at"]
    with django_assert_max_num_queries(12):
        html = html_of(owner_client.get(url("records_leads", org), {"columns": columns}))
    assert f"<strong>{n}</strong> leads" in html


def test_account_and_opportunity_lists_query_count_is_bounded(
    owner_client, org, members, django_assert_max_num_queries
):
    rep = members[Role.SALES_REP]
    for i in range(50):
        account = services.account_create(org=org, name=f"Account {i}", domain=f"a{i}.test", owner=rep)
        services.opportunity_create(org=org, name=f"Deal {i}", account=account, owner=rep, amount=i)
    # No chart and no stage choices on these lists: two queries fewer than leads.
    with django_assert_max_num_queries(10):
        html_of(owner_client.get(url("records_accounts", org)))
    with django_assert_max_num_queries(10):
        html_of(owner_client.get(url("records_opportunities", org)))


# --- Bulk actions -------------------------------------------------------------------------------------


def test_bulk_change_stage_creates_ui_stage_events(client, org, members):
    rep = members[Role.SALES_REP]
    leads = make_leads(org, 3)
    client.force_login(rep.user)
    response = client.post(
        url("records_leads_bulk", org),
        {"action": "stage", "stage": "mql", "reason": "Webinar attendees", "ids": [leads[0].pk, leads[1].pk]},
    )
    assert response.status_code == 302
    events = StageEvent.objects.filter(lead__in=leads[:2], to_stage="mql")
    assert events.count() == 2
    assert {(e.origin, e.actor_id, e.reason, e.from_stage) for e in events} == {
        (Origin.UI, rep.user_id, "Webinar attendees", "inquiry")
    }
    assert Lead.objects.get(pk=leads[2].pk).stage.key == "inquiry"


def test_bulk_change_stage_needs_a_reason(client, org, members):
    lead = make_leads(org, 1)[0]
    client.force_login(members[Role.SALES_REP].user)
    client.post(url("records_leads_bulk", org), {"action": "stage", "stage": "mql", "ids": [lead.pk]})
    assert not StageEvent.objects.filter(lead=lead, to_stage="mql").exists()


def test_bulk_select_all_matching_follows_the_filters(client, org, members):
    manager = members[Role.SALES_MANAGER]
    acme = [services.lead_create(org=org, email=f"a{i}@acme.test", company="Acme") for i in range(3)]
    other = services.lead_create(org=org, email="x@globex.test", company="Globex")
    client.force_login(manager.user)
    response = client.post(
        url("records_leads_bulk", org),
        {"action": "owner", "owner": manager.pk, "all_matching": "1", "query": "q=acme"},
    )
    assert response.status_code == 302 and response["Location"].endswith("?q=acme")
    assert {lead.owner_id for lead in Lead.objects.filter(pk__in=[lead.pk for lead in acme])} == {manager.pk}
    assert Lead.objects.get(pk=other.pk).owner_id is None


def test_bulk_refuses_more_than_the_limit(client, org, members, monkeypatch):
    make_leads(org, 3)
    monkeypatch.setattr(views.lists, "BULK_MAX", 2)
    client.force_login(members[Role.SALES_MANAGER].user)
    response = client.post(
        url("records_leads_bulk", org),
        {"action": "owner", "owner": members[Role.SALES_MANAGER].pk, "all_matching": "1", "query": ""},
        follow=True,
    )
    assert "more than 2 lead records" in response.content.decode()
    assert not Lead.objects.filter(organization=org, owner__isnull=False).exists()


def test_bulk_skips_rows_a_service_refuses(client, org, members):
    leads = make_leads(org, 2)
    services.lead_change_stage(org=org, lead=leads[0], to="mql", reason="x")
    client.force_login(members[Role.SALES_REP].user)
    response = client.post(
        url("records_leads_bulk", org),
        {"action": "stage", "stage": "mql", "reason": "Batch", "ids": [lead.pk for lead in leads]},
        follow=True,
    )
    html = response.content.decode()
    assert "1 lead updated" in html and "1 skipped" in html and "already in MQL" in html


@pytest.mark.parametrize(
    "role, action, status",
    [
        (Role.VIEWER, "owner", 403),
        (Role.VIEWER, "stage", 403),
        (Role.MARKETER, "owner", 403),
        (Role.SALES_REP, "owner", 403),  # works leads, cannot reassign them
        (Role.SALES_REP, "stage", 302),
        (Role.SALES_MANAGER, "owner", 302),
    ],
)
def test_bulk_actions_need_their_permission(client, org, members, role, action, status):
    lead = make_leads(org, 1)[0]
    client.force_login(members[role].user)
    data = {"action": action, "ids": [lead.pk], "owner": members[role].pk, "stage": "mql", "reason": "r"}
    assert client.post(url("records_leads_bulk", org), data).status_code == status
    lead.refresh_from_db()
    changed = lead.owner_id is not None or lead.stage.key != "inquiry"
    assert changed == (status == 302)


def test_bulk_ids_of_another_org_are_ignored(client, org, other_org, members):
    theirs = services.lead_create(org=other_org, email="secret@globex.test")
    client.force_login(members[Role.SALES_MANAGER].user)
    client.post(
        url("records_leads_bulk", org),
        {"action": "owner", "owner": members[Role.SALES_MANAGER].pk, "ids": [theirs.pk]},
    )
    theirs.refresh_from_db()
    assert theirs.owner_id is None


def test_bulk_change_owner_of_accounts(client, org, members):
    manager = members[Role.SALES_MANAGER]
    account = services.account_create(org=org, name="Acme", domain="acme.test")
    client.force_login(manager.user)
    response = client.post(
        url("records_accounts_bulk", org), {"action": "owner", "owner": manager.pk, "ids": [account.pk]}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.owner_id == manager.pk


# --- CSV export ----------------------------------------------------------------------------------------


def _csv(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_is_the_current_view_and_defuses_formulas(owner_client, org):
    services.lead_create(org=org, email="evil@acme.test", company='=HYPERLINK("http://x")', score=5)
    services.lead_create(org=org, email="plain@acme.test", company="Plain Co", score=50)
    services.lead_create(org=org, email="other@initech.test", company="Initech", score=60)
    response = owner_client.get(
        url("records_leads_export", org),
        {"q": "acme", "columns": ["email", "company", "score"], "sort": "-score"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert rows[0] == ["id", "E-mail", "Company", "Score"]
    assert [row[1:] for row in rows[1:]] == [
        ["plain@acme.test", "Plain Co", "50"],
        ["evil@acme.test", '\'=HYPERLINK("http://x")', "5"],
    ]
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.EXPORT, organization=org)
    assert event.detail["rows"] == 2 and event.detail["filters"] == {"q": "acme"}
    assert event.actor.email == "owner@acme.test"


def test_export_uses_the_saved_view(owner_client, org, owner):
    membership = owner.memberships.get(organization=org)
    services.lead_create(org=org, email="a@acme.test", country="FR")
    services.lead_create(org=org, email="b@acme.test", country="DE")
    view = definitions.saved_view_create(
        org=org,
        owner=membership,
        object_type="lead",
        name="France",
        filters={"country": "FR"},
        columns=["email"],
    )
    rows = _csv(owner_client.get(url("records_leads_export", org), {"view": view.pk}))
    assert [row[1:] for row in rows] == [["E-mail"], ["a@acme.test"]]


@pytest.mark.parametrize("role, status", [(Role.VIEWER, 403), (Role.SALES_REP, 403), (Role.MARKETER, 200)])
def test_export_needs_data_export(client, org, members, role, status):
    make_leads(org, 1)
    client.force_login(members[role].user)
    for name in ("records_leads_export", "records_accounts_export", "records_opportunities_export"):
        assert client.get(url(name, org)).status_code == status
    html = client.get(url("records_leads", org)).content.decode()
    assert ("Export CSV" in html) == (status == 200)


def test_opportunity_export(owner_client, org):
    account = services.account_create(org=org, name="-Minus Corp", domain="minus.test")
    services.opportunity_create(org=org, name="Big deal", account=account, amount=1200, status="won")
    rows = _csv(owner_client.get(url("records_opportunities_export", org), {"status": "won"}))
    assert rows[0][:4] == ["id", "Name", "Account", "Amount"]
    assert rows[1][1:4] == ["Big deal", "'-Minus Corp", "1200.00"]
