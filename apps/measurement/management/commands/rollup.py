"""Roll up an organisation's facts now, with a progress bar.

manage.py rollup --org acme                     # the dirty days (what the nightly run does)
manage.py rollup --org acme --since 2026-01-01  # recompute every day since a date
manage.py rollup --org acme --full              # rebuild every day
"""

import datetime
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Organization
from apps.measurement.services import rollup


class Command(BaseCommand):
    help = "Roll raw events up into the daily facts the dashboards read."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organisation's slug.")
        parser.add_argument("--since", type=datetime.date.fromisoformat, help="A local date, YYYY-MM-DD.")
        parser.add_argument("--full", action="store_true", help="Rebuild every day in one pass per table.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, org, since, full, no_progress, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organisation with the slug {org!r}.")
        if since and full:
            raise CommandError("Give --since or --full, not both.")
        started = time.monotonic()
        unit = "tables" if full else "days"

        def progress(done: int, total: int):
            if no_progress:
                return
            share = done / total if total else 1
            filled = int(share * 30)
            self.stderr.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%}  {done:,}/{total:,} {unit}  "
                f"{time.monotonic() - started:,.1f} s",
                ending="",
            )
            self.stderr.flush()

        result = rollup.rollup(organization, full=full, since=since, progress=progress)
        if not no_progress:
            self.stderr.write("")
            sys.stderr.flush()
        if result.skipped:
            raise CommandError(f"Another rollup of {org} is running; nothing was done.")
        rows = ", ".join(f"{name} {count:,}" for name, count in result.rows.items())
        what = "every day" if result.full else f"{result.days:,} days"
        self.stdout.write(f"Rolled up {what} of {org} in {result.seconds:.1f} s ({rows} rows).")
