import time

import pghistory
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts import demo as accounts_demo
from apps.execution import demo as execution_demo
from apps.measurement import demo as measurement_demo
from apps.records import demo as records_demo
from apps.strategy import demo as strategy_demo


class Command(BaseCommand):
    help = (
        "Load the demo organisation: its people, then a year of records (accounts, leads and their stage "
        "histories, opportunities, customers, touchpoints), then routing and SLAs with a month of routing "
        "history. Idempotent: re-running keeps existing data."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="Multiply every record count (default 1.0: about 20,000 leads); e.g. 0.05 for a quick seed.",
        )

    def handle(self, *args, **opts):
        started = time.monotonic()
        with transaction.atomic(), pghistory.context(actor_email="seed_demo"):
            org = accounts_demo.seed_people()
            counts = records_demo.seed_records(org, scale=opts["scale"])
            records_done = time.monotonic()
            routing = execution_demo.seed_execution(org)
        self.stdout.write(f"Demo organisation: {org.name} (/o/{org.slug}/)")
        if counts is None:
            self.stdout.write("Records: already loaded, left as they are.")
        else:
            summary = ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in counts.items())
            self.stdout.write(f"Records: {summary} ({records_done - started:.1f}s)")
        if routing is None:
            self.stdout.write("Routing: already set up, left as it is.")
        else:
            summary = ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in routing.items())
            self.stdout.write(f"Routing: {summary} ({time.monotonic() - records_done:.1f}s)")
        measured = time.monotonic()
        facts = measurement_demo.seed_measurement(org)  # after the commit: rollups read committed rows
        if facts is None:
            self.stdout.write("Measurement: already loaded, left as it is.")
        else:
            summary = ", ".join(f"{n:,} {name}" for name, n in facts.items())
            self.stdout.write(f"Measurement: {summary} ({time.monotonic() - measured:.1f}s)")
        goals = strategy_demo.seed_goals(org)  # after the rollup: targets start from last quarter's results
        self.stdout.write("Goals: already set, left as they are." if goals is None else f"Goals: {goals}")
        self.stdout.write(f"Logins (password for all: {accounts_demo.DEMO_PASSWORD}):")
        for email, _name, role, _team in accounts_demo.PEOPLE:
            self.stdout.write(f"  {role.label:<14} {email}")
