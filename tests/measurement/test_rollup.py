"""Nightly rollups: every fact table against a hand-worked fixture, idempotency, incremental runs equal
to a full rebuild, the dirty days, local days across DST changes, the command and the nightly schedule.

The fixture (`world`, organisation in UTC, March 2026; times below are UTC):

    lead  channel      campaign  owner  stage events
    A     Paid Search  spring    -      02 09:00 inquiry · 02 12:00 mql · 03 12:00 recycled
                                        · 05 12:00 mql (re-entry) · 06 12:00 sal
    B     Events       -         Ana    02 10:00 inquiry · 02 10:30 mql · 03 10:30 sal
                                        · 05 10:30 opportunity (skips sql)
    C     Paid Search  spring    -      03 08:00 inquiry
    D     Paid Search  spring    -      02 20:00 inquiry · 03 02:00 mql · 06 14:00 sal

Opportunities: won (B, Ana, created 05, 10,000, won 20), lost (A, created 06, 4,000, lost 25),
open (D, expansion, created 06, 2,500), won-then-reopened (A, created 05, 7,000, won 10 then
reopened). Assignments: A to Bo (offered 02 12:05, accepted 12:15, touched 12:45, SLA met);
B to Bo (offered 02 10:10, rejected 10:40 "wrong territory", SLA breached); B to Ana (offered
02 10:41, accepted 10:51, SLA running); C to Bo (offered 04 09:00, no answer yet). Touchpoints:
A twice and D once on the 1st (Paid Search, spring), B once on the 2nd (Events).
"""

import datetime as dt
import io
import json
import re
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.execution.models import Assignment, RejectReason, SlaPolicy, SlaTimer
from apps.measurement import facts, sketch, tasks
from apps.measurement.models import (
    AttributionDay,
    CohortDay,
    DirtyDay,
    FunnelDay,
    OpportunityDay,
    ResponseDay,
    RollupState,
    TouchDay,
)
from apps.measurement.services import rollup
from apps.quality.services import source_mapping_create
from apps.records import services as records
from apps.records.models import Opportunity, Touchpoint
from tests import factories

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NEW_YORK = ZoneInfo("America/New_York")
PS, EV = "Paid Search", "Events"
FACT_MODELS = (FunnelDay, CohortDay, OpportunityDay, ResponseDay, TouchDay)
HOUR, DAY = 3_600, 86_400


def utc(day, hour, minute=0, month=3):
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


def march(day):
    return dt.date(2026, 3, day)


def sk(*seconds) -> dict[str, int]:
    """The sketch the SQL should store for these durations."""
    out: dict[str, int] = {}
    for value in seconds:
        key = str(sketch.bucket(value))
        out[key] = out.get(key, 0) + 1
    return out


def lead(org, email, *, at, **fields):
    return records.lead_create(org=org, email=email, captured_at=at, **fields)


def move(org, who, to, at):
    return records.lead_change_stage(org=org, lead=who, to=to, at=at)


@pytest.fixture
def world(org):
    source_mapping_create(org=org, raw_value="google", channel=PS)
    source_mapping_create(org=org, raw_value="webinar", channel=EV)
    ana = factories.make_member(org, user=factories.make_user(full_name="Ana Ruiz"))
    bo = factories.make_member(org, user=factories.make_user(full_name="Bo Lind"))

    a = lead(org, "a@example.com", at=utc(2, 9), source="google", utm_campaign="spring")
    b = lead(org, "b@example.com", at=utc(2, 10), source="webinar", owner=ana)
    c = lead(org, "c@example.com", at=utc(3, 8), source="google", utm_campaign="spring")
    d = lead(org, "d@example.com", at=utc(2, 20), source="google", utm_campaign="spring")
    move(org, a, "mql", utc(2, 12))
    move(org, a, "recycled", utc(3, 12))
    move(org, a, "mql", utc(5, 12))
    move(org, a, "sal", utc(6, 12))
    move(org, b, "mql", utc(2, 10, 30))
    move(org, b, "sal", utc(3, 10, 30))
    move(org, b, "opportunity", utc(5, 10, 30))
    move(org, d, "mql", utc(3, 2))
    move(org, d, "sal", utc(6, 14))

    def opportunity(name, **fields):
        return records.opportunity_create(org=org, name=name, **fields)

    won = opportunity(
        "Won", primary_contact=b, owner=ana, amount=Decimal("10000"), created_date=march(5),
        status="won", close_date=march(20),
    )  # fmt: skip
    lost = opportunity(
        "Lost", primary_contact=a, amount=Decimal("4000"), created_date=march(6),
        status="lost", close_date=march(25), loss_reason="Price",
    )  # fmt: skip
    open_ = opportunity(
        "Open", primary_contact=d, amount=Decimal("2500"), created_date=march(6), type="expansion"
    )
    reopened = opportunity(
        "Reopened", primary_contact=a, amount=Decimal("7000"), created_date=march(5),
        status="won", close_date=march(10),
    )  # fmt: skip

    territory = RejectReason.objects.get(organization=org, key="wrong_territory")
    policy = SlaPolicy.objects.create(organization=org, name="Accept in 15", target_minutes=15)

    def assignment(who, rep, offered, *, timer=None, **fields):
        made = Assignment.objects.create(
            organization=org, lead=who, assignee=rep, offered_at=offered, **fields
        )
        if timer is not None:
            SlaTimer.objects.create(
                organization=org, policy=policy, assignment=made, lead=who, assignee=rep, clock="accept",
                started_at=offered, due_at=offered + dt.timedelta(minutes=15), **timer,
            )  # fmt: skip
        return made

    a1 = assignment(
        a, bo, utc(2, 12, 5), status="accepted", accepted_at=utc(2, 12, 15), first_touch_at=utc(2, 12, 45),
        timer={"status": "met", "met_at": utc(2, 12, 15)},
    )  # fmt: skip
    b1 = assignment(
        b, bo, utc(2, 10, 10), status="rejected", rejected_at=utc(2, 10, 40), reject_reason=territory,
        timer={"status": "breached", "breached_at": utc(2, 10, 25)},
    )  # fmt: skip
    b2 = assignment(b, ana, utc(2, 10, 41), status="accepted", accepted_at=utc(2, 10, 51), timer={})
    c1 = assignment(c, bo, utc(4, 9))

    def touch(who, channel, at, campaign=""):
        return records.touchpoint_create(
            org=org, lead=who, channel=channel, utm_campaign=campaign, occurred_at=at
        )

    touch(a, PS, utc(1, 15), "spring")
    touch(a, PS, utc(1, 16), "spring")
    touch(d, PS, utc(1, 18), "spring")
    touch(b, EV, utc(2, 9))
    return SimpleNamespace(
        a=a, b=b, c=c, d=d, ana=ana, bo=bo, won=won, lost=lost, open=open_, reopened=reopened,
        a1=a1, b1=b1, b2=b2, c1=c1,
    )  # fmt: skip


# --- Reading facts back ------------------------------------------------------------------------


def funnel(org):
    return {
        (r.day, r.stage, r.channel, r.campaign, r.owner_id): (
            r.created, r.entries, r.first_entries, r.reentries, r.skips, r.exits, r.exit_seconds
        )
        for r in FunnelDay.objects.for_org(org)
    }  # fmt: skip


def cohorts(org):
    return {
        (r.day, r.from_stage, r.to_stage, r.channel, r.campaign, r.owner_id): (r.reached, r.lag_seconds)
        for r in CohortDay.objects.for_org(org)
    }


def opportunities(org):
    return {
        (r.day, r.channel, r.campaign, r.owner_id, r.type): (
            r.created, r.created_amount, r.won, r.won_amount, r.lost, r.lost_amount, r.won_cycle_days
        )
        for r in OpportunityDay.objects.for_org(org)
    }  # fmt: skip


def responses(org):
    return {
        (r.day, r.channel, r.campaign, r.owner_id, r.reject_reason): (
            r.assignments, r.first_assignments, r.accepted, r.rejected, r.touched,
            r.system_seconds, r.accept_seconds, r.touch_seconds, r.speed_touched, r.speed_seconds,
            r.sla_timers, r.sla_met, r.sla_breached,
        )
        for r in ResponseDay.objects.for_org(org)
    }  # fmt: skip


def touches(org):
    return {(r.day, r.channel, r.campaign): (r.touches, r.people) for r in TouchDay.objects.for_org(org)}


def facts_of(org) -> dict[str, list[tuple]]:
    """Every fact row of the organisation, minus ids and timestamps, as sorted tuples."""
    out = {}
    for model in FACT_MODELS:
        fields = [
            f.attname for f in model._meta.concrete_fields if f.name not in ("id", "created_at", "updated_at")
        ]
        rows = [
            tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for v in row)
            for row in model.objects.for_org(org).values_list(*fields)
        ]
        out[model.__name__] = sorted(rows, key=repr)
    return out


# --- Each fact table, by hand --------------------------------------------------------------------


def funnel_expected(ana):
    # created, entries, first entries, re-entries, skips, exits, exit seconds
    return {
        (march(2), "inquiry", PS, "spring", None): (2, 2, 2, 0, 0, 1, 3 * HOUR),  # A, D in; A out after 3 h
        (march(2), "mql", PS, "spring", None): (0, 1, 1, 0, 0, 0, 0),
        (march(2), "inquiry", EV, "", ana.pk): (1, 1, 1, 0, 0, 1, 30 * 60),
        (march(2), "mql", EV, "", ana.pk): (0, 1, 1, 0, 0, 0, 0),
        (march(3), "inquiry", PS, "spring", None): (1, 1, 1, 0, 0, 1, 6 * HOUR),  # C in; D out after 6 h
        (march(3), "mql", PS, "spring", None): (0, 1, 1, 0, 0, 1, DAY),  # D in; A out after a day
        (march(3), "recycled", PS, "spring", None): (0, 1, 1, 0, 0, 0, 0),
        (march(3), "sal", EV, "", ana.pk): (0, 1, 1, 0, 0, 0, 0),
        (march(3), "mql", EV, "", ana.pk): (0, 0, 0, 0, 0, 1, DAY),
        (march(5), "mql", PS, "spring", None): (0, 1, 0, 1, 0, 0, 0),  # A's re-entry (not a skip)
        (march(5), "recycled", PS, "spring", None): (0, 0, 0, 0, 0, 1, 2 * DAY),
        (march(5), "opportunity", EV, "", ana.pk): (0, 1, 1, 0, 1, 0, 0),  # SAL → Opportunity skips SQL
        (march(5), "sal", EV, "", ana.pk): (0, 0, 0, 0, 0, 1, 2 * DAY),
        (march(6), "sal", PS, "spring", None): (0, 2, 2, 0, 0, 0, 0),
        # A after a day (since its re-entry), D after 3.5 days
        (march(6), "mql", PS, "spring", None): (0, 0, 0, 0, 0, 2, DAY + 302_400),
    }


def test_funnel_day_counts_entries_reentries_skips_and_exits(org, world):
    result = rollup.rollup(org, full=True)
    assert funnel(org) == funnel_expected(world.ana)
    assert result.rows["funnel"] == 15
    rows = {(r.day, r.stage, r.channel): r for r in FunnelDay.objects.for_org(org)}
    assert rows[march(6), "mql", PS].exit_sketch == sk(DAY, 302_400)
    assert rows[march(5), "recycled", PS].exit_sketch == sk(2 * DAY)
    assert rows[march(2), "mql", PS].exit_sketch == {}
    # The completeness of the leads created into the stage that day, summed.
    world.a.refresh_from_db()
    world.d.refresh_from_db()
    assert rows[march(2), "inquiry", PS].created_completeness == pytest.approx(
        world.a.completeness + world.d.completeness
    )


def test_cohort_day_counts_leads_by_first_entry_and_what_they_reached(org, world):
    rollup.rollup(org, full=True)
    ana = world.ana.pk
    assert cohorts(org) == {
        # From creation (""), lags from the lead's first event.
        (march(2), "", "inquiry", PS, "spring", None): (2, 0),
        (march(2), "", "mql", PS, "spring", None): (2, 3 * HOUR + 6 * HOUR),  # A 3 h, D 6 h
        (march(2), "", "sal", PS, "spring", None): (2, 356_400 + 324_000),  # A 4 d 3 h, D 3 d 18 h
        (march(2), "", "inquiry", EV, "", ana): (1, 0),
        (march(2), "", "mql", EV, "", ana): (1, 1_800),
        (march(2), "", "sal", EV, "", ana): (1, 88_200),  # 24.5 h
        (march(2), "", "opportunity", EV, "", ana): (1, 261_000),  # 3 d 30 min
        (march(3), "", "inquiry", PS, "spring", None): (1, 0),  # C
        # From inquiry: the same leads and lags (everyone was created into inquiry).
        (march(2), "inquiry", "mql", PS, "spring", None): (2, 32_400),
        (march(2), "inquiry", "sal", PS, "spring", None): (2, 680_400),
        (march(2), "inquiry", "mql", EV, "", ana): (1, 1_800),
        (march(2), "inquiry", "sal", EV, "", ana): (1, 88_200),
        (march(2), "inquiry", "opportunity", EV, "", ana): (1, 261_000),
        # From the first MQL entry (A's re-entry on the 5th does not start a second cohort).
        (march(2), "mql", "sal", PS, "spring", None): (1, 4 * DAY),  # A: 2nd 12:00 → 6th 12:00
        (march(3), "mql", "sal", PS, "spring", None): (1, 302_400),  # D: 3rd 02:00 → 6th 14:00
        (march(2), "mql", "sal", EV, "", ana): (1, DAY),
        (march(2), "mql", "opportunity", EV, "", ana): (1, 3 * DAY),
        # B skipped SQL: it reached Opportunity from SAL; nobody reached SQL.
        (march(3), "sal", "opportunity", EV, "", ana): (1, 2 * DAY),
    }


def test_opportunity_day_for_won_lost_open_and_reopened_deals(org, world):
    rollup.rollup(org, full=True)
    ana = world.ana.pk
    nothing_closed = (0, 0, 0, 0, 0)
    expected = {
        (march(5), EV, "", ana, "new_business"): (1, Decimal("10000.00"), *nothing_closed),
        (march(5), PS, "spring", None, "new_business"): (1, Decimal("7000.00"), *nothing_closed),
        (march(6), PS, "spring", None, "new_business"): (1, Decimal("4000.00"), *nothing_closed),
        (march(6), PS, "spring", None, "expansion"): (1, Decimal("2500.00"), *nothing_closed),
        (march(20), EV, "", ana, "new_business"): (0, 0, 1, Decimal("10000.00"), 0, 0, 15),  # 5th → 20th
        (march(25), PS, "spring", None, "new_business"): (0, 0, 0, 0, 1, Decimal("4000.00"), 0),
        (march(10), PS, "spring", None, "new_business"): (0, 0, 1, Decimal("7000.00"), 0, 0, 5),
    }
    assert opportunities(org) == expected

    # Reopened: back to open, close date cleared; its win disappears, its creation stays.
    records.opportunity_update(org=org, opportunity=world.reopened, status="open", close_date=None)
    result = rollup.rollup(org)
    assert not result.full
    del expected[march(10), PS, "spring", None, "new_business"]
    assert opportunities(org) == expected


def test_response_day_counts_acceptance_rejections_touches_and_sla_outcomes(org, world):
    rollup.rollup(org, full=True)
    ana, bo = world.ana.pk, world.bo.pk
    assert responses(org) == {
        # assignments, first, accepted, rejected, touched, system s, accept s, touch s,
        # speed touched, speed s, SLA timers, met, breached
        # A: captured 09:00, offered 12:05, accepted 12:15, touched 12:45.
        (march(2), PS, "spring", bo, ""): (1, 1, 1, 0, 1, 11_100, 600, 2_400, 1, 13_500, 1, 1, 0),
        # B: captured 10:00, offered 10:10, rejected 10:40 with a reason, SLA breached.
        (march(2), EV, "", bo, "wrong_territory"): (1, 1, 0, 1, 0, 600, 0, 0, 0, 0, 1, 0, 1),
        # B again, to Ana: not the first assignment, so no system or speed time; SLA still running.
        (march(2), EV, "", ana, ""): (1, 0, 1, 0, 0, 0, 600, 0, 0, 0, 1, 0, 0),
        # C: captured on the 3rd 08:00, offered on the 4th 09:00, no answer, no timer.
        (march(4), PS, "spring", bo, ""): (1, 1, 0, 0, 0, 25 * HOUR, 0, 0, 0, 0, 0, 0, 0),
    }
    first = ResponseDay.objects.for_org(org).get(day=march(2), channel=PS)
    assert (first.system_sketch, first.accept_sketch) == (sk(11_100), sk(600))
    assert (first.touch_sketch, first.speed_sketch) == (sk(2_400), sk(13_500))
    again = ResponseDay.objects.for_org(org).get(day=march(2), owner=world.ana)
    assert (again.system_sketch, again.accept_sketch, again.speed_sketch) == ({}, sk(600), {})


def test_touch_day_counts_touches_and_distinct_people(org, world):
    rollup.rollup(org, full=True)
    assert touches(org) == {(march(1), PS, "spring"): (3, 2), (march(2), EV, ""): (1, 1)}


def test_facts_stay_within_their_organisation(org, world, other_org):
    other = lead(other_org, "x@example.com", at=utc(2, 9))
    move(other_org, other, "mql", utc(2, 11))
    rollup.rollup(org, full=True)
    assert not FunnelDay.objects.for_org(other_org).exists()
    rollup.rollup(other_org, full=True)
    assert funnel(other_org) == {
        (march(2), "inquiry", "", "", None): (1, 1, 1, 0, 0, 1, 2 * HOUR),
        (march(2), "mql", "", "", None): (0, 1, 1, 0, 0, 0, 0),
    }
    assert funnel(org) == funnel_expected(world.ana)


# --- Idempotent and incremental ----------------------------------------------------------------


def test_running_the_same_days_twice_gives_identical_rows(org, world):
    rollup.rollup(org, full=True)
    once = facts_of(org)
    assert sum(map(len, once.values())) == 15 + 18 + 7 + 4 + 2
    rollup.rollup(org, full=True)
    assert facts_of(org) == once
    # Recomputing day by day (a backfill) gives the same rows as the one-pass rebuild.
    rollup.rollup(org, since=march(1))
    assert facts_of(org) == once
    rollup.rollup(org, since=march(1))
    assert facts_of(org) == once


def _as_if_last_run_ended(org, moment):
    """Put the watermark where a run that ended at `moment` would have left it (it looks back OVERLAP)."""
    RollupState.objects.for_org(org).update(watermark=moment + rollup.OVERLAP)


def test_incremental_run_recomputes_only_dirty_days_and_equals_a_full_rebuild(org, world):
    assert rollup.rollup(org).full  # the first run of an organisation rebuilds everything
    written = {r.day: r.created_at for r in FunnelDay.objects.for_org(org)}
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)

    # A late event (written now, dated the 7th), a lead moved to another channel, new touches.
    move(org, world.b, "customer", utc(7, 10))
    records.lead_update(org=org, lead=world.c, source="webinar")
    assert world.c.channel == EV
    records.touchpoint_create(
        org=org, lead=world.d, channel=PS, utm_campaign="spring", occurred_at=utc(1, 20)
    )
    records.touchpoint_create(org=org, lead=world.d, channel=PS, utm_campaign="spring", occurred_at=utc(9, 9))

    # B's event days (2, 3, 5, 7), C's event day (3) and assignment day (4), the touches' days (1, 9).
    dirty = [march(d) for d in (1, 2, 3, 4, 5, 7, 9)]
    assert rollup.dirty_days(org, mark) == dirty
    result = rollup.rollup(org)
    assert (result.full, result.days) == (False, 7)

    # Only dirty days were rewritten: the 6th (A and D only) kept the first run's rows.
    rewritten = {r.day for r in FunnelDay.objects.for_org(org) if r.created_at > mark}
    assert rewritten <= set(dirty)
    assert march(6) not in rewritten
    assert {r.created_at for r in FunnelDay.objects.for_org(org).filter(day=march(6))} == {written[march(6)]}

    # The changes, by hand.
    now = funnel(org)
    ana = world.ana.pk
    assert now[march(7), "customer", EV, "", ana] == (0, 1, 1, 0, 0, 0, 0)
    assert now[march(7), "opportunity", EV, "", ana] == (0, 0, 0, 0, 0, 1, 2 * DAY - 30 * 60)
    assert now[march(3), "inquiry", PS, "spring", None] == (0, 0, 0, 0, 0, 1, 6 * HOUR)  # D's exit only
    assert now[march(3), "inquiry", EV, "spring", None] == (1, 1, 1, 0, 0, 0, 0)  # C, now in Events
    assert (march(4), EV, "spring", world.bo.pk, "") in responses(org)
    assert touches(org)[march(1), PS, "spring"] == (4, 2)
    assert touches(org)[march(9), PS, "spring"] == (1, 1)

    incremental = facts_of(org)
    rollup.rollup(org, full=True)
    assert facts_of(org) == incremental


def test_dirty_days_follow_what_was_written_since(org, world):
    before = utc(1, 0) - dt.timedelta(days=365)
    assert rollup.dirty_days(org, before) == [march(d) for d in (1, 2, 3, 4, 5, 6)]
    rollup.rollup(org)
    mark = timezone.now()
    assert rollup.dirty_days(org, mark) == []

    # An answered assignment: its offer day.
    world.c1.status, world.c1.accepted_at = "accepted", utc(4, 10)
    world.c1.save()
    assert rollup.dirty_days(org, mark) == [march(4)]
    # A timer that changed: its assignment's offer day.
    SlaTimer.objects.filter(assignment=world.b2).update(status="met", updated_at=timezone.now())
    assert rollup.dirty_days(org, mark) == [march(2), march(4)]
    # An explicit mark (a stage redefinition): kept once, whatever the watermark says.
    rollup.mark_dirty(org, [march(20), march(20)], reason="stage redefined")
    rollup.mark_dirty(org, [march(20)], reason="again")
    assert DirtyDay.objects.for_org(org).count() == 1
    assert rollup.dirty_days(org, mark) == [march(2), march(4), march(20)]
    # A late stage event: every day of that lead's events (D has no assignment to add).
    move(org, world.d, "sql", utc(8, 9))
    assert rollup.dirty_days(org, mark) == [march(d) for d in (2, 3, 4, 6, 8, 20)]

    _as_if_last_run_ended(org, mark)
    result = rollup.rollup(org)
    assert result.days == 6
    assert not DirtyDay.objects.for_org(org).exists()  # consumed by the run
    state = RollupState.objects.for_org(org).get()
    assert state.watermark > mark and state.finished_at >= state.started_at and not state.running
    assert state.last_local_date == dt.datetime.now(UTC).date()
    assert (state.days_done, state.days_total, state.error) == (6, 6, "")


def test_each_fact_table_has_its_own_dirty_days(org, world):
    rollup.rollup(org)
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)

    # Events written as an import does, without stamping their leads: D enters sql on the 8th (after
    # its last event), and B gets a late "customer" on the 3rd at 11:00, between its sal (3rd) and its
    # opportunity (5th).
    Lead = type(world.d)
    stamps = dict(Lead.objects.filter(pk__in=[world.b.pk, world.d.pk]).values_list("pk", "updated_at"))
    move(org, world.d, "sql", utc(8, 9))
    move(org, world.b, "customer", utc(3, 11))
    for pk, stamp in stamps.items():
        Lead.objects.filter(pk=pk).update(updated_at=stamp)
    records.touchpoint_create(org=org, lead=world.a, channel=PS, utm_campaign="spring", occurred_at=utc(9, 9))

    by_table = rollup.dirty_days_by_table(org, mark)
    # Funnel rows change from each new event on: D's 8th; B's 3rd and its opportunity on the 5th, whose
    # previous stage is now customer. D's 2nd, 3rd and 6th and B's 2nd are as they were.
    assert by_table["funnel"] == [march(3), march(5), march(8)]
    # Cohorts lie on first-entry days: D's (2nd creation, 3rd mql, 6th sal, 8th sql) and B's (2nd
    # creation and mql, 3rd sal and customer, 5th opportunity).
    assert by_table["cohorts"] == [march(d) for d in (2, 3, 5, 6, 8)]
    assert by_table["touches"] == [march(9)]
    assert by_table["responses"] == [march(2)]  # B's assignments (offered on the 2nd) follow its stage
    assert by_table["attribution"] == []
    assert rollup.dirty_days(org, mark) == [march(d) for d in (2, 3, 5, 6, 8, 9)]

    result = rollup.rollup(org)
    assert (result.full, result.days) == (False, 6)
    incremental = facts_of(org)
    rollup.rollup(org, full=True)
    assert facts_of(org) == incremental


def test_an_edited_touchpoint_dirties_its_old_and_new_day_and_its_opportunities(org, world):
    records.touchpoint_create(
        org=org, lead=world.a, channel=PS, utm_campaign="spring", occurred_at=utc(9, 9), external_id="T-9"
    )
    rollup.rollup(org, full=True)
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)

    # Sent again unchanged: nothing to recompute.
    records.touchpoint_upsert(org=org, external_id="T-9", lead=world.a, occurred_at=utc(9, 9))
    assert rollup.dirty_days(org, mark) == []

    # The CRM re-sends it dated the 3rd: the 9th loses a touch, the 3rd gains one, and A's deals (the
    # reopened one created on the 5th, the lost one on the 6th) may credit it differently.
    _, created = records.touchpoint_upsert(org=org, external_id="T-9", lead=world.a, occurred_at=utc(3, 9))
    assert not created
    assert rollup.dirty_days(org, mark) == [march(3), march(5), march(6), march(9)]

    rollup.rollup(org)
    assert march(9) not in {day for day, _, _ in touches(org)}
    assert touches(org)[march(3), PS, "spring"] == (1, 1)
    incremental = facts_of(org)
    rollup.rollup(org, full=True)
    assert facts_of(org) == incremental


def test_a_merge_and_its_undo_dirty_every_day_of_both_leads(org, world):
    from apps.quality.services.merge import lead_merge, merge_undo

    rollup.rollup(org, full=True)
    assert touches(org)[march(1), PS, "spring"] == (3, 2)  # A twice, D once
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)

    merge = lead_merge(org=org, survivor=world.a, merged=world.d)
    # A's days and D's: stage events, touchpoints (the 1st), assignments and opportunities' creation.
    assert {march(1), march(2), march(3), march(6)} <= set(rollup.dirty_days(org, mark))
    rollup.rollup(org)
    assert touches(org)[march(1), PS, "spring"] == (3, 1)  # one person now
    incremental = facts_of(org)
    rollup.rollup(org, full=True)
    assert facts_of(org) == incremental

    mark = timezone.now()
    _as_if_last_run_ended(org, mark)
    merge_undo(org=org, merge=merge)
    rollup.rollup(org)
    assert touches(org)[march(1), PS, "spring"] == (3, 2)
    incremental = facts_of(org)
    rollup.rollup(org, full=True)
    assert facts_of(org) == incremental


def attribution_of(org) -> list[tuple]:
    rows = AttributionDay.objects.for_org(org).values_list(
        "model", "day", "channel", "campaign", "opportunities", "pipeline", "won", "revenue"
    )
    return sorted(rows, key=repr)


def test_deleted_rows_dirty_their_days_whoever_deletes_them(org, world):
    rollup.rollup(org, full=True)
    assert touches(org)[march(1), PS, "spring"] == (3, 2)
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)

    # Plain deletes, as the admin or SQL would make them: no service is told.
    world.a.stage_events.filter(at=utc(5, 12)).delete()  # A's re-entry into MQL
    Touchpoint.objects.filter(lead=world.d).delete()  # D's touch on the 1st
    Assignment.objects.filter(pk=world.c1.pk).delete()  # offered on the 4th
    assert rollup.dirty_days(org, mark) == [march(d) for d in (1, 2, 3, 4, 5, 6)]
    reasons = set(DirtyDay.objects.for_org(org).values_list("reason", flat=True))
    assert reasons == {"stageevent deleted", "touchpoint deleted", "assignment deleted"}
    # A: 2nd (inquiry, mql), 3rd (recycled), 6th (sal) and the deleted 5th. D's touch: the 1st and the
    # creation of D's open deal (6th). The assignment: the 4th.
    assert set(
        DirtyDay.objects.for_org(org).filter(reason="stageevent deleted").values_list("day", flat=True)
    ) == {march(2), march(3), march(5), march(6)}

    rollup.rollup(org)
    assert touches(org)[march(1), PS, "spring"] == (2, 1)
    assert march(4) not in {key[0] for key in responses(org)}
    # A went recycled -> sal on the 6th without re-entering MQL: no MQL entry on the 5th any more.
    assert not any(key[0] == march(5) and key[1] == "mql" for key in funnel(org))
    incremental = facts_of(org), attribution_of(org)
    rollup.rollup(org, full=True)
    assert (facts_of(org), attribution_of(org)) == incremental


def test_a_deleted_lead_or_opportunity_dirties_its_days_and_its_deals(org, world):
    rollup.rollup(org, full=True)
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)

    # A goes with its events (2nd to 6th), touches (1st) and assignment (2nd); its deals, created on the
    # 5th and 6th, lose their primary contact.
    type(world.a).objects.filter(pk=world.a.pk).delete()
    assert rollup.dirty_days(org, mark) == [march(d) for d in (1, 2, 3, 5, 6)]
    rollup.rollup(org)
    incremental = facts_of(org), attribution_of(org)
    rollup.rollup(org, full=True)
    assert (facts_of(org), attribution_of(org)) == incremental

    mark = timezone.now()
    _as_if_last_run_ended(org, mark)
    # D's open deal (6th) loses its contact without a stamp; the won deal (5th) is deleted.
    Opportunity.objects.filter(pk=world.open.pk).update(primary_contact=None)
    world.won.delete()
    assert rollup.dirty_days(org, mark) == [march(5), march(6)]
    reasons = dict(DirtyDay.objects.for_org(org).values_list("day", "reason"))
    assert reasons == {march(5): "opportunity deleted", march(6): "opportunity contact changed"}
    rollup.rollup(org)
    assert not OpportunityDay.objects.for_org(org).filter(day=march(20)).exists()  # the day it was won
    incremental = facts_of(org), attribution_of(org)
    rollup.rollup(org, full=True)
    assert (facts_of(org), attribution_of(org)) == incremental


def test_reordering_funnel_stages_rebuilds_the_facts_that_read_the_order(org, world):
    rollup.rollup(org, full=True)
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)
    # B moved from SAL straight into Opportunity: SQL lay between them, so it was a skip.
    assert funnel(org)[march(5), "opportunity", EV, "", world.ana.pk][4] == 1

    # SQL moved after Opportunity (as the stage change request would): B's move no longer skips it.
    stages = records.stages_by_key(org)
    records.stage_update(org=org, stage=stages["sql"], order=stages["opportunity"].order + 1)
    assert rollup.dirty_days(org, mark) == [march(d) for d in (2, 3, 5, 6)]  # every day with an event
    rollup.rollup(org)
    assert funnel(org)[march(5), "opportunity", EV, "", world.ana.pk][4] == 0
    incremental = facts_of(org)
    rollup.rollup(org, full=True)
    assert facts_of(org) == incremental

    # A change that leaves the order alone rebuilds nothing.
    mark = timezone.now()
    _as_if_last_run_ended(org, mark)
    records.stage_update(org=org, stage=stages["mql"], name="Marketing qualified")
    assert rollup.dirty_days(org, mark) == []


# --- Local days and DST --------------------------------------------------------------------------


@pytest.fixture
def new_york(owner):
    return factories.make_org(name="Gotham", owner=owner, slug="gotham", time_zone="America/New_York")


def ny(month, day, hour, minute=0):
    return dt.datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK)


def test_local_days_around_dst_changes(new_york):
    org = new_york
    # Spring forward: 8 March 2026, 02:00 EST → 03:00 EDT (a 23-hour day).
    spring = lead(org, "spring@example.com", at=ny(3, 7, 23, 30))  # 04:30 UTC on the 8th
    move(org, spring, "mql", ny(3, 8, 0, 30))  # 05:30 UTC on the 8th
    move(org, spring, "sal", ny(3, 8, 23, 30))  # 03:30 UTC on the 9th, 22 h later
    move(org, spring, "sql", ny(3, 9, 0, 30))
    # Fall back: 1 November 2026, 02:00 EDT → 01:00 EST (a 25-hour day).
    fall = lead(org, "fall@example.com", at=ny(10, 31, 23, 30))  # 03:30 UTC on 1 November
    move(org, fall, "mql", ny(11, 1, 0, 30))
    move(org, fall, "sal", ny(11, 1, 23, 30))  # 04:30 UTC on the 2nd, 23 h of wall clock but 24 h later
    move(org, fall, "sql", ny(11, 2, 0, 30))
    records.touchpoint_create(org=org, lead=spring, channel=PS, occurred_at=ny(3, 7, 23, 30))
    records.touchpoint_create(org=org, lead=spring, channel=PS, occurred_at=ny(3, 8, 0, 30))
    rep = factories.make_member(org)
    Assignment.objects.create(organization=org, lead=fall, assignee=rep, offered_at=ny(11, 1, 23, 45))

    def day(month, d):
        return dt.date(2026, month, d)

    expected_funnel = {
        (day(3, 7), "inquiry", "", "", None): (1, 1, 1, 0, 0, 0, 0),
        (day(3, 8), "inquiry", "", "", None): (0, 0, 0, 0, 0, 1, HOUR),
        (day(3, 8), "mql", "", "", None): (0, 1, 1, 0, 0, 1, 22 * HOUR),
        (day(3, 8), "sal", "", "", None): (0, 1, 1, 0, 0, 0, 0),
        (day(3, 9), "sql", "", "", None): (0, 1, 1, 0, 0, 0, 0),
        (day(3, 9), "sal", "", "", None): (0, 0, 0, 0, 0, 1, HOUR),
        (day(10, 31), "inquiry", "", "", None): (1, 1, 1, 0, 0, 0, 0),
        (day(11, 1), "inquiry", "", "", None): (0, 0, 0, 0, 0, 1, HOUR),
        (day(11, 1), "mql", "", "", None): (0, 1, 1, 0, 0, 1, 24 * HOUR),
        (day(11, 1), "sal", "", "", None): (0, 1, 1, 0, 0, 0, 0),
        (day(11, 2), "sql", "", "", None): (0, 1, 1, 0, 0, 0, 0),
        (day(11, 2), "sal", "", "", None): (0, 0, 0, 0, 0, 1, HOUR),
    }
    event_days = [day(3, 7), day(3, 8), day(3, 9), day(10, 31), day(11, 1), day(11, 2)]
    assert rollup.dirty_days(org, utc(1, 0)) == event_days

    rollup.rollup(org, full=True)
    assert funnel(org) == expected_funnel
    assert touches(org) == {(day(3, 7), PS, ""): (1, 1), (day(3, 8), PS, ""): (1, 1)}
    # Captured 23:30 EDT on 31 October, offered 23:45 EST on 1 November: 25 h 15 min.
    assert [(r.day, r.system_seconds) for r in ResponseDay.objects.for_org(org)] == [(day(11, 1), 90_900)]
    reached = cohorts(org)
    assert reached[day(3, 7), "", "sal", "", "", None] == (1, 23 * HOUR)  # 23:30 EST → 23:30 EDT
    assert reached[day(3, 8), "mql", "sal", "", "", None] == (1, 22 * HOUR)
    assert reached[day(11, 1), "mql", "sal", "", "", None] == (1, 24 * HOUR)
    assert reached[day(11, 1), "sal", "sql", "", "", None] == (1, HOUR)  # entered SAL late on the 1st

    # Day by day (the incremental path, with its UTC bounds) gives the same rows.
    everything = facts_of(org)
    for model in FACT_MODELS:
        model.objects.for_org(org).delete()
    for build in (facts.build_funnel, facts.build_cohorts, facts.build_responses, facts.build_touches):
        build(org, event_days)
    facts.build_opportunities(org)
    assert facts_of(org) == everything


# --- The command, the lock and the schedule -----------------------------------------------------


def _command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("rollup", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_full_reports_the_rows_and_draws_a_progress_bar(org, world):
    out, err = _command("--org", "acme", "--full")
    assert out.startswith("Rolled up every day of acme in ")
    for part in ("funnel 15", "cohorts 18", "responses 4", "touches 2", "opportunities 7"):
        assert part in out
    steps = re.findall(r"(\d+)/(\d+) tables", err)
    assert steps[0][0] == "0" and steps[-1][0] == steps[-1][1] and "100%" in err
    assert funnel(org) == funnel_expected(world.ana)

    out, err = _command("--org", "acme", "--full", "--no-progress")
    assert err == "" and "funnel 15" in out


def test_command_since_recomputes_from_that_day_on(org, world):
    _command("--org", "acme", "--full", "--no-progress")
    FunnelDay.objects.for_org(org).filter(day__in=[march(2), march(6)]).delete()
    out, _ = _command("--org", "acme", "--since", "2026-03-05", "--no-progress")
    days = (dt.datetime.now(UTC).date() - march(5)).days + 1
    assert out.startswith(f"Rolled up {days:,} days of acme in ")
    rows = funnel(org)
    assert {key for key in rows if key[0] == march(6)} == {
        key for key in funnel_expected(world.ana) if key[0] == march(6)
    }
    assert not [key for key in rows if key[0] == march(2)]  # before --since: left alone


def test_command_refuses_unknown_organisations_and_conflicting_options(org):
    with pytest.raises(CommandError, match="No organisation with the slug 'nope'"):
        _command("--org", "nope", "--full")
    with pytest.raises(CommandError, match="not both"):
        _command("--org", "acme", "--full", "--since", "2026-03-01")


@pytest.fixture
def other_session():
    settings = connection.settings_dict
    session = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"] or None,
        port=settings["PORT"] or None, password=settings["PASSWORD"] or None,
    )  # fmt: skip
    session.autocommit = True
    yield session
    session.close()


def test_a_second_concurrent_run_is_skipped(org, world, other_session):
    with other_session.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [rollup.LOCK_NAMESPACE, org.pk])
    result = rollup.rollup(org, full=True)
    assert result.skipped
    assert not FunnelDay.objects.for_org(org).exists()
    assert not RollupState.objects.for_org(org).exists()
    with pytest.raises(CommandError, match="Another rollup of acme is running"):
        _command("--org", "acme", "--full", "--no-progress")

    with other_session.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [rollup.LOCK_NAMESPACE, org.pk])
    assert not rollup.rollup(org, full=True).skipped
    assert funnel(org) == funnel_expected(world.ana)
    # The run let go of its own lock: another session can take it now.
    with other_session.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [rollup.LOCK_NAMESPACE, org.pk])
        assert cursor.fetchone()[0] is True


def test_organisations_are_due_once_their_local_midnight_has_passed(org, owner, new_york):
    tokyo = factories.make_org(name="Nippon", owner=owner, slug="nippon", time_zone="Asia/Tokyo")
    fresh = factories.make_org(name="Fresh", owner=owner, slug="fresh")
    # 03:00 UTC on 10 March: the 10th in London and Tokyo, still 23:00 on the 9th in New York (EDT).
    now = utc(10, 3)
    for each, last in ((org, march(9)), (new_york, march(9)), (tokyo, march(10))):
        RollupState.objects.create(organization=each, last_local_date=last)
    assert [o.slug for o in rollup.organizations_due(now)] == ["acme", "fresh"]
    # An hour later it is midnight in New York.
    assert [o.slug for o in rollup.organizations_due(utc(10, 4))] == ["acme", "gotham", "fresh"]

    # A run records its local day: the organisation is not due again until its next midnight.
    rollup.rollup(fresh)
    assert fresh.slug not in [o.slug for o in rollup.organizations_due()]


def test_tasks_queue_the_due_organisations_and_run_one(org, world, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.rollup_organization, "delay", queued.append)
    tasks.rollup_due()
    assert queued == [org.pk]

    first = tasks.rollup_organization(org.pk)
    assert (first["full"], first["skipped"]) == (True, False)
    assert funnel(org) == funnel_expected(world.ana)
    assert tasks.rollup_organization(org.pk)["full"] is False
    assert tasks.rollup_organization(10**9) is None  # an organisation deleted meanwhile
