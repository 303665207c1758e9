"""The SLA sweeper on a million open timers, and how soon a breach is recorded.

The organisation `bench-sla` (four reps, a round robin, the SLA of
bench.fixtures: accept within 15 minutes, remind at 10) holds
`1,000,000 x BENCH_SCALE` open timers due a year from now, inserted once by
`INSERT ... SELECT generate_series` on a few dozen real assignments and reused
by later runs (topped up or trimmed to the count).

1. tick: in one process, alternately, with nothing due:
     * `sla_sweep(now=T)`, one beat tick of the product's sweeper;
     * the bare claim, `SELECT * FROM execution_slatimer WHERE next_run_at <= T
       ORDER BY next_run_at LIMIT 200 FOR UPDATE SKIP LOCKED` in a rolled-back
       transaction.
   Target: the tick's median at most 3x the claim's. Then 200 leads are routed
   (real timers), their clocks moved 20 minutes back so that the reminder and
   the breach are both due, and one `sla_sweep()` applies them: the cost per
   applied step is informational.
2. breach: a Celery worker and beat (the sweep runs every 5 s) against the same
   data; timers are made due at staggered instants and the bench polls for
   their breach event. Target: each is committed within the sweep interval
   plus one second, 6 s, of its due time.
"""

import json
import sys
import time

import psycopg2

from bench.support import bench_database_url, celery, celery_purge, django_env, project_run
from bench.support import percentile as pct

ORG_SLUG = "bench-sla"
FULL_SCALE_TIMERS = 1_000_000
ANCHORS = 40  # real leads and assignments the million timers hang on
DUE = 200  # one sweep batch (services.sla.SWEEP_BATCH)
TICK_TARGET = 3.0
SWEEP_INTERVAL_S = 5  # revops/celery.py, sweep-sla-timers
BREACH_TARGET_S = SWEEP_INTERVAL_S + 1
BREACH_SPACING_S = 1.3  # not a divisor of the interval, so due times fall at every phase of it
BREACH_LEAD_S = 4  # the first timer falls due this long after they are all written

CLAIM_SQL = (
    "SELECT * FROM execution_slatimer WHERE next_run_at <= %s "
    "ORDER BY next_run_at LIMIT 200 FOR UPDATE SKIP LOCKED"
)


def _inprocess(env: dict[str, str], *args: str) -> dict:
    return json.loads(project_run("-m", "bench.bench_sla", *args, env=env).strip().splitlines()[-1])


def breach(env: dict[str, str], db_url: str, *, samples: int) -> dict:
    """Worker and beat running; timers due at staggered instants; poll for their breach events."""
    celery_purge(env=env)
    worker_env = {**env, "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}
    with celery(env=worker_env, concurrency=2, beat=True):
        made = _inprocess(env, "breach-timers", str(samples))
        due = {int(timer): at for timer, at in made["due"].items()}
        seen = {}
        deadline = max(due.values()) + 60
        with psycopg2.connect(db_url) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                while len(seen) < len(due) and time.time() < deadline:
                    cursor.execute(
                        "SELECT timer_id, extract(epoch FROM created_at) FROM execution_slaevent "
                        "WHERE timer_id = ANY(%s) AND action = 'breach'",
                        [list(due)],
                    )
                    now = time.time()
                    for timer, inserted in cursor.fetchall():
                        seen.setdefault(timer, (now, float(inserted)))
                    time.sleep(0.05)
        connection.close()
    if len(seen) < len(due):
        raise RuntimeError(f"{len(due) - len(seen)} of {len(due)} breaches not recorded 60 s after due")
    committed = [seen[timer][0] - at for timer, at in due.items()]
    inserted = [seen[timer][1] - at for timer, at in due.items()]
    return {"committed": committed, "inserted": inserted}


def run(scale: float) -> list[dict]:
    db_url = bench_database_url()
    env = django_env(DATABASE_URL=db_url)
    project_run("manage.py", "migrate", "--noinput", env=env)
    timers = max(10_000, int(FULL_SCALE_TIMERS * scale))
    prepared = _inprocess(env, "prepare", str(timers))
    if prepared["inserted"] or prepared["deleted"]:
        print(
            f"{ORG_SLUG}: {prepared['inserted']:,} timers inserted, {prepared['deleted']:,} deleted "
            f"in {prepared['seconds']:.0f} s",
            flush=True,
        )
    ticks = _inprocess(env, "tick", str(max(200, int(1000 * scale))))
    breaches = breach(env, db_url, samples=max(8, int(30 * scale)))

    idle, claim = ticks["sweep_ms"], ticks["claim_ms"]
    worst = max(breaches["committed"])
    setting = (
        f"{ticks['open_timers']:,} open timers in the table ({timers:,} of them {ORG_SLUG}'s); "
        f"claim plan: {ticks['plan']}"
    )
    return [
        {
            "name": "sla_tick_idle_ms",
            "value": pct(idle, 50),
            "unit": "ms",
            "baseline": pct(claim, 50),
            "ratio": pct(idle, 50) / pct(claim, 50),
            "target": TICK_TARGET,
            "pass": pct(idle, 50) / pct(claim, 50) <= TICK_TARGET,
            "notes": f"median of {len(idle)} idle sla_sweep() ticks / median bare claim; {setting}",
        },
        {
            "name": "sla_tick_idle_p99_ms",
            "value": pct(idle, 99),
            "unit": "ms",
            "baseline": pct(claim, 99),
            "ratio": pct(idle, 99) / pct(claim, 99),
            "target": None,
            "pass": None,
        },
        {
            "name": "sla_step_ms",
            "value": ticks["due_ms"] / ticks["applied"],
            "unit": "ms",
            "baseline": None,
            "ratio": None,
            "target": None,
            "pass": None,
            "notes": f"one sla_sweep() with {DUE} timers due applied {ticks['applied']} steps "
            f"(reminder and breach each) in {ticks['due_ms']:.0f} ms",
        },
        {
            "name": "sla_breach_latency_s",
            "value": worst,
            "unit": "s",
            "baseline": None,
            "ratio": None,
            "target": float(BREACH_TARGET_S),
            "pass": worst <= BREACH_TARGET_S,
            "notes": f"worst of {len(breaches['committed'])} timers, due → breach event committed "
            f"(seen by polling every 50 ms); median {pct(breaches['committed'], 50):.2f} s; "
            f"event row inserted: median {pct(breaches['inserted'], 50):.2f} s, "
            f"worst {max(breaches['inserted']):.2f} s; beat every {SWEEP_INTERVAL_S} s, worker concurrency 2",
        },
    ]


# --- In-process (bench settings): python -m bench.bench_sla prepare N | tick R | breach-timers N ------


def _org():
    from apps.accounts.models import Organization
    from bench.fixtures import sla_org

    org = Organization.objects.filter(slug=ORG_SLUG).first()
    if org is None:
        sla_org(ORG_SLUG)
        org = Organization.objects.get(slug=ORG_SLUG)
    return org


def _leads(org, count: int, prefix: str) -> list[int]:
    """Create `count` leads through the service; each is routed, offered and timed on commit."""
    from apps.records.services import lead_create

    stamp = time.time_ns()
    return [
        lead_create(org=org, email=f"{prefix}-{stamp}-{i}@bench-sla.example.org", first_name="Bench").pk
        for i in range(count)
    ]


def _timers_of(org, lead_ids):
    from apps.execution.models import SlaTimer

    timers = list(SlaTimer.objects.for_org(org).filter(lead_id__in=lead_ids))
    if len(timers) != len(lead_ids):
        raise RuntimeError(f"{len(lead_ids)} leads routed but {len(timers)} SLA timers started")
    return timers


def _parked(org) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM execution_slatimer WHERE organization_id = %s "
            "AND next_run_at > now() + interval '300 days'",
            [org.pk],
        )
        return cursor.fetchone()[0]


def prepare(count: int) -> dict:
    """Make the organisation hold exactly `count` timers parked a year ahead."""
    from django.db import connection, transaction

    from apps.execution.models import Assignment, SlaPolicy, SlaTimer

    started = time.monotonic()
    org = _org()
    anchors = list(
        Assignment.objects.for_org(org).filter(lead__email__startswith="anchor-").values_list("pk", flat=True)
    )
    if not anchors:
        lead_ids = _leads(org, ANCHORS, "anchor")
        SlaTimer.objects.for_org(org).filter(lead_id__in=lead_ids).update(
            next_run_at=None, status="cancelled"
        )
        anchors = list(
            Assignment.objects.for_org(org).filter(lead_id__in=lead_ids).values_list("pk", flat=True)
        )
    policy = SlaPolicy.objects.for_org(org).get()
    have = _parked(org)
    inserted = deleted = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if have < count:
            inserted = count - have
            cursor.execute(
                """
                WITH base AS (
                    SELECT array_agg(id ORDER BY id) AS ids, array_agg(lead_id ORDER BY id) AS leads,
                           array_agg(assignee_id ORDER BY id) AS people
                    FROM execution_assignment WHERE id = ANY(%(anchors)s)
                )
                INSERT INTO execution_slatimer (
                    created_at, updated_at, organization_id, policy_id, assignment_id, lead_id, assignee_id,
                    clock, status, started_at, due_at, next_step, next_run_at, ladder)
                SELECT now(), now(), %(org)s, %(policy)s,
                       base.ids[1 + mod(g, cardinality(base.ids))],
                       base.leads[1 + mod(g, cardinality(base.ids))],
                       base.people[1 + mod(g, cardinality(base.ids))],
                       'accept', 'running', t.remind - interval '10 minutes', t.breach, 0, t.remind,
                       jsonb_build_array(
                           jsonb_build_object('at_minutes', 10, 'action', 'remind', 'mark_unavailable', false,
                                              'run_at', to_char(t.remind AT TIME ZONE 'UTC', t.iso)),
                           jsonb_build_object('at_minutes', 15, 'action', 'breach',
                                              'run_at', to_char(t.breach AT TIME ZONE 'UTC', t.iso)))
                FROM base, generate_series(1, %(count)s) AS g,
                     LATERAL (
                         SELECT now() + interval '365 days' + g * interval '1 second' AS remind,
                                now() + interval '365 days 5 minutes' + g * interval '1 second' AS breach,
                                'YYYY-MM-DD"T"HH24:MI:SS"+00:00"' AS iso
                     ) AS t
                """,
                {"anchors": anchors, "org": org.pk, "policy": policy.pk, "count": inserted},
            )
        elif have > count:
            deleted = have - count
            cursor.execute(
                """
                DELETE FROM execution_slatimer WHERE id IN (
                    SELECT id FROM execution_slatimer
                    WHERE organization_id = %s AND next_run_at > now() + interval '300 days'
                    ORDER BY id DESC LIMIT %s)
                """,
                [org.pk, deleted],
            )
    if inserted or deleted:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE execution_slatimer")
    return {"inserted": inserted, "deleted": deleted, "seconds": time.monotonic() - started}


def _shift_back(timers, minutes: int) -> None:
    """Move each clock `minutes` into the past, as if it had started then."""
    from datetime import datetime, timedelta

    back = timedelta(minutes=minutes)
    for timer in timers:
        timer.started_at -= back
        timer.due_at -= back
        timer.ladder = [
            {**step, "run_at": (datetime.fromisoformat(step["run_at"]) - back).isoformat()}
            for step in timer.ladder
        ]
        timer.next_run_at = datetime.fromisoformat(timer.ladder[timer.next_step]["run_at"])
        timer.save(update_fields=["started_at", "due_at", "ladder", "next_run_at", "updated_at"])


def _plan(at) -> str:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + CLAIM_SQL, [at])
        plan = cursor.fetchone()[0][0]["Plan"]
        transaction.set_rollback(True)

    def shape(node):
        name = node["Node Type"] + (f" on {node['Index Name']}" if "Index Name" in node else "")
        name += f" ({node.get('Actual Rows', 0)} rows)"
        children = node.get("Plans", [])
        return name + (" > " + " + ".join(shape(c) for c in children) if children else "")

    return shape(plan)


def tick(rounds: int) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.execution.models import SlaTimer
    from apps.execution.services import sla

    org = _org()
    sla.sla_sweep()  # whatever is due already (another benchmark's leftovers) is not this figure
    at = timezone.now()

    def bare_claim():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(CLAIM_SQL, [at])
            cursor.fetchall()
            transaction.set_rollback(True)

    def sweep():
        if sla.sla_sweep(now=at):
            raise RuntimeError("a timer fell due during the idle measurement")

    samples = {"sweep": [], "claim": []}
    for index in range(rounds + rounds // 10):
        for which, call in (("sweep", sweep), ("claim", bare_claim))[:: 1 if index % 2 else -1]:
            started = time.perf_counter()
            call()
            if index >= rounds // 10:  # the first tenth warms up
                samples[which].append((time.perf_counter() - started) * 1000)

    lead_ids = _leads(org, DUE, "due")
    _shift_back(_timers_of(org, lead_ids), 20)  # the reminder (10 min) and the breach (15) are both due
    started = time.perf_counter()
    applied = sla.sla_sweep()
    due_ms = (time.perf_counter() - started) * 1000
    open_timers = SlaTimer.objects.filter(next_run_at__isnull=False).count()
    return {
        "sweep_ms": samples["sweep"],
        "claim_ms": samples["claim"],
        "due_ms": due_ms,
        "applied": applied,
        "open_timers": open_timers,
        "plan": _plan(at),
    }


def breach_timers(count: int) -> dict:
    """Route `count` leads; make their timers' only step the breach, due at staggered instants."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.execution.models.sla import Step

    org = _org()
    timers = _timers_of(org, _leads(org, count, "breach"))
    first = timezone.now() + timedelta(seconds=BREACH_LEAD_S)
    due = {}
    for index, timer in enumerate(timers):
        at = first + timedelta(seconds=index * BREACH_SPACING_S)
        timer.started_at = at - timedelta(minutes=timer.policy.target_minutes)
        timer.due_at = at
        timer.ladder = [
            {"at_minutes": timer.policy.target_minutes, "action": Step.BREACH, "run_at": at.isoformat()}
        ]
        timer.next_step = 0
        timer.next_run_at = at
        timer.save(update_fields=["started_at", "due_at", "ladder", "next_step", "next_run_at", "updated_at"])
        due[timer.pk] = at.timestamp()
    return {"due": due}


if __name__ == "__main__":
    import django

    commands = {"prepare": prepare, "tick": tick, "breach-timers": breach_timers}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit("usage: python -m bench.bench_sla prepare N | tick ROUNDS | breach-timers N")
    django.setup()
    print(json.dumps(commands[sys.argv[1]](int(sys.argv[2]))))
