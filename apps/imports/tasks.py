"""Thin tasks: take ids, call a service. Each is safe to run twice (the claim decides)."""

import os
import socket

from celery import shared_task

from . import services


# The task runs one slice (IMPORT_SLICE_SECONDS, 120 s by default) and re-enqueues
# the rest, so these limits only catch a batch that hangs.
@shared_task(name="imports.run_job", bind=True, time_limit=600, soft_time_limit=540)
def run_job(self, org_id: int, job_id: int):
    owner = f"celery:{socket.gethostname()}:{os.getpid()}:{self.request.id or ''}"
    return services.import_run(
        org_id=org_id, job_id=job_id, owner=owner, budget_seconds=services.slice_seconds()
    )


@shared_task(name="imports.sweep_stalled", time_limit=60, soft_time_limit=50)
def sweep_stalled():
    return services.imports_sweep()
