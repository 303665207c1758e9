"""The demo organisation's routing and SLAs: made by the real services, consistent, idempotent.

The replay routes every lead through the services, so the module seeds once,
at the records tests' scale (0.05: about sixty recent unowned leads), inside a
transaction rolled back when the module ends; each test runs in a savepoint
of it.
"""

import io
from collections import Counter
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from apps.accounts import demo as accounts_demo
from apps.execution import demo
from apps.execution.models import (
    Assignment,
    BusinessCalendar,
    Notification,
    OutOfOffice,
    PoolMember,
    RejectReason,
    RepProfile,
    RoutingDecision,
    RoutingPolicyVersion,
    RoutingPool,
    RoutingRequest,
    SlaEvent,
    SlaPolicy,
    SlaTimer,
)
from apps.execution.routing import types
from apps.execution.services import policies
from apps.records import demo as records_demo
from apps.records.models import Lead, StageEvent, Touchpoint

SCALE = 0.05
COUNTED = [
    BusinessCalendar, RepProfile, OutOfOffice, RoutingPool, PoolMember, RejectReason, RoutingPolicyVersion,
    RoutingRequest, RoutingDecision, Assignment, SlaPolicy, SlaTimer, SlaEvent, Notification, Lead,
    StageEvent, Touchpoint,
]  # fmt: skip


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        org = accounts_demo.seed_people()
        records_demo.seed_records(org, scale=SCALE)
        counts = demo.seed_execution(org)
        yield org, counts
        transaction.set_rollback(True)


@pytest.fixture
def org(seeded, db):
    return seeded[0]


def _demo_rep(org):
    return RepProfile.objects.for_org(org).get(membership__user__email=demo.DEMO_REP).membership


def test_public_holidays_are_observed_on_weekdays():
    holidays = dict(demo.us_public_holidays(2026))
    assert holidays[date(2026, 7, 3)] == "Independence Day"  # the 4th is a Saturday
    assert holidays[date(2026, 11, 26)] == "Thanksgiving Day"
    assert holidays[date(2026, 5, 25)] == "Memorial Day"
    assert all(day.weekday() < 5 for day in holidays)
    assert demo.holidays_around(date(2026, 11, 22)) == [
        {"date": "2026-11-11", "name": "Veterans Day"},
        {"date": "2026-11-26", "name": "Thanksgiving Day"},
    ]
    # A holiday today counts as the past one; the next is strictly later.
    assert [h["date"] for h in demo.holidays_around(date(2026, 12, 25))] == ["2026-12-25", "2027-01-01"]


def test_seeding_twice_creates_nothing(org):
    # The first full seed adds the parts seeded after routing (journeys notify owners and move stages).
    call_command("seed_demo", scale=SCALE, stdout=io.StringIO())
    before = [model.objects.for_org(org).count() for model in COUNTED]
    assert demo.seed_execution(org) is None
    call_command("seed_demo", scale=SCALE, stdout=io.StringIO())
    assert [model.objects.for_org(org).count() for model in COUNTED] == before


def test_the_counts_returned_are_the_database(seeded, org):
    counts = seeded[1]
    assignments = Assignment.objects.for_org(org)
    assert counts["decisions"] == RoutingDecision.objects.for_org(org).count()
    assert counts["accepted"] == assignments.filter(status=Assignment.Status.ACCEPTED).count()
    assert counts["rejected"] == assignments.filter(status=Assignment.Status.REJECTED).count()
    assert counts["sla_breaches"] == SlaTimer.objects.for_org(org).filter(breached_at__isnull=False).count()
    assert counts["routed_leads"] >= 30


def test_setup_calendars_profiles_absences_and_reasons(org):
    now = timezone.now()
    today = timezone.localdate(now, ZoneInfo(org.time_zone))
    calendars = {c.name: c for c in BusinessCalendar.objects.for_org(org).select_related("team")}
    assert {c.team.name for c in calendars.values()} == {"Inbound SDR", "Enterprise AE"}
    for calendar in calendars.values():
        assert calendar.time_zone == org.time_zone
        assert calendar.hours["mon"] and calendar.hours["fri"] and not calendar.hours["sat"]
        days = sorted(calendar.holiday_dates)
        assert len(days) == 2 and days[0] <= today < days[1] <= today + timedelta(days=366)
    profiles = {
        p.membership.user.email: p for p in RepProfile.objects.for_org(org).select_related("membership__user")
    }
    assert {demo.DEMO_REP, demo.SDR2, demo.AE, demo.CSM} <= set(profiles)
    assert len({p.time_zone for p in profiles.values()}) >= 3
    assert any(p.daily_cap for p in profiles.values()) and any(p.open_cap for p in profiles.values())
    assert [e for e, p in profiles.items() if not p.available] == [demo.AE]
    away_now = OutOfOffice.objects.for_org(org).filter(starts_at__lte=now, ends_at__gt=now)
    assert set(away_now.values_list("membership__user__email", flat=True)) == {demo.SDR2, demo.CSM}
    assert OutOfOffice.objects.for_org(org).filter(ends_at__lte=now).exists()
    keys = set(RejectReason.objects.for_org(org).values_list("key", flat=True))
    assert {"not_icp", "duplicate", "wrong_territory", "bad_data", "existing_customer", "no_budget"} <= keys
    slas = {p.clock: p for p in SlaPolicy.objects.for_org(org)}
    assert slas["accept"].target_minutes == 15 and slas["first_touch"].target_minutes == 60
    ladder = [(s["at_minutes"], s["action"]) for s in slas["accept"].escalation]
    assert ladder == [(10, "remind"), (20, "alert_manager"), (45, "reassign")]
    assert slas["accept"].calendar == calendars["Inbound SDR hours"]


def test_the_published_policy_and_its_draft(org):
    published = policies.published_version(org)
    assert published is not None and published.published_by.email == "revops@northwind.example"
    assert len(published.rules) >= 5 and published.fallback_pool is not None
    pools = dict(RoutingPool.objects.for_org(org).values_list("pk", "strategy"))
    actions = {rule["action"]["type"] for rule in published.rules}
    strategies = {pools[rule["action"]["pool"]] for rule in published.rules if "pool" in rule["action"]}
    assert len(actions) >= 3 and len(strategies | {pools[published.fallback_pool_id]}) >= 3
    assert {types.ASSIGN_ACCOUNT_OWNER, types.ASSIGN_POOL, types.HOLD_FOR_DATA} <= actions
    # The draft changes exactly one rule, so the simulator and the publish diff show something.
    draft = RoutingPolicyVersion.objects.for_org(org).get(status=RoutingPolicyVersion.Status.DRAFT)
    assert draft.number == published.number + 1 and len(draft.rules) == len(published.rules)
    assert sum(a != b for a, b in zip(draft.rules, published.rules, strict=True)) == 1
    assert len(policies.policy_diff(published, draft)) > 4
    # Every decision of the history was made by the published version, after it was published.
    decisions = RoutingDecision.objects.for_org(org).filter(lead__isnull=False).exclude(policy_version=None)
    assert set(decisions.values_list("policy_version", flat=True)) == {published.pk}
    assert not decisions.filter(created_at__lt=published.published_at).exists()


def test_the_demo_rep_has_offers_with_running_timers(org):
    rep = _demo_rep(org)
    now = timezone.now()
    offered = Assignment.objects.for_org(org).filter(assignee=rep, status=Assignment.Status.OFFERED)
    assert 5 <= offered.count() <= demo.LIVE_OFFERS + 3
    running = 0
    for assignment in offered:
        assert now - timedelta(days=4) < assignment.offered_at <= now
        timers = {t.clock: t for t in assignment.timers.all()}
        assert set(timers) == {"accept", "first_touch"}
        # Still waiting for the rep: the sweep has steps left to take (up to reassigning it).
        assert timers["accept"].met_at is None and timers["accept"].next_run_at is not None
        assert timers["accept"].due_at > assignment.offered_at
        running += all(t.status == SlaTimer.Status.RUNNING for t in timers.values())
    assert running >= 5
    assert Notification.objects.for_org(org).filter(recipient=rep, read_at=None, kind="lead.routed").exists()
    # The others are away or switched off right now, and the decisions say so.
    live = RoutingDecision.objects.for_org(org).filter(assignments__in=offered)
    excluded = {c["excluded"] for considered in live.values_list("considered", flat=True) for c in considered}
    assert {types.OUT_OF_OFFICE, types.UNAVAILABLE} & excluded


def test_history_has_breaches_rejections_and_first_touches(org):
    assignments = Assignment.objects.for_org(org).select_related("lead", "reject_reason")
    rejected = list(assignments.filter(status=Assignment.Status.REJECTED))
    assert len({a.reject_reason.key for a in rejected}) >= 3
    for assignment in rejected:
        # Routed again straight away, and never back to the rep who said no.
        again = RoutingDecision.objects.for_org(org).filter(lead=assignment.lead, trigger="rejected").get()
        assert again.created_at - assignment.rejected_at < timedelta(seconds=5)
        later = assignments.filter(lead=assignment.lead, offered_at__gt=assignment.offered_at)
        assert assignment.assignee_id not in set(later.values_list("assignee", flat=True))
    accepted = assignments.filter(status=Assignment.Status.ACCEPTED)
    assert accepted.count() >= 3 * len(rejected)
    touched = accepted.exclude(first_touch_at=None)
    assert touched.count() >= accepted.count() // 2
    for assignment in touched:
        assert assignment.offered_at <= assignment.accepted_at <= assignment.first_touch_at
        assert (
            Touchpoint.objects.for_org(org)
            .filter(lead=assignment.lead, channel="Sales", occurred_at=assignment.first_touch_at)
            .exists()
        )
    timers = SlaTimer.objects.for_org(org)
    late = timers.filter(clock="accept", status=SlaTimer.Status.BREACHED, met_at__isnull=False)
    assert late.exists() and all(t.met_at > t.due_at == t.breached_at for t in late)
    assert timers.filter(clock="first_touch", status=SlaTimer.Status.BREACHED).exists()
    steps = set(SlaEvent.objects.for_org(org).values_list("action", flat=True))
    assert {"remind", "breach", "alert_manager"} <= steps
    manager = RepProfile.objects.for_org(org).get(membership__user__email=demo.MANAGER).membership
    assert Notification.objects.for_org(org).filter(recipient=manager, kind="sla.escalated").exists()


def _weak(lead) -> bool:
    return lead.utm_campaign.endswith(demo.WEAK_CAMPAIGN) or lead.source in demo.WEAK_SOURCES


def test_rejections_cluster_on_the_weak_sources(org):
    first_offers = {}
    for assignment in Assignment.objects.for_org(org).select_related("lead").order_by("offered_at"):
        first_offers.setdefault(assignment.lead_id, assignment)
    offers = Counter(_weak(a.lead) for a in first_offers.values())
    rejected = Counter(_weak(a.lead) for a in first_offers.values() if a.status == Assignment.Status.REJECTED)
    assert 0.05 <= rejected.total() / offers.total() <= 0.3
    # Weak sources' leads make up more of the rejections than of the leads, once one of them is
    # old enough for a rejection to have happened (the newest are still being worked).
    old = timezone.now() - timedelta(days=9)
    if any(_weak(a.lead) and a.offered_at < old for a in first_offers.values()):
        assert rejected[True] / rejected.total() > offers[True] / offers.total()


def test_the_manager_queue_has_held_leads(org):
    latest = dict(RoutingDecision.objects.for_org(org).order_by("pk").values_list("lead", "outcome"))
    held = [lead for lead, outcome in latest.items() if outcome == types.HELD]
    assert len(held) >= 3
    assert not Assignment.objects.for_org(org).filter(lead__in=held).exists()
    assert all(lead.completeness < 0.4 for lead in Lead.objects.for_org(org).filter(pk__in=held))


def test_history_is_consistent(org):
    now = timezone.now()
    assignments = Assignment.objects.for_org(org)
    # At most one live assignment per lead (the database enforces it; the replay must not trip it).
    live = assignments.filter(status__in=Assignment.LIVE).values("lead").annotate(n=Count("id"))
    assert live and max(row["n"] for row in live) == 1
    # Nothing happened in the future, and every row carries the moment it was written for.
    for assignment in assignments.select_related("decision"):
        assert assignment.offered_at <= now
        assert assignment.created_at == assignment.offered_at == assignment.decision.created_at
        if assignment.status == Assignment.Status.ACCEPTED:
            assert assignment.lead.owner_id == assignment.assignee_id
    for timer in SlaTimer.objects.for_org(org).select_related("assignment"):
        assert timer.started_at == timer.assignment.offered_at == timer.created_at
    assert not SlaEvent.objects.for_org(org).filter(at__gt=now).exists()
    assert all(e.created_at == e.at for e in SlaEvent.objects.for_org(org))
    assert not Notification.objects.for_org(org).filter(created_at__gt=now).exists()
    for request in RoutingRequest.objects.for_org(org):
        assert request.status == RoutingRequest.Status.DONE
        assert request.created_at <= request.done_at <= now
    # The fairness ledger counts exactly what was offered and rejected from each pool, and the
    # accounts and deals given from it: a pool keeps one rotation whatever it routes.
    offered = Counter(assignments.exclude(pool=None).values_list("pool", "assignee"))
    offered += Counter(
        RoutingDecision.objects.for_org(org)
        .filter(lead__isnull=True, outcome=types.ASSIGNED)
        .exclude(pool=None)
        .values_list("pool", "assignee")
    )
    turned_down = Counter(
        assignments.filter(status="rejected").exclude(pool=None).values_list("pool", "assignee")
    )
    for member in PoolMember.objects.for_org(org):
        key = (member.pool_id, member.membership_id)
        assert member.assigned_count == offered[key]
        assert member.rejected_count == member.credits == turned_down[key]


def test_new_accounts_and_a_deal_were_routed_to_owners(org):
    decisions = (
        RoutingDecision.objects.for_org(org)
        .filter(lead__isnull=True)
        .select_related("account__owner__user", "opportunity__account", "assignee__user")
    )
    by_name = {str(d.subject): d for d in decisions}
    assert set(by_name) == {
        "Helvetia Freight", "Maple Leaf Clinics", "Brightwater Studios", "Helvetia Freight: platform rollout"
    }  # fmt: skip
    assert all(d.outcome == types.ASSIGNED and d.subject.owner_id == d.assignee_id for d in decisions)
    # 2,400 employees: the enterprise rule; a Canadian clinic: North America's territory.
    assert by_name["Helvetia Freight"].rule_index == 0
    assert by_name["Helvetia Freight"].assignee.user.email in {demo.AE, demo.MANAGER}
    assert by_name["Maple Leaf Clinics"].assignee.user.email == demo.DEMO_REP
    # The deal follows its account.
    deal = by_name["Helvetia Freight: platform rollout"]
    assert deal.assignee_id == by_name["Helvetia Freight"].assignee_id
    assert deal.trail[-1].endswith("(account owner)")
