"""The goals pages: one fiscal quarter's goals with their progress, a goal's detail and history, and forms.

RevOps leads and admins set goals ("strategy.edit"); everyone in the
organisation reads them. The quarter comes from the address (?year=&quarter=),
the current fiscal quarter when it names none.
"""

from django import forms
from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone

from apps.accounts.access import org_view
from apps.accounts.models import Membership, Team
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.measurement.metrics.catalogue import BY_KEY
from apps.strategy.fiscal import fiscal_quarter_of, fiscal_quarter_range, shift_quarter
from apps.strategy.models import Goal, GoalMetric
from apps.strategy.services import goals as services
from apps.strategy.services import reviews as review_services

EDIT = "strategy.edit"


class GoalForm(forms.Form):
    metric = forms.ChoiceField(label="Metric", choices=GoalMetric.choices)
    fiscal_year = forms.IntegerField(
        label="Fiscal year",
        min_value=services.MIN_YEAR,
        max_value=services.MAX_YEAR,
        help_text="The calendar year the fiscal year ends in.",
    )
    quarter = forms.TypedChoiceField(label="Quarter", coerce=int, choices=[(q, f"Q{q}") for q in range(1, 5)])
    team = forms.ModelChoiceField(
        label="Team",
        queryset=Team.objects.none(),
        required=False,
        empty_label="The whole organisation",
        help_text="A team goal counts the opportunities its members own (net revenue retention is always "
        "measured on the whole organisation).",
    )
    owner = forms.ModelChoiceField(label="Owner", queryset=Membership.objects.none())
    target = forms.DecimalField(
        label="Target",
        min_value=0,
        max_digits=16,
        decimal_places=2,
        help_text="An amount in the organisation's currency, a count of new logos, or a percentage for net "
        "revenue retention (e.g. 105).",
    )
    note = forms.CharField(label="Note", max_length=300, required=False)

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.for_org(org).order_by("name")
        owners = Membership.objects.for_org(org).filter(is_active=True).select_related("user")
        self.fields["owner"].queryset = owners.order_by("user__full_name", "user__email")
        self.fields["owner"].label_from_instance = lambda m: m.user.display_name
        self.fields["target"].widget.attrs.update({"step": "0.01", "min": "0"})


def _quarter_from(request) -> tuple[int, int]:
    """The quarter the address names, or the current one (a bad value falls back to it too)."""
    current = fiscal_quarter_of(request.org.fiscal_year_start_month, timezone.localdate())
    try:
        year, quarter = int(request.GET["year"]), int(request.GET["quarter"])
    except (KeyError, ValueError):
        return current
    if not (services.MIN_YEAR <= year <= services.MAX_YEAR and 1 <= quarter <= 4):
        return current
    return year, quarter


def _quarter_url(org, year, quarter) -> str:
    return f"{reverse('strategy_index', args=[org.slug])}?year={year}&quarter={quarter}"


@org_view()
def goals_index(request):
    org = request.org
    year, quarter = _quarter_from(request)
    start, end = fiscal_quarter_range(org.fiscal_year_start_month, year, quarter)
    today = timezone.localdate()
    rows = [
        (goal, services.goal_progress(org=org, goal=goal, today=today))
        for goal in services.goals_for_quarter(org=org, fiscal_year=year, quarter=quarter)
    ]
    previous, following = shift_quarter(year, quarter, -1), shift_quarter(year, quarter, 1)
    return render(
        request,
        "strategy/goals.html",
        {
            "year": year,
            "quarter": quarter,
            "start": start,
            "end": end,
            "rows": rows,
            "previous_url": _quarter_url(org, *previous),
            "next_url": _quarter_url(org, *following),
            "previous": previous,
            "following": following,
            "is_current": (year, quarter) == fiscal_quarter_of(org.fiscal_year_start_month, today),
            "current_url": reverse("strategy_index", args=[org.slug]),
            "can_edit": request.membership.can(EDIT),
            "new_url": f"{reverse('strategy_goal_new', args=[org.slug])}?year={year}&quarter={quarter}",
            "review_due": review_services.is_due(org, today),
            "review_days_since": review_services.days_since_last(org, today),
        },
    )


@org_view()
def goal_detail(request, pk):
    org = request.org
    goal = get_for_org(Goal.objects.select_related("team", "owner__user"), org=org, pk=pk)
    progress = services.goal_progress(org=org, goal=goal, today=timezone.localdate())
    return render(
        request,
        "strategy/goal.html",
        {
            "goal": goal,
            "metric": BY_KEY[goal.metric],
            "progress": progress,
            "history": services.goal_history(org=org, goal=goal),
            "back_url": _quarter_url(org, goal.fiscal_year, goal.quarter),
            "can_edit": request.membership.can(EDIT),
        },
    )


def _form_page(request, form, goal=None, status=200):
    return render(request, "strategy/goal_form.html", {"form": form, "goal": goal}, status=status)


@org_view(EDIT)
def goal_new(request):
    org = request.org
    year, quarter = _quarter_from(request)
    initial = {"fiscal_year": year, "quarter": quarter, "owner": request.membership}
    form = GoalForm(request.POST or None, org=org, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                goal = services.goal_create(org=org, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Goal for {goal.get_metric_display()} saved.")
                return redirect("strategy_goal", org_slug=org.slug, pk=goal.pk)
        return _form_page(request, form, status=400)
    return _form_page(request, form)


@org_view(EDIT)
def goal_edit(request, pk):
    org = request.org
    goal = get_for_org(Goal.objects.select_related("team", "owner"), org=org, pk=pk)
    form = GoalForm(request.POST or None, org=org, initial=services.goal_values(goal))
    if request.method == "POST":
        if form.is_valid():
            try:
                services.goal_update(org=org, goal=goal, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Goal for {goal.get_metric_display()} saved.")
                return redirect("strategy_goal", org_slug=org.slug, pk=goal.pk)
        goal.refresh_from_db()
        return _form_page(request, form, goal, status=400)
    return _form_page(request, form, goal)


@org_view(EDIT)
def goal_delete(request, pk):
    org = request.org
    goal = get_for_org(Goal.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.goal_delete(org=org, goal=goal)
    messages.success(
        request, f"Goal for {goal.get_metric_display()} in FY{goal.fiscal_year} Q{goal.quarter} deleted."
    )
    return redirect(_quarter_url(org, goal.fiscal_year, goal.quarter))


urlpatterns = [
    path("goals/new/", goal_new, name="strategy_goal_new"),
    path("goals/<int:pk>/", goal_detail, name="strategy_goal"),
    path("goals/<int:pk>/edit/", goal_edit, name="strategy_goal_edit"),
    path("goals/<int:pk>/delete/", goal_delete, name="strategy_goal_delete"),
]
