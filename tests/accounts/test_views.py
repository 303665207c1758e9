"""Settings pages for the organisation, members, invitations, teams and API keys."""

import re
import zoneinfo
from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import ApiKey, Invitation, Membership, Organization, Team
from apps.accounts.roles import Role
from apps.audit.models import SecurityEvent
from tests import factories

pytestmark = pytest.mark.django_db


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


LIST_PAGES = [
    "settings_org",
    "settings_members",
    "settings_invitations",
    "settings_teams",
    "settings_api_keys",
]


# --- Access -------------------------------------------------------------------


@pytest.mark.parametrize("name", LIST_PAGES)
def test_admin_sees_every_settings_page_with_the_nav(name, owner_client, org):
    response = owner_client.get(url(name, org))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<nav class="subnav" aria-label="Settings">' in html
    assert html.count('aria-current="page"') == 2  # the sidebar's Settings and this page's tab
    assert "<script>" not in html


@pytest.mark.parametrize(
    "name, role, status",
    [
        ("settings_org", Role.VIEWER, 200),
        ("settings_members", Role.VIEWER, 200),
        ("settings_teams", Role.SALES_REP, 200),
        ("settings_invitations", Role.REVOPS_LEAD, 403),
        ("settings_api_keys", Role.VIEWER, 403),
        ("settings_api_keys", Role.REVOPS_LEAD, 403),
    ],
)
def test_pages_follow_the_role_permissions(name, role, status, client, org, members):
    client.force_login(members[role].user)
    assert client.get(url(name, org)).status_code == status


@pytest.mark.parametrize("name", LIST_PAGES)
def test_outsider_gets_404_on_org_pages(name, outsider_client, org):
    assert outsider_client.get(url(name, org)).status_code == 404


def test_outsider_gets_404_on_object_pages(outsider_client, org, owner):
    team = services.team_create(org=org, name="Secret team")
    key, _ = factories.make_api_key(org)
    invitation, _ = services.invitation_create(
        org=org, email="x@acme.test", role=Role.VIEWER, invited_by=owner
    )
    owner_membership = Membership.objects.get(organization=org, user=owner)
    assert outsider_client.get(url("settings_team", org, team.pk)).status_code == 404
    assert outsider_client.post(url("settings_team_delete", org, team.pk)).status_code == 404
    assert outsider_client.post(url("settings_api_key_revoke", org, key.pk)).status_code == 404
    assert outsider_client.post(url("settings_invitation_revoke", org, invitation.pk)).status_code == 404
    assert (
        outsider_client.post(
            url("settings_member_role", org, owner_membership.pk), {"role": "viewer"}
        ).status_code
        == 404
    )
    assert Team.objects.filter(pk=team.pk).exists()
    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.ADMIN


def test_another_orgs_object_through_our_own_address_is_404(owner_client, org, other_org):
    their_team = services.team_create(org=other_org, name="Their team")
    assert owner_client.get(url("settings_team", org, their_team.pk)).status_code == 404
    assert owner_client.post(url("settings_team_delete", org, their_team.pk)).status_code == 404
    assert Team.objects.filter(pk=their_team.pk).exists()


# --- Organisation -------------------------------------------------------------


def test_viewer_sees_org_settings_read_only_and_cannot_post(client, org, members):
    client.force_login(members[Role.VIEWER].user)
    response = client.get(url("settings_org", org))
    assert response.status_code == 200
    assert re.search(r'<input type="text" name="name" value="Acme"[^>]*disabled', response.content.decode())
    assert b"Save settings" not in response.content

    response = client.post(
        url("settings_org", org), {"name": "Hacked", "time_zone": "UTC", "currency": "USD"}
    )
    assert response.status_code == 403
    org.refresh_from_db()
    assert org.name == "Acme"


def test_admin_updates_the_organisation(owner_client, org):
    response = owner_client.post(
        url("settings_org", org),
        {
            "name": "Acme Inc",
            "time_zone": "Europe/Paris",
            "currency": "eur",
            "fiscal_year_start_month": "4",
            "attribution_model": "w_shaped",
        },
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.time_zone, org.currency, org.fiscal_year_start_month, org.attribution_model) == (
        "Acme Inc",
        "Europe/Paris",
        "EUR",
        4,
        "w_shaped",
    )
    assert org.require_mfa is False


def test_default_attribution_model_is_linear_and_offers_every_model(owner_client, org):
    assert org.attribution_model == "linear"
    html = owner_client.get(url("settings_org", org)).content.decode()
    assert '<option value="linear" selected>Linear</option>' in html
    for key, label in (("first_touch", "First touch"), ("time_decay", "Time decay")):
        assert f'<option value="{key}">{label}</option>' in html
    assert '<option value="markov">Data-driven (Markov)</option>' in html


def test_the_api_names_the_organisations_default_attribution_model(org, api):
    services.organization_update(org=org, attribution_model="u_shaped")
    data = api.get(reverse("api-organization")).json()
    assert (data["slug"], data["attribution_model"]) == ("acme", "u_shaped")


def test_an_unknown_attribution_model_is_refused(owner_client, org):
    response = owner_client.post(
        url("settings_org", org),
        {
            "name": "Acme",
            "time_zone": "UTC",
            "currency": "USD",
            "fiscal_year_start_month": "1",
            "attribution_model": "last_click",
        },
    )
    assert response.status_code == 200
    refusal = "Select a valid choice. last_click is not one of the available choices."
    assert refusal in response.content.decode()
    org.refresh_from_db()
    assert org.attribution_model == "linear"
    with pytest.raises(services.ServiceError) as refused:
        services.organization_update(org=org, attribution_model="last_click")
    assert refused.value.fields == {"attribution_model": ["Value 'last_click' is not a valid choice."]}


def test_service_refusal_is_shown_next_to_the_field(owner_client, org):
    response = owner_client.post(
        url("settings_org", org),
        {
            "name": "Acme",
            "time_zone": "UTC",
            "currency": "1X3",
            "fiscal_year_start_month": "1",
            "attribution_model": "linear",
        },
    )
    assert response.status_code == 200
    assert "Use a three-letter ISO 4217 code." in response.content.decode()
    org.refresh_from_db()
    assert org.currency == "USD"


def test_org_create_makes_the_caller_admin(client, outsider):
    client.force_login(outsider)
    response = client.post(
        reverse("org_create"),
        {"name": "Initech", "time_zone": "UTC", "currency": "USD", "fiscal_year_start_month": "1"},
    )
    org = Organization.objects.get(name="Initech")
    assert response.status_code == 302
    assert response["Location"] == reverse("org_home", args=[org.slug])
    assert Membership.objects.get(organization=org, user=outsider).role == Role.ADMIN


def test_required_mfa_sends_members_to_the_explanation(owner, org, outsider_client):
    services.organization_update(org=org, require_mfa=True)
    owner_client = login(owner)  # outsider_client is the same `client`, logged in as the outsider
    response = owner_client.get(url("settings_members", org))
    assert response.status_code == 302
    assert response["Location"] == url("mfa_required", org)

    page = owner_client.get(url("mfa_required", org))
    assert page.status_code == 200
    assert reverse("mfa_activate_totp").encode() in page.content

    assert outsider_client.get(url("mfa_required", org)).status_code == 404


def test_mfa_required_page_lets_members_with_an_authenticator_through(owner_client, org, owner):
    services.organization_update(org=org, require_mfa=True)
    Authenticator.objects.create(user=owner, type=Authenticator.Type.TOTP, data={})
    response = owner_client.get(url("mfa_required", org))
    assert response.status_code == 302
    assert response["Location"] == reverse("org_home", args=[org.slug])


# --- Members ------------------------------------------------------------------


def test_members_page_lists_people_and_forms_only_for_managers(client, org, members, owner):
    client.force_login(members[Role.VIEWER].user)
    html = client.get(url("settings_members", org)).content.decode()
    assert members[Role.SALES_REP].user.email in html
    assert "owner@acme.test" in html
    assert 'name="role"' not in html

    client.force_login(owner)
    html = client.get(url("settings_members", org)).content.decode()
    assert html.count('name="role"') == len(members) + 1


def test_role_change_refuses_to_remove_the_last_admin(owner_client, org, owner):
    own = Membership.objects.get(organization=org, user=owner)
    response = owner_client.post(url("settings_member_role", org, own.pk), {"role": Role.VIEWER}, follow=True)
    assert "An organisation needs at least one admin." in response.content.decode()
    own.refresh_from_db()
    assert own.role == Role.ADMIN


def test_role_change_is_applied_and_logged(owner_client, org, members):
    rep = members[Role.SALES_REP]
    response = owner_client.post(url("settings_member_role", org, rep.pk), {"role": Role.SALES_MANAGER})
    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.role == Role.SALES_MANAGER
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.ROLE_CHANGED)
    assert event.organization == org
    assert event.detail == {"member": rep.user.email, "before": "sales_rep", "after": "sales_manager"}


def test_only_member_managers_change_roles(client, org, members):
    client.force_login(members[Role.REVOPS_LEAD].user)
    viewer = members[Role.VIEWER]
    assert client.post(url("settings_member_role", org, viewer.pk), {"role": Role.ADMIN}).status_code == 403
    viewer.refresh_from_db()
    assert viewer.role == Role.VIEWER


def test_member_removal(owner_client, org, members, owner):
    for role in (Role.SALES_REP, Role.ADMIN):
        assert owner_client.post(url("settings_member_remove", org, members[role].pk)).status_code == 302
        assert not Membership.objects.filter(pk=members[role].pk).exists()

    own = Membership.objects.get(organization=org, user=owner)
    response = owner_client.post(url("settings_member_remove", org, own.pk), follow=True)
    assert "An organisation needs at least one admin." in response.content.decode()
    assert Membership.objects.filter(pk=own.pk).exists()


def test_post_only_routes_refuse_get(owner_client, org, members):
    rep = members[Role.SALES_REP]
    assert owner_client.get(url("settings_member_remove", org, rep.pk)).status_code == 405
    assert Membership.objects.filter(pk=rep.pk).exists()


def test_members_page_query_count_is_bounded(owner_client, org, django_assert_max_num_queries):
    team = services.team_create(org=org, name="Field sales")
    people = [factories.make_member(org, role=Role.SALES_REP) for _ in range(20)]
    services.team_set_members(org=org, team=team, members=people)
    with django_assert_max_num_queries(8):
        response = owner_client.get(url("settings_members", org))
    assert response.status_code == 200
    assert response.content.decode().count("Field sales") == 20


# --- Invitations --------------------------------------------------------------


def _invite(client, org, email="newbie@acme.test", role=Role.SALES_REP):
    response = client.post(url("settings_invitations", org), {"email": email, "role": role})
    assert response.status_code == 200
    match = re.search(r'<code id="invite-link">(http[^<]+)</code>', response.content.decode())
    assert match, "the invitation link is shown once"
    return match.group(1)


def test_invitation_is_shown_once_emailed_and_accepted_by_the_invited_user(owner_client, org):
    link = _invite(owner_client, org)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["newbie@acme.test"]
    assert link in mail.outbox[0].body
    assert link.encode() not in owner_client.get(url("settings_invitations", org)).content

    invited = factories.make_user(email="newbie@acme.test")
    client = login(invited)
    page = client.get(link)
    assert page.status_code == 200
    assert b"Accept and join Acme" in page.content

    response = client.post(link)
    assert response.status_code == 302
    assert response["Location"] == reverse("org_home", args=[org.slug])
    membership = Membership.objects.get(organization=org, user=invited)
    assert membership.role == Role.SALES_REP
    assert Invitation.objects.get(email="newbie@acme.test").status == "accepted"


def test_invitation_for_someone_else_is_refused(owner_client, org):
    link = _invite(owner_client, org)
    stranger = factories.make_user(email="stranger@example.com")
    response = login(stranger).post(link)
    assert response.status_code == 400
    assert "This invitation was sent to newbie@acme.test" in response.content.decode()
    assert not Membership.objects.filter(organization=org, user=stranger).exists()


def test_anonymous_visitor_sees_who_is_invited_and_how_to_log_in(client, owner_client, org):
    link = _invite(owner_client, org)
    path = link.replace("http://testserver", "")
    response = Client().get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert "newbie@acme.test" in html and "Acme" in html
    assert f"{reverse('account_login')}?next={path}" in html
    assert f"{reverse('account_signup')}?next={path}" in html


def test_unknown_invitation_token_is_404(client):
    assert client.get(reverse("invitation_accept", args=["not-a-token"])).status_code == 404


def test_invitation_errors_stay_next_to_the_field(owner_client, org, members):
    response = owner_client.post(
        url("settings_invitations", org), {"email": members[Role.VIEWER].user.email, "role": Role.VIEWER}
    )
    assert response.status_code == 200
    assert "is already a member." in response.content.decode()
    assert not Invitation.objects.exists()


def test_revoked_invitation_cannot_be_accepted(owner_client, org):
    link = _invite(owner_client, org)
    invitation = Invitation.objects.get()
    assert owner_client.post(url("settings_invitation_revoke", org, invitation.pk)).status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == "revoked"
    response = login(factories.make_user(email="newbie@acme.test")).post(link)
    assert response.status_code == 400
    assert not Membership.objects.filter(organization=org, user__email="newbie@acme.test").exists()


# --- Teams --------------------------------------------------------------------


def test_team_create_and_edit_with_members(client, org, members):
    manager = members[Role.SALES_MANAGER]
    rep, viewer = members[Role.SALES_REP], members[Role.VIEWER]
    client.force_login(manager.user)

    response = client.post(
        url("settings_teams", org),
        {"name": "EMEA", "kind": "sales", "manager": manager.pk, "members": [rep.pk, manager.pk]},
    )
    team = Team.objects.get(organization=org, name="EMEA")
    assert response.status_code == 302
    assert response["Location"] == url("settings_team", org, team.pk)
    assert set(team.members.all()) == {rep, manager}
    assert team.manager == manager

    response = client.post(
        url("settings_team", org, team.pk),
        {"name": "EMEA North", "kind": "customer_success", "manager": "", "members": [viewer.pk]},
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.kind, team.manager) == ("EMEA North", "customer_success", None)
    assert list(team.members.all()) == [viewer]

    listing = client.get(url("settings_teams", org)).content.decode()
    assert "EMEA North" in listing and "Customer success" in listing


def test_team_form_rejects_people_from_another_org(owner_client, org, other_org, outsider):
    foreigner = Membership.objects.get(organization=other_org, user=outsider)
    response = owner_client.post(
        url("settings_teams", org), {"name": "Mixed", "kind": "sales", "members": [foreigner.pk]}
    )
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert not Team.objects.filter(name="Mixed").exists()


def test_duplicate_team_name_is_a_field_error(owner_client, org):
    services.team_create(org=org, name="EMEA")
    response = owner_client.post(url("settings_teams", org), {"name": "emea", "kind": "sales"})
    assert response.status_code == 200
    assert "A team called emea already exists." in response.content.decode()


def test_sales_rep_sees_teams_but_cannot_change_them(client, org, members):
    team = services.team_create(org=org, name="EMEA")
    client.force_login(members[Role.SALES_REP].user)
    listing = client.get(url("settings_teams", org))
    assert listing.status_code == 200
    assert b"Create team" not in listing.content
    assert client.post(url("settings_teams", org), {"name": "Mine", "kind": "sales"}).status_code == 403
    assert (
        client.post(url("settings_team", org, team.pk), {"name": "Renamed", "kind": "sales"}).status_code
        == 403
    )
    assert client.post(url("settings_team_delete", org, team.pk)).status_code == 403
    team.refresh_from_db()
    assert team.name == "EMEA"


def test_team_delete(owner_client, org):
    team = services.team_create(org=org, name="EMEA")
    response = owner_client.post(url("settings_team_delete", org, team.pk))
    assert response.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()


def test_teams_page_query_count_is_bounded(owner_client, org, django_assert_max_num_queries):
    people = [factories.make_member(org, role=Role.SALES_REP) for _ in range(5)]
    for n in range(20):
        services.team_create(org=org, name=f"Team {n:02}", manager=people[n % 5], members=people[:3])
    with django_assert_max_num_queries(9):
        response = owner_client.get(url("settings_teams", org))
    assert response.content.decode().count("/settings/teams/") >= 20


def test_empty_teams_page_says_what_to_do(owner_client, org):
    html = owner_client.get(url("settings_teams", org)).content.decode()
    assert "No teams yet" in html and "Create a team below" in html


# --- API keys -----------------------------------------------------------------


def test_api_key_is_shown_once_and_works(owner_client, org):
    response = owner_client.post(url("settings_api_keys", org), {"name": "CRM sync", "scopes": ["read"]})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Copy this key now: it will not be shown again." in html
    raw = re.search(r'<code id="new-api-key">([^<]+)</code>', html).group(1)
    assert "no-store" in response["Cache-Control"]

    key = ApiKey.objects.get(organization=org, name="CRM sync")
    assert key.scopes == ["read"]
    assert key.created_by.email == "owner@acme.test"
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/organization/").json()["slug"] == org.slug

    listing = owner_client.get(url("settings_api_keys", org)).content.decode()
    assert raw not in listing
    assert f"rvk_{key.prefix}_…" in listing
    assert 'id="new-api-key"' not in listing


def test_api_key_needs_a_scope_and_a_future_expiry(owner_client, org):
    response = owner_client.post(url("settings_api_keys", org), {"name": "CRM"})
    assert "This field is required." in response.content.decode()
    past = (timezone.now() - timedelta(days=2)).date().isoformat()
    response = owner_client.post(
        url("settings_api_keys", org), {"name": "CRM", "scopes": ["read"], "expires_on": past}
    )
    assert "The expiry must be in the future." in response.content.decode()
    assert not ApiKey.objects.filter(organization=org).exists()


def test_api_key_expiry_is_the_end_of_the_chosen_day(owner_client, org):
    services.organization_update(org=org, time_zone="Europe/Paris")
    day = (timezone.now() + timedelta(days=10)).date()
    owner_client.post(
        url("settings_api_keys", org),
        {"name": "CRM", "scopes": ["read", "write"], "expires_on": day.isoformat()},
    )
    key = ApiKey.objects.get(organization=org)
    local = key.expires_at.astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    assert (local.date(), local.hour, local.minute) == (day + timedelta(days=1), 0, 0)


def test_api_key_revoke(owner_client, org):
    key, raw = factories.make_api_key(org)
    response = owner_client.post(url("settings_api_key_revoke", org, key.pk))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.status == "revoked"
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/organization/").status_code == 401
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.API_KEY_REVOKED, organization=org).exists()


def test_api_keys_page_query_count_is_bounded(owner_client, org, owner, django_assert_max_num_queries):
    for n in range(20):
        services.api_key_create(org=org, name=f"Key {n}", scopes=["read"], created_by=owner)
    with django_assert_max_num_queries(7):
        response = owner_client.get(url("settings_api_keys", org))
    assert response.content.decode().count("rvk_") == 20


# --- allauth pages in our layout ------------------------------------------------------


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>")


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"])
def test_allauth_entrance_pages_use_our_layout_without_inline_scripts(client, path):
    response = client.get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<header class="topbar">' in html
    assert not INLINE_SCRIPT.search(html)


@pytest.mark.parametrize("path", ["/accounts/email/", "/accounts/2fa/", "/accounts/password/change/"])
def test_allauth_account_pages_use_our_layout_and_account_nav(owner_client, path):
    response = owner_client.get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<nav class="subnav" aria-label="Your account">' in html
    assert not INLINE_SCRIPT.search(html)
