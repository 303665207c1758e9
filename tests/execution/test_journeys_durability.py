"""Exactly-once journey steps: a failure between a step's writes and the commit leaves nothing, and a
real Celery worker SIGKILLed in the middle of a sweep sends no e-mail twice."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail as outbox
from django.db.models import Count
from django.utils import timezone

from apps.execution.journeys import engine, entry, mail
from apps.execution.journeys.tasks import send_journey_emails, sweep_journeys
from apps.execution.models import Enrollment, EnrollmentStatus, JourneyStepRun, OutboundEmail, Task
from apps.records.models import Lead, LifecycleStage
from revops.celery import app as celery_app
from tests.execution.journey_helpers import T0, journey, lead, template
from tests.workers import Worker, wait_for


def _email_then_task(org):
    hello = template(org)
    return journey(
        org,
        [
            {"id": "e", "type": "email", "email": {"template": hello.pk}},
            {"id": "t", "type": "task", "task": {"title": "Call"}},
        ],
    )


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_email_row_is_written_rolls_the_whole_step_back(org, monkeypatch):
    made = _email_then_task(org)
    enrollment = entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    real = engine._save_enrollments

    def die_before_commit(enrollments):
        assert OutboundEmail.objects.count() == 1  # written, in the open transaction
        raise SystemExit("worker died")

    monkeypatch.setattr(engine, "_save_enrollments", die_before_commit)
    with pytest.raises(SystemExit):
        engine.sweep(now=T0)
    assert not OutboundEmail.objects.exists() and not JourneyStepRun.objects.exists()
    enrollment.refresh_from_db()
    assert enrollment.step_id == "e" and enrollment.next_run_at == T0

    monkeypatch.setattr(engine, "_save_enrollments", real)
    assert [engine.sweep(now=T0) for _ in range(2)] == [1, 0]  # the e-mail and the task, in one claim
    assert OutboundEmail.objects.count() == 1 and Task.objects.count() == 1
    assert mail.send_due() == 1 and mail.send_due() == 0
    assert len(outbox.outbox) == 1


@pytest.mark.django_db
def test_the_sender_resends_only_an_email_whose_lease_expired_unsent(org):
    made = _email_then_task(org)
    entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    engine.sweep(now=T0)
    now = timezone.now()
    assert mail.claim_unsent(now=now) != []
    assert mail.claim_unsent(now=now + timedelta(minutes=1)) == []  # leased to the first sender
    assert (
        len(mail.claim_unsent(now=now + mail.SEND_LEASE + timedelta(seconds=1))) == 1
    )  # it died: taken over
    assert mail.send_due() == 0  # the new lease is still fresh
    email = OutboundEmail.objects.get()
    assert mail.send_claimed([email.pk]) == 1 and mail.send_claimed([email.pk]) == 0
    assert len(outbox.outbox) == 1


ENROLMENTS = 4 * engine.SWEEP_BATCH
WORKER_ENV = {"EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_sweep_sends_no_email_twice(org):
    made = _email_then_task(org)
    inquiry = LifecycleStage.objects.get(organization=org, key="inquiry")
    leads = Lead.objects.bulk_create(
        [Lead(organization=org, email=f"kill{i}@example.com", stage=inquiry) for i in range(ENROLMENTS)]
    )
    due = timezone.now() - timedelta(minutes=1)
    Enrollment.objects.bulk_create(
        [
            Enrollment(
                organization=org, journey=made, version=made.current_version, lead=person, step_id="e",
                next_run_at=due, entered_at=due, source="manual",
            )
            for person in leads
        ]
    )  # fmt: skip
    celery_app.control.purge()

    worker = Worker(**WORKER_ENV).start()
    try:
        sweep_journeys.delay()
        # A batch commits at a time: once the first is visible, the worker is inside the next.
        assert wait_for(lambda: JourneyStepRun.objects.exists(), timeout=120, interval=0.05), worker.log()[
            -3000:
        ]
        worker.kill()
    finally:
        worker.kill()

    emails = OutboundEmail.objects.count()
    email_runs = JourneyStepRun.objects.filter(step_id="e").count()
    assert 0 < JourneyStepRun.objects.count() < 2 * ENROLMENTS, (
        "the sweep was not interrupted; add enrolments"
    )
    assert emails == email_runs  # no step without its e-mail, no e-mail without its step
    assert Enrollment.objects.exclude(step_id="e").count() == email_runs  # and each one advanced
    assert not OutboundEmail.objects.filter(sent_at__isnull=False).exists()

    worker = Worker(**WORKER_ENV).start()
    try:
        finished = wait_for(
            lambda: (
                not Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE).exists()
                and not OutboundEmail.objects.filter(sent_at__isnull=True).exists()
            ),
            timeout=240,
            interval=2,
            tick=lambda: (sweep_journeys.delay(), send_journey_emails.delay()),
        )
        assert finished, worker.log()[-3000:]
    finally:
        worker.stop()

    assert engine.sweep() == 0 and mail.send_due() == 0  # nothing left over, nothing to repeat
    per_lead = Counter(
        OutboundEmail.objects.values("lead_id").annotate(n=Count("id")).values_list("n", flat=True)
    )
    assert per_lead == {1: ENROLMENTS}
    assert OutboundEmail.objects.filter(sent_at__isnull=False).count() == ENROLMENTS
    assert Task.objects.count() == ENROLMENTS
    keys = JourneyStepRun.objects.values_list("idempotency_key", flat=True)
    assert len(set(keys)) == len(keys) == 2 * ENROLMENTS
