"""List pages of leads, accounts and opportunities, their CSV export and bulk actions.

Lists read their state (filters, columns, sort) from the address, on top of
the saved view named by ?view=; the same state drives the page, the CSV
export and "select all matching" bulk actions, so all three see the same rows.
"""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.accounts.access import org_view, require_permission
from apps.accounts.models import Membership
from apps.audit.services import export_recorded
from apps.core.charts import bar_chart
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.lookups import get_for_org

from .. import selectors, services
from ..forms import (
    NOBODY,
    BulkActionForm,
    SavedViewForm,
    prepare_filter_form,
)
from ..models import (
    ObjectType,
    Origin,
    SavedView,
)
from ..selectors import LIST_SPECS

# "Select all matching" runs the services row by row inside the request; past
# this many rows, narrowing the filters is kinder than a request that times out.
BULK_MAX = 2_000
BULK_PERMISSIONS = {"owner": "leads.reassign", "stage": "leads.work"}


# --- List state ---------------------------------------------------------------------------


@dataclass
class ListState:
    view: SavedView | None
    filters: dict[str, str]
    columns: list[str]
    sort: str


def _list_state(params: QueryDict, spec, views, columns) -> ListState:
    """Filters, columns and sort from the address, each falling back to the saved view, then the default.

    A filter named in the address wins even when empty, so clearing a saved
    view's filter in the filter bar works.
    """
    by_id = {str(v.pk): v for v in views}
    view = by_id.get(params.get("view", ""))
    base = view.filters if view else {}
    filters = {}
    for name in spec.filterset.base_filters:
        value = params.get(name) if name in params else base.get(name)
        if value not in (None, ""):
            filters[name] = str(value)
    if "columns" in params:
        chosen = params.getlist("columns")
    else:
        chosen = (view.columns if view else None) or list(spec.default_columns)
    chosen = [key for key in dict.fromkeys(chosen) if key in columns] or [
        key for key in spec.default_columns if key in columns
    ]
    sort = params.get("sort") if "sort" in params else (view.sort if view else "")
    if sort not in selectors.sort_options(spec, columns):
        sort = spec.default_sort
    return ListState(view, filters, chosen, sort)


@dataclass
class ListContext:
    spec: selectors.ListSpec
    columns: dict
    views: list
    state: ListState
    filterset: object
    queryset: object


def _list_context(request, object_type: str, params: QueryDict) -> ListContext:
    spec = LIST_SPECS[object_type]
    custom = selectors.custom_fields_for(org=request.org, object_type=object_type)
    columns = selectors.available_columns(spec, custom)
    views = list(
        selectors.saved_views_visible(org=request.org, membership=request.membership, object_type=object_type)
    )
    state = _list_state(params, spec, views, columns)
    filterset, queryset = selectors.records_list(
        org=request.org, spec=spec, filters=state.filters, sort=state.sort, columns=columns, request=request
    )
    return ListContext(spec, columns, views, state, filterset, queryset)


def _headers(ctx: ListContext) -> list[dict]:
    options = selectors.sort_options(ctx.spec, ctx.columns)
    current = ctx.state.sort.removeprefix("-")
    descending = ctx.state.sort.startswith("-")
    headers = []
    for key in ctx.state.columns:
        column = ctx.columns[key]
        active = key == current
        headers.append(
            {
                "key": key,
                "label": column.label,
                "sort": (f"-{key}" if active and not descending else key) if key in options else None,
                "direction": ("descending" if descending else "ascending") if active else None,
            }
        )
    return headers


def _records_list(request, object_type: str):
    ctx = _list_context(request, object_type, request.GET)
    org, spec = request.org, ctx.spec
    tz = ZoneInfo(org.time_zone)
    stages = selectors.stage_list(org=org) if object_type == ObjectType.LEAD else []
    members = list(selectors.members_for_choices(org=org))
    prepare_filter_form(ctx.filterset.form, object_type=object_type, stages=stages, members=members)
    counted = selectors.capped_count(ctx.queryset)
    sort = selectors.affordable_sort(spec, ctx.columns, ctx.state.sort, capped=counted[1])
    requested_sort = ctx.state.sort  # kept in the filter bar, so narrowing the filters applies it
    sort_refused = ctx.columns[requested_sort.removeprefix("-")].label if sort != requested_sort else None
    ctx.state.sort = sort
    queryset = ctx.queryset.order_by(*selectors.ordering(sort, ctx.columns))
    page = selectors.list_page(queryset, page=request.GET.get("page"), counted=counted)
    perms = request.membership.permissions
    can_bulk = any(p in perms for p in BULK_PERMISSIONS.values())
    chart = None
    if object_type == ObjectType.LEAD and page.count:
        weekly = selectors.leads_captured_per_week(org=org, queryset=ctx.queryset)
        if any(weekly["counts"]):
            chart = bar_chart(
                title="Leads captured per week (this list's filters)",
                x=[week.isoformat() for week in weekly["weeks"]],
                series={"Leads": weekly["counts"]},
            )
    form = ctx.filterset.form
    # Fresh bound fields: the ones cached while validating predate the friendlier labels.
    ui_fields = [form.fields[name].get_bound_field(form, name) for name in spec.ui_filters]
    hidden_filters = {k: v for k, v in ctx.state.filters.items() if k not in spec.ui_filters}
    return render(
        request,
        "records/list.html",
        {
            "spec": spec,
            "title": spec.plural.capitalize(),
            "filter_form": ctx.filterset.form,
            "filter_fields": ui_fields,
            "hidden_filters": hidden_filters,
            "state": ctx.state,
            "views": ctx.views,
            "all_columns": list(ctx.columns.values()),
            "headers": _headers(ctx),
            "rows": selectors.table_rows(
                page.object_list, [ctx.columns[k] for k in ctx.state.columns], tz=tz
            ),
            "page": page,
            "sort_refused": sort_refused,
            "requested_sort": requested_sort,
            "count_cap": f"{selectors.lists.COUNT_CAP:,}",
            "chart": chart,
            "can_export": "data.export" in perms,
            "can_bulk": can_bulk,
            "bulk_form": BulkActionForm(object_type=object_type, members=members, stages=stages)
            if can_bulk
            else None,
            "save_form": SavedViewForm(teams=selectors.teams_of(org=org, membership=request.membership)),
            "query": request.GET.urlencode(),
            "export_url": reverse(f"{spec.url_name}_export", args=[org.slug]),
            "bulk_url": reverse(f"{spec.url_name}_bulk", args=[org.slug]),
        },
    )


@org_view()
def records_leads(request):
    return _records_list(request, ObjectType.LEAD)


@org_view()
def records_accounts(request):
    return _records_list(request, ObjectType.ACCOUNT)


@org_view()
def records_opportunities(request):
    return _records_list(request, ObjectType.OPPORTUNITY)


# --- CSV export ---------------------------------------------------------------------------


def _export(request, object_type: str):
    ctx = _list_context(request, object_type, request.GET)
    columns = [ctx.columns[key] for key in ctx.state.columns]
    export_recorded(
        request,
        what=f"{object_type} list",
        rows=ctx.queryset.count(),  # the export reads every row anyway; the log says how many
        filters=ctx.state.filters,
    )
    lines = (
        [obj.pk, *(column.export_value(obj) for column in columns)]
        for obj in ctx.queryset.iterator(chunk_size=2000)
    )
    return csv_response(
        f"{ctx.spec.url_name.removeprefix('records_')}-{request.org.slug}.csv",
        ["id", *(column.label for column in columns)],
        lines,
    )


@org_view("data.export")
def records_leads_export(request):
    return _export(request, ObjectType.LEAD)


@org_view("data.export")
def records_accounts_export(request):
    return _export(request, ObjectType.ACCOUNT)


@org_view("data.export")
def records_opportunities_export(request):
    return _export(request, ObjectType.OPPORTUNITY)


# --- Bulk actions ---------------------------------------------------------------------------


def _member(org, value):
    if value == NOBODY:
        return None
    return get_for_org(Membership.objects.all(), org=org, pk=value)


def _apply_one(request, object_type: str, obj, data) -> None:
    """One record through its service: owner changes by *_update, stage changes by lead_change_stage."""
    org = request.org
    if data["action"] == "stage":
        services.lead_change_stage(
            org=org, lead=obj, to=data["stage"], actor=request.user, origin=Origin.UI, reason=data["reason"]
        )
    elif object_type == ObjectType.LEAD:
        services.lead_update(org=org, lead=obj, owner=data["owner_obj"], actor=request.user, origin=Origin.UI)
    elif object_type == ObjectType.ACCOUNT:
        services.account_update(org=org, account=obj, owner=data["owner_obj"])
    else:
        services.opportunity_update(org=org, opportunity=obj, owner=data["owner_obj"])


def _bulk(request, object_type: str):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    org, spec = request.org, LIST_SPECS[object_type]
    permission = BULK_PERMISSIONS.get(request.POST.get("action", ""))
    if permission is None:
        raise Http404("No such action.")
    require_permission(request, permission)  # before anything is read: a viewer gets 403 whatever they send
    members = selectors.members_for_choices(org=org)
    stages = selectors.stage_list(org=org) if object_type == ObjectType.LEAD else []
    form = BulkActionForm(request.POST, object_type=object_type, members=members, stages=stages)
    query = request.POST.get("query", "")
    back = reverse(spec.url_name, args=[org.slug]) + (f"?{query}" if query else "")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    data = dict(form.cleaned_data)
    if data["action"] == "owner":
        data["owner_obj"] = _member(org, data["owner"])
    if data["all_matching"]:
        queryset = _list_context(request, object_type, QueryDict(query)).queryset
    else:
        queryset = spec.base_queryset(org).filter(pk__in=data["ids"]).order_by("pk")
    _, capped = selectors.capped_count(queryset, cap=BULK_MAX)
    if capped:
        messages.error(
            request,
            f"That is more than {BULK_MAX:,} {spec.noun} records; narrow the filters and run it in parts.",
        )
        return redirect(back)
    done, skipped = 0, []
    with transaction.atomic():
        for obj in queryset.iterator(chunk_size=500):
            try:
                with transaction.atomic():  # one savepoint per record: a refusal spoils nothing else
                    _apply_one(request, object_type, obj, data)
            except ServiceError as exc:
                skipped.append(f"{obj}: {exc.message}")
            else:
                done += 1
    noun = spec.noun if done == 1 else spec.plural
    messages.success(request, f"{BulkActionForm.ACTIONS[data['action']]}: {done:,} {noun} updated.")
    if skipped:
        shown = "; ".join(skipped[:5]) + (f" … and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        messages.warning(request, f"{len(skipped):,} skipped: {shown}")
    return redirect(back)


@org_view()
def records_leads_bulk(request):
    return _bulk(request, ObjectType.LEAD)


@org_view()
def records_accounts_bulk(request):
    return _bulk(request, ObjectType.ACCOUNT)


@org_view()
def records_opportunities_bulk(request):
    return _bulk(request, ObjectType.OPPORTUNITY)
