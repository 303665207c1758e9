"""Operating reviews' tasks: the digest of a held review, and the sweep that sends any whose task
never ran (a worker or Redis down when the review was held)."""

import datetime
import logging

from celery import shared_task
from django.utils import timezone

from apps.governance.services import reviews_digest

log = logging.getLogger(__name__)


@shared_task(
    name="governance.send_review_digest",
    autoretry_for=(Exception,),
    retry_backoff=60,
    max_retries=5,
    time_limit=120,
    soft_time_limit=110,
)
def send_review_digest(review_id: int) -> int:
    return reviews_digest.digest_send(review_id=review_id)


@shared_task(name="governance.review_digest_sweep", time_limit=600, soft_time_limit=590)
def review_digest_sweep() -> int:
    """Send the digests of reviews held in the last week that were never sent; returns how many sent."""
    since = timezone.localdate() - datetime.timedelta(days=7)
    sent = 0
    for pk in reviews_digest.digests_unsent(held_since=since):
        try:
            sent += 1 if reviews_digest.digest_send(review_id=pk) else 0
        except Exception:  # released for the next sweep; one bad review must not stop the others
            log.warning("the digest of review %s was not sent", pk, exc_info=True)
    return sent
