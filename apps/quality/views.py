"""Data-quality pages: the overview, the duplicate review queue, merges and undo, sources, completeness."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts.access import org_view, require_permission
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.records.models import CompletenessRule, DuplicateCandidate, Merge, ObjectType, SourceMapping

from . import charts, matching, selectors, services
from .forms import CompletenessRuleForm, MergeForm, SourceMappingForm, ThresholdForm, custom_fields_by_type
from .models import QualityJob

PAGE_SIZE = 25
MERGE = "leads.work"
CONFIGURE = "definitions.edit"


def _jobs(org, kind: str) -> dict:
    jobs = selectors.latest_jobs(org=org, kind=kind)
    return {"jobs": jobs, "kind": kind, "polling": any(job.active for job in jobs.values())}


def _jobs_fragment(request, kind: str):
    """The job-status block alone, for htmx polling while a job runs."""
    return render(request, "quality/_jobs.html", _jobs(request.org, kind))


# --- Overview ----------------------------------------------------------------------------


@org_view()
def quality_index(request):
    form = ThresholdForm(request.GET or None)
    threshold = form.value(selectors.DEFAULT_THRESHOLD)
    overview = selectors.quality_overview(
        org=request.org, threshold=threshold, fresh=request.GET.get("refresh") == "1"
    )
    return render(
        request,
        "quality/index.html",
        {
            "form": form,
            "threshold_percent": round(100 * threshold),
            "overview": overview,
            "summaries": overview.summaries,
            "duplicates_waiting": selectors.duplicates_waiting(org=request.org),
            "unmapped": overview.unmapped,
            "unmapped_total": overview.unmapped_total,
            "trend_chart": charts.completeness_trend_chart(overview.trends),
            "missing_chart": charts.missing_required_chart(overview.trends),
        },
    )


# --- Duplicates ----------------------------------------------------------------------------


@org_view()
def quality_duplicates(request):
    if request.method == "POST":
        require_permission(request, MERGE)
        services.duplicates_detect_request(org=request.org)
        messages.success(request, "Looking for duplicates now; new pairs appear here in a minute or two.")
        return redirect("quality_duplicates", org_slug=request.org.slug)
    queue = selectors.duplicate_queue(org=request.org)
    return render(
        request,
        "quality/duplicates.html",
        {
            "page": Paginator(queue, PAGE_SIZE).get_page(request.GET.get("page")),
            "can_merge": request.membership.can(MERGE),
        },
    )


def _candidate(request, pk):
    return get_for_org(DuplicateCandidate.objects.all(), org=request.org, pk=pk)


def _review(request, candidate, data=None) -> dict:
    """Everything the review page shows about a pair, with its merge form (bound to `data` if given)."""
    a, b = selectors.duplicate_pair(org=request.org, candidate=candidate)
    rows = selectors.compare_leads(a, b, time_zone=request.org.time_zone)
    reviewable = candidate.status == DuplicateCandidate.Status.OPEN and not (
        a.merged_into_id or b.merged_into_id
    )
    return {
        "candidate": candidate,
        "a": a,
        "b": b,
        "rows": rows,
        "evidence": matching.evidence(a, b),
        "reviewable": reviewable,
        "form": MergeForm(data, rows=rows),
        "can_merge": request.membership.can(MERGE),
    }


@org_view()
def quality_duplicate(request, pk):
    candidate = _candidate(request, pk)
    return render(request, "quality/duplicate.html", _review(request, candidate))


@org_view(MERGE)
def quality_duplicate_merge(request, pk):
    candidate = _candidate(request, pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    context = _review(request, candidate, data=request.POST)
    form = context["form"]
    if not form.is_valid():
        return render(request, "quality/duplicate.html", context, status=400)
    try:
        merge = services.lead_merge(
            org=request.org, actor=request.user, **form.merge_arguments(context["a"], context["b"])
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("quality_duplicate", org_slug=request.org.slug, pk=candidate.pk)
    messages.success(
        request,
        format_html(
            'Merged {} into {}. <a href="{}">Undo it from the merge history</a> if that was wrong.',
            merge.merged,
            merge.survivor,
            reverse("quality_merges", args=[request.org.slug]),
        ),
    )
    return redirect("quality_duplicates", org_slug=request.org.slug)


@org_view(MERGE)
def quality_duplicate_dismiss(request, pk):
    candidate = _candidate(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.duplicate_dismiss(org=request.org, candidate=candidate, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Marked as not a duplicate; this pair will not be suggested again.")
    return redirect("quality_duplicates", org_slug=request.org.slug)


# --- Merges -------------------------------------------------------------------------------------


@org_view()
def quality_merges(request):
    history = selectors.merge_history(org=request.org)
    # ?merge=<id> shows one merge, for links from the audit trail.
    only = request.GET.get("merge", "")
    if only.isdigit():
        history = history.filter(pk=int(only))
    return render(
        request,
        "quality/merges.html",
        {
            "page": Paginator(history, PAGE_SIZE).get_page(request.GET.get("page")),
            "can_merge": request.membership.can(MERGE),
        },
    )


@org_view(MERGE)
def quality_merge_undo(request, pk):
    merge = get_for_org(Merge.objects.select_related("survivor", "merged"), org=request.org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        merge = services.merge_undo(org=request.org, merge=merge, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        kept = merge.moved.get("state", {}).get("kept") or []
        note = f" Kept the newer {', '.join(kept)}, changed after the merge." if kept else ""
        messages.success(request, f"Merge undone: {merge.merged} is a separate lead again.{note}")
    return redirect("quality_merges", org_slug=request.org.slug)


# --- Sources ---------------------------------------------------------------------------------------


@org_view()
def quality_sources(request):
    if request.htmx and request.GET.get("fragment") == "jobs":
        return _jobs_fragment(request, QualityJob.Kind.SOURCES_REAPPLY)
    form = SourceMappingForm(request.POST or None, initial={"raw_value": request.GET.get("raw", "")})
    if request.method == "POST":
        require_permission(request, CONFIGURE)
        if form.is_valid():
            try:
                mapping = services.source_mapping_create(
                    org=request.org, actor=request.user, **form.cleaned_data
                )
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    f"“{mapping.raw_value}” now maps to {mapping.channel} for new records. "
                    "Re-apply the mappings to update existing ones.",
                )
                return redirect("quality_sources", org_slug=request.org.slug)
    unmapped, unmapped_total = selectors.unmapped_sources(org=request.org, limit=50)
    return render(
        request,
        "quality/sources.html",
        {
            "form": form,
            "mappings": selectors.source_mappings(org=request.org),
            "channels": selectors.known_channels(org=request.org),
            "unmapped": unmapped,
            "unmapped_total": unmapped_total,
            **_jobs(request.org, QualityJob.Kind.SOURCES_REAPPLY),
            "can_configure": request.membership.can(CONFIGURE),
        },
        status=400 if form.errors else 200,
    )


@org_view(CONFIGURE)
def quality_source_delete(request, pk):
    mapping = get_for_org(SourceMapping.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.source_mapping_delete(org=request.org, mapping=mapping, actor=request.user)
    messages.success(
        request,
        f"Mapping for “{mapping.raw_value}” deleted. Re-apply the mappings to clear it from existing leads.",
    )
    return redirect("quality_sources", org_slug=request.org.slug)


@org_view(CONFIGURE)
def quality_sources_reapply(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.sources_reapply_request(org=request.org, actor=request.user)
    messages.success(request, "Re-applying the mappings to every lead and touchpoint; progress shows below.")
    return redirect("quality_sources", org_slug=request.org.slug)


# --- Completeness ------------------------------------------------------------------------------------


@org_view()
def quality_completeness(request):
    if request.htmx and request.GET.get("fragment") == "jobs":
        return _jobs_fragment(request, QualityJob.Kind.COMPLETENESS)
    custom = custom_fields_by_type(org=request.org)
    posted_type = request.POST.get("object_type") if request.method == "POST" else None
    rule_forms = {}
    for object_type in ObjectType.values:
        bound = request.POST if object_type == posted_type else None
        initial = {"object_type": object_type}
        if request.GET.get("type") == object_type and request.GET.get("field"):
            initial.update(field=request.GET["field"], weight=request.GET.get("weight", 1),
                           required=request.GET.get("required") == "1")  # fmt: skip
        rule_forms[object_type] = CompletenessRuleForm(
            bound, object_type=object_type, custom_fields=custom[object_type], initial=initial,
            prefix=object_type,
        )  # fmt: skip
    if posted_type is not None:
        require_permission(request, CONFIGURE)
        form = rule_forms.get(posted_type)
        if form is not None and form.is_valid():
            data = form.cleaned_data
            try:
                rule, created = services.completeness_rule_save(
                    org=request.org, object_type=data["object_type"], field=data["field"],
                    weight=data["weight"], required=data["required"], actor=request.user,
                )  # fmt: skip
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                verb = "now counts" if created else "updated"
                messages.success(
                    request,
                    f"{rule.get_object_type_display()} field {rule.field} {verb}; "
                    "stored scores are being recomputed.",
                )
                return redirect("quality_completeness", org_slug=request.org.slug)
    rules = selectors.all_rules(org=request.org)
    by_type = {
        object_type: {
            "label": selectors.plural_label(object_type),
            "rules": rules[object_type],
            "total": sum(rule.weight for rule in rules[object_type]),
            "customised": any(rule.pk for rule in rules[object_type]),
            "form": rule_forms[object_type],
        }
        for object_type in ObjectType.values
    }
    return render(
        request,
        "quality/completeness.html",
        {
            "types": by_type,
            **_jobs(request.org, QualityJob.Kind.COMPLETENESS),
            "can_configure": request.membership.can(CONFIGURE),
        },
        status=400 if any(f.errors for f in rule_forms.values()) else 200,
    )


@org_view(CONFIGURE)
def quality_completeness_delete(request, pk):
    rule = get_for_org(CompletenessRule.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.completeness_rule_delete(org=request.org, rule=rule, actor=request.user)
    messages.success(
        request, f"{rule.field} no longer counts toward completeness; scores are being recomputed."
    )
    return redirect("quality_completeness", org_slug=request.org.slug)
