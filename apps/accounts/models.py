import hashlib
import secrets
import zoneinfo

import pghistory
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property

from apps.core.models import OrgOwned, TimeStampedModel

from .roles import PERMISSIONS, Role, can


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. People log in by e-mail and may belong to several organisations."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, help_text="Empty: the organisation's time zone.")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    def __str__(self):
        return self.full_name or self.email

    @property
    def display_name(self):
        return self.full_name or self.email.split("@")[0]


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (for example Europe/Paris).")


def attribution_model_choices() -> list[tuple[str, str]]:
    """The attribution models the measurement app computes, read when needed: importing them here
    would load its numerical stack with every model, and a new model needs no migration."""
    from apps.measurement.attribution.compute import ALL_MODELS, LABELS

    return [(model, LABELS[model]) for model in ALL_MODELS]


@pghistory.track()
class Organization(TimeStampedModel):
    """The tenant. Every business row belongs to exactly one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code.")],
    )
    require_mfa = models.BooleanField(
        default=False,
        help_text="Members must set up an authenticator app before they can use this organisation.",
    )
    # The model crediting pipeline and revenue wherever a page or the API names none (campaign results).
    attribution_model = models.CharField(max_length=20, choices=attribution_model_choices, default="linear")

    def __str__(self):
        return self.name

    @property
    def organization_id(self):
        # Lets generic org-scoped code (audit, lookups) treat the tenant like its rows.
        return self.pk


@pghistory.track()
class Membership(OrgOwned):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user")
        ]

    def __str__(self):
        return f"{self.user} in {self.organization_id} as {self.role}"

    def can(self, permission: str) -> bool:
        return self.is_active and can(self.role, permission)

    @cached_property
    def permissions(self) -> frozenset[str]:
        """Every permission this member holds, for templates: `{% if "x" in membership.permissions %}`."""
        return frozenset(p for p in PERMISSIONS if self.can(p))


@pghistory.track()
class Team(OrgOwned):
    class Kind(models.TextChoices):
        SALES = "sales", "Sales"
        CUSTOMER_SUCCESS = "customer_success", "Customer success"
        MARKETING = "marketing", "Marketing"
        REVOPS = "revops", "RevOps"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SALES)
    manager = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams"
    )
    members = models.ManyToManyField(Membership, through="TeamMember", related_name="teams", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="team_unique_name")]
        ordering = ["name"]

    def __str__(self):
        return self.name


@pghistory.track()
class TeamMember(OrgOwned):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="team_memberships")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "membership"], name="teammember_unique")]


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pghistory.track(exclude=["token_hash"])
class Invitation(OrgOwned):
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @staticmethod
    def hash_token(token: str) -> str:
        return _hash_token(token)

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"


@pghistory.track(exclude=["key_hash", "last_used_at"])
class ApiKey(OrgOwned):
    """A credential for integrations. Only a hash of the secret is stored.

    The full key reads `rvk_<prefix>_<secret>`; the prefix finds the row, the
    secret is checked against its SHA-256. A random 256-bit secret needs no slow
    hash: there is nothing to brute-force.
    """

    PREFIX = "rvk"

    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=16, choices=ApiKeyScope.choices), default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.PREFIX}_{self.prefix}_…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """A new (full key, prefix, hash)."""
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        return f"{ApiKey.PREFIX}_{prefix}_{secret}", prefix, _hash_token(secret)

    @staticmethod
    def split(raw: str) -> tuple[str, str] | None:
        parts = raw.split("_", 2)
        if len(parts) != 3 or parts[0] != ApiKey.PREFIX or not parts[1] or not parts[2]:
            return None
        return parts[1], parts[2]

    def matches(self, secret: str) -> bool:
        return secrets.compare_digest(self.key_hash, _hash_token(secret))

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
