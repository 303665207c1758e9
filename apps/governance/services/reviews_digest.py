"""The digest e-mail of a held operating review: what was decided, who does what by when, what was
carried forward and what is overdue, sent once to the review's attendees.

Sending is claimed first (a conditional update of `digest_sent_at`), so a retried or duplicated task
never sends it twice; when the mail server refuses, the claim is released for the retry.
"""

import datetime
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.governance.models import OperatingReview, ReviewKind

from . import reviews as services

log = logging.getLogger(__name__)


def digest_context(org, review: OperatingReview, today: datetime.date) -> dict:
    """Everything the digest says, shared by its text and HTML parts."""
    actions = services.action_rows(org, review.action_items.select_related("owner__user", "review"), today)
    overdue = services.action_rows(org, services.overdue_items(org, today=today), today)
    return {
        "org": org,
        "review": review,
        "title": f"{ReviewKind(review.kind).label}: {services.period_label(org, review)}",
        "url": settings.SITE_URL.rstrip("/") + reverse("governance_review", args=[org.slug, review.pk]),
        "decisions": list(review.decisions.all()),
        "actions": actions,
        "carried": review.snapshot.get("carried", []),
        "overdue": [row for row in overdue if row["review"] != review.pk],
        "notes": review.notes,
    }


def digest_send(*, review_id: int, today: datetime.date | None = None) -> int:
    """E-mail the digest of a held review to its attendees, once; returns how many it went to."""
    claimed = OperatingReview.objects.filter(
        pk=review_id, status=OperatingReview.Status.HELD, digest_sent_at__isnull=True
    ).update(digest_sent_at=timezone.now())
    if not claimed:
        return 0
    review = OperatingReview.objects.select_related("organization").get(pk=review_id)
    org = review.organization
    recipients = sorted(
        {
            member.user.email
            for member in review.attendees.filter(is_active=True, user__is_active=True).select_related("user")
            if member.user.email
        }
    )
    if not recipients:
        return 0
    with timezone.override(org.time_zone):
        context = digest_context(org, review, today or timezone.localdate())
    message = EmailMultiAlternatives(
        subject=f"[{org.name}] {context['title']}",
        body=render_to_string("governance/reviews_digest.txt", context),
        to=recipients,
    )
    message.attach_alternative(render_to_string("governance/reviews_digest.html", context), "text/html")
    try:
        message.send()
    except Exception:
        OperatingReview.objects.filter(pk=review_id).update(digest_sent_at=None)  # the retry sends it
        log.warning("could not e-mail the digest of review %s", review_id, exc_info=True)
        raise
    return len(recipients)


def digests_unsent(*, held_since: datetime.date) -> list[int]:
    """Held reviews whose digest was never sent (their task never ran), for the sweep."""
    return list(
        OperatingReview.objects.filter(
            status=OperatingReview.Status.HELD, digest_sent_at__isnull=True, held_on__gte=held_since
        ).values_list("pk", flat=True)
    )
