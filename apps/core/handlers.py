"""Error pages: JSON in the API's one shape under /api/, HTML elsewhere."""

from django.views import defaults

from apps.core.api import errors


def _is_api(request):
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    if _is_api(request):
        return errors.api_bad_request(request, exception)
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if _is_api(request):
        return errors.api_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return errors.api_server_error(request)
    return defaults.server_error(request)
