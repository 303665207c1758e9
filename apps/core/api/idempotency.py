"""`Idempotency-Key` on POST, with Stripe's semantics.

- The first request with a key runs; its successful response is stored.
- A repeat (same key, same API key, same path and body) within 24 hours gets the
  stored response byte for byte, with `Idempotent-Replayed: true`, and runs nothing.
- The same key with a different path or body is refused (422).
- A repeat while the first is still running gets 409.
- A request that fails (4xx or 5xx) stores nothing: fix it and retry with the same key.

The record row is committed first, so concurrent requests see it; the work and
the stored response then commit together while the row is locked. A process
that dies mid-request releases the lock and leaves no response, so a retry
simply runs again: nothing is lost and nothing is done twice.
"""

import hashlib
from datetime import timedelta

from django.db import IntegrityError, OperationalError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.core.models import IdempotencyRecord

from .errors import error_body

HEADER = "HTTP_IDEMPOTENCY_KEY"
LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def _api_key(request) -> ApiKey | None:
    from .authentication import api_key_for_prefix

    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    parts = ApiKey.split(raw.strip()) if scheme.lower() == "bearer" else None
    if parts is None:
        return None
    key = api_key_for_prefix(parts[0])
    if key is None or not key.matches(parts[1]) or key.status != "active":
        return None
    return key


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.get_full_path().encode() + b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body), status=record.response_status, content_type=record.response_content_type
    )
    response["Idempotent-Replayed"] = "true"
    return response


def _error(status, code, message):
    return JsonResponse(error_body(code, message, {"Idempotency-Key": [message]}), status=status)


class _Failed(Exception):
    def __init__(self, response):
        super().__init__(response.status_code)
        self.response = response


def idempotent(dispatch):
    """Wrap a view's dispatch: POSTs with an Idempotency-Key run at most once."""

    def wrapper(view, request, *args, **kwargs):
        token = request.META.get(HEADER)
        if request.method != "POST" or token is None:
            return dispatch(view, request, *args, **kwargs)
        api_key = _api_key(request)
        if api_key is None:
            return dispatch(view, request, *args, **kwargs)  # answers 401 in the usual way
        if not token or len(token) > MAX_KEY_LENGTH:
            return _error(400, "invalid_idempotency_key", f"Use a key of 1 to {MAX_KEY_LENGTH} characters.")
        try:
            fingerprint = _fingerprint(request)
        except Exception:  # RequestDataTooBig and friends: let the view answer
            return dispatch(view, request, *args, **kwargs)

        record = _claim_record(api_key, token, request, fingerprint)
        if record.request_hash != fingerprint:
            return _error(
                422, "idempotency_key_reused", "This Idempotency-Key was used with a different request."
            )
        if record.completed:
            return _replay(record)
        try:
            with transaction.atomic():
                locked = IdempotencyRecord.objects.select_for_update(nowait=True).get(pk=record.pk)
                if locked.completed:
                    return _replay(locked)
                response = dispatch(view, request, *args, **kwargs)
                if hasattr(response, "render"):
                    response.render()
                if response.status_code >= 400:
                    raise _Failed(response)
                locked.completed = True
                locked.response_status = response.status_code
                locked.response_body = response.content
                locked.response_content_type = response.get("Content-Type", "application/json")
                locked.save(
                    update_fields=["completed", "response_status", "response_body", "response_content_type"]
                )
                return response
        except OperationalError:
            return _error(
                409, "idempotency_key_in_progress", "A request with this Idempotency-Key is still running."
            )
        except _Failed as failed:
            # Nothing of the failed request is kept, the key included: fix and retry.
            IdempotencyRecord.objects.filter(pk=record.pk, completed=False).delete()
            return failed.response

    return wrapper


def _claim_record(api_key, token, request, fingerprint) -> IdempotencyRecord:
    now = timezone.now()
    IdempotencyRecord.objects.filter(api_key=api_key, key=token, expires_at__lte=now).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                organization_id=api_key.organization_id,
                api_key=api_key,
                key=token,
                method=request.method,
                path=request.path[:500],
                request_hash=fingerprint,
                expires_at=now + LIFETIME,
            )
    except IntegrityError:
        return IdempotencyRecord.objects.get(api_key=api_key, key=token)


def purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
