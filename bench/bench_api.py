"""The price of the API stack: an API-key-authenticated DRF endpoint against a bare view.

Both are served by the same gunicorn (2 sync workers) in the same run:

* bare: GET /bench/select1/, a plain Django view doing `SELECT 1` (bench/urls.py);
* api:  GET /api/v1/organization/ with `Authorization: Bearer <key>`: key lookup,
  scope check, the Redis quota throttle, DRF and a serializer.

Both pass through the same middleware, so the difference is what DRF and our
API layer add. Target: the API round trip costs at most 2x the bare view at p99.
"""

import json
import math

from bench.support import bench_database_url, django_env, drive, gunicorn, project_run
from bench.support import percentile as pct

CLIENTS = 4
ROUNDS = 10
P99_TARGET = 2.0


def _setup(env: dict[str, str]) -> str:
    project_run("manage.py", "migrate", "--noinput", env=env)
    output = project_run("-m", "bench.fixtures", env=env)
    return json.loads(output.strip().splitlines()[-1])["api_key"]


def measure(*, env: dict[str, str], count: int) -> tuple[dict, dict, int]:
    """Serve the project with `env`; return the (bare, api) figures and the requests made of each."""
    api_key = _setup(env)
    auth = {"Authorization": f"Bearer {api_key}"}
    with gunicorn(env=env, workers=2) as base:
        bare_url, api_url = f"{base}/bench/select1/", f"{base}/api/v1/organization/"
        warmup = max(50, count // 10)
        drive(bare_url, count=warmup, clients=CLIENTS)
        drive(api_url, count=warmup, clients=CLIENTS, headers=auth)

        # Alternate short batches (and their order) so that machine noise lands on both.
        per_round = math.ceil(count / ROUNDS)
        samples = {"bare": ([], 0.0), "api": ([], 0.0)}
        for index in range(ROUNDS):
            order = ["bare", "api"] if index % 2 == 0 else ["api", "bare"]
            for which in order:
                url, headers = (bare_url, None) if which == "bare" else (api_url, auth)
                latencies, wall = drive(url, count=per_round, clients=CLIENTS, headers=headers)
                previous, previous_wall = samples[which]
                samples[which] = (previous + latencies, previous_wall + wall)

    def figures(which):
        latencies, wall = samples[which]
        return {
            "p50_ms": pct(latencies, 50) * 1000,
            "p99_ms": pct(latencies, 99) * 1000,
            "rps": len(latencies) / wall,
        }

    return figures("bare"), figures("api"), per_round * ROUNDS


def run(scale: float) -> list[dict]:
    # The quota is part of the measured path (Redis round trips per call),
    # but must never answer 429 during the run.
    env = django_env(DATABASE_URL=bench_database_url(), API_KEY_QUOTA="1000000/min")
    bare, api, made = measure(env=env, count=max(200, int(3000 * scale)))
    notes = f"{made} requests each, {CLIENTS} client threads, gunicorn 2 sync workers"
    p99_ratio = api["p99_ms"] / bare["p99_ms"]
    return [
        {
            "name": "api_p50_ms",
            "value": api["p50_ms"],
            "unit": "ms",
            "baseline": bare["p50_ms"],
            "ratio": api["p50_ms"] / bare["p50_ms"],
            "target": None,
            "pass": None,
            "notes": notes,
        },
        {
            "name": "api_p99_ms",
            "value": api["p99_ms"],
            "unit": "ms",
            "baseline": bare["p99_ms"],
            "ratio": p99_ratio,
            "target": P99_TARGET,
            "pass": p99_ratio <= P99_TARGET,
            "notes": "ratio = api / bare; target: at most 2x",
        },
        {
            "name": "api_rps",
            "value": api["rps"],
            "unit": "req/s",
            "baseline": bare["rps"],
            "ratio": api["rps"] / bare["rps"],
            "target": None,
            "pass": None,
            "notes": "ratio = api / bare (higher is better)",
        },
    ]
