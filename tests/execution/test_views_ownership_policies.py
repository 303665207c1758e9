"""The account and opportunity routing policies on the set-up pages: rules edited
through the forms, publishing with the reviewed diff, the condition fields each
object offers, the hold action refused where nothing could release it, and the
lead pages left as they were. Expected values are worked out by hand."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import RoutingPolicy, RoutingPolicyVersion, RoutingRequest
from apps.execution.routing import types
from apps.execution.services import policies, routing
from apps.execution.services import setup as services
from apps.records import definitions
from apps.records import services as records

from .conftest import make_rep, pool_rule, pool_with_reps, publish_policy

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


def conditions(*rows):
    """The conditions formset's POST data: management form plus one entry per row."""
    rows = list(rows) or [{}]
    data = {"cond-TOTAL_FORMS": str(len(rows)), "cond-INITIAL_FORMS": "0", "cond-MIN_NUM_FORMS": "0",
            "cond-MAX_NUM_FORMS": "20"}  # fmt: skip
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"cond-{index}-{key}"] = value
    return data


def rule_data(name, action_type="pool", *, pool=None, person=None, min_completeness=None, rows=()):
    data = {"name": name, "action_type": action_type, **conditions(*rows)}
    if pool:
        data["pool"] = pool.pk
    if person:
        data["person"] = person.pk
    if min_completeness is not None:
        data["min_completeness"] = min_completeness
    return data


def draft_of(org, object_type):
    return RoutingPolicyVersion.objects.filter(
        organization=org, policy__object_type=object_type, status=RoutingPolicyVersion.Status.DRAFT
    ).first()


def select_options(html: str, name: str) -> list[str]:
    """The option values of the <select name=...>, in page order."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def field_errors(html: str, name: str) -> str:
    """The field block holding input `name` (its errors sit inside it)."""
    match = re.search(rf'<div class="field[^"]*"[^>]*>(?:(?!<div class="field).)*?name="{name}"', html, re.S)
    assert match, f"no field {name}"
    return match.group(0)


def reviewed_token(html: str) -> str:
    return re.search(r'name="reviewed" value="([^"]+)"', html).group(1)


def route_pending(record):
    """Route the record's pending requests (on-commit routing never fires inside a test)."""
    field = "account" if record._meta.model_name == "account" else "opportunity"
    for pk in RoutingRequest.objects.filter(status="pending", **{field: record}).values_list("pk", flat=True):
        routing.route_request(request_id=pk, now=NOON)
    record.refresh_from_db()


@pytest.fixture
def world(org):
    ana, bo = make_rep(org, "Ana Ruiz"), make_rep(org, "Bo Lind")
    return {"ana": ana, "bo": bo, "aes": pool_with_reps(org, [ana], name="AEs")}


# --- Editing through the pages ---------------------------------------------------------------------


def test_an_account_rule_is_added_edited_moved_and_deleted_through_the_pages(owner_client, org, world):
    aes = world["aes"]
    response = owner_client.post(
        url("execution_routing_accounts_rule_new", org),
        rule_data("Big software", pool=aes, rows=[
            {"field": "industry", "op": "equals", "value": "Software"},
            {"field": "employees", "op": "gte", "value": "500"},
        ]),
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/routing/accounts/"
    draft = draft_of(org, "account")
    assert draft.rules == [
        {
            "name": "Big software",
            "conditions": [
                {"field": "industry", "op": "equals", "value": "Software"},
                {"field": "employees", "op": "gte", "value": "500"},
            ],
            "action": {"type": "pool", "pool": aes.pk},
        }
    ]
    # Only the account policy exists: editing accounts never starts a lead or opportunity draft.
    assert list(RoutingPolicy.objects.filter(organization=org).values_list("object_type", flat=True)) == [
        "account"
    ]

    page = owner_client.get(url("execution_routing_accounts", org)).content.decode()
    assert "industry is Software" in page and "employees at least 500" in page
    assert url("execution_routing_accounts_rule", org, 0) in page
    assert url("execution_routing_accounts_rule_delete", org, 0) in page

    response = owner_client.post(
        url("execution_routing_accounts_rule", org, 0), rule_data("Sticky", "sticky", pool=aes)
    )
    assert response.status_code == 302
    owner_client.post(
        url("execution_routing_accounts_rule_new", org), rule_data("To Bo", "person", person=world["bo"])
    )
    draft.refresh_from_db()
    assert [(r["name"], r["action"]) for r in draft.rules] == [
        ("Sticky", {"type": "sticky", "pool": aes.pk}),
        ("To Bo", {"type": "person", "person": world["bo"].pk}),
    ]
    page = owner_client.get(url("execution_routing_accounts", org)).content.decode()
    assert "Assign to whoever owns the account&#x27;s leads" in page and "Every account" in page

    owner_client.post(url("execution_routing_accounts_rule_move", org, 1), {"direction": "up"})
    draft.refresh_from_db()
    assert [r["name"] for r in draft.rules] == ["To Bo", "Sticky"]
    owner_client.post(url("execution_routing_accounts_fallback", org), {"pool": aes.pk})
    owner_client.post(url("execution_routing_accounts_rule_delete", org, 0))
    draft.refresh_from_db()
    assert [r["name"] for r in draft.rules] == ["Sticky"] and draft.fallback_pool_id == aes.pk
    assert owner_client.get(url("execution_routing_accounts_rule", org, 5)).status_code == 404


def test_an_opportunity_rule_is_added_through_the_page(owner_client, org, world):
    aes = world["aes"]
    response = owner_client.post(
        url("execution_routing_opportunities_rule_new", org),
        rule_data("Big EMEA deals", "account_owner", pool=aes, rows=[
            {"field": "amount", "op": "gte", "value": "50000"},
            {"field": "account.region", "op": "in", "value": "EMEA, APAC"},
        ]),
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/routing/opportunities/"
    assert draft_of(org, "opportunity").rules == [
        {
            "name": "Big EMEA deals",
            "conditions": [
                {"field": "amount", "op": "gte", "value": "50000"},
                {"field": "account.region", "op": "in", "value": ["EMEA", "APAC"]},
            ],
            "action": {"type": "account_owner", "pool": aes.pk},
        }
    ]
    assert draft_of(org, "account") is None and draft_of(org, "lead") is None
    page = owner_client.get(url("execution_routing_opportunities", org)).content.decode()
    assert "amount at least 50000" in page and "account.region is one of EMEA, APAC" in page
    assert "Assign to the owner of the opportunity&#x27;s account" in page

    edit = owner_client.get(url("execution_routing_opportunities_rule", org, 0)).content.decode()
    assert 'value="Big EMEA deals"' in edit
    assert select_options(edit, "action_type") == ["person", "pool", "account_owner", "sticky"]


def test_a_viewer_reads_the_account_page_but_changes_nothing(client, org, members, world):
    client.force_login(members[Role.VIEWER].user)
    assert client.get(url("execution_routing_accounts", org)).status_code == 200
    assert client.get(url("execution_routing_opportunities_publish", org)).status_code == 200
    assert client.get(url("execution_routing_accounts_rule_new", org)).status_code == 403
    response = client.post(
        url("execution_routing_opportunities_rule_new", org), rule_data("X", pool=world["aes"])
    )
    assert response.status_code == 403
    assert not RoutingPolicyVersion.objects.filter(organization=org).exists()


# --- Publishing ------------------------------------------------------------------------------------


def test_account_policy_is_published_with_its_diff_and_routes_new_accounts(owner_client, owner, org, world):
    owner_client.post(
        url("execution_routing_accounts_rule_new", org),
        rule_data("Software", pool=world["aes"], rows=[
            {"field": "industry", "op": "equals", "value": "Software"}]),
    )  # fmt: skip
    page = owner_client.get(url("execution_routing_accounts_publish", org)).content.decode()
    assert '<span class="routing-diff-add">+1. Software</span>' in page
    assert '<span class="routing-diff-add">+   when industry is Software</span>' in page
    assert '<span class="routing-diff-add">+   then assign to a team queue AEs</span>' in page
    assert "no version is live yet" in page
    assert "New accounts created without an owner follow it from now on" in page
    assert url("execution_simulator", org) + "?version=draft" not in page  # the simulator replays leads only

    response = owner_client.post(
        url("execution_routing_accounts_publish", org),
        {"note": "Software accounts go to the AEs", "reviewed": reviewed_token(page)},
        follow=True,
    )
    assert response.redirect_chain == [(f"/o/{org.slug}/routing/accounts/", 302)]
    assert "Version 1 published: new accounts follow it from now on." in response.content.decode()
    live = RoutingPolicyVersion.objects.get(organization=org, status="published")
    assert live.policy.object_type == "account" and live.published_by == owner
    assert live.diff == [
        "--- nothing published",
        "+++ v1",
        "@@ -0,0 +1,4 @@",
        "+1. Software",
        "+   when industry is Software",
        "+   then assign to a team queue AEs",
        "+Fallback queue: none",
    ]

    version_page = owner_client.get(url("execution_routing_version", org, live.pk)).content.decode()
    assert "<h1>Account routing</h1>" in version_page and "+1. Software" in version_page
    assert url("execution_routing_accounts", org) + "#history" in version_page

    # The published policy is what routing reads: a new software account goes to the only AE.
    software = records.account_create(org=org, name="Acme", domain="acme.com", industry="Software")
    retail = records.account_create(org=org, name="Shop", domain="shop.com", industry="Retail")
    route_pending(software)
    route_pending(retail)
    assert (software.owner_id, retail.owner_id) == (world["ana"].pk, None)


def test_opportunity_policy_is_published_with_its_diff(owner_client, org, world):
    owner_client.post(
        url("execution_routing_opportunities_rule_new", org), rule_data("All", pool=world["aes"])
    )
    page = owner_client.get(url("execution_routing_opportunities_publish", org)).content.decode()
    # A rule without conditions is a catch-all, named in the object's own words.
    assert '<span class="routing-diff-add">+   when (any opportunity) is not empty</span>' in page
    assert "New opportunities created without an owner follow it from now on" in page

    response = owner_client.post(
        url("execution_routing_opportunities_publish", org),
        {"note": "Every deal to the AEs", "reviewed": reviewed_token(page)},
        follow=True,
    )
    assert "Version 1 published: new opportunities follow it from now on." in response.content.decode()
    assert policies.published_policy(org, "opportunity").rules[0].name == "All"
    assert policies.published_policy(org, "account") is None and policies.published_policy(org) is None

    routing_page = owner_client.get(url("execution_routing_opportunities", org)).content.decode()
    assert "Published: version 1" in routing_page and "Every deal to the AEs" in routing_page


# --- Condition fields per object -------------------------------------------------------------------


@pytest.fixture
def custom_fields(org):
    for object_type, key, label in (
        ("lead", "persona", "Persona"),
        ("account", "tier", "Tier"),
        ("opportunity", "deal_kind", "Deal kind"),
    ):
        definitions.custom_field_create(org=org, object_type=object_type, key=key, label=label)


def condition_fields(client, name, org) -> list[str]:
    return select_options(client.get(url(name, org)).content.decode(), "cond-0-field")


def test_each_object_offers_its_own_condition_fields(owner_client, org, world, custom_fields):
    assert condition_fields(owner_client, "execution_routing_accounts_rule_new", org) == [
        "", "name", "domain", "industry", "employees", "annual_revenue", "country", "region",
        "custom.tier", "segments", "local_hour", "weekday",
    ]  # fmt: skip
    assert condition_fields(owner_client, "execution_routing_opportunities_rule_new", org) == [
        "", "name", "amount", "type", "stage", "source", "currency",
        "account.industry", "account.employees", "account.region", "account.country",
        "account.annual_revenue", "account.has_owner", "country", "region",
        "custom.deal_kind", "segments", "local_hour", "weekday",
    ]  # fmt: skip
    leads = condition_fields(owner_client, "execution_routing_rule_new", org)
    # Leads keep their own list: lead fields, their custom fields, then the routing facts.
    assert leads[:3] == ["", "email", "first_name"] and "utm_campaign" in leads and "completeness" in leads
    assert "custom.persona" in leads and "custom.tier" not in leads and "domain" not in leads
    assert leads[-7:] == [
        "account.has_owner", "account.industry", "account.employees", "region", "local_hour", "weekday",
        "segments",
    ]  # fmt: skip


def test_a_condition_on_another_objects_field_is_refused(owner_client, org, world):
    response = owner_client.post(
        url("execution_routing_accounts_rule_new", org),
        rule_data("UTM", pool=world["aes"], rows=[{"field": "utm_source", "op": "equals", "value": "ads"}]),
    )
    assert response.status_code == 400
    assert draft_of(org, "account") is None


# --- Hold for data ------------------------------------------------------------------------------------


def test_hold_is_not_offered_and_refused_for_opportunities(owner_client, org, world):
    page = owner_client.get(url("execution_routing_opportunities_rule_new", org)).content.decode()
    assert 'value="hold"' not in page and 'name="min_completeness"' not in page

    response = owner_client.post(
        url("execution_routing_opportunities_rule_new", org), rule_data("Wait", "hold", min_completeness=60)
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "has-error" in field_errors(html, "action_type")[:80]
    assert "Opportunities have no completeness score to wait for: choose another action." in html
    assert draft_of(org, "opportunity") is None

    # The services refuse it too, whoever calls them, with the field at fault.
    with pytest.raises(ServiceError) as refused:
        services.routing_rule_save(
            org=org, object_type="opportunity",
            rule={"name": "Wait", "conditions": [], "action": {"type": "hold", "min_completeness": 0.6}},
        )  # fmt: skip
    assert refused.value.field == "action.type"
    with pytest.raises(ServiceError) as refused:
        publish_policy(org, rules=[{"name": "Wait", "conditions": [], "action": {"type": "hold"}}],
                       object_type="opportunity")  # fmt: skip
    assert refused.value.field == "rules[0].action.type"


def test_hold_is_kept_for_accounts_and_leads(owner_client, org, world):
    page = owner_client.get(url("execution_routing_accounts_rule_new", org)).content.decode()
    assert select_options(page, "action_type") == ["person", "pool", "account_owner", "sticky", "hold"]
    response = owner_client.post(
        url("execution_routing_accounts_rule_new", org),
        rule_data("Thin ones wait", "hold", min_completeness=70),
    )
    assert response.status_code == 302
    assert draft_of(org, "account").rules[0]["action"] == {"type": "hold", "min_completeness": 0.7}

    response = owner_client.post(
        url("execution_routing_accounts_rule_new", org), rule_data("No level", "hold")
    )
    assert response.status_code == 400
    assert "Give the completeness (%) below which accounts are held." in response.content.decode()

    # clean_rules keeps its two-argument form, for lead rules.
    cleaned = policies.clean_rules(
        org=org, rules=[{"name": "Wait", "action": {"type": "hold", "min_completeness": 0.5}}]
    )
    assert cleaned == [
        {"name": "Wait", "conditions": [], "action": {"type": "hold", "min_completeness": 0.5}}
    ]


# --- Tabs, empty states, the lead pages ----------------------------------------------------------------


def test_tabs_switch_objects_and_say_what_each_policy_does(owner_client, org, world):
    page = owner_client.get(url("execution_routing_opportunities", org)).content.decode()
    tabs = re.search(r'<nav class="tabs routing-objects"[^>]*>(.*?)</nav>', page, re.S).group(1)
    links = re.findall(r'<a href="([^"]+)" title="([^"]+)"( aria-current="page")?>(\w+)</a>', tabs)
    assert [(href, current, label) for href, _, current, label in links] == [
        (url("execution_routing", org), "", "Leads"),
        (url("execution_routing_accounts", org), "", "Accounts"),
        (url("execution_routing_opportunities", org), ' aria-current="page"', "Opportunities"),
    ]
    titles = [title for _, title, _, _ in links]
    assert "accepts or rejects" in titles[0] and "SLA" in titles[0]
    assert "owns the account&#x27;s leads" in titles[1] and "accounts each person owns" in titles[1]
    assert "open opportunities" in titles[2] and "the opportunity&#x27;s account&#x27;s owner" in titles[2]
    assert "previous opportunity" in page  # the current tab's sentence is shown under the tabs

    rule_page = owner_client.get(url("execution_routing_accounts_rule_new", org)).content.decode()
    assert 'aria-current="page">Accounts</a>' in rule_page and "<h1>Account routing</h1>" in rule_page


def test_empty_account_and_opportunity_pages_say_what_to_do(owner_client, org, world):
    accounts = owner_client.get(url("execution_routing_accounts", org)).content.decode()
    assert "No account routing published" in accounts
    assert "Add a rule or a fallback queue, then publish." in accounts
    assert url("execution_routing_accounts_rule_new", org) in accounts
    opportunities = owner_client.get(url("execution_routing_opportunities", org)).content.decode()
    assert "No opportunity routing published" in opportunities
    assert "opportunities created without an owner stay unowned" in opportunities
    assert not RoutingPolicy.objects.filter(organization=org).exists()  # reading creates nothing


def test_an_account_page_without_queues_asks_for_one_first(owner_client, org):
    page = owner_client.get(url("execution_routing_accounts", org)).content.decode()
    assert "Create a queue, then add a rule" in page and "add rules that send accounts to it" in page


def test_the_lead_pages_keep_their_addresses_and_policy(owner_client, owner, org, world):
    slug = org.slug
    assert [
        url("execution_routing", org),
        url("execution_routing_rule_new", org),
        url("execution_routing_rule", org, 0),
        url("execution_routing_rule_delete", org, 0),
        url("execution_routing_rule_move", org, 0),
        url("execution_routing_fallback", org),
        url("execution_routing_publish", org),
        url("execution_simulator", org),
    ] == [
        f"/o/{slug}/routing/",
        f"/o/{slug}/routing/rules/new/",
        f"/o/{slug}/routing/rules/0/",
        f"/o/{slug}/routing/rules/0/delete/",
        f"/o/{slug}/routing/rules/0/move/",
        f"/o/{slug}/routing/fallback/",
        f"/o/{slug}/routing/publish/",
        f"/o/{slug}/routing/simulate/",
    ]
    publish_policy(org, rules=[pool_rule(world["aes"], "Accounts rule")], object_type="account", actor=owner)
    response = owner_client.post(
        url("execution_routing_rule_new", org), rule_data("France", pool=world["aes"])
    )
    assert response["Location"] == f"/o/{slug}/routing/"
    assert draft_of(org, "lead").rules[0]["name"] == "France"
    assert draft_of(org, "account") is None  # the account policy was not touched

    page = owner_client.get(url("execution_routing", org)).content.decode()
    assert "<h1>Lead routing</h1>" in page and 'aria-current="page">Leads</a>' in page
    assert url("execution_simulator", org) + "?version=draft" in page
    assert "Accounts rule" not in page
    publish = owner_client.get(url("execution_routing_publish", org)).content.decode()
    assert url("execution_simulator", org) + "?version=draft" in publish
    assert "New leads follow the published rules from the moment you publish" in publish


def test_a_queue_used_by_the_account_policy_says_so_when_deleted(org, owner, world):
    publish_policy(org, rules=[pool_rule(world["aes"], "Enterprise")], object_type="account", actor=owner)
    with pytest.raises(ServiceError) as refused:
        services.pool_delete(org=org, pool=world["aes"])
    assert 'rule 1 "Enterprise" of account routing version 1 (published)' in refused.value.message


def test_the_account_page_has_a_fixed_query_count(owner_client, org, owner, world):
    target = url("execution_routing_accounts", org)
    to_ana = {
        "name": "To Ana",
        "conditions": [],
        "action": {"type": types.ASSIGN_PERSON, "person": world["ana"].pk},
    }
    publish_policy(org, rules=[pool_rule(world["aes"], "One"), to_ana], object_type="account", actor=owner)

    def count() -> int:
        owner_client.get(target)
        with CaptureQueriesContext(connection) as queries:
            assert owner_client.get(target).status_code == 200
        return len(queries)

    before = count()
    for index in range(3):
        rep = make_rep(org, f"Extra {index}")
        services.routing_rule_save(
            org=org, rule={"name": f"To {index}", "conditions": [], "action": {"type": types.ASSIGN_PERSON,
                                                                                "person": rep.pk}},
            object_type="account",
        )  # fmt: skip
        policies.policy_publish(org=org, policy=policies.policy_for(org, "account"), actor=owner)
    # session, user, membership, navigation memberships; then the policy, its versions, queue names,
    # the fallback form's queues and the people the rules name.
    assert before == count() == 4 + 5


@pytest.mark.parametrize("objects", ["accounts", "opportunities"])
@pytest.mark.parametrize("suffix", ["", "_rule_new", "_rule", "_publish"])
def test_every_page_opens_for_the_owner_and_a_viewer(objects, suffix, client, owner, org, members, world):
    object_type = {"accounts": "account", "opportunities": "opportunity"}[objects]
    live = publish_policy(
        org, rules=[pool_rule(world["aes"], "Live rule")], object_type=object_type, actor=owner
    )
    services.routing_rule_save(org=org, rule=pool_rule(world["aes"], "Draft rule"), object_type=object_type)
    target = url(f"execution_routing_{objects}{suffix}", org, *([0] if suffix == "_rule" else []))
    client.force_login(owner)
    html = client.get(target).content.decode()
    assert f"<h1>{object_type.capitalize()} routing</h1>" in html
    # The draft copied the live rule and added one after it.
    expected = {
        "": "Draft: version 2",
        "_rule_new": "New rule (it will be rule 3)",
        "_rule": 'value="Live rule"',
        "_publish": '<span class="routing-diff-add">+2. Draft rule</span>',
    }[suffix]
    assert expected in html
    assert client.get(url("execution_routing_version", org, live.pk)).status_code == 200
    client.force_login(members[Role.VIEWER].user)
    assert client.get(target).status_code == (403 if suffix.startswith("_rule") else 200)
