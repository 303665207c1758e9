"""What a change would have done over the last 30 days, before anyone approves it.

Routing: the organisation's leads of the last 30 days replayed by the routing simulator twice, under
the current rules and under the proposed ones, from the same starting point (so the two runs differ
only by the rules): how many leads would get another owner or come from another queue, and each rep's
load under both. SLA: the policy's timers of the last 30 days judged against the current and the
proposed target from their recorded timestamps (start, met), in business time of each version's
calendar. Other subjects: the diff alone.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from apps.execution import calendars
from apps.execution.models import BusinessCalendar, SlaTimer
from apps.execution.routing import types
from apps.execution.services import simulation
from apps.execution.services.sla import schedule_for

from . import base, registry, routing, sla

DAYS = 30


def window(org, now: datetime) -> tuple:
    today = timezone.localdate(now, timezone=ZoneInfo(org.time_zone))
    return today - timedelta(days=DAYS - 1), today


def routing_impact(org, target, current: dict, proposed: dict, *, now: datetime) -> dict:
    start, end = window(org, now)
    before = simulation.simulate_period(
        org=org, start=start, end=end, version=routing.unsaved_version(org, target, current)
    )
    after = simulation.simulate_period(
        org=org, start=start, end=end, version=routing.unsaved_version(org, target, proposed)
    )

    def owner(lead):
        return lead.decision.assignee if lead.decision.outcome == types.ASSIGNED else None

    owner_changed = pool_changed = 0
    for old, new in zip(before.leads, after.leads, strict=True):
        owner_changed += owner(old) != owner(new)
        pool_changed += old.decision.pool != new.decision.pool
    names = {**before.names, **after.names}
    people = set(before.load) | set(after.load)
    load = [
        {"member": pk, "name": names.get(pk, f"Member {pk}"), "before": before.load.get(pk, 0),
         "after": after.load.get(pk, 0), "change": after.load.get(pk, 0) - before.load.get(pk, 0)}
        for pk in people
    ]  # fmt: skip
    load.sort(key=lambda row: (-abs(row["change"]), row["name"]))
    found = routing.policy(org, target)
    return {
        "kind": "routing",
        "object": found.object_type if found else "lead",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "leads": len(after.leads),
        "owner_changed": owner_changed,
        "pool_changed": pool_changed,
        "unassigned_before": sum(1 for lead in before.leads if owner(lead) is None),
        "unassigned_after": sum(1 for lead in after.leads if owner(lead) is None),
        "load": load,
    }


def _judge(timers, schedule, target_minutes: int, now: datetime) -> dict:
    """Met, breached and still open against `target_minutes` of business time from each start."""
    counts = {"target_minutes": target_minutes, "met": 0, "breached": 0, "open": 0}
    limit = timedelta(minutes=target_minutes)
    for timer in timers:
        end = timer.met_at or now
        elapsed = calendars.business_time_between(schedule, timer.started_at, end)
        if elapsed > limit:
            counts["breached"] += 1
        elif timer.met_at is not None:
            counts["met"] += 1
        else:
            counts["open"] += 1
    return counts


def sla_impact(org, target, current: dict, proposed: dict, *, now: datetime) -> dict:
    start, end = window(org, now)
    since, _ = simulation.period_bounds(org, start, end)
    policy = sla.policy(org, target)
    timers = []
    if policy is not None:
        timers = list(
            SlaTimer.objects.for_org(org)
            .filter(policy=policy, started_at__gte=since, started_at__lte=now)
            .exclude(status=SlaTimer.Status.CANCELLED)
            .order_by("started_at")
        )
    old_schedule = schedule_for(policy) if policy is not None else calendars.ALWAYS
    new_schedule = calendars.ALWAYS
    if proposed.get("calendar") is not None:
        calendar = BusinessCalendar.objects.for_org(org).filter(pk=proposed["calendar"]).first()
        if calendar is not None:
            new_schedule = calendars.schedule_from(
                time_zone=calendar.time_zone, hours_json=calendar.hours, holidays=calendar.holiday_dates
            )
    return {
        "kind": "sla",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "timers": len(timers),
        "before": _judge(timers, old_schedule, current.get("target_minutes") or 0, now),
        "after": _judge(timers, new_schedule, proposed["target_minutes"], now),
        "clock_changed": bool(current.get("clock")) and current.get("clock") != proposed.get("clock"),
    }


def impact(org, subject: str, target, current: dict, proposed: dict, *, now: datetime | None = None) -> dict:
    """The impact document stored on the request (`computed_at` says when)."""
    now = now or timezone.now()
    lines = base.diff(current, proposed)
    result = {
        "computed_at": now.isoformat(),
        "diff_lines": sum(1 for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---")),
    }
    if subject == registry.routing.SUBJECT:
        result.update(routing_impact(org, target, current, proposed, now=now))
    elif subject == registry.sla.SUBJECT:
        result.update(sla_impact(org, target, current, proposed, now=now))
    else:
        result["kind"] = "diff"
    return result
