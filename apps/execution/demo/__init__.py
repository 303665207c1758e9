"""The demo organisation's routing and SLAs, and a month of routing history.

Setup, through the setup services: a business calendar per sales team with a
past and an upcoming public holiday, routing profiles (time zones, hours,
caps) with absences, four pools (round robin, weighted, territory and a
load-balanced overflow), the standard reject reasons, two SLA policies and a
published lead routing policy, plus a draft of its next version.

History, through the routing and SLA services: about 150 recent unowned leads
are routed when they arrived (a `RoutingRequest`, then `route_request(now=)`),
and reps act on the offers at plausible moments: most accept within minutes,
some late (breached, then met), about one in eight rejects, mostly leads of
two weak sources; first touches are logged, and the SLA sweep runs at every
due step in between, so reminders, breaches and escalations are the ones the
services write. Leads queued overnight are routed again when the team comes
in. It ends with about ten leads offered to the demo rep right now, timers
running, and a few leads queued or held for the manager.

Services stamp `created_at` with the wall clock; the rows written while
replaying a moment are re-stamped with that moment afterwards, so timelines
read as they happened. (Stage events are append-only and keep the time the
service gave them.) Deterministic for a seed and a `now`; an organisation
that already has a lead routing policy is left alone.

`configure` sets the organisation up, `replay` moves the clock; this module
chooses the leads and what the reps do with them.
"""

import math
import random
from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts.demo import PEOPLE
from apps.accounts.models import Membership
from apps.execution import calendars
from apps.execution.models import (
    Assignment,
    Notification,
    RoutingDecision,
    RoutingPolicy,
    RoutingRequest,
    SlaEvent,
    SlaTimer,
)
from apps.execution.models.routing import Trigger
from apps.execution.routing import types
from apps.execution.services import policies, routing
from apps.records import services as records
from apps.records.models import Lead

from .configure import (
    AE,
    CSM,
    DEMO_REP,
    MANAGER,
    PROFILES,
    REVOPS,
    SDR2,
    configure,
    holidays_around,
    lead_rules,
    publish,
    us_public_holidays,
)
from .replay import QUEUE_LEFT_FOR, Replay

__all__ = [
    "AE", "CSM", "DEMO_REP", "MANAGER", "REVOPS", "SDR2", "holidays_around", "seed_execution",
    "us_public_holidays",
]  # fmt: skip

SEED = 20260422
HISTORY_DAYS = 30
HISTORY_LEADS = 150
LIVE_OFFERS = 10  # left offered to the demo rep, timers running
LIVE_SPACING = timedelta(seconds=45)
LIVE_SLOTS = 14
REJECT_SHARE = 0.12
LATE_ACCEPT_SHARE = 0.15
UNTOUCHED_SHARE = 0.12
LATE_TOUCH_SHARE = 0.12
# Of the leads replayed, the share that arrived while nobody was working: they wait in the
# queue overnight, which is worth showing, and cost a second routing each, which is not.
UNSTAFFED_SHARE = 0.1
WAITING = 3  # leads that arrived lately out of hours, left queued
# Rejections cluster on two weak sources, so the lead-quality view has a story to tell.
WEAK_CAMPAIGN = "lead-gen-forms"  # Paid Social's instant forms
WEAK_SOURCES = {"capterra", "g2"}  # review sites nobody mapped
WEAK_REJECT_SHARE = 0.6


def _candidates(org, *, since: datetime, until: datetime) -> list[Lead]:
    """Unowned leads that entered Inquiry or MQL in the window: the ones routing would have had."""
    return list(
        Lead.objects.for_org(org)
        .filter(owner__isnull=True, merged_into__isnull=True, stage__key__in=["inquiry", "mql"])
        .filter(stage_entered_at__gte=since, stage_entered_at__lt=until)
        .select_related("stage")
        .order_by("stage_entered_at", "pk")
    )


def _weak(lead: Lead) -> bool:
    return lead.utm_campaign.endswith(WEAK_CAMPAIGN) or lead.source.lower() in WEAK_SOURCES


def _off_hours(leads: list[Lead], schedules) -> list[Lead]:
    """The leads that arrived while nobody was working."""
    return [
        lead
        for lead in leads
        if not any(calendars.is_open(schedule, lead.stage_entered_at) for schedule in schedules)
    ]


def _pick_history(rng: random.Random, leads: list[Lead], count: int, schedules) -> list[Lead]:
    """`count` leads, mostly ones that arrived while someone was working."""
    unstaffed = _off_hours(leads, schedules)
    off = {lead.pk for lead in unstaffed}
    staffed = [lead for lead in leads if lead.pk not in off]
    off_hours = min(len(unstaffed), max(round(UNSTAFFED_SHARE * count), count - len(staffed)))
    return rng.sample(staffed, count - off_hours) + rng.sample(unstaffed, off_hours)


def _plans(rng: random.Random, history: list[Lead], *, settled_by: datetime) -> dict[int, dict]:
    """What the reps will do with each lead, in exact shares so that every outcome shows even in a
    small demo. Rejections go to leads old enough for them to have happened: most of the weak
    sources' leads, then a few of the rest."""
    settled = [lead for lead in history if lead.stage_entered_at < settled_by]
    weak = [lead for lead in settled if _weak(lead)]
    others = [lead for lead in settled if not _weak(lead)]
    count = min(len(settled), max(3, round(REJECT_SHARE * len(history))))
    rejected = rng.sample(weak, min(len(weak), count, math.ceil(WEAK_REJECT_SHARE * len(weak))))
    rejected += rng.sample(others, min(len(others), count - len(rejected)))

    def share(fraction: float) -> int:
        return min(len(history), max(2, round(fraction * len(history))))

    late = set(rng.sample(history, share(LATE_ACCEPT_SHARE)))
    order = rng.sample(history, len(history))
    untouched = set(order[: share(UNTOUCHED_SHARE)])
    touched_late = set(order[share(UNTOUCHED_SHARE) :][: share(LATE_TOUCH_SHARE)])
    return {
        lead.pk: {
            "reject": lead in rejected,
            "late": lead in late,
            "touch": None if lead in untouched else "late" if lead in touched_late else "fast",
        }
        for lead in history
    }


def _profile_schedules(holidays) -> dict:
    return {
        email: calendars.merge_holidays(calendars.schedule_from(time_zone=tz, hours_json=hours), holidays)
        for email, (tz, hours, *_caps) in PROFILES.items()
    }


def _live_window(rep_schedule, now: datetime) -> datetime:
    """The latest moment before `now` ending a stretch of the demo rep's working time
    long enough for the live offers: now on a working afternoon, Friday evening on a Sunday."""
    span = LIVE_SPACING * LIVE_SLOTS
    moment = now - timedelta(minutes=1)
    for _ in range(14 * 24 * 12):
        if calendars.business_time_between(rep_schedule, moment - span, moment) == span:
            return moment
        moment -= timedelta(minutes=5)
    return now - timedelta(minutes=1)


# --- Seeding ------------------------------------------------------------------------------------------


@transaction.atomic
def seed_execution(org, *, now: datetime | None = None, seed: int = SEED, leads: int = HISTORY_LEADS):
    """Set routing and SLAs up for `org` and replay a month of routing; returns counts, or None
    when the organisation has a lead routing policy already."""
    if RoutingPolicy.objects.for_org(org).exists():
        return None
    now = now or timezone.now()
    rng = random.Random(seed)
    emails = [email for email, *_ in PEOPLE]
    people = {
        m.user.email: m
        for m in Membership.objects.for_org(org).filter(user__email__in=emails).select_related("user")
    }
    built = configure(org, people, now)
    pools, sla_schedule = built["pools"], built["sla_schedule"]
    policy = publish(org, pools, people[REVOPS], now - timedelta(days=HISTORY_DAYS + 2))

    demo_rep = people[DEMO_REP]
    schedules = _profile_schedules(sla_schedule.holidays)
    # Whoever is working among these can take any lead (they make up the overflow queue).
    anyone = [schedules[email] for email in (DEMO_REP, SDR2, AE)]
    live_end = _live_window(schedules[DEMO_REP], now)
    live_start = live_end - LIVE_SPACING * LIVE_SLOTS
    recent = _candidates(org, since=now - timedelta(days=HISTORY_DAYS), until=live_start)
    # The latest arrivals are kept for the live offers; the month before is the history.
    live_pool, earlier = recent[-(LIVE_SLOTS + 4) :], recent[: -(LIVE_SLOTS + 4)]
    history = sorted(
        _pick_history(rng, earlier, min(leads, len(earlier)), anyone),
        key=lambda lead: (lead.stage_entered_at, lead.pk),
    )
    # Settled: even a lead queued over a long weekend has been offered by then.
    plans = _plans(rng, history, settled_by=live_start - timedelta(days=4))

    replay = Replay(org, rng=rng, sla_schedule=sla_schedule, end=live_start)
    for lead in history:
        replay.plan(lead, plans[lead.pk])
    replay.run()

    _new_accounts(org, at=live_start)
    # Now: the AE is switched off, the others away, so the demo rep's inbox fills.
    routing.rep_set_available(org=org, membership=people[AE], available=False)
    for slot in range(LIVE_SLOTS):
        if not live_pool or _offered(org, demo_rep) >= LIVE_OFFERS:
            break
        when = live_start + LIVE_SPACING * (slot + 1)
        lead = live_pool.pop()
        replay.arrive(when, lead.pk, Trigger.CREATED if lead.stage.key == "inquiry" else Trigger.QUALIFIED)
    # Arrived lately while nobody was working: queued for the manager, not yet picked up.
    taken = {lead.pk for lead in history} | {lead.pk for lead in live_pool}
    latest = _candidates(org, since=now - QUEUE_LEFT_FOR, until=now - timedelta(minutes=1))
    for lead in _off_hours([lead for lead in latest if lead.pk not in taken], anyone)[-WAITING:]:
        trigger = Trigger.CREATED if lead.stage.key == "inquiry" else Trigger.QUALIFIED
        replay.arrive(lead.stage_entered_at + timedelta(seconds=rng.uniform(1, 4)), lead.pk, trigger)
    _held_leads(org, replay, rng, now)

    policies.draft_update(
        org=org, policy=policy, rules=lead_rules(pools, enterprise_employees=500), actor=people[REVOPS].user
    )
    replay.restamp()
    return _counts(org, demo_rep)


# Accounts and a deal that arrived without an owner lately, routed by their own policies.
NEW_ACCOUNTS = [
    {"name": "Helvetia Freight", "domain": "helvetia-freight.example", "industry": "Logistics",
     "employees": 2400, "country": "DE", "region": "EMEA"},
    {"name": "Maple Leaf Clinics", "domain": "mapleleafclinics.example", "industry": "Healthcare",
     "employees": 180, "country": "CA", "region": "North America"},
    {"name": "Brightwater Studios", "domain": "brightwater.example", "industry": "Media",
     "employees": 45, "country": "GB", "region": "EMEA"},
]  # fmt: skip


def _new_accounts(org, *, at: datetime) -> None:
    """Route a few new accounts, and a new deal on the first, at a moment the teams are working."""
    routed = []
    for index, fields in enumerate(NEW_ACCOUNTS):
        account = records.account_create(org=org, **fields)
        routed.append(account)
        for request in RoutingRequest.objects.for_org(org).filter(account=account, status="pending"):
            routing.route_request(request_id=request.pk, now=at + timedelta(minutes=index))
    deal = records.opportunity_create(
        org=org, name=f"{routed[0].name}: platform rollout", account=routed[0], amount=84000,
        source="Inbound", created_date=at.date(),
    )  # fmt: skip
    for request in RoutingRequest.objects.for_org(org).filter(opportunity=deal, status="pending"):
        routing.route_request(request_id=request.pk, now=at + timedelta(minutes=5))


def _offered(org, membership) -> int:
    return (
        Assignment.objects.for_org(org).filter(assignee=membership, status=Assignment.Status.OFFERED).count()
    )


def _held_leads(org, replay: Replay, rng: random.Random, now: datetime) -> None:
    """Three chat-widget leads with too little to work on: routing holds them for the manager."""
    for minutes, fields in [
        (140, {"email": "kai.w@proton.me"}),
        (70, {"email": "priya.nair@gmail.com", "first_name": "Priya"}),
        (25, {"first_name": "Tom", "last_name": "Becker", "phone": "+49 171 555 0142", "country": "DE"}),
    ]:
        when = now - timedelta(minutes=minutes)
        lead = records.lead_create(org=org, captured_at=when, **fields)
        replay.route_pending(lead.pk, when + timedelta(seconds=rng.uniform(1, 3)), asked=when)


def _counts(org, demo_rep) -> dict[str, int]:
    assignments = Assignment.objects.for_org(org)
    timers = SlaTimer.objects.for_org(org)
    decisions = RoutingDecision.objects.for_org(org).filter(lead__isnull=False)
    # Each lead's latest decision says whether it still waits for the manager.
    waiting = Counter(dict(decisions.order_by("pk").values_list("lead_id", "outcome")).values())
    return {
        "routed_leads": decisions.values("lead").distinct().count(),
        "decisions": RoutingDecision.objects.for_org(org).count(),
        "owners_given": RoutingDecision.objects.for_org(org)
        .filter(lead__isnull=True, outcome=types.ASSIGNED)
        .count(),
        "accepted": assignments.filter(status=Assignment.Status.ACCEPTED).count(),
        "rejected": assignments.filter(status=Assignment.Status.REJECTED).count(),
        "offered_now": assignments.filter(status=Assignment.Status.OFFERED).count(),
        "offered_to_the_demo_rep": _offered(org, demo_rep),
        "held": waiting[types.HELD],
        "queued": waiting[types.QUEUED],
        "first_touches": assignments.filter(first_touch_at__isnull=False).count(),
        "sla_timers": timers.count(),
        "sla_breaches": timers.filter(breached_at__isnull=False).count(),
        "escalation_steps": SlaEvent.objects.for_org(org).count(),
        "notifications": Notification.objects.for_org(org).count(),
    }
