"""Detail pages: a lead's timeline, time in stage and completeness; custom values; an account's records."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.accounts.models import Membership
from apps.audit.selectors import audit_actor

from .. import quality, stages
from ..models import (
    Customer,
    Lead,
    ObjectType,
    Opportunity,
    Origin,
    StageEvent,
    Touchpoint,
)
from .lists import capped_count, count_display

# --- Lead detail: timeline and time in stage -------------------------------------


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # stage, touch, owner, routing, assignment, sla
    title: str
    who: str = ""
    detail: list[tuple[str, str]] = field(default_factory=list)
    reason: str = ""
    origin: str = ""


def _stage_event_who(event: StageEvent) -> str:
    if event.actor_id:
        return event.actor.display_name
    if event.api_key_prefix:
        return f"API key {event.api_key_prefix}"
    return {Origin.IMPORT: "import", Origin.AUTOMATION: "automation"}.get(event.origin, "system")


def lead_stage_events(*, org, lead) -> list[StageEvent]:
    return list(
        StageEvent.objects.for_org(org).filter(lead=lead).select_related("actor").order_by("at", "id")
    )


_UNKNOWN = object()


def lead_owner_changes(*, org, lead) -> list[TimelineEntry]:
    """Owner changes of a lead, from its audit-trail snapshots (django-pghistory).

    Each update snapshot holds the row after the change, so a change shows as a
    snapshot whose owner differs from the one before it. Lead inserts are not
    snapshotted (see models.py), so the owner a lead was created with is
    unknown: the first snapshot with an owner is shown as "Owner on record".
    """
    events = list(
        Lead.pgh_event_model.objects.filter(pgh_obj_id=lead.pk, organization_id=org.pk)
        .select_related("pgh_context")
        .order_by("pgh_created_at", "pgh_id")
        .values("owner_id", "pgh_created_at", "pgh_context__metadata")
    )
    owner_ids = {e["owner_id"] for e in events if e["owner_id"]}
    names = {
        m.pk: m.user.display_name
        for m in Membership.objects.for_org(org).filter(pk__in=owner_ids).select_related("user")
    }
    entries = []
    previous = _UNKNOWN
    for event in events:
        owner = event["owner_id"]
        who = audit_actor(event["pgh_context__metadata"])
        after = names.get(owner, f"member #{owner}") if owner else "nobody"
        if previous is _UNKNOWN:
            if owner:
                entries.append(
                    TimelineEntry(event["pgh_created_at"], "owner", f"Owner on record: {after}", who)
                )
        elif owner != previous:
            before = names.get(previous, f"member #{previous}") if previous else "nobody"
            entries.append(
                TimelineEntry(
                    event["pgh_created_at"], "owner", "Owner changed", who, [("owner", f"{before} → {after}")]
                )
            )
        previous = owner
    return entries


def lead_timeline(*, org, lead, stage_events=None, stage_names=None, limit: int = 200) -> list[TimelineEntry]:
    """Stage changes, touchpoints, owner changes and routing (offers, SLA clocks) of a lead, newest first."""
    stage_events = lead_stage_events(org=org, lead=lead) if stage_events is None else stage_events
    stage_names = stage_names or {}
    entries = []
    for event in stage_events:
        before = stage_names.get(event.from_stage, event.from_stage)
        after = stage_names.get(event.to_stage, event.to_stage)
        entries.append(
            TimelineEntry(
                at=event.at,
                kind="stage",
                title=f"{before} → {after}" if event.from_stage else f"Entered {after}",
                who=_stage_event_who(event),
                reason=event.reason,
                origin=event.get_origin_display(),
            )
        )
    touches = Touchpoint.objects.for_org(org).filter(lead=lead).order_by("-occurred_at", "-id")[:limit]
    for touch in touches:
        utm = [
            (name, getattr(touch, f"utm_{name}"))
            for name in ("source", "medium", "campaign", "term", "content")
            if getattr(touch, f"utm_{name}")
        ]
        entries.append(
            TimelineEntry(
                at=touch.occurred_at,
                kind="touch",
                title=touch.type.replace("_", " ").capitalize() if touch.type else "Touchpoint",
                detail=[
                    (label, value)
                    for label, value in (
                        ("channel", touch.channel),
                        ("source", touch.source),
                        ("medium", touch.medium),
                        ("campaign", touch.campaign_ref),
                    )
                    if value
                ]
                + [(f"utm_{name}", value) for name, value in utm],
            )
        )
    entries += lead_owner_changes(org=org, lead=lead)
    from apps.execution.selectors.inbox import lead_routing_timeline  # execution builds on records

    entries += lead_routing_timeline(org=org, lead=lead)
    from apps.execution.journeys.timeline import lead_journey_timeline

    entries += lead_journey_timeline(org=org, lead=lead)
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit] if limit else entries


def format_duration(seconds: float) -> str:
    """A short human duration: 3d 4h, 2h 5m, 45m, under a minute."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    days, minutes = divmod(minutes, 60 * 24)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


@dataclass
class StageTime:
    key: str
    name: str
    seconds: float
    entries: int
    current: bool

    @property
    def duration(self) -> str:
        return format_duration(self.seconds)


@dataclass
class StageSummary:
    rows: list[StageTime]
    reentered: list[str]
    skipped: list[str]


def lead_stage_summary(*, stage_events, stage_list, current_key: str, now=None) -> StageSummary:
    """Time in each stage (re-entries summed), re-entered and skipped stages, in funnel order.

    `stage_list` is the organisation's LifecycleStage rows in order; skipped
    stages are judged against its funnel stages only (detours are never "skipped").
    """
    now = now or timezone.now()
    names = {s.key: s.name for s in stage_list}
    order = [s.key for s in stage_list]
    funnel = [s.key for s in stage_list if s.kind == stages.FUNNEL]
    totals = stages.time_in_stage(stage_events, now=now)
    entries = stages.entries(stage_events)
    keys = sorted(totals, key=lambda key: (order.index(key) if key in order else len(order), key))
    return StageSummary(
        rows=[
            StageTime(key, names.get(key, key), totals[key], entries[key], key == current_key) for key in keys
        ],
        reentered=[names.get(key, key) for key in stages.reentered(stage_events)],
        skipped=[names.get(key, key) for key in stages.skipped(stage_events, funnel)],
    )


def lead_completeness(*, org, lead) -> dict:
    rules = quality.rules_for(org=org, object_type=ObjectType.LEAD)
    record = quality.as_record(lead)
    return {"score": lead.completeness, "missing": quality.missing_required(record, rules)}


def custom_values(*, definitions, record) -> list[tuple[str, Any]]:
    """(label, value) of every custom field defined for the record's type, in label order."""
    values = record.custom or {}
    return [(d.label, values.get(d.key)) for d in definitions]


# --- Account detail ----------------------------------------------------------------

DETAIL_ROWS = 50


def account_related(*, org, account) -> dict:
    leads = (
        Lead.objects.for_org(org)
        .filter(account=account, merged_into__isnull=True)
        .select_related("stage", "owner__user")
        .order_by("-captured_at", "-id")
    )
    opportunities = (
        Opportunity.objects.for_org(org)
        .filter(account=account)
        .select_related("owner__user")
        .order_by("-created_date", "-id")
    )
    touchpoints = (
        Touchpoint.objects.for_org(org)
        .filter(account=account)
        .select_related("lead")
        .order_by("-occurred_at", "-id")
    )
    subscriptions = Customer.objects.for_org(org).filter(account=account).order_by("-start_date", "-id")
    return {
        "leads": list(leads[:DETAIL_ROWS]),
        "leads_count": count_display(*capped_count(leads)),
        "opportunities": list(opportunities[:DETAIL_ROWS]),
        "touchpoints": list(touchpoints[:DETAIL_ROWS]),
        "subscriptions": list(subscriptions[:DETAIL_ROWS]),
    }
