"""Settings pages for the organisation, its people, teams and API keys.

Views parse with a form, authorise through `org_view` / `require_permission`,
call a service and redirect with a flash message.
"""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.mail import send_mail
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org

from . import services
from .access import has_mfa, membership_for, org_view, require_permission
from .forms import (
    ApiKeyForm,
    InvitationForm,
    MemberRoleForm,
    OrganizationCreateForm,
    OrganizationForm,
    TeamForm,
)
from .models import ApiKey, Invitation, Membership, Team
from .roles import Role

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# --- Organisation -----------------------------------------------------------


@login_required
def org_create(request):
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = services.organization_create(owner=request.user, **form.cleaned_data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request, f"{org.name} is ready. Invite your colleagues from Settings → Invitations."
            )
            return redirect("org_home", org_slug=org.slug)
    return render(request, "accounts/org_create.html", {"form": form})


@org_view("org.view")
def settings_org(request):
    org = request.org
    can_edit = request.membership.can("org.edit")
    if request.method == "POST":
        require_permission(request, "org.edit")
        form = OrganizationForm(request.POST)
        if form.is_valid():
            try:
                services.organization_update(org=org, **form.cleaned_data)
            except ServiceError as exc:
                org.refresh_from_db()  # the service set attributes before refusing
                add_service_error(form, exc)
            else:
                messages.success(request, "Organisation settings saved.")
                return redirect("settings_org", org_slug=org.slug)
    else:
        form = OrganizationForm(
            initial={
                "name": org.name,
                "time_zone": org.time_zone,
                "currency": org.currency,
                "fiscal_year_start_month": org.fiscal_year_start_month,
                "require_mfa": org.require_mfa,
                "attribution_model": org.attribution_model,
            },
            read_only=not can_edit,
        )
    return render(request, "accounts/settings_org.html", {"form": form, "can_edit": can_edit})


@login_required
def mfa_required(request, org_slug):
    # Not behind org_view: org_view sends people here, and would send them here again.
    membership = membership_for(user=request.user, org_slug=org_slug)
    org = membership.organization
    if not org.require_mfa or has_mfa(request.user):
        return redirect("org_home", org_slug=org.slug)
    return render(request, "accounts/mfa_required.html", {"mfa_org": org})


# --- Members ----------------------------------------------------------------


@org_view("org.view")
def settings_members(request):
    memberships = (
        Membership.objects.for_org(request.org)
        .select_related("user")
        .prefetch_related("teams")
        .order_by("user__email")
    )
    return render(
        request,
        "accounts/members.html",
        {
            "page": _page(request, memberships),
            "can_manage": request.membership.can("members.manage"),
            "roles": Role.choices,
        },
    )


@org_view("members.manage")
def settings_member_role(request, pk):
    membership = get_for_org(Membership.objects.select_related("user"), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed roles.")
        return redirect("settings_members", org_slug=request.org.slug)
    try:
        services.membership_set_role(
            org=request.org,
            membership=membership,
            role=form.cleaned_data["role"],
            actor=request.user,
            request=request,
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
    return redirect("settings_members", org_slug=request.org.slug)


@org_view("members.manage")
def settings_member_remove(request, pk):
    membership = get_for_org(Membership.objects.select_related("user"), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    try:
        services.membership_remove(
            org=request.org, membership=membership, actor=request.user, request=request
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("settings_members", org_slug=request.org.slug)
    if membership.user_id == request.user.pk:
        messages.success(request, f"You left {request.org.name}.")
        return redirect("home")
    messages.success(request, f"{membership.user.email} was removed from {request.org.name}.")
    return redirect("settings_members", org_slug=request.org.slug)


# --- Invitations --------------------------------------------------------------


def _send_invitation(request, invitation, link):
    try:
        send_mail(
            subject=f"You are invited to {request.org.name} on revops",
            message=(
                f"{request.user.display_name} invited you to join {request.org.name} on revops "
                f"as {invitation.get_role_display()}.\n\nAccept the invitation: {link}\n\n"
                f"The link works once and expires on {invitation.expires_at:%Y-%m-%d}."
            ),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except Exception:  # the link is on the page too; a mail outage must not lose it
        logger.warning("could not e-mail invitation %s", invitation.pk, exc_info=True)
        return False
    return True


@org_view("members.manage")
@never_cache
def settings_invitations(request):
    form = InvitationForm(request.POST or None)
    invite_link = None
    if request.method == "POST" and form.is_valid():
        try:
            invitation, token = services.invitation_create(
                org=request.org, invited_by=request.user, **form.cleaned_data
            )
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            # Rendered, not redirected: the one-time link must not be kept in the session.
            invite_link = request.build_absolute_uri(reverse("invitation_accept", args=[token]))
            if _send_invitation(request, invitation, invite_link):
                messages.success(request, f"Invitation sent to {invitation.email}.")
            else:
                messages.warning(
                    request, f"The e-mail to {invitation.email} could not be sent; share the link below."
                )
            form = InvitationForm()
    invitations = Invitation.objects.for_org(request.org).select_related("invited_by")
    return render(
        request,
        "accounts/invitations.html",
        {"form": form, "page": _page(request, invitations), "invite_link": invite_link},
    )


@org_view("members.manage")
def settings_invitation_revoke(request, pk):
    invitation = get_for_org(Invitation.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"The invitation to {invitation.email} is {invitation.status}.")
    return redirect("settings_invitations", org_slug=request.org.slug)


def invitation_accept(request, token):
    invitation = services.invitation_for_token(token)
    if invitation is None:
        raise Http404("No such invitation.")
    context = {"invitation": invitation, "invited_org": invitation.organization, "error": None}
    if not request.user.is_authenticated:
        return render(request, "accounts/invitation_accept.html", context)
    if request.method == "POST":
        try:
            membership = services.invitation_accept(token=token, user=request.user, request=request)
        except ServiceError as exc:
            context["error"] = exc.message
            return render(request, "accounts/invitation_accept.html", context, status=400)
        messages.success(request, f"Welcome to {membership.organization.name}.")
        return redirect("org_home", org_slug=membership.organization.slug)
    return render(request, "accounts/invitation_accept.html", context)


# --- Teams ------------------------------------------------------------------


@org_view("org.view")
def settings_teams(request):
    can_manage = request.membership.can("teams.manage")
    form = TeamForm(request.POST or None, org=request.org) if can_manage else None
    if request.method == "POST":
        require_permission(request, "teams.manage")
        if form.is_valid():
            try:
                team = services.team_create(org=request.org, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Team {team.name} created.")
                return redirect("settings_team", org_slug=request.org.slug, pk=team.pk)
    teams = (
        Team.objects.for_org(request.org)
        .select_related("manager__user")
        .annotate(member_count=Count("members", distinct=True))
        .order_by("name")
    )
    return render(
        request,
        "accounts/teams.html",
        {"form": form, "page": _page(request, teams), "can_manage": can_manage},
    )


@org_view("org.view")
def settings_team(request, pk):
    team = get_for_org(Team.objects.select_related("manager__user"), org=request.org, pk=pk)
    can_manage = request.membership.can("teams.manage")
    if request.method == "POST":
        require_permission(request, "teams.manage")
        form = TeamForm(request.POST, org=request.org)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.team_update(
                    org=request.org,
                    team=team,
                    members=list(data["members"]),
                    name=data["name"],
                    kind=data["kind"],
                    manager=data["manager"],
                )
            except ServiceError as exc:
                team.refresh_from_db()
                add_service_error(form, exc)
            else:
                messages.success(request, f"Team {team.name} saved.")
                return redirect("settings_team", org_slug=request.org.slug, pk=team.pk)
    else:
        form = TeamForm(
            org=request.org,
            read_only=not can_manage,
            initial={
                "name": team.name,
                "kind": team.kind,
                "manager": team.manager_id,
                "members": list(team.members.values_list("pk", flat=True)),
            },
        )
    return render(request, "accounts/team.html", {"team": team, "form": form, "can_manage": can_manage})


@org_view("teams.manage")
def settings_team_delete(request, pk):
    team = get_for_org(Team.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    services.team_delete(org=request.org, team=team)
    messages.success(request, f"Team {team.name} deleted.")
    return redirect("settings_teams", org_slug=request.org.slug)


# --- API keys -----------------------------------------------------------------


@org_view("api_keys.manage")
@never_cache
def settings_api_keys(request):
    form = ApiKeyForm(request.POST or None, time_zone=request.org.time_zone)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = services.api_key_create(
                org=request.org,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                created_by=request.user,
                expires_at=form.expires_at(),
                request=request,
            )
        except ServiceError as exc:
            add_service_error(form, exc, aliases={"expires_at": "expires_on"})
        else:
            # Rendered, not redirected: the secret must never be stored, not even in the session.
            new_key = {"key": key, "raw": raw}
            form = ApiKeyForm(time_zone=request.org.time_zone)
    keys = ApiKey.objects.for_org(request.org).select_related("created_by")
    return render(
        request, "accounts/api_keys.html", {"form": form, "page": _page(request, keys), "new_key": new_key}
    )


@org_view("api_keys.manage")
def settings_api_key_revoke(request, pk):
    key = get_for_org(ApiKey.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    services.api_key_revoke(org=request.org, key=key, actor=request.user, request=request)
    messages.success(request, f"The key {key.name} is revoked; requests using it now fail.")
    return redirect("settings_api_keys", org_slug=request.org.slug)
