"""CSV import of leads against `psql \\copy` of the same rows into the same table, in the same run.

1. A HubSpot-style contacts export of `1,000,000 x BENCH_SCALE` rows (at least
   20,000; about 0.1 % of them with a bad e-mail) is written to a temp dir.
2. Baseline: the rows the import will create, already normalised, with every
   NOT NULL column of `records_lead` filled in, are loaded with
   `psql -c "\\copy records_lead (...) FROM ... CSV"` into a scratch
   organisation, timed from the outside; then deleted (and the table vacuumed).
3. The import: a fresh process (bench settings, the bench database) runs the
   same code path a worker runs: `import_upload` (read and check the file,
   store it in Postgres), `import_start`, `import_run` (validate, normalise,
   match, COPY the leads and their first stage events, flag duplicates,
   checkpoint every batch). Timed from the upload to the last commit; its
   peak RSS comes from getrusage.

Targets: the import takes at most 4x the time of `\\copy` (that is, it runs at
≥ 25 % of its speed), and the importing process stays under 500 MB RSS.
"""

import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from bench.support import bench_database_url, django_env, project_run

ROWS_AT_SCALE_1 = 1_000_000
MIN_ROWS = 20_000
TIME_RATIO_TARGET = 4.0  # import seconds / \copy seconds: ≥ 25 % of psql's speed
RSS_BUDGET_MB = 500
COPY_ORG, IMPORT_ORG = "bench-import-copy", "bench-import-run"

HEADERS = [
    "Record ID", "First Name", "Last Name", "Email", "Job Title", "Company Name", "Phone Number",
    "Country/Region", "Original Source", "Lifecycle Stage", "Create Date",
]  # fmt: skip
FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Edsger", "Barbara", "Donald", "Frances", "Ken", "José"]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Núñez",
]
TITLES = ["CTO", "VP Engineering", "Head of Data", "Developer", "Marketing Manager", "CFO", ""]
SOURCES = ["Google Ads", "LinkedIn", "Webinar", "Organic Search", "Referral", "Partner"]
COUNTRIES = ["US", "DE", "FR", "GB", "NL", "es", "Germany", "United States", "Canada", "JP"]
STAGES = ["subscriber", "lead", "marketingqualifiedlead", "MQL", "salesqualifiedlead", ""]


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


def write_export(path: Path, n: int, *, seed: int = 7) -> int:
    """A HubSpot-like contacts export; returns how many rows have a bad e-mail."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for i in range(n):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = rng.randrange(20_000)
            domain = "gmail.com" if i % 5 == 0 else f"company{company}.example"
            email = f"{_ascii(first)}.{_ascii(last)}.{i}@{domain}"
            if i % 1000 == 999:
                email, bad = f"{first} {last} at {domain}", bad + 1
            writer.writerow(
                [
                    f"HS-{i}", first, last, email, rng.choice(TITLES), f"Company {company} Inc",
                    f"+1 555 {i:07d}", rng.choice(COUNTRIES), rng.choice(SOURCES), rng.choice(STAGES),
                    f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                ]
            )  # fmt: skip
    return bad


# --- What runs inside the project (python -m bench.bench_import STEP ...) ----------------


def _org(slug):
    from apps.accounts import services
    from apps.accounts.models import Organization, User

    user = User.objects.filter(email="bench@bench.invalid").first() or services.user_create(
        email="bench@bench.invalid", full_name="Benchmark"
    )
    return Organization.objects.filter(slug=slug).first() or services.organization_create(
        name=slug, owner=user, slug=slug
    )


def step_clean(slug: str) -> dict:
    """Remove every lead and import of the scratch organisation, without writing audit rows for it."""
    import pgtrigger
    from django.db import connection, transaction

    from apps.imports.models import ImportJob
    from apps.records.models import DuplicateCandidate, Lead, StageEvent

    org = _org(slug)
    with transaction.atomic(), pgtrigger.ignore("records.Lead:delete_delete"):
        DuplicateCandidate.objects.filter(organization=org).delete()
        StageEvent.objects.filter(organization=org)._raw_delete(connection.alias)
        Lead.objects.filter(organization=org)._raw_delete(connection.alias)
        ImportJob.objects.filter(organization=org).delete()
    with connection.cursor() as cursor:
        for table in ("records_lead", "records_stageevent", "imports_importfilechunk"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"org": org.pk}


def step_copy_file(source: str, target: str) -> dict:
    """The rows the import creates, normalised, with every NOT NULL column, in \\copy CSV format."""
    from django.utils import timezone

    from apps.imports.countries import country_code
    from apps.records.models import LifecycleStage
    from apps.records.normalize import normalize_text

    org = _org(COPY_ORG)
    stage_id = LifecycleStage.objects.get(organization=org, key="inquiry").pk
    now = timezone.now().isoformat()
    columns = [
        "created_at", "updated_at", "organization_id", "external_id", "first_name", "last_name", "email",
        "title", "company", "phone", "country", "source", "channel", "utm_source", "utm_medium",
        "utm_campaign", "utm_term", "utm_content", "custom", "stage_id", "stage_entered_at", "score",
        "captured_at", "completeness",
    ]  # fmt: skip
    rows = 0
    with open(source, newline="", encoding="utf-8") as src, open(target, "w", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst, quoting=csv.QUOTE_NOTNULL)
        next(reader)
        for ext, first, last, email, title, company, phone, country, source_, _, created in reader:
            if " " in email:
                continue  # the import refuses these rows
            writer.writerow(
                [
                    now, now, org.pk, ext, first, last, email.lower(), normalize_text(title), company, phone,
                    country_code(country), source_, "", "", "", "", "", "", "{}", stage_id, created, 0,
                    created, 0.75,
                ]
            )  # fmt: skip
            rows += 1
    return {"columns": columns, "rows": rows, "org": org.pk}


def step_import(source: str) -> dict:
    """Upload, start and run an import in this process, as a worker would; time it and report peak RSS."""
    import resource

    from apps.imports import services

    org = _org(IMPORT_ORG)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    with open(source, "rb") as handle:
        job = services.import_upload(
            org=org, actor=None, file=handle, file_name=Path(source).name, object_type="lead", limit=2**40
        )
    uploaded = time.perf_counter()
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    result = services.import_run(org_id=org.pk, job_id=job.pk, owner="bench")
    finished = time.perf_counter()
    job.refresh_from_db()
    return {
        "result": result,
        "rows": job.total_rows,
        "created": job.created_count,
        "errors": job.error_count,
        "upload_s": uploaded - started,
        "run_s": finished - uploaded,
        "total_s": finished - started,
        "rss_start_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(*args: str, env) -> dict:
    output = project_run("-m", "bench.bench_import", *args, env=env)
    return json.loads(output.strip().splitlines()[-1])


def _psql_copy(url: str, path: Path, columns: list[str]) -> float:
    command = f"\\copy records_lead ({', '.join(columns)}) FROM '{path}' WITH (FORMAT csv)"
    started = time.perf_counter()
    result = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", command], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"psql \\copy failed: {result.stderr.strip()[-500:]}")
    return elapsed


def run(scale: float) -> list[dict]:
    url = bench_database_url()
    env = django_env(DATABASE_URL=url)
    project_run("manage.py", "migrate", "--noinput", env=env)
    n = max(MIN_ROWS, int(ROWS_AT_SCALE_1 * scale))
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        export, copy_file = Path(tmp) / "contacts.csv", Path(tmp) / "leads-copy.csv"
        bad = write_export(export, n)
        _child("clean", COPY_ORG, env=env)
        _child("clean", IMPORT_ORG, env=env)
        prepared = _child("copy-file", str(export), str(copy_file), env=env)
        copy_s = _psql_copy(url, copy_file, prepared["columns"])
        _child("clean", COPY_ORG, env=env)
        imported = _child("import", str(export), env=env)
        _child("clean", IMPORT_ORG, env=env)
        size_mb = export.stat().st_size / 1024 / 1024
    if imported["result"] != "succeeded" or imported["created"] != prepared["rows"]:
        raise RuntimeError(f"the import did not create the {prepared['rows']} leads expected: {imported}")
    copy_rps = prepared["rows"] / copy_s
    import_rps = imported["created"] / imported["total_s"]
    time_ratio = imported["total_s"] / copy_s
    notes = (
        f"{n:,} rows ({size_mb:.0f} MB, {bad} refused), upload+check {imported['upload_s']:.1f} s, "
        f"run {imported['run_s']:.1f} s, \\copy {copy_s:.1f} s"
    )
    return [
        {
            "name": "import_rows_per_s",
            "value": import_rps,
            "unit": "rows/s",
            "baseline": copy_rps,
            "ratio": import_rps / copy_rps,
            "target": None,
            "pass": None,
            "notes": notes + "; baseline = psql \\copy rows/s (higher is better, goal >= 0.25)",
        },
        {
            "name": "import_time_vs_copy",
            "value": imported["total_s"],
            "unit": "s",
            "baseline": copy_s,
            "ratio": time_ratio,
            "target": TIME_RATIO_TARGET,
            "pass": time_ratio <= TIME_RATIO_TARGET,
            "notes": "ratio = import / \\copy time; at most 4x means at least 25 % of \\copy's speed",
        },
        {
            "name": "import_peak_rss_mb",
            "value": imported["peak_rss_mb"],
            "unit": "MB",
            "baseline": RSS_BUDGET_MB,
            "ratio": imported["peak_rss_mb"] / RSS_BUDGET_MB,
            "target": 1.0,
            "pass": imported["peak_rss_mb"] <= RSS_BUDGET_MB,
            "notes": f"peak RSS of the importing process (at start: {imported['rss_start_mb']:.0f} MB); "
            f"baseline = the {RSS_BUDGET_MB} MB budget",
        },
    ]


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    step, *args = sys.argv[1:]
    steps = {"clean": step_clean, "copy-file": step_copy_file, "import": step_import}
    print(json.dumps(steps[step](*args)))
