"""Recompute every segment of an organisation now, with a progress bar (what the nightly run does).

manage.py segments_recompute --org acme
"""

import time

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Organization
from apps.strategy.services import segments


class Command(BaseCommand):
    help = "Recompute the membership of every segment of an organisation."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organisation's slug.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, org, no_progress, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organisation with the slug {org!r}.")
        started = time.monotonic()

        def progress(done: int, total: int):
            if no_progress:
                return
            share = done / total if total else 1
            filled = int(share * 30)
            self.stderr.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%}  {done:,}/{total:,} segments  "
                f"{time.monotonic() - started:,.1f} s",
                ending="",
            )
            self.stderr.flush()

        results = segments.organization_recompute(org=organization, progress=progress)
        if not no_progress and results:
            self.stderr.write("")
        sizes = ", ".join(f"{key} {result.members:,}" for key, result in results.items()) or "no segments"
        self.stdout.write(f"Recomputed {org} in {time.monotonic() - started:.1f} s ({sizes}).")
