"""The quarterly strategy review's reminder: a thin daily task over every organisation."""

from celery import shared_task
from django.utils import timezone

from apps.accounts.models import Organization

from .services import reviews


@shared_task(name="strategy.review_reminders", time_limit=600, soft_time_limit=590)
def review_reminders() -> int:
    """Remind each organisation whose review is due (once per due period); returns the reminders sent."""
    sent = 0
    for org in Organization.objects.all():
        with timezone.override(org.time_zone):
            sent += reviews.remind_if_due(org, timezone.localdate())
    return sent
