"""The audit trail and the security log pages, and the safe CSV export."""

import csv
import io
from datetime import timedelta

import pghistory
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts import services
from apps.accounts.roles import Role
from apps.audit.models import SecurityEvent
from apps.audit.selectors import audit_events, security_events
from apps.audit.services import security_event_record
from apps.core.csv import safe_csv_cell
from tests import factories

pytestmark = pytest.mark.django_db


def url(name, org):
    return reverse(name, args=[org.slug])


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Audit trail ------------------------------------------------------------------


def test_team_rename_shows_before_and_after_with_who(owner_client, org):
    team = services.team_create(org=org, name="Alpha")
    response = owner_client.post(
        reverse("settings_team", args=[org.slug, team.pk]), {"name": "Beta", "kind": team.kind}
    )
    assert response.status_code == 302

    page = owner_client.get(url("settings_audit", org))
    html = page.content.decode()
    assert page.status_code == 200
    assert '<span class="diff-before">Alpha</span> → <span class="diff-after">Beta</span>' in html
    update_row = html[html.index("diff-before") - 1500 : html.index("diff-before")]
    assert "owner@acme.test" in update_row
    assert ">update<" in update_row and f"Team <code>#{team.pk}</code>" in update_row


def test_audit_is_scoped_to_the_organisation(org, other_org, owner):
    services.team_create(org=org, name="Ours")
    # The context is transaction-local and a test is one transaction: keep this block last.
    with pghistory.context(actor_email="someone@globex.test"):
        theirs = services.team_create(org=other_org, name="Globex secret team")
        services.team_update(org=other_org, team=theirs, name="Globex renamed")
        services.organization_update(org=other_org, currency="EUR")

    ours = list(audit_events(org=org))
    assert {e.pgh_obj_model for e in ours} == {
        "accounts.Organization",
        "accounts.Membership",
        "accounts.Team",
        "records.LifecycleStage",  # the default funnel every organisation starts with
        "execution.RejectReason",  # and the default reasons to reject a routed lead
    }
    for event in ours:
        assert event.pgh_data.get("organization_id") == org.pk or (
            event.pgh_obj_model == "accounts.Organization" and event.pgh_obj_id == str(org.pk)
        )
    html = login(owner).get(url("settings_audit", org)).content.decode()
    assert "Globex" not in html and "someone@globex.test" not in html
    assert "Ours" in html


def test_audit_filters(owner_client, org):
    with pghistory.context(actor_email="lead@acme.test"):
        team = services.team_create(org=org, name="Alpha")
        services.team_update(org=org, team=team, name="Beta")
    with pghistory.context(api_key="abc123"):
        services.organization_update(org=org, currency="EUR")

    assert {e.pgh_label for e in audit_events(org=org, model="accounts.Team")} == {"insert", "update"}
    assert [e.pgh_diff["name"] for e in audit_events(org=org, model="accounts.Team", action="update")] == [
        ["Alpha", "Beta"]
    ]
    assert audit_events(org=org, actor="lead@").count() == 2
    assert audit_events(org=org, model="no.Such").count() == 0

    html = owner_client.get(
        url("settings_audit", org), {"model": "accounts.Organization", "action": "update"}
    ).content
    html = html.decode()
    assert "API key abc123" in html
    assert '<span class="diff-before">USD</span> → <span class="diff-after">EUR</span>' in html
    assert "Alpha" not in html

    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    html = owner_client.get(url("settings_audit", org), {"since": tomorrow}).content.decode()
    assert "No changes match these filters" in html


def test_inserts_show_key_fields_and_deletes_say_deleted(owner_client, org):
    team = services.team_create(org=org, name="Short-lived")
    services.team_delete(org=org, team=team)
    html = owner_client.get(url("settings_audit", org), {"model": "accounts.Team"}).content.decode()
    assert "<code>name</code>: Short-lived" in html
    assert "deleted" in html
    assert "system" in html  # no request, no actor


def test_invalid_filter_shows_the_error_not_everything(owner_client, org):
    html = owner_client.get(
        url("settings_audit", org), {"since": "2025-02-01", "until": "2025-01-01"}
    ).content
    assert b"The end date is before the start date." in html
    assert b"diff-after" not in html


@pytest.mark.parametrize(
    "role, status", [(Role.REVOPS_LEAD, 200), (Role.SALES_MANAGER, 403), (Role.VIEWER, 403)]
)
def test_audit_needs_audit_view(role, status, client, org, members):
    client.force_login(members[role].user)
    assert client.get(url("settings_audit", org)).status_code == status


def test_outsider_gets_404(outsider_client, org):
    assert outsider_client.get(url("settings_audit", org)).status_code == 404
    assert outsider_client.get(url("settings_security", org)).status_code == 404
    assert outsider_client.get(url("settings_security_export", org)).status_code == 404


def test_audit_page_query_count_is_bounded(owner_client, org, django_assert_max_num_queries):
    for n in range(20):
        team = services.team_create(org=org, name=f"Team {n}")
        services.team_update(org=org, team=team, name=f"Team {n} renamed")
    with django_assert_max_num_queries(6):
        response = owner_client.get(url("settings_audit", org), {"model": "accounts.Team"})
    assert response.content.decode().count('class="diff-after"') == 20


def test_audit_is_paginated(owner_client, org):
    for n in range(60):
        services.team_create(org=org, name=f"Team {n}")
    html = owner_client.get(url("settings_audit", org), {"model": "accounts.Team"}).content.decode()
    assert "Page 1 of 2" in html
    page_2 = owner_client.get(
        url("settings_audit", org), {"model": "accounts.Team", "page": 2}
    ).content.decode()
    assert page_2.count("<code>name</code>:") == 10


# --- Security log -------------------------------------------------------------------


def test_security_log_includes_members_org_less_events_only(owner_client, org, members, outsider, other_org):
    member = members[Role.SALES_REP].user
    SecurityEvent.objects.create(kind=SecurityEvent.Kind.LOGIN_FAILED, actor=member, actor_email=member.email)
    security_event_record(
        kind=SecurityEvent.Kind.LOGIN_FAILED, actor_email=members[Role.VIEWER].user.email.upper()
    )
    security_event_record(kind=SecurityEvent.Kind.LOGIN_FAILED, actor=outsider)
    security_event_record(kind=SecurityEvent.Kind.LOGIN_FAILED, actor_email="nobody@example.com")
    security_event_record(kind=SecurityEvent.Kind.ROLE_CHANGED, organization=other_org, actor=outsider)

    html = owner_client.get(url("settings_security", org)).content.decode()
    assert member.email in html
    assert members[Role.VIEWER].user.email.upper() in html
    assert "Failed login" in html
    assert "outsider@globex.test" not in html
    assert "nobody@example.com" not in html


def test_security_log_filters(owner_client, org, owner):
    security_event_record(
        kind=SecurityEvent.Kind.AUTHZ_DENIED, organization=org, actor=owner, permission="x.y"
    )
    security_event_record(kind=SecurityEvent.Kind.LOGIN, actor=owner)
    assert list(security_events(org=org, kind="authz_denied").values_list("kind", flat=True)) == [
        "authz_denied"
    ]

    html = owner_client.get(url("settings_security", org), {"kind": "authz_denied"}).content.decode()
    assert "Authorisation refused" in html
    assert "<dt>permission</dt><dd>x.y</dd>" in html
    assert '<span class="badge">Login</span>' not in html
    html = owner_client.get(url("settings_security", org), {"actor": "nobody"}).content.decode()
    assert "No events match these filters" in html


@pytest.mark.parametrize("role", [Role.REVOPS_LEAD, Role.SALES_MANAGER, Role.VIEWER])
def test_security_log_is_for_admins(role, client, org, members):
    client.force_login(members[role].user)
    assert client.get(url("settings_security", org)).status_code == 403
    assert client.get(url("settings_security_export", org)).status_code == 403
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.EXPORT).exists()


def test_csv_export_escapes_formulas_and_is_recorded(owner_client, org, owner):
    security_event_record(
        kind=SecurityEvent.Kind.AUTHZ_DENIED,
        organization=org,
        actor_email='=HYPERLINK("http://evil")',
        note="+1",
    )
    security_event_record(
        kind=SecurityEvent.Kind.ROLE_CHANGED, organization=org, actor=owner, member="a@acme.test"
    )

    response = owner_client.get(url("settings_security_export", org))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="security-log-acme.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["when", "event", "who", "ip", "user agent", "details"]
    body = rows[1:]
    evil = next(row for row in body if "HYPERLINK" in row[2])
    assert evil[2] == '\'=HYPERLINK("http://evil")'
    assert evil[5] == "note: +1"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in body for cell in row)

    export = SecurityEvent.objects.get(kind=SecurityEvent.Kind.EXPORT)
    assert export.organization == org and export.actor == owner
    assert export.detail == {"what": "security_log", "rows": len(body)}


def test_csv_export_follows_the_filters(owner_client, org, owner):
    security_event_record(kind=SecurityEvent.Kind.AUTHZ_DENIED, organization=org, actor=owner)
    security_event_record(kind=SecurityEvent.Kind.ROLE_CHANGED, organization=org, actor=owner)
    response = owner_client.get(url("settings_security_export", org), {"kind": "role_changed"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[1] for row in rows[1:]] == ["Role changed"]


def test_security_page_query_count_is_bounded(owner_client, org, django_assert_max_num_queries):
    for _ in range(20):
        member = factories.make_member(org, role=Role.SALES_REP)
        security_event_record(kind=SecurityEvent.Kind.LOGIN, actor=member.user)
        security_event_record(kind=SecurityEvent.Kind.MEMBER_ADDED, organization=org, actor=member.user)
    with django_assert_max_num_queries(6):
        response = owner_client.get(url("settings_security", org))
    # 40 events, plus the owner's own login by the test client.
    assert response.content.decode().count("<time ") == security_events(org=org).count() == 41


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (-5, "-5"),
        (None, ""),
        (True, "true"),
    ],
)
def test_safe_csv_cell(value, expected):
    assert safe_csv_cell(value) == expected
