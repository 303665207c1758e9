from rest_framework.throttling import SimpleRateThrottle

from apps.accounts.models import ApiKey


class ApiKeyQuotaThrottle(SimpleRateThrottle):
    """A request quota per API key, counted in Redis so all web processes share it."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return f"throttle:api_key:{request.auth.pk}"
        return None
