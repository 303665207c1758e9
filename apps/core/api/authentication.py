"""API-key authentication: the key alone decides the organisation."""

from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from apps.accounts.models import ApiKey
from apps.audit.middleware import audit_context_add
from apps.audit.models import SecurityEvent
from apps.audit.services import security_event_record

# Resolved keys are cached in Redis so the hot path does no SQL. Revoking a key
# deletes its entry on commit (services.api_key_revoke), and status (revoked,
# expired) is re-checked on every request from the cached row.
KEY_CACHE_SECONDS = 300


def cache_key_for(prefix: str) -> str:
    return f"api_key:{prefix}"


def api_key_for_prefix(prefix: str) -> ApiKey | None:
    key = cache.get(cache_key_for(prefix))
    if key is None:
        try:
            key = ApiKey.objects.select_related("organization").get(prefix=prefix)
        except ApiKey.DoesNotExist:
            return None
        cache.set(cache_key_for(prefix), key, KEY_CACHE_SECONDS)
    return key


# last_used_at is advisory; writing it on every call would put a row lock on
# the hot path, so it is refreshed at most once a minute per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiPrincipal:
    """Stands in for `request.user` on API calls; the key is `request.auth`."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    pk = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    def __str__(self):
        return f"API key {self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw.strip():
            self._refuse(request, "Send the key as `Authorization: Bearer <key>`.")
        parts = ApiKey.split(raw.strip())
        if parts is None:
            self._refuse(request, "That is not a revops API key.")
        prefix, secret = parts
        key = api_key_for_prefix(prefix)
        if key is None or not key.matches(secret):
            self._refuse(request, "Unknown API key.", prefix=prefix)
        if key.status != "active":
            self._refuse(request, f"This API key is {key.status}.", key=key)
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
            cache.set(cache_key_for(prefix), key, KEY_CACHE_SECONDS)
        audit_context_add(api_key=key.prefix, organization=key.organization.slug)
        return ApiPrincipal(key), key

    def _refuse(self, request, message, *, prefix="", key=None):
        security_event_record(
            kind=SecurityEvent.Kind.API_AUTH_FAILED,
            request=request,
            api_key=key,
            reason=message,
            prefix=prefix or (key.prefix if key else ""),
        )
        raise exceptions.AuthenticationFailed(message)

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when no credentials were sent.
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Names ApiKeyAuthentication in the OpenAPI schema as the `ApiKey` bearer scheme."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An organisation API key (rvk_…)."}
