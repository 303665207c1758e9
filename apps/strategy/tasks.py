"""Strategy's Celery tasks. Celery discovers this module; each part keeps its tasks in its own module."""

from apps.strategy.kpi_tasks import kpi_refresh_due, kpi_refresh_organization
from apps.strategy.review_tasks import review_reminders
from apps.strategy.segments.tasks import segments_nightly, segments_recompute_organization

__all__ = [
    "kpi_refresh_due",
    "kpi_refresh_organization",
    "review_reminders",
    "segments_nightly",
    "segments_recompute_organization",
]
