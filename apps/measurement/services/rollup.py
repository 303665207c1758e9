"""Rolling an organisation's raw events up into daily facts.

A run finds the days whose facts may have changed since the last one (the
watermark), recomputes exactly those days, and moves the watermark. Each fact
table has its own dirty days, because each depends on different rows:

- funnel (and its by-channel and by-segment copies): a day's rows depend on that day's events
  and, through the previous stage and the count of earlier entries, on the
  lead's earlier events. A stage event written since the watermark therefore
  changes the funnel rows of its lead's events at or after its own instant
  only; an edited lead (its channel, campaign, owner and completeness are
  dimensions; a stage change through the services stamps the lead too)
  changes every day of its events;
- cohorts (and the by-channel copy): keyed by the day a lead was created or
  first entered a stage. A touched or edited lead's cohort rows lie on its
  first-entry days (per stage, its creation included); a new event can also
  replace a later first entry, so the days of its lead's events from the new
  event's instant on are dirty too;
- responses: the offer days of assignments (or SLA timers) changed since, and
  of an edited lead's assignments;
- touches: the days of the touchpoints written since;
- explicit DirtyDay rows are dirty for every table whatever the watermark says:
  an edited touchpoint names its old and new day and its opportunities' days
  (records.services.touchpoint_upsert), a merge and its undo every day of both
  leads (`mark_leads_dirty`), and a deleted stage event, touchpoint,
  assignment or opportunity the days it leaves changed (database triggers:
  migration 0005, whoever deletes), and a reordered stage every day with a
  stage event (`mark_funnel_reshaped`).

The by-segment funnel also depends on segment membership, which a full
recompute of a segment may change on any day: the run rebuilds, over every
day, the lead segments recomputed since the watermark (`recomputed_at`). The
recompute itself writes no facts, so it takes no lock and never races a run,
and the segment facts stay as fresh as the rest (as of the last run). The
nightly recompute touches every segment, so in practice each night rebuilds
the segment facts whole, in one statement over the members' events only.
Membership kept on a lead's write needs nothing more: the write stamps the
lead, whose funnel days are dirty anyway.

Opportunities are few, so their facts are rebuilt whole on every run;
attribution rebuilds the created days of the opportunities whose credit may
have moved (see attribution.compute.days_to_rebuild). The watermark looks back
an hour past the last run: a row written by a transaction that committed late
is still seen, and recomputing a day twice is harmless because every build
replaces the day's rows (rows that came out the same are left as stored).

One run per organisation at a time: a PostgreSQL advisory lock, released by
the server if the worker dies, guards it.
"""

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from apps.strategy.models import Segment, SegmentObject

from .. import facts, pipeline
from ..attribution import compute as attribution
from ..models import DirtyDay, RollupState

LOCK_NAMESPACE = 7_301  # pg_try_advisory_lock(namespace, organization id)
OVERLAP = datetime.timedelta(hours=1)
BATCH_DAYS = 31

Progress = Callable[[int, int], None]


@dataclass
class RollupResult:
    days: int  # days recomputed; 0 with full=True means "all of them, in one pass"
    full: bool
    seconds: float
    skipped: bool = False  # another run held the lock
    rows: dict[str, int] = field(default_factory=dict)


def _lock(org) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, org.pk])
        return cursor.fetchone()[0]


def _unlock(org) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, org.pk])


# The fact builders of each table with its own dirty days, in order (a by-channel copy reads the facts
# built before it). Names, not functions: looked up on `facts` when called.
BUILDERS = {
    "funnel": (
        ("funnel", "build_funnel"),
        ("funnel by channel", "build_funnel_channels"),
        ("funnel by segment", "build_funnel_segments"),
    ),
    "cohorts": (("cohorts", "build_cohorts"), ("cohorts by channel", "build_cohort_channels")),
    "responses": (("responses", "build_responses"),),
    "touches": (("touches", "build_touches"),),
}
EVERY_TABLE = "*"  # the key of explicit marks in dirty_days_by_table's query

DIRTY_SQL = """
WITH edited_leads AS (
    SELECT id FROM records_lead WHERE organization_id = %(org)s AND updated_at >= %(since)s
),
changed AS (
    -- Per touched lead: its earliest event written since (NULL if none), and whether the lead itself was
    -- edited (its dimensions are on every funnel row it has, and on every cohort row: its first entries).
    SELECT lead_id, min(at) AS from_at, bool_or(edited) AS edited
    FROM (
        SELECT lead_id, at, FALSE AS edited FROM records_stageevent
        WHERE organization_id = %(org)s AND created_at >= %(since)s
        UNION ALL
        SELECT id, NULL, TRUE FROM edited_leads
    ) c
    GROUP BY lead_id
),
events AS (
    SELECT e.lead_id, e.to_stage, e.at, c.edited, coalesce(e.at >= c.from_at, FALSE) AS later
    FROM records_stageevent e JOIN changed c ON c.lead_id = e.lead_id
    WHERE e.organization_id = %(org)s
)
SELECT 'funnel', (at AT TIME ZONE %(tz)s)::date FROM events WHERE later OR edited
UNION
SELECT 'cohorts', (at AT TIME ZONE %(tz)s)::date FROM events WHERE later
UNION
SELECT 'cohorts', (min(at) AT TIME ZONE %(tz)s)::date FROM events GROUP BY lead_id, to_stage
UNION
SELECT 'touches', (occurred_at AT TIME ZONE %(tz)s)::date FROM records_touchpoint
WHERE organization_id = %(org)s AND created_at >= %(since)s
UNION
SELECT 'responses', (offered_at AT TIME ZONE %(tz)s)::date FROM execution_assignment
WHERE organization_id = %(org)s
  -- The lead's channel, campaign and capture time are read by its assignments' facts too.
  AND (updated_at >= %(since)s OR lead_id IN (SELECT id FROM edited_leads))
UNION
SELECT 'responses', (a.offered_at AT TIME ZONE %(tz)s)::date
FROM execution_slatimer t JOIN execution_assignment a ON a.id = t.assignment_id
WHERE t.organization_id = %(org)s AND t.updated_at >= %(since)s
UNION
-- An edited lead's capture time is a milestone of the attribution of its opportunities.
SELECT 'attribution', o.created_date FROM records_opportunity o
WHERE o.organization_id = %(org)s AND o.primary_contact_id IN (SELECT id FROM edited_leads)
UNION
SELECT '*', day FROM measurement_dirtyday WHERE organization_id = %(org)s
"""


def dirty_days_by_table(org, since: datetime.datetime) -> dict[str, list[datetime.date]]:
    """Per fact table (a key of BUILDERS, and "attribution"), the local days whose facts may differ from
    what was rolled up before `since`."""
    with connection.cursor() as cursor:
        cursor.execute(DIRTY_SQL, {"org": org.pk, "tz": org.time_zone, "since": since})
        found = cursor.fetchall()
    marked = {day for table, day in found if table == EVERY_TABLE}
    by_table = {table: set(marked) for table in (*BUILDERS, "attribution")}
    for table, day in found:
        if table != EVERY_TABLE:
            by_table[table].add(day)
    return {table: sorted(days) for table, days in by_table.items()}


def dirty_days(org, since: datetime.datetime) -> list[datetime.date]:
    """Local days on which some fact may differ from what was rolled up before `since`."""
    return sorted(set().union(*dirty_days_by_table(org, since).values()))


def recomputed_segments(org, since: datetime.datetime) -> list[int]:
    """Ids of the lead segments whose membership was recomputed in full since `since`."""
    recomputed = Segment.objects.for_org(org).filter(object_type=SegmentObject.LEAD, recomputed_at__gte=since)
    return sorted(recomputed.values_list("pk", flat=True))


def mark_dirty(org, days, reason: str = "") -> None:
    """Have the next run recompute these days whatever changed (or did not) since the watermark."""
    DirtyDay.objects.bulk_create(
        [DirtyDay(organization=org, day=day, reason=reason[:200]) for day in set(days)],
        ignore_conflicts=True,
    )


LEAD_DAYS_SQL = """
INSERT INTO measurement_dirtyday (organization_id, created_at, updated_at, day, reason)
SELECT %(org)s, now(), now(), day, %(reason)s FROM (
    SELECT (at AT TIME ZONE %(tz)s)::date AS day FROM records_stageevent
    WHERE organization_id = %(org)s AND lead_id = ANY(%(leads)s)
    UNION
    SELECT (occurred_at AT TIME ZONE %(tz)s)::date FROM records_touchpoint
    WHERE organization_id = %(org)s AND lead_id = ANY(%(leads)s)
    UNION
    SELECT (offered_at AT TIME ZONE %(tz)s)::date FROM execution_assignment
    WHERE organization_id = %(org)s AND lead_id = ANY(%(leads)s)
    UNION
    SELECT created_date FROM records_opportunity
    WHERE organization_id = %(org)s AND primary_contact_id = ANY(%(leads)s)
) days
ON CONFLICT (organization_id, day) DO NOTHING
"""


EVENT_DAYS_SQL = """
INSERT INTO measurement_dirtyday (organization_id, created_at, updated_at, day, reason)
SELECT %(org)s, now(), now(), day, %(reason)s FROM (
    SELECT DISTINCT (at AT TIME ZONE %(tz)s)::date AS day FROM records_stageevent
    WHERE organization_id = %(org)s
) days
ON CONFLICT (organization_id, day) DO NOTHING
"""


def mark_funnel_reshaped(org, reason: str = "") -> None:
    """Have the next run recompute every day with a stage event: the funnel's order changed, and with it
    which moves skip a stage and which stages a cohort converts to."""
    with connection.cursor() as cursor:
        cursor.execute(EVENT_DAYS_SQL, {"org": org.pk, "tz": org.time_zone, "reason": reason[:200]})


def mark_leads_dirty(org, lead_ids, reason: str = "") -> None:
    """Have the next run recompute every day holding a fact of these leads: their stage events,
    touchpoints, assignments and the creation of their opportunities. For changes the watermark cannot
    see, such as a merge re-pointing rows, or its undo restoring a lead's old timestamps."""
    with connection.cursor() as cursor:
        cursor.execute(
            LEAD_DAYS_SQL,
            {"org": org.pk, "tz": org.time_zone, "leads": list(lead_ids), "reason": reason[:200]},
        )


def _build_days(org, by_table: dict[str, list[datetime.date]], batch: list[datetime.date]) -> dict[str, int]:
    """Rebuild each table's dirty days that fall in `batch`; a table with none there is left alone."""
    rows = {}
    in_batch = set(batch)
    for table, builders in BUILDERS.items():
        days = [day for day in by_table[table] if day in in_batch]
        for name, builder in builders:
            rows[name] = getattr(facts, builder)(org, days) if days else 0
    return rows


def rollup(
    org,
    *,
    full: bool = False,
    since: datetime.date | None = None,
    progress: Progress | None = None,
) -> RollupResult:
    """Bring an organisation's facts up to date.

    full: rebuild every day, each fact table in one pass.
    since: recompute every day from this local date to today (a backfill), in batches.
    neither: recompute the dirty days only (the nightly run).
    """
    started = time.monotonic()
    if not _lock(org):
        return RollupResult(days=0, full=full, seconds=0.0, skipped=True)
    try:
        state, _ = RollupState.objects.get_or_create(organization=org)
        run_started = timezone.now()
        state.started_at, state.error, state.full = run_started, "", full or state.watermark is None
        state.save(update_fields=["started_at", "error", "full", "updated_at"])
        try:
            result = _run(org, state, full=state.full, since=since, progress=progress)
        except Exception as error:
            RollupState.objects.filter(pk=state.pk).update(error=f"{type(error).__name__}: {error}"[:2000])
            raise
        dirty_until = run_started  # marks made while the run read its days are kept for the next run
        DirtyDay.objects.for_org(org).filter(created_at__lt=dirty_until).delete()
        result.seconds = time.monotonic() - started
        RollupState.objects.filter(pk=state.pk).update(
            watermark=run_started,
            last_local_date=timezone.localdate(run_started, ZoneInfo(org.time_zone)),
            finished_at=timezone.now(),
            seconds=result.seconds,
            updated_at=timezone.now(),
        )
        return result
    finally:
        _unlock(org)


def _run(org, state, *, full: bool, since, progress: Progress | None) -> RollupResult:
    if full:
        steps = [
            ("funnel", lambda: facts.build_funnel(org, None)),
            ("funnel by channel", lambda: facts.build_funnel_channels(org, None)),
            ("funnel by segment", lambda: facts.build_funnel_segments(org, None)),
            ("cohorts", lambda: facts.build_cohorts(org, None)),
            ("cohorts by channel", lambda: facts.build_cohort_channels(org, None)),
            ("responses", lambda: facts.build_responses(org, None)),
            ("touches", lambda: facts.build_touches(org, None)),
            ("opportunities", lambda: facts.build_opportunities(org)),
            ("pipeline", lambda: pipeline.rebuild_facts(org)),
            ("attribution", lambda: attribution.rebuild(org, None)),
        ]
        rows = {}
        _progress(state, progress, 0, len(steps))
        for done, (name, build) in enumerate(steps, start=1):
            with transaction.atomic():
                rows[name] = build()
            _progress(state, progress, done, len(steps))
        return RollupResult(days=0, full=True, seconds=0.0, rows=rows)

    since_watermark = state.watermark - OVERLAP
    if since is not None:
        today = timezone.localdate(timezone.now(), ZoneInfo(org.time_zone))
        days = [since + datetime.timedelta(days=n) for n in range((today - since).days + 1)]
        by_table = {table: days for table in (*BUILDERS, "attribution")}
    else:
        by_table = dirty_days_by_table(org, since_watermark)
        days = sorted(set().union(*by_table.values()))
    rows: dict[str, int] = {}
    batches = [days[i : i + BATCH_DAYS] for i in range(0, len(days), BATCH_DAYS)]
    _progress(state, progress, 0, len(days))
    done = 0
    for batch in batches:
        with transaction.atomic():
            for name, count in _build_days(org, by_table, batch).items():
                rows[name] = rows.get(name, 0) + count
        done += len(batch)
        _progress(state, progress, done, len(days))
    recomputed = recomputed_segments(org, since_watermark)
    if recomputed:
        with transaction.atomic():
            built = facts.build_funnel_segments(org, None, recomputed)
        rows["funnel by segment"] = rows.get("funnel by segment", 0) + built
    with transaction.atomic():
        rows["opportunities"] = facts.build_opportunities(org)
    rows["pipeline"] = pipeline.rebuild_facts(org)
    # Attribution is keyed by the opportunity's created day, not by the day of what changed: rebuild the
    # created days of the opportunities whose paths, amounts or dates may have moved.
    with transaction.atomic():
        rows["attribution"] = attribution.rebuild(
            org, attribution.days_to_rebuild(org, since=since_watermark, dirty=by_table["attribution"])
        )
    return RollupResult(days=len(days), full=False, seconds=0.0, rows=rows)


def _progress(state, progress: Progress | None, done: int, total: int) -> None:
    RollupState.objects.filter(pk=state.pk).update(days_done=done, days_total=total)
    if progress:
        progress(done, total)


def organizations_due(now: datetime.datetime | None = None):
    """Organisations whose local midnight has passed since their last nightly run."""
    from apps.accounts.models import Organization

    now = now or timezone.now()
    last = dict(RollupState.objects.values_list("organization_id", "last_local_date"))
    for org in Organization.objects.all().order_by("pk"):
        if last.get(org.pk) is None or last[org.pk] < timezone.localdate(now, ZoneInfo(org.time_zone)):
            yield org
