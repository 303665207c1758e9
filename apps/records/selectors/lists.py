"""List pages: columns, list specs, sorting, capped counts and pages, cells, saved views.

The lists must stay fast on a million rows, so nothing here counts a whole
table: `capped_count` stops at COUNT_CAP + 1 rows, and pages never reach past
the cap (narrowing the filters is the way to see further).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from math import ceil
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from apps.accounts.models import Membership, Team

from ..filters import AccountFilter, LeadFilter, OpportunityFilter
from ..models import (
    Account,
    CustomField,
    Lead,
    ObjectType,
    Opportunity,
    SavedView,
)

# Above this many matching rows a list says "10,000+" instead of counting them all.
COUNT_CAP = 10_000
PAGE_SIZE = 50


# --- Columns -------------------------------------------------------------------


def _owner_name(obj):
    return obj.owner.user.display_name if obj.owner_id else None


def _owner_email(obj):
    return obj.owner.user.email if obj.owner_id else None


@dataclass(frozen=True)
class Column:
    """One column a list can show, sort by and export.

    `sort` is the ORM ordering (a tuple of fields; empty: not sortable); `indexed`
    says an index serves it, so it stays fast on any number of rows. `value`
    gives what the page shows, `export` what the CSV holds (defaults to `value`),
    `link` the (url name, pk) the cell points to, if any.
    """

    key: str
    label: str
    value: Callable[[Any], Any]
    sort: tuple[str, ...] = ()
    kind: str = "text"  # text, datetime, date, number, money, percent
    indexed: bool = False
    export: Callable[[Any], Any] | None = None
    link: Callable[[Any], tuple[str, int] | None] | None = None

    def export_value(self, obj):
        return (self.export or self.value)(obj)


def _attr(name):
    return lambda obj: getattr(obj, name)


def _text(key, label, **kwargs):
    return Column(key, label, _attr(key), sort=(key,), **kwargs)


def _custom_column(definition: CustomField) -> Column:
    kind = {"number": "number", "date": "text"}.get(definition.type, "text")
    key = definition.key
    return Column(
        f"custom.{key}",
        definition.label,
        lambda obj: (obj.custom or {}).get(key),
        # Keys made by definitions.custom_field_create are identifiers; anything else is not sortable.
        sort=(f"custom__{key}",) if key.isidentifier() else (),
        kind=kind,
    )


LEAD_COLUMNS = [
    Column(
        "name", "Name", lambda lead: str(lead), sort=("last_name", "first_name"),
        export=lambda lead: lead.full_name, link=lambda lead: ("records_lead", lead.pk),
    ),
    _text("email", "E-mail", indexed=True),  # lead_org_email_idx
    _text("company", "Company"),
    _text("title", "Title"),
    Column("stage", "Stage", lambda lead: lead.stage.name, sort=("stage__order",),
           export=lambda lead: lead.stage.key),
    Column("owner", "Owner", _owner_name, sort=("owner__user__email",), export=_owner_email),
    Column(
        "account", "Account", lambda lead: lead.account.name if lead.account_id else None,
        sort=("account__name",),
        link=lambda lead: ("records_account", lead.account_id) if lead.account_id else None,
    ),
    _text("source", "Source"),
    _text("channel", "Channel"),
    _text("utm_campaign", "UTM campaign"),
    _text("country", "Country"),
    _text("phone", "Phone"),
    _text("score", "Score", kind="number"),
    _text("completeness", "Completeness", kind="percent"),
    _text("captured_at", "Captured", kind="datetime", indexed=True),  # lead_org_captured_idx
    _text("updated_at", "Updated", kind="datetime"),
]  # fmt: skip

ACCOUNT_COLUMNS = [
    Column("name", "Name", _attr("name"), sort=("name",), link=lambda a: ("records_account", a.pk)),
    _text("domain", "Domain", indexed=True),  # account_org_domain_idx
    _text("industry", "Industry"),
    _text("employees", "Employees", kind="number"),
    _text("annual_revenue", "Annual revenue", kind="money"),
    _text("country", "Country"),
    _text("region", "Region"),
    Column("owner", "Owner", _owner_name, sort=("owner__user__email",), export=_owner_email),
    _text("completeness", "Completeness", kind="percent"),
    _text("external_id", "External id"),
    _text("created_at", "Created", kind="datetime", indexed=True),  # account_org_created_idx
]

OPPORTUNITY_COLUMNS = [
    Column("name", "Name", _attr("name"), sort=("name",), link=lambda o: ("records_opportunity", o.pk)),
    Column(
        "account", "Account", lambda o: o.account.name if o.account_id else None, sort=("account__name",),
        link=lambda o: ("records_account", o.account_id) if o.account_id else None,
    ),
    _text("amount", "Amount", kind="money"),
    Column("status", "Status", lambda o: o.get_status_display(), sort=("status",), export=_attr("status")),
    Column("type", "Type", lambda o: o.get_type_display(), sort=("type",), export=_attr("type")),
    _text("stage", "Sales stage"),
    _text("source", "Source"),
    _text("created_date", "Created", kind="date"),
    _text("close_date", "Close date", kind="date"),
    Column("owner", "Owner", _owner_name, sort=("owner__user__email",), export=_owner_email),
]  # fmt: skip


@dataclass(frozen=True)
class ListSpec:
    """What one list page is made of."""

    object_type: str
    model: type
    filterset: type
    columns: list[Column]
    default_columns: tuple[str, ...]
    default_sort: str
    select_related: tuple[str, ...]
    # Filters shown in the filter bar; the others still work from the address (drill-downs, the API).
    ui_filters: tuple[str, ...]
    noun: str
    plural: str
    url_name: str

    def base_queryset(self, org):
        queryset = self.model.objects.for_org(org).select_related(*self.select_related)
        if self.model is Lead:
            queryset = queryset.filter(merged_into__isnull=True)  # merged leads live on in their survivor
        return queryset


# Filters shown in each filter bar, in order.
LEAD_UI_FILTERS = (
    "q", "stage", "owner", "unowned", "channel", "source", "country", "utm_campaign", "score_min",
    "completeness_below", "captured_from", "captured_to",
)  # fmt: skip
ACCOUNT_UI_FILTERS = (
    "q", "industry", "country", "region", "owner", "unowned", "employees_min", "employees_max",
)  # fmt: skip
OPPORTUNITY_UI_FILTERS = (
    "q", "status", "type", "stage", "owner", "unowned", "source", "amount_min", "close_after", "close_before",
)  # fmt: skip

LIST_SPECS = {
    ObjectType.LEAD: ListSpec(
        object_type=ObjectType.LEAD,
        model=Lead,
        filterset=LeadFilter,
        columns=LEAD_COLUMNS,
        default_columns=("name", "email", "company", "stage", "owner", "source", "captured_at"),
        default_sort="-captured_at",
        select_related=("stage", "owner__user", "account"),
        ui_filters=LEAD_UI_FILTERS,
        noun="lead",
        plural="leads",
        url_name="records_leads",
    ),
    ObjectType.ACCOUNT: ListSpec(
        object_type=ObjectType.ACCOUNT,
        model=Account,
        filterset=AccountFilter,
        columns=ACCOUNT_COLUMNS,
        default_columns=("name", "domain", "industry", "employees", "country", "owner", "created_at"),
        default_sort="-created_at",
        select_related=("owner__user",),
        ui_filters=ACCOUNT_UI_FILTERS,
        noun="account",
        plural="accounts",
        url_name="records_accounts",
    ),
    ObjectType.OPPORTUNITY: ListSpec(
        object_type=ObjectType.OPPORTUNITY,
        model=Opportunity,
        filterset=OpportunityFilter,
        columns=OPPORTUNITY_COLUMNS,
        default_columns=("name", "account", "amount", "status", "stage", "close_date", "owner"),
        default_sort="-created_at",
        select_related=("account", "owner__user"),
        ui_filters=OPPORTUNITY_UI_FILTERS,
        noun="opportunity",
        plural="opportunities",
        url_name="records_opportunities",
    ),
}


def custom_fields_for(*, org, object_type: str) -> list[CustomField]:
    return list(CustomField.objects.for_org(org).filter(object_type=object_type).order_by("label"))


def available_columns(spec: ListSpec, custom_fields) -> dict[str, Column]:
    columns = {column.key: column for column in spec.columns}
    columns.update((f"custom.{d.key}", _custom_column(d)) for d in custom_fields)
    return columns


def sort_options(spec: ListSpec, columns: dict[str, Column]) -> set[str]:
    """The whitelist of ?sort=: sortable column keys and the default, each optionally prefixed with "-"."""
    keys = {key for key, column in columns.items() if column.sort} | {spec.default_sort.removeprefix("-")}
    return keys | {f"-{key}" for key in keys}


def affordable_sort(spec: ListSpec, columns: dict[str, Column], sort: str, *, capped: bool) -> str:
    """`sort`, or the default when it would sort more than COUNT_CAP rows without an index.

    An unindexed ORDER BY … LIMIT 50 is a top-N sort of every matching row: about
    1.5 s at a million leads, a few milliseconds at ten thousand. So such sorts
    are offered once the filters bring the list under the count cap.
    """
    key = sort.removeprefix("-")
    if not capped or key == spec.default_sort.removeprefix("-"):
        return sort
    column = columns.get(key)
    return sort if column is not None and column.indexed else spec.default_sort


def ordering(sort: str, columns: dict[str, Column]) -> list[str]:
    """The ORM ordering for a whitelisted `sort`, with the id as tie-breaker so pages are stable."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    fields = columns[key].sort if key in columns and columns[key].sort else (key,)
    prefix = "-" if descending else ""
    return [f"{prefix}{name}" for name in fields] + [f"{prefix}id"]


def records_list(*, org, spec: ListSpec, filters: dict, sort: str, columns: dict[str, Column], request=None):
    """(filterset, queryset) for a list page or its export. Invalid filters give no rows, not everything."""
    filterset = spec.filterset(data=filters, queryset=spec.base_queryset(org), request=request)
    if not filterset.is_valid():
        return filterset, spec.base_queryset(org).none()
    return filterset, filterset.qs.order_by(*ordering(sort, columns))


def capped_count(queryset, *, cap: int | None = None) -> tuple[int, bool]:
    """(count, capped): counts at most cap + 1 rows (SELECT COUNT(*) FROM (… LIMIT cap + 1)).

    `capped` is True when there are more than `cap` rows; the count is then `cap`.
    """
    cap = COUNT_CAP if cap is None else cap
    found = queryset.order_by().values("pk")[: cap + 1].count()
    return (cap, True) if found > cap else (found, False)


def count_display(count: int, capped: bool) -> str:
    return f"{count:,}+" if capped else f"{count:,}"


@dataclass
class ListPage:
    """A page of a list whose total may be capped: it never offsets past the cap."""

    object_list: list
    number: int
    num_pages: int
    count: int
    capped: bool
    page_size: int = PAGE_SIZE

    @property
    def has_previous(self):
        return self.number > 1

    @property
    def has_next(self):
        return self.number < self.num_pages

    @property
    def previous_page_number(self):
        return self.number - 1

    @property
    def next_page_number(self):
        return self.number + 1

    @property
    def start_index(self):
        return (self.number - 1) * self.page_size + 1 if self.object_list else 0

    @property
    def end_index(self):
        return (self.number - 1) * self.page_size + len(self.object_list)

    @property
    def count_display(self):
        return count_display(self.count, self.capped)


def list_page(queryset, *, page, page_size: int | None = None, counted=None) -> ListPage:
    """One page of `queryset`; `counted` is its (count, capped) when the caller already has it."""
    page_size = page_size or PAGE_SIZE
    count, capped = counted or capped_count(queryset)
    num_pages = max(1, ceil(count / page_size))
    try:
        number = min(max(1, int(page)), num_pages)
    except (TypeError, ValueError):
        number = 1
    offset = (number - 1) * page_size
    rows = list(queryset[offset : offset + page_size]) if count else []
    return ListPage(rows, number, num_pages, count, capped, page_size)


def display_value(value, kind: str, tz) -> str:
    """A cell's text on the page (the CSV keeps raw values): local times, thousands, percentages."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if kind == "percent" and isinstance(value, (int, float)):
        return f"{value * 100:.0f}%"
    if kind == "money" and isinstance(value, (int, float, Decimal)):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.10g}" if kind == "number" else f"{value:g}"
    return str(value)


@dataclass
class Cell:
    text: str
    link: tuple[str, int] | None
    kind: str


def table_rows(objects, columns: list[Column], *, tz) -> list[tuple[Any, list[Cell]]]:
    return [
        (
            obj,
            [
                Cell(
                    display_value(column.value(obj), column.kind, tz),
                    column.link(obj) if column.link else None,
                    column.kind,
                )
                for column in columns
            ],
        )
        for obj in objects
    ]


def leads_captured_per_week(*, org, queryset, weeks: int = 12) -> dict:
    """Leads of `queryset` captured per week (weeks start on Monday, organisation time zone).

    Returns {"weeks": [date, ...], "counts": [n, ...]}, every week present.
    """
    tz = ZoneInfo(org.time_zone)
    today = timezone.now().astimezone(tz).date()
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    rows = (
        queryset.order_by()
        .filter(captured_at__gte=start)
        .annotate(week=TruncWeek("captured_at", tzinfo=tz))
        .values("week")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(range(weeks), 0)
    for row in rows:
        index = (row["week"].date() - first).days // 7 if isinstance(row["week"], datetime) else None
        if index is not None and 0 <= index < weeks:
            counts[index] += row["n"]
    return {
        "weeks": [first + timedelta(weeks=i) for i in range(weeks)],
        "counts": [counts[i] for i in range(weeks)],
    }


# --- Saved views -------------------------------------------------------------------


def saved_views_visible(*, org, membership, object_type: str):
    """The views a member may use: their own, their teams', and the organisation's."""
    my_teams = membership.team_memberships.values("team_id")
    return (
        SavedView.objects.for_org(org)
        .filter(object_type=object_type)
        .filter(
            Q(owner=membership)
            | Q(visibility=SavedView.Visibility.ORGANIZATION)
            | Q(visibility=SavedView.Visibility.TEAM, team__in=my_teams)
        )
        .select_related("team")
        .order_by("name", "id")
    )


def teams_of(*, org, membership):
    return Team.objects.for_org(org).filter(memberships__membership=membership).order_by("name")


def members_for_choices(*, org):
    return (
        Membership.objects.for_org(org)
        .filter(is_active=True)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )
