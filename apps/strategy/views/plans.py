"""Saved plans: the list, one plan with its waterfall, saving from the waterfall page, scenarios,
and two plans compared.

Everyone reads plans; RevOps leads and admins ("strategy.edit") save, copy,
mark primary and delete them. A plan's waterfall is recomputed from its frozen
inputs (apps.strategy.services.plans), so only the actuals move.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.access import org_view
from apps.core.errors import ServiceError
from apps.core.lookups import get_for_org
from apps.strategy.models import SavedPlan
from apps.strategy.services import plans as services

EDIT = "strategy.edit"


def _plans(org):
    return SavedPlan.objects.for_org(org).select_related("owner__user", "based_on")


def _tables(result):
    names = dict(result.stages)
    return [(key, names[key], rows) for key, rows in result.rows.items()]


def _described(error: ServiceError) -> str:
    """A waterfall input's error names its input (the form holding it is another page)."""
    inputs = {"target", "deal_size", "fiscal_year", "quarter"}
    if error.field and ("." in error.field or error.field in inputs):
        return f"{error.field}: {error.message}"
    return error.message


def _waterfall_url(org, plan: SavedPlan) -> str:
    return f"{reverse('strategy_waterfall', args=[org.slug])}?{urlencode(plan.params)}"


@org_view()
def plans_page(request):
    org = request.org
    plans = list(_plans(org).order_by("-fiscal_year", "-quarter", "-is_primary", "name", "id"))
    quarters: dict[tuple[int, int], list[SavedPlan]] = {}
    for plan in plans:
        quarters.setdefault((plan.fiscal_year, plan.quarter), []).append(plan)
    return render(
        request,
        "strategy/plans.html",
        {
            "quarters": [(year, quarter, items) for (year, quarter), items in quarters.items()],
            "plans": plans,
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view()
def plan_detail(request, pk):
    org = request.org
    plan = get_for_org(_plans(org), org=org, pk=pk)
    result = services.plan_result(org=org, plan=plan, today=timezone.localdate())
    named = {a.name: a for a in result.assumptions}
    inputs = [
        (named[key].label if key in named else key.replace("_", " ").capitalize(), value)
        for key, value in plan.params.items()
        if key not in ("fiscal_year", "quarter")
    ]
    return render(
        request,
        "strategy/plan.html",
        {
            "plan": plan,
            "result": result,
            "inputs": inputs,
            "tables": _tables(result) if result.ok else [],
            "scenarios": _plans(org).filter(based_on=plan),
            "others": _plans(org).exclude(pk=plan.pk),
            "stage_choices": result.stages[:-1],
            "waterfall_url": _waterfall_url(org, plan),
            "export_url": f"{reverse('strategy_waterfall_export', args=[org.slug])}?{urlencode(plan.params)}",
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view(EDIT)
@require_POST
def plan_new(request):
    org = request.org
    params = {key[len("param.") :]: value for key, value in request.POST.items() if key.startswith("param.")}
    try:
        plan = services.plan_save(
            org=org,
            name=request.POST.get("name", ""),
            note=request.POST.get("note", ""),
            params=params,
            primary=request.POST.get("primary") == "1",
            owner=request.membership,
            today=timezone.localdate(),
        )
    except ServiceError as exc:
        messages.error(request, f"The plan was not saved: {_described(exc)}")
        return redirect(f"{reverse('strategy_waterfall', args=[org.slug])}?{urlencode(params)}")
    messages.success(request, f"Plan “{plan.name}” saved.")
    return redirect("strategy_plan", org_slug=org.slug, pk=plan.pk)


@org_view(EDIT)
def plan_edit(request, pk):
    org = request.org
    plan = get_for_org(_plans(org), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.plan_update(
            org=org,
            plan=plan,
            name=request.POST.get("name", ""),
            note=request.POST.get("note", ""),
            today=timezone.localdate(),
        )
    except ServiceError as exc:
        messages.error(request, f"Not saved: {_described(exc)}")
    else:
        messages.success(request, f"Plan “{plan.name}” saved.")
    return redirect("strategy_plan", org_slug=org.slug, pk=pk)


@org_view(EDIT)
def plan_primary(request, pk):
    org = request.org
    plan = get_for_org(_plans(org), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.plan_make_primary(org=org, plan=plan)
    quarter = f"FY{plan.fiscal_year} Q{plan.quarter}"
    messages.success(request, f"“{plan.name}” is now the primary plan for {quarter}.")
    return redirect("strategy_plan", org_slug=org.slug, pk=pk)


def _scenario_changes(plan: SavedPlan, post) -> dict[str, str]:
    """The form's stage and moves as new values of that stage's rate and lag (moves add to the plan's)."""
    stage = post.get("stage", "").strip()
    if not stage:
        raise ServiceError("Choose the stage whose assumptions change.", field="stage")
    changes = {}
    for kind, field in (("rate", "rate_change"), ("lag", "lag_change")):
        raw = post.get(field, "").strip()
        if not raw:
            continue
        try:
            move = float(raw)
        except ValueError:
            raise ServiceError(f"“{raw}” is not a number.", field=field) from None
        base = plan.params.get(f"{kind}.{stage}")
        if base is None:
            raise ServiceError(f"The plan has no {kind} for “{stage}”.", field="stage")
        changes[f"{kind}.{stage}"] = services.as_text(float(base) + move)
    if not changes:
        raise ServiceError("Give a rate change, a lag change or both.", field="rate_change")
    return changes


@org_view(EDIT)
def plan_copy(request, pk):
    org = request.org
    plan = get_for_org(_plans(org), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        copy = services.plan_copy(
            org=org,
            plan=plan,
            name=request.POST.get("name", ""),
            changes=_scenario_changes(plan, request.POST),
            owner=request.membership,
            today=timezone.localdate(),
        )
    except ServiceError as exc:
        messages.error(request, f"The scenario was not saved: {_described(exc)}")
        return redirect("strategy_plan", org_slug=org.slug, pk=pk)
    messages.success(request, f"Scenario “{copy.name}” saved.")
    return redirect(f"{reverse('strategy_plan_compare', args=[org.slug])}?first={plan.pk}&second={copy.pk}")


@org_view(EDIT)
def plan_delete(request, pk):
    org = request.org
    plan = get_for_org(_plans(org), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.plan_delete(org=org, plan=plan)
    messages.success(request, f"Plan “{plan.name}” deleted.")
    return redirect("strategy_plans", org_slug=org.slug)


@org_view()
def plan_compare(request):
    org = request.org
    first = get_for_org(_plans(org), org=org, pk=request.GET.get("first"))
    second = get_for_org(_plans(org), org=org, pk=request.GET.get("second"))
    comparison = services.compare(org=org, first=first, second=second, today=timezone.localdate())
    return render(request, "strategy/plan_compare.html", {"comparison": comparison})


urlpatterns = [
    path("plans/", plans_page, name="strategy_plans"),
    path("plans/new/", plan_new, name="strategy_plan_new"),
    path("plans/compare/", plan_compare, name="strategy_plan_compare"),
    path("plans/<int:pk>/", plan_detail, name="strategy_plan"),
    path("plans/<int:pk>/edit/", plan_edit, name="strategy_plan_edit"),
    path("plans/<int:pk>/primary/", plan_primary, name="strategy_plan_primary"),
    path("plans/<int:pk>/copy/", plan_copy, name="strategy_plan_copy"),
    path("plans/<int:pk>/delete/", plan_delete, name="strategy_plan_delete"),
]
