"""The sweeper: claim due enrolments, check exit goals, run one step each, advance, all in one transaction.

`sweep()` locks up to `batch` due enrolments of active journeys with
FOR UPDATE SKIP LOCKED (workers never share a row), and, in that same
transaction, writes each step's JourneyStepRun (unique idempotency key:
enrolment, version, step, visit), the step's own rows (an OutboundEmail, a
Task, a Notification, an outbox event for a webhook) and the enrolment's next
step and time. A worker killed at any point either committed all of that or
none of it, so a step is done exactly once; e-mails leave later through
`mail.send_due`, which documents the one case that can repeat.

A claimed enrolment runs its steps one after another while they are due: an
e-mail followed by a wait is one claim, not two. The chain stops at a step
that is not due yet, at the end, at a failure, after MAX_CHAIN steps, and
after an `update` step: that one can meet an exit goal (a stage reached), so
the next claim checks the goals again before anything else runs.

`visit` counts passes through the steps: a branch that jumps back (to the same
or an earlier step) starts a new pass, so within one pass every step runs at
most once and the key stays unique. A step that raises is retried with
back-off, and the enrolment fails after MAX_ATTEMPTS.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.execution import calendars
from apps.execution.models import (
    Enrollment,
    EnrollmentStatus,
    Experiment,
    ExperimentStatus,
    Journey,
    JourneyStatus,
    JourneyStepRun,
    JourneyVersion,
    OutboundEmail,
    StepRunStatus,
    Task,
)
from apps.execution.services import experiments, facts
from apps.records.models import Lead, LifecycleStage

from . import goals, mail
from .steps import END

SWEEP_BATCH = 500
MAX_ATTEMPTS = 5
MAX_PASSES = 20
MAX_CHAIN = 10  # steps one claim may run back to back
RETRY_BASE = timedelta(minutes=1)


@dataclass
class Outcome:
    """What running a step decided: the run's status and detail, and where the enrolment goes next."""

    status: str = StepRunStatus.DONE
    detail: dict = field(default_factory=dict)
    jump: str | None = None  # a step id or END; None: the next step in the list
    resume_at: datetime | None = None  # None: now
    email: dict | None = None  # an OutboundEmail's to, subject, body and from_email
    task: Task | None = None


# What a claimed row carries of its lead: the merge fields and what the exit goals read. Steps that
# call services (update, branch, notify, webhook) load the whole lead again.
LEAD_FIELDS = (
    "organization_id", "email", "first_name", "last_name", "company", "title", "country", "owner_id",
    "account_id", "stage__key", "stage__order", "stage__kind",
)  # fmt: skip


def claim(*, batch: int, now, org=None) -> list[Enrollment]:
    """Lock due enrolments of active journeys, of one organisation if given; in the caller's transaction.

    Journeys and versions are loaded once per batch and shared by their rows, which keeps a
    batch of 500 to a handful of queries and few model instances.
    """
    due = Enrollment.objects.filter(
        status=EnrollmentStatus.ACTIVE, next_run_at__lte=now, journey__status=JourneyStatus.ACTIVE
    )
    if org is not None:
        due = due.filter(organization=org)
    enrollments = list(
        due.select_related("lead__stage")
        .only(*[f.attname for f in Enrollment._meta.concrete_fields], *[f"lead__{f}" for f in LEAD_FIELDS])
        .order_by("next_run_at")
        .select_for_update(skip_locked=True, of=("self",))[:batch]
    )
    if enrollments:
        journeys = Journey.objects.select_related("organization").in_bulk({e.journey_id for e in enrollments})
        versions = JourneyVersion.objects.in_bulk({e.version_id for e in enrollments})
        for enrollment in enrollments:
            enrollment.journey = journeys[enrollment.journey_id]
            enrollment.version = versions[enrollment.version_id]
    return enrollments


def sweep(*, batch: int = SWEEP_BATCH, now=None, org=None) -> int:
    """Run one step for up to `batch` due enrolments; return how many were claimed."""
    now = now or timezone.now()
    with transaction.atomic():
        enrollments = claim(batch=batch, now=now, org=org)
        if enrollments:
            run_batch(enrollments, now=now)
    return len(enrollments)


def run_batch(enrollments: list[Enrollment], *, now) -> None:
    org_ids = {e.organization_id for e in enrollments}
    stage_orders = {
        (org_id, key): order
        for org_id, key, order in LifecycleStage.objects.filter(organization_id__in=org_ids).values_list(
            "organization_id", "key", "order"
        )
    }
    context = _BatchContext(enrollments, now=now)
    exits = goals.reasons_to_exit(enrollments, stage_orders=stage_orders, suppressed=context.suppressed)
    written = _Written()
    for enrollment in enrollments:
        if enrollment.pk in exits:
            _finish(enrollment, EnrollmentStatus.EXITED, now, reason=exits[enrollment.pk])
            continue
        _run_chain(enrollment, now, context, written)
    written.save(now)
    _save_enrollments(enrollments)


def _run_chain(enrollment, now, context, written) -> None:
    """Run the enrolment's due steps back to back (see the module's docstring for where it stops)."""
    steps = enrollment.version.steps
    for _ in range(MAX_CHAIN):
        index = next((i for i, s in enumerate(steps) if s["id"] == enrollment.step_id), None)
        if index is None:  # at the end (or a step the version does not have)
            _finish(enrollment, EnrollmentStatus.COMPLETED, now)
            return
        step = steps[index]
        key = idempotency_key(enrollment)
        outcome = _run_step(enrollment, step, now, context)
        if outcome is None:  # failed and will be retried; the savepoint undid its writes
            return
        written.add(enrollment, step, key, outcome)
        _advance(enrollment, steps, index, outcome, now)
        waits = enrollment.status != EnrollmentStatus.ACTIVE or enrollment.next_run_at > now
        if waits or step["type"] == "update":
            return


class _Written:
    """The rows a batch's steps decided to write, inserted together: step runs, then their e-mails and
    tasks. Each table takes one INSERT ... SELECT over `json_to_recordset` of a single parameter: a
    thousand rows cost one JSON string rather than ten thousand driver-quoted parameters."""

    def __init__(self):
        self.runs, self.emails, self.tasks = [], [], []

    def add(self, enrollment, step, key, outcome):
        self.runs.append(
            {"organization_id": enrollment.organization_id, "enrollment_id": enrollment.pk,
             "step_id": step["id"], "step_type": step["type"], "idempotency_key": key,
             "status": outcome.status, "detail": outcome.detail}
        )  # fmt: skip
        if outcome.email:
            self.emails.append(
                {"key": key, "organization_id": enrollment.organization_id, "lead_id": enrollment.lead_id,
                 **outcome.email}
            )  # fmt: skip
        if outcome.task:
            self.tasks.append((key, outcome.task))

    def save(self, now):
        if not self.runs:
            return
        runs, emails = JourneyStepRun._meta.db_table, OutboundEmail._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {runs} (created_at, updated_at, ran_at, organization_id, enrollment_id, step_id,
                    step_type, idempotency_key, status, detail)
                SELECT %(now)s, %(now)s, %(now)s, v.* FROM json_to_recordset(%(rows)s) AS v(
                    organization_id bigint, enrollment_id bigint, step_id text, step_type text,
                    idempotency_key text, status text, detail jsonb)
                """,  # noqa: S608 (only the table name is interpolated)
                {"now": now, "rows": json.dumps(self.runs)},
            )
            if self.emails:
                cursor.execute(
                    f"""
                    INSERT INTO {emails} (created_at, updated_at, step_run_id, organization_id, lead_id, "to",
                        subject, body, from_email, error)
                    SELECT %(now)s, %(now)s, r.id, v.organization_id, v.lead_id, v."to", v.subject, v.body,
                        v.from_email, ''
                    FROM json_to_recordset(%(rows)s) AS v(key text, organization_id bigint, lead_id bigint,
                        "to" text, subject text, body text, from_email text)
                    JOIN {runs} AS r ON r.idempotency_key = v.key
                    """,  # noqa: S608 (only table names are interpolated)
                    {"now": now, "rows": json.dumps(self.emails)},
                )
        if self.tasks:
            run_ids = dict(
                JourneyStepRun.objects.filter(idempotency_key__in=[key for key, _ in self.tasks]).values_list(
                    "idempotency_key", "pk"
                )
            )
            for key, task in self.tasks:
                task.step_run_id = run_ids[key]
            Task.objects.bulk_create([task for _, task in self.tasks])


def idempotency_key(enrollment: Enrollment) -> str:
    return f"{enrollment.pk}:{enrollment.version.number}:{enrollment.step_id}:{enrollment.visit}"


def _finish(enrollment, status, now, reason=""):
    enrollment.status = status
    enrollment.step_id = ""
    enrollment.next_run_at = None
    enrollment.finished_at = now
    enrollment.exit_reason = reason


def _advance(enrollment, steps, index, outcome, now):
    enrollment.attempts = 0
    enrollment.last_error = ""
    if outcome.jump == END:
        _finish(enrollment, EnrollmentStatus.COMPLETED, now)
        return
    if outcome.jump:
        target = next(i for i, s in enumerate(steps) if s["id"] == outcome.jump)
        if target <= index:
            enrollment.visit += 1
            if enrollment.visit > MAX_PASSES:
                _finish(enrollment, EnrollmentStatus.FAILED, now, reason="Looped too many times")
                return
    else:
        target = index + 1
    if target >= len(steps):
        _finish(enrollment, EnrollmentStatus.COMPLETED, now)
        return
    enrollment.step_id = steps[target]["id"]
    enrollment.next_run_at = outcome.resume_at or now


def _save_enrollments(enrollments: list[Enrollment]) -> None:
    """One UPDATE for the whole batch, its rows in one JSON parameter (see `_Written`)."""
    if not enrollments:
        return
    rows = [
        {"id": e.pk, "status": e.status, "step_id": e.step_id, "next_run_at": _iso(e.next_run_at),
         "finished_at": _iso(e.finished_at), "exit_reason": e.exit_reason[:200], "visit": e.visit,
         "attempts": e.attempts, "last_error": e.last_error[:500]}
        for e in enrollments
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Enrollment._meta.db_table} AS e SET status = v.status, step_id = v.step_id,
                next_run_at = v.next_run_at, finished_at = v.finished_at, exit_reason = v.exit_reason,
                visit = v.visit, attempts = v.attempts, last_error = v.last_error, updated_at = now()
            FROM json_to_recordset(%s) AS v(id bigint, status text, step_id text, next_run_at timestamptz,
                finished_at timestamptz, exit_reason text, visit integer, attempts integer, last_error text)
            WHERE e.id = v.id
            """,  # noqa: S608 (only the table name is interpolated)
            [json.dumps(rows)],
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class _BatchContext:
    """What several steps of one batch share, loaded once: templates, suppressions, schedules."""

    def __init__(self, enrollments, *, now):
        from apps.accounts.models import Membership
        from apps.execution.models import EmailTemplate

        self.owner_times = _OwnerTimes(enrollments, now=now)
        template_ids = {
            s["email"]["template"] for e in enrollments for s in e.version.steps if s["type"] == "email"
        }
        org_ids = {e.organization_id for e in enrollments}
        # Experiments varying an e-mail step of these journeys: (journey id, step id) -> experiment.
        self.experiments = {}
        if template_ids:
            running = Experiment.objects.filter(
                journey_id__in={e.journey_id for e in enrollments},
                status__in=[ExperimentStatus.RUNNING, ExperimentStatus.STOPPED],
            ).exclude(step_id="")
            self.experiments = {(x.journey_id, x.step_id): x for x in running.order_by("id")}
            for experiment in self.experiments.values():
                template_ids |= {v["template"] for v in experiment.variants if v.get("template")}
        self.templates = EmailTemplate.objects.filter(organization_id__in=org_ids).in_bulk(template_ids)
        self.suppressed = goals.suppressed_addresses(enrollments)
        self.owner_names = {}
        owners = {e.lead.owner_id for e in enrollments if e.lead.owner_id}
        if owners and template_ids:
            self.owner_names = {
                m.pk: m.user.display_name
                for m in Membership.objects.filter(pk__in=owners).select_related("user")
            }


class _OwnerTimes:
    """When the owners whose leads wait for "the owner's business hours" in a batch are working.

    An owner works their routing profile's hours in its time zone (else the user's, else the
    organisation's; Monday to Friday 9 to 5 without a profile), never on a holiday of a calendar
    attached to one of their teams (read as local dates in the owner's zone, as routing reads them)
    and never while out of office. The rows are read in three queries for the whole batch; each
    owner's schedule is built when a step first asks, inside that step's error handling, so one
    owner's broken hours fail only their own leads' steps.
    """

    def __init__(self, enrollments, *, now):
        from apps.accounts.models import Membership, TeamMember
        from apps.execution.models import OutOfOffice

        self._schedules: dict[int, tuple[calendars.Schedule, list]] = {}
        self._members, self._holidays, self._absences = {}, defaultdict(list), defaultdict(list)
        owners = {e.lead.owner_id for e in enrollments if e.lead.owner_id and _waits_for_owner(e)}
        if not owners:
            return
        self._members = {
            m.pk: m
            for m in Membership.objects.filter(pk__in=owners).select_related(
                "organization", "user", "rep_profile"
            )
        }
        team_calendars = TeamMember.objects.filter(
            membership_id__in=owners, team__calendar__organization_id=F("organization_id")
        ).values_list("membership_id", "team__calendar__holidays")
        for member_id, holidays in team_calendars:
            self._holidays[member_id].append(holidays)  # [{"date", "name"}, ...], read in get()
        absences = OutOfOffice.objects.filter(
            membership_id__in=owners, organization_id=F("membership__organization_id"), ends_at__gt=now
        ).values_list("membership_id", "starts_at", "ends_at")
        for member_id, starts_at, ends_at in absences:
            self._absences[member_id].append((starts_at, ends_at))

    def get(self, member_id: int) -> tuple[calendars.Schedule, list] | None:
        """The owner's schedule and absences not yet over, or None when the membership is gone."""
        if member_id not in self._schedules:
            member = self._members.get(member_id)
            if member is None:
                return None
            profile = getattr(member, "rep_profile", None)
            schedule = calendars.schedule_from(
                time_zone=facts.rep_time_zone(profile, member, member.organization),
                hours_json=profile.hours if profile else None,
                holidays=[holiday["date"] for days in self._holidays[member_id] for holiday in days],
            )
            self._schedules[member_id] = (schedule, self._absences[member_id])
        return self._schedules[member_id]


def _waits_for_owner(enrollment) -> bool:
    """Whether a step the claim may chain to waits for the owner's hours (any step: a branch can jump)."""
    return any(
        s["type"] == "wait" and s["wait"].get("business_hours") == "owner" for s in enrollment.version.steps
    )


def _run_step(enrollment, step, now, context) -> Outcome | None:
    runner = RUNNERS[step["type"]]
    try:
        if step["type"] == "email":
            return _email_step(enrollment, step, now, context)
        if step["type"] in PURE_STEPS:  # they write nothing themselves: no savepoint needed
            return runner(enrollment, step[step["type"]], now, context)
        # Services read and write the whole lead: load it, not the claim's few fields.
        enrollment.lead = Lead.objects.select_related("stage", "owner__user").get(pk=enrollment.lead_id)
        with transaction.atomic():  # a savepoint: a failing step leaves nothing behind
            return runner(enrollment, step[step["type"]], now, context)
    except Exception as exc:  # one bad step fails its enrolment, never the whole batch
        enrollment.attempts += 1
        enrollment.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if enrollment.attempts >= MAX_ATTEMPTS:
            _finish(enrollment, EnrollmentStatus.FAILED, now, reason=f"Step {step['id']} kept failing")
        else:
            enrollment.next_run_at = now + RETRY_BASE * 2 ** (enrollment.attempts - 1)
        return None


# --- Steps -------------------------------------------------------------------


def _email_step(enrollment, step, now, context) -> Outcome:
    """An e-mail step, with the content of the lead's variant when an experiment varies this step (its
    assignment is recorded once, so a retried step sends the same variant)."""
    experiment = context.experiments.get((enrollment.journey_id, step["id"]))
    key = experiments.assign(experiment, enrollment.lead, at=now) if experiment else None
    if key is None:
        return _email(enrollment, step["email"], now, context)
    outcome = _email(enrollment, {**step["email"], **experiments.variant(experiment, key)}, now, context)
    outcome.detail = {**outcome.detail, "experiment": experiment.pk, "variant": key}
    return outcome


def _email(enrollment, config, now, context) -> Outcome:
    lead = enrollment.lead
    template = context.templates.get(config["template"])
    if template is None or template.organization_id != enrollment.organization_id:
        return Outcome(StepRunStatus.SKIPPED, {"reason": "template deleted"})
    if not lead.email:
        return Outcome(StepRunStatus.SKIPPED, {"reason": "no e-mail address"})
    if (enrollment.organization_id, lead.email) in context.suppressed:
        return Outcome(StepRunStatus.SKIPPED, {"reason": "suppressed"})
    owner_name = context.owner_names.get(lead.owner_id, "")
    subject, body, sender = mail.compose(template=template, lead=lead, owner_name=owner_name)
    if config.get("subject"):  # a variant's own subject line
        subject = " ".join(mail.render(config["subject"], mail.merge_context(lead, owner_name)).split())[:300]
    email = {"to": lead.email, "subject": subject, "body": body, "from_email": sender}
    return Outcome(detail={"template": template.pk, "subject": subject}, email=email)


def _wait(enrollment, config, now, context) -> Outcome:
    if config.get("until"):
        resume = datetime.combine(date.fromisoformat(config["until"]), time(9), tzinfo=UTC)
        resume = max(resume, now)
    elif config.get("business_hours"):
        resume = _next_working_time(enrollment, config["business_hours"], now, context)
    else:
        resume = now + timedelta(
            days=config.get("days", 0), hours=config.get("hours", 0), minutes=config.get("minutes", 0)
        )
    return Outcome(detail={"until": resume.isoformat()}, resume_at=resume)


def _next_working_time(enrollment, whose: str, now, context) -> datetime:
    """The owner's next working moment (see `_OwnerTimes`), or the organisation's default week's when
    the step asks for it or the lead has no owner."""
    owner = (
        context.owner_times.get(enrollment.lead.owner_id)
        if whose == "owner" and enrollment.lead.owner_id
        else None
    )
    if owner is not None:
        schedule, absences = owner
        return calendars.next_open_outside(schedule, now, absences)
    org = enrollment.journey.organization
    return calendars.next_open(calendars.schedule_from(time_zone=org.time_zone, hours_json=None), now)


def _branch(enrollment, config, now, context) -> Outcome:
    from apps.records import conditions, quality

    lead = enrollment.lead
    holds = True
    if config.get("conditions"):
        holds = conditions.matches(config["conditions"], quality.as_record(lead))
    if holds and config.get("segment"):
        holds = _in_segment(lead, config["segment"])
    target = config["then"] if holds else config["else"]
    return Outcome(detail={"matched": holds, "to": target or "next"}, jump=target or None)


def _in_segment(lead, key: str) -> bool:
    from apps.strategy.models import SegmentMembership

    return SegmentMembership.objects.filter(
        organization_id=lead.organization_id, lead=lead, segment__key=key
    ).exists()


def _update(enrollment, config, now, context) -> Outcome:
    from apps.records import services as records
    from apps.records.models import Origin

    org, lead = enrollment.journey.organization, enrollment.lead
    reason = f"Journey: {enrollment.journey.name}"
    if config["field"] == "stage":
        if lead.stage.key == config["value"]:
            return Outcome(StepRunStatus.SKIPPED, {"reason": "already at the stage"})
        records.lead_change_stage(
            org=org, lead=lead, to=config["value"], origin=Origin.AUTOMATION, reason=reason
        )
    else:
        records.lead_update(
            org=org, lead=lead, origin=Origin.AUTOMATION, reason=reason, **{config["field"]: config["value"]}
        )
    return Outcome(detail={"field": config["field"], "value": config["value"]})


def _task(enrollment, config, now, context) -> Outcome:
    assignee_id = enrollment.lead.owner_id or enrollment.journey.owner_id
    task = Task(
        organization_id=enrollment.organization_id,
        lead=enrollment.lead,
        assignee_id=assignee_id,
        title=config["title"],
        due=(now + timedelta(days=config.get("due_days", 0))).date(),
    )
    return Outcome(detail={"title": config["title"], "assignee": assignee_id}, task=task)


def _notify(enrollment, config, now, context) -> Outcome:
    from apps.execution.services.notifications import notify

    journey, lead = enrollment.journey, enrollment.lead
    recipient = lead.owner_id if config["to"] == "owner" else journey.owner_id
    recipient = recipient or journey.owner_id or lead.owner_id
    if recipient is None:
        return Outcome(StepRunStatus.SKIPPED, {"reason": "nobody to notify"})
    notification = notify(
        org=journey.organization,
        recipient_id=recipient,
        kind="journey",
        title=config["title"],
        body=config.get("body") or f"{lead} in {journey.name}",
        lead=lead,
    )
    return Outcome(detail={"notification": notification.pk, "recipient": recipient})


def _webhook(enrollment, config, now, context) -> Outcome:
    """An outbox event aimed at one endpoint: delivered after commit, retried, signed, with a stable id."""
    from apps.integrations.models import WebhookEndpoint
    from apps.integrations.services import outbox_emit

    journey, lead = enrollment.journey, enrollment.lead
    endpoint = WebhookEndpoint.objects.filter(
        organization=journey.organization, pk=config["endpoint"]
    ).first()
    if endpoint is None:
        return Outcome(StepRunStatus.SKIPPED, {"reason": "endpoint deleted"})
    event = outbox_emit(
        org=journey.organization,
        event_type="journey.webhook",
        endpoint=endpoint,
        data={
            "journey": journey.pk,
            "enrollment": enrollment.pk,
            "step": enrollment.step_id,
            "lead": lead.pk,
            "email": lead.email,
            "stage": lead.stage.key,
        },
    )
    return Outcome(detail={"event": event.pk, "endpoint": endpoint.pk})


RUNNERS = {
    "email": _email,
    "wait": _wait,
    "branch": _branch,
    "update": _update,
    "task": _task,
    "notify": _notify,
    "webhook": _webhook,
}
# Steps that only compute rows the batch writes; the others call services and run in a savepoint.
PURE_STEPS = {"email", "wait", "task"}
