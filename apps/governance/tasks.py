"""Governance's Celery tasks. Celery discovers this module; each part keeps its tasks in its own module."""

from apps.governance.changes_tasks import apply_due_changes
from apps.governance.reviews_tasks import review_digest_sweep, send_review_digest

__all__ = [
    "apply_due_changes",
    "review_digest_sweep",
    "send_review_digest",
]
