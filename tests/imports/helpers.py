"""Building CSV files and running imports in tests."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.imports import services
from apps.imports.models import ImportJob


def csv_bytes(rows, *, delimiter=",", encoding="utf-8", bom=False, lineterminator="\r\n") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator).writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def upload(
    org, content: bytes, *, name="contacts.csv", object_type="lead", actor=None, **kwargs
) -> ImportJob:
    return services.import_upload(
        org=org,
        actor=actor,
        file=SimpleUploadedFile(name, content, content_type="text/csv"),
        file_name=name,
        object_type=object_type,
        **kwargs,
    )


def run(job: ImportJob, *, owner="test-runner", **kwargs) -> ImportJob:
    result = services.import_run(org_id=job.organization_id, job_id=job.pk, owner=owner, **kwargs)
    job.refresh_from_db()
    job.result = result
    return job


def start_and_run(job: ImportJob, *, mode="upsert", match_on="email", **kwargs) -> ImportJob:
    services.import_start(org=job.organization, job=job, mode=mode, match_on=match_on, enqueue=False)
    return run(job, **kwargs)


def import_rows(org, rows, *, object_type="lead", mode="upsert", match_on=None, **kwargs) -> ImportJob:
    match_on = match_on or ("email" if object_type == "lead" else "domain")
    job = upload(org, csv_bytes(rows), object_type=object_type)
    return start_and_run(job, mode=mode, match_on=match_on, **kwargs)
