from django.core.management.base import BaseCommand, CommandError

from apps.accounts import services
from apps.accounts.models import User
from apps.core.errors import ServiceError


class Command(BaseCommand):
    help = "Create an organisation owned by an existing user (who becomes its admin)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="E-mail of an existing user.")
        parser.add_argument("--slug")
        parser.add_argument("--time-zone", default="UTC")
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--fiscal-year-start-month", type=int, default=1)

    def handle(self, *args, **opts):
        owner = User.objects.filter(email__iexact=opts["owner"]).first()
        if owner is None:
            raise CommandError(f"No user with e-mail {opts['owner']}; create one with create_user.")
        try:
            org = services.organization_create(
                name=opts["name"],
                owner=owner,
                slug=opts["slug"],
                time_zone=opts["time_zone"],
                currency=opts["currency"],
                fiscal_year_start_month=opts["fiscal_year_start_month"],
            )
        except ServiceError as exc:
            raise CommandError(f"{exc.field or 'error'}: {exc.message}") from None
        self.stdout.write(self.style.SUCCESS(f"Created {org.name} at /o/{org.slug}/"))
