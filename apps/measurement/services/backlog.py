"""The "no man's land" counted per stage and kept as a daily fact.

Counting the leads nobody owns or that waited past their stage's limit is a
pass over every open lead of the organisation: at a million leads, most of
them long in their stage, a third of a second. The review dashboards answer
from facts, so the count is one: `count` overwrites the organisation's
`BacklogDay` rows of its current local day, every few minutes (the beat task
measurement.count_backlogs), and `for_day` reads them. The last count of a day
is within minutes of its end, so past days keep their backlog as it stood.

The thresholds are the defaults of apps.execution.selectors.stuck; the no
man's land page itself always lists live leads, with any thresholds.
"""

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils import timezone

from apps.execution.selectors import stuck

from ..models import BacklogDay

# A count older than this is redone before it is shown for the current day (beat may be down).
STALE_AFTER = datetime.timedelta(minutes=30)
MEASURES = ("open", "unowned", "overdue", "stuck")


@dataclass(frozen=True)
class Backlog:
    day: datetime.date
    counted_at: datetime.datetime
    stages: dict[str, dict[str, int]]  # stage key -> measure -> leads

    def total(self, measure: str) -> int:
        return sum(counts[measure] for counts in self.stages.values())


def _local_day(org, moment: datetime.datetime) -> datetime.date:
    return timezone.localdate(moment, ZoneInfo(org.time_zone))


def measure(org, *, at: datetime.datetime) -> Backlog:
    """The organisation's backlog with its leads as they are, aged as at `at`; nothing is stored."""
    stages = stuck.stage_counts(org=org, thresholds=stuck.thresholds_from({}, org=org), now=at)
    return Backlog(_local_day(org, at), at, stages)


def count(org, *, now: datetime.datetime | None = None) -> Backlog:
    """Count the organisation's backlog now and store it as its current local day's."""
    backlog = measure(org, at=now or timezone.now())
    day, now, stages = backlog.day, backlog.counted_at, backlog.stages
    rows = [
        BacklogDay(organization=org, day=day, stage=key, counted_at=now, **counts)
        for key, counts in stages.items()
    ]
    # Counts of the same day overwrite each other, whichever of two concurrent runs commits last.
    BacklogDay.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["organization", "day", "stage"],
        update_fields=[*MEASURES, "counted_at"],
    )
    BacklogDay.objects.for_org(org).filter(day=day).exclude(stage__in=list(stages)).delete()
    return backlog


def stored(org, day: datetime.date) -> Backlog | None:
    rows = list(BacklogDay.objects.for_org(org).filter(day=day).values("stage", "counted_at", *MEASURES))
    if not rows:
        return None
    return Backlog(
        day,
        min(row["counted_at"] for row in rows),
        {row["stage"]: {measure: row[measure] for measure in MEASURES} for row in rows},
    )


def for_day(org, day: datetime.date, *, now: datetime.datetime | None = None) -> Backlog | None:
    """The backlog of `day`: its stored count, counted afresh when `day` is the current day and its
    count is missing or older than STALE_AFTER. None for a past day that was never counted."""
    now = now or timezone.now()
    found = stored(org, day)
    if day == _local_day(org, now) and (found is None or now - found.counted_at > STALE_AFTER):
        return count(org, now=now)
    return found
