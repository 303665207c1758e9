"""SLA timers through the database: which policies start a clock, business-hours due
times, the escalation sweep applying each step exactly once, and what stops a clock.

Times are fixed instants passed to routing and to the sweep, so nothing depends
on when the suite runs; due times are worked out by hand.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from apps.accounts import services as accounts
from apps.accounts.roles import Role
from apps.execution.models import (
    Assignment,
    BusinessCalendar,
    Notification,
    RepProfile,
    SlaEvent,
    SlaPolicy,
    SlaTimer,
)
from apps.execution.services import notifications, routing, sla
from apps.integrations.models import OutboxEvent
from apps.records.models import Lead, Touchpoint

from .conftest import make_rep, pool_rule, pool_with_reps, publish_policy, route_new_lead, route_pending

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 3, 11, 10, 0, tzinfo=UTC)  # a Wednesday
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def minutes(n):
    return T0 + timedelta(minutes=n)


def paris(*args):
    return datetime(*args, tzinfo=PARIS)


def make_policy(org, name="Accept in 10", *, target=10, escalation=(), **fields):
    return SlaPolicy.objects.create(
        organization=org,
        name=name,
        target_minutes=target,
        escalation=sla.clean_escalation(target_minutes=target, steps=list(escalation)),
        **fields,
    )


@pytest.fixture
def manager(org):
    return make_rep(org, "Max Manager", role=Role.SALES_MANAGER)


@pytest.fixture
def team(org, reps, manager):
    return accounts.team_create(org=org, name="Inbound", manager=manager, members=reps)


@pytest.fixture
def pool(org, reps, team):
    pool = pool_with_reps(org, reps, team=team)
    publish_policy(org, rules=[pool_rule(pool)])
    return pool


def events(timer):
    return list(SlaEvent.objects.filter(timer=timer).order_by("step").values_list("step", "action"))


def notified(kind, recipient=None):
    qs = Notification.objects.filter(kind=kind)
    return qs.filter(recipient=recipient).count() if recipient else qs.count()


def breach_events():
    return OutboxEvent.objects.filter(event_type="sla.breached")


# --- Which policies start a clock ----------------------------------------------------------------


def test_timers_start_with_the_offer_for_matching_policies_only(org, reps, pool, team):
    other_team = accounts.team_create(org=org, name="Outbound")
    french = [{"field": "country", "op": "in", "value": ["FR"]}]
    german = [{"field": "country", "op": "in", "value": ["DE"]}]
    expected = {
        make_policy(org, "Any lead"),
        make_policy(org, "Inquiries", stage="inquiry"),
        make_policy(org, "Inbound team", team=team),
        make_policy(org, "French", conditions=french),
        make_policy(org, "First touch", clock="first_touch", target=60),
    }
    make_policy(org, "MQLs", stage="mql")
    make_policy(org, "Outbound team", team=other_team)
    make_policy(org, "German", conditions=german)
    make_policy(org, "Switched off", is_active=False)

    decision = route_new_lead(org, country="FR", now=T0)

    timers = SlaTimer.objects.filter(lead_id=decision.lead_id)
    assert {timer.policy for timer in timers} == expected
    assignment = Assignment.objects.get(decision=decision)
    for timer in timers:
        assert timer.assignment == assignment and timer.assignee_id == reps[0].pk
        assert timer.status == "running" and timer.started_at == T0
        assert timer.clock == timer.policy.clock
        assert timer.due_at == T0 + timedelta(minutes=timer.policy.target_minutes)  # no calendar: 24/7
        assert timer.next_run_at == timer.due_at  # the breach is the only step


def test_team_policy_does_not_apply_to_a_direct_assignment(org, reps, team):
    make_policy(org, "Inbound team", team=team)
    publish_policy(
        org, rules=[{"name": "Ana", "conditions": [], "action": {"type": "person", "person": reps[0].pk}}]
    )

    decision = route_new_lead(org, now=T0)

    assert decision.assignee_id == reps[0].pk
    assert not SlaTimer.objects.filter(lead_id=decision.lead_id).exists()


# --- Business hours -------------------------------------------------------------------------------


@pytest.fixture
def paris_calendar(org):
    return BusinessCalendar.objects.create(
        organization=org,
        name="Paris office",
        time_zone="Europe/Paris",
        hours=WEEKDAYS_9_TO_5,
        holidays=[{"date": "2026-12-25", "name": "Noël"}],
    )


@pytest.mark.parametrize(
    ("offered", "due"),
    [
        # Across a night: 10 minutes on Tuesday, 5 on Wednesday morning.
        (paris(2026, 3, 10, 16, 50), paris(2026, 3, 11, 9, 5)),
        # Across a weekend and the end of summer time (Sunday 25 October): UTC+2 on Friday, UTC+1 on Monday.
        (paris(2026, 10, 23, 16, 50), paris(2026, 10, 26, 9, 5)),
        # Across Christmas (a Friday) and the weekend after it.
        (paris(2026, 12, 24, 16, 50), paris(2026, 12, 28, 9, 5)),
        # Offered at night: the clock starts when the office opens.
        (paris(2026, 3, 11, 2, 0), paris(2026, 3, 11, 9, 15)),
    ],
)
def test_due_times_count_business_minutes_only(org, reps, pool, paris_calendar, offered, due):
    escalation = [{"at_minutes": 5, "action": "remind"}]
    policy = make_policy(org, "Accept in 15", target=15, calendar=paris_calendar, escalation=escalation)

    decision = route_new_lead(org, now=offered.astimezone(UTC))

    timer = SlaTimer.objects.get(lead_id=decision.lead_id, policy=policy)
    assert timer.started_at == offered
    assert timer.due_at == due
    assert [step["action"] for step in timer.ladder] == ["remind", "breach"]
    assert datetime.fromisoformat(timer.ladder[1]["run_at"]) == due
    # The reminder is 5 business minutes in: still on the first day, unless the offer came at night.
    first_minute = max(offered, offered.replace(hour=9, minute=0))
    assert timer.next_run_at == first_minute + timedelta(minutes=5)


def test_the_dst_example_in_utc(org, reps, pool, paris_calendar):
    policy = make_policy(org, "Accept in 15", target=15, calendar=paris_calendar)

    decision = route_new_lead(org, now=datetime(2026, 10, 23, 14, 50, tzinfo=UTC))  # 16:50 in Paris

    timer = SlaTimer.objects.get(lead_id=decision.lead_id, policy=policy)
    assert timer.due_at == datetime(2026, 10, 26, 8, 5, tzinfo=UTC)  # 09:05 in Paris, now UTC+1


# --- The escalation sweep -------------------------------------------------------------------------

LADDER = [
    {"at_minutes": 5, "action": "remind"},
    {"at_minutes": 15, "action": "alert_manager"},
    {"at_minutes": 20, "action": "reassign", "mark_unavailable": True},
]


@pytest.fixture
def escalating(org, pool):
    return make_policy(org, "Accept in 10", target=10, escalation=LADDER)


@pytest.fixture
def offered(org, escalating):
    """A lead offered to Ana at T0 under the escalating policy; its timer."""
    decision = route_new_lead(org, now=T0)
    return SlaTimer.objects.get(lead_id=decision.lead_id, policy=escalating)


def test_the_ladder_is_frozen_on_the_timer(offered):
    assert [(step["at_minutes"], step["action"]) for step in offered.ladder] == [
        (5, "remind"),
        (10, "breach"),
        (15, "alert_manager"),
        (20, "reassign"),
    ]
    assert [datetime.fromisoformat(step["run_at"]) for step in offered.ladder] == [
        minutes(5),
        minutes(10),
        minutes(15),
        minutes(20),
    ]


def test_sweep_applies_each_step_once_as_time_passes(org, reps, manager, offered):
    ana, bo, _ = reps
    lead = offered.lead

    assert sla.sla_sweep(now=minutes(4)) == 0
    assert events(offered) == []

    for _ in range(3):
        sla.sla_sweep(now=minutes(5))
    assert events(offered) == [(0, "remind")]
    assert notified("sla.reminder", ana) == 1

    for _ in range(3):
        sla.sla_sweep(now=minutes(12))
    offered.refresh_from_db()
    assert events(offered) == [(0, "remind"), (1, "breach")]
    assert (offered.status, offered.breached_at, offered.next_run_at) == (
        "breached",
        minutes(10),
        minutes(15),
    )
    (breach,) = breach_events()
    assert breach.payload["data"] == {
        "timer": offered.pk,
        "policy": "Accept in 10",
        "clock": "accept",
        "lead": lead.pk,
        "assignee": ana.pk,
        "due_at": minutes(10).isoformat(),
    }
    assert notified("sla.breached", ana) == 1

    for _ in range(3):
        sla.sla_sweep(now=minutes(16))
    assert events(offered)[-1] == (2, "alert_manager")
    assert notified("sla.escalated", manager) == 1
    assert notified("sla.escalated") == 1  # the manager only

    for _ in range(3):
        sla.sla_sweep(now=minutes(21))
    offered.refresh_from_db()
    assert events(offered) == [(0, "remind"), (1, "breach"), (2, "alert_manager"), (3, "reassign")]
    assert offered.assignment.status == "reassigned"
    assert offered.status == "breached" and offered.next_run_at is None
    assert RepProfile.objects.get(membership=ana).available is False

    # The lead is routed again, to someone else, with clocks of its own.
    again = route_pending(lead, now=minutes(21))
    assert again.trigger == "escalated" and again.assignee_id == bo.pk
    sla.sla_sweep(now=minutes(500))
    assert events(offered) == [(0, "remind"), (1, "breach"), (2, "alert_manager"), (3, "reassign")]
    assert breach_events().filter(payload__data__timer=offered.pk).count() == 1
    assert notified("sla.reminder", ana) == 1 and notified("sla.breached", ana) == 1
    assert notified("sla.escalated", manager) == 2  # once for Ana, once for Bo's own late clock


def test_sweep_far_in_the_future_applies_the_whole_ladder_in_order_once(org, reps, manager, offered):
    assert sla.sla_sweep(now=minutes(60)) == 4
    assert sla.sla_sweep(now=minutes(60)) == 0
    assert sla.sla_sweep(now=minutes(61)) == 0

    assert [action for _, action in events(offered)] == ["remind", "breach", "alert_manager", "reassign"]
    assert [notified(kind) for kind in ("sla.reminder", "sla.breached", "sla.escalated")] == [1, 1, 1]
    assert breach_events().count() == 1


def test_a_reassign_step_before_the_breach_ends_the_old_clock(org, reps, pool):
    policy = make_policy(org, "Quick", target=10, escalation=[{"at_minutes": 5, "action": "reassign"}])
    decision = route_new_lead(org, now=T0)
    timer = SlaTimer.objects.get(lead_id=decision.lead_id, policy=policy)

    sla.sla_sweep(now=minutes(6))
    timer.refresh_from_db()
    assert (timer.status, timer.next_run_at) == ("cancelled", None)
    sla.sla_sweep(now=minutes(30))

    # Ana lost the lead at 5 minutes; the breach at 10 is not hers to miss.
    assert events(timer) == [(0, "reassign")]
    assert not breach_events().exists()
    assert RepProfile.objects.get(membership=reps[0]).available is True  # not asked to mark


def test_a_failing_timer_does_not_stall_the_sweep(org, reps, pool, escalating):
    first = SlaTimer.objects.get(lead_id=route_new_lead(org, now=T0).lead_id)
    second = SlaTimer.objects.get(lead_id=route_new_lead(org, now=minutes(1)).lead_id)
    real_apply = sla._apply

    def apply(timer, step, *, now):
        if timer.pk == first.pk:
            raise RuntimeError("mail server on fire")
        return real_apply(timer, step, now=now)

    with mock.patch.object(sla, "_apply", side_effect=apply):
        # A batch of one: a failure left due would be claimed again forever.
        sla.sla_sweep(now=minutes(7), limit=1)

    first.refresh_from_db()
    assert events(first) == [] and first.next_step == 0
    assert first.next_run_at == minutes(7) + sla.RETRY_AFTER
    assert events(second) == [(0, "remind")]
    sla.sla_sweep(now=minutes(9))
    assert events(first) == [(0, "remind")]


# --- What stops a clock ---------------------------------------------------------------------------


def test_accepting_in_time_meets_the_accept_clock(org, reps, offered):
    routing.assignment_accept(org=org, assignment=offered.assignment, actor=reps[0].user, now=minutes(3))

    offered.refresh_from_db()
    assert (offered.status, offered.met_at, offered.next_run_at) == ("met", minutes(3), None)
    assert sla.sla_sweep(now=minutes(60)) == 0
    assert events(offered) == []


def test_accepting_late_after_the_breach_keeps_it_breached_and_stops_escalating(org, reps, offered):
    sla.sla_sweep(now=minutes(12))
    routing.assignment_accept(org=org, assignment=offered.assignment, actor=reps[0].user, now=minutes(13))

    offered.refresh_from_db()
    assert (offered.status, offered.breached_at, offered.met_at) == ("breached", minutes(10), minutes(13))
    assert offered.next_run_at is None
    sla.sla_sweep(now=minutes(60))
    assert [action for _, action in events(offered)] == ["remind", "breach"]
    assert Assignment.objects.get(pk=offered.assignment_id).status == "accepted"


def test_accepting_late_before_any_sweep_records_the_breach(org, reps, offered):
    routing.assignment_accept(org=org, assignment=offered.assignment, actor=reps[0].user, now=minutes(11))

    offered.refresh_from_db()
    assert (offered.status, offered.breached_at, offered.met_at) == ("breached", minutes(10), minutes(11))
    assert sla.sla_sweep(now=minutes(60)) == 0


def test_first_touch_meets_the_first_touch_clock_only(org, reps, pool):
    accept = make_policy(org, "Accept in 10", target=10)
    touch = make_policy(org, "Call in 60", target=60, clock="first_touch")
    decision = route_new_lead(org, now=T0)
    lead = Lead.objects.get(pk=decision.lead_id)
    assignment = Assignment.objects.get(decision=decision)
    routing.assignment_accept(org=org, assignment=assignment, actor=reps[0].user, now=minutes(2))

    sla.touch_record(org=org, lead=lead, kind="call", at=minutes(30))
    sla.touch_record(org=org, lead=lead, kind="email", at=minutes(40))  # a later touch changes nothing

    timers = {t.policy_id: t for t in SlaTimer.objects.filter(lead=lead)}
    assert (timers[touch.pk].status, timers[touch.pk].met_at) == ("met", minutes(30))
    assert (timers[accept.pk].status, timers[accept.pk].met_at) == ("met", minutes(2))
    assignment.refresh_from_db()
    assert assignment.first_touch_at == minutes(30)
    assert Touchpoint.objects.filter(lead=lead, source="sales").count() == 2


def test_first_touch_reassign_moves_an_accepted_but_untouched_lead(org, reps, pool):
    touch = make_policy(
        org,
        "Call in 60",
        target=60,
        clock="first_touch",
        escalation=[{"at_minutes": 90, "action": "reassign"}],
    )
    decision = route_new_lead(org, now=T0)
    assignment = Assignment.objects.get(decision=decision)
    routing.assignment_accept(org=org, assignment=assignment, actor=reps[0].user, now=minutes(2))

    sla.sla_sweep(now=minutes(95))

    timer = SlaTimer.objects.get(policy=touch, assignment=assignment)
    assert events(timer) == [(0, "breach"), (1, "reassign")]
    assignment.refresh_from_db()
    assert assignment.status == "reassigned"


def test_rejecting_cancels_running_and_escalating_timers(org, reps, pool, reason):
    running = make_policy(org, "Accept in 60", target=60)
    short = make_policy(org, "Accept in 10", target=10, escalation=LADDER)
    decision = route_new_lead(org, now=T0)
    assignment = Assignment.objects.get(decision=decision)
    sla.sla_sweep(now=minutes(12))  # the short clock has breached and is still escalating

    routing.assignment_reject(
        org=org, assignment=assignment, actor=reps[0].user, reason=reason, now=minutes(13)
    )

    timers = {t.policy_id: t for t in SlaTimer.objects.filter(assignment=assignment)}
    assert (timers[running.pk].status, timers[running.pk].next_run_at) == ("cancelled", None)
    assert (timers[short.pk].status, timers[short.pk].next_run_at) == ("breached", None)
    sla.sla_sweep(now=minutes(60))
    assert [action for _, action in events(timers[short.pk])] == ["remind", "breach"]
    assert not SlaEvent.objects.filter(timer=timers[running.pk]).exists()


def test_reassigning_by_hand_cancels_the_old_clocks_and_starts_new_ones(org, owner, reps, offered):
    new = routing.assignment_reassign(org=org, assignment=offered.assignment, actor=owner, to=reps[2])

    offered.refresh_from_db()
    assert (offered.status, offered.next_run_at) == ("cancelled", None)
    fresh = SlaTimer.objects.get(assignment=new)
    assert fresh.assignee_id == reps[2].pk and fresh.status == "running"


def test_a_notification_is_emailed_once(org, reps, offered):
    routed = Notification.objects.get(kind="lead.routed", lead=offered.lead)
    assert routed.recipient_id == reps[0].pk

    assert notifications.notification_deliver(notification_id=routed.pk) is True
    assert notifications.notification_deliver(notification_id=routed.pk) is False

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [reps[0].user.email]
    assert mail.outbox[0].subject == f"[Acme] {routed.title}"
    assert notifications.unread_count(org=org, membership=reps[0]) == 1
    assert notifications.mark_read(org=org, membership=reps[0]) == 1
    assert notifications.unread_count(org=org, membership=reps[0]) == 0


def test_sweep_counts_are_per_organisation_scoped_rows(org, other_org, reps, offered):
    theirs = make_rep(other_org, "Theirs")
    publish_policy(other_org, rules=[pool_rule(pool_with_reps(other_org, [theirs], name="Globex"))])
    make_policy(other_org, "Globex accept", target=10)
    route_new_lead(other_org, now=T0)

    sla.sla_sweep(now=minutes(11))

    by_org = Counter(SlaEvent.objects.values_list("organization_id", flat=True))
    assert by_org == {org.pk: 2, other_org.pk: 1}  # Acme: remind + breach; Globex: breach
    assert {e.payload["organization"] for e in breach_events()} == {"acme", other_org.slug}
