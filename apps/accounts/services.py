"""Writes for people, organisations, teams, invitations and API keys.

Every function is atomic, takes keyword arguments only and raises
`ServiceError` for input it refuses.
"""

import secrets
from datetime import timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.models import SecurityEvent
from apps.audit.services import security_event_record
from apps.core.errors import ServiceError

from .models import ApiKey, ApiKeyScope, Invitation, Membership, Organization, Team, TeamMember, User
from .roles import Role

INVITATION_LIFETIME = timedelta(days=7)


def is_active_member(org, membership: Membership | None) -> bool:
    """Whether `membership` belongs to `org` and can still act there (it and its user are active)."""
    return (
        membership is not None
        and membership.organization_id == org.pk
        and membership.is_active
        and membership.user.is_active
    )


def active_member(org, value, *, field: str = "owner", required: str = "") -> Membership | None:
    """The active member of `org` that `value` (a Membership or an id) names, for a service's input.

    Blank is None, or a ServiceError saying `required` when it is given; anything
    else that is not an active member of this organisation is refused on `field`.
    """
    pk = value.pk if isinstance(value, Membership) else value
    if pk in (None, ""):
        if required:
            raise ServiceError(required, field=field)
        return None
    found = (
        Membership.objects.for_org(org).filter(pk=pk, is_active=True).first() if str(pk).isdigit() else None
    )
    if found is None:
        raise ServiceError("No active member of this organisation has this id.", field=field)
    return found


def user_create(
    *, email: str, password: str | None = None, full_name: str = "", is_staff: bool = False
) -> User:
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ServiceError(f"A user with the e-mail {email} already exists.", code="duplicate", field="email")
    return User.objects.create_user(email, password, full_name=full_name, is_staff=is_staff)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_create(
    *,
    name: str,
    owner: User,
    slug: str | None = None,
    time_zone: str = "UTC",
    currency: str = "USD",
    fiscal_year_start_month: int = 1,
) -> Organization:
    name = name.strip()
    if not name:
        raise ServiceError("Give the organisation a name.", field="name")
    if slug and Organization.objects.filter(slug=slug).exists():
        raise ServiceError(f"The address /o/{slug}/ is taken.", code="duplicate", field="slug")
    org = Organization(
        name=name,
        slug=slug or _unique_slug(name),
        time_zone=time_zone,
        currency=currency.upper(),
        fiscal_year_start_month=fiscal_year_start_month,
    )
    _full_clean(org)
    org.save()
    Membership.objects.create(organization=org, user=owner, role=Role.ADMIN)
    # Records and execution build on accounts, hence the late imports.
    from apps.execution.services.setup import reject_reasons_install_defaults
    from apps.records.services import stages_install_defaults

    stages_install_defaults(org=org, actor=owner)
    reject_reasons_install_defaults(org=org)
    return org


def _full_clean(instance, exclude=None):
    from django.core.exceptions import ValidationError

    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ServiceError(messages[0], field=None if field == "__all__" else field) from None


@transaction.atomic
def organization_update(*, org: Organization, **fields) -> Organization:
    allowed = {
        "name", "time_zone", "currency", "fiscal_year_start_month", "require_mfa", "attribution_model",
    }  # fmt: skip
    unknown = set(fields) - allowed
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    for key, value in fields.items():
        setattr(org, key, value)
    _full_clean(org, exclude=["slug"])
    org.save()
    # Cached API keys carry their organisation; drop them so the API sees the change.
    prefixes = list(ApiKey.objects.for_org(org).values_list("prefix", flat=True))
    transaction.on_commit(lambda: [_forget_cached_key(p) for p in prefixes])
    return org


def _admins_left(org, *, excluding: Membership) -> int:
    return (
        Membership.objects.for_org(org)
        .filter(role=Role.ADMIN, is_active=True)
        .exclude(pk=excluding.pk)
        .count()
    )


@transaction.atomic
def membership_set_role(*, org: Organization, membership: Membership, role: str, actor: User, request=None):
    if role not in Role.values:
        raise ServiceError(f"{role!r} is not a role.", field="role")
    if membership.role == Role.ADMIN and role != Role.ADMIN and _admins_left(org, excluding=membership) == 0:
        raise ServiceError("An organisation needs at least one admin.", code="last_admin", field="role")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    security_event_record(
        kind=SecurityEvent.Kind.ROLE_CHANGED,
        request=request,
        organization=org,
        actor=actor,
        member=membership.user.email,
        before=previous,
        after=role,
    )
    return membership


@transaction.atomic
def membership_remove(*, org: Organization, membership: Membership, actor: User, request=None) -> None:
    if membership.role == Role.ADMIN and _admins_left(org, excluding=membership) == 0:
        raise ServiceError("An organisation needs at least one admin.", code="last_admin")
    email = membership.user.email
    membership.delete()
    security_event_record(
        kind=SecurityEvent.Kind.MEMBER_REMOVED, request=request, organization=org, actor=actor, member=email
    )


@transaction.atomic
def invitation_create(
    *, org: Organization, email: str, role: str, invited_by: User
) -> tuple[Invitation, str]:
    """Create an invitation and return it with its one-time token (only its hash is stored)."""
    email = User.objects.normalize_email(email).strip().lower()
    if role not in Role.values:
        raise ServiceError(f"{role!r} is not a role.", field="role")
    if Membership.objects.for_org(org).filter(user__email__iexact=email).exists():
        raise ServiceError(f"{email} is already a member.", code="duplicate", field="email")
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        organization=org,
        email=email,
        role=role,
        token_hash=Invitation.hash_token(token),
        invited_by=invited_by,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    _full_clean(invitation, exclude=["organization", "invited_by", "accepted_by"])
    invitation.save()
    return invitation, token


def invitation_for_token(token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("organization")
        .filter(token_hash=Invitation.hash_token(token))
        .first()
    )


@transaction.atomic
def invitation_accept(*, token: str, user: User, request=None) -> Membership:
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organization")
        .filter(token_hash=Invitation.hash_token(token))
        .first()
    )
    if invitation is None or invitation.status != "pending":
        state = invitation.status if invitation else "unknown"
        raise ServiceError(
            f"This invitation is {state}; ask an admin for a new link.", code=f"invitation_{state}"
        )
    if invitation.email.lower() != user.email.lower():
        raise ServiceError(
            f"This invitation was sent to {invitation.email}; log in with that address to accept it.",
            code="invitation_email_mismatch",
        )
    org = invitation.organization
    membership, created = Membership.objects.get_or_create(
        organization=org, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    if created:
        security_event_record(
            kind=SecurityEvent.Kind.MEMBER_ADDED,
            request=request,
            organization=org,
            actor=user,
            role=membership.role,
        )
    return membership


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> Invitation:
    if invitation.status == "pending":
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at", "updated_at"])
    return invitation


def _check_team_members(org: Organization, memberships) -> None:
    for membership in memberships:
        if membership.organization_id != org.pk:
            raise ServiceError("Every team member must belong to this organisation.", field="members")


@transaction.atomic
def team_create(
    *,
    org: Organization,
    name: str,
    kind: str = Team.Kind.SALES,
    manager: Membership | None = None,
    members=(),
) -> Team:
    members = list(members)
    _check_team_members(org, [*members, *([manager] if manager else [])])
    if Team.objects.for_org(org).filter(name__iexact=name.strip()).exists():
        raise ServiceError(f"A team called {name.strip()} already exists.", code="duplicate", field="name")
    team = Team(organization=org, name=name.strip(), kind=kind, manager=manager)
    _full_clean(team, exclude=["organization", "manager"])
    team.save()
    team_set_members(org=org, team=team, members=members)
    return team


@transaction.atomic
def team_update(*, org: Organization, team: Team, members=None, **fields) -> Team:
    allowed = {"name", "kind", "manager"}
    unknown = set(fields) - allowed
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    if fields.get("manager") is not None:
        _check_team_members(org, [fields["manager"]])
    if "name" in fields:
        fields["name"] = fields["name"].strip()
        clash = Team.objects.for_org(org).filter(name__iexact=fields["name"]).exclude(pk=team.pk)
        if clash.exists():
            raise ServiceError(
                f"A team called {fields['name']} already exists.", code="duplicate", field="name"
            )
    for key, value in fields.items():
        setattr(team, key, value)
    _full_clean(team, exclude=["organization", "manager"])
    try:
        team.save()
    except IntegrityError:
        raise ServiceError("A team with that name already exists.", code="duplicate", field="name") from None
    if members is not None:
        team_set_members(org=org, team=team, members=members)
    return team


@transaction.atomic
def team_set_members(*, org: Organization, team: Team, members) -> None:
    members = list(members)
    _check_team_members(org, members)
    wanted = {m.pk for m in members}
    current = set(TeamMember.objects.for_org(org).filter(team=team).values_list("membership_id", flat=True))
    TeamMember.objects.for_org(org).filter(team=team, membership_id__in=current - wanted).delete()
    TeamMember.objects.bulk_create(
        [TeamMember(organization=org, team=team, membership_id=pk) for pk in wanted - current]
    )


@transaction.atomic
def team_delete(*, org: Organization, team: Team) -> None:
    team.delete()


@transaction.atomic
def api_key_create(
    *, org: Organization, name: str, scopes, created_by: User | None = None, expires_at=None, request=None
) -> tuple[ApiKey, str]:
    """Create a key and return it with the full secret, which is never shown again."""
    scopes = sorted(set(scopes))
    if not scopes:
        raise ServiceError("Choose at least one scope.", field="scopes")
    bad = [s for s in scopes if s not in ApiKeyScope.values]
    if bad:
        raise ServiceError(f"Unknown scope {bad[0]!r}; use read and/or write.", field="scopes")
    if not name.strip():
        raise ServiceError("Name the key after the integration that uses it.", field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError("The expiry must be in the future.", field="expires_at")
    raw, prefix, key_hash = ApiKey.generate()
    key = ApiKey.objects.create(
        organization=org,
        name=name.strip(),
        prefix=prefix,
        key_hash=key_hash,
        scopes=scopes,
        expires_at=expires_at,
        created_by=created_by,
    )
    security_event_record(
        kind=SecurityEvent.Kind.API_KEY_CREATED,
        request=request,
        organization=org,
        actor=created_by,
        api_key=key,
        name=key.name,
        scopes=scopes,
    )
    return key, raw


def _forget_cached_key(prefix: str) -> None:
    from apps.core.api.authentication import cache_key_for

    cache.delete(cache_key_for(prefix))


@transaction.atomic
def api_key_revoke(*, org: Organization, key: ApiKey, actor: User | None = None, request=None) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
        transaction.on_commit(lambda: _forget_cached_key(key.prefix))
        security_event_record(
            kind=SecurityEvent.Kind.API_KEY_REVOKED,
            request=request,
            organization=org,
            actor=actor,
            api_key=key,
            name=key.name,
        )
    return key
