"""Imports through real Redis and a real Celery worker, including one SIGKILLed mid-job.

A killed worker loses only its uncommitted batch; once its lease lapses, the
sweep hands the job to another worker, which resumes at the checkpoint. Every
row ends up applied exactly once.
"""

import time
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from apps.imports import services
from apps.imports.models import ImportJob
from apps.records.models import Lead, StageEvent
from tests import factories
from tests.imports.helpers import csv_bytes, upload
from tests.workers import Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SETTINGS = "tests.imports.worker_settings"  # IMPORT_BATCH_ROWS = 250


def leads_file(n):
    return csv_bytes(
        [["Email", "First Name", "Record ID"]] + [[f"p{i}@acme.test", f"P{i}", f"R-{i}"] for i in range(n)]
    )


def status(job):
    job.refresh_from_db()
    return job.status


def test_a_worker_runs_a_queued_import_to_the_end():
    org = factories.make_org(slug="acme-import")
    job = upload(org, leads_file(600) + b"broken,Broken,R-x\r\n")
    worker = Worker(DJANGO_SETTINGS_MODULE=SETTINGS).start()
    try:
        services.import_start(org=org, job=job, mode="upsert", match_on="email")  # enqueued on commit
        assert wait_for(lambda: status(job) == "succeeded", timeout=60), worker.log()[-3000:]
    finally:
        worker.stop()
    assert (job.created_count, job.error_count, job.processed_rows) == (600, 1, 601)
    assert Lead.objects.filter(organization=org).count() == 600
    assert job.lease_owner == "" and job.finished_at is not None


def test_a_worker_killed_mid_import_is_replaced_and_no_row_is_applied_twice():
    org = factories.make_org(slug="acme-import-crash")
    rows = 15_000  # 60 batches of 250
    job = upload(org, leads_file(rows))
    first = Worker(DJANGO_SETTINGS_MODULE=SETTINGS).start()
    try:
        services.import_start(org=org, job=job, mode="upsert", match_on="email")

        def some_batches_committed():
            job.refresh_from_db()
            return job.processed_rows >= 1000

        assert wait_for(some_batches_committed, timeout=60, interval=0.02), first.log()[-3000:]
        first.kill()  # SIGKILL, mid-job: a batch may be half written, uncommitted
    finally:
        first.kill()

    job.refresh_from_db()
    assert job.status == "running" and 0 < job.processed_rows < rows
    # Exactly the committed batches are there: never part of a batch.
    committed = job.processed_rows
    assert committed % 250 == 0
    time.sleep(0.5)  # let Postgres notice the dead connection and roll its transaction back
    assert Lead.objects.filter(organization=org).count() == committed
    assert StageEvent.objects.filter(organization=org).count() == committed

    second = Worker(DJANGO_SETTINGS_MODULE=SETTINGS).start()
    try:
        # The lease (IMPORT_LEASE_SECONDS) lapses; beat's sweep, driven by hand here, re-queues the job.
        ImportJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert services.imports_sweep() == [job.pk]
        assert wait_for(lambda: status(job) == "succeeded", timeout=120), second.log()[-3000:]
    finally:
        second.stop()

    assert (job.processed_rows, job.created_count, job.error_count, job.recoveries) == (rows, rows, 0, 1)
    leads = Lead.objects.filter(organization=org)
    assert leads.count() == rows
    assert leads.values("email").distinct().count() == rows
    assert StageEvent.objects.filter(organization=org).count() == rows
    assert not StageEvent.objects.values("lead").annotate(n=Count("id")).filter(n__gt=1).exists()
