"""Routing and SLA set-up pages: who may see and change what, the rule / publish /
queue flows end to end, errors shown beside their fields, and pinned query counts."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts import services as account_services
from apps.accounts.roles import Role
from apps.execution.models import (
    BusinessCalendar,
    OutOfOffice,
    PoolMember,
    RejectReason,
    RepProfile,
    RoutingPolicyVersion,
    RoutingPool,
    SlaPolicy,
)
from apps.execution.services import policies
from apps.execution.services import setup as services

from .conftest import make_rep, new_lead, pool_rule, pool_with_reps, publish_policy, route_pending

pytestmark = pytest.mark.django_db


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


def formset(prefix, rows, fields):
    """POST data for a formset: management form plus one entry per row."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "20",
    }
    for index, row in enumerate(rows):
        for name in fields:
            if row.get(name) not in (None, False):
                data[f"{prefix}-{index}-{name}"] = row[name]
    return data


def conditions(*rows):
    return formset("cond", list(rows) or [{}], ("field", "op", "value"))


def steps(*rows):
    return formset("step", list(rows) or [{}], ("at_minutes", "action", "mark_unavailable"))


def field_block(html: str, name: str) -> str:
    """The `<div class="field ...">` that holds the input `name`, up to the next field."""
    match = re.search(rf'<div class="field[^"]*"[^>]*>(?:(?!<div class="field).)*?name="{name}"', html, re.S)
    assert match, f"no field {name}"
    return match.group(0)


def has_error(html: str, name: str) -> bool:
    return "has-error" in field_block(html, name)[:80]


def draft_rule_names(org):
    draft = RoutingPolicyVersion.objects.filter(organization=org, status="draft").first()
    return [rule["name"] for rule in draft.rules] if draft else None


@pytest.fixture
def world(org, owner):
    """Two reps in a published queue, plus one object of every set-up kind."""
    ana, bo = make_rep(org, "Ana Ruiz"), make_rep(org, "Bo Lind")
    pool = pool_with_reps(org, [ana, bo], name="Inbound SDRs")
    published = publish_policy(
        org, rules=[pool_rule(pool, "France", {"field": "country", "op": "equals", "value": "FR"})],
        fallback_pool=pool, actor=owner,
    )  # fmt: skip
    calendar = services.calendar_create(org=org, name="Paris office", time_zone="Europe/Paris", hours={})
    reason = services.reject_reason_create(org=org, label="Not our ideal customer")
    sla = services.sla_policy_create(
        org=org, name="Accept fast", target_minutes=15, escalation=[{"at_minutes": 30, "action": "reassign"}]
    )
    absence = services.absence_create(
        org=org,
        membership=ana,
        starts_at=timezone.now() + datetime.timedelta(days=1),
        ends_at=timezone.now() + datetime.timedelta(days=3),
        note="Conference",
    )
    return {
        "ana": ana, "bo": bo, "pool": pool, "version": published, "calendar": calendar, "reason": reason,
        "sla": sla, "absence": absence,
    }  # fmt: skip


# name -> the world object whose pk it takes (None: no pk, "index": a rule index)
READ_PAGES = {
    "execution_routing": None,
    "execution_routing_publish": None,
    "execution_routing_version": "version",
    "execution_simulator": None,
    "execution_pools": None,
    "execution_pool": "pool",
    "execution_reps": None,
    "execution_rep": "ana",
    "execution_calendars": None,
    "execution_calendar": "calendar",
    "execution_reject_reasons": None,
    "execution_sla_policies": None,
    "execution_sla_policy": "sla",
}
EDIT_PAGES = {"execution_routing_rule_new": None, "execution_routing_rule": "index"}


def page_url(name, org, world, kind):
    if kind is None:
        return url(name, org)
    return url(name, org, 0 if kind == "index" else world[kind].pk)


@pytest.mark.parametrize("name", sorted(READ_PAGES) + sorted(EDIT_PAGES))
def test_every_page_opens_for_the_owner(name, owner_client, org, world):
    kind = {**READ_PAGES, **EDIT_PAGES}[name]
    response = owner_client.get(page_url(name, org, world, kind))
    assert response.status_code == 200
    assert 'aria-label="Routing and SLAs"' in response.content.decode()


@pytest.mark.parametrize("name", sorted(READ_PAGES))
def test_a_viewer_can_read_every_page(name, client, org, members, world):
    client.force_login(members[Role.VIEWER].user)
    response = client.get(page_url(name, org, world, READ_PAGES[name]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Save queue" not in body and "Add a rule" not in body and "Create policy" not in body


def writes(org, world):
    """Every write: (url, data) a viewer must be refused."""
    return [
        (url("execution_routing_rule_new", org), {"name": "X", "action_type": "pool"}),
        (url("execution_routing_rule", org, 0), {"name": "X", "action_type": "pool"}),
        (url("execution_routing_rule_delete", org, 0), {}),
        (url("execution_routing_rule_move", org, 0), {"direction": "down"}),
        (url("execution_routing_fallback", org), {"pool": ""}),
        (url("execution_routing_publish", org), {"note": "x"}),
        (url("execution_pools", org), {"name": "New", "strategy": "round_robin"}),
        (url("execution_pool", org, world["pool"].pk), {"form": "pool", "name": "X", "strategy": "weighted"}),
        (url("execution_pool_delete", org, world["pool"].pk), {}),
        (url("execution_rep", org, world["ana"].pk), {"form": "profile", "available": ""}),
        (url("execution_rep_absence_delete", org, world["absence"].pk), {}),
        (url("execution_calendars", org), {"name": "X", "time_zone": "UTC"}),
        (url("execution_calendar", org, world["calendar"].pk), {"name": "X", "time_zone": "UTC"}),
        (url("execution_reject_reasons", org), {"form": "add", "label": "X"}),
        (url("execution_reject_reason", org, world["reason"].pk), {"is_active": "0"}),
        (url("execution_sla_policies", org), {"name": "X", "target_minutes": "5"}),
        (url("execution_sla_policy", org, world["sla"].pk), {"name": "X", "target_minutes": "5"}),
    ]


def test_a_viewer_is_refused_every_write_and_nothing_changes(client, org, members, world):
    client.force_login(members[Role.VIEWER].user)
    for target, data in writes(org, world):
        assert client.post(target, data).status_code == 403, target
    assert RoutingPool.objects.filter(organization=org).count() == 1
    assert draft_rule_names(org) is None
    assert OutOfOffice.objects.filter(pk=world["absence"].pk).exists()
    assert RejectReason.objects.get(pk=world["reason"].pk).is_active
    assert SlaPolicy.objects.get(pk=world["sla"].pk).name == "Accept fast"


def test_a_viewer_cannot_open_the_rule_editor(client, org, members, world):
    client.force_login(members[Role.VIEWER].user)
    assert client.get(url("execution_routing_rule_new", org)).status_code == 403
    assert client.get(url("execution_routing_rule", org, 0)).status_code == 403


@pytest.mark.parametrize("role", [Role.REVOPS_LEAD, Role.ADMIN])
def test_operators_edit_routing(role, client, org, members, world):
    client.force_login(members[role].user)
    response = client.post(url("execution_routing_rule_move", org, 0), {"direction": "down"})
    assert response.status_code == 302
    assert draft_rule_names(org) == ["France"]


# --- Routing rules, draft and publish ----------------------------------------------------------------


def rule_data(name, action_type="pool", *, pool=None, person=None, min_completeness=None, rows=()):
    data = {"name": name, "action_type": action_type, **conditions(*rows)}
    if pool:
        data["pool"] = pool.pk
    if person:
        data["person"] = person.pk
    if min_completeness is not None:
        data["min_completeness"] = min_completeness
    return data


def test_rules_are_added_edited_moved_and_deleted_in_the_draft(owner_client, org, world):
    pool = world["pool"]
    response = owner_client.post(
        url("execution_routing_rule_new", org),
        rule_data(
            "Big German accounts",
            pool=pool,
            rows=[
                {"field": "country", "op": "in", "value": "DE, AT"},
                {"field": "account.employees", "op": "gte", "value": "500"},
            ],
        ),
    )
    assert response.status_code == 302
    draft = RoutingPolicyVersion.objects.get(organization=org, status="draft")
    assert draft.rules[1]["conditions"] == [
        {"field": "country", "op": "in", "value": ["DE", "AT"]},
        {"field": "account.employees", "op": "gte", "value": "500"},
    ]
    page = owner_client.get(url("execution_routing", org)).content.decode()
    assert "country is one of DE, AT" in page and "account.employees at least 500" in page

    response = owner_client.post(
        url("execution_routing_rule", org, 1),
        rule_data("Incomplete leads wait", "hold", min_completeness=60, rows=[]),
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.rules[1] == {
        "name": "Incomplete leads wait",
        "conditions": [],
        "action": {"type": "hold", "min_completeness": 0.6},
    }
    edit = owner_client.get(url("execution_routing_rule", org, 1)).content.decode()
    assert 'value="60"' in edit and 'value="Incomplete leads wait"' in edit

    owner_client.post(url("execution_routing_rule_move", org, 1), {"direction": "up"})
    assert draft_rule_names(org) == ["Incomplete leads wait", "France"]
    owner_client.post(url("execution_routing_rule_delete", org, 1))
    assert draft_rule_names(org) == ["Incomplete leads wait"]
    # The live version was never touched.
    world["version"].refresh_from_db()
    assert [r["name"] for r in world["version"].rules] == ["France"]
    assert owner_client.get(url("execution_routing_rule", org, 7)).status_code == 404


def test_rule_errors_are_shown_beside_their_field(owner_client, org, world):
    response = owner_client.post(url("execution_routing_rule_new", org), rule_data("To Ana", "person"))
    assert response.status_code == 400
    html = response.content.decode()
    assert has_error(html, "person") and "Choose a person of this organisation." in field_block(
        html, "person"
    )
    assert not has_error(html, "name")

    response = owner_client.post(url("execution_routing_rule_new", org), rule_data("Hold", "hold"))
    assert has_error(response.content.decode(), "min_completeness")

    response = owner_client.post(
        url("execution_routing_rule_new", org),
        rule_data("Odd", pool=world["pool"], rows=[{"field": "country", "value": "FR"}]),
    )
    html = response.content.decode()
    assert response.status_code == 400 and "Pick an operator." in html
    assert draft_rule_names(org) is None


def test_fallback_queue_is_set_in_the_draft(owner_client, org, world):
    other = services.pool_create(org=org, name="Night shift")
    assert owner_client.post(url("execution_routing_fallback", org), {"pool": other.pk}).status_code == 302
    assert RoutingPolicyVersion.objects.get(organization=org, status="draft").fallback_pool_id == other.pk
    owner_client.post(url("execution_routing_fallback", org), {"pool": ""})
    assert RoutingPolicyVersion.objects.get(organization=org, status="draft").fallback_pool_id is None


def test_publish_shows_the_diff_then_publishes(owner_client, owner, org, world):
    owner_client.post(url("execution_routing_rule_new", org), rule_data("Spain", pool=world["pool"], rows=[
        {"field": "country", "op": "equals", "value": "ES"}]))  # fmt: skip
    page = owner_client.get(url("execution_routing_publish", org)).content.decode()
    assert '<span class="routing-diff-add">+2. Spain</span>' in page
    assert '<span class="routing-diff-add">+   when country is ES</span>' in page
    assert url("execution_simulator", org) in page

    reviewed = re.search(r'name="reviewed" value="([^"]+)"', page).group(1)
    response = owner_client.post(url("execution_routing_publish", org), {"note": "", "reviewed": reviewed})
    assert response.status_code == 400 and has_error(response.content.decode(), "note")

    response = owner_client.post(
        url("execution_routing_publish", org), {"note": "Spain gets its own rule", "reviewed": reviewed}
    )
    assert response.status_code == 302
    live = RoutingPolicyVersion.objects.get(organization=org, status="published")
    assert live.number == 2 and live.published_by == owner and live.note == "Spain gets its own rule"
    assert "+2. Spain" in live.diff
    world["version"].refresh_from_db()
    assert world["version"].status == "retired"

    routing_page = owner_client.get(url("execution_routing", org)).content.decode()
    assert "Spain gets its own rule" in routing_page and "Published: version 2" in routing_page
    version_page = owner_client.get(url("execution_routing_version", org, live.pk)).content.decode()
    assert "+2. Spain" in version_page and "Olivia Owner" in version_page


def test_a_draft_changed_during_review_is_not_published(owner_client, org, world):
    owner_client.post(url("execution_routing_rule_new", org), rule_data("Spain", pool=world["pool"]))
    page = owner_client.get(url("execution_routing_publish", org)).content.decode()
    reviewed = re.search(r'name="reviewed" value="([^"]+)"', page).group(1)
    # A colleague adds a rule meanwhile.
    services.routing_rule_save(org=org, rule=pool_rule(world["pool"], "Italy"))

    response = owner_client.post(
        url("execution_routing_publish", org), {"note": "Spain", "reviewed": reviewed}
    )
    html = response.content.decode()
    assert response.status_code == 400 and "The draft changed while you were reviewing it." in html
    assert "+3. Italy" in html and 'value="Spain"' in html
    assert RoutingPolicyVersion.objects.get(organization=org, status="published").number == 1

    fresh = re.search(r'name="reviewed" value="([^"]+)"', html).group(1)
    response = owner_client.post(url("execution_routing_publish", org), {"note": "Spain", "reviewed": fresh})
    assert response.status_code == 302
    assert RoutingPolicyVersion.objects.get(organization=org, status="published").number == 2


def test_publish_without_a_draft_says_so(owner_client, org, world):
    assert "Nothing to publish" in owner_client.get(url("execution_routing_publish", org)).content.decode()
    response = owner_client.post(url("execution_routing_publish", org), {"note": "x"})
    assert response.status_code == 302
    assert RoutingPolicyVersion.objects.filter(organization=org).count() == 1


def test_an_empty_organisation_is_told_what_to_do(owner_client, org):
    page = owner_client.get(url("execution_routing", org)).content.decode()
    assert "Create a queue, then add a rule" in page
    assert url("execution_pools", org) in page
    # Reading never creates the policy.
    assert not RoutingPolicyVersion.objects.filter(organization=org).exists()


# --- Simulator -----------------------------------------------------------------------------------------


def test_simulator_explains_one_lead(owner_client, org, world):
    lead = new_lead(org, email="jean@example.fr", country="FR")
    route_pending(lead)
    response = owner_client.get(
        url("execution_simulator", org), {"version": "published", "lead": "jean@example.fr"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Rule 1 &quot;France&quot; matched" in html
    assert "eligible, not their turn" in html and 'class="badge badge-ok">chosen' in html
    assert "offered to" in html

    response = owner_client.get(url("execution_simulator", org), {"version": "draft", "lead": str(lead.pk)})
    assert "There is no draft to simulate." in response.content.decode()
    response = owner_client.get(
        url("execution_simulator", org), {"version": "published", "lead": "nobody@example.com"}
    )
    assert has_error(response.content.decode(), "lead")


def test_simulator_replays_a_period_and_highlights_changes(owner_client, org, world):
    for n in range(3):
        route_pending(new_lead(org, email=f"lead{n}@example.fr", country="FR"))
    services.routing_rule_save(
        org=org,
        index=0,
        rule={"name": "All to Bo", "conditions": [], "action": {"type": "person", "person": world["bo"].pk}},
    )
    today = timezone.localdate()
    response = owner_client.get(
        url("execution_simulator", org),
        {"version": "draft", "start": today - datetime.timedelta(days=1), "end": today},
    )
    html = response.content.decode()
    assert "3 leads replayed through version 2" in html
    assert html.count('class="routing-changed"') == 2  # round robin gave Ana two of the three
    assert 'data-chart="simulated-load"' in html
    changed_only = owner_client.get(
        url("execution_simulator", org),
        {"version": "draft", "start": today - datetime.timedelta(days=1), "end": today, "changed": "1"},
    ).content.decode()
    assert changed_only.count('<td><a href="?version=draft&amp;lead=') == 2


# --- Queues ----------------------------------------------------------------------------------------------


def test_queue_is_created_then_edited(owner_client, org, world):
    response = owner_client.post(url("execution_pools", org), {"name": "Enterprise", "strategy": "weighted"})
    pool = RoutingPool.objects.get(organization=org, name="Enterprise")
    assert response.status_code == 302 and response["Location"] == url("execution_pool", org, pool.pk)

    response = owner_client.post(url("execution_pools", org), {"name": "enterprise", "strategy": "weighted"})
    assert response.status_code == 400 and has_error(response.content.decode(), "name")

    response = owner_client.post(
        url("execution_pool", org, pool.pk),
        {"form": "pool", "name": "Enterprise AEs", "strategy": "load_balanced", "description": "Big deals"},
    )
    assert response.status_code == 302
    pool.refresh_from_db()
    assert (pool.name, pool.strategy, pool.description) == ("Enterprise AEs", "load_balanced", "Big deals")


def test_a_member_taken_out_and_added_back_keeps_their_ledger(owner_client, org, world):
    pool, ana = world["pool"], world["ana"]
    member = PoolMember.objects.get(pool=pool, membership=ana)
    PoolMember.objects.filter(pk=member.pk).update(
        assigned_count=9, rejected_count=2, credits=1, pass_value=7.0
    )
    target = url("execution_pool", org, pool.pk)

    response = owner_client.post(
        target, {"form": "member", "member": member.pk, "weight": 2, "territories": "fr, de"}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert not member.is_active and member.territories == ["FR", "DE"] and member.assigned_count == 9
    page = owner_client.get(target).content.decode()
    assert 'class="routing-inactive"' in page

    response = owner_client.post(
        target, {"form": "add", "membership": ana.pk, "weight": 1, "territories": ""}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.is_active and PoolMember.objects.filter(pool=pool, membership=ana).count() == 1
    assert (member.assigned_count, member.rejected_count, member.credits, member.pass_value) == (9, 2, 1, 7.0)

    response = owner_client.post(target, {"form": "add", "membership": ana.pk, "weight": 1})
    assert response.status_code == 400 and has_error(response.content.decode(), "membership")
    response = owner_client.post(
        target, {"form": "member", "member": member.pk, "weight": 0, "is_active": "on"}
    )
    assert (
        response.status_code == 400
        and "Ensure this value is greater than or equal to 1." in response.content.decode()
    )


def test_a_queue_in_use_is_not_deleted(owner_client, org, world):
    pool = world["pool"]
    response = owner_client.post(url("execution_pool_delete", org, pool.pk), follow=True)
    assert RoutingPool.objects.filter(pk=pool.pk).exists()
    assert "is still used by" in response.content.decode()
    spare = services.pool_create(org=org, name="Spare")
    response = owner_client.post(url("execution_pool_delete", org, spare.pk))
    assert response.status_code == 302 and not RoutingPool.objects.filter(pk=spare.pk).exists()
    assert owner_client.get(url("execution_pool_delete", org, pool.pk)).status_code == 405


# --- Reps ----------------------------------------------------------------------------------------------


def profile_data(**overrides):
    data = {"form": "profile", "available": "on", "time_zone": "", "daily_cap": "", "open_cap": ""}
    data.update({f"hours_{day}": "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")})
    data.update(overrides)
    return data


def test_manager_sets_availability_caps_and_hours(client, org, members, world):
    manager = members[Role.SALES_MANAGER]
    ana = world["ana"]
    account_services.team_create(org=org, name="Ana's team", manager=manager, members=[ana])
    client.force_login(manager.user)
    response = client.post(
        url("execution_rep", org, ana.pk),
        profile_data(
            available="", daily_cap="12", time_zone="Europe/Paris", hours_mon="08:00-12:00, 13:00-17:00"
        ),
    )
    assert response.status_code == 302
    profile = RepProfile.objects.get(membership=ana)
    assert (profile.available, profile.daily_cap, profile.time_zone) == (False, 12, "Europe/Paris")
    assert profile.hours["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]] and profile.hours["sat"] == []
    page = client.get(url("execution_reps", org)).content.decode()
    assert "Mon 08:00\u201312:00 &amp; 13:00\u201317:00" in page and "Europe/Paris" in page


def test_a_first_save_keeps_someone_without_hours_routable_around_the_clock(owner_client, org, members):
    rep = members[Role.SALES_REP]
    page = owner_client.get(url("execution_rep", org, rep.pk)).content.decode()
    assert "No working hours set" in page and 'name="hours_sat" value="00:00-24:00"' in page

    form = {f"hours_{day}": "00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    response = owner_client.post(
        url("execution_rep", org, rep.pk), {"form": "profile", "available": "on", "open_cap": "5", **form}
    )
    assert response.status_code == 302
    profile = RepProfile.objects.get(membership=rep)
    assert profile.open_cap == 5 and profile.hours["sat"] == [["00:00", "24:00"]]


def test_hours_errors_are_shown_beside_the_day(owner_client, org, world):
    response = owner_client.post(
        url("execution_rep", org, world["ana"].pk), profile_data(hours_wed="17:00-09:00")
    )
    html = response.content.decode()
    assert response.status_code == 400 and has_error(html, "hours_wed") and not has_error(html, "hours_mon")
    assert "ends before it starts" in field_block(html, "hours_wed")
    response = owner_client.post(
        url("execution_rep", org, world["ana"].pk), profile_data(hours_thu="nine to five")
    )
    assert has_error(response.content.decode(), "hours_thu")


def test_a_rep_changes_their_own_hours_and_absences_but_nothing_else(client, org, world):
    ana = world["ana"]
    client.force_login(ana.user)
    response = client.post(
        url("execution_rep", org, ana.pk), profile_data(available="", daily_cap="99", hours_sat="10:00-12:00")
    )
    assert response.status_code == 302
    profile = RepProfile.objects.get(membership=ana)
    assert profile.hours["sat"] == [["10:00", "12:00"]]
    assert profile.available and profile.daily_cap is None  # their manager's call

    start = (timezone.now() + datetime.timedelta(days=10)).strftime("%Y-%m-%dT09:00")
    end = (timezone.now() + datetime.timedelta(days=12)).strftime("%Y-%m-%dT17:00")
    response = client.post(
        url("execution_rep", org, ana.pk), {"form": "absence", "starts_at": start, "ends_at": end}
    )
    assert response.status_code == 302
    assert OutOfOffice.objects.filter(membership=ana).count() == 2
    response = client.post(
        url("execution_rep", org, ana.pk), {"form": "absence", "starts_at": end, "ends_at": start}
    )
    assert response.status_code == 400 and has_error(response.content.decode(), "ends_at")
    assert client.post(url("execution_rep_absence_delete", org, world["absence"].pk)).status_code == 302
    assert not OutOfOffice.objects.filter(pk=world["absence"].pk).exists()

    # Someone else's profile: read, never write.
    bo = world["bo"]
    assert client.get(url("execution_rep", org, bo.pk)).status_code == 200
    assert (
        client.post(url("execution_rep", org, bo.pk), profile_data(hours_sun="10:00-11:00")).status_code
        == 403
    )
    theirs = services.absence_create(
        org=org, membership=bo, starts_at=timezone.now(), ends_at=timezone.now() + datetime.timedelta(hours=2)
    )
    assert client.post(url("execution_rep_absence_delete", org, theirs.pk)).status_code == 403


def test_absence_times_are_the_reps_wall_clock(owner_client, org, world):
    ana = world["ana"]
    services.rep_profile_update(org=org, membership=ana, time_zone="Europe/Paris")
    owner_client.post(
        url("execution_rep", org, ana.pk),
        {
            "form": "absence",
            "starts_at": "2026-07-01T09:00",
            "ends_at": "2026-07-01T18:00",
            "note": "Dentist",
        },
    )
    absence = OutOfOffice.objects.get(membership=ana, note="Dentist")
    assert absence.starts_at == datetime.datetime(2026, 7, 1, 7, 0, tzinfo=datetime.UTC)  # CEST is UTC+2


# --- Calendars, reject reasons, SLA policies -----------------------------------------------------------


def calendar_data(**overrides):
    data = {"name": "Berlin office", "time_zone": "Europe/Berlin", "team": "", "holidays": ""}
    data.update({f"hours_{day}": "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")})
    data.update(overrides)
    return data


def test_calendar_is_created_and_edited_with_holidays(owner_client, org, world):
    response = owner_client.post(
        url("execution_calendars", org),
        calendar_data(holidays="2026-12-25 Christmas Day\n\n2026-10-03 Unity Day"),
    )
    assert response.status_code == 302
    calendar = BusinessCalendar.objects.get(organization=org, name="Berlin office")
    assert calendar.holidays == [
        {"date": "2026-10-03", "name": "Unity Day"},
        {"date": "2026-12-25", "name": "Christmas Day"},
    ]
    page = owner_client.get(url("execution_calendar", org, calendar.pk)).content.decode()
    assert (
        "2026-10-03 Unity Day" in page and "Mon\u2013Fri 09:00\u201317:00, Europe/Berlin, 2 holidays" in page
    )

    response = owner_client.post(
        url("execution_calendar", org, calendar.pk), calendar_data(holidays="Christmas")
    )
    html = response.content.decode()
    assert response.status_code == 400 and has_error(html, "holidays") and "Line 1" in html
    response = owner_client.post(
        url("execution_calendar", org, calendar.pk), calendar_data(hours_fri="09:00-25:00")
    )
    assert has_error(response.content.decode(), "hours_fri")


def test_reject_reasons_are_added_renamed_and_switched_off(owner_client, org, world):
    target = url("execution_reject_reasons", org)
    owner_client.post(target, {"form": "defaults"})
    assert RejectReason.objects.filter(organization=org).count() == 1 + len(services.DEFAULT_REJECT_REASONS)
    response = owner_client.post(target, {"form": "add", "label": "Not our ideal customer"})
    assert response.status_code == 400 and has_error(response.content.decode(), "label")

    reason = world["reason"]
    owner_client.post(url("execution_reject_reason", org, reason.pk), {"is_active": "0"})
    reason.refresh_from_db()
    assert not reason.is_active and reason.label == "Not our ideal customer"
    owner_client.post(url("execution_reject_reason", org, reason.pk), {"label": "Outside our ICP"})
    reason.refresh_from_db()
    assert reason.label == "Outside our ICP" and not reason.is_active


def test_sla_policy_is_created_with_conditions_and_a_ladder(owner_client, org, world):
    base = {
        "name": "French leads", "clock": "first_touch", "target_minutes": "60",
        "calendar": world["calendar"].pk, "stage": "mql", "team": "", "is_active": "on",
        **conditions({"field": "country", "op": "equals", "value": "FR"}),
    }  # fmt: skip
    data = {
        **base,
        **steps(
            {"at_minutes": "90", "action": "reassign", "mark_unavailable": "on"},
            {"at_minutes": "45", "action": "remind"},
            {},
        ),
    }
    response = owner_client.post(url("execution_sla_policies", org), data)
    assert response.status_code == 302
    policy = SlaPolicy.objects.get(organization=org, name="French leads")
    assert policy.escalation == [
        {"at_minutes": 45, "action": "remind", "mark_unavailable": False},
        {"at_minutes": 90, "action": "reassign", "mark_unavailable": True},
    ]
    assert policy.conditions == [{"field": "country", "op": "equals", "value": "FR"}]
    assert (policy.clock, policy.stage, policy.calendar_id) == ("first_touch", "mql", world["calendar"].pk)

    page = owner_client.get(url("execution_sla_policy", org, policy.pk)).content.decode()
    assert (
        'value="90"' in page
        and "country is FR" in owner_client.get(url("execution_sla_policies", org)).content.decode()
    )

    bad = {**base, **steps({"at_minutes": "30"})}
    response = owner_client.post(url("execution_sla_policy", org, policy.pk), bad)
    assert response.status_code == 400 and "Pick what happens." in response.content.decode()
    bad = {**data, "target_minutes": "0"}
    response = owner_client.post(url("execution_sla_policy", org, policy.pk), bad)
    assert response.status_code == 400 and has_error(response.content.decode(), "target_minutes")
    response = owner_client.post(url("execution_sla_policy", org, policy.pk), {**data, "is_active": ""})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert not policy.is_active


# --- Query counts ---------------------------------------------------------------------------------------


def count_queries(client, target) -> int:
    client.get(target)  # warm the session
    with CaptureQueriesContext(connection) as queries:
        assert client.get(target).status_code == 200
    return len(queries)


def grow(org, n):
    """n more of every listed kind: reps in the queue, calendars, reasons, SLA policies, versions."""
    for i in range(n):
        rep = make_rep(org, f"Extra Rep {i}")
        pool = services.pool_create(org=org, name=f"Extra queue {i}")
        services.pool_member_add(org=org, pool=pool, membership=rep)
        services.absence_create(
            org=org,
            membership=rep,
            starts_at=timezone.now(),
            ends_at=timezone.now() + datetime.timedelta(days=1),
        )
        services.calendar_create(org=org, name=f"Extra calendar {i}", time_zone="UTC", hours={}, holidays=[])
        services.reject_reason_create(org=org, label=f"Extra reason {i}")
        services.sla_policy_create(org=org, name=f"Extra SLA {i}", target_minutes=10 + i)
        services.routing_rule_save(org=org, rule=pool_rule(pool, f"Extra rule {i}"))
        policies.policy_publish(org=org, policy=policies.policy_for(org), actor=None, note=f"extra {i}")


# session, user, membership (org_view), navigation memberships, then the page's own reads.
LIST_QUERIES = {
    "execution_routing": 4 + 4,  # policy, versions, queue names, rule people
    "execution_pools": 4 + 2,  # queues with member counts; the new-queue form's teams
    "execution_reps": 4 + 2,  # people with profiles, their coming absences
    "execution_calendars": 4 + 2,  # calendars; the new-calendar form's teams
    "execution_reject_reasons": 4 + 1,
    "execution_sla_policies": 4 + 5,  # policies; form choices: stages, custom fields, calendars, teams
}


@pytest.mark.parametrize("name", sorted(LIST_QUERIES))
def test_list_pages_have_a_fixed_query_count(name, owner_client, org, world):
    target = url(name, org)
    before = count_queries(owner_client, target)
    grow(org, 3)
    after = count_queries(owner_client, target)
    assert before == after == LIST_QUERIES[name]


def test_a_sales_manager_manages_only_the_reps_of_their_teams(client, org, members):
    manager = members[Role.SALES_MANAGER]
    theirs = make_rep(org, "Theo Team")
    elsewhere = make_rep(org, "Elsa Else")
    account_services.team_create(org=org, name="Inbound", manager=manager, members=[theirs])
    client.force_login(manager.user)

    refused = client.post(url("execution_rep", org, elsewhere.pk), profile_data(daily_cap="3"))
    accepted = client.post(url("execution_rep", org, theirs.pk), profile_data(daily_cap="3"))

    assert (refused.status_code, accepted.status_code) == (403, 302)
    assert RepProfile.objects.get(membership=elsewhere).daily_cap is None
    assert RepProfile.objects.get(membership=theirs).daily_cap == 3
