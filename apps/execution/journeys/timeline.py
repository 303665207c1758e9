"""A lead's journeys on its timeline: each enrolment's entry and end, and the steps it ran."""

from apps.execution.models import Enrollment, EnrollmentStatus, JourneyStepRun

from .goals import GOAL_TYPES


def lead_journey_timeline(*, org, lead, limit: int = 100) -> list:
    from apps.records.selectors.detail import TimelineEntry  # records owns the entry shape

    entries = []
    enrollments = list(
        Enrollment.objects.for_org(org)
        .filter(lead=lead)
        .select_related("journey", "version")
        .order_by("-id")[:20]
    )
    for e in enrollments:
        entries.append(
            TimelineEntry(
                at=e.entered_at,
                kind="journey",
                title=f"Entered journey {e.journey.name} (v{e.version.number})",
                detail=[("via", e.source)] if e.source else [],
            )
        )
        if e.finished_at:
            outcome = (
                f"exited: {GOAL_TYPES.get(e.exit_reason, e.exit_reason)}"
                if e.status == EnrollmentStatus.EXITED
                else e.get_status_display().lower()
            )
            entries.append(
                TimelineEntry(at=e.finished_at, kind="journey", title=f"Left {e.journey.name}: {outcome}")
            )
    names = {e.pk: e.journey.name for e in enrollments}
    if not names:
        return entries
    runs = JourneyStepRun.objects.for_org(org).filter(enrollment_id__in=names).order_by("-ran_at")[:limit]
    for run in runs:
        what = run.detail.get("subject") or run.detail.get("title") or run.step_id
        entries.append(
            TimelineEntry(
                at=run.ran_at,
                kind="journey",
                title=f"{names[run.enrollment_id]}: {run.step_type} step {run.get_status_display().lower()}",
                detail=[("step", run.step_id), ("what", str(what))],
            )
        )
    return entries
