from rest_framework import permissions

from apps.accounts.models import ApiKey


class HasApiKeyScope(permissions.BasePermission):
    """Reads need the `read` scope, writes the `write` scope.

    A view may name other scopes with `required_scopes = {"GET": "read", ...}`.
    """

    message = "This API key lacks the scope this request needs."

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        needed = getattr(view, "required_scopes", {}).get(request.method)
        if needed is None:
            needed = "read" if request.method in permissions.SAFE_METHODS else "write"
        if key.has_scope(needed):
            return True
        self.message = f"This API key lacks the `{needed}` scope."
        return False
