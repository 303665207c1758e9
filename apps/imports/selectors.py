"""Reads of import jobs and their failed rows."""

from collections.abc import Iterator

from .models import ImportJob, ImportRowError


def import_jobs(*, org):
    """The organisation's imports, newest first, without the per-column details a list does not show."""
    return (
        ImportJob.objects.for_org(org)
        .select_related("created_by")
        .defer("headers", "mapping", "failure")
        .order_by("-created_at", "-id")
    )


def error_rows(*, org, job: ImportJob) -> Iterator[list[str]]:
    """The failed rows as the user uploaded them, plus an "error" cell naming row, column and reason."""
    qs = ImportRowError.objects.for_org(org).filter(job=job).order_by("row_number", "id")
    for number, values, errors in qs.values_list("row_number", "values", "errors").iterator(chunk_size=2000):
        reason = "; ".join(f"{column}: {message.rstrip('.')}" for column, message in errors)
        yield [*values, f"Row {number}: {reason}."]
