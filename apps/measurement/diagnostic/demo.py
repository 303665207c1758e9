"""The demo organisation's diagnostic: today's snapshot and a few weekly ones before it, so the trend has
points. The past snapshots are computed from the same (today's) records over windows ending on each past
day; they are not a replay of how the organisation looked then."""

import datetime

from apps.measurement.metrics import engine
from apps.measurement.models import DiagnosticSnapshot

from . import snapshot

PAST_WEEKS = 6


def seed_diagnostic(org) -> dict | None:
    """Take the snapshots; None when the demo already has some."""
    if DiagnosticSnapshot.objects.for_org(org).exists():
        return None
    today = engine.local_today(org)
    for weeks in range(PAST_WEEKS, 0, -1):
        snapshot.take(org, today - datetime.timedelta(days=7 * weeks))
    taken = snapshot.take(org, today)
    return {"snapshots": PAST_WEEKS + 1, "quadrant": taken.quadrant, **taken.scores}
