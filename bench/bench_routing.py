"""Speed-to-lead: a lead POSTed through the API, routed and on an SLA clock before the answer.

Three measurements, each in an organisation made for this run (bench/fixtures.py):

1. ingest: the five-rule policy of `routing_org` (account owner with a fallback
   pool, round robin, weighted, territory, a fallback queue) and an SLA (accept
   within 15 minutes, remind at 10). One gunicorn (2 sync workers), four client
   threads, in ten alternating batches:
     * bare: GET /bench/select1/, a plain Django view doing SELECT 1;
     * drf:  POST /bench/drf-select1/, a DRF view doing SELECT 1 (no key, no quota);
     * api:  POST /api/v1/leads/ with a write key, a distinct e-mail per request.
   Routing runs right after the lead's transaction commits, inside the request,
   so a 201 means the assignment and its SLA timer are committed: a sample of
   POSTs is checked row by row the moment each answers, and every lead of the
   run afterwards. Targets: the lead POST's p99 at most 4x the DRF view's; its
   throughput at least 15 % of the bare view's.
2. notify: with a Celery worker running, leads POSTed the same way; per
   notification, from its row's creation (in the assignment's transaction) to
   the moment the delivery task claimed it (`emailed_at`, the task's first
   write). Target: p99 at most 1 s.
3. race: 8 clients POST `10,000 x BENCH_SCALE` leads in parallel (gunicorn with 8
   workers, so 8 decisions really overlap) into one round-robin pool of six
   reps, one capped. Checks: no lead with two live assignments, none with two
   assignments from its creation, every lead assigned once, the five uncapped
   reps within one lead of each other, the capped rep within its caps.
"""

import json
import math
import time

import psycopg2
import requests

from bench.support import (
    bench_database_url,
    celery,
    celery_purge,
    django_env,
    drive,
    gunicorn,
    project_run,
)
from bench.support import percentile as pct

CLIENTS = 4
ROUNDS = 10
P99_TARGET = 4.0  # lead POST p99 / DRF SELECT 1 p99
RPS_TARGET = 0.15  # lead POSTs per second / bare view requests per second (at least)
NOTIFY_TARGET_MS = 1000.0
NOTIFY_TIMEOUT_S = 120
RACE_CLIENTS = RACE_WORKERS = 8
SAMPLE_CHECKS = 50

# Leads cycle through these shapes so that every rule of the policy fires
# (the numbers are the rules of bench.fixtures.routing_org; 0 is the fallback).
SHAPES = (
    ("account", 1),
    ("account", 1),
    ({"source": "Partner"}, 2),
    ({"country": "US"}, 3),
    ({"country": "DE"}, 3),
    ({"country": "JP"}, 3),
    ({"title": "VP Marketing"}, 4),
    ({"source": "Google Ads"}, 5),
    ({"source": "Webinar"}, 5),
    ({"source": "Trade show"}, 0),
)


def lead_body(run: str, accounts: int):
    """body(i): a lead of the i-th shape with an e-mail no other lead of the run has."""

    def body(i: int) -> dict:
        shape, _ = SHAPES[i % len(SHAPES)]
        if shape == "account":
            return {"email": f"{run}-{i}@acct{(i // len(SHAPES)) % accounts:02d}.example.com"}
        # Domains without an account, so only the named-account leads match one.
        return {"email": f"{run}-{i}@company{i % 997}.example.org", "first_name": "Bench", **shape}

    return body


def _fixture(env: dict[str, str], kind: str, slug: str, *extra: str) -> dict:
    output = project_run("-m", "bench.fixtures", "--routing", kind, "--org", slug, *extra, env=env)
    return json.loads(output.strip().splitlines()[-1])


def _check(env: dict[str, str], *args: str) -> dict:
    return json.loads(project_run("-m", "bench.check_routing", *args, env=env).strip().splitlines()[-1])


def _query(db_url: str, sql: str, params=()) -> list[tuple]:
    with psycopg2.connect(db_url) as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
    connection.close()
    return rows


def _committed_on_answer(db_url: str, url: str, auth: dict, body, first: int, count: int) -> int:
    """POST `count` leads one by one; right after each 201, look for its assignment and timer
    from another connection. Returns how many were missing either."""
    missing = 0
    with psycopg2.connect(db_url) as connection, requests.Session() as session:
        connection.autocommit = True
        session.headers.update(auth)
        with connection.cursor() as cursor:
            for i in range(first, first + count):
                response = session.post(url, json=body(i), timeout=30)
                if response.status_code != 201:
                    raise RuntimeError(f"lead POST answered {response.status_code}: {response.text[:300]}")
                cursor.execute(
                    "SELECT EXISTS (SELECT 1 FROM execution_assignment WHERE lead_id = %(lead)s "
                    "AND status IN ('offered', 'accepted')), "
                    "EXISTS (SELECT 1 FROM execution_slatimer WHERE lead_id = %(lead)s)",
                    {"lead": response.json()["id"]},
                )
                missing += not all(cursor.fetchone())
    connection.close()
    return missing


def ingest(env: dict[str, str], db_url: str, *, count: int, run: str) -> dict:
    info = _fixture(env, "routing", f"bench-routing-{run}")
    auth = {"Authorization": f"Bearer {info['api_key']}"}
    body = lead_body(run, info["accounts"])
    with gunicorn(env=env, workers=2) as base:
        urls = {
            "bare": f"{base}/bench/select1/",
            "drf": f"{base}/bench/drf-select1/",
            "api": f"{base}/api/v1/leads/",
        }
        offset = [0]  # the next lead body index: every POST of the run gets its own

        def batch(which: str, n: int) -> tuple[list[float], float]:
            if which == "bare":
                return drive(urls["bare"], count=n, clients=CLIENTS)
            if which == "drf":
                return drive(urls["drf"], count=n, clients=CLIENTS, body=body)
            first = offset[0]
            offset[0] += n
            return drive(
                urls["api"],
                count=n,
                clients=CLIENTS,
                headers=auth,
                body=lambda i: body(first + i),
                expect=201,
            )

        for which in urls:
            batch(which, max(40, count // 10))  # warm-up
        per_round = math.ceil(count / ROUNDS)
        samples = {which: ([], 0.0) for which in urls}
        order = list(urls)
        for index in range(ROUNDS):
            for which in order[index % 3 :] + order[: index % 3]:
                latencies, wall = batch(which, per_round)
                samples[which] = (samples[which][0] + latencies, samples[which][1] + wall)
        checked = max(20, min(SAMPLE_CHECKS, count // 10))
        missing = _committed_on_answer(db_url, urls["api"], auth, body, offset[0], checked)
    figures = {
        which: {
            "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000,
            "rps": len(latencies) / wall,
            "n": len(latencies),
        }
        for which, (latencies, wall) in samples.items()
    }
    return {
        "figures": figures,
        "sample": {"checked": checked, "missing": missing},
        "verify": _check(env, "verify", info["org"]),
        "profile": _check(env, "profile", info["api_key"], "21"),
        "info": info,
    }


def notify(env: dict[str, str], db_url: str, info: dict, *, count: int, run: str) -> dict:
    """Lead POSTs with a worker running; per notification, created_at → emailed_at."""
    celery_purge(env=env)  # earlier phases queued tasks no worker took; they are not this figure
    body = lead_body(f"{run}-n", info["accounts"])
    auth = {"Authorization": f"Bearer {info['api_key']}"}
    # The worker does not mail anyone: the figure ends when the task claims its row.
    worker_env = {**env, "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}
    with gunicorn(env=env, workers=2) as base, celery(env=worker_env, concurrency=2):
        ((since,),) = _query(db_url, "SELECT now()")
        drive(f"{base}/api/v1/leads/", count=count, clients=CLIENTS, headers=auth, body=body, expect=201)
        # Every notification is written before its POST answers; wait for the tasks to claim them.
        deadline = time.monotonic() + NOTIFY_TIMEOUT_S
        while True:
            ((made, waiting),) = _query(
                db_url,
                "SELECT count(*), count(*) FILTER (WHERE emailed_at IS NULL) FROM execution_notification "
                "WHERE organization_id = %s AND kind = 'lead.routed' AND created_at >= %s",
                [info["org_id"], since],
            )
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{waiting} of {made} notifications unclaimed after {NOTIFY_TIMEOUT_S}s")
            time.sleep(0.5)
    latencies = [
        row[0]
        for row in _query(
            db_url,
            "SELECT extract(epoch FROM emailed_at - created_at) * 1000 FROM execution_notification "
            "WHERE organization_id = %s AND kind = 'lead.routed' AND created_at >= %s",
            [info["org_id"], since],
        )
    ]
    # A lead whose routing did not happen in its request has no notification to time.
    return {"p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99), "n": len(latencies), "leads": count}


def race(env: dict[str, str], *, leads: int, run: str) -> dict:
    # The cap bites about halfway through, so the check sees the capped rep both
    # taking turns and being skipped.
    cap = max(5, leads // 12)
    info = _fixture(env, "race", f"bench-race-{run}", "--cap", str(cap))
    auth = {"Authorization": f"Bearer {info['api_key']}"}
    body = lead_body(f"{run}-r", 1)
    started = time.monotonic()
    with gunicorn(
        env=env, workers=RACE_WORKERS, timeout=300
    ) as base:  # eight workers boot slowly on a busy box
        drive(f"{base}/api/v1/leads/", count=leads, clients=RACE_CLIENTS, headers=auth, body=body, expect=201)
    return {**_check(env, "race", info["org"]), "seconds": time.monotonic() - started}


def _stop_clocks(db_url: str, org_id: int) -> None:
    """The run's SLA timers would fall due ten minutes from now, in the middle of
    another benchmark's sweep measurements: stop them."""
    _query(
        db_url,
        "UPDATE execution_slatimer SET next_run_at = NULL, status = 'cancelled' "
        "WHERE organization_id = %s AND next_run_at IS NOT NULL",
        [org_id],
    )


def _entry(name, value, unit, *, baseline=None, target=None, passed=None, notes="", lower=True) -> dict:
    ratio = value / baseline if baseline else None
    if passed is None and target is not None:
        measured = ratio if baseline else value
        passed = measured <= target if lower else measured >= target
    return {
        "name": name,
        "value": float(value),
        "unit": unit,
        "baseline": None if baseline is None else float(baseline),
        "ratio": ratio,
        "target": None if target is None else float(target),
        "pass": passed,
        "notes": notes,
    }


def _check_entry(name: str, value: float, target: float, notes: str) -> dict:
    """A check, not a timing: the count of violations (or the spread) against its limit."""
    return _entry(name, value, "count", target=target, notes=notes)


def run(scale: float) -> list[dict]:
    db_url = bench_database_url()
    env = django_env(DATABASE_URL=db_url, API_KEY_QUOTA="1000000/min")
    project_run("manage.py", "migrate", "--noinput", env=env)
    run_id = time.strftime("%Y%m%d%H%M%S")

    result = ingest(env, db_url, count=max(200, int(3000 * scale)), run=run_id)
    bare, drf, api = (result["figures"][k] for k in ("bare", "drf", "api"))
    verify, sample, profile = result["verify"], result["sample"], result["profile"]
    try:
        notified = notify(env, db_url, result["info"], count=max(100, int(1000 * scale)), run=run_id)
    finally:
        _stop_clocks(db_url, result["info"]["org_id"])
    raced = race(env, leads=max(1000, int(10_000 * scale)), run=run_id)

    load = f"{api['n']} requests each, {CLIENTS} client threads, gunicorn 2 sync workers"
    rules = ", ".join(f"{name}: {n}" for name, n in verify["by_rule"].items())
    top = "; ".join(f"{ms} ms x{times} {sql[:50]}" for ms, times, sql in profile["top"][:4])
    entries = [
        _entry(
            "ingest_p99_ms", api["p99_ms"], "ms", baseline=drf["p99_ms"], target=P99_TARGET,
            notes=f"POST /api/v1/leads/ to a committed assignment and SLA timer; ratio = lead POST / "
            f"DRF SELECT 1 view; {load}",
        ),
        _entry(
            "ingest_p50_ms", api["p50_ms"], "ms", baseline=drf["p50_ms"],
            notes=f"bare Django view: p50 {bare['p50_ms']:.2f} ms, p99 {bare['p99_ms']:.2f} ms",
        ),
        _entry(
            "ingest_rps", api["rps"], "req/s", baseline=bare["rps"], target=RPS_TARGET, lower=False,
            notes=f"ratio = lead POSTs / bare Django view requests per second (at least); "
            f"DRF view: {drf['rps']:.0f} req/s",
        ),
        _check_entry(
            "ingest_uncommitted_on_answer", sample["missing"], 0,
            f"of {sample['checked']} POSTs checked the moment each answered: assignment or timer missing",
        ),
        _check_entry(
            "ingest_leads_unrouted", verify["unassigned"] + verify["untimed"] + verify["pending_requests"], 0,
            f"{verify['leads']} leads: {verify['unassigned']} without a live assignment, "
            f"{verify['untimed']} without an SLA timer, {verify['pending_requests']} requests pending; "
            f"decisions by rule: {rules}",
        ),
        _entry(
            "ingest_sql_statements", profile["statements"], "count",
            notes=f"per lead POST (in-process: {profile['request_ms_p50']:.0f} ms, of which "
            f"{profile['sql_ms_per_request']} ms in SQL); "
            f"decide_ms p50 {verify['decide_ms_p50']}, p99 {verify['decide_ms_p99']}; top: {top}",
        ),
        _entry(
            "notify_p99_ms", notified["p99_ms"], "ms", target=NOTIFY_TARGET_MS,
            notes=f"notification row created → delivery task claims it; {notified['n']} notifications "
            f"for {notified['leads']} leads, "
            f"{CLIENTS} clients, 1 worker (concurrency 2); absolute target 1 s",
        ),
        _entry("notify_p50_ms", notified["p50_ms"], "ms"),
    ]  # fmt: skip
    within_caps = raced["capped_assigned"] <= raced["daily_cap"] and raced["capped_live"] <= raced["open_cap"]
    race_notes = f"{raced['leads']} leads, {RACE_CLIENTS} clients, gunicorn {RACE_WORKERS} workers"
    entries += [
        _check_entry(
            "race_double_live", raced["double_live"], 0, f"leads with >1 live assignment; {race_notes}"
        ),
        _check_entry(
            "race_double_created", raced["double_created"], 0, "leads with >1 assignment on creation"
        ),
        _check_entry(
            "race_not_assigned_once", raced["not_assigned_once"] + raced["pending_requests"], 0,
            f"leads without exactly one assignment ({raced['pending_requests']} requests pending)",
        ),
        _check_entry(
            "race_rr_spread", raced["spread"], 1,
            f"max - min leads of the 5 uncapped reps: {raced['per_rep']}; "
            f"pool ledgers disagreeing with assignments: {raced['ledger_mismatch']}",
        ),
        _entry(
            "race_capped_rep", raced["capped_assigned"], "count", target=raced["daily_cap"],
            passed=within_caps,
            notes=f"leads given to the capped rep (daily and open cap {raced['daily_cap']}); "
            f"{raced['seconds']:.0f} s for the whole check",
        ),
    ]  # fmt: skip
    return entries
