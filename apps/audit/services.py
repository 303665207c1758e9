from apps.audit.models import SecurityEvent


def _client_ip(request):
    # Behind the load balancer REMOTE_ADDR is the proxy; production runs gunicorn
    # with --forwarded-allow-ips so REMOTE_ADDR is already the client here.
    return request.META.get("REMOTE_ADDR") or None


def export_recorded(request, *, what: str, rows: int, **detail) -> SecurityEvent:
    """Log a download by the signed-in person of `request.org`'s data: what, how many rows, with what."""
    return security_event_record(
        kind=SecurityEvent.Kind.EXPORT,
        request=request,
        organization=request.org,
        actor=request.user,
        what=what,
        rows=rows,
        **detail,
    )


def security_event_record(
    *, kind: str, request=None, organization=None, actor=None, actor_email: str = "", api_key=None, **detail
) -> SecurityEvent:
    """Append one line to the security log. Never raises for missing context."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if api_key is not None and organization is None:
        organization = api_key.organization
    return SecurityEvent.objects.create(
        kind=kind,
        organization=organization,
        actor=actor,
        actor_email=actor_email or (actor.email if actor else ""),
        api_key_prefix=api_key.prefix if api_key else "",
        ip_address=_client_ip(request) if request else None,
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:300] if request else ""),
        detail=detail,
    )
