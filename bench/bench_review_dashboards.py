"""The review dashboards' server time against the time of the rollup queries they run, same requests.

The organisation is `bench-leads-<N>` of bench_records_api (`N = 1,000,000 x
BENCH_SCALE` leads with about ten stage events each, seeded once and reused),
its facts rolled up (`manage.py rollup --full`, only when it has none yet).
`python -m bench.bench_review_dashboards measure --org SLUG` (bench settings) then
requests each dashboard page in process through Django's test client, logged
in as the benchmark user, one request at a time after a warm-up:

| page | range |
|---|---|
| weekly: `GET /o/<slug>/measurement/weekly/` | the 7 days ending on the last day with facts |
| quarterly: `GET /o/<slug>/measurement/quarterly/` | the 90 days ending there |
| funnel: `GET /o/<slug>/measurement/funnel/` | the 90 days ending there |
| pipeline: `GET /o/<slug>/measurement/pipeline/` | the 90 days ending there |

The pipeline waterfall reads the opportunities' history (pghistory snapshots)
through its rollup rows (`measurement_pipelinespell`, see
apps.measurement.pipeline). The bench loader writes deals without their audit
trail, so `python -m bench.bench_review_dashboards history --org SLUG` writes
it once from each deal's own dates (created open, every fifth open deal pushed
out 20 days in, won or lost on its close date), then rebuilds those rows whole,
as every rollup run does, and reports how long that took.

Each request's server time (middleware, views, every query, the template) is
timed, and so are the SQL statements it runs against the rollup fact tables
(`measurement_*`, and the customers table the retention metrics read): the
baseline is that sum for the same request.

The dashboards cache what they compute until the next rollup finishes
(apps.measurement.dashboards.base.cached), so a review's repeated reads are
"warm" requests; `?fresh=1` recomputes everything, the "cold" path a page
takes once after each rollup. Both are measured: warm p95 against the target
of 300 ms; cold p95 against 300 ms and against 3x the p95 of the rollup queries
the cold requests run (a warm request runs almost none, so it has no ratio).
"""

import argparse
import datetime
import json
import sys
import time

import psycopg2

from bench.bench_records_api import FULL_SCALE_LEADS, _prepare
from bench.support import bench_database_url, django_env, project_run
from bench.support import percentile as pct

TARGET_MS = 300.0
TARGET_RATIO = 3.0
REQUESTS = 40
WARM_UP = 3
DASHBOARDS = {"weekly": 7, "quarterly": 90, "funnel": 90, "pipeline": 90}
FACT_TABLES = ("measurement_", "records_customer")


def _has_facts(db_url: str, org_id: int) -> bool:
    with psycopg2.connect(db_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM measurement_funnelday WHERE organization_id = %s LIMIT 1", [org_id])
        found = cursor.fetchone() is not None
    connection.close()
    return found


def run(scale: float) -> list[dict]:
    db_url = bench_database_url()
    env = django_env(DATABASE_URL=db_url)
    leads = max(1000, int(FULL_SCALE_LEADS * scale))
    info, _seeded = _prepare(env, leads)
    rollup_note = "facts reused"
    if not _has_facts(db_url, info["org_id"]):
        started = time.monotonic()
        project_run("manage.py", "rollup", "--org", info["org"], "--full", "--no-progress", env=env)
        rollup_note = f"full rollup first: {time.monotonic() - started:.1f} s"
    history = json.loads(
        project_run("-m", "bench.bench_review_dashboards", "history", "--org", info["org"], env=env)
        .strip()
        .splitlines()[-1]
    )
    if history["written"]:
        rollup_note += f"; {history['written']:,} opportunity snapshots written for the pipeline waterfall"
    rollup_note += (
        f"; pipeline rows ({history['spells']:,}) rebuilt whole in {history['rebuild_seconds'] * 1000:.0f} ms"
    )
    requests = max(10, int(REQUESTS * min(1.0, scale * 4)))
    command = ["-m", "bench.bench_review_dashboards", "measure", "--org", info["org"]]
    output = project_run(*command, "--requests", str(requests), env=env)
    measured = json.loads(output.strip().splitlines()[-1])
    entries = []
    for name in DASHBOARDS:
        warm, cold = measured[name]["warm"], measured[name]["cold"]
        warm_p95 = pct(warm["total"], 95) * 1000
        cold_p95, facts_p95 = pct(cold["total"], 95) * 1000, pct(cold["facts"], 95) * 1000
        ratio = cold_p95 / facts_p95 if facts_p95 else None
        where = f"GET /o/<slug>/measurement/{name}/?from={measured[name]['from']}&to={measured[name]['to']}"
        entries.append(
            {
                "name": f"dashboard_{name}_p95_ms",
                "value": warm_p95,
                "unit": "ms",
                "baseline": None,
                "ratio": None,
                "target": TARGET_MS,
                "pass": warm_p95 <= TARGET_MS,
                "notes": f"{where}, cached until the next rollup; {leads:,} leads, {len(warm['total'])} "
                f"requests in process, {warm['queries']} fact queries a request; {rollup_note}",
            }
        )
        entries.append(
            {
                "name": f"dashboard_{name}_fresh_p95_ms",
                "value": cold_p95,
                "unit": "ms",
                "baseline": facts_p95,
                "ratio": ratio,
                "target": TARGET_MS,
                "pass": cold_p95 <= TARGET_MS,
                "notes": f"{where}&fresh=1 (everything recomputed), {len(cold['total'])} requests, "
                f"{cold['queries']} fact queries a request taking p50 {pct(cold['facts'], 50) * 1000:.0f} ms "
                f"of p50 {pct(cold['total'], 50) * 1000:.0f} ms",
            }
        )
        entries.append(
            {
                "name": f"dashboard_{name}_fresh_over_rollup_queries",
                "value": ratio,
                "unit": "x",
                "baseline": None,
                "ratio": ratio,
                "target": TARGET_RATIO,
                "pass": ratio is not None and ratio <= TARGET_RATIO,
            }
        )
    return entries


# --- Measurement (runs under the bench settings) ------------------------------------------------

HISTORY_COLUMNS = """pgh_created_at, pgh_label, id, created_at, updated_at, external_id, name, amount,
    currency, stage, status, type, source, created_date, close_date, loss_reason, custom, account_id,
    organization_id, owner_id, pgh_obj_id, primary_contact_id"""
HISTORY_SQL = f"""
INSERT INTO records_opportunityevent ({HISTORY_COLUMNS})
SELECT snapshot.at, snapshot.label, o.id, o.created_at, o.updated_at, o.external_id, o.name, o.amount,
       o.currency, o.stage, snapshot.status, o.type, o.source, o.created_date, snapshot.close,
       snapshot.loss, o.custom, o.account_id, o.organization_id, o.owner_id, o.id, o.primary_contact_id
FROM records_opportunity o
CROSS JOIN LATERAL (
    -- Created open; every fifth open deal first promised 45 days earlier and pushed out 20 days in.
    SELECT o.created_date + time '10:00' AS at, 'insert' AS label, 'open' AS status,
           coalesce(o.close_date - CASE WHEN o.status = 'open' AND o.id %% 5 = 0 THEN 45 ELSE 0 END,
                    o.created_date + 60) AS close, '' AS loss
    UNION ALL
    SELECT o.created_date + 20 + time '11:00', 'update', 'open', o.close_date, ''
    WHERE o.status = 'open' AND o.id %% 5 = 0 AND o.close_date IS NOT NULL
    UNION ALL
    -- Won or lost on the close date.
    SELECT o.close_date + time '17:00', 'update', o.status, o.close_date, o.loss_reason
    WHERE o.status <> 'open' AND o.close_date IS NOT NULL
) AS snapshot
WHERE o.organization_id = %(org)s
"""


def step_history(slug: str) -> dict:
    """Opportunity history for the pipeline waterfall, which reads it: the bench loader writes deals
    without their audit trail, so their snapshots are made here once, from each deal's own dates. The
    pipeline's rollup rows are then rebuilt whole, timed."""
    from django.db import connection, transaction

    from apps.accounts.models import Organization
    from apps.measurement import pipeline

    org = Organization.objects.get(slug=slug)
    written = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM records_opportunityevent WHERE organization_id = %s", [org.pk])
        if not cursor.fetchone()[0]:
            with transaction.atomic():
                cursor.execute(HISTORY_SQL, {"org": org.pk})
                written = cursor.rowcount
            cursor.execute("ANALYZE records_opportunityevent")
    started = time.perf_counter()
    spells = pipeline.rebuild_facts(org)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE measurement_pipelinespell")
    return {"written": written, "spells": spells, "rebuild_seconds": seconds}


class _FactTimer:
    """A connection.execute_wrapper summing the time of statements on the rollup fact tables."""

    def __init__(self):
        self.seconds = 0.0
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        if not any(table in sql for table in FACT_TABLES):
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


def measure(org_slug: str, requests: int) -> dict:
    from django.db import connection
    from django.test import Client

    import revops.wsgi  # noqa: F401  (this process loads the application as a web worker does, see revops.startup)
    from apps.accounts.models import Organization, User
    from apps.measurement.models import FunnelDay
    from bench.fixtures import EMAIL

    org = Organization.objects.get(slug=org_slug)
    last = FunnelDay.objects.for_org(org).order_by("-day").values_list("day", flat=True).first()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(email=EMAIL))

    def timed(url: str) -> dict:
        totals, facts, queries = [], [], 0
        for _ in range(requests):
            timer = _FactTimer()
            with connection.execute_wrapper(timer):
                started = time.perf_counter()
                response = client.get(url)
                totals.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            facts.append(timer.seconds)
            queries = timer.count
        return {"total": totals, "facts": facts, "queries": queries}

    out = {}
    for name, days in DASHBOARDS.items():
        start = last - datetime.timedelta(days=days - 1)
        url = f"/o/{org_slug}/measurement/{name}/?from={start}&to={last}"
        for _ in range(WARM_UP):
            assert client.get(url).status_code == 200
        out[name] = {"warm": timed(url), "cold": timed(url + "&fresh=1"), "from": str(start), "to": str(last)}
    return out


if __name__ == "__main__":
    import django

    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["measure", "history"])
    parser.add_argument("--org", required=True)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    arguments = parser.parse_args()
    django.setup()
    if arguments.command == "history":
        print(json.dumps(step_history(arguments.org)))
    else:
        print(json.dumps(measure(arguments.org, arguments.requests)))
    sys.exit(0)
