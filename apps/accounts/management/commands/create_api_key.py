from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import Organization
from apps.core.errors import ServiceError


class Command(BaseCommand):
    help = "Create an API key for an organisation and print its secret (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organisation slug.")
        parser.add_argument("--scopes", default="read", help="Comma-separated: read,write")
        parser.add_argument("--name", default="Command-line key")
        parser.add_argument("--expires-in-days", type=int)

    def handle(self, *args, **opts):
        org = Organization.objects.filter(slug=opts["org"]).first()
        if org is None:
            raise CommandError(f"No organisation with slug {opts['org']}.")
        expires_at = None
        if opts["expires_in_days"]:
            expires_at = timezone.now() + timedelta(days=opts["expires_in_days"])
        scopes = [s.strip() for s in opts["scopes"].split(",") if s.strip()]
        try:
            key, raw = services.api_key_create(
                org=org, name=opts["name"], scopes=scopes, expires_at=expires_at
            )
        except ServiceError as exc:
            raise CommandError(f"{exc.field or 'error'}: {exc.message}") from None
        self.stderr.write(f"Created {key} with scopes {','.join(key.scopes)}. Store the key now:")
        self.stdout.write(raw)
