"""Journey e-mails: merge fields, the unsubscribe link and the sender.

Rendering is Django's template language with autoescape off (the body is plain
text), no loaders and a context holding only whitelisted lead fields, so a
template can neither reach other data nor include files; only a few tags are
allowed (`if`, `firstof`).

Delivery is two-phase. The step writes an OutboundEmail row in the same
transaction that records the step run, so a step that committed has exactly
one e-mail row, and a step that rolled back has none. The sender claims unsent
rows (a `claimed_at` lease), sends each and stamps `sent_at`. What can repeat:
only a message the mail server accepted whose `sent_at` was not committed (the
sender died in between) is sent again once its lease expires; it carries the
same Message-ID, so mail systems can drop the copy. Nothing else repeats.
"""

import logging
import re
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.template import Context, Engine, TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.execution.models import OutboundEmail

log = logging.getLogger(__name__)

MERGE_FIELDS = ("first_name", "last_name", "full_name", "email", "company", "title", "country", "owner_name")
ALLOWED_TAGS = {"if", "elif", "else", "endif", "firstof"}
_TAG = re.compile(r"{%\s*(\w+)")
_ENGINE = Engine(autoescape=False, string_if_invalid="", loaders=[], libraries={}, builtins=[])
UNSUBSCRIBE_SALT = "journeys.unsubscribe"
SEND_LEASE = timedelta(minutes=5)
SEND_BATCH = 200


def check_template(text: str, field: str) -> str:
    for tag in _TAG.findall(text):
        if tag not in ALLOWED_TAGS:
            raise ServiceError(f"The tag {{% {tag} %}} is not allowed in an e-mail.", field=field)
    try:
        _ENGINE.from_string(text)
    except TemplateSyntaxError as exc:
        raise ServiceError(f"The template does not parse: {exc}", field=field) from None
    return text


def merge_context(lead, owner_name: str = "") -> dict:
    return {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "full_name": lead.full_name,
        "email": lead.email,
        "company": lead.company,
        "title": lead.title,
        "country": lead.country,
        "owner_name": owner_name,
    }


@lru_cache(maxsize=256)
def _compiled(text: str):
    return _ENGINE.from_string(text)


def render(text: str, context: dict) -> str:
    return _compiled(text).render(Context(context, autoescape=False))


@lru_cache(maxsize=2)
def _signer(key: str) -> signing.Signer:
    return signing.Signer(key=key, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(*, org_id: int, email: str) -> str:
    """`<base64 of "org:address">:<signature>`: an HMAC of a short string, about 6 µs, where
    `signing.dumps` (JSON, zlib and a timestamp) took five times as long on every e-mail a journey sends.
    An unsubscribe link does not expire, so it carries no timestamp."""
    value = signing.b64_encode(f"{org_id}:{email}".encode()).decode()
    return _signer(settings.SECRET_KEY).sign(value)


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """The organisation and address of a token, or None when it is forged or damaged. Links sent
    before the short form (`signing.dumps` of {"o", "e"}) keep working."""
    try:
        value = _signer(settings.SECRET_KEY).unsign(token)
        org_id, email = signing.b64_decode(value.encode()).decode().split(":", 1)
        return int(org_id), email
    except (signing.BadSignature, ValueError):
        pass
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return data["o"], data["e"]


@lru_cache(maxsize=1)
def _unsubscribe_prefix() -> str:
    # Resolved once: the sweeper builds a link per e-mail, and the route never changes at run time.
    path = reverse("journey_unsubscribe", kwargs={"token": "TOKEN"}).removesuffix("TOKEN/")
    return settings.SITE_URL.rstrip("/") + path


def unsubscribe_url(*, org_id: int, email: str) -> str:
    return f"{_unsubscribe_prefix()}{unsubscribe_token(org_id=org_id, email=email)}/"


def compose(*, template, lead, owner_name: str = "") -> tuple[str, str, str]:
    """Subject, body (with the unsubscribe link) and sender of a template for one lead."""
    context = merge_context(lead, owner_name)
    subject = " ".join(render(template.subject, context).split())[:300]
    link = unsubscribe_url(org_id=lead.organization_id, email=lead.email)
    body = render(template.body, context).rstrip() + f"\n\n--\nUnsubscribe: {link}\n"
    return subject, body, template.from_email


def claim_unsent(*, limit: int = SEND_BATCH, now=None) -> list[int]:
    """Lease unsent e-mails to this sender; a lease older than SEND_LEASE is taken over."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {OutboundEmail._meta.db_table} SET claimed_at = %s
            WHERE id IN (
                SELECT id FROM {OutboundEmail._meta.db_table}
                WHERE sent_at IS NULL AND (claimed_at IS NULL OR claimed_at < %s)
                ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED
            ) RETURNING id
            """,  # noqa: S608 (only the table name is interpolated)
            [now, now - SEND_LEASE, limit],
        )
        return sorted(row[0] for row in cursor.fetchall())


def send_claimed(email_ids: list[int]) -> int:
    """Send leased e-mails; each is stamped sent right after the server accepts it."""
    sent = 0
    for email in OutboundEmail.objects.filter(pk__in=email_ids, sent_at__isnull=True).order_by("pk"):
        # Renew the lease right before sending, on the lease this sender read: a batch slower than
        # SEND_LEASE keeps what it still holds, and a row another sender took over is left to it.
        renewed = OutboundEmail.objects.filter(
            pk=email.pk, sent_at__isnull=True, claimed_at=email.claimed_at
        ).update(claimed_at=timezone.now())
        if not renewed:
            continue
        message = EmailMessage(
            subject=email.subject,
            body=email.body,
            from_email=email.from_email or None,
            to=[email.to],
            headers={"Message-ID": f"<journey-email-{email.pk}@revops>"},
        )
        try:
            message.send()
        except Exception as exc:  # the lease expires and a later sweep tries again
            log.warning("could not send journey e-mail %s", email.pk, exc_info=True)
            OutboundEmail.objects.filter(pk=email.pk).update(error=str(exc)[:500])
            continue
        OutboundEmail.objects.filter(pk=email.pk).update(sent_at=timezone.now(), error="")
        sent += 1
    return sent


def send_due(*, limit: int = SEND_BATCH, max_batches: int = 25) -> int:
    """Send what is unsent, a leased batch at a time, until none is left (or `max_batches`)."""
    sent = 0
    for _ in range(max_batches):
        claimed = claim_unsent(limit=limit)
        if not claimed:
            break
        sent += send_claimed(claimed)
    return sent
