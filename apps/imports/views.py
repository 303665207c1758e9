"""The import wizard: upload → mapping → preview → run (live progress) → summary and error file."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from apps.accounts.access import org_view
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org

from . import selectors, services
from .forms import MappingForm, OptionsForm, UploadForm
from .models import ImportJob
from .reading import DELIMITER_NAMES, ENCODING_NAMES

PERMISSION = "data.import"
PAGE_SIZE = 25


def _job(request, pk) -> ImportJob:
    return get_for_org(ImportJob.objects.select_related("created_by"), org=request.org, pk=pk)


@org_view(PERMISSION)
def imports_index(request):
    limit = services.max_bytes()
    form = UploadForm(request.POST or None, request.FILES or None, max_bytes=limit)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_upload(
                org=request.org,
                actor=request.user,
                file=upload,
                file_name=upload.name,
                object_type=form.cleaned_data["object_type"],
            )
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request,
                f"{job.file_name}: {job.total_rows} row{'s' if job.total_rows != 1 else ''} read. "
                "Check how its columns map to fields.",
            )
            return redirect("imports_mapping", org_slug=request.org.slug, pk=job.pk)
    jobs = selectors.import_jobs(org=request.org)
    return render(
        request,
        "imports/index.html",
        {"form": form, "page": Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))},
    )


@org_view(PERMISSION)
def imports_mapping(request, pk):
    job = _job(request, pk)
    if not job.is_editable:
        return redirect("imports_job", org_slug=request.org.slug, pk=job.pk)
    fields = services.job_fields(job)
    form = MappingForm(
        request.POST or None,
        headers=job.headers,
        mapping=job.mapping,
        fields=fields,
        samples=services.sample_rows(job),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.import_set_mapping(org=request.org, job=job, mapping=form.mapping())
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            return redirect("imports_preview", org_slug=request.org.slug, pk=job.pk)
    return render(
        request,
        "imports/mapping.html",
        {
            "job": job,
            "form": form,
            "encoding": ENCODING_NAMES.get(job.encoding, job.encoding),
            "delimiter": DELIMITER_NAMES.get(job.delimiter, job.delimiter),
            "unmapped": sum(1 for name in job.mapping if not name),
        },
    )


@org_view(PERMISSION)
def imports_preview(request, pk):
    job = _job(request, pk)
    if not job.is_editable:
        return redirect("imports_job", org_slug=request.org.slug, pk=job.pk)
    initial = {"mode": job.mode, "match_on": job.match_on}
    form = OptionsForm(request.POST or None, initial=initial, object_type=job.object_type)
    options = dict(form.cleaned_data) if form.is_bound and form.is_valid() else initial
    # Two buttons share the options: "check" previews them again, "start" runs the import.
    if form.is_bound and form.is_valid() and request.POST.get("action") == "start":
        try:
            services.import_start(org=request.org, job=job, **form.cleaned_data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            return redirect("imports_job", org_slug=request.org.slug, pk=job.pk)
    preview = None
    if not form.errors:
        try:
            preview = services.import_preview(org=request.org, job=job, **options)
        except ServiceError as exc:
            add_service_error(form, exc)
    return render(request, "imports/preview.html", {"job": job, "form": form, "preview": preview})


@org_view(PERMISSION)
def imports_job(request, pk):
    job = _job(request, pk)
    return render(request, "imports/job.html", {"job": job})


@org_view(PERMISSION)
@never_cache
def imports_progress(request, pk):
    job = _job(request, pk)
    return render(request, "imports/_progress.html", {"job": job})


@org_view(PERMISSION)
def imports_errors(request, pk):
    job = _job(request, pk)
    return csv_response(
        f"import-{job.pk}-errors.csv",
        [*job.headers, "error"],
        selectors.error_rows(org=request.org, job=job),
    )


@org_view(PERMISSION)
def imports_cancel(request, pk):
    job = _job(request, pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    if services.import_cancel(org=request.org, job=job):
        messages.success(request, "Import cancelled. Batches that were already imported stay.")
    else:
        messages.info(request, f"This import had already {job.get_status_display().lower()}.")
    return redirect("imports_job", org_slug=request.org.slug, pk=job.pk)
