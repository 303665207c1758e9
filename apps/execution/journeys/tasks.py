"""Journey beat tasks: enter, run due steps, send e-mails. Each is a sweep the next tick repeats."""

from celery import shared_task

from . import engine, entry, mail

# A tick runs batches until nothing is due or its time is nearly up.
MAX_BATCHES = 40


@shared_task(name="execution.sweep_journeys", time_limit=60, soft_time_limit=50)
def sweep_journeys():
    entry.entry_pass()
    ran = 0
    for _ in range(MAX_BATCHES):
        claimed = engine.sweep()
        ran += claimed
        if claimed < engine.SWEEP_BATCH:
            break
    if ran:
        send_journey_emails.delay()
    return ran


@shared_task(name="execution.send_journey_emails", time_limit=120, soft_time_limit=110)
def send_journey_emails():
    return mail.send_due()
