"""ICP and segments pages: the list (ICP first), a segment's rules, size, comparison and members,
the rule builder, "recompute now" and the members as CSV.

Everyone in the organisation reads them; RevOps leads and admins edit ("strategy.edit").
The rule builder shows every rule of the segment plus one blank rule; each rule is
a name, its points and the condition rows shared with stage and routing rules.
Saving and "recompute now" hand the full recompute (one SQL statement, seconds at a million leads)
to a worker; the segment page shows it running and refreshes when it is done.
"""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path

from apps.accounts.access import org_view
from apps.accounts.models import Membership
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.records.forms import ConditionFormSet, condition_initial, formset_rule
from apps.records.models import CustomField
from apps.strategy.models import Segment, SegmentObject
from apps.strategy.segments import comparison, fields, selectors
from apps.strategy.services import segments as services

EDIT = "strategy.edit"
PAGE_SIZE = 50


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=120)
    key = forms.SlugField(
        max_length=60, help_text="Routing rules and the API name the segment by this key (e.g. icp, emea)."
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    is_icp = forms.BooleanField(label="This is our ICP", required=False)
    threshold = forms.IntegerField(
        min_value=1, initial=1, help_text="A record is a member when its fit score reaches this many points."
    )
    owner = forms.ModelChoiceField(queryset=Membership.objects.none(), required=False, empty_label="Nobody")

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        owners = Membership.objects.for_org(org).filter(is_active=True).select_related("user")
        self.fields["owner"].queryset = owners.order_by("user__full_name", "user__email")
        self.fields["owner"].label_from_instance = lambda m: m.user.display_name


class RuleForm(forms.Form):
    name = forms.CharField(max_length=120, required=False, label="Rule name")
    points = forms.IntegerField(
        min_value=-fields.MAX_POINTS, max_value=fields.MAX_POINTS, required=False, label="Points"
    )


def _rule_blocks(data, org, object_type: str, rules: list[dict]) -> list[dict]:
    """One block per rule (and a blank one to add): its name and points, and its condition rows."""
    custom = CustomField.objects.for_org(org).filter(object_type=object_type).order_by("label")
    choices = fields.choices(object_type, custom)
    blocks = []
    for index, rule in enumerate([*rules, {}]):
        prefix = f"rule{index}"
        initial = None if data is not None else condition_initial(rule.get("conditions"))
        blocks.append(
            {
                "number": index + 1,
                "form": RuleForm(
                    data, prefix=prefix, initial={"name": rule.get("name"), "points": rule.get("points")}
                ),
                "formset": ConditionFormSet(
                    data, prefix=f"{prefix}-cond", initial=initial, form_kwargs={"field_choices": choices}
                ),
            }
        )
    return blocks


def _rules_from(blocks) -> list[dict]:
    """The rules typed in; a block with no name, points or conditions is left out."""
    rules = []
    for block in blocks:
        data, conditions = block["form"].cleaned_data, formset_rule(block["formset"])
        if not data.get("name") and data.get("points") is None and not conditions:
            continue
        rules.append({"name": data.get("name") or "", "conditions": conditions, "points": data.get("points")})
    return rules


def _object_type(request, segment) -> str:
    if segment is not None:
        return segment.object_type
    wanted = request.GET.get("object_type") or request.POST.get("object_type")
    return wanted if wanted in SegmentObject.values else SegmentObject.LEAD


def _form_page(request, segment=None):
    org = request.org
    object_type = _object_type(request, segment)
    data = request.POST if request.method == "POST" else None
    initial = {"threshold": 1}
    if segment is not None:
        initial = {
            k: getattr(segment, k) for k in ("name", "key", "description", "is_icp", "threshold", "owner")
        }
    form = SegmentForm(data, org=org, initial=initial)
    blocks = _rule_blocks(data, org, object_type, segment.rules if segment else [])
    rules_error = None
    if data is not None:
        valid = form.is_valid() & all(b["form"].is_valid() & b["formset"].is_valid() for b in blocks)
        if valid:
            values = {**form.cleaned_data, "rules": _rules_from(blocks)}
            try:
                if segment is None:
                    segment = services.segment_create(
                        org=org, object_type=object_type, recompute=False, **values
                    )
                else:
                    services.segment_update(org=org, segment=segment, recompute=False, **values)
            except ServiceError as exc:
                if exc.field and exc.field.startswith("rules"):
                    rules_error = f"{exc.field}: {exc.message}"
                else:
                    add_service_error(form, exc)
                if segment is not None and segment.pk:
                    segment.refresh_from_db()
            else:
                messages.success(
                    request, f"Segment “{segment.name}” saved; its members are being recomputed."
                )
                return redirect("strategy_segment", org_slug=org.slug, pk=segment.pk)
    return render(
        request,
        "strategy/segment_form.html",
        {
            "form": form,
            "blocks": blocks,
            "segment": segment if segment is not None and segment.pk else None,
            "object_type": object_type,
            "object_label": SegmentObject(object_type).label.lower(),
            "rules_error": rules_error,
        },
        status=400 if data is not None else 200,
    )


@org_view()
def segments_index(request):
    org = request.org
    return render(
        request,
        "strategy/segments.html",
        {"segments": selectors.segments_with_sizes(org=org), "can_edit": request.membership.can(EDIT)},
    )


@org_view()
def segment_detail(request, pk):
    org = request.org
    segment = get_for_org(Segment.objects.select_related("owner__user"), org=org, pk=pk)
    members = selectors.members(org=org, segment=segment)
    page = Paginator(members, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "strategy/segment.html",
        {
            "segment": segment,
            "size": page.paginator.count,
            "comparison": comparison.compare(org=org, segment=segment),
            "page": page,
            "rules": selectors.described_rules(segment),
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view(EDIT)
def segment_new(request):
    return _form_page(request)


@org_view(EDIT)
def segment_edit(request, pk):
    return _form_page(request, get_for_org(Segment.objects.all(), org=request.org, pk=pk))


@org_view(EDIT)
def segment_delete(request, pk):
    org = request.org
    segment = get_for_org(Segment.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.segment_delete(org=org, segment=segment)
    messages.success(request, f"Segment “{segment.name}” deleted.")
    return redirect("strategy_segments", org_slug=org.slug)


@org_view(EDIT)
def segment_recompute(request, pk):
    org = request.org
    segment = get_for_org(Segment.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.recompute_later(org=org, segment=segment)
    messages.success(request, "Recomputing every membership in the background; this page follows it.")
    return redirect("strategy_segment", org_slug=org.slug, pk=segment.pk)


@org_view()
def segment_recompute_status(request, pk):
    """Polled while a recompute runs: the progress block, and a page refresh once it is done."""
    segment = get_for_org(Segment.objects.all(), org=request.org, pk=pk)
    if not segment.recompute_pending:
        return HttpResponse("", headers={"HX-Refresh": "true"})
    return render(request, "strategy/_segment_recompute.html", {"segment": segment})


@org_view()
def segment_export(request, pk):
    org = request.org
    segment = get_for_org(Segment.objects.all(), org=org, pk=pk)
    rows = selectors.member_rows(org=org, segment=segment)
    header = ["id", "name", "email", "company", "country", "score", "member_since"]
    if segment.object_type == SegmentObject.ACCOUNT:
        header = ["id", "name", "domain", "industry", "country", "score", "member_since"]
    return csv_response(f"segment-{segment.key}.csv", header, rows)


urlpatterns = [
    path("segments/", segments_index, name="strategy_segments"),
    path("segments/new/", segment_new, name="strategy_segment_new"),
    path("segments/<int:pk>/", segment_detail, name="strategy_segment"),
    path("segments/<int:pk>/edit/", segment_edit, name="strategy_segment_edit"),
    path("segments/<int:pk>/delete/", segment_delete, name="strategy_segment_delete"),
    path("segments/<int:pk>/recompute/", segment_recompute, name="strategy_segment_recompute"),
    path(
        "segments/<int:pk>/recompute/status/",
        segment_recompute_status,
        name="strategy_segment_recompute_status",
    ),
    path("segments/<int:pk>/members.csv", segment_export, name="strategy_segment_export"),
]
