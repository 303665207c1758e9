import getpass

from django.core.management.base import BaseCommand, CommandError

from apps.accounts import services
from apps.accounts.models import Membership, Organization
from apps.accounts.roles import Role
from apps.core.errors import ServiceError


class Command(BaseCommand):
    help = "Create a user, optionally adding them to an organisation with a role."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="")
        parser.add_argument("--password", help="Prompted for when omitted.")
        parser.add_argument("--org", help="Slug of an organisation to join.")
        parser.add_argument("--role", default=Role.VIEWER, choices=Role.values)
        parser.add_argument("--staff", action="store_true", help="May open /admin/ and see /readyz details.")

    def handle(self, *args, **opts):
        password = opts["password"] or getpass.getpass("Password: ")
        org = None
        if opts["org"]:
            org = Organization.objects.filter(slug=opts["org"]).first()
            if org is None:
                raise CommandError(f"No organisation with slug {opts['org']}.")
        try:
            user = services.user_create(
                email=opts["email"], password=password, full_name=opts["name"], is_staff=opts["staff"]
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if org is not None:
            Membership.objects.create(organization=org, user=user, role=opts["role"])
        self.stdout.write(
            self.style.SUCCESS(f"Created {user.email}" + (f" in {org.slug} as {opts['role']}" if org else ""))
        )
