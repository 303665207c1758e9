"""In-app notifications, mirrored by e-mail.

The notification row is written in the caller's transaction, so nobody's
alert is lost with a worker or Redis; the e-mail is sent by a task enqueued
on commit, and a beat sweep re-sends any whose task never ran.
"""

import logging
from datetime import timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.execution.models import Notification

log = logging.getLogger(__name__)


def notify(*, org, recipient_id: int, kind: str, title: str, body: str = "", url: str = "", lead=None):
    notification = Notification.objects.create(
        organization=org,
        recipient_id=recipient_id,
        kind=kind,
        title=title[:200],
        body=body[:500],
        url=url[:300],
        lead=lead,
    )
    from apps.execution.tasks import deliver_notification

    transaction.on_commit(lambda: deliver_notification.delay(notification.pk), robust=True)
    return notification


def notification_deliver(*, notification_id: int) -> bool:
    """Send the e-mail for one notification, once: the row is claimed first."""
    now = timezone.now()
    claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(emailed_at=now)
    if not claimed:
        return False
    notification = Notification.objects.select_related("recipient__user", "organization").get(
        pk=notification_id
    )
    user = notification.recipient.user
    if not user.email or not user.is_active:
        return False
    try:
        send_mail(
            subject=f"[{notification.organization.name}] {notification.title}",
            message=f"{notification.body}\n\n{notification.url}".strip(),
            from_email=None,
            recipient_list=[user.email],
        )
    except Exception:  # the in-app notification stands; a mail outage must not fail the caller
        log.warning("could not e-mail notification %s", notification_id, exc_info=True)
        return False
    return True


def notifications_undelivered(*, older_than_seconds: int = 60, limit: int = 500) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Notification.objects.filter(emailed_at__isnull=True, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def unread_count(*, org, membership) -> int:
    return Notification.objects.for_org(org).filter(recipient=membership, read_at__isnull=True).count()


def mark_read(*, org, membership, notification_id=None) -> int:
    qs = Notification.objects.for_org(org).filter(recipient=membership, read_at__isnull=True)
    if notification_id is not None:
        qs = qs.filter(pk=notification_id)
    return qs.update(read_at=timezone.now())
