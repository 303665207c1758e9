"""Attribution over every opportunity of a million-lead organisation, against one SQL pass over its paths.

The organisation is `bench-leads-<N>` of bench_records_api (`N = 1,000,000 x
BENCH_SCALE` leads, about ten touchpoints each, an opportunity per thirteen
leads on their accounts; seeded once by `manage.py seed_bench` and reused).
In one process (`python -m bench.bench_attribution measure SLUG ROUNDS`),
alternately:

* baseline: the path pass itself, `compute.path_sql()` (every opportunity
  joined to its lead's and its account's touches in the lookback window,
  ORDER BY opportunity, time, touch), streamed out of the server with
  `COPY (...) TO STDOUT` into a sink that drops it. Every row is produced,
  sorted and sent; nothing is parsed.
* attribution: `compute.rebuild(org, None, fit=...)`, what the rollup runs:
  the same pass parsed into numpy, the per-opportunity facts, the seven
  rule-based models and the Markov credit (from a fit made beforehand),
  largest-remainder shares, the sums per day, model, channel, source and
  campaign, and the COPY of the AttributionDay rows, in a transaction that is
  rolled back.

Target (the issue): attribution at most 3x the baseline (medians). Fitting the
Markov chain (`markov_fit.fit_markov`, a window pass over every touch of the
organisation in SQL) is timed apart, for information.
"""

import json
import statistics
import sys
import time

from bench.bench_records_api import FULL_SCALE_LEADS, PAGE_SIZE, _prepare
from bench.support import bench_database_url, django_env, project_run

TARGET = 3.0
ROUNDS = 3


class _Drop:
    """A file-like sink that counts what COPY writes and keeps none of it."""

    def __init__(self):
        self.bytes = 0

    def write(self, data):
        self.bytes += len(data)
        return len(data)


def measure(slug: str, rounds: int) -> dict:
    """In-process (Django set up): alternate the baseline and the rebuild; report seconds and sizes."""
    import django

    django.setup()
    from django.db import connection, transaction

    from apps.accounts.models import Organization
    from apps.measurement.attribution import compute, markov_fit
    from apps.records.models import Opportunity, Touchpoint

    org = Organization.objects.get(slug=slug)
    settings = compute.settings_for(org)
    params = compute._params(org, settings, days=None)
    started = time.perf_counter()
    fit = markov_fit.fit_markov(org)
    fit_s = time.perf_counter() - started

    def baseline() -> float:
        sink = _Drop()
        started = time.perf_counter()
        compute.copy_csv(compute.path_sql(), params, sink)
        seconds = time.perf_counter() - started
        sizes["csv_bytes"] = sink.bytes
        return seconds

    def attribution() -> float:
        started = time.perf_counter()
        with transaction.atomic():
            sizes["rows_written"] = compute.rebuild(org, None, fit=fit)
            transaction.set_rollback(True)
        return time.perf_counter() - started

    sizes: dict[str, int] = {}
    baseline()  # warm the cache: both sides then read the same pages from memory
    times = {"baseline": [], "attribution": []}
    for index in range(rounds):
        order = ("baseline", "attribution") if index % 2 == 0 else ("attribution", "baseline")
        for which in order:
            times[which].append(baseline() if which == "baseline" else attribution())

    # Where the rebuild's time goes, once, outside the timed rounds.
    steps = {}
    started = time.perf_counter()
    touches = compute.read_touches(compute.path_sql(), params)
    steps["read_paths"] = time.perf_counter() - started
    started = time.perf_counter()
    facts = compute.read_facts(compute.FACTS_SQL.format(scope=""), params)
    steps["read_facts"] = time.perf_counter() - started
    started = time.perf_counter()
    credited = compute.credit(touches, facts, settings, fit)
    steps["models"] = time.perf_counter() - started
    started = time.perf_counter()
    rows = compute.aggregate(touches, facts, credited)
    steps["shares_and_sums"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + compute.path_sql(), params)
        plan = " / ".join(line.strip() for (line,) in cursor.fetchall()[:6])
    return {
        "baseline_s": times["baseline"],
        "attribution_s": times["attribution"],
        "markov_fit_s": fit_s,
        "steps_s": steps,
        "path_rows": len(touches),
        "opportunities": len(facts.id),
        "opportunities_touched": int(credited.paths.layout.n_paths),
        "rows_written": sizes["rows_written"],
        "aggregated_rows": len(rows.day),
        "csv_bytes": sizes["csv_bytes"],
        "touchpoints": Touchpoint.objects.for_org(org).count(),
        "all_opportunities": Opportunity.objects.for_org(org).count(),
        "markov_warning": fit.warning,
        "plan": plan,
    }


def run(scale: float) -> list[dict]:
    env = django_env(DATABASE_URL=bench_database_url())
    leads = max(10_000 + 10 * PAGE_SIZE, int(FULL_SCALE_LEADS * scale))
    info, _seeded = _prepare(env, leads)
    out = project_run("-m", "bench.bench_attribution", "measure", info["org"], str(ROUNDS), env=env)
    figures = json.loads(out.strip().splitlines()[-1])
    base = statistics.median(figures["baseline_s"])
    ours = statistics.median(figures["attribution_s"])
    steps = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in figures["steps_s"].items())
    setting = (
        f"{figures['touchpoints']:,} touchpoints, {figures['opportunities']:,} opportunities "
        f"({figures['opportunities_touched']:,} with a touch), {figures['path_rows']:,} path rows "
        f"({figures['csv_bytes'] / 2**20:.0f} MB of CSV), {figures['rows_written']:,} AttributionDay rows"
    )
    return [
        {
            "name": "attribution_all_models_s",
            "value": ours,
            "unit": "s",
            "baseline": base,
            "ratio": ours / base,
            "target": TARGET,
            "pass": ours / base <= TARGET,
            "notes": f"median of {ROUNDS} rebuilds (8 models, written and rolled back) / median of {ROUNDS} "
            f"path passes streamed to nothing; {setting}; once apart: {steps}; plan: {figures['plan']}",
        },
        {
            "name": "attribution_markov_fit_s",
            "value": figures["markov_fit_s"],
            "unit": "s",
            "baseline": base,
            "ratio": figures["markov_fit_s"] / base,
            "target": None,
            "pass": None,
            "notes": "fitting the chain over every lead's journey (transitions counted in SQL); "
            f"warning: {figures['markov_warning'] or 'none'}",
        },
    ]


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "measure":
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]))))
    else:
        raise SystemExit("usage: python -m bench.bench_attribution measure SLUG ROUNDS")
