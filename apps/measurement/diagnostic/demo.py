"""The demo organisation's diagnostic: today's snapshot, and a few weekly ones before it so the trend has
points. The past snapshots are computed from the same (today's) records over windows ending on each past
day; they are not a replay of how the organisation looked then. They take a few seconds each, so a worker
takes them once the product runs (queued on commit)."""

from django.db import transaction

from apps.measurement.metrics import engine
from apps.measurement.models import DiagnosticSnapshot

from . import snapshot

PAST_WEEKS = 6


def seed_diagnostic(org) -> dict | None:
    """Take the snapshots; None when the demo already has some."""
    if DiagnosticSnapshot.objects.for_org(org).exists():
        return None
    from .tasks import diagnostic_history

    taken = snapshot.take(org, engine.local_today(org))
    transaction.on_commit(lambda: diagnostic_history.delay(org.pk, PAST_WEEKS))
    return {"snapshots": 1, "past weeks queued": PAST_WEEKS, "quadrant": taken.quadrant, **taken.scores}
