"""The SQL that turns raw events into daily facts.

Each `build_*` function deletes an organisation's fact rows for a set of local
days and inserts them again from the raw tables, in one statement per table,
so the aggregation happens in PostgreSQL and no event row travels to Python.
Running it twice for the same days gives identical rows.

This module and apps.measurement.store are the seam of the rollups: every
metric reads facts through `store`, and every fact is written here, so moving
the facts to a column store touches these two modules only.

Days are the organisation's local days: `(at AT TIME ZONE tz)::date`.
"""

import datetime

from django.db import connection

from . import sketch

# Dimensions shared by the lead-based facts, as SQL over the lead row `l`.
_LEAD_DIMS = (
    "coalesce(l.channel, '') AS channel, l.utm_campaign AS campaign, coalesce(l.owner_id, 0) AS owner"
)
_DIMS = "channel, campaign, owner"


# Memory for each sort and hash of a rollup statement (for the transaction only). With the 4 MB
# default, a million events' sorts and the materialised event rows spill to disk: the funnel took
# 2 to 3x longer (measured on a million events). A statement may use it several times over.
WORK_MEM = "64MB"


def _execute(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        # These plans cost enough to be JIT-compiled, which takes 1.5 to 2 s a statement (measured on a
        # million events) and saves less: every statement of an incremental day would pay it.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute(sql, params)
        return cursor.rowcount


def _clamp(seconds: str) -> str:
    """A duration never below zero (clocks of different machines), NULL kept NULL."""
    return f"CASE WHEN ({seconds}) < 0 THEN 0 ELSE ({seconds}) END"


def _first(interval: str) -> str:
    """Seconds of an interval, for a lead's first assignment only."""
    return f"CASE WHEN a.first THEN extract(epoch FROM {interval}) END"


def _sketch(name: str, source: str, keys: str, seconds: str, where: str = "TRUE") -> str:
    """A CTE `name` giving one jsonb sketch per group of `keys` over `seconds` of `source`."""
    return f"""
    {name} AS (
        SELECT {keys}, jsonb_object_agg(b, n) AS sk
        FROM (
            SELECT {keys}, {sketch.bucket_sql(seconds)} AS b, count(*) AS n
            FROM {source} WHERE ({seconds}) IS NOT NULL AND {where}
            GROUP BY {keys}, b
        ) buckets
        GROUP BY {keys}
    )"""


def _lead_dims(days: list[datetime.date] | None) -> str:
    """CTEs `leads` (id, dim) and `dims` (dim and the dimensions it stands for).

    Cohorts are grouped by the lead's channel, campaign and owner; grouping over a million pair rows
    by those strings made the aggregate sort on disk (100 MB for a million events). A lead's `dim`
    numbers its combination instead (equal for equal dimensions, NULL campaigns included), and the
    strings are joined back to the grouped rows. With `days`, only the leads of `_event_scope(days)`
    are read."""
    return f"""
    leads AS MATERIALIZED (
        SELECT id, coalesce(channel, '') AS channel, utm_campaign AS campaign,
               coalesce(owner_id, 0) AS owner,
               dense_rank() OVER (ORDER BY coalesce(channel, ''), utm_campaign, coalesce(owner_id, 0)) AS dim
        FROM records_lead WHERE organization_id = %(org)s {_event_scope(days).replace("e.lead_id", "id")}
    ),
    dims AS (
        SELECT DISTINCT dim, channel, campaign, owner FROM leads
    )"""


def _delete(table: str, org_id: int, days: list[datetime.date] | None) -> None:
    if days is None:
        _execute(f"DELETE FROM {table} WHERE organization_id = %(org)s", {"org": org_id})
    else:
        _execute(
            f"DELETE FROM {table} WHERE organization_id = %(org)s AND day = ANY(%(days)s)",
            {"org": org_id, "days": days},
        )


def _event_scope(days: list[datetime.date] | None) -> str:
    """Restricts the stage events read to the leads with an event on one of `days`.

    A day's exits need each lead's previous event, which may be older than the
    day, so the window runs over every event of those leads."""
    if days is None:
        return ""
    return """
        AND e.lead_id IN (
            SELECT lead_id FROM records_stageevent
            WHERE organization_id = %(org)s AND at >= %(lo)s AND at < %(hi)s
              AND (at AT TIME ZONE %(tz)s)::date = ANY(%(days)s)
        )"""


def _day_params(org, days: list[datetime.date] | None) -> dict:
    params = {"org": org.pk, "tz": org.time_zone, "days": days, "now": datetime.datetime.now(datetime.UTC)}
    if days:
        # UTC bounds wide enough for any time zone, so the (organization, at) index narrows the scan.
        day = datetime.timedelta(days=1)
        params["lo"] = datetime.datetime.combine(min(days), datetime.time(), datetime.UTC) - day
        params["hi"] = datetime.datetime.combine(max(days), datetime.time(), datetime.UTC) + 2 * day
    return params


def build_funnel(org, days: list[datetime.date] | None) -> int:
    """FunnelDay: per event, an entry into its stage and an exit out of the lead's previous one."""
    params = _day_params(org, days)
    _delete("measurement_funnelday", org.pk, days)
    sql = _funnel_sql(
        days,
        scope=_event_scope(days),
        dims=_DIMS,
        select=_LEAD_DIMS,
        join="",
        table="measurement_funnelday",
        columns="channel, campaign, owner_id",
        values="channel, campaign, nullif(owner, 0)",
    )
    return _execute(sql, params)


def build_funnel_segments(org, days: list[datetime.date] | None, segments: list[int] | None = None) -> int:
    """FunnelSegmentDay: FunnelDay's counts with the lead's segments as the dimension.

    The funnel's statement over the events of segment members only, each event
    joined to every lead segment its lead belongs to now (a lead in two
    segments counts in both). `segments` limits the rebuild to those segments,
    over `days` or every day."""
    params = {**_day_params(org, days), "segments": segments}
    only = "" if segments is None else "AND m.segment_id = ANY(%(segments)s)"
    where = "m.organization_id = %(org)s" + ("" if days is None else " AND m.day = ANY(%(days)s)")
    _execute(f"DELETE FROM measurement_funnelsegmentday m WHERE {where} {only}", params)
    members = f"""
        AND e.lead_id IN (
            SELECT m.lead_id FROM strategy_segmentmembership m
            WHERE m.organization_id = %(org)s AND m.lead_id IS NOT NULL {only}
        )"""
    sql = _funnel_sql(
        days,
        scope=_event_scope(days) + members,
        dims="segment",
        select="m.segment_id AS segment",
        join=f"JOIN strategy_segmentmembership m ON m.organization_id = %(org)s AND m.lead_id = l.id {only}",
        table="measurement_funnelsegmentday",
        columns="segment_id",
        values="segment",
    )
    return _execute(sql, params)


def _funnel_sql(
    days, *, scope: str, dims: str, select: str, join: str, table: str, columns: str, values: str
):
    """The funnel statement, grouped by `dims` (selected per event row by `select`, over the lead `l` and
    whatever `join` adds) and inserted into `table`'s `columns` as `values`."""
    on_days = "TRUE" if days is None else "day = ANY(%(days)s)"
    return f"""
    WITH ev AS (
        SELECT e.lead_id, e.to_stage, e.from_stage,
               (e.at AT TIME ZONE %(tz)s)::date AS day,
               lag(e.to_stage) OVER w AS prev_stage,
               extract(epoch FROM e.at - lag(e.at) OVER w) AS seconds,
               row_number() OVER (PARTITION BY e.lead_id, e.to_stage ORDER BY e.at, e.id) AS nth
        FROM records_stageevent e
        WHERE e.organization_id = %(org)s {scope}
        WINDOW w AS (PARTITION BY e.lead_id ORDER BY e.at, e.id)
    ),
    stages AS (
        SELECT key, "order", kind FROM records_lifecyclestage WHERE organization_id = %(org)s
    ),
    d AS (
        SELECT ev.*, {select}, l.completeness,
               (ev.prev_stage IS NOT NULL AND cur.kind = 'funnel' AND prev.kind = 'funnel' AND EXISTS (
                    SELECT 1 FROM stages mid
                    WHERE mid.kind = 'funnel' AND mid."order" > prev."order" AND mid."order" < cur."order"
               )) AS skipped
        FROM ev
        JOIN records_lead l ON l.id = ev.lead_id
        {join}
        LEFT JOIN stages cur ON cur.key = ev.to_stage
        LEFT JOIN stages prev ON prev.key = ev.prev_stage
        WHERE {on_days}
    ),
    entries AS (
        SELECT day, to_stage AS stage, {dims},
               count(*) FILTER (WHERE prev_stage IS NULL) AS created,
               coalesce(sum(completeness) FILTER (WHERE prev_stage IS NULL), 0) AS created_completeness,
               count(*) AS entries,
               count(*) FILTER (WHERE nth = 1) AS first_entries,
               count(*) FILTER (WHERE nth > 1) AS reentries,
               count(*) FILTER (WHERE skipped) AS skips
        FROM d GROUP BY day, to_stage, {dims}
    ),
    exits AS (
        SELECT day, prev_stage AS stage, {dims},
               count(*) AS exits, sum(round(seconds))::bigint AS exit_seconds
        FROM d WHERE prev_stage IS NOT NULL GROUP BY day, prev_stage, {dims}
    ),
    {
        _sketch(
            "exit_sketches",
            "(SELECT d.*, prev_stage AS stage FROM d) x",
            f"day, stage, {dims}",
            "seconds",
            "stage IS NOT NULL",
        )
    }
    INSERT INTO {table} (
        organization_id, created_at, updated_at, day, stage, {columns},
        created, created_completeness, entries, first_entries, reentries, skips,
        exits, exit_seconds, exit_sketch
    )
    SELECT %(org)s, %(now)s, %(now)s, day, stage, {values},
           coalesce(n.created, 0), coalesce(n.created_completeness, 0), coalesce(n.entries, 0),
           coalesce(n.first_entries, 0), coalesce(n.reentries, 0), coalesce(n.skips, 0),
           coalesce(x.exits, 0), coalesce(x.exit_seconds, 0), coalesce(s.sk, '{{}}'::jsonb)
    FROM entries n
    FULL JOIN exits x USING (day, stage, {dims})
    LEFT JOIN exit_sketches s USING (day, stage, {dims})
    """


def _funnel_stages(org) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key FROM records_lifecyclestage WHERE organization_id = %s AND kind = 'funnel' "
            'ORDER BY "order", id',
            [org.pk],
        )
        return [row[0] for row in cursor.fetchall()]


def build_cohorts(org, days: list[datetime.date] | None) -> int:
    """CohortDay: leads by the day they first entered a stage (or were created), and what they reached since.

    `from_stage` "" is the lead's creation; pairs run from each funnel stage
    to every later funnel stage, first entries only. Each lead's first entries
    become one row (a column per stage), and each pair a row of a LATERAL
    VALUES list over it, so no event is joined to another, the lead is joined
    once per lead rather than once per pair, and the aggregate groups small
    keys in memory. (21 UNION ALL scans of the per-lead rows, joined to the
    lead afterwards and sorted on disk to group, took 2 to 2.5 times as long.)"""
    params = _day_params(org, days)
    _delete("measurement_cohortday", org.pk, days)
    stages = _funnel_stages(org)
    if not stages:
        return 0
    params.update({f"s{i}": key for i, key in enumerate(stages)})
    columns = ", ".join(f"min(e.at) FILTER (WHERE e.to_stage = %(s{i})s) AS s{i}" for i in range(len(stages)))
    count = len(stages)
    pairs = [("''", "f.created", f"%(s{j})s", f"f.s{j}") for j in range(count)]
    pairs += [
        (f"%(s{i})s", f"f.s{i}", f"%(s{j})s", f"f.s{j}") for i in range(count) for j in range(i + 1, count)
    ]
    pairs_sql = ",\n                   ".join(f"({a}::text, {b}, {c}::text, {d})" for a, b, c, d in pairs)
    on_days = "TRUE" if days is None else "p.day = ANY(%(days)s)"
    sql = f"""
    WITH f AS (
        SELECT e.lead_id, min(e.at) AS created, {columns}
        FROM records_stageevent e
        WHERE e.organization_id = %(org)s {_event_scope(days)}
        GROUP BY e.lead_id
    ),
    {_lead_dims(days)},
    p AS (
        SELECT (q.from_at AT TIME ZONE %(tz)s)::date AS day, q.from_stage, q.to_stage, l.dim,
               count(*) AS reached, sum(round(extract(epoch FROM q.to_at - q.from_at))::bigint) AS seconds
        FROM f
        JOIN leads l ON l.id = f.lead_id
        CROSS JOIN LATERAL (
            VALUES {pairs_sql}
        ) q (from_stage, from_at, to_stage, to_at)
        WHERE q.from_at IS NOT NULL AND q.to_at >= q.from_at
        GROUP BY 1, 2, 3, 4
    )
    INSERT INTO measurement_cohortday (
        organization_id, created_at, updated_at, day, from_stage, to_stage, channel, campaign, owner_id,
        reached, lag_seconds
    )
    SELECT %(org)s, %(now)s, %(now)s, p.day, p.from_stage, p.to_stage, d.channel, d.campaign,
           nullif(d.owner, 0), p.reached, p.seconds
    FROM p JOIN dims d USING (dim)
    WHERE {on_days}
    """
    return _execute(sql, params)


def build_opportunities(org) -> int:
    """OpportunityDay, rebuilt whole: opportunities are few next to events, and an edit can move any date."""
    params = _day_params(org, None)
    _delete("measurement_opportunityday", org.pk, None)
    sql = """
    WITH o AS (
        SELECT o.created_date, o.close_date, o.status, o.amount, o.type, o.owner_id,
               coalesce(l.channel, '') AS channel, coalesce(l.utm_campaign, '') AS campaign
        FROM records_opportunity o LEFT JOIN records_lead l ON l.id = o.primary_contact_id
        WHERE o.organization_id = %(org)s
    ),
    facts AS (
        SELECT created_date AS day, channel, campaign, owner_id, type,
               1 AS created, amount AS created_amount, 0 AS won, 0 AS won_amount, 0 AS lost, 0 AS lost_amount,
               0 AS cycle
        FROM o
        UNION ALL
        SELECT close_date, channel, campaign, owner_id, type, 0, 0,
               (status = 'won')::int, CASE WHEN status = 'won' THEN amount ELSE 0 END,
               (status = 'lost')::int, CASE WHEN status = 'lost' THEN amount ELSE 0 END,
               CASE WHEN status = 'won' THEN close_date - created_date ELSE 0 END
        FROM o WHERE status IN ('won', 'lost') AND close_date IS NOT NULL
    )
    INSERT INTO measurement_opportunityday (
        organization_id, created_at, updated_at, day, channel, campaign, owner_id, type,
        created, created_amount, won, won_amount, lost, lost_amount, won_cycle_days
    )
    SELECT %(org)s, %(now)s, %(now)s, day, channel, campaign, owner_id, type,
           sum(created), sum(created_amount), sum(won), sum(won_amount), sum(lost), sum(lost_amount),
           sum(cycle)
    FROM facts GROUP BY day, channel, campaign, owner_id, type
    """
    return _execute(sql, params)


def build_pipeline(org, deals: list[int] | None = None) -> int:
    """PipelineSpell: every open snapshot with a close date of the deals' histories, with when the deal's
    next snapshot came and what it said. `deals` limits the rebuild to those opportunities (whose history
    grew); None rebuilds the organisation. A deleted deal keeps its history but gets no rows."""
    params = {"org": org.pk, "now": datetime.datetime.now(datetime.UTC), "deals": deals}
    params["month"] = org.fiscal_year_start_month
    only = "" if deals is None else "AND opportunity_id = ANY(%(deals)s)"
    delete = f"DELETE FROM measurement_pipelinespell WHERE organization_id = %(org)s {only}"
    with connection.cursor() as cursor:
        cursor.execute(delete, params)
    only = "" if deals is None else "AND e.pgh_obj_id = ANY(%(deals)s)"
    sql = f"""
    WITH ev AS (
        SELECT e.pgh_obj_id AS opp, e.pgh_id, e.pgh_created_at AS at, e.amount, e.status, e.close_date,
               lead(e.pgh_created_at) OVER w AS next_at, lead(e.status) OVER w AS next_status,
               lead(e.amount) OVER w AS next_amount, min(e.pgh_created_at) OVER (PARTITION BY e.pgh_obj_id)
                   AS first_seen
        FROM records_opportunityevent e
        WHERE e.organization_id = %(org)s {only}
        WINDOW w AS (PARTITION BY e.pgh_obj_id ORDER BY e.pgh_created_at, e.pgh_id)
    )
    INSERT INTO measurement_pipelinespell (
        organization_id, created_at, updated_at, quarter_start, opportunity_id, snapshot_id, entered_at,
        left_at, amount, next_status, next_amount, first_seen, type, owner_id, channel, campaign
    )
    SELECT %(org)s, %(now)s, %(now)s,
           -- The fiscal quarter holding the close date: quarters start every third month from `month`.
           (date_trunc('month', ev.close_date) - make_interval(
               months => (extract(month FROM ev.close_date)::int - %(month)s + 12) %% 3))::date,
           ev.opp, ev.pgh_id, ev.at, ev.next_at, ev.amount, coalesce(ev.next_status, ''), ev.next_amount,
           ev.first_seen, o.type, o.owner_id, coalesce(l.channel, ''), coalesce(l.utm_campaign, '')
    FROM ev
    JOIN records_opportunity o ON o.id = ev.opp
    LEFT JOIN records_lead l ON l.id = o.primary_contact_id
    WHERE ev.status = 'open' AND ev.close_date IS NOT NULL
    """
    return _execute(sql, params)


def build_responses(org, days: list[datetime.date] | None) -> int:
    """ResponseDay: assignments by the day they were offered."""
    params = _day_params(org, days)
    _delete("measurement_responseday", org.pk, days)
    scope = "" if days is None else "AND a.offered_at >= %(lo)s AND a.offered_at < %(hi)s"
    on_days = "TRUE" if days is None else "day = ANY(%(days)s)"
    keys = f"day, {_DIMS}, reason"
    sql = f"""
    WITH a AS (
        SELECT a.*, (a.offered_at AT TIME ZONE %(tz)s)::date AS day,
               NOT EXISTS (
                   SELECT 1 FROM execution_assignment p
                   WHERE p.lead_id = a.lead_id AND (p.offered_at, p.id) < (a.offered_at, a.id)
               ) AS first
        FROM execution_assignment a
        WHERE a.organization_id = %(org)s {scope}
    ),
    b AS (
        SELECT a.day, coalesce(l.channel, '') AS channel, l.utm_campaign AS campaign, a.assignee_id AS owner,
               coalesce(r.key, '') AS reason, a.status, a.first,
               a.accepted_at IS NOT NULL AS accepted, a.rejected_at IS NOT NULL AS rejected,
               a.first_touch_at IS NOT NULL AS touched,
               {_clamp(_first("a.offered_at - l.captured_at"))} AS system_s,
               {_clamp("extract(epoch FROM a.accepted_at - a.offered_at)")} AS accept_s,
               {_clamp("extract(epoch FROM a.first_touch_at - a.offered_at)")} AS touch_s,
               {_clamp(_first("a.first_touch_at - l.captured_at"))} AS speed_s,
               t.timers, t.met, t.breached
        FROM a
        JOIN records_lead l ON l.id = a.lead_id
        LEFT JOIN execution_rejectreason r ON r.id = a.reject_reason_id
        LEFT JOIN LATERAL (
            SELECT count(*) AS timers, count(*) FILTER (WHERE status = 'met') AS met,
                   count(*) FILTER (WHERE status = 'breached' OR breached_at IS NOT NULL) AS breached
            FROM execution_slatimer WHERE assignment_id = a.id
        ) t ON TRUE
        WHERE {on_days}
    ),
    g AS (
        SELECT {keys}, count(*) AS assignments, count(*) FILTER (WHERE first) AS first_assignments,
               count(*) FILTER (WHERE accepted) AS accepted, count(*) FILTER (WHERE rejected) AS rejected,
               count(*) FILTER (WHERE touched) AS touched,
               count(speed_s) AS speed_touched,
               coalesce(sum(round(system_s)), 0)::bigint AS system_seconds,
               coalesce(sum(round(accept_s)), 0)::bigint AS accept_seconds,
               coalesce(sum(round(touch_s)), 0)::bigint AS touch_seconds,
               coalesce(sum(round(speed_s)), 0)::bigint AS speed_seconds,
               sum(timers) AS timers, sum(met) AS met, sum(breached) AS breached
        FROM b GROUP BY {keys}
    ),
    {_sketch("s1", "b", keys, "system_s")},
    {_sketch("s2", "b", keys, "accept_s")},
    {_sketch("s3", "b", keys, "touch_s")},
    {_sketch("s4", "b", keys, "speed_s")}
    INSERT INTO measurement_responseday (
        organization_id, created_at, updated_at, day, channel, campaign, owner_id, reject_reason,
        assignments, first_assignments, accepted, rejected, touched,
        system_seconds, system_sketch, accept_seconds, accept_sketch, touch_seconds, touch_sketch,
        speed_touched, speed_seconds, speed_sketch, sla_timers, sla_met, sla_breached
    )
    SELECT %(org)s, %(now)s, %(now)s, day, channel, campaign, owner, reason,
           assignments, first_assignments, accepted, rejected, touched,
           system_seconds, coalesce(s1.sk, '{{}}'), accept_seconds, coalesce(s2.sk, '{{}}'),
           touch_seconds, coalesce(s3.sk, '{{}}'), speed_touched, speed_seconds, coalesce(s4.sk, '{{}}'),
           timers, met, breached
    FROM g
    LEFT JOIN s1 USING ({keys}) LEFT JOIN s2 USING ({keys})
    LEFT JOIN s3 USING ({keys}) LEFT JOIN s4 USING ({keys})
    """
    return _execute(sql, params)


def build_touches(org, days: list[datetime.date] | None) -> int:
    """TouchDay: marketing touchpoints (rep calls and e-mails logged on leads count too)."""
    params = _day_params(org, days)
    _delete("measurement_touchday", org.pk, days)
    scope = "" if days is None else "AND t.occurred_at >= %(lo)s AND t.occurred_at < %(hi)s"
    on_days = "TRUE" if days is None else "day = ANY(%(days)s)"
    sql = f"""
    WITH t AS (
        SELECT (t.occurred_at AT TIME ZONE %(tz)s)::date AS day, t.channel, t.utm_campaign AS campaign,
               t.lead_id
        FROM records_touchpoint t
        WHERE t.organization_id = %(org)s {scope}
    )
    INSERT INTO measurement_touchday (organization_id, created_at, updated_at, day, channel, campaign,
                                      touches, people)
    SELECT %(org)s, %(now)s, %(now)s, day, channel, campaign, count(*), count(DISTINCT lead_id)
    FROM t WHERE {on_days}
    GROUP BY day, channel, campaign
    """
    return _execute(sql, params)


def build_funnel_channels(org, days: list[datetime.date] | None) -> int:
    """FunnelChannelDay from FunnelDay (built first): the same days summed over owners and campaigns."""
    _delete("measurement_funnelchannelday", org.pk, days)
    sql = """
    WITH f AS (
        SELECT * FROM measurement_funnelday
        WHERE organization_id = %(org)s AND (%(all)s OR day = ANY(%(days)s))
    ),
    sketches AS (
        SELECT day, stage, channel, jsonb_object_agg(bucket, n) AS sk
        FROM (
            SELECT f.day, f.stage, f.channel, e.key AS bucket, sum(e.value::bigint) AS n
            FROM f CROSS JOIN LATERAL jsonb_each_text(f.exit_sketch) AS e
            GROUP BY f.day, f.stage, f.channel, e.key
        ) buckets
        GROUP BY day, stage, channel
    ),
    sums AS (
        SELECT day, stage, channel, sum(created) AS created, sum(created_completeness) AS completeness,
               sum(entries) AS entries, sum(first_entries) AS first_entries, sum(reentries) AS reentries,
               sum(skips) AS skips, sum(exits) AS exits, sum(exit_seconds) AS exit_seconds
        FROM f GROUP BY day, stage, channel
    )
    INSERT INTO measurement_funnelchannelday (
        organization_id, created_at, updated_at, day, stage, channel, created, created_completeness,
        entries, first_entries, reentries, skips, exits, exit_seconds, exit_sketch
    )
    SELECT %(org)s, %(now)s, %(now)s, day, stage, channel, created, completeness,
           entries, first_entries, reentries, skips, exits, exit_seconds, coalesce(sk, '{}'::jsonb)
    FROM sums LEFT JOIN sketches USING (day, stage, channel)
    """
    return _execute(sql, _coarse_params(org, days))


def build_cohort_channels(org, days: list[datetime.date] | None) -> int:
    """CohortChannelDay from CohortDay (built first): summed over owners and campaigns."""
    _delete("measurement_cohortchannelday", org.pk, days)
    sql = """
    INSERT INTO measurement_cohortchannelday (
        organization_id, created_at, updated_at, day, from_stage, to_stage, channel, reached, lag_seconds
    )
    SELECT %(org)s, %(now)s, %(now)s, day, from_stage, to_stage, channel, sum(reached), sum(lag_seconds)
    FROM measurement_cohortday
    WHERE organization_id = %(org)s AND (%(all)s OR day = ANY(%(days)s))
    GROUP BY day, from_stage, to_stage, channel
    """
    return _execute(sql, _coarse_params(org, days))


def _coarse_params(org, days: list[datetime.date] | None) -> dict:
    return {
        "org": org.pk,
        "all": days is None,
        "days": days or [],
        "now": datetime.datetime.now(datetime.UTC),
    }
