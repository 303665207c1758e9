"""The marketing plan: a timeline and a table of programs, a program's page, its forms, and the CSV export.

RevOps leads and admins edit ("strategy.edit"); everyone in the organisation
reads. The visible range comes from the address (?year=&quarter=&span=): two
fiscal quarters from the named one, or its whole fiscal year; the current
fiscal quarter when it names none. The export lists the same programs as the page.
"""

from django import forms
from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone

from apps.accounts.access import org_view
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.measurement.metrics.catalogue import BY_KEY, METRICS
from apps.measurement.views.metrics import format_value
from apps.strategy import timeline
from apps.strategy.fiscal import fiscal_quarter_of, shift_quarter
from apps.strategy.models import (
    Goal,
    Offer,
    Program,
    ProgramBudgetLine,
    ProgramStatus,
    ProgramTarget,
    Segment,
)
from apps.strategy.services import goals as goal_services
from apps.strategy.services import programs as services

from .positioning import owner_choice_field

EDIT = "strategy.edit"
CSV_HEADER = [
    "program", "status", "owner", "start", "end", "segment", "offer", "goal", "depends_on", "budget_total",
    "targets",
]  # fmt: skip


class ProgramForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    objective = forms.CharField(
        label="Objective",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the program must achieve.",
    )
    rationale = forms.CharField(
        label="Rationale",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Why this program, and why now.",
    )
    start = forms.DateField(label="Start", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="End", widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(label="Status", choices=ProgramStatus.choices)

    def __init__(self, *args, org, program=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"] = owner_choice_field(org)
        self.fields["segment"] = forms.ModelChoiceField(
            label="Segment", queryset=Segment.objects.for_org(org), required=False, empty_label="No segment"
        )
        self.fields["offer"] = forms.ModelChoiceField(
            label="Offer", queryset=Offer.objects.for_org(org), required=False, empty_label="No offer"
        )
        self.fields["goal"] = forms.ModelChoiceField(
            label="Goal",
            queryset=Goal.objects.for_org(org).order_by("-fiscal_year", "-quarter", "metric"),
            required=False,
            empty_label="No goal",
        )
        self.fields["goal"].label_from_instance = _goal_label
        others = Program.objects.for_org(org)
        if program is not None:
            others = others.exclude(pk=program.pk)
        self.fields["depends_on"] = forms.ModelMultipleChoiceField(
            label="Depends on",
            queryset=others.order_by("start", "name"),
            required=False,
            help_text="Programs that must end before this one starts.",
        )


def _goal_label(goal) -> str:
    scope = f" ({goal.team.name})" if goal.team_id else ""
    return f"{goal.get_metric_display()} FY{goal.fiscal_year} Q{goal.quarter}{scope}"


class BudgetLineForm(forms.Form):
    channel = forms.CharField(label="Channel", max_length=60, required=False)
    description = forms.CharField(label="Description", max_length=200)
    amount = forms.DecimalField(label="Amount", min_value=0, max_digits=16, decimal_places=2)


class TargetForm(forms.Form):
    metric = forms.ChoiceField(label="Metric", choices=[(m.key, m.name) for m in METRICS])
    target = forms.DecimalField(label="Target", min_value=0, max_digits=18, decimal_places=4)


# --- The plan ------------------------------------------------------------------------------------


def _range_from(request) -> timeline.Range:
    """The range the address names, or this quarter and the next (a bad value falls back to it too)."""
    start_month = request.org.fiscal_year_start_month
    span = request.GET.get("span") if request.GET.get("span") in timeline.SPANS else "quarters"
    try:
        year, quarter = int(request.GET["year"]), int(request.GET["quarter"])
        if not (goal_services.MIN_YEAR <= year <= goal_services.MAX_YEAR and 1 <= quarter <= 4):
            raise ValueError
    except (KeyError, ValueError):
        year, quarter = fiscal_quarter_of(start_month, timezone.localdate())
    return timeline.plan_range(start_month, year, quarter, span)


def _plan_url(org, year, quarter, span) -> str:
    return f"{reverse('strategy_programs', args=[org.slug])}?year={year}&quarter={quarter}&span={span}"


def _metric_name(key: str) -> str:
    return BY_KEY[key].name if key in BY_KEY else key


def _rows(visible: timeline.Range, programs) -> list[dict]:
    rows = []
    for program in programs:
        dependencies = list(program.depends_on.all())
        rows.append(
            {
                "program": program,
                "bar": timeline.bar(visible, program.start, program.end, [d.end for d in dependencies]),
                "dependencies": dependencies,
                "warnings": services.dependency_warnings(program),
                "budget": services.budget_total(program),
                "targets": [(_metric_name(t.metric), t.target) for t in program.targets.all()],
            }
        )
    return rows


@org_view()
def plan_index(request):
    org = request.org
    visible = _range_from(request)
    programs = services.programs_between(org=org, start=visible.start, end=visible.end)
    rows = _rows(visible, programs)
    step = 4 if visible.span == "year" else 2
    previous = shift_quarter(visible.fiscal_year, visible.quarter, -step)
    following = shift_quarter(visible.fiscal_year, visible.quarter, step)
    today = timezone.localdate()
    query = f"year={visible.fiscal_year}&quarter={visible.quarter}&span={visible.span}"
    return render(
        request,
        "strategy/programs.html",
        {
            "range": visible,
            "rows": rows,
            "months": timeline.months(visible),
            "today": visible.percent(today) if visible.start <= today <= visible.end else None,
            "total_budget": sum((row["budget"] for row in rows), 0),
            "previous_url": _plan_url(org, *previous, visible.span),
            "next_url": _plan_url(org, *following, visible.span),
            "span_urls": [
                (key, label, _plan_url(org, visible.fiscal_year, visible.quarter, key))
                for key, label in timeline.SPANS.items()
            ],
            "export_url": f"{reverse('strategy_programs_export', args=[org.slug])}?{query}",
            "has_any": rows or Program.objects.for_org(org).exists(),
            "can_edit": request.membership.can(EDIT),
            "statuses": ProgramStatus.choices,
        },
    )


def csv_rows(programs):
    for program in programs:
        yield [
            program.name,
            program.status,
            program.owner.user.display_name if program.owner else "",
            program.start,
            program.end,
            program.segment.name if program.segment else "",
            program.offer.name if program.offer else "",
            str(program.goal) if program.goal else "",
            "; ".join(dependency.name for dependency in program.depends_on.all()),
            f"{services.budget_total(program):.2f}",
            "; ".join(f"{target.metric}={target.target.normalize():f}" for target in program.targets.all()),
        ]


@org_view()
def plan_export(request):
    org = request.org
    visible = _range_from(request)
    programs = services.programs_between(org=org, start=visible.start, end=visible.end)
    name = f"marketing-plan-{org.slug}-{visible.start:%Y-%m-%d}-{visible.end:%Y-%m-%d}.csv"
    return csv_response(name, CSV_HEADER, csv_rows(programs))


# --- A program -----------------------------------------------------------------------------------


def _program(org, pk) -> Program:
    related = Program.objects.select_related("owner__user", "segment", "offer", "goal__team")
    return get_for_org(related, org=org, pk=pk)


@org_view()
def program_detail(request, pk):
    org = request.org
    program = _program(org, pk)
    return _detail_page(request, program)


def _detail_page(request, program, line_form=None, target_form=None, status=200):
    org = request.org
    progress = services.program_progress(org=org, program=program, today=timezone.localdate())
    targets = [
        {
            "row": row,
            "target": format_value(float(row.target.target), row.unit),
            "actual": format_value(row.actual, row.unit),
        }
        for row in progress
    ]
    return render(
        request,
        "strategy/program.html",
        {
            "program": program,
            "dependencies": program.depends_on.all(),
            "dependents": program.dependents.all(),
            "campaigns": program.campaigns.filter(organization=org).order_by("start_date", "name"),
            "warnings": services.dependency_warnings(program),
            "lines": program.budget_lines.all(),
            "budget": services.budget_total(program),
            "targets": targets,
            "line_form": line_form or BudgetLineForm(),
            "target_form": target_form or TargetForm(),
            "can_edit": request.membership.can(EDIT),
            "statuses": ProgramStatus.choices,
        },
        status=status,
    )


def _form_page(request, form, program=None, status=200):
    return render(request, "strategy/program_form.html", {"form": form, "program": program}, status=status)


@org_view(EDIT)
def program_new(request):
    org = request.org
    visible = _range_from(request)
    initial = {"owner": request.membership, "start": visible.start, "end": visible.end, "status": "planned"}
    form = ProgramForm(request.POST or None, org=org, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                program = services.program_create(org=org, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Program “{program.name}” saved.")
                return redirect("strategy_program", org_slug=org.slug, pk=program.pk)
        return _form_page(request, form, status=400)
    return _form_page(request, form)


@org_view(EDIT)
def program_edit(request, pk):
    org = request.org
    program = _program(org, pk)
    form = ProgramForm(
        request.POST or None, org=org, program=program, initial=services.program_values(program)
    )
    if request.method == "POST":
        if form.is_valid():
            try:
                services.program_update(org=org, program=program, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Program “{program.name}” saved.")
                return redirect("strategy_program", org_slug=org.slug, pk=program.pk)
        program.refresh_from_db()
        return _form_page(request, form, program, status=400)
    return _form_page(request, form, program)


@org_view(EDIT)
def program_status(request, pk):
    org = request.org
    program = _program(org, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.program_set_status(org=org, program=program, status=request.POST.get("status", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"“{program.name}” is now {program.get_status_display().lower()}.")
    return redirect("strategy_program", org_slug=org.slug, pk=program.pk)


@org_view(EDIT)
def program_items(request, pk):
    """Add or remove one budget line or target (the `action` field says which)."""
    org = request.org
    program = _program(org, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    action = request.POST.get("action")
    if action == "add_line":
        form = BudgetLineForm(request.POST)
        if form.is_valid():
            try:
                services.budget_line_add(org=org, program=program, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
        if form.errors:
            return _detail_page(request, program, line_form=form, status=400)
        messages.success(request, "Budget line added.")
    elif action == "set_target":
        form = TargetForm(request.POST)
        if form.is_valid():
            try:
                services.target_set(org=org, program=program, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
        if form.errors:
            return _detail_page(request, program, target_form=form, status=400)
        messages.success(request, "Target saved.")
    elif action == "delete_line":
        line = get_for_org(
            ProgramBudgetLine.objects.filter(program=program), org=org, pk=request.POST.get("id")
        )
        services.budget_line_delete(org=org, line=line)
        messages.success(request, "Budget line removed.")
    elif action == "delete_target":
        target = get_for_org(
            ProgramTarget.objects.filter(program=program), org=org, pk=request.POST.get("id")
        )
        services.target_delete(org=org, target=target)
        messages.success(request, "Target removed.")
    else:
        messages.error(request, "Nothing to do: the form named no known action.")
    return redirect("strategy_program", org_slug=org.slug, pk=program.pk)


@org_view(EDIT)
def program_delete(request, pk):
    org = request.org
    program = _program(org, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.program_delete(org=org, program=program)
    messages.success(request, f"Program “{program.name}” deleted.")
    return redirect("strategy_programs", org_slug=org.slug)


urlpatterns = [
    path("plan/", plan_index, name="strategy_programs"),
    path("plan/export.csv", plan_export, name="strategy_programs_export"),
    path("plan/new/", program_new, name="strategy_program_new"),
    path("plan/<int:pk>/", program_detail, name="strategy_program"),
    path("plan/<int:pk>/edit/", program_edit, name="strategy_program_edit"),
    path("plan/<int:pk>/status/", program_status, name="strategy_program_status"),
    path("plan/<int:pk>/items/", program_items, name="strategy_program_items"),
    path("plan/<int:pk>/delete/", program_delete, name="strategy_program_delete"),
]
