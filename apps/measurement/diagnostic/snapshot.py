# ruff: noqa: RUF001, RUF003 (prose for people: the signs × − ÷ – are meant)
"""Computing the diagnostic, storing it as the day's snapshot and reading its weekly trend.

`compute` builds the whole report from the organisation's own data; `take`
stores it as the snapshot of the organisation's local day (recomputing the same
day replaces it); `current` is what the page and the API show: today's snapshot,
taken now if there is none yet. Every number on the page, in the API and in the
CSV comes from one stored report, so they always agree.
"""

import datetime

import plotly.graph_objects as go
from django.db import transaction

from apps.core.charts import chart_json
from apps.measurement import leaks as leak_finder
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY as METRICS
from apps.measurement.models import DiagnosticSnapshot

from . import recommendations, scoring, symptoms
from .components import EXECUTION_PILLARS, PILLARS, WINDOW_DAYS
from .evidence import Context

TREND_WEEKS = 26
SCORE_LABELS = {**PILLARS, "execution": "Execution"}
TOP_LEAKS = 3
NIGHT_HOUR = 3  # local hour after which the day's snapshot is taken (the rollup runs from midnight)


def _leaks(ctx: Context) -> list[dict]:
    found = leak_finder.find_leaks(ctx.org, start=ctx.start, end=ctx.today, today=ctx.today)
    return [
        {
            key: leak.as_dict()[key]
            for key in ("key", "from_stage", "to_stage", "sentence", "revenue_at_stake", "url")
        }
        for leak in found
    ]


def compute(org, today: datetime.date | None = None) -> dict:
    """The full diagnostic of `today` (the organisation's local day by default), as plain JSON-ready data."""
    ctx = Context.for_day(org, today)
    scores, points, quadrant = scoring.score(ctx)
    findings = symptoms.symptoms(ctx)
    checks = symptoms.alignment(ctx)
    leaks = _leaks(ctx)
    bookings = (
        engine.evaluate(org, METRICS["new_bookings"], store.Window(ctx.start, ctx.today, None)).total or 0
    )
    ranked = recommendations.recommend(ctx, points, findings + checks, leaks, float(bookings))
    pillars = [
        {
            "key": key,
            "label": label,
            "score": scores[key],
            "components": [p for p in points if p["pillar"] == key],
        }
        for key, label in PILLARS.items()
    ]
    return {
        "taken_on": ctx.today.isoformat(),
        "window": {"start": ctx.start.isoformat(), "end": ctx.today.isoformat(), "days": WINDOW_DAYS},
        "currency": org.currency,
        "scores": scores,
        "threshold": scoring.THRESHOLD,
        "quadrant": quadrant,
        "quadrant_label": scoring.QUADRANTS[quadrant],
        "quadrant_help": scoring.QUADRANT_HELP[quadrant],
        "execution_pillars": list(EXECUTION_PILLARS),
        "pillars": pillars,
        "symptoms": findings,
        "alignment": checks,
        "leaks": leaks[:TOP_LEAKS],
        "bookings": round(float(bookings), 2),
        "recommendations": ranked,
    }


@transaction.atomic
def take(org, today: datetime.date | None = None) -> DiagnosticSnapshot:
    """Compute and store the snapshot of the day (replacing one taken earlier that day)."""
    report = compute(org, today)
    snapshot, _ = DiagnosticSnapshot.objects.update_or_create(
        organization=org,
        taken_on=datetime.date.fromisoformat(report["taken_on"]),
        defaults={"scores": report["scores"], "quadrant": report["quadrant"], "report": report},
    )
    return snapshot


def take_weeks_before(org, weeks: int, today: datetime.date | None = None) -> list[DiagnosticSnapshot]:
    """Snapshots of the same weekday in each of the `weeks` weeks before `today`, oldest first."""
    from apps.measurement.metrics import engine

    today = today or engine.local_today(org)
    return [take(org, today - datetime.timedelta(days=7 * back)) for back in range(weeks, 0, -1)]


def organizations_due(now: datetime.datetime | None = None) -> list[int]:
    """Organisations past `NIGHT_HOUR` of their local day (the night's rollup done) with no snapshot
    of it taken since then.

    A snapshot the page took before that hour (the first visit of the day, say) was computed on
    yesterday's facts: it does not count, and the nightly one replaces it."""
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from apps.accounts.models import Organization

    now = now or timezone.now()
    nights = {}  # organisation -> (its local day, the moment its night ended), for those past it
    for org_id, zone in Organization.objects.order_by("pk").values_list("pk", "time_zone"):
        local = now.astimezone(ZoneInfo(zone))
        if local.hour >= NIGHT_HOUR:
            nights[org_id] = (local.date(), local.replace(hour=NIGHT_HOUR, minute=0, second=0, microsecond=0))
    taken = {
        org_id
        for org_id, day, updated_at in DiagnosticSnapshot.objects.filter(
            organization_id__in=list(nights), taken_on__in={day for day, _ in nights.values()}
        ).values_list("organization_id", "taken_on", "updated_at")
        if nights[org_id][0] == day and updated_at >= nights[org_id][1]
    }
    return [org_id for org_id in nights if org_id not in taken]


def recompute_later(org) -> None:
    """Recompute today's snapshot in a worker once the current transaction commits."""
    from . import tasks

    transaction.on_commit(lambda: tasks.diagnostic_organization.delay(org.pk))


def current(org) -> DiagnosticSnapshot:
    """Today's snapshot, taken now when the nightly run has not reached the organisation yet."""
    today = engine.local_today(org)
    found = DiagnosticSnapshot.objects.for_org(org).filter(taken_on=today).first()
    return found or take(org, today)


def weekly(org, weeks: int = TREND_WEEKS) -> list[DiagnosticSnapshot]:
    """The last snapshot of each week (Monday to Sunday), oldest first, over the last `weeks` weeks."""
    today = engine.local_today(org)
    since = today - datetime.timedelta(days=today.weekday() + 7 * (weeks - 1))
    by_week: dict[datetime.date, DiagnosticSnapshot] = {}
    for snapshot in DiagnosticSnapshot.objects.for_org(org).filter(taken_on__gte=since).order_by("taken_on"):
        by_week[snapshot.taken_on - datetime.timedelta(days=snapshot.taken_on.weekday())] = snapshot
    return [by_week[week] for week in sorted(by_week)]


def trend_rows(org) -> list[dict]:
    return [{"week": s.taken_on, "quadrant": s.quadrant, **{k: s.scores.get(k) for k in SCORE_LABELS}}
            for s in weekly(org)]  # fmt: skip


def trend_chart(rows: list[dict]) -> str | None:
    if not rows:
        return None
    weeks = [row["week"].strftime("%d %b %Y") for row in rows]
    figure = go.Figure(
        [
            go.Scatter(x=weeks, y=[row[key] for row in rows], name=label, mode="lines+markers")
            for key, label in SCORE_LABELS.items()
        ]
    )
    # One category per weekly snapshot (a date axis would stretch a single point over hours), 0-10 fixed.
    figure.update_layout(
        title="Scores by week (last snapshot of each week)",
        xaxis={"type": "category"},
        yaxis={"title": "Score (0–10)", "range": [-0.2, 10.2]},
    )
    return chart_json(figure)
