"""Segment membership at a million leads: a full recompute against one UPDATE of the same rows.

The organisation `bench-segments-<N>` holds `N = 1,000,000 x BENCH_SCALE` leads
(at least 10,000) and an account per four leads (a tenth of the leads have
none), loaded once with INSERT ... SELECT generate_series and ANALYZEd, then
reused. Its segment "bench-icp" scores four rules over the lead and its
account (industry, employees, country, title; threshold 60), as an ICP would.

In the same run, each timed three times after a warm-up, medians reported:

1. baseline: one `UPDATE records_lead SET completeness = <the fit score> FROM
   (<the same scoring query>) WHERE <score reaches the threshold>`: the same
   rows, the same predicate and value expression, rolled back. `completeness`
   is not tracked by the audit history, so no history rows are written.
2. cold recompute: `segment_recompute` with no memberships yet, every member
   inserted (rolled back, so each run starts from nothing).
3. warm recompute: the nightly case, the memberships already there and
   unchanged (one committed recompute first).
4. read (informational): the scoring query alone, `SELECT count(*)` of the
   members, to show how much of each figure is reading and scoring.

Target: the cold recompute at most 3x the baseline.
"""

import json
import statistics
import sys
import time

from bench.support import bench_database_url, django_env, project_run

FULL_SCALE_LEADS = 1_000_000
MIN_LEADS = 10_000
TARGET = 3.0
RUNS = 3
KEY = "bench-icp"
RULES = [
    {"name": "Industry", "points": 30,
     "conditions": [{"field": "account.industry", "op": "in", "value": ["Software", "Financial services"]}]},
    {"name": "Size", "points": 40, "conditions": [{"field": "account.employees", "op": "gte", "value": 200}]},
    {"name": "Market", "points": 20,
     "conditions": [{"field": "country", "op": "in", "value": ["US", "GB", "DE"]}]},
    {"name": "Senior", "points": 10, "conditions": [{"field": "title", "op": "contains", "value": "vp"}]},
]  # fmt: skip

ACCOUNTS_SQL = """
INSERT INTO records_account (organization_id, created_at, updated_at, name, domain, industry, employees,
                             country, region, custom, completeness)
SELECT %(org)s, now(), now(), 'Account ' || g, 'acct' || g || '.bench.invalid',
       (ARRAY['Software', 'Financial services', 'Manufacturing', 'Healthcare', 'Retail & e-commerce',
              'Logistics', ''])[1 + g %% 7],
       (ARRAY[5, 30, 120, 450, 2200, 12000, NULL])[1 + (g * 3) %% 7],
       (ARRAY['US', 'GB', 'DE', 'FR', 'IN', 'BR'])[1 + (g * 5) %% 6], '', '{}'::jsonb, 0
FROM generate_series(1, %(accounts)s) AS g
"""

LEADS_SQL = """
WITH a AS (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM records_account WHERE organization_id = %(org)s
)
INSERT INTO records_lead (organization_id, created_at, updated_at, email, first_name, last_name, title, phone,
                          company, country, source, channel, utm_source, utm_medium, utm_campaign, utm_term,
                          utm_content, custom, stage_id, stage_entered_at, score, captured_at, completeness,
                          account_id)
SELECT %(org)s, now(), now(), 'lead' || g || '@bench.invalid', 'First' || g, 'Last' || g,
       (ARRAY['VP Marketing', 'Engineer', 'Head of Sales', 'Analyst', 'CFO', 'VP Engineering', ''])
           [1 + g %% 7],
       '', 'Company ' || g, (ARRAY['US', 'GB', 'DE', 'FR', 'IN', 'BR', 'JP', ''])[1 + (g * 13) %% 8],
       'web', 'Organic', '', '', '', '', '', '{}'::jsonb, %(stage)s, now(), 0, now(), 0,
       CASE WHEN g %% 10 = 0 THEN NULL ELSE a.id END
FROM generate_series(1, %(leads)s) AS g
LEFT JOIN a ON a.n = g %% %(accounts)s
"""


def _inprocess(env: dict[str, str], *args: str) -> dict:
    return json.loads(project_run("-m", "bench.bench_segments", *args, env=env).strip().splitlines()[-1])


def run(scale: float) -> list[dict]:
    db_url = bench_database_url()
    env = django_env(DATABASE_URL=db_url)
    project_run("manage.py", "migrate", "--noinput", env=env)
    leads = max(MIN_LEADS, int(FULL_SCALE_LEADS * scale))
    slug = f"bench-segments-{leads}"
    print(f"preparing {slug}: {leads:,} leads (loaded once; later runs reuse them) ...", flush=True)
    info = _inprocess(env, "prepare", slug, str(leads))
    measured = _inprocess(env, "measure", slug)
    baseline, cold, warm = measured["baseline"], measured["cold"], measured["warm"]
    size = f"{info['leads']:,} leads, {measured['members']:,} members"
    loaded = f"; loaded in {info['load_seconds']:.1f} s" if info.get("load_seconds") else ""
    return [
        {
            "name": "segment_recompute_s",
            "value": cold,
            "unit": "s",
            "baseline": baseline,
            "ratio": cold / baseline,
            "target": TARGET,
            "pass": cold / baseline <= TARGET,
            "notes": f"{size}; cold (every member inserted) vs UPDATE of the same rows{loaded}",
        },
        {
            "name": "segment_scoring_read_s",
            "value": measured["read"],
            "unit": "s",
            "baseline": baseline,
            "ratio": measured["read"] / baseline,
            "target": None,
            "pass": None,
            "notes": "the scoring query alone (count of the members): what every write above starts from",
        },
        {
            "name": "segment_recompute_warm_s",
            "value": warm,
            "unit": "s",
            "baseline": baseline,
            "ratio": warm / baseline,
            "target": None,
            "pass": None,
            "notes": "the nightly case: memberships already there and unchanged",
        },
    ]


# --- In the project process -------------------------------------------------------------------------


def step_prepare(slug: str, leads: str) -> dict:
    """The organisation, its accounts and leads (loaded when missing), analysed."""
    from django.db import connection, transaction

    from apps.records.models import LifecycleStage
    from apps.records.services import stages_install_defaults
    from bench.bench_rollup import _org

    org = _org(slug)
    stages_install_defaults(org=org)
    leads = int(leads)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM records_lead WHERE organization_id = %s", [org.pk])
        have = cursor.fetchone()[0]
    load_seconds = None
    if have != leads:
        if have:
            raise RuntimeError(f"{slug} holds {have} leads, not {leads}; drop it to reload.")
        started = time.monotonic()
        stage = LifecycleStage.objects.for_org(org).get(key="inquiry").pk
        params = {"org": org.pk, "leads": leads, "accounts": max(1, leads // 4), "stage": stage}
        with transaction.atomic(), connection.cursor() as cursor:
            # As seed_bench does (apps/records/benchdata.py): foreign keys checked per statement, not
            # queued to commit, and no audit history for synthetic rows. The history triggers open a
            # subtransaction per row, and each rescans a queue of deferred checks: quadratic.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "SELECT set_config('pgtrigger.ignore', coalesce(array_agg(tgname::text), '{}')::text, true) "
                "FROM pg_trigger WHERE tgrelid = ANY(%s::regclass[]) AND tgname LIKE %s",
                [["records_account", "records_lead"], "pgtrigger_insert_insert_%"],
            )
            cursor.execute(ACCOUNTS_SQL, params)
            cursor.execute(LEADS_SQL, params)
        load_seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        # Autovacuum is off on the benchmark server: statistics and dead rows are ours to handle.
        cursor.execute("VACUUM ANALYZE records_account, records_lead, strategy_segmentmembership")
    return {"org_id": org.pk, "leads": leads, "load_seconds": load_seconds}


def _segment(org):
    from apps.strategy.models import Segment
    from apps.strategy.services import segments

    segment = Segment.objects.for_org(org).filter(key=KEY).first()
    if segment is None:
        return segments.segment_create(org=org, key=KEY, name="Bench ICP", rules=RULES, threshold=60)
    return segments.segment_update(org=org, segment=segment, rules=RULES, threshold=60)


def _timed(work) -> float:
    """Seconds `work` takes inside a transaction that is then rolled back."""
    from django.db import transaction

    with transaction.atomic():
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def step_measure(slug: str) -> dict:
    from django.db import connection

    from apps.accounts.models import Organization
    from apps.strategy.models import SegmentMembership
    from apps.strategy.segments import sql
    from apps.strategy.services import segments

    org = Organization.objects.get(slug=slug)
    segment = _segment(org)  # saving recomputes: the memberships now exist (the warm state)
    members = SegmentMembership.objects.for_org(org).filter(segment=segment).count()
    params = sql._Params()
    scored = sql._scored([segment], "lead", sql.ALL, params)
    update = (
        f"UPDATE records_lead u SET completeness = s.score FROM ({scored}) s "
        "WHERE u.id = s.record_id AND s.score >= s.threshold"
    )
    run_params = {**params.values, **sql.run_params(org.pk, segment.updated_at)}

    def baseline():
        with connection.cursor() as cursor:
            cursor.execute(update, run_params)
            if cursor.rowcount != members:
                raise RuntimeError(f"the UPDATE touched {cursor.rowcount} rows, not the {members} members")

    count = f"SELECT count(*) FROM ({scored}) s WHERE s.score >= s.threshold"

    def read():
        with connection.cursor() as cursor:
            cursor.execute(count, run_params)
            if cursor.fetchone()[0] != members:
                raise RuntimeError("the scoring query disagrees with the memberships")

    def cold():
        result = segments.segment_recompute(org=org, segment=segment)
        if result.members != members or result.written != members:
            raise RuntimeError(f"the cold recompute found {result}, not {members} members")

    def warm():
        result = segments.segment_recompute(org=org, segment=segment)
        if result.written or result.removed:
            raise RuntimeError(f"the warm recompute changed {result}")

    def vacuum():
        with connection.cursor() as cursor:  # rolled-back rows are dead rows; nobody else clears them
            cursor.execute("VACUUM records_lead, strategy_segmentmembership")

    SegmentMembership.objects.for_org(org).filter(segment=segment).delete()
    vacuum()
    _timed(baseline)  # warm-up: the same pages in cache for every side
    samples = {"baseline": [], "read": [], "cold": [], "warm": []}
    for _ in range(RUNS):
        samples["read"].append(_timed(read))
        samples["baseline"].append(_timed(baseline))
        vacuum()
        samples["cold"].append(_timed(cold))
        vacuum()
    segments.segment_recompute(org=org, segment=segment)  # committed: the nightly starting point
    for _ in range(RUNS):
        samples["warm"].append(_timed(warm))
    vacuum()
    return {"members": members, **{name: statistics.median(values) for name, values in samples.items()}}


if __name__ == "__main__":
    import django

    steps = {"prepare": step_prepare, "measure": step_measure}
    if len(sys.argv) < 3 or sys.argv[1] not in steps:
        sys.exit("usage: python -m bench.bench_segments prepare SLUG LEADS | measure SLUG")
    django.setup()
    print(json.dumps(steps[sys.argv[1]](*sys.argv[2:])))
