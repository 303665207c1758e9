"""`manage.py import_csv`: the same service in-process, with a progress bar."""

import json

import pytest
from django.core.management import CommandError, call_command

from apps.imports.models import ImportJob
from apps.records.models import Account, Lead, StageEvent
from tests.imports.helpers import csv_bytes

pytestmark = pytest.mark.django_db


def write(tmp_path, rows, name="leads.csv"):
    path = tmp_path / name
    path.write_bytes(csv_bytes(rows))
    return path


def test_import_csv_runs_with_a_progress_bar(tmp_path, org, capsys, settings):
    settings.IMPORT_BATCH_ROWS = 10
    rows = [["Email", "First Name", "Favourite colour"]] + [
        [f"p{i}@acme.test", f"P{i}", "red"] for i in range(25)
    ]
    rows.append(["broken", "Broken", ""])
    path = write(tmp_path, rows)
    call_command("import_csv", "--org", org.slug, "--type", "lead", "--file", str(path), "--mode", "upsert",
                 "--match-on", "email")  # fmt: skip
    out, err = capsys.readouterr()
    job = ImportJob.objects.get(organization=org)
    assert f"Import {job.pk} finished: 25 created, 0 updated, 0 unchanged, 1 rows with errors." in out
    assert f"/o/{org.slug}/imports/{job.pk}/errors.csv" in out
    assert "Not imported (no matching field): Favourite colour" in err
    assert "[##############################] 100%  26/26 rows" in err
    assert err.count("\r[") == 3  # one line per batch
    assert Lead.objects.count() == StageEvent.objects.count() == 25


def test_import_csv_with_a_mapping_file_for_accounts(tmp_path, org, capsys):
    path = write(tmp_path, [["Firma", "Webseite"], ["Acme GmbH", "acme.de"]], name="accounts.csv")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"Firma": "name", "Webseite": "domain"}))
    call_command("import_csv", "--org", org.slug, "--type", "account", "--file", str(path), "--mapping",
                 str(mapping), "--match-on", "domain", "--no-progress")  # fmt: skip
    assert Account.objects.get(organization=org).domain == "acme.de"
    assert "\r[" not in capsys.readouterr().err


def test_import_csv_reports_a_bad_file_and_imports_nothing(tmp_path, org):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(CommandError, match="The file is empty"):
        call_command("import_csv", "--org", org.slug, "--file", str(path))
    with pytest.raises(CommandError, match="No organisation"):
        call_command("import_csv", "--org", "nope", "--file", str(path))
    assert not ImportJob.objects.exists()


def test_import_csv_resumes_an_interrupted_job(tmp_path, org, settings, monkeypatch, capsys):
    from apps.imports import services, writers

    settings.IMPORT_BATCH_ROWS = 5
    path = write(tmp_path, [["Email"]] + [[f"p{i}@acme.test"] for i in range(12)])
    real = writers.apply_rows
    calls = []

    def interrupted(ctx, rows, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the second batch
        return real(ctx, rows, **kwargs)

    monkeypatch.setattr(services, "apply_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        call_command("import_csv", "--org", org.slug, "--file", str(path), "--no-progress")
    job = ImportJob.objects.get()
    assert (job.status, job.next_row, Lead.objects.count()) == ("running", 5, 5)

    monkeypatch.setattr(services, "apply_rows", real)
    call_command("import_csv", "--org", org.slug, "--resume", str(job.pk), "--no-progress")
    assert "Resuming import" in capsys.readouterr().err
    assert Lead.objects.count() == StageEvent.objects.count() == 12
