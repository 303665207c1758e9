"""A small, fully known organisation for the review dashboards, rolled up.

UTC organisation; "today" is Sunday 2026-03-15, so last_7 is Mar 9-15 and the
previous window Mar 2-8. Alice is in the team "Hunters"; Bob is not.

    lead  channel      campaign  owner  stage events (March)                     segment "Enterprise"
    a     Paid Search  spring    Alice  inquiry 3, mql 3, sal 4, sql 10          yes
    b     Paid Search  spring    Bob    inquiry 10, mql 11 12:00
    c     Events       -         Alice  inquiry 12, mql 12, sal 13 15:00         yes
    d     Events       -         -      inquiry 14
    e     Paid Search  -         Bob    inquiry 5

    this week: new leads b c d = 3, MQL b c = 2, SAL c = 1, SQL a = 1
    last week: new leads a e = 2,   MQL a = 1,   SAL a = 1, SQL 0

Every event is at 09:00 UTC unless a time is given, so within Mar 9-15 leads left Inquiry after
27 h (b) and 0 h (c), MQL after 30 h (c) and SAL after 144 h (a).

Opportunities: "Big" (contact a, owner Alice) created Mar 10, 20,000, won Mar 13;
"Small" (contact e, owner Bob) created Mar 4, 5,000, open.

Assignment facts (ResponseDay rows written after the rollup, Paid Search):
    Mar 10, Alice: 4 offers, 1 rejected, SLA 3 met 1 breached, speed-to-lead 1, 2, 10, 20, 50 min
    Mar 5,  Bob:   2 offers, 0 rejected, SLA 1 met 1 breached, speed-to-lead 5 min
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from apps.accounts.models import Membership, Team, TeamMember
from apps.measurement import sketch
from apps.measurement.models import ResponseDay
from apps.measurement.services import rollup
from apps.records.models import Account, LifecycleStage, Opportunity, StageEvent
from apps.records.models import Lead as LeadModel
from apps.strategy.models import Segment, SegmentMembership
from tests import factories

TODAY = datetime.date(2026, 3, 15)


def at(day, hour=9):
    return datetime.datetime(2026, 3, day, hour, tzinfo=datetime.UTC)


@dataclass
class Fixture:
    org: object
    alice: Membership
    bob: Membership
    team: Team
    segment: Segment
    leads: dict


def _speed(minutes):
    counts: dict[str, int] = {}
    for value in minutes:
        key = str(sketch.bucket(value * 60))
        counts[key] = counts.get(key, 0) + 1
    return counts


def build(owner_user=None) -> Fixture:
    org = factories.make_org(time_zone="UTC", owner=owner_user)
    alice = factories.make_member(org)
    alice.user.full_name = "Alice Hunter"
    alice.user.save()
    bob = factories.make_member(org)
    team = Team.objects.create(organization=org, name="Hunters")
    TeamMember.objects.create(organization=org, team=team, membership=alice)
    stages = {s.key: s for s in LifecycleStage.objects.for_org(org)}
    segment = Segment.objects.create(organization=org, key="enterprise", name="Enterprise")

    def lead(email, channel, campaign, owner, path, in_segment=False):
        record = LeadModel.objects.create(
            organization=org,
            email=email,
            channel=channel,
            utm_campaign=campaign,
            owner=owner,
            stage=stages[path[-1][0]],
            captured_at=at(path[0][1]),
            completeness=1.0,
        )
        previous = ""
        for key, day, *hour in path:
            moment = at(day, *hour)
            StageEvent.objects.create(
                organization=org, lead=record, from_stage=previous, to_stage=key, at=moment, origin="api"
            )
            previous = key
        if in_segment:
            SegmentMembership.objects.create(organization=org, segment=segment, lead=record, since=at(1))
        return record

    leads = {
        "a": lead("a@x.test", "Paid Search", "spring", alice,
                  [("inquiry", 3), ("mql", 3), ("sal", 4), ("sql", 10)], True),
        "b": lead("b@x.test", "Paid Search", "spring", bob, [("inquiry", 10), ("mql", 11, 12)]),
        "c": lead("c@x.test", "Events", "", alice, [("inquiry", 12), ("mql", 12), ("sal", 13, 15)], True),
        "d": lead("d@x.test", "Events", "", None, [("inquiry", 14)]),
        "e": lead("e@x.test", "Paid Search", "", bob, [("inquiry", 5)]),
    }  # fmt: skip
    account = Account.objects.create(organization=org, name="Acme", domain="acme.test")
    Opportunity.objects.create(
        organization=org, name="Big", account=account, primary_contact=leads["a"], owner=alice,
        amount=Decimal(20000), created_date=datetime.date(2026, 3, 10), status="won",
        close_date=datetime.date(2026, 3, 13),
    )  # fmt: skip
    Opportunity.objects.create(
        organization=org, name="Small", account=account, primary_contact=leads["e"], owner=bob,
        amount=Decimal(5000), created_date=datetime.date(2026, 3, 4), status="open",
    )  # fmt: skip
    rollup.rollup(org, full=True)
    for day, member, offers, rejected, met, breached, minutes in [
        (10, alice, 4, 1, 3, 1, [1, 2, 10, 20, 50]),
        (5, bob, 2, 0, 1, 1, [5]),
    ]:
        ResponseDay.objects.create(
            organization=org, day=datetime.date(2026, 3, day), channel="Paid Search", campaign="",
            owner=member, assignments=offers, first_assignments=offers, rejected=rejected,
            accepted=offers - rejected, sla_timers=met + breached, sla_met=met, sla_breached=breached,
            speed_touched=len(minutes), speed_seconds=sum(minutes) * 60, speed_sketch=_speed(minutes),
        )  # fmt: skip
    return Fixture(org, alice, bob, team, segment, leads)
