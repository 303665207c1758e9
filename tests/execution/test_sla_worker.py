"""The SLA sweep on a real Celery worker, SIGKILLed in the middle of a sweep.

Hundreds of overdue timers make one sweep take several batches. The worker is
killed once the first batch has committed; the batch it was in the middle of
rolls back whole. A new worker finishes the job, and every escalation step —
with its notification and its `sla.breached` outbox event — exists exactly once.
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.roles import Role
from apps.execution.models import Assignment, Notification, SlaEvent, SlaPolicy, SlaTimer
from apps.execution.services import sla
from apps.execution.tasks import sweep_sla
from apps.integrations.models import OutboxEvent
from apps.records.models import Lead, LifecycleStage
from revops.celery import app as celery_app
from tests.workers import Worker, wait_for

from .conftest import make_rep, pool_with_reps

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Two batches: the kill lands in the second, after the first has committed.
TIMERS = 2 * sla.SWEEP_BATCH
STEPS = ["remind", "breach", "alert_manager"]
# Notification e-mails are not what is under test; the dummy backend drops them quietly.
WORKER_ENV = {"EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}


def overdue_timers(org, rep, pool, policy, n):
    """`n` leads offered to `rep` an hour ago, each with a running timer under `policy`.

    The first timer is started by the real service; the rest copy its frozen
    ladder, which is how the sweep finds them (bulk rows keep the setup fast).
    """
    offered_at = timezone.now() - timedelta(hours=1)
    inquiry = LifecycleStage.objects.get(organization=org, key="inquiry")
    leads = Lead.objects.bulk_create(
        [Lead(organization=org, email=f"overdue{i}@example.com", stage=inquiry) for i in range(n)]
    )
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(organization=org, lead=lead, assignee=rep, pool=pool, offered_at=offered_at)
            for lead in leads
        ]
    )
    (template,) = sla.timers_start(org=org, assignment=assignments[0], lead=leads[0])
    SlaTimer.objects.bulk_create(
        [
            SlaTimer(
                organization=org,
                policy=policy,
                assignment=assignment,
                lead=assignment.lead,
                assignee=rep,
                clock=template.clock,
                started_at=template.started_at,
                due_at=template.due_at,
                ladder=template.ladder,
                next_run_at=template.next_run_at,
            )
            for assignment in assignments[1:]
        ]
    )


def steps_per_timer() -> Counter:
    """How many timers have how many applied steps."""
    return Counter(SlaEvent.objects.values("timer_id").annotate(n=Count("id")).values_list("n", flat=True))


def test_worker_killed_mid_sweep_applies_every_step_exactly_once(org):
    rep = make_rep(org, "Ana Ruiz")
    manager = make_rep(org, "Max Manager", role=Role.SALES_MANAGER)
    team = accounts.team_create(org=org, name="Inbound", manager=manager, members=[rep])
    pool = pool_with_reps(org, [rep], team=team)
    policy = SlaPolicy.objects.create(
        organization=org,
        name="Accept in 10",
        target_minutes=10,
        escalation=sla.clean_escalation(
            target_minutes=10,
            steps=[{"at_minutes": 5, "action": "remind"}, {"at_minutes": 15, "action": "alert_manager"}],
        ),
    )
    overdue_timers(org, rep, pool, policy, TIMERS)
    assert SlaTimer.objects.filter(next_run_at__lte=timezone.now()).count() == TIMERS
    celery_app.control.purge()  # nothing queued by earlier tests runs on this worker

    worker = Worker(**WORKER_ENV).start()
    try:
        sweep_sla.delay()
        # The sweep commits a batch at a time: once the first is visible, it is inside the next.
        assert wait_for(lambda: SlaEvent.objects.exists(), timeout=120, interval=0.05), worker.log()[-3000:]
        worker.kill()
    finally:
        worker.kill()

    applied = SlaEvent.objects.count()
    # Killed mid-sweep: some timers done, some not, and none half done.
    assert 0 < applied < len(STEPS) * TIMERS, "the sweep was not interrupted; add timers"
    assert set(steps_per_timer()) == {len(STEPS)}
    assert SlaTimer.objects.filter(next_run_at__isnull=False).count() == TIMERS - applied // len(STEPS)
    assert Notification.objects.filter(kind__startswith="sla.").count() == applied
    assert OutboxEvent.objects.filter(event_type="sla.breached").count() == applied // len(STEPS)

    worker = Worker(**WORKER_ENV).start()
    try:
        # Beat's 5-second sweep, driven by hand.
        finished = wait_for(
            lambda: not SlaTimer.objects.filter(next_run_at__isnull=False).exists(),
            timeout=240,
            interval=5,
            tick=sweep_sla.delay,
        )
        assert finished, worker.log()[-3000:]
    finally:
        worker.stop()

    assert sla.sla_sweep() == 0  # nothing left over, nothing to repeat
    assert SlaEvent.objects.count() == len(STEPS) * TIMERS
    assert steps_per_timer() == {len(STEPS): TIMERS}
    assert set(SlaEvent.objects.values_list("step", "action").distinct()) == set(enumerate(STEPS))
    kinds = Notification.objects.values("kind", "recipient_id").annotate(n=Count("id"))
    assert {(k["kind"], k["recipient_id"], k["n"]) for k in kinds} == {
        ("sla.reminder", rep.pk, TIMERS),
        ("sla.breached", rep.pk, TIMERS),
        ("sla.escalated", manager.pk, TIMERS),
    }
    breaches = OutboxEvent.objects.filter(event_type="sla.breached")
    assert breaches.count() == TIMERS
    assert len({event.payload["data"]["timer"] for event in breaches}) == TIMERS
    assert set(SlaTimer.objects.values_list("status", "next_step").distinct()) == {("breached", len(STEPS))}
