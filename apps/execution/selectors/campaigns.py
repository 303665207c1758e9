"""Reads for the campaign pages and API: filtered lists, launch measures, the calendar and results.

Launch measures (over the campaigns a list shows):
- cycle time: for each campaign that went live, the days from its request to
  going live, counted as calendar days in the organisation's time zone
  (requested Monday, live Thursday = 3 days); the list shows their mean and median.
- on-time launch rate: of the campaigns that went live and had a due date, the
  share whose live day (organisation time) is on or before the due date.

Results read the daily facts (apps.measurement.store), never raw events, for
the campaign's `utm_campaign` value, which is how the rollups name a lead's
campaign: touches, leads created, attributed pipeline and revenue (one
attribution model), cost from spend entries whose campaign_ref is the value,
ROI and the reject rate of the assignments of its leads. The page and the API
call `campaign_results` with the same arguments; when a request names no model
(or an unknown one), both use the organisation's default (`default_model`, set
on the organisation settings page).
"""

import calendar as calendar_module
import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from apps.execution.models import Campaign, CampaignStatus
from apps.measurement import store
from apps.measurement.attribution.compute import ALL_MODELS, LABELS
from apps.measurement.metrics.engine import local_today

DEFAULT_MODEL = "linear"  # the catalogue's default for ROMI and campaign ROI


def default_model(org) -> str:
    """The model results use when none is asked for: the organisation's choice (settings), else linear."""
    return org.attribution_model if org.attribution_model in ALL_MODELS else DEFAULT_MODEL


def model_or_default(org, model: str | None) -> str:
    """`model` when it is one the measurement app computes, else the organisation's default."""
    return model if model in ALL_MODELS else default_model(org)


@dataclass(frozen=True)
class Filters:
    status: str = ""
    type: str = ""
    owner: int | None = None
    program: int | None = None
    q: str = ""


def campaigns_for(*, org, filters: Filters = Filters()):
    queryset = Campaign.objects.for_org(org).select_related(
        "owner__user", "ops_owner__user", "program", "segment", "offer"
    )
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.type:
        queryset = queryset.filter(type=filters.type)
    if filters.owner:
        queryset = queryset.filter(Q(owner_id=filters.owner) | Q(ops_owner_id=filters.owner))
    if filters.program:
        queryset = queryset.filter(program_id=filters.program)
    if filters.q:
        queryset = queryset.filter(Q(name__icontains=filters.q) | Q(utm_campaign__icontains=filters.q))
    return queryset.order_by("-created_at", "-id")


# Launch measures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchStats:
    launched: int  # campaigns that went live
    cycle_days: list[int]
    cycle_mean: float | None
    cycle_median: float | None
    with_due: int  # launched campaigns that had a due date
    on_time: int
    on_time_rate: float | None  # percent


def _local_day(moment, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def cycle_days(campaign: Campaign, tz: ZoneInfo) -> int | None:
    if not (campaign.live_at and campaign.requested_at):
        return None
    return (_local_day(campaign.live_at, tz) - _local_day(campaign.requested_at, tz)).days


def on_time(campaign: Campaign, tz: ZoneInfo) -> bool | None:
    """Whether it went live on or before its due date (None when not live yet or no due date)."""
    if not (campaign.live_at and campaign.due_date):
        return None
    return _local_day(campaign.live_at, tz) <= campaign.due_date


def launch_stats(*, org, queryset) -> LaunchStats:
    tz = ZoneInfo(org.time_zone)
    rows = queryset.filter(live_at__isnull=False).values_list("requested_at", "live_at", "due_date")
    days, due, timely = [], 0, 0
    for requested_at, live_at, due_date in rows:
        if requested_at:
            days.append((_local_day(live_at, tz) - _local_day(requested_at, tz)).days)
        if due_date:
            due += 1
            timely += _local_day(live_at, tz) <= due_date
    return LaunchStats(
        launched=len(rows),
        cycle_days=days,
        cycle_mean=round(statistics.fmean(days), 1) if days else None,
        cycle_median=float(statistics.median(days)) if days else None,
        with_due=due,
        on_time=timely,
        on_time_rate=round(100 * timely / due, 1) if due else None,
    )


# The calendar ------------------------------------------------------------------------------------


@dataclass
class Day:
    day: date
    in_month: bool
    items: list = field(default_factory=list)  # (campaign, "launched" | "planned")


def launch_day(campaign: Campaign, tz: ZoneInfo) -> tuple[date | None, str]:
    """When a campaign launches: the day it went live, else its planned start, else its due date."""
    if campaign.live_at:
        return _local_day(campaign.live_at, tz), "launched"
    return campaign.start_date or campaign.due_date, "planned"


def month_grid(*, org, year: int, month: int) -> list[list[Day]]:
    """Weeks (Monday first) covering the month, each day with the campaigns launching on it."""
    tz = ZoneInfo(org.time_zone)
    weeks = calendar_module.Calendar(firstweekday=0).monthdatescalendar(year, month)
    first, last = weeks[0][0], weeks[-1][-1]
    days = {d: Day(d, d.month == month) for week in weeks for d in week}
    around = Q(live_at__date__gte=first - timedelta(days=1), live_at__date__lte=last + timedelta(days=1))
    planned = Q(live_at__isnull=True) & (
        Q(start_date__gte=first, start_date__lte=last)
        | Q(start_date__isnull=True, due_date__gte=first, due_date__lte=last)
    )
    campaigns = (
        Campaign.objects.for_org(org)
        .exclude(status=CampaignStatus.CANCELLED)
        .filter(around | planned)
        .order_by("name")
    )
    for campaign in campaigns:
        day, kind = launch_day(campaign, tz)
        if day in days:
            days[day].items.append((campaign, kind))
    return [[days[d] for d in week] for week in weeks]


# Results -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    start: date
    end: date
    model: str
    model_label: str
    touches: int
    leads: int
    pipeline: float
    revenue: float
    cost: float
    roi: float | None  # percent: (revenue - cost) / cost
    assignments: int
    rejected: int
    reject_rate: float | None  # percent of its leads' assignments rejected

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def results_window(org, campaign: Campaign, today: date | None = None) -> tuple[date, date] | None:
    """From the campaign's start (or the day it went live, or was requested) to today; None before it."""
    tz = ZoneInfo(org.time_zone)
    today = today or local_today(org)
    start = campaign.start_date
    if start is None and campaign.live_at:
        start = _local_day(campaign.live_at, tz)
    if start is None and campaign.requested_at:
        start = _local_day(campaign.requested_at, tz)
    if start is None or start > today:
        return None
    return start, today


def _total(frame, column: str) -> float:
    return float(frame[column].sum()) if len(frame) else 0.0


def campaign_results(*, org, campaign: Campaign, model: str | None = None, today: date | None = None):
    """The campaign's numbers over `results_window`, or None when it has no UTM value or has not started.

    Without a known `model`, pipeline and revenue are credited by the organisation's default model."""
    model = model_or_default(org, model)
    span = results_window(org, campaign, today)
    if not campaign.utm_campaign or span is None:
        return None
    window = store.Window(span[0], span[1], None)
    value = campaign.utm_campaign
    touches = store.sums(org, "touch", ["touches"], window, campaign=value)
    funnel = store.sums(org, "funnel", ["created"], window, campaign=value)
    response = store.sums(org, "response", ["assignments", "rejected"], window, campaign=value)
    credited = store.attributed(org, model, window, campaign=value)
    spend = store.spend(org, window, "campaign")
    cost = float(spend.xs(value, level="group")["amount"].sum()) if value in _groups(spend) else 0.0
    revenue = _total(credited, "revenue")
    assignments, rejected = int(_total(response, "assignments")), int(_total(response, "rejected"))
    return Results(
        start=span[0],
        end=span[1],
        model=model,
        model_label=LABELS[model],
        touches=int(_total(touches, "touches")),
        leads=int(_total(funnel, "created")),
        pipeline=round(_total(credited, "pipeline"), 2),
        revenue=round(revenue, 2),
        cost=round(cost, 2),
        roi=round(100 * (revenue - cost) / cost, 1) if cost else None,
        assignments=assignments,
        rejected=rejected,
        reject_rate=round(100 * rejected / assignments, 1) if assignments else None,
    )


def _groups(frame) -> set:
    return set(frame.index.get_level_values("group")) if len(frame) else set()
