"""Writes for journeys, e-mail templates and suppressions.

Editing changes only the draft; publishing freezes it as JourneyVersion n+1
and points new enrolments at it, while running enrolments keep the version
they started on. Pausing a journey stops the sweeper claiming its enrolments
(their state is untouched); resuming lets them go on where they were.
"""

from django.db import transaction
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.execution.models import (
    EmailTemplate,
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyMotion,
    JourneyStatus,
    JourneyVersion,
    ReentryPolicy,
    Suppression,
)

from . import entry as entries
from . import goals, mail
from .steps import validate_steps

JOURNEY_FIELDS = {
    "name", "motion", "description", "owner", "entry", "exit_goals", "reentry", "reentry_days",
    "suppress_customers", "draft_steps", "campaign",
}  # fmt: skip


def _clean(org, journey: Journey, fields: dict) -> None:
    unknown = set(fields) - JOURNEY_FIELDS
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    if "name" in fields:
        name = str(fields["name"] or "").strip()
        if not name or len(name) > 200:
            raise ServiceError("A journey needs a name (up to 200 characters).", field="name")
        fields["name"] = name
    if "motion" in fields and fields["motion"] not in JourneyMotion.values:
        raise ServiceError(f"Choose one of: {', '.join(JourneyMotion.values)}.", field="motion")
    if "reentry" in fields and fields["reentry"] not in ReentryPolicy.values:
        raise ServiceError(f"Choose one of: {', '.join(ReentryPolicy.values)}.", field="reentry")
    for name in ("owner", "campaign"):
        value = fields.get(name)
        if value is not None and value.organization_id != org.pk:
            raise ServiceError(f"No such {name} in this organisation.", field=name)
    if "entry" in fields:
        fields["entry"] = entries.validate_entry(org=org, entry=fields["entry"] or {})
    if "exit_goals" in fields:
        fields["exit_goals"] = goals.validate_goals(org=org, goals=fields["exit_goals"] or [])
    if "draft_steps" in fields:
        fields["draft_steps"] = validate_steps(org=org, steps=fields["draft_steps"] or [])
    for name, value in fields.items():
        setattr(journey, name, value)
    if journey.reentry == ReentryPolicy.AFTER_DAYS and not journey.reentry_days:
        raise ServiceError("Say after how many days a lead may enter again.", field="reentry_days")


@transaction.atomic
def journey_create(*, org, name: str, motion: str, **fields) -> Journey:
    journey = Journey(organization=org)
    _clean(org, journey, {"name": name, "motion": motion, **fields})
    journey.save()
    return journey


@transaction.atomic
def journey_update(*, org, journey: Journey, **fields) -> Journey:
    if journey.status == JourneyStatus.ARCHIVED:
        raise ServiceError("An archived journey cannot be changed.", field="status")
    _clean(org, journey, fields)
    journey.save()
    return journey


@transaction.atomic
def journey_publish(*, org, journey: Journey, actor=None) -> JourneyVersion:
    """Freeze the draft as the next version; a draft journey starts running."""
    locked = Journey.objects.for_org(org).select_for_update().get(pk=journey.pk)
    if locked.status == JourneyStatus.ARCHIVED:
        raise ServiceError("An archived journey cannot be published.", field="status")
    steps = validate_steps(org=org, steps=locked.draft_steps)
    if not steps:
        raise ServiceError("Add at least one step before publishing.", field="draft_steps")
    last = locked.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = JourneyVersion.objects.create(
        organization=org,
        journey=locked,
        number=last + 1,
        steps=steps,
        published_at=timezone.now(),
        published_by=actor,
    )
    locked.current_version = version
    if locked.status == JourneyStatus.DRAFT:
        locked.status = JourneyStatus.ACTIVE
    locked.save(update_fields=["current_version", "status", "updated_at"])
    journey.current_version, journey.status = version, locked.status
    return version


def _set_status(org, journey: Journey, *, allowed_from: tuple, to: str, message: str) -> Journey:
    with transaction.atomic():
        locked = Journey.objects.for_org(org).select_for_update().get(pk=journey.pk)
        if locked.status not in allowed_from:
            raise ServiceError(message, code="bad_status", field="status")
        locked.status = to
        locked.save(update_fields=["status", "updated_at"])
    journey.status = to
    return journey


def journey_pause(*, org, journey: Journey) -> Journey:
    return _set_status(
        org, journey, allowed_from=(JourneyStatus.ACTIVE,), to=JourneyStatus.PAUSED,
        message="Only a running journey can be paused.",
    )  # fmt: skip


def journey_resume(*, org, journey: Journey) -> Journey:
    return _set_status(
        org, journey, allowed_from=(JourneyStatus.PAUSED,), to=JourneyStatus.ACTIVE,
        message="Only a paused journey can be resumed.",
    )  # fmt: skip


ARCHIVED_EXIT = "archived"


@transaction.atomic
def journey_archive(*, org, journey: Journey) -> Journey:
    """Retire a journey for good: nobody enters it again and its running enrolments leave it
    (exited, reason "archived"), so nothing waits on a journey no sweep will run again.

    An enrolment a worker is stepping right now is locked; the update waits for that step's
    commit and then sees the row as the step left it."""
    _set_status(
        org, journey, allowed_from=(JourneyStatus.DRAFT, JourneyStatus.ACTIVE, JourneyStatus.PAUSED),
        to=JourneyStatus.ARCHIVED, message="The journey is archived already.",
    )  # fmt: skip
    Enrollment.objects.for_org(org).filter(
        journey=journey, status__in=(EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)
    ).update(
        status=EnrollmentStatus.EXITED,
        exit_reason=ARCHIVED_EXIT,
        finished_at=timezone.now(),
        next_run_at=None,
        updated_at=timezone.now(),
    )
    return journey


@transaction.atomic
def journey_delete(*, org, journey: Journey) -> None:
    if journey.enrollments.exists():
        raise ServiceError("The journey has enrolments: archive it instead.", field="status")
    journey.delete()


# --- E-mail templates ----------------------------------------------------------


def _template_fields(fields: dict) -> dict:
    unknown = set(fields) - {"name", "subject", "body", "from_email"}
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    for name, limit in (("name", 200), ("subject", 300)):
        if name in fields:
            fields[name] = str(fields[name] or "").strip()
            if not fields[name] or len(fields[name]) > limit:
                raise ServiceError(f"Required, up to {limit} characters.", field=name)
    if "body" in fields and not str(fields["body"] or "").strip():
        raise ServiceError("An e-mail needs a body.", field="body")
    for name in ("subject", "body"):
        if name in fields:
            mail.check_template(fields[name], name)
    return fields


def email_template_create(*, org, name: str, subject: str, body: str, from_email: str = "") -> EmailTemplate:
    fields = _template_fields({"name": name, "subject": subject, "body": body, "from_email": from_email})
    return EmailTemplate.objects.create(organization=org, **fields)


def email_template_update(*, org, template: EmailTemplate, **fields) -> EmailTemplate:
    for name, value in _template_fields(fields).items():
        setattr(template, name, value)
    template.save()
    return template


def email_template_delete(*, org, template: EmailTemplate) -> None:
    template.delete()


# --- Suppression -----------------------------------------------------------------


def suppression_add(*, org, email: str, reason: str = "unsubscribed") -> Suppression:
    email = (email or "").strip().lower()
    if not email:
        raise ServiceError("An address is required.", field="email")
    suppression, created = Suppression.objects.get_or_create(
        organization=org, email=email, defaults={"reason": reason[:20], "at": timezone.now()}
    )
    if created:
        goals.exit_met(org=org, email=email)
    return suppression


def unsubscribe(*, token: str) -> Suppression | None:
    """The public unsubscribe link: a signed (organisation, address) pair becomes a suppression."""
    from apps.accounts.models import Organization

    parsed = mail.read_unsubscribe_token(token)
    if parsed is None:
        return None
    org = Organization.objects.filter(pk=parsed[0]).first()
    return suppression_add(org=org, email=parsed[1]) if org else None
