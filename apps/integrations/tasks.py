"""Thin tasks: take ids, call a service. Each is safe to run twice."""

from celery import shared_task

from . import services


@shared_task(name="integrations.relay_outbox", time_limit=60, soft_time_limit=50)
def relay_outbox():
    while True:
        delivery_ids = services.outbox_relay()
        if not delivery_ids:
            break
        for delivery_id in delivery_ids:
            deliver_webhook.delay(delivery_id)


@shared_task(name="integrations.deliver_webhook", time_limit=60, soft_time_limit=45)
def deliver_webhook(delivery_id: int):
    return services.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="integrations.sweep_deliveries", time_limit=60, soft_time_limit=50)
def sweep_deliveries():
    relay_outbox()
    for delivery_id in services.deliveries_due():
        deliver_webhook.delay(delivery_id)


@shared_task(name="integrations.prune", time_limit=600, soft_time_limit=550)
def prune():
    services.integrations_prune()
