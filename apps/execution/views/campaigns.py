"""Campaign pages: the list (with launch measures and CSV), intake, a campaign's page, moves, QA, calendar.

Any member files an intake request; marketers and operations edit details
("campaigns.edit"); operations moves campaigns along the workflow, ticks
manual checks and owns the checklist ("campaigns.operate").
"""

import json
from datetime import date
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path

from apps.accounts.access import org_view, require_permission
from apps.accounts.models import Membership
from apps.audit.services import export_recorded
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.execution.models import Campaign, CampaignStatus, CampaignType, QaCheck, QaCheckKind
from apps.execution.selectors import campaigns as selectors
from apps.execution.services import campaign_qa, utm
from apps.execution.services import campaigns as services
from apps.measurement.attribution.compute import ALL_MODELS, LABELS
from apps.measurement.metrics.catalogue import METRICS
from apps.measurement.metrics.engine import local_today
from apps.strategy.models import Offer, Program, Segment

EDIT = "campaigns.edit"
OPERATE = "campaigns.operate"
EXPORT = "data.export"
PAGE_SIZE = 50


def _members(org):
    members = Membership.objects.for_org(org).filter(is_active=True).select_related("user")
    return members.order_by("user__full_name", "user__email")


class CampaignForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    type = forms.ChoiceField(label="Type", choices=CampaignType.choices)
    channel = forms.CharField(label="Channel", max_length=60, required=False)
    brief = forms.CharField(
        label="Brief",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you want, for whom and why.",
    )
    segment = forms.ModelChoiceField(label="Target segment", queryset=Segment.objects.none(), required=False)
    offer = forms.ModelChoiceField(label="Offer", queryset=Offer.objects.none(), required=False)
    program = forms.ModelChoiceField(label="Program", queryset=Program.objects.none(), required=False)
    start_date = forms.DateField(
        label="Start", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end_date = forms.DateField(label="End", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    planned_budget = forms.DecimalField(
        label="Planned budget", min_value=0, max_digits=14, decimal_places=2, required=False
    )
    success_metric = forms.ChoiceField(label="Success KPI", required=False)
    success_target = forms.DecimalField(label="KPI target", max_digits=18, decimal_places=4, required=False)
    utm_source = forms.CharField(label="UTM source", max_length=255, required=False)
    utm_medium = forms.CharField(label="UTM medium", max_length=255, required=False)
    utm_campaign = forms.CharField(
        label="UTM campaign",
        max_length=255,
        required=False,
        help_text="Links the campaign to its touchpoints, leads, spend and results.",
    )
    landing_url = forms.URLField(label="Landing page", max_length=500, required=False)
    expected_audience = forms.CharField(
        label="Expected audience",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Routing conditions as JSON, e.g. [{"field": "country", "op": "in", "value": ["FR"]}].',
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.for_org(org).order_by("name")
        self.fields["offer"].queryset = Offer.objects.for_org(org).order_by("name")
        self.fields["program"].queryset = Program.objects.for_org(org).order_by("name")
        self.fields["success_metric"].choices = [("", "—"), *((m.key, m.name) for m in METRICS)]

    def clean_expected_audience(self):
        raw = self.cleaned_data["expected_audience"].strip()
        if not raw:
            return []
        try:
            return json.loads(raw)
        except ValueError:
            raise forms.ValidationError("Not valid JSON.") from None


def _initial(campaign: Campaign) -> dict:
    values = {name: getattr(campaign, name) for name in services.DETAIL_FIELDS}
    values["expected_audience"] = json.dumps(campaign.expected_audience) if campaign.expected_audience else ""
    return values


class FilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False)
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any"), *CampaignStatus.choices])
    type = forms.ChoiceField(label="Type", required=False, choices=[("", "Any"), *CampaignType.choices])
    owner = forms.TypedChoiceField(label="Owner", required=False, coerce=int, empty_value=None)
    program = forms.TypedChoiceField(label="Program", required=False, coerce=int, empty_value=None)

    def __init__(self, data, *, org):
        super().__init__(data)
        self.fields["owner"].choices = [("", "Anyone"), *((m.pk, m.user.display_name) for m in _members(org))]
        programs = Program.objects.for_org(org).order_by("name").values_list("pk", "name")
        self.fields["program"].choices = [("", "Any"), *programs]

    def filters(self) -> selectors.Filters:
        if not self.is_valid():
            return selectors.Filters()
        data = self.cleaned_data
        return selectors.Filters(
            status=data["status"],
            type=data["type"],
            owner=data["owner"],
            program=data["program"],
            q=data["q"],
        )


CSV_HEADER = [
    "id",
    "name",
    "type",
    "status",
    "channel",
    "utm_campaign",
    "owner",
    "ops_owner",
    "program",
    "requested",
    "due_date",
    "live",
    "cycle_days",
    "on_time",
    "planned_budget",
]


def _csv_rows(org, campaigns):
    tz = ZoneInfo(org.time_zone)
    for c in campaigns:
        yield [
            c.pk,
            c.name,
            c.type,
            c.status,
            c.channel,
            c.utm_campaign,
            c.owner.user.display_name if c.owner else "",
            c.ops_owner.user.display_name if c.ops_owner else "",
            c.program.name if c.program else "",
            c.requested_at.astimezone(tz).date() if c.requested_at else "",
            c.due_date or "",
            c.live_at.astimezone(tz).date() if c.live_at else "",
            selectors.cycle_days(c, tz),
            selectors.on_time(c, tz),
            c.planned_budget,
        ]


@org_view()
def campaigns_list(request):
    org = request.org
    form = FilterForm(request.GET, org=org)
    campaigns = selectors.campaigns_for(org=org, filters=form.filters())
    if request.GET.get("format") == "csv":
        require_permission(request, EXPORT)
        export_recorded(
            request,
            what="campaigns",
            rows=campaigns.count(),
            filters=dict(request.GET.items()),
        )
        return csv_response(f"campaigns-{org.slug}.csv", CSV_HEADER, _csv_rows(org, campaigns.iterator()))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "execution/campaigns/list.html",
        {
            "form": form,
            "page": Paginator(campaigns, PAGE_SIZE).get_page(request.GET.get("page")),
            "stats": selectors.launch_stats(org=org, queryset=campaigns),
            "filtered": any(v for k, v in request.GET.items() if k != "page"),
            "export_query": query.urlencode(),
            "can_export": request.membership.can(EXPORT),
        },
    )


@org_view()
def campaign_new(request):
    org = request.org
    form = CampaignForm(request.POST or None, org=org)
    if request.method == "POST":
        if form.is_valid():
            try:
                campaign = services.campaign_request(
                    org=org, requested_by=request.membership, **form.cleaned_data
                )
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Request “{campaign.name}” filed; operations will triage it.")
                return redirect("execution_campaign", org_slug=org.slug, pk=campaign.pk)
        return render(request, "execution/campaigns/form.html", {"form": form}, status=400)
    return render(request, "execution/campaigns/form.html", {"form": form})


@org_view(EDIT)
def campaign_edit(request, pk):
    org = request.org
    campaign = get_for_org(Campaign.objects.all(), org=org, pk=pk)
    form = CampaignForm(request.POST or None, org=org, initial=_initial(campaign))
    if request.method == "POST":
        if form.is_valid():
            try:
                services.campaign_update(org=org, campaign=campaign, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, "Campaign saved.")
                return redirect("execution_campaign", org_slug=org.slug, pk=campaign.pk)
        campaign.refresh_from_db()
        return render(
            request, "execution/campaigns/form.html", {"form": form, "campaign": campaign}, status=400
        )
    return render(request, "execution/campaigns/form.html", {"form": form, "campaign": campaign})


def _model_from(request) -> str:
    """The model asked for with ?model=, else the organisation's default."""
    return selectors.model_or_default(request.org, request.GET.get("model"))


@org_view()
def campaign_detail(request, pk):
    org = request.org
    campaign = get_for_org(
        Campaign.objects.select_related(
            "owner__user", "ops_owner__user", "requested_by__user", "segment", "offer", "program"
        ),
        org=org,
        pk=pk,
    )
    tz = ZoneInfo(org.time_zone)
    model, default_model = _model_from(request), selectors.default_model(org)
    moves = [
        (status, CampaignStatus(status).label, services.ACTIONS[status])
        for status in services.allowed_moves(campaign)
    ]
    return render(
        request,
        "execution/campaigns/detail.html",
        {
            "campaign": campaign,
            "history": [
                (t, services.transition_by(t)) for t in services.campaign_history(org=org, campaign=campaign)
            ],
            "qa": campaign_qa.qa_results(org=org, campaign=campaign),
            "results": selectors.campaign_results(org=org, campaign=campaign, model=model),
            "model": model,
            "models": [(m, LABELS[m]) for m in ALL_MODELS],
            "model_label": LABELS[model],
            "default_model": default_model,
            "default_label": LABELS[default_model],
            "moves": moves,
            "gated": {to for (frm, to) in services.GATED if frm == campaign.status},
            "cycle_days": selectors.cycle_days(campaign, tz),
            "on_time": selectors.on_time(campaign, tz),
            "members": _members(org) if request.membership.can(OPERATE) else [],
            "can_edit": request.membership.can(EDIT) and campaign.status in (*services.OPEN, "live"),
            "can_operate": request.membership.can(OPERATE),
            "touchpoints": utm.touchpoints_for_campaign(org=org, campaign=campaign).count(),
            "today": local_today(org),
        },
    )


def _back(org, campaign):
    return redirect("execution_campaign", org_slug=org.slug, pk=campaign.pk)


@org_view(OPERATE)
def campaign_move(request, pk):
    org = request.org
    campaign = get_for_org(Campaign.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    due = request.POST.get("due_date") or None
    try:
        due = date.fromisoformat(due) if due else None
        transition = services.campaign_transition(
            org=org,
            campaign=campaign,
            to_status=request.POST.get("to_status", ""),
            actor=request.membership,
            note=request.POST.get("note", ""),
            override_reason=request.POST.get("override_reason", ""),
            ops_owner=request.POST.get("ops_owner") or None,
            due_date=due,
        )
    except ValueError:
        messages.error(request, "The due date is not a date.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        label = CampaignStatus(transition.to_status).label.lower()
        extra = " (QA overridden)" if transition.override_reason else ""
        messages.success(request, f"“{campaign.name}” is now {label}{extra}.")
    return _back(org, campaign)


@org_view(EDIT)
def campaign_qa_run(request, pk):
    org = request.org
    campaign = get_for_org(Campaign.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    results = campaign_qa.qa_run(org=org, campaign=campaign, actor=request.membership)
    failing = sum(1 for r in results if not r.passed)
    messages.success(request, f"QA run: {len(results) - failing} passing, {failing} failing.")
    return _back(org, campaign)


@org_view(OPERATE)
def campaign_qa_tick(request, pk):
    org = request.org
    campaign = get_for_org(Campaign.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        check = QaCheck.objects.for_org(org).get(pk=int(request.POST.get("check", "")))
        campaign_qa.qa_tick(
            org=org,
            campaign=campaign,
            check=check,
            passed=request.POST.get("passed") == "1",
            actor=request.membership,
            note=request.POST.get("note", ""),
        )
    except (ValueError, QaCheck.DoesNotExist):
        messages.error(request, "No such check.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return _back(org, campaign)


def _month(request, today: date) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in request.GET.get("month", "").split("-"))
        date(year, month, 1)
        if not 2000 <= year <= 2100:
            raise ValueError
    except ValueError:
        return today.year, today.month
    return year, month


def _shift(year: int, month: int, by: int) -> str:
    index = year * 12 + month - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@org_view()
def campaigns_calendar(request):
    org = request.org
    today = local_today(org)
    year, month = _month(request, today)
    return render(
        request,
        "execution/campaigns/calendar.html",
        {
            "weeks": selectors.month_grid(org=org, year=year, month=month),
            "month_start": date(year, month, 1),
            "previous": _shift(year, month, -1),
            "following": _shift(year, month, 1),
            "today": today,
            "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        },
    )


class CheckForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=QaCheckKind.choices)
    label = forms.CharField(label="Label", max_length=200)
    required = forms.BooleanField(label="Required", required=False, initial=True)


@org_view(OPERATE)
def qa_checklist(request):
    org = request.org
    form = CheckForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign_qa.qa_check_create(org=org, **form.cleaned_data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Check added.")
            return redirect("execution_qa_checklist", org_slug=org.slug)
    checks = campaign_qa.checklist_for(org)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "execution/campaigns/checklist.html", {"form": form, "checks": checks}, status=status
    )


@org_view(OPERATE)
def qa_check_edit(request, pk):
    org = request.org
    check = get_for_org(QaCheck.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        campaign_qa.qa_check_update(
            org=org,
            check=check,
            label=request.POST.get("label", ""),
            required=request.POST.get("required") == "on",
            active=request.POST.get("active") == "on",
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Check “{check.label}” saved.")
    return redirect("execution_qa_checklist", org_slug=org.slug)


urlpatterns = [
    path("campaigns/", campaigns_list, name="execution_campaigns"),
    path("campaigns/new/", campaign_new, name="execution_campaign_new"),
    path("campaigns/calendar/", campaigns_calendar, name="execution_campaigns_calendar"),
    path("campaigns/checklist/", qa_checklist, name="execution_qa_checklist"),
    path("campaigns/checklist/<int:pk>/", qa_check_edit, name="execution_qa_check"),
    path("campaigns/<int:pk>/", campaign_detail, name="execution_campaign"),
    path("campaigns/<int:pk>/edit/", campaign_edit, name="execution_campaign_edit"),
    path("campaigns/<int:pk>/move/", campaign_move, name="execution_campaign_move"),
    path("campaigns/<int:pk>/qa/", campaign_qa_run, name="execution_campaign_qa"),
    path("campaigns/<int:pk>/qa/tick/", campaign_qa_tick, name="execution_campaign_qa_tick"),
]
