import time

import pghistory
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts import demo as accounts_demo
from apps.execution import demo as execution_demo
from apps.execution.demo.campaigns import seed_campaigns
from apps.execution.demo.handoffs import seed_handoffs
from apps.execution.demo.journeys import seed_journeys
from apps.governance import demo as governance_demo
from apps.governance.demo_changes import seed_changes
from apps.measurement import demo as measurement_demo
from apps.measurement.diagnostic.demo import seed_diagnostic
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
        kpis = strategy_demo.seed_kpi_tree(org)  # after the rollup: targets follow each metric's history
        self.stdout.write("KPI tree: already built." if kpis is None else f"KPI tree: {kpis} nodes")
        segments = strategy_demo.seed_segments(org)
        self.stdout.write("Segments: already set." if segments is None else f"ICP and segments: {segments}")
        budget = strategy_demo.seed_channel_budget(org)  # after the segments: the ICP gets a line
        self.stdout.write(
            "Channel budget: already set." if budget is None else f"Channel budget: {budget} lines"
        )
        # After the goals and segments it links to; each skips when its rows exist.
        with pghistory.context(actor_email="seed_demo"):
            offers = strategy_demo.seed_positioning(org)
            programs = strategy_demo.seed_programs(org)
        self.stdout.write(
            "Positioning and offers: already set." if offers is None else f"Positioning and offers: {offers}"
        )
        self.stdout.write(
            "Marketing plan: already set." if programs is None else f"Marketing plan: {programs} programs"
        )
        with pghistory.context(actor_email="seed_demo"):
            plans = strategy_demo.seed_plans(org)
            review = strategy_demo.seed_review(org)  # last: its snapshot reads every part above
        self.stdout.write("Plans: already saved." if plans is None else f"Plans and scenarios: {plans}")
        self.stdout.write(
            "Strategy review: already held." if review is None else f"Strategy review: {review} decisions"
        )
        with pghistory.context(actor_email="seed_demo"):
            handed = seed_handoffs(org)  # after routing: hand-offs go to the reps who own the leads
        self.stdout.write(
            "Hand-offs, experiments, playbooks: already set."
            if handed is None
            else "Hand-offs, experiments, playbooks: "
            + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in handed.items())
        )
        with pghistory.context(actor_email="seed_demo"):
            campaigns = seed_campaigns(org)  # after the rollup, segments and programs it links to
        self.stdout.write(
            "Campaigns and UTM taxonomy: already set."
            if campaigns is None
            else "Campaigns and UTM taxonomy: " + ", ".join(f"{n} {k}" for k, n in campaigns.items())
        )
        with pghistory.context(actor_email="seed_demo"):
            journeys = seed_journeys(org)  # after routing: tasks and alerts go to the leads' owners
        self.stdout.write(
            "Journeys: already set." if journeys is None
            else "Journeys: " + ", ".join(f"{k} {n} enrolments" for k, n in journeys.items())
        )  # fmt: skip
        findings = measurement_demo.seed_findings(org)  # before the reviews: their agendas read the findings
        self.stdout.write(
            "Pipeline history: already written." if findings is None else f"Pipeline history: {findings}"
        )
        with pghistory.context(actor_email="seed_demo"):
            reviews = governance_demo.seed_reviews(org)  # last: its snapshots and items read everything above
        self.stdout.write(
            "Weekly reviews: already held." if reviews is None else f"Weekly reviews: {reviews} held"
        )
        with pghistory.context(actor_email="seed_demo"):
            changes = seed_changes(org)  # after routing and the rollup: its preview replays real leads
        self.stdout.write(
            "Change requests: already there." if changes is None
            else "Change requests: " + ", ".join(f"{n} {k}" for k, n in changes.items())
        )  # fmt: skip
        diagnostic = seed_diagnostic(org)  # last: it scores everything above
        self.stdout.write("Diagnostic: already taken." if diagnostic is None else f"Diagnostic: {diagnostic}")
        self.stdout.write(f"Logins (password for all: {accounts_demo.DEMO_PASSWORD}):")
        for email, _name, role, _team in accounts_demo.PEOPLE:
            self.stdout.write(f"  {role.label:<14} {email}")
