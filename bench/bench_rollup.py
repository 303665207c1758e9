"""Nightly rollups at a million leads: a full rebuild against one GROUP BY, an incremental day, memory.

The organisation `bench-rollup-<N>` holds `N = 1,000,000 x BENCH_SCALE` leads
(at least 10,000) with about ten stage events and ten touchpoints each, loaded
once by `manage.py seed_bench` (eight sales reps own the leads past Inquiry)
and reused by later runs. Then, in the same run:

1. baseline: `SELECT lead_id, count(*), min(at), max(at) FROM records_stageevent
   WHERE organization_id = ... GROUP BY lead_id`, read whole (wrapped in an
   outer aggregate over every column, so the planner cannot drop any of the
   work); the median of three runs before and three after the full rollup,
   after a warm-up.
2. full: `rollup(org, full=True)` in a fresh process (`python -m
   bench.bench_rollup rollup SLUG full`), timed around the call; its peak RSS
   from getrusage. Target: at most 6x the baseline, and under 1 GB.
3. one more day: a day's worth of rows (a 365th of the leads, stage events and
   touchpoints), dated yesterday, is written as an import would: new leads with
   their first event; a next stage for leads captured in the 18 days before (the
   longest a seeded lead's walk lasts) with no event yesterday yet; touchpoints
   on the leads of those days. Then the nightly run, `rollup(org)` (the dirty
   days only), in a fresh process. Target: at most 5 % of the full run.
4. check: the facts after the incremental run are copied aside, a full rollup
   rebuilds them, and the two sets must be identical.

Rows a previous run added for its extra day are deleted at the start, so the
data is the same in every run, and the fact tables are vacuumed.
"""

import json
import statistics
import sys
import time

import psycopg2

from bench.support import bench_database_url, django_env, project_run

FULL_SCALE_LEADS = 1_000_000
MIN_LEADS = 10_000
REPS = 8
FULL_TARGET = 6.0  # full rollup / GROUP BY lead_id
INCREMENTAL_TARGET = 0.05  # incremental one-day rollup / full rollup
RSS_BUDGET_MB = 1024
BASELINE_RUNS = 3
DAY_MARK = "bench-day"  # external ids and the stage events' reason of the extra day's rows

BASELINE_SQL = """
    SELECT count(*), sum(c), sum(extract(epoch FROM last_at - first_at))
    FROM (
        SELECT lead_id, count(*) AS c, min(at) AS first_at, max(at) AS last_at
        FROM records_stageevent WHERE organization_id = %s GROUP BY lead_id
    ) s
"""


def _inprocess(env: dict[str, str], *args: str) -> dict:
    return json.loads(project_run("-m", "bench.bench_rollup", *args, env=env).strip().splitlines()[-1])


def _shape(node: dict) -> str:
    name = node["Node Type"]
    if node.get("Workers Planned"):
        name += f" ({node['Workers Planned']} workers)"
    children = node.get("Plans", [])
    return name + (" > " + " + ".join(_shape(c) for c in children) if children else "")


def baseline(db_url: str, org_id: int, runs: int) -> tuple[list[float], str]:
    """Seconds of each timed GROUP BY lead_id, and the plan's shape."""
    seconds = []
    with psycopg2.connect(db_url) as connection, connection.cursor() as cursor:
        for _ in range(runs):
            started = time.perf_counter()
            cursor.execute(BASELINE_SQL, [org_id])
            cursor.fetchall()
            seconds.append(time.perf_counter() - started)
        cursor.execute("EXPLAIN (FORMAT JSON) " + BASELINE_SQL, [org_id])
        plan = _shape(cursor.fetchone()[0][0]["Plan"])
    connection.close()
    return seconds, plan


def _steps(measured: dict) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in measured["steps"].items())


def run(scale: float) -> list[dict]:
    db_url = bench_database_url()
    env = django_env(DATABASE_URL=db_url)
    project_run("manage.py", "migrate", "--noinput", env=env)
    leads = max(MIN_LEADS, int(FULL_SCALE_LEADS * scale))
    slug = f"bench-rollup-{leads}"
    info = _inprocess(env, "prepare", slug)
    seeded = None
    if info["leads"] == 0:
        print(f"seeding {slug}: {leads:,} leads (once; later runs reuse it) ...", flush=True)
        started = time.monotonic()
        project_run("manage.py", "seed_bench", "--org", slug, "--leads", str(leads), env=env, echo=True)
        seeded = time.monotonic() - started
        info = _inprocess(env, "prepare", slug)
    if info["leads"] != leads:
        raise RuntimeError(f"{slug} holds {info['leads']} leads, not {leads}; drop it to reseed.")

    baseline(db_url, info["org_id"], 1)  # warm-up: the same pages in cache for both sides
    before, plan = baseline(db_url, info["org_id"], BASELINE_RUNS)
    full = _inprocess(env, "rollup", slug, "full")
    after, _ = baseline(db_url, info["org_id"], BASELINE_RUNS)
    samples = before + after
    group_by = statistics.median(samples)
    day = _inprocess(env, "day", slug)
    incremental = _inprocess(env, "rollup", slug, "incremental")
    check = _inprocess(env, "verify", slug)

    full_ratio = full["seconds"] / group_by
    incremental_ratio = incremental["seconds"] / full["seconds"]
    size = f"{info['leads']:,} leads, {info['events']:,} stage events, {info['touches']:,} touchpoints"
    rows = ", ".join(f"{name} {count:,}" for name, count in full["rows"].items())
    mismatched = sum(check["mismatched"].values())
    entries = [
        {
            "name": "rollup_full_s",
            "value": full["seconds"],
            "unit": "s",
            "baseline": group_by,
            "ratio": full_ratio,
            "target": FULL_TARGET,
            "pass": full_ratio <= FULL_TARGET,
            "notes": f"{size}; rollup(full=True): {_steps(full)}; rows {rows}; baseline = median of "
            f"{len(samples)} GROUP BY lead_id ({min(samples):.2f}-{max(samples):.2f} s), plan {plan}",
        },
        {
            "name": "rollup_incremental_s",
            "value": incremental["seconds"],
            "unit": "s",
            "baseline": full["seconds"],
            "ratio": incremental_ratio,
            "target": INCREMENTAL_TARGET,
            "pass": incremental_ratio <= INCREMENTAL_TARGET,
            "notes": f"one more day: {day['leads']:,} new leads, {day['events']:,} stage events "
            f"({day['moved']:,} on existing leads), {day['touches']:,} touchpoints written in "
            f"{day['seconds']:.1f} s; the nightly run recomputed {incremental['days']} dirty days: "
            f"{_steps(incremental)}; baseline = the full run",
        },
        {
            "name": "rollup_peak_rss_mb",
            "value": full["peak_rss_mb"],
            "unit": "MB",
            "baseline": RSS_BUDGET_MB,
            "ratio": full["peak_rss_mb"] / RSS_BUDGET_MB,
            "target": 1.0,
            "pass": full["peak_rss_mb"] < RSS_BUDGET_MB,
            "notes": f"peak RSS of the Python process of the full rollup (at start: "
            f"{full['rss_start_mb']:.0f} MB); PostgreSQL's own memory is not counted; "
            f"baseline = the {RSS_BUDGET_MB} MB budget",
        },
        {
            "name": "rollup_incremental_mismatched_rows",
            "value": float(mismatched),
            "unit": "rows",
            "baseline": None,
            "ratio": None,
            "target": 0.0,
            "pass": mismatched == 0,
            "notes": f"fact rows that differ between the incremental run and a full rebuild after it "
            f"({check['rows']:,} rows compared; that full rebuild took {check['seconds']:.1f} s)",
        },
    ]
    if seeded is not None:
        entries.append(
            {
                "name": "rollup_seed_s",
                "value": seeded,
                "unit": "s",
                "baseline": None,
                "ratio": None,
                "target": None,
                "pass": None,
                "notes": f"manage.py seed_bench --leads {leads} (only in the run that seeds)",
            }
        )
    return entries


# --- In-process (bench settings): python -m bench.bench_rollup STEP SLUG [...] ----------------------


def _fact_models(*, attribution: bool):
    """The daily fact models; attribution's Markov credit is refitted by full runs only, so a nightly
    run's may differ from a full rebuild's by design."""
    from django.apps import apps

    return [
        model
        for model in apps.get_app_config("measurement").get_models()
        if model.__name__.endswith("Day")
        and model.__name__ != "DirtyDay"
        and (attribution or model.__name__ != "AttributionDay")
    ]


def _org(slug: str):
    from apps.accounts import services
    from apps.accounts.models import Membership, Organization, User
    from apps.accounts.roles import Role
    from bench.fixtures import EMAIL

    org = Organization.objects.filter(slug=slug).first()
    if org is not None:
        return org
    owner = User.objects.filter(email=EMAIL).first() or services.user_create(
        email=EMAIL, full_name="Benchmark"
    )
    org = services.organization_create(name=f"Benchmark {slug}", owner=owner, slug=slug)
    for n in range(1, REPS + 1):
        email = f"rep{n:02d}@bench.invalid"  # the routing benchmarks' reps, as consultants are
        user = User.objects.filter(email=email).first() or services.user_create(
            email=email, full_name=f"Bench Rep {n:02d}"
        )
        Membership.objects.create(organization=org, user=user, role=Role.SALES_REP)
    return org


def step_prepare(slug: str) -> dict:
    """The organisation (made if missing), without a previous run's extra day; its row counts."""
    from django.db import connection, transaction

    org = _org(slug)
    params = {"org": org.pk, "mark": f"{DAY_MARK}-%", "reason": DAY_MARK}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM records_stageevent WHERE organization_id = %(org)s AND reason = %(reason)s", params
        )
        cursor.execute(
            "DELETE FROM records_touchpoint WHERE organization_id = %(org)s AND external_id LIKE %(mark)s",
            params,
        )
        cursor.execute(
            "DELETE FROM records_lead WHERE organization_id = %(org)s AND external_id LIKE %(mark)s", params
        )
        removed = cursor.rowcount
    counts = {}
    with connection.cursor() as cursor:
        # Each full rollup leaves its organisation's previous facts dead; the server the benchmarks were
        # written on runs without autovacuum, where they piled up to gigabytes and slowed every run.
        tables = ", ".join(model._meta.db_table for model in _fact_models(attribution=True))
        cursor.execute(f"VACUUM ANALYZE {tables}")
        if removed:
            cursor.execute("VACUUM ANALYZE records_lead, records_stageevent, records_touchpoint")
        for name, table in (("leads", "records_lead"), ("events", "records_stageevent"),
                            ("touches", "records_touchpoint")):  # fmt: skip
            cursor.execute(f"SELECT count(*) FROM {table} WHERE organization_id = %s", [org.pk])
            counts[name] = cursor.fetchone()[0]
    return {"org_id": org.pk, **counts}


def _insert_select(table: str, columns: list[str], overrides: dict[str, str], source: str) -> str:
    """INSERT every column of `table` but the id, from `source` (aliased x), some replaced by SQL."""
    names = [c for c in columns if c != "id"]
    values = ", ".join(overrides.get(c, f"x.{c}") for c in names)
    return f"INSERT INTO {table} ({', '.join(names)}) SELECT {values} FROM {source}"


def step_day(slug: str) -> dict:
    """Write one day's worth of rows, dated yesterday (the organisation's local day), as an import would."""
    from django.db import connection, transaction

    from apps.records.benchdata import EVENT_COLUMNS, LEAD_COLUMNS, MAX_EVENTS, TOUCH_COLUMNS

    org = _org(slug)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM records_lead WHERE organization_id = %s", [org.pk]
        )  # before any extra day: prepare removed the last one
        leads = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM records_stageevent WHERE organization_id = %s", [org.pk])
        events = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM records_touchpoint WHERE organization_id = %s", [org.pk])
        touches = cursor.fetchone()[0]
    plan = {"leads": round(leads / 365), "events": round(events / 365), "touches": round(touches / 365)}
    params = {
        "org": org.pk,
        "tz": org.time_zone,
        "reason": DAY_MARK,
        "mark": DAY_MARK,
        "new": plan["leads"],
        "moves": max(0, plan["events"] - plan["leads"]),
        "touches": plan["touches"],
        "walk": MAX_EVENTS - 1,
    }
    # Yesterday in the organisation's time zone, as UTC instants.
    day = "((now() AT TIME ZONE %(tz)s)::date - 1)"
    start = f"({day}::timestamp AT TIME ZONE %(tz)s)"
    at = f"({start} + random() * interval '1 day' * 0.999)"

    def latest(table: str) -> str:
        """Ids of the organisation's 10,000 latest rows of a table, to copy rows from."""
        return (
            f"(SELECT array_agg(id) AS ids FROM (SELECT id FROM {table} WHERE organization_id = %(org)s "
            "ORDER BY id DESC LIMIT 10000) r)"
        )

    def pick(ids: str) -> str:
        return f"{ids}[1 + floor(random() * cardinality({ids}))::int]"

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.5)")
        # New leads, each like a random existing one, and their first event.
        new_leads = _insert_select(
            "records_lead",
            LEAD_COLUMNS,
            {
                "created_at": "now()",
                "updated_at": "now()",
                "external_id": "%(mark)s || '-' || g.n",
                "email": "%(mark)s || '-' || g.n || '@bench.example'",
                "stage_id": "s.id",
                "stage_entered_at": "g.at",
                "captured_at": "g.at",
                "owner_id": "NULL",
            },
            f"""(SELECT n, {at} AS at, {pick("t.ids")} AS template
                 FROM generate_series(1, %(new)s) AS n, {latest("records_lead")} t) g
                JOIN records_lead x ON x.id = g.template
                JOIN records_lifecyclestage s ON s.organization_id = %(org)s AND s.key = 'inquiry'""",
        )
        first_events = _insert_select(
            "records_stageevent",
            EVENT_COLUMNS,
            {
                "created_at": "now()",
                "updated_at": "now()",
                "organization_id": "%(org)s",
                "lead_id": "x.id",
                "from_stage": "''",
                "to_stage": "'inquiry'",
                "actor_id": "NULL",
                "api_key_prefix": "''",
                "reason": "%(reason)s",
                "origin": "'import'",
                "at": "x.captured_at",
            },
            "new_leads x",
        )
        cursor.execute(f"WITH new_leads AS ({new_leads} RETURNING id, captured_at) {first_events}", params)
        created = cursor.rowcount
        # A next stage for leads still in their walk: captured in the days a seeded walk lasts at most,
        # without an event yesterday yet (the seed spaces a lead's events at most a day apart). The
        # lead rows stay as they are (an import of events; the rollups read the events and a new
        # event makes its lead's days dirty anyway), so deleting the events restores the seed.
        moves = _insert_select(
            "records_stageevent",
            EVENT_COLUMNS,
            {
                "created_at": "now()",
                "updated_at": "now()",
                "organization_id": "%(org)s",
                "lead_id": "x.id",
                "from_stage": "x.stage",
                "to_stage": "x.next",
                "actor_id": "NULL",
                "api_key_prefix": "''",
                "reason": "%(reason)s",
                "origin": "'import'",
                "at": "x.at",
            },
            "moved x",
        )
        cursor.execute(
            f"""
            WITH recent AS (
                SELECT l.id AS lead_id FROM records_lead l
                WHERE l.organization_id = %(org)s AND l.captured_at < {start}
                  AND l.captured_at >= {start} - %(walk)s * interval '1 day'
                  AND NOT EXISTS (
                      SELECT 1 FROM records_stageevent e
                      WHERE e.organization_id = %(org)s AND e.lead_id = l.id AND e.at >= {start}
                  )
            ),
            moved AS (
                SELECT l.id, st.key AS stage,
                       CASE st.key WHEN 'inquiry' THEN 'mql' WHEN 'mql' THEN 'sal' WHEN 'sal' THEN 'sql'
                                   WHEN 'sql' THEN 'opportunity' WHEN 'opportunity' THEN 'customer'
                                   WHEN 'recycled' THEN 'mql' ELSE 'recycled' END AS next,
                       {at} AS at
                FROM recent JOIN records_lead l ON l.id = recent.lead_id
                JOIN records_lifecyclestage st ON st.id = l.stage_id
                ORDER BY random() LIMIT %(moves)s
            )
            {moves}
            """,
            params,
        )
        moved = cursor.rowcount
        # Touchpoints of the day: each like a recent one of the organisation's, on a lead of those days.
        cursor.execute(
            _insert_select(
                "records_touchpoint",
                TOUCH_COLUMNS,
                {
                    "created_at": "now()",
                    "updated_at": "now()",
                    "external_id": "%(mark)s || '-t-' || g.n",
                    "lead_id": "g.lead",
                    "occurred_at": "g.at",
                },
                f"""(SELECT n, {at} AS at, {pick("t.ids")} AS template, {pick("r.ids")} AS lead
                     FROM generate_series(1, %(touches)s) AS n, {latest("records_touchpoint")} t,
                          (SELECT array_agg(id) AS ids FROM records_lead
                           WHERE organization_id = %(org)s
                             AND captured_at >= {start} - %(walk)s * interval '1 day') r) g
                    JOIN records_touchpoint x ON x.id = g.template""",
            ),
            params,
        )
        touched = cursor.rowcount
    return {
        "leads": created,
        "events": created + moved,
        "moved": moved,
        "touches": touched,
        "seconds": time.monotonic() - started,
    }


def step_rollup(slug: str, kind: str) -> dict:
    """One rollup in this process, timed around the call, with the peak RSS of the process.

    The builders and the dirty-day query are wrapped with timers, for where the time goes."""
    import resource

    from apps.measurement import facts
    from apps.measurement.services import rollup

    org = _org(slug)
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steps: dict[str, float] = {}

    def timed(module, name: str, label: str) -> None:
        original = getattr(module, name, None)
        if original is None:
            return

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                steps[label] = steps.get(label, 0.0) + time.perf_counter() - started

        setattr(module, name, wrapper)

    timed(rollup, "dirty_days_by_table", "dirty days")
    for name in [name for name in vars(facts) if name.startswith("build_")]:
        timed(facts, name, name.removeprefix("build_").replace("_", " "))
    if hasattr(rollup, "attribution"):
        timed(rollup.attribution, "days_to_rebuild", "attribution days")
        timed(rollup.attribution, "rebuild", "attribution")
    started = time.perf_counter()
    result = rollup.rollup(org, full=kind == "full")
    seconds = time.perf_counter() - started
    if result.skipped:
        raise RuntimeError(f"another rollup of {slug} was running")
    return {
        "seconds": seconds,
        "days": result.days,
        "rows": result.rows,
        "steps": steps,
        "rss_start_mb": rss_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def step_verify(slug: str) -> dict:
    """Copy the facts aside, rebuild them in full, and count the rows that differ (ids and times aside)."""
    from django.db import connection, models

    from apps.measurement.services import rollup

    org = _org(slug)
    columns = {}  # table -> (column, the expression compared)
    for model in _fact_models(attribution=False):
        fields = [f for f in model._meta.concrete_fields if f.name not in ("id", "created_at", "updated_at")]
        # Sums of floats may differ in the last bits with the order they were added in.
        columns[model._meta.db_table] = [
            (f.column, f"round({f.column}::numeric, 6)" if isinstance(f, models.FloatField) else f.column)
            for f in fields
        ]

    def facts(table: str) -> str:
        compared = ", ".join(f"{expression} AS {column}" for column, expression in columns[table])
        return f"SELECT {compared} FROM {table} WHERE organization_id = %(org)s"

    rows = 0
    with connection.cursor() as cursor:
        for table in columns:
            cursor.execute(f"CREATE TEMP TABLE before_{table} AS {facts(table)}", {"org": org.pk})
            rows += cursor.rowcount
    started = time.perf_counter()
    rollup.rollup(org, full=True)
    seconds = time.perf_counter() - started
    mismatched = {}
    with connection.cursor() as cursor:
        for table, pairs in columns.items():
            old = f"SELECT {', '.join(column for column, _ in pairs)} FROM before_{table}"
            cursor.execute(
                f"SELECT (SELECT count(*) FROM ({facts(table)} EXCEPT ALL {old}) a)"
                f" + (SELECT count(*) FROM ({old} EXCEPT ALL {facts(table)}) b)",
                {"org": org.pk},
            )
            mismatched[table] = cursor.fetchone()[0]
    return {"rows": rows, "mismatched": mismatched, "seconds": seconds}


if __name__ == "__main__":
    import django

    steps = {"prepare": step_prepare, "day": step_day, "rollup": step_rollup, "verify": step_verify}
    if len(sys.argv) < 3 or sys.argv[1] not in steps:
        sys.exit("usage: python -m bench.bench_rollup prepare|day|verify SLUG | rollup SLUG full|incremental")
    django.setup()
    print(json.dumps(steps[sys.argv[1]](*sys.argv[2:])))
