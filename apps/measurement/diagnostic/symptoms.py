"""Symptoms and alignment checks: the classic ways strategy and execution come apart, found in the data.

Symptoms of a strategy without execution: attribution disputes, slow follow-up,
broken tracking, uneven pipeline. Symptoms of execution without strategy: busy
work (campaigns with no program or segment) and activity without impact
(launched campaigns whose leads produced no opportunity). Each is a plain
sentence with the counts behind it; `found` says whether it shows. Every
constant below is the line between "shows" and "does not".
"""

import datetime
import statistics

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from apps.execution.models import Campaign
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY as METRICS
from apps.records.models import Opportunity, Touchpoint
from apps.strategy.models import ChannelBudget, Positioning, Program, Segment
from apps.strategy.models.programs import ProgramStatus

from .evidence import MAX_RECORDS, Context
from .scoring import EXECUTION_ONLY, STRATEGY_ONLY
from .strategy import current_quarter

ATTRIBUTION_SHARE = 0.3  # opportunities with no touch to credit
SLOW_FOLLOW_UP_MINUTES = 60  # median speed-to-lead over the last 30 days
BROKEN_TRACKING_SHARE = 0.15  # tagged touchpoints breaking the UTM taxonomy
UNEVEN_PIPELINE_CV = 0.6  # coefficient of variation of weekly pipeline created, last 12 full weeks
BUSY_WORK_SHARE = 0.3  # launched campaigns with no program or no segment
NO_IMPACT_SHARE = 0.5  # launched campaigns whose leads produced no opportunity
NO_IMPACT_MIN_CAMPAIGNS = 2
VOLUME_GROWTH = 0.10  # leads up at least 10 % on the previous 90 days ...
SQL_RATE_DROP = 0.10  # ... while the SQL rate (SQLs ÷ leads) falls at least 10 % relative


def _finding(ctx, key, kind, title, found, sentence, url_name, share=None, records=()):
    return {
        "key": key,
        "kind": kind,
        "title": title,
        "found": bool(found),
        "sentence": sentence,
        "share": None if share is None else round(share, 4),
        "records": [str(r) for r in list(records)[:MAX_RECORDS]],
        "url": reverse(url_name, args=[ctx.org.slug]),
    }


def _total(ctx, key: str, start: datetime.date, end: datetime.date) -> float | None:
    return engine.evaluate(ctx.org, METRICS[key], store.Window(start, end, None)).total


def attribution_disputes(ctx: Context) -> dict:
    touched = Touchpoint.objects.for_org(ctx.org).filter(
        Q(lead=OuterRef("primary_contact")) | Q(account=OuterRef("account"))
    )
    opportunities = (
        Opportunity.objects.for_org(ctx.org)
        .filter(created_date__gte=ctx.start, created_date__lte=ctx.today)
        .annotate(touched=Exists(touched))
    )
    total = opportunities.count()
    untouched = opportunities.filter(touched=False).order_by("-amount", "pk")
    bare = untouched.count()
    share = bare / total if total else None
    found = share is not None and share >= ATTRIBUTION_SHARE
    sentence = (
        f"{bare} of {total} opportunities created in the last 90 days have no touchpoint to credit: "
        "marketing and sales will dispute who sourced them."
        if total
        else "No opportunity was created in the last 90 days."
    )
    return _finding(
        ctx,
        "symptom.attribution_disputes",
        STRATEGY_ONLY,
        "Attribution disputes",
        found,
        sentence,
        "measurement_attribution",
        share,
        untouched.values_list("name", flat=True)[:5],
    )


def slow_follow_up(ctx: Context) -> dict:
    median = _total(ctx, "speed_to_lead", ctx.today - datetime.timedelta(days=29), ctx.today)
    found = median is not None and median > SLOW_FOLLOW_UP_MINUTES
    sentence = (
        f"Leads wait {median:.0f} minutes (median) for a first touch over the last 30 days; "
        f"more than {SLOW_FOLLOW_UP_MINUTES} minutes loses them."
        if median is not None
        else "No lead was assigned in the last 30 days: speed-to-lead cannot be measured."
    )
    return _finding(
        ctx, "symptom.slow_follow_up", STRATEGY_ONLY, "Slow follow-up", found, sentence, "execution_reports"
    )


def broken_tracking(ctx: Context) -> dict:
    counts = ctx.cache.get("utm") or {"total": 0, "broken": 0}
    share = counts["broken"] / counts["total"] if counts["total"] else None
    found = share is not None and share >= BROKEN_TRACKING_SHARE
    sentence = (
        f"{counts['broken']} of {counts['total']} tagged touchpoints of the last 90 days break the UTM "
        "taxonomy, so their channel and campaign cannot be trusted."
        if counts["total"]
        else "No tagged touchpoint in the last 90 days."
    )
    return _finding(
        ctx,
        "symptom.broken_tracking",
        STRATEGY_ONLY,
        "Broken tracking",
        found,
        sentence,
        "execution_utm_violations",
        share,
    )


def uneven_pipeline(ctx: Context) -> dict:
    end = ctx.today - datetime.timedelta(days=ctx.today.weekday() + 1)  # the last full week's Sunday
    window = store.Window(end - datetime.timedelta(days=83), end, "week")
    result = engine.evaluate(ctx.org, METRICS["pipeline_created"], window, total=False)
    by_week = {row["period"]: row["value"] or 0 for row in result.rows}
    values = [float(by_week.get(period, 0)) for period in window.periods()]
    mean = statistics.fmean(values) if values else 0
    spread = statistics.pstdev(values) / mean if mean else None
    found = spread is not None and spread >= UNEVEN_PIPELINE_CV
    sentence = (
        f"Pipeline created swings from week to week (coefficient of variation {spread:.2f} over the last "
        f"12 full weeks; {UNEVEN_PIPELINE_CV} or more is uneven)."
        if spread is not None
        else "No pipeline was created in the last 12 full weeks."
    )
    return _finding(
        ctx,
        "symptom.uneven_pipeline",
        STRATEGY_ONLY,
        "Uneven pipeline",
        found,
        sentence,
        "measurement_pipeline",
        spread,
    )


def _launched(ctx: Context):
    return Campaign.objects.for_org(ctx.org).filter(live_at__gte=ctx.since, live_at__lt=ctx.now)


def busy_work(ctx: Context) -> dict:
    launched = _launched(ctx)
    total = launched.count()
    loose = launched.filter(Q(program__isnull=True) | Q(segment__isnull=True)).order_by("name")
    count = loose.count()
    share = count / total if total else None
    found = share is not None and share >= BUSY_WORK_SHARE
    sentence = (
        f"{count} of {total} campaigns launched in the last 90 days have no program or no segment."
        if total
        else "No campaign went live in the last 90 days."
    )
    return _finding(
        ctx,
        "symptom.busy_work",
        EXECUTION_ONLY,
        "Busy work",
        found,
        sentence,
        "execution_campaigns",
        share,
        loose.values_list("name", flat=True)[:5],
    )


def activity_without_impact(ctx: Context) -> dict:
    launched = list(
        _launched(ctx).exclude(utm_campaign="").order_by("name").values_list("name", "utm_campaign")
    )
    producing = set(
        Opportunity.objects.for_org(ctx.org)
        .filter(primary_contact__utm_campaign__in=[value for _, value in launched])
        .values_list("primary_contact__utm_campaign", flat=True)
    )
    idle = [name for name, value in launched if value not in producing]
    share = len(idle) / len(launched) if launched else None
    found = len(launched) >= NO_IMPACT_MIN_CAMPAIGNS and share >= NO_IMPACT_SHARE
    sentence = (
        f"{len(idle)} of {len(launched)} tracked campaigns launched in the last 90 days brought leads that "
        "produced no opportunity."
        if launched
        else "No tracked campaign went live in the last 90 days."
    )
    return _finding(
        ctx,
        "symptom.activity_without_impact",
        EXECUTION_ONLY,
        "Activity without impact",
        found,
        sentence,
        "execution_campaigns",
        share,
        idle,
    )


SYMPTOMS = (
    attribution_disputes,
    slow_follow_up,
    broken_tracking,
    uneven_pipeline,
    busy_work,
    activity_without_impact,
)


# --- Alignment checks ----------------------------------------------------------------------------


def campaigns_without_program(ctx: Context) -> dict:
    campaigns = Campaign.objects.for_org(ctx.org).exclude(status="cancelled")
    total = campaigns.count()
    loose = campaigns.filter(program__isnull=True).order_by("name")
    count = loose.count()
    sentence = (
        f"{count} of {total} campaigns (tactics) serve no program of the plan."
        if total
        else "No campaign yet."
    )
    return _finding(
        ctx,
        "alignment.campaigns_without_program",
        "alignment",
        "Campaigns with no program",
        count > 0,
        sentence,
        "execution_campaigns",
        count / total if total else None,
        loose.values_list("name", flat=True)[:5],
    )


def programs_without_rationale(ctx: Context) -> dict:
    programs = list(
        Program.objects.for_org(ctx.org)
        .exclude(status=ProgramStatus.CANCELLED)
        .order_by("start", "name")
        .values_list("name", "segment_id", "offer_id", "goal_id")
    )
    missing = []
    for name, segment, offer, goal in programs:
        lacks = [what for what, ok in (("segment", segment), ("offer", offer), ("goal", goal)) if not ok]
        if lacks:
            missing.append(f"{name}: no {', no '.join(lacks)}")
    sentence = (
        f"{len(missing)} of {len(programs)} programs name no segment, offer or goal: no strategic rationale."
        if programs
        else "No program in the plan yet."
    )
    return _finding(
        ctx,
        "alignment.programs_without_rationale",
        "alignment",
        "Programs with no rationale",
        bool(missing),
        sentence,
        "strategy_programs",
        len(missing) / len(programs) if programs else None,
        missing,
    )


def budget_only_strategy(ctx: Context) -> dict:
    year, quarter, _, _ = current_quarter(ctx)
    lines = ChannelBudget.objects.for_org(ctx.org).filter(fiscal_year=year, quarter=quarter).count()
    segments = Segment.objects.for_org(ctx.org).count()
    positioned = Positioning.objects.for_org(ctx.org).exclude(value_propositions=[]).count()
    found = lines > 0 and (segments == 0 or positioned == 0)
    if found:
        sentence = (
            f"The FY{year} Q{quarter} strategy is a channel budget ({lines} lines) with "
            f"{segments} segments and {positioned} written positionings: say who it is for and why they buy."
        )
    else:
        sentence = (
            f"The FY{year} Q{quarter} channel budget ({lines} lines) sits on {segments} segments and "
            f"{positioned} written positionings."
        )
    return _finding(
        ctx,
        "alignment.budget_only_strategy",
        "alignment",
        "A strategy that is only a channel budget",
        found,
        sentence,
        "strategy_positioning",
    )


def volume_against_sql_rate(ctx: Context) -> dict:
    previous_end = ctx.start - datetime.timedelta(days=1)
    previous_start = previous_end - (ctx.today - ctx.start)
    leads_now, leads_before = (
        _total(ctx, "leads", ctx.start, ctx.today),
        _total(ctx, "leads", previous_start, previous_end),
    )
    sqls_now, sqls_before = (
        _total(ctx, "sqls", ctx.start, ctx.today),
        _total(ctx, "sqls", previous_start, previous_end),
    )
    found = False
    if leads_now and leads_before:
        growth = leads_now / leads_before - 1
        rate_now, rate_before = (sqls_now or 0) / leads_now, (sqls_before or 0) / leads_before
        drop = 1 - rate_now / rate_before if rate_before else 0
        found = growth >= VOLUME_GROWTH and drop >= SQL_RATE_DROP
        sentence = (
            f"Leads {growth:+.0%} on the 90 days before ({leads_before:.0f} → {leads_now:.0f}) while the SQL "
            f"rate went {100 * rate_before:.1f} % → {100 * rate_now:.1f} %."
        )
    else:
        sentence = "Not enough leads in the last 180 days to compare volume with the SQL rate."
    return _finding(
        ctx,
        "alignment.volume_against_sql_rate",
        "alignment",
        "Lead volume pushed while the SQL rate falls",
        found,
        sentence,
        "measurement_funnel",
    )


ALIGNMENT = (
    campaigns_without_program,
    programs_without_rationale,
    budget_only_strategy,
    volume_against_sql_rate,
)


def symptoms(ctx: Context) -> list[dict]:
    return [check(ctx) for check in SYMPTOMS]


def alignment(ctx: Context) -> list[dict]:
    return [check(ctx) for check in ALIGNMENT]
