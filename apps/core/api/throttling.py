"""A request quota per API key, counted in Redis so every web process shares it.

A fixed window with one atomic INCR per request: O(1) whatever the quota (DRF's
sliding-window throttle stores and rewrites every timestamp, and two processes
can overwrite each other's list). The price is that a burst straddling two
windows can reach twice the quota for a moment.
"""

import time
from functools import cache

import redis
from django.conf import settings
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.accounts.models import ApiKey

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@cache
def _redis() -> redis.Redis:
    # redis-py pools are fork-aware: a gunicorn or Celery child opens its own connections.
    return redis.Redis.from_url(settings.REDIS_URL)


def parse_rate(rate: str) -> tuple[int, int]:
    count, period = rate.split("/")
    return int(count), PERIODS[period.strip()[0]]


class ApiKeyQuotaThrottle(BaseThrottle):
    scope = "api_key"

    def __init__(self):
        self.num_requests, self.duration = parse_rate(api_settings.DEFAULT_THROTTLE_RATES[self.scope])
        self.wait_seconds = None

    def allow_request(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True
        now = time.time()
        window = int(now // self.duration)
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        key = f"{prefix}:throttle:api_key:{request.auth.pk}:{window}"
        pipe = _redis().pipeline(transaction=False)
        pipe.set(key, 0, ex=self.duration + 1, nx=True)
        pipe.incr(key)
        _, count = pipe.execute()
        self.wait_seconds = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self):
        return self.wait_seconds
