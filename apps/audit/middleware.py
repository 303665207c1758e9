import pghistory
from pghistory.middleware import HistoryMiddleware


class AuditContextMiddleware(HistoryMiddleware):
    """Tag every write made while serving a request with who made it and where.

    API requests are authenticated later, inside DRF; the API authentication
    class adds the key to the same context (`audit_context_add`).
    """

    def get_context(self, request):
        context = super().get_context(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            context["actor_email"] = user.email
        return context


def audit_context_add(**values):
    """Add keys to the active audit context (no-op outside of one)."""
    pghistory.context(**values)
