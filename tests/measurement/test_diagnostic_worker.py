"""The diagnostic's recompute through real Redis and a real Celery worker: today's
snapshot asked for on commit, and the weekly history the demo queues."""

import pytest
from django.db import transaction

from apps.measurement.diagnostic import snapshot, tasks
from apps.measurement.metrics import engine
from apps.measurement.models import DiagnosticSnapshot
from apps.records import services as record_services
from tests import factories
from tests.workers import Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_takes_todays_snapshot_and_the_weeks_before():
    owner = factories.make_user(email="diag-owner@acme.test")
    org = factories.make_org(slug="acme-diagnostic", owner=owner)
    record_services.lead_create(org=org, email="first@example.test")
    worker = Worker().start()
    try:
        with transaction.atomic():
            snapshot.recompute_later(org)
        today = engine.local_today(org)
        taken = DiagnosticSnapshot.objects.filter(organization=org, taken_on=today)
        assert wait_for(taken.exists, timeout=90), worker.log()[-3000:]
        tasks.diagnostic_history.delay(org.pk, 2)
        weeks = DiagnosticSnapshot.objects.filter(organization=org, taken_on__lt=today)
        assert wait_for(lambda: weeks.count() == 2, timeout=120), worker.log()[-3000:]
    finally:
        worker.stop()
    # The worker's snapshot is the one the page would compute: the same scores, in process.
    mine = snapshot.compute(org)
    stored = taken.get()
    assert stored.scores == mine["scores"] and stored.quadrant == mine["quadrant"]
    assert sorted((today - w.taken_on).days for w in weeks) == [7, 14]
