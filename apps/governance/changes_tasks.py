"""Change request tasks: thin (call a service), safe to run twice at once; listed in apps.governance.tasks."""

from celery import shared_task

from apps.governance.services.changes import apply_due


@shared_task(name="governance.apply_due_changes", time_limit=300, soft_time_limit=280)
def apply_due_changes():
    """Apply approved change requests whose effective date has passed."""
    return apply_due()
