"""The lead list API at benchmark scale: against a hand-written view, and deep pages.

An organisation of `1,000,000 * BENCH_SCALE` leads (about ten stage events and
ten touchpoints each, loaded by `manage.py seed_bench` and reused by later runs)
is served by one gunicorn (2 sync workers), which answers, in the same run:

* values: GET /bench/leads-values/?org=<id>&page_size=50, the same 50 leads
  (organisation, order, fields) by `.values()` and JsonResponse (bench/urls.py);
* first:  GET /api/v1/leads/?page_size=50 with an API key;
* deep:   the API page that starts at row 10,000, reached by following `next`
  200 times.

Targets (the issue): the API's p95 at most 2.5x the values view's; the deep
page's p95 at most 1.2x the first page's; no request reads more than 100,000
rows. The last is checked in-process (`python -m bench.bench_records_api
explain`): the API's SQL is captured with CaptureQueriesContext and every plan
node of `EXPLAIN (ANALYZE)` is counted (rows returned plus rows removed by
filters, times loops).
"""

import json
import math
import sys
import time

import requests

from bench.support import bench_database_url, django_env, drive, gunicorn, project_run
from bench.support import percentile as pct

FULL_SCALE_LEADS = 1_000_000
PAGE_SIZE = 50
DEEP_ROW = 10_000
CLIENTS = 4
ROUNDS = 10
API_TARGET = 2.5
DEEP_TARGET = 1.2
ROWS_TARGET = 100_000
SEED_TARGET_SECONDS = 300  # at a million leads


def _prepare(env: dict[str, str], leads: int) -> tuple[dict, float | None]:
    """The benchmark organisation with `leads` leads (seeded now or reused) and a fresh key."""
    project_run("manage.py", "migrate", "--noinput", env=env)
    slug = f"bench-leads-{leads}"
    info = json.loads(project_run("-m", "bench.fixtures", "--org", slug, env=env).strip().splitlines()[-1])
    if info["leads"] == leads:
        return info, None
    if info["leads"]:
        raise RuntimeError(f"{slug} holds {info['leads']} leads, not {leads}; drop it to reseed.")
    print(f"seeding {slug}: {leads:,} leads (once; later runs reuse it) ...", flush=True)
    started = time.monotonic()
    project_run("manage.py", "seed_bench", "--org", slug, "--leads", str(leads), env=env, echo=True)
    return info, time.monotonic() - started


def _deep_url(first_url: str, auth: dict) -> str:
    """Follow `next` until the page that starts at row DEEP_ROW; check the pages chain."""
    url, seen = first_url, 0
    with requests.Session() as session:
        session.headers.update(auth)
        while seen < DEEP_ROW:
            body = session.get(url, timeout=30).json()
            if len(body["results"]) != PAGE_SIZE or not body["next"]:
                raise RuntimeError(f"page at row {seen} has {len(body['results'])} leads; not enough data")
            seen += PAGE_SIZE
            url = body["next"]
    return url


def _same_page(values_url: str, api_url: str, auth: dict) -> None:
    """The baseline must serve the very page the API serves, or the ratio means nothing."""
    ours = [row["id"] for row in requests.get(values_url, timeout=30).json()["results"]]
    theirs = [row["id"] for row in requests.get(api_url, headers=auth, timeout=30).json()["results"]]
    if ours != theirs:
        raise RuntimeError("the values view and the API disagree on the first page")


def measure(*, env: dict[str, str], info: dict, count: int) -> tuple[dict, str]:
    auth = {"Authorization": f"Bearer {info['api_key']}"}
    with gunicorn(env=env, workers=2) as base:
        urls = {
            "values": f"{base}/bench/leads-values/?org={info['org_id']}&page_size={PAGE_SIZE}",
            "first": f"{base}/api/v1/leads/?page_size={PAGE_SIZE}",
        }
        _same_page(urls["values"], urls["first"], auth)
        urls["deep"] = _deep_url(urls["first"], auth)
        headers = {"values": None, "first": auth, "deep": auth}
        for which, url in urls.items():
            drive(url, count=max(50, count // 10), clients=CLIENTS, headers=headers[which])  # warm-up
        # Alternate short batches (rotating their order) so that machine noise lands on all three.
        per_round = math.ceil(count / ROUNDS)
        samples = {which: [] for which in urls}
        order = list(urls)
        for index in range(ROUNDS):
            for which in order[index % 3 :] + order[: index % 3]:
                latencies, _ = drive(urls[which], count=per_round, clients=CLIENTS, headers=headers[which])
                samples[which] += latencies
    cursor = urls["deep"].split("cursor=", 1)[1].split("&", 1)[0]
    figures = {
        which: {"p50_ms": pct(values, 50) * 1000, "p95_ms": pct(values, 95) * 1000, "n": len(values)}
        for which, values in samples.items()
    }
    return figures, cursor


def run(scale: float) -> list[dict]:
    env = django_env(DATABASE_URL=bench_database_url(), API_KEY_QUOTA="1000000/min")
    leads = max(10_000 + 10 * PAGE_SIZE, int(FULL_SCALE_LEADS * scale))
    info, seeded = _prepare(env, leads)
    figures, cursor = measure(env=env, info=info, count=max(200, int(2000 * scale)))
    scans = json.loads(
        project_run(
            "-m", "bench.bench_records_api", "explain", info["api_key"], cursor, env=env
        ).strip().splitlines()[-1]
    )  # fmt: skip
    values, first, deep = figures["values"], figures["first"], figures["deep"]
    notes = f"{leads:,} leads; {first['n']} requests each, {CLIENTS} client threads, gunicorn 2 sync workers"
    api_ratio = first["p95_ms"] / values["p95_ms"]
    deep_ratio = deep["p95_ms"] / first["p95_ms"]
    worst = max(scans.values(), key=lambda s: s["rows"])
    entries = [
        {
            "name": "leads_api_p95_ms",
            "value": first["p95_ms"],
            "unit": "ms",
            "baseline": values["p95_ms"],
            "ratio": api_ratio,
            "target": API_TARGET,
            "pass": api_ratio <= API_TARGET,
            "notes": f"first page, ratio = api / values view; {notes}",
        },
        {
            "name": "leads_api_p50_ms",
            "value": first["p50_ms"],
            "unit": "ms",
            "baseline": values["p50_ms"],
            "ratio": first["p50_ms"] / values["p50_ms"],
            "target": None,
            "pass": None,
        },
        {
            "name": "leads_deep_page_p95_ms",
            "value": deep["p95_ms"],
            "unit": "ms",
            "baseline": first["p95_ms"],
            "ratio": deep_ratio,
            "target": DEEP_TARGET,
            "pass": deep_ratio <= DEEP_TARGET,
            "notes": f"the page starting at row {DEEP_ROW:,}; ratio = deep / first page",
        },
        {
            "name": "leads_max_rows_read",
            "value": float(worst["rows"]),
            "unit": "rows",
            "baseline": None,
            "ratio": None,
            "target": float(ROWS_TARGET),
            "pass": worst["rows"] <= ROWS_TARGET,
            "notes": "; ".join(f"{page}: {s['rows']:,} rows, {s['plan']}" for page, s in scans.items()),
        },
    ]
    if seeded is not None:
        at_full = leads >= FULL_SCALE_LEADS
        entries.append(
            {
                "name": "seed_bench_s",
                "value": seeded,
                "unit": "s",
                "baseline": None,
                "ratio": None,
                "target": float(SEED_TARGET_SECONDS) if at_full else None,
                "pass": seeded <= SEED_TARGET_SECONDS if at_full else None,
                "notes": f"manage.py seed_bench --leads {leads} (COPY); target at 1M leads: 5 minutes",
            }
        )
    return entries


# --- In-process: EXPLAIN (ANALYZE) of the API's own SQL ---------------------------------


def _rows_read(node: dict) -> int:
    """Rows a plan node produced or threw away, over all its loops, and the worst below it."""
    own = (
        node.get("Actual Rows", 0)
        + node.get("Rows Removed by Filter", 0)
        + node.get("Rows Removed by Index Recheck", 0)
        + node.get("Rows Removed by Join Filter", 0)
    ) * node.get("Actual Loops", 1)
    return max([own, *(_rows_read(child) for child in node.get("Plans", []))])


def _shape(node: dict) -> str:
    name = node["Node Type"] + (f" on {node['Index Name']}" if "Index Name" in node else "")
    children = node.get("Plans", [])
    return name + (" > " + " + ".join(_shape(c) for c in children) if children else "")


def _explain(api_key: str, cursor: str) -> dict:
    """Call the API in-process for the first and the deep page; EXPLAIN ANALYZE what it ran."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    pages = {"first": "", "deep": f"&cursor={cursor}"}
    report = {}
    for page, extra in pages.items():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(
                f"/api/v1/leads/?page_size={PAGE_SIZE}{extra}", HTTP_AUTHORIZATION=f"Bearer {api_key}"
            )
        if response.status_code != 200:
            raise RuntimeError(f"{page} page answered {response.status_code}")
        worst = {"rows": 0, "plan": "no query"}
        for query in captured.captured_queries:
            if not query["sql"].lstrip().upper().startswith("SELECT"):
                continue  # e.g. the once-a-minute last_used_at UPDATE: not part of reading the page
            with connection.cursor() as db:
                db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
                plan = db.fetchone()[0][0]["Plan"]
            rows = _rows_read(plan)
            if rows >= worst["rows"]:
                worst = {"rows": rows, "plan": _shape(plan)}
        report[page] = worst
    return report


if __name__ == "__main__":
    # python -m bench.bench_records_api explain API_KEY CURSOR (with the bench settings)
    if len(sys.argv) != 4 or sys.argv[1] != "explain":
        sys.exit("usage: python -m bench.bench_records_api explain API_KEY CURSOR")
    print(json.dumps(_explain(sys.argv[2], sys.argv[3])))
