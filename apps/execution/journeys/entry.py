"""How leads get into a journey: by hand, by API event, or by what happened to them.

`enroll` applies the rules every entry shares: the journey runs, the lead is not
already in it, the re-entry policy allows another go, and the lead is not
suppressed (an unsubscribed address; a current customer, for journeys that keep
customers out). Stage changes, segment joins and touchpoints are picked up by
`entry_pass`, run by the sweeper task, so ingest pays nothing for journeys.

The pass reads each journey's source rows in (created_at, id) order from where
its version's watermark (`entry_read_at`, `entry_read_id`, in the database, so
it survives any restart) left off, and moves the watermark in the transaction
that writes the enrolments: a row is read once, whatever crashes. It reads only
up to a horizon before which every row is settled: the start of the oldest
transaction still running in the database (a row it writes will carry a later
time), less CLOCK_SKEW for servers whose clocks run a little behind the
database's. Only transactions that have written count (`backend_xid`): one
that has not will stamp its rows later than now. A row committed late by a long
transaction (an import) is therefore read late, never skipped, and while such
a transaction runs, entries wait for it.
"""

from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.execution.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
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
CLOCK_SKEW = timedelta(seconds=30)
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
    """Enrol leads from the stage events, segment joins and touchpoints each journey has not read yet."""
    now = now or timezone.now()
    enrolled = 0
    journeys = Journey.objects.filter(
        status=JourneyStatus.ACTIVE, entry__type__in=["stage_reached", "segment_joined", "touchpoint"]
    ).select_related("organization")
    for journey in journeys:
        with transaction.atomic():
            enrolled += _enter(journey, horizon=settled_horizon(), now=now)
    return enrolled


def settled_horizon():
    """A moment before which every row that will ever be committed is visible now."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT least(clock_timestamp(), min(xact_start)) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL
            """
        )
        return cursor.fetchone()[0] - CLOCK_SKEW


def _enter(journey, *, horizon, now) -> int:
    """One journey's new source rows, under a lock on its version (a second sweeper skips it)."""
    from apps.records.models import Lead

    version = (
        JourneyVersion.objects.select_for_update(skip_locked=True)
        .filter(pk=journey.current_version_id)
        .first()
    )
    if version is None:
        return 0
    journey.current_version = version
    rows = _new_rows(journey, version, horizon)
    enrolled = 0
    leads = Lead.objects.in_bulk({lead_id for _, _, lead_id in rows if lead_id})
    for _, _, lead_id in rows:
        lead = leads.get(lead_id)
        if lead is not None and lead.merged_into_id is None:
            enrolled += bool(try_enroll(journey=journey, lead=lead, source=journey.entry["type"], now=now))
    if len(rows) == PASS_LIMIT:  # more to read: resume after the last row
        version.entry_read_at, version.entry_read_id = rows[-1][0], rows[-1][1]
    elif version.entry_read_at is None or horizon > version.entry_read_at:  # read everything settled
        version.entry_read_at, version.entry_read_id = horizon, 0
    version.save(update_fields=["entry_read_at", "entry_read_id"])
    return enrolled


def _new_rows(journey, version, horizon) -> list[tuple]:
    """(created_at, id, lead id) of the entry's source rows after the watermark and before the horizon."""
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
    if version.entry_read_at is None:
        rows = rows.filter(created_at__gte=version.published_at)
    else:
        at, pk = version.entry_read_at, version.entry_read_id
        rows = rows.filter(Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk))
    rows = rows.filter(created_at__lt=horizon).order_by("created_at", "pk")
    return list(rows.values_list("created_at", "pk", "lead_id")[:PASS_LIMIT])
