"""The security log.

The audit trail of business data is kept by Postgres triggers (django-pghistory,
see `selectors.audit_events`). This log records who got in, who was refused,
and who touched credentials, roles and exports. Rows are append-only: a
database trigger rejects any UPDATE or DELETE.
"""

import pgtrigger
from django.conf import settings
from django.db import models


class SecurityEvent(models.Model):
    class Kind(models.TextChoices):
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGOUT = "logout", "Logout"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        PASSWORD_RESET = "password_reset", "Password reset"
        EMAIL_CHANGED = "email_changed", "E-mail changed"
        MFA_ENABLED = "mfa_enabled", "MFA enabled"
        MFA_DISABLED = "mfa_disabled", "MFA disabled"
        AUTHZ_DENIED = "authz_denied", "Authorisation refused"
        API_KEY_CREATED = "api_key_created", "API key created"
        API_KEY_REVOKED = "api_key_revoked", "API key revoked"
        API_AUTH_FAILED = "api_auth_failed", "API authentication failed"
        ROLE_CHANGED = "role_changed", "Role changed"
        MEMBER_ADDED = "member_added", "Member added"
        MEMBER_REMOVED = "member_removed", "Member removed"
        EXPORT = "export", "Data exported"
        WEBHOOK_DISABLED = "webhook_disabled", "Webhook endpoint disabled"

    # Null for events before anyone is known to belong anywhere (a failed login).
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True)
    api_key_prefix = models.CharField(max_length=16, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]
        triggers = [
            pgtrigger.Protect(
                name="security_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.actor_email} at {self.created_at:%Y-%m-%d %H:%M}"
