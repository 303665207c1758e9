"""Journey analytics, counted from enrolments (one grouped query each).

- entered: enrolments ever created for the journey (a re-entry counts again);
- at each step: active or paused enrolments whose next step is that step;
- exited by goal: enrolments ended by an exit goal, per goal type;
- completed: enrolments that ran past the last step;
- converted: enrolments that exited by a conversion goal (a stage reached, a
  reply or an opportunity; an unsubscribe is an exit, not a conversion);
- conversion rate: converted / entered.
"""

from dataclasses import dataclass, field

from django.db.models import Count

from apps.execution.models import Enrollment, EnrollmentStatus

from .goals import CONVERSION_GOALS, GOAL_TYPES
from .steps import describe


@dataclass
class JourneyStats:
    entered: int = 0
    active: int = 0
    completed: int = 0
    converted: int = 0
    failed: int = 0
    exited: dict = field(default_factory=dict)  # goal type -> count
    at_step: list = field(default_factory=list)  # (step id, description, count) in step order

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.entered if self.entered else None

    @property
    def exited_rows(self) -> list[tuple[str, int]]:
        return [(GOAL_TYPES.get(kind, kind), count) for kind, count in sorted(self.exited.items())]


def journey_stats(*, org, journey) -> JourneyStats:
    rows = (
        Enrollment.objects.for_org(org)
        .filter(journey=journey)
        .values("status", "exit_reason", "step_id", "version_id")
        .annotate(n=Count("id"))
    )
    stats = JourneyStats()
    waiting: dict[str, int] = {}
    for row in rows:
        stats.entered += row["n"]
        status = row["status"]
        if status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED):
            stats.active += row["n"]
            waiting[row["step_id"]] = waiting.get(row["step_id"], 0) + row["n"]
        elif status == EnrollmentStatus.COMPLETED:
            stats.completed += row["n"]
        elif status == EnrollmentStatus.EXITED:
            stats.exited[row["exit_reason"]] = stats.exited.get(row["exit_reason"], 0) + row["n"]
            if row["exit_reason"] in CONVERSION_GOALS:
                stats.converted += row["n"]
        elif status == EnrollmentStatus.FAILED:
            stats.failed += row["n"]
    steps = journey.current_version.steps if journey.current_version else []
    known = set()
    for step in steps:
        known.add(step["id"])
        stats.at_step.append((step["id"], describe(step), waiting.get(step["id"], 0)))
    for step_id, count in sorted(waiting.items()):  # steps only older versions have
        if step_id not in known:
            stats.at_step.append((step_id or "end", "(an earlier version's step)", count))
    return stats


def journey_counts(*, org, journeys) -> dict[int, dict]:
    """Entered and active per journey, for the list page (one query)."""
    rows = (
        Enrollment.objects.for_org(org)
        .filter(journey__in=journeys)
        .values("journey_id", "status")
        .annotate(n=Count("id"))
    )
    counts: dict[int, dict] = {}
    for row in rows:
        entry = counts.setdefault(row["journey_id"], {"entered": 0, "active": 0})
        entry["entered"] += row["n"]
        if row["status"] in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED):
            entry["active"] += row["n"]
    return counts
