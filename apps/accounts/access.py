"""How a UI request finds its organisation and is allowed in.

The organisation comes from the URL (`/o/<org_slug>/...`), never from the
session. Someone who is not a member gets the same 404 as for a slug that does
not exist; a member whose role lacks the permission gets 403.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect

from apps.audit.models import SecurityEvent
from apps.audit.services import security_event_record

from .models import Membership


def membership_for(*, user, org_slug: str) -> Membership:
    membership = (
        Membership.objects.select_related("organization")
        .filter(user=user, organization__slug=org_slug, is_active=True)
        .first()
    )
    if membership is None:
        raise Http404("No such organisation.")
    return membership


def require_permission(request, permission: str) -> None:
    if not request.membership.can(permission):
        security_event_record(
            kind=SecurityEvent.Kind.AUTHZ_DENIED,
            request=request,
            organization=request.org,
            actor=request.user,
            permission=permission,
            path=request.path,
        )
        raise PermissionDenied(f"Your role ({request.membership.get_role_display()}) cannot do this.")


def org_view(permission: str = "org.view"):
    """Decorate a view taking `org_slug`: sets request.org and request.membership."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, org_slug, *args, **kwargs):
            membership = membership_for(user=request.user, org_slug=org_slug)
            request.membership = membership
            request.org = membership.organization
            if request.org.require_mfa and not has_mfa(request.user):
                return redirect("mfa_required", org_slug=org_slug)
            require_permission(request, permission)
            return view(request, *args, **kwargs)

        wrapper.org_permission = permission
        return wrapper

    return decorator


def has_mfa(user) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
