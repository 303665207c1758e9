"""The journey sweeper on a million enrolments: steps per second per worker, against the bare claim.

The organisation `bench-journeys` holds `1,000,000 x BENCH_SCALE` active
enrolments (at least 20,000): 100 published journeys (an e-mail, then a
one-day wait; exit goals "replied" and "unsubscribed") times `N / 100` leads,
inserted once by `INSERT ... SELECT generate_series` and ANALYZEd, parked a
year ahead; later runs reuse them.

In one process (bench settings, locmem e-mail backend), alternately, three
rounds each, over the same `DUE` enrolments made due again before each round:

  * sweeper: `engine.sweep()` until nothing is due, as one worker's beat tick
    does: per enrolment, the exit-goal checks, the e-mail step (rendered,
    OutboundEmail and JourneyStepRun written), then the wait step (a second
    claim and run): two steps each;
  * bare: `UPDATE execution_enrollment ... WHERE id IN (SELECT id ... FOR
    UPDATE SKIP LOCKED LIMIT 500) RETURNING id` until nothing is due: one
    claim-and-advance per enrolment, no step.

Figures: steps per second of one worker (target ≥ 1,000), and the sweeper's
time per step over the bare query's time per advanced row (target ≤ 3).
"""

import json
import statistics
import sys
import time

from bench.support import bench_database_url, django_env, project_run

ORG_SLUG = "bench-journeys"
FULL_SCALE = 1_000_000
JOURNEYS = 100
BATCH = 500  # apps.execution.journeys.engine.SWEEP_BATCH
ROUNDS = 3
RATE_TARGET = 1000.0
RATIO_TARGET = 3.0

BARE_SQL = """
UPDATE execution_enrollment
SET step_id = 'w', next_run_at = next_run_at + interval '1 day', updated_at = now()
WHERE id IN (
    SELECT id FROM execution_enrollment WHERE status = 'active' AND next_run_at <= %s
    ORDER BY next_run_at LIMIT %s FOR UPDATE SKIP LOCKED
) RETURNING id
"""


def _inprocess(env: dict[str, str], *args: str) -> dict:
    return json.loads(project_run("-m", "bench.bench_journeys", *args, env=env).strip().splitlines()[-1])


def run(scale: float) -> list[dict]:
    env = django_env(
        DATABASE_URL=bench_database_url(), EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
    )
    project_run("manage.py", "migrate", "--noinput", env=env)
    count = max(20_000, int(FULL_SCALE * scale))
    prepared = _inprocess(env, "prepare", str(count))
    if prepared["inserted"]:
        print(
            f"{ORG_SLUG}: {prepared['inserted']:,} enrolments inserted in {prepared['seconds']:.0f} s",
            flush=True,
        )
    due = max(2000, int(10_000 * scale))
    measured = _inprocess(env, "measure", str(due))
    sweep_ms = statistics.median(measured["sweep_ms_per_step"])
    bare_ms = statistics.median(measured["bare_ms_per_row"])
    rate = 1000 / sweep_ms
    setting = f"{measured['enrollments']:,} enrolments in the table, {due:,} due, batches of {BATCH}"
    return [
        {
            "name": "journey_steps_per_s",
            "value": rate,
            "unit": "steps/s",
            "baseline": 1000 / bare_ms,
            "ratio": rate / (1000 / bare_ms),
            "target": None,
            "pass": rate >= RATE_TARGET,
            "notes": f"one worker, median of {ROUNDS} rounds of {2 * due:,} steps (e-mail + wait); "
            f"baseline: bare claim-and-advance rows/s; target ≥ {RATE_TARGET:,.0f} steps/s; {setting}",
        },
        {
            "name": "journey_step_ms",
            "value": sweep_ms,
            "unit": "ms",
            "baseline": bare_ms,
            "ratio": sweep_ms / bare_ms,
            "target": RATIO_TARGET,
            "pass": sweep_ms / bare_ms <= RATIO_TARGET,
            "notes": "sweeper time per step / the bare claim-and-advance UPDATE's time per row",
        },
    ]


# --- In-process (bench settings): python -m bench.bench_journeys prepare N | measure DUE -----------------


def _org():
    from apps.accounts import services
    from apps.accounts.models import Organization, User
    from bench.fixtures import EMAIL

    org = Organization.objects.filter(slug=ORG_SLUG).first()
    if org is None:
        owner = User.objects.filter(email=EMAIL).first() or services.user_create(
            email=EMAIL, full_name="Benchmark"
        )
        org = services.organization_create(name="Benchmark journeys", owner=owner, slug=ORG_SLUG)
    return org


def _journeys(org) -> list:
    from apps.execution.journeys import services
    from apps.execution.models import Journey

    have = list(Journey.objects.for_org(org).order_by("pk"))
    if have:
        return have
    template = services.email_template_create(
        org=org, name="Bench", subject="Hello {{ first_name }}", body="Hi {{ first_name }} at {{ company }}."
    )
    steps = [
        {"id": "e", "type": "email", "email": {"template": template.pk}},
        {"id": "w", "type": "wait", "wait": {"days": 1}},
    ]
    made = []
    for n in range(JOURNEYS):
        journey = services.journey_create(
            org=org, name=f"Bench journey {n:03d}", motion="nurture", draft_steps=steps,
            exit_goals=[{"type": "replied"}, {"type": "unsubscribed"}],
        )  # fmt: skip
        services.journey_publish(org=org, journey=journey)
        made.append(journey)
    return made


def _leads(org, count: int) -> list[int]:
    from apps.records.models import Lead, LifecycleStage

    have = list(Lead.objects.for_org(org).order_by("pk").values_list("pk", flat=True)[:count])
    if len(have) >= count:
        return have
    stage = LifecycleStage.objects.for_org(org).get(key="inquiry")
    Lead.objects.bulk_create(
        [
            Lead(organization=org, email=f"lead{n}@bench-journeys.invalid", first_name=f"Lead{n}",
                 company="Bench", stage=stage)
            for n in range(len(have), count)
        ],
        batch_size=5000,
    )  # fmt: skip
    return list(Lead.objects.for_org(org).order_by("pk").values_list("pk", flat=True)[:count])


def prepare(count: int) -> dict:
    """Make the organisation hold `count` active enrolments parked a year ahead (JOURNEYS x leads)."""
    from django.db import connection, transaction

    from apps.execution.models import Enrollment

    started = time.monotonic()
    org = _org()
    journeys = _journeys(org)
    have = Enrollment.objects.for_org(org).count()
    if have >= count:
        return {"inserted": 0, "seconds": 0}
    per_journey = -(-count // JOURNEYS)
    leads = _leads(org, per_journey)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM execution_enrollment WHERE organization_id = %s", [org.pk])
        cursor.execute(
            """
            INSERT INTO execution_enrollment (
                created_at, updated_at, organization_id, journey_id, version_id, lead_id, status, step_id,
                visit, next_run_at, entered_at, exit_reason, source, attempts, last_error)
            SELECT now(), now(), %(org)s, j.ids[1 + g / %(per)s], j.versions[1 + g / %(per)s],
                   l.ids[1 + mod(g, %(per)s)], 'active', 'e', 1,
                   now() + interval '365 days' + g * interval '1 millisecond', now(), '', 'bench', 0, ''
            FROM (SELECT %(journeys)s::bigint[] AS ids, %(versions)s::bigint[] AS versions) AS j,
                 (SELECT %(leads)s::bigint[] AS ids) AS l,
                 generate_series(0, %(count)s - 1) AS g
            """,
            {
                "org": org.pk, "per": per_journey, "count": count, "leads": leads,
                "journeys": [j.pk for j in journeys], "versions": [j.current_version_id for j in journeys],
            },
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE execution_enrollment")
    return {"inserted": count, "seconds": time.monotonic() - started}


def _reset(ids: list[int], at) -> None:
    """Make the chosen enrolments due again at their first step, with no step run behind them."""
    from datetime import timedelta

    from django.db import transaction

    from apps.execution.models import Enrollment, JourneyStepRun

    with transaction.atomic():
        JourneyStepRun.objects.filter(enrollment_id__in=ids).delete()  # their e-mails go with them
        Enrollment.objects.filter(pk__in=ids).update(
            status="active",
            step_id="e",
            visit=1,
            attempts=0,
            finished_at=None,
            next_run_at=at - timedelta(seconds=1),
        )


def measure(due: int) -> dict:
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from apps.execution.journeys import engine
    from apps.execution.models import Enrollment, JourneyStepRun
    from revops.startup import freeze_startup_objects

    freeze_startup_objects()  # as every worker process does when it starts
    org = _org()
    ids = list(Enrollment.objects.for_org(org).order_by("pk").values_list("pk", flat=True)[:due])
    samples = {"sweep_ms_per_step": [], "bare_ms_per_row": []}

    def sweeper(at):
        started = time.perf_counter()
        while engine.sweep(now=at):
            pass
        elapsed = time.perf_counter() - started
        steps = JourneyStepRun.objects.filter(enrollment_id__in=ids).count()
        if steps != 2 * due:
            raise RuntimeError(f"{steps} steps ran for {due} due enrolments; expected {2 * due}")
        samples["sweep_ms_per_step"].append(elapsed * 1000 / steps)

    def bare(at):
        rows = 0
        started = time.perf_counter()
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(BARE_SQL, [at, BATCH])
                claimed = len(cursor.fetchall())
            if not claimed:
                break
            rows += claimed
        elapsed = time.perf_counter() - started
        if rows != due:
            raise RuntimeError(f"the bare query advanced {rows} rows; expected {due}")
        samples["bare_ms_per_row"].append(elapsed * 1000 / rows)

    for index in range(ROUNDS + 1):  # the first round warms up and is dropped
        for call in (sweeper, bare)[:: 1 if index % 2 else -1]:
            at = timezone.now()
            _reset(ids, at)
            call(at)
        if index == 0:
            samples = {key: [] for key in samples}
    _reset(ids, timezone.now())
    parked = timezone.now() + timedelta(days=365)  # out of the next run's way, and of the live sweeper's
    Enrollment.objects.filter(pk__in=ids).update(next_run_at=parked)
    return {**samples, "enrollments": Enrollment.objects.count()}


if __name__ == "__main__":
    import django

    commands = {"prepare": prepare, "measure": measure}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit("usage: python -m bench.bench_journeys prepare N | measure DUE")
    django.setup()
    print(json.dumps(commands[sys.argv[1]](int(sys.argv[2]))))
