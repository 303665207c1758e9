import pghistory
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts import demo as accounts_demo


class Command(BaseCommand):
    help = "Load the demo organisation (idempotent: re-running keeps existing data) and print the logins."

    def handle(self, *args, **opts):
        with transaction.atomic(), pghistory.context(actor_email="seed_demo"):
            org = accounts_demo.seed_people()
        self.stdout.write(f"Demo organisation: {org.name} (/o/{org.slug}/)")
        self.stdout.write(f"Logins (password for all: {accounts_demo.DEMO_PASSWORD}):")
        for email, _name, role, _team in accounts_demo.PEOPLE:
            self.stdout.write(f"  {role.label:<14} {email}")
