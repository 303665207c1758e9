"""Replaying a month of routing through the services, one moment after another."""

import heapq
import itertools
import random
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Greatest

from apps.execution import calendars
from apps.execution.models import (
    Assignment,
    Notification,
    RejectReason,
    RepProfile,
    RoutingDecision,
    RoutingRequest,
    SlaEvent,
    SlaTimer,
)
from apps.execution.models.routing import Trigger
from apps.execution.routing import types
from apps.execution.services import routing, sla
from apps.records.models import Customer, DuplicateCandidate, Lead, Touchpoint

from .configure import EMEA, NORTH_AMERICA

QUEUE_LEFT_FOR = timedelta(hours=18)  # queued this recently: still waiting for the manager
MAX_REROUTES = 3  # a lead nobody can take for days stays in the queue
READ_AFTER = timedelta(minutes=7)
WEAK_REASONS = ["not_icp", "bad_data", "no_budget"]  # what reps say of the weak sources' leads


# Written by the replay with the wall clock as created_at.
REPLAYED = [RoutingDecision, Assignment, SlaTimer, SlaEvent, Notification, Touchpoint]


class Replay:
    """Events in time order; before each one, the SLA sweep at every step due by then."""

    def __init__(self, org, *, rng: random.Random, sla_schedule, end: datetime):
        self.org, self.rng, self.end = org, rng, end
        self.sla_schedule = sla_schedule
        self.queue, self.order = [], itertools.count()
        self.plans: dict[int, dict] = {}
        self.routed: list[tuple[int, datetime]] = []  # (routing request, when it was routed)
        self.marks: list[tuple[datetime, int]] = []  # (moment, last notification id by then)
        self.reasons = {r.key: r for r in RejectReason.objects.for_org(org).filter(is_active=True)}
        self.reasons_used = Counter()
        self.schedules = {}
        # Everything of this organisation's past this id belongs to the replay.
        self.first = {
            model: model.objects.for_org(org).order_by("-pk").values_list("pk", flat=True).first() or 0
            for model in REPLAYED
        }

    # Bookkeeping ---------------------------------------------------------------------------------

    def at(self, when: datetime, action, *args) -> None:
        heapq.heappush(self.queue, (when, next(self.order), action, args))

    def run(self) -> None:
        while self.queue:
            when, _, action, args = heapq.heappop(self.queue)
            if when >= self.end:
                continue  # still to happen: left as it is now
            self.sweep_until(when)
            action(when, *args)
        self.sweep_until(self.end)

    def sweep_until(self, moment: datetime) -> None:
        due = SlaTimer.objects.for_org(self.org).filter(next_run_at__lte=moment).order_by("next_run_at")
        while (step_at := due.values_list("next_run_at", flat=True).first()) is not None:
            sla.sla_sweep(now=step_at)
            self._mark(step_at)

    def _mark(self, when: datetime) -> None:
        """Notifications carry no time of their own: remember which were written at `when`."""
        last = Notification.objects.for_org(self.org).order_by("-pk").values_list("pk", flat=True).first()
        self.marks.append((when, last or 0))

    def restamp(self) -> None:
        """Give every row the replay wrote the moment it was written for."""
        first = self.first
        self._restamp(RoutingRequest, self.routed, "done_at = v.at, updated_at = v.at", key="id")
        RoutingDecision.objects.for_org(self.org).filter(pk__gt=first[RoutingDecision]).update(
            created_at=Subquery(RoutingRequest.objects.filter(pk=OuterRef("request")).values("done_at")[:1]),
            updated_at=Subquery(RoutingRequest.objects.filter(pk=OuterRef("request")).values("done_at")[:1]),
        )
        Assignment.objects.for_org(self.org).filter(pk__gt=first[Assignment]).update(
            created_at=F("offered_at"),
            updated_at=Greatest("offered_at", "accepted_at", "rejected_at", "first_touch_at", "closed_at"),
        )
        SlaTimer.objects.for_org(self.org).filter(pk__gt=first[SlaTimer]).update(
            created_at=F("started_at"), updated_at=Greatest("started_at", "met_at", "breached_at")
        )
        SlaEvent.objects.for_org(self.org).filter(pk__gt=first[SlaEvent]).update(
            created_at=F("at"), updated_at=F("at")
        )
        Touchpoint.objects.for_org(self.org).filter(pk__gt=first[Touchpoint]).update(
            created_at=F("occurred_at"), updated_at=F("occurred_at")
        )
        lows = [first[Notification]] + [last for _, last in self.marks[:-1]]
        ranges = [(low, high, when) for low, (when, high) in zip(lows, self.marks, strict=True) if high > low]
        self._restamp(Notification, ranges, "created_at = v.at, updated_at = v.at", key="range")
        # What happened before today was e-mailed at the time, and read unless it is recent.
        history = Notification.objects.for_org(self.org).filter(
            pk__gt=first[Notification], created_at__lt=self.end
        )
        history.update(emailed_at=F("created_at"))
        history.filter(created_at__lt=self.end - timedelta(days=1)).update(
            read_at=F("created_at") + READ_AFTER
        )

    def _restamp(self, model, rows, set_clause: str, *, key: str) -> None:
        """One UPDATE from a VALUES list: (id, moment) rows, or (low id, high id, moment] ranges."""
        if not rows:
            return
        columns, match = {
            "id": ("v(id, at)", "t.id = v.id"),
            "range": ("v(lo, hi, at)", "t.id > v.lo AND t.id <= v.hi"),
        }[key]
        placeholders = ", ".join(["(" + "%s, " * (len(rows[0]) - 1) + "%s::timestamptz)"] * len(rows))
        with connection.cursor() as cursor:
            cursor.execute(
                # Only a model's table name and fixed column lists are interpolated.
                f"UPDATE {model._meta.db_table} t SET {set_clause} "  # noqa: S608
                f"FROM (VALUES {placeholders}) AS {columns} WHERE {match} AND t.organization_id = %s",
                [*itertools.chain.from_iterable(rows), self.org.pk],
            )

    # Time ------------------------------------------------------------------------------------------

    def _rep_schedule(self, membership_id: int):
        if membership_id not in self.schedules:
            profile = RepProfile.objects.for_org(self.org).filter(membership_id=membership_id).first()
            self.schedules[membership_id] = (
                calendars.merge_holidays(
                    calendars.schedule_from(time_zone=profile.time_zone or self.org.time_zone,
                                            hours_json=profile.hours),
                    self.sla_schedule.holidays,
                )
                if profile else self.sla_schedule
            )  # fmt: skip
        return self.schedules[membership_id]

    def rep_time(self, membership_id: int, start: datetime, minutes: float) -> datetime:
        """`minutes` of the rep's own working time after `start`."""
        return calendars.add_business_time(
            self._rep_schedule(membership_id), start, timedelta(minutes=minutes)
        )

    def sla_time(self, start: datetime, minutes: float) -> datetime:
        return calendars.add_business_time(self.sla_schedule, start, timedelta(minutes=minutes))

    # Events ----------------------------------------------------------------------------------------

    def plan(self, lead: Lead, plan: dict) -> None:
        self.plans[lead.pk] = plan
        trigger = Trigger.CREATED if lead.stage.key == "inquiry" else Trigger.QUALIFIED
        self.at(
            lead.stage_entered_at + timedelta(seconds=self.rng.uniform(1, 4)), self.arrive, lead.pk, trigger
        )

    def arrive(self, when, lead_id: int, trigger: str) -> None:
        lead = Lead.objects.for_org(self.org).get(pk=lead_id)
        if routing.routing_request(org=self.org, lead=lead, trigger=trigger) is not None:
            self.route_pending(lead_id, when, asked=when - timedelta(seconds=self.rng.uniform(1, 3)))

    def route_pending(self, lead_id: int, when: datetime, *, asked: datetime) -> None:
        pending = RoutingRequest.objects.for_org(self.org).filter(
            lead_id=lead_id, status=RoutingRequest.Status.PENDING
        )
        for request in pending.order_by("pk"):
            # Routed within seconds of the request, as the after-commit hook does.
            pending.filter(pk=request.pk).update(created_at=asked, updated_at=asked)
            decision = routing.route_request(request_id=request.pk, now=when)
            self.routed.append((request.pk, when))
            self._mark(when)
            if decision is not None:
                self.decided(decision, when)

    def decided(self, decision: RoutingDecision, when: datetime) -> None:
        plan = self.plans.get(decision.lead_id)
        if plan is None:
            return
        if decision.outcome == types.QUEUED:
            plan["queued"] = plan.get("queued", 0) + 1
            if when >= self.end - QUEUE_LEFT_FOR or plan["queued"] > MAX_REROUTES:
                return
            # The manager works the queue when the team comes in: this morning after a night,
            # the next morning when nobody could take it in working hours.
            opening = self.sla_time(when, 0)
            if opening == when:
                local = when.astimezone(ZoneInfo(self.sla_schedule.time_zone))
                opening = self.sla_time(local.replace(hour=0, minute=0, second=0) + timedelta(days=1), 0)
            self.at(opening + timedelta(minutes=self.rng.uniform(8, 45)), self.reroute, decision.lead_id)
            return
        assignment = decision.assignments.first()
        if assignment is None:
            return
        offered, rep = assignment.offered_at, assignment.assignee_id
        latest = self.sla_time(offered, 44)  # before the reassign step at 45
        if plan.pop("reject", False):
            self.at(
                min(self.rep_time(rep, offered, self.rng.uniform(2, 12)), latest), self.reject, assignment.pk
            )
        elif plan["late"]:
            self.at(min(self.sla_time(offered, self.rng.uniform(17, 40)), latest), self.accept, assignment.pk)
        else:
            self.at(
                min(self.rep_time(rep, offered, self.rng.uniform(1, 9)), latest), self.accept, assignment.pk
            )

    def reroute(self, when, lead_id: int) -> None:
        if Assignment.objects.for_org(self.org).filter(lead_id=lead_id, status__in=Assignment.LIVE).exists():
            return
        lead = Lead.objects.for_org(self.org).get(pk=lead_id)
        routing.routing_request(org=self.org, lead=lead, trigger=Trigger.MANUAL)
        self.route_pending(lead_id, when, asked=when - timedelta(seconds=1))

    def _offer(self, assignment_id: int) -> Assignment | None:
        assignment = (
            Assignment.objects.for_org(self.org)
            .select_related("assignee__user", "lead")
            .get(pk=assignment_id)
        )
        return assignment if assignment.status == Assignment.Status.OFFERED else None

    def accept(self, when, assignment_id: int) -> None:
        assignment = self._offer(assignment_id)
        if assignment is None:
            return
        routing.assignment_accept(
            org=self.org, assignment=assignment, actor=assignment.assignee.user, now=when
        )
        plan = self.plans[assignment.lead_id]
        if plan["touch"] == "fast":
            touch_at = self.rep_time(assignment.assignee_id, when, self.rng.uniform(4, 35))
        elif plan["touch"] == "late":
            touch_at = max(self.sla_time(assignment.offered_at, self.rng.uniform(65, 150)), when)
        else:
            return
        self.at(touch_at, self.touch, assignment.pk)

    def reject(self, when, assignment_id: int) -> None:
        assignment = self._offer(assignment_id)
        if assignment is None:
            return
        routing.assignment_reject(
            org=self.org, assignment=assignment, actor=assignment.assignee.user,
            reason=self.reason_for(assignment.lead), now=when,
        )  # fmt: skip
        self.route_pending(assignment.lead_id, when + timedelta(seconds=self.rng.uniform(0.5, 2)), asked=when)

    def touch(self, when, assignment_id: int) -> None:
        assignment = (
            Assignment.objects.for_org(self.org).select_related("lead", "assignee").get(pk=assignment_id)
        )
        if assignment.status != Assignment.Status.ACCEPTED or assignment.first_touch_at:
            return
        sla.touch_record(
            org=self.org, lead=assignment.lead, actor_membership=assignment.assignee,
            kind=self.rng.choice(["call", "call", "email"]), at=when,
        )  # fmt: skip

    def reason_for(self, lead: Lead) -> RejectReason:
        """A reason that fits the lead; among those that fit, the one given least so far."""
        options = []
        if DuplicateCandidate.objects.for_org(self.org).filter(lead=lead).exists():
            options.append("duplicate")
        if (
            lead.account_id
            and Customer.objects.for_org(self.org)
            .filter(account_id=lead.account_id, churn_date__isnull=True)
            .exists()
        ):
            options.append("existing_customer")
        if lead.country and lead.country not in NORTH_AMERICA + EMEA:
            options.append("wrong_territory")
        options += WEAK_REASONS
        options = [key for key in options if key in self.reasons]
        key = min(options, key=lambda k: (self.reasons_used[k], options.index(k)))
        self.reasons_used[key] += 1
        return self.reasons[key]
