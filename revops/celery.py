"""The Celery application and the beat schedule.

Every periodic job is listed here, in code, with why it runs at its cadence.
Each entry carries `expires` so that a backlog built while workers were down
is dropped rather than replayed in a burst: every job is a sweep that the next
tick repeats anyway.
"""

import os
from datetime import timedelta

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init, worker_ready

from revops.startup import freeze_startup_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings")

app = Celery("revops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Events are relayed as soon as their transaction commits; this sweep is
    # the safety net for the ones whose on-commit enqueue never reached Redis.
    "relay-outbox": {
        "task": "integrations.relay_outbox",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 5},
    },
    # Webhook retries are rows with a due time, not Celery countdowns, so a
    # Redis restart cannot lose them; this sweep sends whatever is due.
    "sweep-webhook-deliveries": {
        "task": "integrations.sweep_deliveries",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 10},
    },
    # /readyz reports a worker as alive while this heartbeat is fresh.
    "worker-heartbeat": {
        "task": "core.worker_heartbeat",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 30},
    },
    # Expired Idempotency-Key records are already ignored; hourly is enough to keep the table small.
    "purge-idempotency-keys": {
        "task": "core.purge_idempotency_keys",
        "schedule": crontab(minute=41),
        "options": {"expires": 1800},
    },
    # Fuzzy duplicates compare the whole organisation (blocked by name), so they are
    # searched nightly, off-peak; exact e-mail duplicates are flagged on create already.
    "detect-duplicates": {
        "task": "quality.detect_duplicates",
        "schedule": crontab(hour=2, minute=41),
        "options": {"expires": 3600},
    },
    # Quality jobs are enqueued on commit; this re-enqueues any whose enqueue never
    # reached Redis (claiming the job makes a second run a no-op).
    "sweep-quality-jobs": {
        "task": "quality.sweep_jobs",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 60},
    },
    # An import whose worker died stops renewing its lease; this re-queues it from
    # its last committed batch (and re-sends jobs whose queue message was lost).
    "sweep-stalled-imports": {
        "task": "imports.sweep_stalled",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 30},
    },
    # SLA timers are rows with a due time: the sweep is the only thing that acts on
    # them (no ETA tasks), so a breach is acted on within this interval.
    "sweep-sla-timers": {
        "task": "execution.sweep_sla",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 5},
    },
    # Leads are routed in the request that commits them; this routes whatever a
    # crash between that commit and the routing left pending.
    "sweep-routing-requests": {
        "task": "execution.sweep_routing",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 10},
    },
    # Hand-off SLAs are counted in hours, so a minute's delay on a breach alert is
    # nothing; the same sweep creates hand-offs whose on-commit task was lost.
    "sweep-handoffs": {
        "task": "execution.sweep_handoffs",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 60},
    },
    # Journey steps are rows with a due time; 5 s keeps an e-mail or a task within seconds of
    # its step falling due, and an idle tick is one indexed query.
    "sweep-journeys": {
        "task": "execution.sweep_journeys",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 5},
    },
    # Journey e-mails are sent after each sweep that wrote some; this catches leases that
    # expired (a sender that died) and sends whose task never reached Redis.
    "send-journey-emails": {
        "task": "execution.send_journey_emails",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 30},
    },
    # Notification e-mails are enqueued on commit; this re-sends any whose task
    # never reached Redis.
    "sweep-notifications": {
        "task": "execution.sweep_notifications",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 60},
    },
    # Each organisation is rolled up once its own local midnight has passed; the
    # check is cheap, so it runs often and every time zone gets its night.
    "rollup-due": {
        "task": "measurement.rollup_due",
        "schedule": timedelta(minutes=15),
        "options": {"expires": 900},
    },
    # The no man's land is a pass over every open lead, too slow for a dashboard request: its
    # count per stage is a fact, redone this often (a day keeps its last count).
    "count-backlogs": {
        "task": "measurement.count_backlogs",
        "schedule": timedelta(minutes=10),
        "options": {"expires": 600},
    },
    # KPI statuses move with the nightly facts but also with targets and hand-entered values
    # changed during the day; hourly keeps an owner's off-track alert within the hour, and one
    # refresh is one tree evaluation per organisation (a handful of metric queries).
    "kpi-refresh-statuses": {
        "task": "strategy.kpi_refresh_due",
        "schedule": crontab(minute=23),
        "options": {"expires": 1800},
    },
    # Segment membership is kept current on every record write; the nightly full
    # recompute catches what the clock changes (touches in the last 30 days) and bulk writes.
    "segments-nightly": {
        "task": "strategy.segments_nightly",
        "schedule": crontab(hour=4, minute=11),
        "options": {"expires": 3600},
    },
    # Approved change requests apply on their effective date; a minute is the promised precision.
    "governance-apply-due-changes": {
        "task": "governance.apply_due_changes",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 60},
    },
    # A held review's digest is sent by a task queued on commit; this sweep sends any whose task never
    # ran (a worker or Redis down). Sending is claimed first, so nothing goes out twice.
    "governance-review-digests": {
        "task": "governance.review_digest_sweep",
        "schedule": timedelta(minutes=10),
        "options": {"expires": 600},
    },
    # A quarterly strategy review falls due 90 days after the last; operators are reminded once.
    "strategy-review-reminders": {
        "task": "strategy.review_reminders",
        "schedule": crontab(hour=7, minute=5),
        "options": {"expires": 3600},
    },
    # The growth diagnostic: each organisation's snapshot of its local day, taken once its local night
    # (and the rollup) has passed; hourly so every time zone gets its night, and cheap when nothing is due.
    "diagnostic-nightly": {
        "task": "measurement.diagnostic_nightly",
        "schedule": crontab(minute=37),
        "options": {"expires": 3600},
    },
    # Relayed outbox rows and old delivery logs are pruned nightly, off-peak.
    "prune-integration-logs": {
        "task": "integrations.prune",
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 3600},
    },
}


@worker_ready.connect
def _heartbeat_on_start(sender, **kwargs):
    # /readyz turns green as soon as a worker is up, not one beat interval later.
    from apps.core.tasks import worker_heartbeat

    worker_heartbeat()


# Each pool process, once started (see revops.startup).
worker_process_init.connect(freeze_startup_objects, weak=False)
