"""The demo (small) ends with its diagnostic taken: today's snapshot, and six weekly ones before it by a
worker."""

import io
import time

import pytest
from django.core.management import call_command

from apps.accounts.models import Organization
from apps.measurement.diagnostic import snapshot, tasks
from apps.measurement.metrics import engine
from apps.measurement.models import DiagnosticSnapshot

pytestmark = pytest.mark.django_db


def test_seed_demo_takes_the_diagnostic_with_a_trend(django_capture_on_commit_callbacks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks() as queued:
        call_command("seed_demo", scale=0.05, stdout=out)
    org = Organization.objects.get(slug="northwind")
    snapshots = DiagnosticSnapshot.objects.for_org(org)
    assert snapshots.count() == 1  # today's; the past weeks are queued for a worker
    assert "Diagnostic: {'snapshots': 1, 'past weeks queued': 6" in out.getvalue()
    assert queued  # among them, the past weeks' task

    assert len(tasks.diagnostic_history(org.pk, 6)) == 6  # what the worker runs
    assert snapshots.count() == 7
    assert snapshots.first().taken_on == engine.local_today(org)  # newest first
    assert len(snapshot.trend_rows(org)) == 7  # one per week
    report = snapshots.first().report
    assert report["scores"]["strategy"] >= 5  # goals, segments, positioning, KPI tree, plan
    assert report["recommendations"]

    started = time.monotonic()
    snapshot.compute(org)
    print(f"diagnostic of the demo (scale 0.05) computed in {time.monotonic() - started:.2f} s")
