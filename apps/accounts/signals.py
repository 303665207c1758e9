"""Security-log entries for authentication events raised by Django and allauth."""

from allauth.account.signals import email_changed, password_changed, password_reset
from allauth.mfa.signals import authenticator_added, authenticator_removed
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from apps.audit.models import SecurityEvent
from apps.audit.services import security_event_record


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    security_event_record(kind=SecurityEvent.Kind.LOGIN, request=request, actor=user)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        security_event_record(kind=SecurityEvent.Kind.LOGOUT, request=request, actor=user)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    security_event_record(kind=SecurityEvent.Kind.LOGIN_FAILED, request=request, actor_email=email)


@receiver(password_changed)
def _password_changed(sender, request, user, **kwargs):
    security_event_record(kind=SecurityEvent.Kind.PASSWORD_CHANGED, request=request, actor=user)


@receiver(password_reset)
def _password_reset(sender, request, user, **kwargs):
    security_event_record(kind=SecurityEvent.Kind.PASSWORD_RESET, request=request, actor=user)


@receiver(email_changed)
def _email_changed(sender, request, user, from_email_address, to_email_address, **kwargs):
    security_event_record(
        kind=SecurityEvent.Kind.EMAIL_CHANGED,
        request=request,
        actor=user,
        before=getattr(from_email_address, "email", None),
        after=getattr(to_email_address, "email", None),
    )


@receiver(authenticator_added)
def _mfa_added(sender, request, user, authenticator, **kwargs):
    security_event_record(
        kind=SecurityEvent.Kind.MFA_ENABLED, request=request, actor=user, type=authenticator.type
    )


@receiver(authenticator_removed)
def _mfa_removed(sender, request, user, authenticator, **kwargs):
    security_event_record(
        kind=SecurityEvent.Kind.MFA_DISABLED, request=request, actor=user, type=authenticator.type
    )
