import time

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_KEY = "worker-heartbeat"


@shared_task(name="core.worker_heartbeat", time_limit=10)
def worker_heartbeat():
    """Proves to /readyz that beat schedules and a worker executes."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=3600)
