import time

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_KEY = "worker-heartbeat"


@shared_task(name="core.worker_heartbeat", time_limit=10, soft_time_limit=8)
def worker_heartbeat():
    """Proves to /readyz that beat schedules and a worker executes."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=3600)


@shared_task(name="core.purge_idempotency_keys", time_limit=300)
def purge_idempotency_keys():
    """Idempotency keys live 24 hours; expired ones are ignored already, this reclaims the rows."""
    from apps.core.api.idempotency import purge_expired

    purge_expired()
