import time

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Organization
from apps.records.benchdata import Progress, seed_bench


class Command(BaseCommand):
    help = (
        "Benchmark-scale data: add N leads to an organisation, each with about ten stage events and ten "
        "touchpoints, plus an account per four leads and an opportunity per thirteen, loaded with COPY. "
        "For benchmark databases only: the records tables are locked meanwhile, foreign keys and (for "
        "large loads) indexes are dropped and rebuilt, and insert-history triggers are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organisation's slug.")
        parser.add_argument("--leads", type=int, default=1_000_000, help="How many leads to add.")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (the data is deterministic).")

    def handle(self, *args, **opts):
        org = Organization.objects.filter(slug=opts["org"]).first()
        if org is None:
            raise CommandError(f"There is no organisation {opts['org']!r}.")
        if opts["leads"] < 1:
            raise CommandError("--leads must be at least 1.")
        started = time.monotonic()
        counts = seed_bench(org=org, leads=opts["leads"], seed=opts["seed"], progress=Progress(self.stdout))
        summary = ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in counts.items())
        self.stdout.write(f"Added {summary} to {org.slug} in {time.monotonic() - started:.1f}s")
