"""Import a CSV file from the command line, in this process, with a text progress bar.

    manage.py import_csv --org acme --type lead --file leads.csv --mode upsert --match-on email
    manage.py import_csv --org acme --type account --file accounts.csv --mapping mapping.json
    manage.py import_csv --org acme --resume 42

It runs the same service as the worker (same validation, batches, checkpoint
and lease), so a run interrupted with Ctrl-C or a crash is resumed with
--resume, or by a worker once the lease lapses.
"""

import json
import os
import socket
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Organization, User
from apps.core.errors import ServiceError
from apps.imports import services
from apps.imports.mapping import header_key
from apps.imports.models import MATCH_KEYS, ImportJob, Mode, ObjectType
from apps.imports.reading import column_label


class Command(BaseCommand):
    help = "Import leads or accounts from a CSV file (same checks and batches as the import wizard)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organisation slug.")
        parser.add_argument("--type", choices=ObjectType.values, default=ObjectType.LEAD, dest="object_type")
        parser.add_argument("--file", help="Path of the CSV file.")
        parser.add_argument("--mode", choices=Mode.values, default=Mode.UPSERT)
        parser.add_argument(
            "--match-on", help="email or external_id (leads); domain or external_id (accounts)."
        )
        parser.add_argument(
            "--mapping",
            default="auto",
            help='"auto" (recognise the headers) or a JSON file of {"File header": "field", ...}.',
        )
        parser.add_argument("--user", help="E-mail of the person the import is recorded for.")
        parser.add_argument(
            "--max-bytes", type=int, help="Size limit for this file (default IMPORT_MAX_BYTES)."
        )
        parser.add_argument("--resume", type=int, metavar="JOB_ID", help="Continue an interrupted import.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, **options):
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"No organisation {options['org']!r}.")
        job = self._resume(org, options) if options["resume"] else self._prepare(org, options)
        owner = f"cli:{socket.gethostname()}:{os.getpid()}"
        bar = ProgressBar(job.total_rows, self.stderr if not options["no_progress"] else None)
        outcome = services.import_run(
            org_id=org.pk, job_id=job.pk, owner=owner, on_batch=lambda current: bar.update(current)
        )
        bar.close()
        job.refresh_from_db()
        if outcome == "not_claimed":
            raise CommandError(f"Import {job.pk} is {job.get_status_display().lower()}; nothing to run.")
        self.stdout.write(
            f"Import {job.pk} {job.get_status_display().lower()}: {job.created_count} created, "
            f"{job.updated_count} updated, {job.unchanged_count} unchanged, "
            f"{job.error_count} rows with errors."
        )
        if job.error_count:
            self.stdout.write(f"Error file: /o/{org.slug}/imports/{job.pk}/errors.csv")
        if job.status != ImportJob.Status.SUCCEEDED:
            raise CommandError(job.failure or f"The import ended {outcome}.")

    def _resume(self, org, options) -> ImportJob:
        job = ImportJob.objects.for_org(org).filter(pk=options["resume"]).first()
        if job is None:
            raise CommandError(f"No import {options['resume']} in {org.slug}.")
        if job.status == ImportJob.Status.RUNNING:
            # The previous run is gone (that is why we resume): take its lease over now.
            ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
                status=ImportJob.Status.QUEUED, lease_owner="", lease_expires_at=None
            )
        self.stderr.write(f"Resuming import {job.pk} at row {job.next_row + 2}.")
        return job

    def _prepare(self, org, options) -> ImportJob:
        if not options["file"]:
            raise CommandError("Give --file PATH (or --resume JOB_ID).")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        actor = None
        if options["user"]:
            actor = User.objects.filter(email__iexact=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user {options['user']!r}.")
        object_type = options["object_type"]
        match_on = options["match_on"] or MATCH_KEYS[object_type][0][0]
        try:
            with path.open("rb") as handle:
                job = services.import_upload(
                    org=org,
                    actor=actor,
                    file=handle,
                    file_name=path.name,
                    object_type=object_type,
                    limit=options["max_bytes"],
                )
            if options["mapping"] != "auto":
                mapping = self._mapping_from_file(job, options["mapping"])
                services.import_set_mapping(org=org, job=job, mapping=mapping)
            skipped = [column_label(job.headers, i) for i, name in enumerate(job.mapping) if not name]
            if skipped:
                self.stderr.write(f"Not imported (no matching field): {', '.join(skipped)}")
            services.import_start(org=org, job=job, mode=options["mode"], match_on=match_on, enqueue=False)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Import {job.pk}: {job.total_rows} rows of {path.name}, {options['mode']} matched on {match_on}."
        )
        return job

    def _mapping_from_file(self, job, path) -> list[str]:
        try:
            wanted = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the mapping file: {exc}") from None
        by_key = {header_key(header): field for header, field in wanted.items()}
        return [by_key.get(header_key(header), "") for header in job.headers]


class ProgressBar:
    """`[#######.......]  45%  450,000/1,000,000 rows  12,345 rows/s  errors 12` on one line."""

    WIDTH = 30

    def __init__(self, total: int, stream):
        self.total, self.stream, self.started = total, stream, time.monotonic()

    def update(self, job):
        if self.stream is None:
            return
        done = job.processed_rows
        share = done / self.total if self.total else 1
        filled = int(share * self.WIDTH)
        rate = done / max(time.monotonic() - self.started, 1e-6)
        line = (
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:4.0%}  {done:,}/{self.total:,} rows  "
            f"{rate:,.0f} rows/s  created {job.created_count:,}  updated {job.updated_count:,}  "
            f"errors {job.error_count:,}"
        )
        self.stream.write(line, ending="")
        self.stream.flush()

    def close(self):
        if self.stream is not None:
            self.stream.write("")
            sys.stderr.flush()
