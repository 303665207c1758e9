"""How leads get into a journey: by hand, by API event, or by what happened to them.

`enroll` applies the rules every entry shares: the journey runs, the lead is not
already in it, the re-entry policy allows another go, and the lead is not
suppressed (an unsubscribed address; a current customer, for journeys that keep
customers out). Stage changes, segment joins and touchpoints are picked up by
`entry_pass`, run by the sweeper task, which reads rows newer than a watermark
kept per journey version, so ingest pays nothing for journeys. A lost watermark
(a cache flush) restarts from the version's publication; re-reading old rows is
harmless, since the re-entry policy refuses a second enrolment (except under
"always").
"""

from datetime import timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.execution.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    ReentryPolicy,
    Suppression,
)
from apps.records.models import Customer, StageEvent, Touchpoint

ENTRY_TYPES = {
    "manual": "Manual or API enrolment only",
    "stage_reached": "A lead reaches a stage",
    "segment_joined": "A lead joins a segment",
    "touchpoint": "A touchpoint of a type",
    "event": "An API event by name",
}
PASS_LIMIT = 1000
RUNNING = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)


def validate_entry(*, org, entry) -> dict:
    from apps.records.models import LifecycleStage

    if not isinstance(entry, dict) or entry.get("type", "manual") not in ENTRY_TYPES:
        raise ServiceError("Choose how leads enter the journey.", field="entry.type")
    kind = entry.get("type", "manual")
    if kind == "stage_reached":
        if not LifecycleStage.objects.for_org(org).filter(key=entry.get("stage")).exists():
            raise ServiceError(f"There is no stage {entry.get('stage')!r}.", field="entry.stage")
        return {"type": kind, "stage": entry["stage"]}
    if kind == "segment_joined":
        from apps.strategy.models import Segment

        if not Segment.objects.for_org(org).filter(key=entry.get("segment")).exists():
            raise ServiceError(f"There is no segment {entry.get('segment')!r}.", field="entry.segment")
        return {"type": kind, "segment": entry["segment"]}
    if kind in ("touchpoint", "event"):
        key = "touch_type" if kind == "touchpoint" else "name"
        value = str(entry.get(key) or "").strip()
        if not value or len(value) > 60:
            raise ServiceError(
                "Name the touchpoint type or event (up to 60 characters).", field=f"entry.{key}"
            )
        return {"type": kind, key: value}
    return {"type": "manual"}


def refusal(*, journey: Journey, lead, now) -> str:
    """Why this lead may not enter now ("" when it may)."""
    if (
        lead.email
        and Suppression.objects.filter(organization_id=journey.organization_id, email=lead.email).exists()
    ):
        return "suppressed"
    if journey.suppress_customers and lead.account_id and is_customer(lead.account_id, now.date()):
        return "customer"
    previous = Enrollment.objects.filter(journey=journey, lead=lead)
    if previous.filter(status__in=RUNNING).exists():
        return "already_enrolled"
    if journey.reentry == ReentryPolicy.NEVER and previous.exists():
        return "no_reentry"
    if journey.reentry == ReentryPolicy.AFTER_DAYS:
        cutoff = now - timedelta(days=journey.reentry_days or 0)
        if previous.filter(finished_at__gt=cutoff).exists():
            return "too_soon"
    return ""


REFUSALS = {
    "suppressed": "The lead's address is suppressed (unsubscribed).",
    "customer": "The lead's account is a customer and this journey keeps customers out.",
    "already_enrolled": "The lead is already in this journey.",
    "no_reentry": "The lead has been through this journey and it allows no re-entry.",
    "too_soon": "The lead left this journey too recently to enter again.",
    "not_running": "The journey is not running: publish it (or resume it) first.",
}


def is_customer(account_id: int, today) -> bool:
    return (
        Customer.objects.filter(account_id=account_id, start_date__lte=today)
        .exclude(churn_date__lte=today)
        .exists()
    )


def enroll(*, org, journey: Journey, lead, source: str = "manual", now=None) -> Enrollment:
    if journey.organization_id != org.pk:
        raise ServiceError("No such journey in this organisation.", field="journey")
    if lead.organization_id != org.pk:
        raise ServiceError("No such lead in this organisation.", field="lead")
    if journey.status != JourneyStatus.ACTIVE or journey.current_version is None:
        raise ServiceError(REFUSALS["not_running"], code="not_running", field="journey")
    now = now or timezone.now()
    reason = refusal(journey=journey, lead=lead, now=now)
    if reason:
        raise ServiceError(REFUSALS[reason], code=reason, field="lead")
    version = journey.current_version
    steps = version.steps
    try:
        with transaction.atomic():
            return Enrollment.objects.create(
                organization=org,
                journey=journey,
                version=version,
                lead=lead,
                step_id=steps[0]["id"] if steps else "",
                next_run_at=now,
                entered_at=now,
                source=source[:40],
            )
    except IntegrityError:  # a concurrent enrolment won the unique "one running" constraint
        raise ServiceError(REFUSALS["already_enrolled"], code="already_enrolled", field="lead") from None


def try_enroll(*, journey, lead, source, now) -> Enrollment | None:
    try:
        return enroll(org=journey.organization, journey=journey, lead=lead, source=source, now=now)
    except ServiceError:
        return None


def enroll_event(*, org, name: str, lead, now=None) -> list[Enrollment]:
    """An API event: enrol the lead in every running journey that enters on this event name."""
    journeys = Journey.objects.for_org(org).filter(
        status=JourneyStatus.ACTIVE, entry__type="event", entry__name=name
    )
    now = now or timezone.now()
    return [e for j in journeys if (e := try_enroll(journey=j, lead=lead, source="event", now=now))]


def entry_pass(*, now=None) -> int:
    """Enrol leads from stage events, segment joins and touchpoints newer than each journey's watermark."""
    now = now or timezone.now()
    enrolled = 0
    journeys = Journey.objects.filter(
        status=JourneyStatus.ACTIVE, entry__type__in=["stage_reached", "segment_joined", "touchpoint"]
    ).select_related("current_version", "organization")
    for journey in journeys:
        rows = _new_rows(journey)
        if not rows:
            continue
        from apps.records.models import Lead

        leads = Lead.objects.in_bulk({lead_id for _, lead_id in rows if lead_id})
        for _, lead_id in rows:
            lead = leads.get(lead_id)
            if lead is not None and lead.merged_into_id is None:
                enrolled += bool(
                    try_enroll(journey=journey, lead=lead, source=journey.entry["type"], now=now)
                )
        cache.set(_watermark_key(journey), rows[-1][0], timeout=None)
    return enrolled


def _watermark_key(journey) -> str:
    return f"journeys:entry:{journey.pk}:{journey.current_version_id}"


def _new_rows(journey) -> list[tuple[int, int]]:
    """(row id, lead id) of the entry's source rows after the watermark, oldest first."""
    entry, org_id = journey.entry, journey.organization_id
    if entry["type"] == "stage_reached":
        rows = StageEvent.objects.filter(organization_id=org_id, to_stage=entry["stage"])
    elif entry["type"] == "touchpoint":
        rows = Touchpoint.objects.filter(organization_id=org_id, type=entry["touch_type"], lead__isnull=False)
    else:
        from apps.strategy.models import SegmentMembership

        rows = SegmentMembership.objects.filter(
            organization_id=org_id, segment__key=entry["segment"], lead__isnull=False
        )
    watermark = cache.get(_watermark_key(journey))
    if watermark is None:
        rows = rows.filter(created_at__gte=journey.current_version.published_at)
    else:
        rows = rows.filter(pk__gt=watermark)
    return list(rows.order_by("pk").values_list("pk", "lead_id")[:PASS_LIMIT])
