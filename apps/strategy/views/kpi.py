"""The KPI tree pages: the tree with every node's status, a node's detail, its forms, and the CSV export.

RevOps leads and admins build the tree ("strategy.edit"); everyone in the
organisation reads it. The numbers come from `services.kpi.kpi_tree`, which
the API and the CSV share, so the three always agree.
"""

import datetime
import math
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe

from apps.accounts.access import org_view
from apps.accounts.models import Membership
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.measurement.metrics.catalogue import BY_KEY, METRICS
from apps.measurement.metrics.engine import local_today
from apps.strategy.kpi_rules import period_label, period_of, recent_periods
from apps.strategy.models import KpiCombine, KpiKind, KpiNode, KpiStatus
from apps.strategy.models.kpi import KpiDirection, KpiGrain
from apps.strategy.services import kpi as services

EDIT = "strategy.edit"
CSV_HEADER = ("path", "name", "metric", "kind", "grain", "period_start", "status", "actual", "target",
              "expected", "pace_percent", "trend", "owner")  # fmt: skip
FUTURE_PERIODS = 4  # how far ahead a target can be picked in the form


# --- Sparklines ----------------------------------------------------------------------------------

SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 96, 24, 2


def sparkline(points: list[services.Point], label: str) -> str:
    """An inline SVG of the actuals (a line) and targets (dashes) of the last periods, drawn server-side.

    Only numbers computed here go into the markup; the label is escaped."""
    values = [v for p in points for v in (p.actual, p.target) if v is not None and math.isfinite(v)]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (SPARK_WIDTH - 2 * SPARK_PAD) / max(1, len(points) - 1)

    def xy(index: int, value: float) -> str:
        x = SPARK_PAD + index * step
        y = SPARK_HEIGHT - SPARK_PAD - (value - low) / span * (SPARK_HEIGHT - 2 * SPARK_PAD)
        return f"{x:.1f},{y:.1f}"

    actual = " ".join(xy(i, p.actual) for i, p in enumerate(points) if p.actual is not None)
    target = " ".join(xy(i, p.target) for i, p in enumerate(points) if p.target is not None)
    last = next(((i, p.actual) for i, p in reversed(list(enumerate(points))) if p.actual is not None), None)
    dot = ""
    if last:
        cx, cy = xy(*last).split(",")
        dot = f'<circle class="kpi-spark-dot" cx="{cx}" cy="{cy}" r="2"/>'
    # Built as a string (format_html would escape the numbers it formatted itself, fifty times a page).
    return mark_safe(  # noqa: S308 (numbers formatted here and the escaped label only)
        f'<svg class="kpi-spark" viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" width="{SPARK_WIDTH}" '
        f'height="{SPARK_HEIGHT}" role="img" aria-label="{escape(label)}">'
        f'<polyline class="kpi-spark-target" points="{target}"/>'
        f'<polyline class="kpi-spark-actual" points="{actual}"/>{dot}</svg>'
    )


DURATIONS = {"minutes": "min", "seconds": "s", "hours": "h", "days": "days", "months": "months"}


def format_value(value: float | None, unit: str, currency: str) -> str:
    """A node's number as the pages show it (the CSV and the API give it unformatted).

    Plain string formatting, not the floatformat filter: the tree formats a hundred numbers a view."""
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "count":
        return f"{round(value):,}"
    if unit in ("currency", "currency_per_day"):
        return f"{value:,.2f} {currency}"
    if unit == "ratio":
        return f"{value:.2f} to 1"
    if unit in DURATIONS:
        return f"{value:.1f} {DURATIONS[unit]}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


@dataclass
class Row:
    """One node of the tree page, everything it shows worked out here: the page renders 50 of them
    in one flat loop (nested <details> are opened and closed by depth), not a template per node."""

    state: services.NodeState
    url: str
    actual: str
    target: str
    spark: str
    has_children: bool
    closes: range  # how many enclosing nodes end after this one


def tree_rows(tree: services.Tree, org) -> list[Row]:
    rows = []
    for index, state in enumerate(tree.nodes):
        following = tree.nodes[index + 1].depth if index + 1 < len(tree.nodes) else 0
        node = state.node
        rows.append(
            Row(
                state=state,
                url=reverse("strategy_kpi_node", args=[org.slug, node.pk]),
                actual=format_value(state.actual, state.unit, org.currency),
                target=format_value(state.target, state.unit, org.currency),
                spark=sparkline(state.series, f"{node.name}: last {len(state.series)} periods"),
                has_children=bool(state.children),
                closes=range(max(0, state.depth - following)),
            )
        )
    return rows


# --- Forms ---------------------------------------------------------------------------------------


def _metric_choices():
    groups: dict[str, list] = {}
    for metric in METRICS:
        groups.setdefault(metric.group or "Other", []).append((metric.key, metric.name))
    return [("", "None: values entered by hand"), *groups.items()]


def _descendants(org, node: KpiNode) -> set[int]:
    children: dict[int | None, list[int]] = {}
    for pk, parent in KpiNode.objects.for_org(org).values_list("pk", "parent_id"):
        children.setdefault(parent, []).append(pk)
    found, todo = set(), [node.pk]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def parse_params(text: str) -> dict:
    """`name=value` lines (or `;`-separated) into a dict; a line without `=` is a ServiceError."""
    params = {}
    for item in text.replace(";", "\n").splitlines():
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ServiceError(f"“{item.strip()}” is not name=value.", field="metric_params")
        params[name.strip()] = value.strip()
    return params


class NodeForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    description = forms.CharField(label="Description", max_length=300, required=False)
    parent = forms.TypedChoiceField(label="Parent", coerce=int, empty_value=None, required=False)
    metric = forms.ChoiceField(
        label="Metric",
        required=False,
        help_text="The catalogue metric this node reads, or none to enter its values by hand.",
    )
    metric_params = forms.CharField(
        label="Metric parameters",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One name=value per line, for metrics that take parameters (e.g. from_stage=mql).",
    )
    combine = forms.ChoiceField(label="How its children drive it", choices=KpiCombine.choices)
    kind = forms.ChoiceField(label="Kind", choices=KpiKind.choices)
    direction = forms.ChoiceField(
        label="Direction",
        required=False,
        choices=[("", "The metric's own direction"), *KpiDirection.choices],
    )
    grain = forms.ChoiceField(label="Target period", choices=KpiGrain.choices)
    owner = forms.ModelChoiceField(
        label="Owner", queryset=Membership.objects.none(), required=False, empty_label="No owner yet"
    )

    def __init__(self, *args, org, node=None, **kwargs):
        super().__init__(*args, **kwargs)
        excluded = _descendants(org, node) if node else set()
        nodes = KpiNode.objects.for_org(org).exclude(pk__in=excluded).order_by("name")
        self.fields["parent"].choices = [("", "None (a root of the tree)"), *nodes.values_list("pk", "name")]
        self.fields["metric"].choices = _metric_choices()
        owners = Membership.objects.for_org(org).filter(is_active=True).select_related("user")
        self.fields["owner"].queryset = owners.order_by("user__full_name", "user__email")
        self.fields["owner"].label_from_instance = lambda m: m.user.display_name

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data["metric_params"] = parse_params(data["metric_params"])
        if not data["direction"]:
            data.pop("direction")
        return data


class PeriodValueForm(forms.Form):
    period_start = forms.ChoiceField(label="Period")
    value = forms.DecimalField(label="Value", max_digits=18, decimal_places=4, required=False)

    def __init__(self, *args, org, node, today, **kwargs):
        super().__init__(*args, **kwargs)
        periods = recent_periods(org, node.grain, today)
        ahead, day = [], periods[-1][1]
        for _ in range(FUTURE_PERIODS):
            ahead.append(period_of(org, node.grain, day + datetime.timedelta(days=1)))
            day = ahead[-1][1]
        self.fields["period_start"].choices = [
            (start.isoformat(), period_label(node.grain, start, org)) for start, _ in [*periods, *ahead]
        ]
        self.fields["period_start"].initial = periods[-1][0].isoformat()


# --- Pages ---------------------------------------------------------------------------------------


@org_view()
def kpi_tree_page(request):
    org = request.org
    can_edit = request.membership.can(EDIT)
    # Recomputing every metric is the slow path; editors may ask for it after changing data.
    tree = services.kpi_tree(org=org, fresh=can_edit and request.GET.get("fresh") == "1")
    return render(
        request,
        "strategy/kpi_tree.html",
        {
            "tree": tree,
            "rows": tree_rows(tree, org),
            "counts": [(s, label, tree.counts()[s]) for s, label in KpiStatus.choices],
            "unowned": sum(1 for state in tree.nodes if not state.owner_name),
            "can_edit": can_edit,
            "new_url": reverse("strategy_kpi_node_new", args=[org.slug]),
        },
    )


def _csv_rows(tree: services.Tree):
    for state in tree.nodes:
        row = state.as_dict()
        yield (
            row["path"], row["name"], row["metric"] or "(entered by hand)", row["kind"], row["grain"],
            row["period_start"], row["status"], row["actual"], row["target"], row["expected"],
            row["pace_percent"], row["trend"] or "", row["owner_name"] or "(no owner)",
        )  # fmt: skip


@org_view()
def kpi_tree_export(request):
    tree = services.kpi_tree(org=request.org)
    return csv_response(f"kpi-tree-{request.org.slug}-{tree.today}.csv", CSV_HEADER, _csv_rows(tree))


def _node(request, pk) -> KpiNode:
    return get_for_org(KpiNode.objects.select_related("owner__user", "parent"), org=request.org, pk=pk)


@org_view()
def kpi_node_detail(request, pk):
    org = request.org
    node = _node(request, pk)
    today = local_today(org)
    state = services.kpi_node_state(org=org, node=node, today=today)

    def shown(value):
        return format_value(None if value is None else float(value), state.unit, org.currency)

    can_edit = request.membership.can(EDIT)
    form = PeriodValueForm(org=org, node=node, today=today) if can_edit else None
    return render(
        request,
        "strategy/kpi_node.html",
        {
            "node": node,
            "state": state,
            "numbers": {
                "actual": shown(state.actual),
                "target": shown(state.target),
                "expected": shown(state.expected) if state.expected != state.target else "",
                "elapsed": f"{state.elapsed_share * 100:.0f} %",
            },
            "spark": sparkline(state.series, f"{node.name}: last {len(state.series)} periods"),
            "metric": BY_KEY.get(node.metric),
            "rows": [
                (period_label(node.grain, p.start, org), shown(p.actual), shown(p.target))
                for p in reversed(state.series)
            ],
            "targets": [
                (period_label(node.grain, t.period_start, org), shown(t.value))
                for t in node.targets.order_by("-period_start")[:24]
            ],
            "values": [
                (period_label(node.grain, v.period_start, org), shown(v.value))
                for v in node.values.order_by("-period_start")[:24]
            ],
            "children": KpiNode.objects.for_org(org).filter(parent=node).order_by("position", "pk"),
            "can_edit": can_edit,
            "target_form": form,
            "value_form": PeriodValueForm(org=org, node=node, today=today)
            if can_edit and not node.metric
            else None,
        },
    )


def _form_page(request, form, node=None, status=200):
    return render(request, "strategy/kpi_node_form.html", {"form": form, "node": node}, status=status)


@org_view(EDIT)
def kpi_node_new(request):
    org = request.org
    parent = request.GET.get("parent")
    form = NodeForm(request.POST or None, org=org, initial={"parent": parent, "kind": KpiKind.LEADING})
    if request.method == "POST":
        if form.is_valid():
            try:
                node = services.kpi_node_create(org=org, **form.values())
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Node “{node.name}” added to the tree.")
                return redirect("strategy_kpi_node", org_slug=org.slug, pk=node.pk)
        return _form_page(request, form, status=400)
    return _form_page(request, form)


def _initial(node: KpiNode) -> dict:
    values = services.node_values(node)
    values["parent"] = node.parent_id
    values["metric_params"] = "\n".join(f"{k}={v}" for k, v in node.metric_params.items())
    return values


@org_view(EDIT)
def kpi_node_edit(request, pk):
    org = request.org
    node = _node(request, pk)
    form = NodeForm(request.POST or None, org=org, node=node, initial=_initial(node))
    if request.method == "POST":
        if form.is_valid():
            try:
                services.kpi_node_update(org=org, node=node, **form.values())
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Node “{node.name}” saved.")
                return redirect("strategy_kpi_node", org_slug=org.slug, pk=node.pk)
        node.refresh_from_db()
        return _form_page(request, form, node, status=400)
    return _form_page(request, form, node)


@org_view(EDIT)
def kpi_node_delete(request, pk):
    org = request.org
    node = _node(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.kpi_node_delete(org=org, node=node)
    except ServiceError as exc:  # e.g. the tree is under change control
        messages.error(request, exc.message)
        return redirect("strategy_kpi_node", org_slug=org.slug, pk=node.pk)
    messages.success(request, f"Node “{node.name}” deleted; its children moved up to its parent.")
    return redirect("strategy_kpi_tree", org_slug=org.slug)


def _period_post(request, pk, *, what: str):
    """Set (or, with an empty value, remove) a target, or enter a value, for one period."""
    org = request.org
    node = _node(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = PeriodValueForm(request.POST, org=org, node=node, today=local_today(org))
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label}: {' '.join(errors)}")
        return redirect("strategy_kpi_node", org_slug=org.slug, pk=node.pk)
    day, value = form.cleaned_data["period_start"], form.cleaned_data["value"]
    label = period_label(node.grain, datetime.date.fromisoformat(day), org)
    try:
        if what == "target" and value is None:
            services.kpi_target_delete(org=org, node=node, period_start=day)
            messages.success(request, f"Target for {label} removed.")
        elif what == "target":
            services.kpi_target_set(org=org, node=node, period_start=day, value=value)
            messages.success(request, f"Target for {label} set.")
        else:
            services.kpi_value_set(org=org, node=node, period_start=day, value=value)
            messages.success(request, f"Value for {label} saved.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("strategy_kpi_node", org_slug=org.slug, pk=node.pk)


@org_view(EDIT)
def kpi_node_target(request, pk):
    return _period_post(request, pk, what="target")


@org_view(EDIT)
def kpi_node_value(request, pk):
    return _period_post(request, pk, what="value")


urlpatterns = [
    path("kpi/", kpi_tree_page, name="strategy_kpi_tree"),
    path("kpi/export.csv", kpi_tree_export, name="strategy_kpi_export"),
    path("kpi/new/", kpi_node_new, name="strategy_kpi_node_new"),
    path("kpi/<int:pk>/", kpi_node_detail, name="strategy_kpi_node"),
    path("kpi/<int:pk>/edit/", kpi_node_edit, name="strategy_kpi_node_edit"),
    path("kpi/<int:pk>/delete/", kpi_node_delete, name="strategy_kpi_node_delete"),
    path("kpi/<int:pk>/target/", kpi_node_target, name="strategy_kpi_node_target"),
    path("kpi/<int:pk>/value/", kpi_node_value, name="strategy_kpi_node_value"),
]
