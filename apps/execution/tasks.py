"""Thin tasks: take ids, call a service. Each is safe to run twice."""

from celery import shared_task

from . import handoff_tasks  # noqa: F401  (its own module; imported so Celery registers its tasks)
from .journeys import tasks as journey_tasks  # noqa: F401  (likewise: the journey sweeps)
from .services import notifications, routing, sla


@shared_task(name="execution.route_requests", time_limit=300, soft_time_limit=280)
def route_requests(request_ids: list[int]):
    for request_id in request_ids:
        routing.route_request_or_retry(request_id=request_id)


@shared_task(name="execution.sweep_routing", time_limit=60, soft_time_limit=50)
def sweep_routing():
    """Route what a crash between commit and routing left pending."""
    for request_id in routing.requests_pending():
        routing.route_request_or_retry(request_id=request_id)


@shared_task(name="execution.sweep_sla", time_limit=60, soft_time_limit=50)
def sweep_sla():
    return sla.sla_sweep()


@shared_task(name="execution.deliver_notification", time_limit=30, soft_time_limit=25)
def deliver_notification(notification_id: int):
    return notifications.notification_deliver(notification_id=notification_id)


@shared_task(name="execution.sweep_notifications", time_limit=60, soft_time_limit=50)
def sweep_notifications():
    for notification_id in notifications.notifications_undelivered():
        deliver_notification.delay(notification_id)
