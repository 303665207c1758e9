"""One JSON error shape for every API error.

{"error": {"code": "validation_error", "message": "...", "fields": {"name": ["..."]}}}
"""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import ServiceError


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail):
    """DRF's nested error detail as {"field": ["message", ...]}, nested keys dotted."""
    fields = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                fields.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for index, item in enumerate(value):
                    walk(f"{prefix}.{index}" if prefix else str(index), item)
        else:
            fields.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return fields


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", "The request body is larger than this API accepts."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500 (see api_server_error)

    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first_field = next(iter(fields), None)
        message = f"{first_field}: {fields[first_field][0]}" if first_field else "The request is not valid."
        response.data = error_body("validation_error", message, fields)
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if not isinstance(code, str):
            code = "error"
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = error_body(code, str(detail))
    return response


def api_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def api_server_error(request):
    return JsonResponse(
        error_body("server_error", "Something went wrong on our side; it has been logged."), status=500
    )


def api_bad_request(request, exception=None):
    return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
