"""UTM pages: the taxonomy (everyone reads it, operations edits it), the URL builder and the violations.

The builder and the violations list judge values with `apps.execution.services.utm.validate`,
the same validator QA and the API use.
"""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import path

from apps.accounts.access import org_view, require_permission
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.execution.services import utm

OPERATE = "campaigns.operate"
PAGE_SIZE = 50


class TaxonomyForm(forms.Form):
    allowed_sources = forms.CharField(
        label="Allowed sources",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line or comma-separated; leave empty to allow any source.",
    )
    allowed_mediums = forms.CharField(
        label="Allowed mediums",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line or comma-separated; leave empty to allow any medium.",
    )
    campaign_pattern = forms.CharField(
        label="Campaign naming pattern",
        max_length=300,
        required=False,
        help_text=r"A regular expression the whole value must match, e.g. \d{4}-q[1-4]-[a-z0-9-]+",
    )
    campaign_pattern_help = forms.CharField(
        label="The rule in plain words",
        max_length=300,
        required=False,
        help_text="What people who tag links read, e.g. “year-quarter-name, like 2026-q3-webinar”.",
    )
    lowercase = forms.BooleanField(label="Values must be lower case", required=False)
    enforce_at_ingest = forms.BooleanField(
        label="Refuse records that break the conventions",
        required=False,
        help_text="Leads and touchpoints arriving through the API or a CSV import are refused, with the "
        "reason, instead of stored and listed as violations. Records without any UTM value always pass.",
    )


@org_view()
def utm_taxonomy(request):
    org = request.org
    taxonomy = utm.taxonomy_for(org)
    initial = {
        "allowed_sources": "\n".join(taxonomy.allowed_sources),
        "allowed_mediums": "\n".join(taxonomy.allowed_mediums),
        "campaign_pattern": taxonomy.campaign_pattern,
        "campaign_pattern_help": taxonomy.campaign_pattern_help,
        "lowercase": taxonomy.lowercase,
        "enforce_at_ingest": taxonomy.enforce_at_ingest,
    }
    form = TaxonomyForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        require_permission(request, OPERATE)
        if form.is_valid():
            try:
                utm.taxonomy_update(org=org, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, "UTM taxonomy saved.")
                return redirect("execution_utm_taxonomy", org_slug=org.slug)
        status = 400
    return render(
        request,
        "execution/campaigns/utm_taxonomy.html",
        {"form": form, "taxonomy": taxonomy, "can_edit": request.membership.can(OPERATE)},
        status=status,
    )


class BuilderForm(forms.Form):
    url = forms.URLField(label="Landing page URL", max_length=500, assume_scheme="https")
    utm_source = forms.CharField(label="Source (utm_source)", max_length=255, required=False)
    utm_medium = forms.CharField(label="Medium (utm_medium)", max_length=255, required=False)
    utm_campaign = forms.CharField(label="Campaign (utm_campaign)", max_length=255, required=False)
    utm_term = forms.CharField(label="Term (utm_term)", max_length=255, required=False)
    utm_content = forms.CharField(label="Content (utm_content)", max_length=255, required=False)


@org_view()
def utm_builder(request):
    org = request.org
    taxonomy = utm.taxonomy_for(org)
    form = BuilderForm(request.GET if "url" in request.GET else None)
    built = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            built = utm.build_url(taxonomy=taxonomy, url=data["url"], values=data, extra=data)
        except ServiceError as exc:
            add_service_error(form, exc)
    return render(
        request, "execution/campaigns/utm_builder.html", {"form": form, "built": built, "taxonomy": taxonomy}
    )


@org_view()
def utm_violations(request):
    org = request.org
    taxonomy = utm.taxonomy_for(org)
    reason = request.GET.get("reason") or None
    if reason not in utm.REASONS:
        reason = None
    page = Paginator(utm.violations(org=org, taxonomy=taxonomy, reason=reason), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [(tp, utm.validate(taxonomy, tp.__dict__, require_all=False)) for tp in page]
    return render(
        request,
        "execution/campaigns/utm_violations.html",
        {
            "page": page,
            "rows": rows,
            "counts": utm.violation_counts(org=org, taxonomy=taxonomy),
            "reason": reason,
            "taxonomy": taxonomy,
            "configured": taxonomy.pk is not None,
        },
    )


urlpatterns = [
    path("utm/", utm_taxonomy, name="execution_utm_taxonomy"),
    path("utm/builder/", utm_builder, name="execution_utm_builder"),
    path("utm/violations/", utm_violations, name="execution_utm_violations"),
]
