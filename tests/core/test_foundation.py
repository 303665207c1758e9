"""Health checks, the scoping guard rails, the audit trail and the security log."""

import time

import pghistory
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import IntegrityError, InternalError, connection, transaction
from django.urls import reverse

from apps.accounts import services
from apps.accounts.models import ApiKey, Membership, Organization, Team, User
from apps.accounts.roles import PERMISSIONS, Role, can
from apps.audit.models import SecurityEvent
from apps.core.api.viewsets import OrgScopedViewSet
from apps.core.tasks import HEARTBEAT_KEY, worker_heartbeat
from apps.strategy.models import Goal
from tests import factories

pytestmark = pytest.mark.django_db


def test_healthz_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_needs_a_fresh_worker_heartbeat(client):
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json() == {"status": "unavailable"}
    worker_heartbeat()
    assert client.get("/readyz").status_code == 200
    cache.set(HEARTBEAT_KEY, time.time() - 3600)
    assert client.get("/readyz").status_code == 503


def test_readyz_details_only_for_staff(client):
    worker_heartbeat()
    assert "checks" not in client.get("/readyz").json()
    staff = User.objects.create_user("ops@example.com", "pw-123456789", is_staff=True)
    client.force_login(staff)
    assert client.get("/readyz").json()["checks"] == {"database": True, "redis": True, "worker": True}


def test_a_viewset_cannot_override_get_queryset():
    with pytest.raises(TypeError, match="filter_queryset_for"):

        class Leaky(OrgScopedViewSet):
            def get_queryset(self):
                return Team.objects.all()


def test_every_role_can_view_and_only_admins_manage_members():
    for role in Role:
        assert can(role, "org.view")
    assert [r for r in Role if can(r, "members.manage")] == [Role.ADMIN]
    assert can(Role.REVOPS_LEAD, "routing.edit") and not can(Role.MARKETER, "routing.edit")
    assert not can(Role.VIEWER, "data.export")
    with pytest.raises(KeyError):
        can(Role.ADMIN, "no.such.permission")
    assert all(PERMISSIONS[p] <= set(Role) for p in PERMISSIONS)


def test_inactive_membership_grants_nothing(org):
    member = factories.make_member(org, role=Role.ADMIN)
    member.is_active = False
    assert not member.can("org.view")


def test_member_without_role_gets_403_and_a_security_log_line(client, org, members):
    viewer = members[Role.VIEWER]
    client.force_login(viewer.user)
    response = client.get(reverse("settings_api_keys", kwargs={"org_slug": org.slug}))
    assert response.status_code == 403
    denied = SecurityEvent.objects.get(kind="authz_denied")
    assert denied.actor == viewer.user and denied.organization == org
    assert denied.detail["permission"] == "api_keys.manage"


def test_org_requiring_mfa_sends_members_to_set_it_up(client, org, owner):
    services.organization_update(org=org, require_mfa=True)
    client.force_login(owner)
    response = client.get(reverse("org_home", kwargs={"org_slug": org.slug}))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_required", kwargs={"org_slug": org.slug})


def test_audit_trail_records_actor_and_before_after_even_for_bulk_updates(org, owner):
    team = services.team_create(org=org, name="Pod")
    with pghistory.context(user=owner.pk, actor_email=owner.email):
        Team.objects.for_org(org).update(name="Pod A")  # a bulk update: no save() signal
    # One transaction here, so both events share a timestamp: order by event id.
    events = pghistory.models.Events.objects.tracks(team).order_by("pgh_id")
    labels = [e.pgh_label for e in events]
    assert labels == ["insert", "update"]
    update = events.last()
    assert update.pgh_diff == {"name": ["Pod", "Pod A"]}
    assert update.pgh_context["actor_email"] == owner.email


def test_audit_events_are_append_only(org):
    services.team_create(org=org, name="Pod")
    event_model = pghistory.models.Events.objects.tracks(Team.objects.get(name="Pod")).first()
    assert event_model is not None
    with pytest.raises(InternalError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_teamevent")


def test_security_log_is_append_only(org, owner):
    event = SecurityEvent.objects.create(kind="login", actor=owner)
    with pytest.raises(InternalError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).update(kind="logout")
    with pytest.raises(InternalError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).delete()


def test_logins_and_failed_logins_are_logged(client, owner):
    client.post("/accounts/login/", {"login": owner.email, "password": "wrong"})
    failed = SecurityEvent.objects.get(kind="login_failed")
    assert failed.actor_email == owner.email
    client.post("/accounts/login/", {"login": owner.email, "password": factories.PASSWORD})
    assert SecurityEvent.objects.filter(kind="login", actor=owner).exists()


def test_failed_logins_are_rate_limited(client, owner):
    for n in range(5):
        response = client.post("/accounts/login/", {"login": owner.email, "password": f"wrong-{n}"})
        assert b"Too many failed login attempts" not in response.content
    response = client.post("/accounts/login/", {"login": owner.email, "password": "wrong-again"})
    assert b"Too many failed login attempts" in response.content
    # Even the right password is refused while the account is limited.
    response = client.post("/accounts/login/", {"login": owner.email, "password": factories.PASSWORD})
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_last_admin_cannot_be_demoted_or_removed(org, owner):
    admin = Membership.objects.get(organization=org, user=owner)
    with pytest.raises(services.ServiceError):
        services.membership_set_role(org=org, membership=admin, role=Role.VIEWER, actor=owner)
    with pytest.raises(services.ServiceError):
        services.membership_remove(org=org, membership=admin, actor=owner)
    assert Membership.objects.get(pk=admin.pk).role == Role.ADMIN


def test_a_person_can_belong_to_several_organisations(owner, org):
    second = factories.make_org(name="Second", owner=owner)
    assert set(owner.memberships.values_list("organization__slug", flat=True)) == {org.slug, second.slug}


def test_organisation_validation_names_the_field(owner):
    with pytest.raises(services.ServiceError) as error:
        services.organization_create(name="X", owner=owner, time_zone="Mars/Olympus")
    assert error.value.field == "time_zone"
    with pytest.raises(services.ServiceError) as error:
        services.organization_create(name="X", owner=owner, currency="dollars")
    assert error.value.field == "currency"
    assert not Organization.objects.filter(name="X").exists()


def test_team_names_are_unique_per_org_only(org, other_org):
    services.team_create(org=org, name="Pod")
    services.team_create(org=other_org, name="Pod")
    with pytest.raises(services.ServiceError):
        services.team_create(org=org, name="pod")
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(organization=org, name="Pod")


def test_management_commands(capsys):
    call_command("create_user", "boss@example.com", "--password", "pw-123456789", "--name", "Boss")
    call_command(
        "create_org", "Initech", "--owner", "boss@example.com", "--slug", "initech", "--currency", "EUR"
    )
    org = Organization.objects.get(slug="initech")
    assert org.currency == "EUR"
    assert Membership.objects.get(organization=org).role == Role.ADMIN
    capsys.readouterr()
    call_command("create_api_key", "--org", "initech", "--scopes", "read")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("rvk_")
    prefix, secret = raw.split("_", 2)[1:]
    stored = ApiKey.objects.get(prefix=prefix)
    assert stored.scopes == ["read"] and stored.matches(secret)


def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo")
    counts = (
        User.objects.count(),
        Membership.objects.count(),
        Team.objects.count(),
        Organization.objects.count(),
    )
    call_command("seed_demo")
    assert counts == (
        User.objects.count(),
        Membership.objects.count(),
        Team.objects.count(),
        Organization.objects.count(),
    )
    demo = Organization.objects.get(slug="northwind")
    roles = set(Membership.objects.for_org(demo).values_list("role", flat=True))
    assert roles == set(Role.values)
    # Two quarters of four organisation goals and a team goal, set once.
    assert Goal.objects.for_org(demo).count() == 9
    assert "revops-demo-2026" in capsys.readouterr().out


def test_web_and_worker_processes_freeze_what_startup_loaded():
    import gc
    import importlib

    from celery.signals import worker_process_init

    import revops.wsgi
    from revops.startup import freeze_startup_objects

    assert any(receiver is freeze_startup_objects for _, receiver in worker_process_init.receivers)
    try:
        for start in (lambda: worker_process_init.send(sender=None), lambda: importlib.reload(revops.wsgi)):
            gc.unfreeze()
            assert gc.get_freeze_count() == 0
            start()
            assert gc.get_freeze_count() > 10_000  # the modules, settings and model metadata of startup
    finally:
        gc.unfreeze()


def test_the_cache_keeps_one_redis_client_per_connection_pool():
    from django.core.cache import cache

    cache.set("foundation-cache-check", {"n": 1}, 30)
    assert cache.get("foundation-cache-check") == {"n": 1}
    assert cache.delete("foundation-cache-check") and cache.get("foundation-cache-check") is None
    assert cache._cache.get_client() is cache._cache.get_client(write=True)  # one server: one pool
