"""Reads of the audit trail (django-pghistory) and of the security log, scoped to one organisation."""

from dataclasses import dataclass, field

from django.db.models import Q
from django.db.models.functions import Lower
from pghistory import core as pghistory_core
from pghistory.models import Events

from apps.accounts.models import Membership, Organization

from .models import SecurityEvent

AUDIT_ACTIONS = ("insert", "update", "delete")

# Columns that change on every write or only repeat the row's identity: showing
# them in a diff adds noise, not information.
_DIFF_NOISE = {"id", "updated_at", "created_at", "organization_id"}
# What an insert is summarised by, in order of preference.
_KEY_FIELDS = (
    "name",
    "email",
    "url",
    "role",
    "kind",
    "scopes",
    "prefix",
    "slug",
    "event_types",
    "expires_at",
)


def audit_models() -> list[tuple[str, str]]:
    """(label, human name) of every model the audit trail tracks, for the filter."""
    tracked = {m.pgh_tracked_model for m in pghistory_core.event_models()}
    return sorted(
        ((m._meta.label, str(m._meta.verbose_name).capitalize()) for m in tracked),
        key=lambda choice: choice[1],
    )


def audit_events(
    *,
    org,
    model: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since=None,
    until=None,
):
    """The organisation's audit events, newest first, as a queryset of pghistory `Events`.

    `model` is a tracked model's label ("accounts.Team"), `actor` a fragment of
    the actor's e-mail, `since` / `until` aware datetimes (`until` exclusive).

    `references(org)` puts `organization_id = <org>` (and, for the
    Organization's own events, `pgh_obj_id = <org>`) inside each event table's
    SELECT, so Postgres reads only this organisation's rows before building the
    union. The JSON filter then states the rule exactly, so an event model that
    points at Organization through some other foreign key can never widen it.
    """
    events = Events.objects.references(org)
    if model:
        event_models = [m for m in pghistory_core.event_models() if m.pgh_tracked_model._meta.label == model]
        if not event_models:
            return Events.objects.none()
        events = events.across(*event_models)
    events = events.filter(
        Q(pgh_data__organization_id=org.pk)
        | Q(pgh_obj_model=Organization._meta.label, pgh_obj_id=str(org.pk))
    )
    if action:
        events = events.filter(pgh_label=action)
    if actor:
        events = events.filter(pgh_context__actor_email__icontains=actor)
    if since:
        events = events.filter(pgh_created_at__gte=since)
    if until:
        events = events.filter(pgh_created_at__lt=until)
    # pgh_id orders events of one table; events of one transaction share a timestamp.
    return events.order_by("-pgh_created_at", "-pgh_id")


@dataclass
class AuditRow:
    """One audit event, shaped for display."""

    event: Events
    who: str
    action: str
    object_model: str
    object_id: str
    changes: list[tuple[str, object, object]] = field(default_factory=list)
    summary: list[tuple[str, object]] = field(default_factory=list)


def _display(value):
    # JSON arrays (scopes, event types) read better as a comma-separated list than as a Python repr.
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    return value


def audit_actor(context: dict | None) -> str:
    context = context or {}
    if context.get("actor_email"):
        return context["actor_email"]
    if context.get("api_key"):
        return f"API key {context['api_key']}"
    return "system"


def audit_row(event: Events) -> AuditRow:
    """Turn an event into what the page shows: who, what, and before → after."""
    data = event.pgh_data or {}
    row = AuditRow(
        event=event,
        who=audit_actor(event.pgh_context),
        action=event.pgh_label,
        object_model=event.pgh_obj_model.split(".")[-1],
        object_id=event.pgh_obj_id or "",
    )
    if event.pgh_label == "update":
        row.changes = [
            (name, _display(before), _display(after))
            for name, (before, after) in sorted((event.pgh_diff or {}).items())
            if name not in _DIFF_NOISE
        ]
    elif event.pgh_label == "insert":
        row.summary = [
            (name, _display(data[name])) for name in _KEY_FIELDS if data.get(name) not in (None, "", [])
        ]
    return row


def security_events(*, org, kind: str | None = None, actor: str | None = None, since=None, until=None):
    """The organisation's security log, newest first.

    Besides the organisation's own rows it includes events recorded before any
    organisation is known (logins, failed logins, password changes) for people
    who are members now: by user, or by the typed e-mail when no user matched.
    """
    member_users = Membership.objects.for_org(org).values("user_id")
    member_emails = Membership.objects.for_org(org).values("user__email")  # stored lower-cased
    rows = SecurityEvent.objects.alias(actor_email_lower=Lower("actor_email")).filter(
        Q(organization=org)
        | Q(organization__isnull=True, actor__in=member_users)
        | Q(organization__isnull=True, actor__isnull=True, actor_email_lower__in=member_emails)
    )
    if kind:
        rows = rows.filter(kind=kind)
    if actor:
        rows = rows.filter(actor_email__icontains=actor)
    if since:
        rows = rows.filter(created_at__gte=since)
    if until:
        rows = rows.filter(created_at__lt=until)
    return rows.order_by("-created_at", "-id")
