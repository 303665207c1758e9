"""The rep inbox, the manager queue, notifications and the routing timeline of a lead."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from apps.accounts import services as account_services
from apps.accounts.roles import Role
from apps.execution.models import (
    Assignment,
    Notification,
    PoolMember,
    RejectReason,
    RepProfile,
    RoutingDecision,
    RoutingPool,
    RoutingRequest,
    SlaPolicy,
    SlaTimer,
)
from apps.execution.services import notifications, policies, routing
from apps.records import services as record_services
from apps.records.models import Touchpoint
from tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


@pytest.fixture
def rep(members):
    return members[Role.SALES_REP]


@pytest.fixture
def manager(members):
    return members[Role.SALES_MANAGER]


@pytest.fixture
def colleague(org):
    """A second rep in the same team, who takes what the first one rejects."""
    return factories.make_member(
        org, role=Role.SALES_REP, user=factories.make_user(email="cole@acme.test", full_name="Cole Colleague")
    )


@pytest.fixture
def outside_rep(org):
    """A rep of the same organisation in no team the sales manager runs."""
    return factories.make_member(
        org, role=Role.SALES_REP, user=factories.make_user(email="far@acme.test", full_name="Fay Faraway")
    )


@pytest.fixture
def team(org, manager, rep, colleague):
    return account_services.team_create(org=org, name="Inbound", manager=manager, members=[rep, colleague])


@pytest.fixture
def pool(org, rep):
    """Round robin over the rep alone, so every offer lands with them until the colleague joins."""
    pool = RoutingPool.objects.create(organization=org, name="Inbound SDRs")
    PoolMember.objects.create(organization=org, pool=pool, membership=rep)
    return pool


@pytest.fixture
def policy(org, owner, pool):
    policy = policies.policy_for(org)
    policies.draft_update(
        org=org,
        policy=policy,
        rules=[
            {"name": "Inbound demo requests", "conditions": [], "action": {"type": "pool", "pool": pool.pk}}
        ],
        fallback_pool=pool,
    )
    return policies.policy_publish(org=org, policy=policy, actor=owner)


@pytest.fixture
def slas(org):
    return [
        SlaPolicy.objects.create(organization=org, name="Accept in 30", clock="accept", target_minutes=30),
        SlaPolicy.objects.create(organization=org, name="Call in 60", clock="first_touch", target_minutes=60),
    ]


@pytest.fixture
def reasons(org):
    RejectReason.objects.for_org(org).delete()  # this module's reasons instead of the defaults
    return [
        RejectReason.objects.create(
            organization=org, key="wrong_territory", label="Wrong territory", order=1
        ),
        RejectReason.objects.create(organization=org, key="too_busy", label="Too busy", order=2),
        RejectReason.objects.create(organization=org, key="retired", label="Retired reason", is_active=False),
    ]


@pytest.fixture
def routed(policy, slas, reasons, team):
    return policy


def offer(org, **fields) -> Assignment:
    """A new lead, routed now (tests run inside one transaction, so on-commit routing never fires)."""
    lead = record_services.lead_create(org=org, **fields)
    request = RoutingRequest.objects.get(lead=lead, status=RoutingRequest.Status.PENDING)
    routing.route_request(request_id=request.pk)
    return Assignment.objects.select_related("lead").get(lead=lead, status__in=Assignment.LIVE)


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep.user)
    return client


def client_for(membership):
    from django.test import Client

    client = Client()
    client.force_login(membership.user)
    return client


# --- The inbox ---------------------------------------------------------------------------------------


def test_inbox_lists_offers_oldest_first_with_facts_reason_and_countdown(rep_client, org, routed):
    first = offer(
        org, email="ann@bigco.test", first_name="Ann", company="BigCo", country="DE", source="Demo form"
    )
    second = offer(org, email="bob@smallco.test", first_name="Bob", company="SmallCo", score=42)
    Assignment.objects.filter(pk=first.pk).update(offered_at=timezone.now() - timedelta(minutes=5))

    response = rep_client.get(url("execution_inbox", org))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index(f"offer-{first.pk}") < body.index(f"offer-{second.pk}")
    for fact in ("Ann", "BigCo", "DE", "Demo form", "SmallCo", "42", "Inbound demo requests"):
        assert fact in body
    why = RoutingDecision.objects.get(lead=first.lead).trail[-1]
    assert escape(why) in body
    timer = SlaTimer.objects.get(assignment=first, clock="accept")
    assert f'data-due="{int(timer.due_at.timestamp())}"' in body
    assert "js/inbox.js" in body
    # The organisation's active reasons only, in their order.
    assert body.index("Wrong territory") < body.index("Too busy")
    assert "Retired reason" not in body
    assert response.context["offers"][0].assignment == first


def test_inbox_empty_state_explains_what_appears(rep_client, org):
    response = rep_client.get(url("execution_inbox", org))
    assert response.status_code == 200
    assert response.context["offers"] == [] and response.context["awaiting"] == []
    assert b"Nothing waiting for you" in response.content
    assert b"countdown to accept it" in response.content


def test_inbox_shows_only_the_members_own_offers(client, org, routed, colleague, pool):
    mine = offer(org, email="mine@acme.test", first_name="Mine")
    PoolMember.objects.filter(pool=pool).update(is_active=False)
    PoolMember.objects.create(organization=org, pool=pool, membership=colleague)
    theirs = offer(org, email="theirs@acme.test", first_name="Theirs")
    assert theirs.assignee == colleague
    response = client_for(colleague).get(url("execution_inbox", org))
    assert [item.assignment for item in response.context["offers"]] == [theirs]
    assert f"offer-{mine.pk}" not in response.content.decode()


def test_inbox_needs_leads_work(client, org, members):
    client.force_login(members[Role.VIEWER].user)
    assert client.get(url("execution_inbox", org)).status_code == 403
    client.force_login(members[Role.MARKETER].user)
    assert client.get(url("execution_inbox", org)).status_code == 403


def test_inbox_query_count_does_not_grow_with_offers(
    rep_client, org, routed, django_assert_max_num_queries, django_assert_num_queries
):
    offer(org, email="one@acme.test")
    accepted = offer(org, email="two@acme.test")
    routing.assignment_accept(org=org, assignment=accepted, actor=None)
    with django_assert_max_num_queries(12) as few:
        rep_client.get(url("execution_inbox", org))
    for n in range(6):
        accepted = offer(org, email=f"more{n}@acme.test")
        if n % 2:
            routing.assignment_accept(org=org, assignment=accepted, actor=None)
    with django_assert_num_queries(len(few.captured_queries)):
        response = rep_client.get(url("execution_inbox", org))
    assert len(response.context["offers"]) == 4 and len(response.context["awaiting"]) == 4


# --- Accept and reject ---------------------------------------------------------------------------------


def test_accept_by_htmx_moves_the_card_to_awaiting_first_touch(rep_client, org, routed, rep):
    assignment = offer(org, email="ann@acme.test", first_name="Ann")
    response = rep_client.post(url("execution_assignment_accept", org, assignment.pk), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    # The card itself is replaced by nothing; the accepted lead joins the awaiting list out of band.
    assert 'hx-swap-oob="beforeend:#inbox-awaiting-list"' in body
    assert f'id="awaiting-{assignment.pk}"' in body
    assert url("execution_lead_touch", org, assignment.lead_id) in body
    assert re.search(r'id="inbox-status"[^>]*>Accepted Ann', body)
    assert f'id="offer-{assignment.pk}"' not in body
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.ACCEPTED and assignment.actor == rep.user
    assert assignment.lead.__class__.objects.get(pk=assignment.lead_id).owner == rep
    assert SlaTimer.objects.get(assignment=assignment, clock="accept").status == SlaTimer.Status.MET
    page = rep_client.get(url("execution_inbox", org))
    assert [item.assignment for item in page.context["awaiting"]] == [assignment]
    assert page.context["offers"] == []


def test_accept_without_htmx_redirects_with_a_message(rep_client, org, routed):
    assignment = offer(org, email="ann@acme.test")
    response = rep_client.post(url("execution_assignment_accept", org, assignment.pk), follow=True)
    assert response.redirect_chain[-1][0] == url("execution_inbox", org)
    assert b"Accepted" in response.content


def test_accepting_twice_says_it_is_already_accepted(rep_client, org, routed):
    assignment = offer(org, email="ann@acme.test")
    rep_client.post(url("execution_assignment_accept", org, assignment.pk), **HTMX)
    response = rep_client.post(url("execution_assignment_accept", org, assignment.pk), **HTMX)
    assert response.status_code == 200
    assert b"already accepted" in response.content


def test_accept_and_reject_are_post_only(rep_client, org, routed):
    assignment = offer(org, email="ann@acme.test")
    assert rep_client.get(url("execution_assignment_accept", org, assignment.pk)).status_code == 405
    assert rep_client.get(url("execution_assignment_reject", org, assignment.pk)).status_code == 405


def test_reject_with_a_reason_routes_the_lead_to_someone_else(
    rep_client, org, routed, rep, colleague, pool, reasons, django_capture_on_commit_callbacks
):
    assignment = offer(org, email="ann@acme.test", first_name="Ann")
    PoolMember.objects.create(organization=org, pool=pool, membership=colleague)
    with django_capture_on_commit_callbacks(execute=True):
        response = rep_client.post(
            url("execution_assignment_reject", org, assignment.pk),
            {"reason": reasons[0].pk, "note": "They are in Brazil"},
            **HTMX,
        )
    assert response.status_code == 200
    assert re.search(r'id="inbox-status"[^>]*>Rejected Ann', response.content.decode())
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.REJECTED
    assert assignment.reject_reason == reasons[0] and assignment.reject_note == "They are in Brazil"
    again = Assignment.objects.get(lead=assignment.lead, status=Assignment.Status.OFFERED)
    assert again.assignee == colleague
    assert rep_client.get(url("execution_inbox", org)).context["offers"] == []


@pytest.mark.parametrize("reason", ["", "retired", "unknown"])
def test_reject_needs_an_active_reason(rep_client, org, routed, reasons, reason):
    assignment = offer(org, email="ann@acme.test")
    value = {"": "", "retired": reasons[2].pk, "unknown": 999999}[reason]
    response = rep_client.post(
        url("execution_assignment_reject", org, assignment.pk), {"reason": value}, **HTMX
    )
    assert response.status_code == 200
    body = response.content.decode()
    # The card comes back with its reject form open and the problem next to the field.
    assert f'id="offer-{assignment.pk}"' in body
    assert '<details class="inbox-reject" open>' in body
    assert "errorlist" in body
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.OFFERED

    response = rep_client.post(
        url("execution_assignment_reject", org, assignment.pk), {"reason": value}, follow=True
    )
    assert response.redirect_chain[-1][0] == url("execution_inbox", org)
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.OFFERED


def test_another_reps_assignment_is_404_for_a_rep(client, org, routed, colleague):
    assignment = offer(org, email="ann@acme.test")  # offered to `rep`
    other = client_for(colleague)
    for name in ("execution_assignment_accept", "execution_assignment_reject"):
        assert other.post(url(name, org, assignment.pk), {"reason": ""}).status_code == 404
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.OFFERED


def test_a_manager_may_accept_for_a_rep(client, org, routed, manager, rep):
    assignment = offer(org, email="ann@acme.test")
    response = client_for(manager).post(url("execution_assignment_accept", org, assignment.pk))
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.ACCEPTED and assignment.actor == manager.user
    assert assignment.assignee == rep


def test_a_manager_of_another_team_cannot_act_on_the_offer(client, org, routed, rep):
    assignment = offer(org, email="ann@acme.test")
    stranger = factories.make_member(org, role=Role.SALES_MANAGER)
    account_services.team_create(org=org, name="Outbound", manager=stranger)
    for name in ("execution_assignment_accept", "execution_assignment_reassign"):
        response = client_for(stranger).post(url(name, org, assignment.pk))
        assert response.status_code == 404, name
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.OFFERED and assignment.assignee == rep


def test_viewers_cannot_accept(client, org, routed, members):
    assignment = offer(org, email="ann@acme.test")
    response = client_for(members[Role.VIEWER]).post(url("execution_assignment_accept", org, assignment.pk))
    assert response.status_code == 403


# --- First touch ----------------------------------------------------------------------------------------


def test_logging_a_call_meets_the_first_touch_clock(rep_client, org, routed, rep):
    assignment = offer(org, email="ann@acme.test", first_name="Ann")
    routing.assignment_accept(org=org, assignment=assignment, actor=rep.user)
    response = rep_client.post(
        url("execution_lead_touch", org, assignment.lead_id),
        {"kind": "call", "note": "Left a voicemail"},
        **HTMX,
    )
    assert response.status_code == 200
    assert b"Logged a call with Ann" in response.content
    assignment.refresh_from_db()
    assert assignment.first_touch_at is not None
    assert SlaTimer.objects.get(assignment=assignment, clock="first_touch").status == SlaTimer.Status.MET
    touch = Touchpoint.objects.get(lead=assignment.lead)
    assert touch.type == "call"
    assert rep_client.get(url("execution_inbox", org)).context["awaiting"] == []


def test_touch_needs_a_kind_and_redirects_without_htmx(rep_client, org, routed, rep):
    assignment = offer(org, email="ann@acme.test")
    routing.assignment_accept(org=org, assignment=assignment, actor=rep.user)
    response = rep_client.post(url("execution_lead_touch", org, assignment.lead_id), {"kind": "fax"})
    assert response.status_code == 302
    assert not Touchpoint.objects.filter(lead=assignment.lead).exists()
    response = rep_client.post(url("execution_lead_touch", org, assignment.lead_id), {"kind": "email"})
    assert response.status_code == 302 and response["Location"] == url("execution_inbox", org)
    assert Touchpoint.objects.get(lead=assignment.lead).type == "email"


def test_a_rep_cannot_touch_another_reps_lead(client, org, routed, colleague):
    assignment = offer(org, email="ann@acme.test")
    response = client_for(colleague).post(
        url("execution_lead_touch", org, assignment.lead_id), {"kind": "call"}
    )
    assert response.status_code == 404
    assert not Touchpoint.objects.filter(lead=assignment.lead).exists()


# --- The manager queue ------------------------------------------------------------------------------------


def test_queue_shows_the_managers_reps_loads_and_live_assignments(
    client, org, routed, manager, rep, colleague, outside_rep, pool
):
    RepProfile.objects.create(organization=org, membership=rep, daily_cap=10, open_cap=5, hours=ALL_DAY)
    first = offer(org, email="ann@acme.test", first_name="Ann")
    second = offer(org, email="bob@acme.test", first_name="Bob")
    routing.assignment_accept(org=org, assignment=second, actor=rep.user)
    response = client_for(manager).get(url("execution_queue", org))
    assert response.status_code == 200
    reps = {r.pk: r for r in response.context["reps"]}
    # The sales manager sees their team (and themself), not a rep of another team.
    assert set(reps) == {manager.pk, rep.pk, colleague.pk}
    assert (reps[rep.pk].open_count, reps[rep.pk].offered_count, reps[rep.pk].today_count) == (2, 1, 2)
    assert (reps[rep.pk].open_cap, reps[rep.pk].daily_cap) == (5, 10)
    assert reps[colleague.pk].open_count == 0
    body = response.content.decode()
    assert "2 / 5" in body and "2 / 10" in body
    items = {item.assignment.pk: item for item in response.context["items"]}
    assert set(items) == {first.pk, second.pk}
    assert items[first.pk].sla_state == "running" and items[first.pk].policy_name == "Accept in 30"
    assert items[second.pk].policy_name == "Call in 60"
    assert "Fay Faraway" not in body


def test_admins_see_every_rep(owner_client, org, routed, rep, colleague, outside_rep, members):
    response = owner_client.get(url("execution_queue", org))
    names = {r.pk for r in response.context["reps"]}
    assert {rep.pk, colleague.pk, outside_rep.pk, members[Role.SALES_MANAGER].pk} <= names
    assert members[Role.VIEWER].pk not in names and members[Role.MARKETER].pk not in names


def test_queue_filters_by_team_rep_and_status(owner_client, org, routed, rep, colleague, pool, team):
    offered = offer(org, email="ann@acme.test")
    accepted = offer(org, email="bob@acme.test")
    routing.assignment_accept(org=org, assignment=accepted, actor=rep.user)
    late = offer(org, email="cat@acme.test")
    SlaTimer.objects.filter(assignment=late, clock="accept").update(
        status=SlaTimer.Status.BREACHED, breached_at=timezone.now()
    )
    other_team = account_services.team_create(org=org, name="Outbound", members=[colleague])

    def shown(**params):
        response = owner_client.get(url("execution_queue", org), params)
        return {item.assignment.pk for item in response.context["items"]}

    assert shown() == {offered.pk, accepted.pk, late.pk}
    assert shown(status="offered") == {offered.pk, late.pk}
    assert shown(status="accepted") == {accepted.pk}
    assert shown(status="breached") == {late.pk}
    assert shown(team=team.pk) == {offered.pk, accepted.pk, late.pk}
    assert shown(team=other_team.pk) == set()
    assert shown(rep=colleague.pk) == set()
    assert shown(rep=rep.pk, status="accepted") == {accepted.pk}
    assert shown(status="nonsense", team="x") == {offered.pk, accepted.pk, late.pk}
    response = owner_client.get(url("execution_queue", org), {"status": "breached"})
    assert b'badge-bad">breached' in response.content


def test_queue_lists_waiting_leads_and_routes_one_now(owner_client, org, routed, rep, colleague, pool):
    RepProfile.objects.create(organization=org, membership=rep, available=False)
    lead = record_services.lead_create(org=org, email="wait@acme.test", first_name="Wendy")
    routing.route_request(request_id=RoutingRequest.objects.get(lead=lead).pk)
    assert RoutingDecision.objects.get(lead=lead).outcome == "queued"
    response = owner_client.get(url("execution_queue", org))
    assert [d.lead_id for d in response.context["waiting"]] == [lead.pk]
    assert url("execution_lead_route", org, lead.pk) in response.content.decode()

    # Still nobody: it stays waiting, and the manager is told so.
    response = owner_client.post(url("execution_lead_route", org, lead.pk), follow=True)
    assert b"Still nobody can take Wendy" in response.content
    assert [d.lead_id for d in response.context["waiting"]] == [lead.pk]

    PoolMember.objects.create(organization=org, pool=pool, membership=colleague)
    response = owner_client.post(url("execution_lead_route", org, lead.pk), follow=True)
    assert b"Wendy offered to Cole Colleague" in response.content
    assert Assignment.objects.get(lead=lead, status="offered").assignee == colleague
    decision = RoutingDecision.objects.filter(lead=lead).latest("created_at")
    assert decision.trigger == "manual"
    assert response.context["waiting"] == []

    # Routing a lead someone already has changes nothing.
    response = owner_client.post(url("execution_lead_route", org, lead.pk), follow=True)
    assert b"already has someone" in response.content
    assert Assignment.objects.filter(lead=lead).count() == 1


def test_reassign_to_a_member_or_route_again(
    client, org, routed, manager, rep, colleague, outside_rep, pool, django_capture_on_commit_callbacks
):
    assignment = offer(org, email="ann@acme.test", first_name="Ann")
    boss = client_for(manager)
    # Someone outside the manager's teams is not theirs to hand leads to.
    response = boss.post(url("execution_assignment_reassign", org, assignment.pk), {"to": outside_rep.pk})
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.OFFERED

    response = boss.post(
        url("execution_assignment_reassign", org, assignment.pk), {"to": colleague.pk}, follow=True
    )
    assert b"Ann offered to Cole Colleague" in response.content
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.REASSIGNED and assignment.actor == manager.user
    moved = Assignment.objects.get(lead=assignment.lead, status=Assignment.Status.OFFERED)
    assert moved.assignee == colleague

    # "Route again": the rules pick someone other than the current holder.
    with django_capture_on_commit_callbacks(execute=True):
        response = boss.post(url("execution_assignment_reassign", org, moved.pk), {"to": ""})
    assert response.status_code == 302 and response["Location"] == url("execution_queue", org)
    moved.refresh_from_db()
    assert moved.status == Assignment.Status.REASSIGNED
    assert Assignment.objects.get(lead=assignment.lead, status=Assignment.Status.OFFERED).assignee == rep


def test_reps_cannot_use_the_queue(rep_client, org, routed):
    assignment = offer(org, email="ann@acme.test")
    assert rep_client.get(url("execution_queue", org)).status_code == 403
    assert rep_client.post(url("execution_assignment_reassign", org, assignment.pk)).status_code == 403
    assert rep_client.post(url("execution_lead_route", org, assignment.lead_id)).status_code == 403


def test_queue_query_count_does_not_grow(
    owner_client, org, routed, rep, django_assert_num_queries, django_assert_max_num_queries
):
    lead = record_services.lead_create(org=org, email="held@acme.test")
    RoutingDecision.objects.create(
        organization=org, lead=lead, trigger="created", outcome="held", trail=["Held."]
    )
    offer(org, email="one@acme.test")
    with django_assert_max_num_queries(14) as few:
        owner_client.get(url("execution_queue", org))
    for n in range(5):
        assignment = offer(org, email=f"n{n}@acme.test")
        if n % 2:
            routing.assignment_accept(org=org, assignment=assignment, actor=rep.user)
        waiting = record_services.lead_create(org=org, email=f"w{n}@acme.test")
        RoutingDecision.objects.create(organization=org, lead=waiting, trigger="created", outcome="queued")
        factories.make_member(org, role=Role.SALES_REP)
    with django_assert_num_queries(len(few.captured_queries)):
        response = owner_client.get(url("execution_queue", org))
    assert len(response.context["items"]) == 6 and len(response.context["waiting"]) == 6


# --- Availability ------------------------------------------------------------------------------------------


def _availability(client, org, membership, available):
    return client.post(url("execution_rep_availability", org, membership.pk), {"available": available})


def test_a_rep_pauses_and_resumes_themself(rep_client, org, rep, colleague):
    response = _availability(rep_client, org, rep, "0")
    assert response.status_code == 302 and response["Location"] == url("execution_inbox", org)
    assert RepProfile.objects.get(membership=rep).available is False
    assert b"paused" in rep_client.get(url("execution_inbox", org)).content
    _availability(rep_client, org, rep, "1")
    assert RepProfile.objects.get(membership=rep).available is True
    # Someone else's switch is not a rep's to flip.
    assert _availability(rep_client, org, colleague, "0").status_code == 403
    assert not RepProfile.objects.filter(membership=colleague).exists()


def test_managers_switch_their_own_reps_and_admins_anyone(
    client, owner_client, org, team, manager, rep, outside_rep
):
    boss = client_for(manager)
    assert _availability(boss, org, rep, "0").status_code == 302
    assert RepProfile.objects.get(membership=rep).available is False
    assert _availability(boss, org, outside_rep, "0").status_code == 403
    assert not RepProfile.objects.filter(membership=outside_rep).exists()
    response = _availability(owner_client, org, outside_rep, "0")
    assert response.status_code == 302 and response["Location"] == url("execution_queue", org)
    assert RepProfile.objects.get(membership=outside_rep).available is False


def test_availability_redirect_ignores_foreign_next(rep_client, org, rep):
    response = rep_client.post(
        url("execution_rep_availability", org, rep.pk), {"available": "0", "next": "https://evil.test/"}
    )
    assert response["Location"] == url("execution_inbox", org)


# --- Notifications ------------------------------------------------------------------------------------------


def _notify(org, membership, n, **kwargs):
    return [
        notifications.notify(
            org=org, recipient_id=membership.pk, kind="lead.routed", title=f"Note {i}", **kwargs
        )
        for i in range(n)
    ]


def test_notifications_newest_first_unread_highlighted_and_paginated(rep_client, org, rep, colleague):
    notes = _notify(org, rep, 27, url=f"/o/{org.slug}/inbox/")
    _notify(org, colleague, 1)  # someone else's: never shown
    Notification.objects.filter(pk=notes[-1].pk).update(read_at=timezone.now())
    response = rep_client.get(url("execution_notifications", org))
    assert response.status_code == 200
    shown = list(response.context["page"].object_list)
    assert len(shown) == 25 and shown[0] == notes[-1] and shown[1] == notes[-2]
    assert response.context["unread"] == 26
    body = response.content.decode()
    assert body.count('class="inbox-unread"') == 24 and body.count('class="inbox-read"') == 1
    assert "Mark all 26 read" in body
    second = rep_client.get(url("execution_notifications", org), {"page": 2})
    assert [n.pk for n in second.context["page"].object_list] == [notes[1].pk, notes[0].pk]


def test_notifications_empty_state(rep_client, org):
    response = rep_client.get(url("execution_notifications", org))
    assert b"No notifications yet" in response.content


def test_bell_fragment_counts_unread(rep_client, org, rep, colleague, django_assert_max_num_queries):
    response = rep_client.get(url("execution_notifications_count", org))
    assert b"inbox-bell-count" not in response.content
    assert b"0 unread" in response.content
    _notify(org, rep, 3)
    _notify(org, colleague, 2)
    # Session, user, membership, the layout's organisation list and the count.
    with django_assert_max_num_queries(5):
        response = rep_client.get(url("execution_notifications_count", org), **HTMX)
    assert re.search(r'class="inbox-bell-count">3<', response.content.decode())
    assert url("execution_notifications", org) in response.content.decode()


def test_mark_one_then_all_read(rep_client, org, rep, colleague):
    mine = _notify(org, rep, 3)
    theirs = _notify(org, colleague, 1)
    response = rep_client.post(url("execution_notifications_read", org), {"id": mine[0].pk})
    assert response.status_code == 302
    assert notifications.unread_count(org=org, membership=rep) == 2
    # Someone else's id marks nothing.
    rep_client.post(url("execution_notifications_read", org), {"id": theirs[0].pk})
    assert notifications.unread_count(org=org, membership=colleague) == 1
    response = rep_client.post(url("execution_notifications_read", org), **HTMX)
    assert b"0 unread" in response.content
    assert notifications.unread_count(org=org, membership=rep) == 0
    assert rep_client.post(url("execution_notifications_read", org), {"id": "x"}).status_code == 302
    assert rep_client.get(url("execution_notifications_read", org)).status_code == 405


def test_notifications_query_count_is_pinned(
    rep_client, org, rep, django_assert_num_queries, django_assert_max_num_queries
):
    _notify(org, rep, 2)
    with django_assert_max_num_queries(8) as few:
        rep_client.get(url("execution_notifications", org))
    _notify(org, rep, 20)
    with django_assert_num_queries(len(few.captured_queries)):
        rep_client.get(url("execution_notifications", org))


def test_every_org_page_carries_the_polled_bell(rep_client, org):
    body = rep_client.get(url("org_home", org)).content.decode()
    assert f'hx-get="{url("execution_notifications_count", org)}"' in body
    assert 'hx-trigger="load, every 15s"' in body
    assert "execution_notifications_count" not in rep_client.get("/accounts/email/").content.decode()
    assert 'class="inbox-bell"' not in rep_client.get("/accounts/email/").content.decode()


def test_outsiders_get_404(outsider_client, org):
    for name in ("execution_inbox", "execution_notifications", "execution_notifications_count"):
        assert outsider_client.get(url(name, org)).status_code == 404


# --- The lead timeline ----------------------------------------------------------------------------


def test_lead_timeline_shows_routing_offers_and_sla_clocks(
    owner_client, org, routed, rep, colleague, pool, reasons, django_capture_on_commit_callbacks
):
    assignment = offer(org, email="ann@acme.test", first_name="Ann")
    PoolMember.objects.create(organization=org, pool=pool, membership=colleague)
    with django_capture_on_commit_callbacks(execute=True):
        routing.assignment_reject(
            org=org, assignment=assignment, actor=rep.user, reason=reasons[1], note="On leave tomorrow"
        )
    again = Assignment.objects.get(lead=assignment.lead, status="offered")
    routing.assignment_accept(org=org, assignment=again, actor=colleague.user)
    response = owner_client.get(reverse("records_lead", args=[org.slug, assignment.lead_id]))
    body = response.content.decode()
    rep_name, colleague_name = rep.user.display_name, colleague.user.display_name
    for text in (
        f"Routed to {rep_name}",
        f"Routed to {colleague_name}",
        f"Rejected by {rep_name}",
        "Too busy",
        "On leave tomorrow",
        f"Accepted by {colleague_name}",
        "SLA clock started: accept (Accept in 30)",
        "SLA met: accept (Accept in 30)",
        "Inbound demo requests",
    ):
        assert text in body, text
    kinds = {entry.kind for entry in response.context["timeline"]}
    assert {"routing", "assignment", "sla", "stage"} <= kinds
