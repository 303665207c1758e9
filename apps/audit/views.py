"""The audit trail and the security log of one organisation."""

from django.core.paginator import Paginator
from django.shortcuts import render

from apps.accounts.access import org_view, require_permission
from apps.core.csv import csv_response

from .forms import AuditFilterForm, SecurityFilterForm
from .models import SecurityEvent
from .selectors import audit_events, audit_row, security_events
from .services import export_recorded

PAGE_SIZE = 50


@org_view("audit.view")
def settings_audit(request):
    form = AuditFilterForm(request.GET, time_zone=request.org.time_zone)
    # Invalid filters show their errors and no rows, rather than silently everything.
    events = audit_events(org=request.org, **form.filters()) if form.is_valid() else []
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [audit_row(event) for event in page.object_list]
    return render(request, "audit/audit.html", {"form": form, "page": page, "rows": rows})


def _security_rows(request):
    form = SecurityFilterForm(request.GET, time_zone=request.org.time_zone)
    rows = (
        security_events(org=request.org, **form.filters())
        if form.is_valid()
        else SecurityEvent.objects.none()
    )
    return form, rows


@org_view("security_log.view")
def settings_security(request):
    form, rows = _security_rows(request)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/security.html",
        {"form": form, "page": page, "can_export": request.membership.can("data.export")},
    )


def _who(event: SecurityEvent) -> str:
    if event.actor_email:
        return event.actor_email
    if event.api_key_prefix:
        return f"API key {event.api_key_prefix}"
    return ""


@org_view("security_log.view")
def settings_security_export(request):
    require_permission(request, "data.export")
    _, rows = _security_rows(request)
    count = rows.count()
    export = export_recorded(
        request,
        what="security_log",
        rows=count,
    )
    rows = rows.exclude(pk=export.pk)  # the file holds what was counted, not the line recording it
    lines = (
        (
            event.created_at,
            event.get_kind_display(),
            _who(event),
            event.ip_address,
            event.user_agent,
            "; ".join(f"{key}: {value}" for key, value in sorted(event.detail.items())),
        )
        for event in rows.iterator(chunk_size=2000)
    )
    return csv_response(
        f"security-log-{request.org.slug}.csv", ["when", "event", "who", "ip", "user agent", "details"], lines
    )
