"""The wizard's pages: upload → mapping → preview → start → progress → summary and error file."""

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.accounts.roles import Role
from apps.imports import services
from apps.imports.models import ImportJob
from apps.records.models import Lead
from tests import factories
from tests.imports.helpers import csv_bytes, run, upload

pytestmark = pytest.mark.django_db

ROWS = [
    ["Email", "First Name", "Country/Region", "Favourite colour"],
    ["ada@acme.test", "Ada", "GB", "green"],
    ["bob(at)acme.test", "Bob", "DE", "blue"],
    ["cy@acme.test", "Cy", "Narnia", ""],
]


def url(name, org, job=None):
    kwargs = {"org_slug": org.slug}
    if job is not None:
        kwargs["pk"] = job.pk
    return reverse(name, kwargs=kwargs)


def test_the_index_explains_what_to_do_when_there_are_no_imports(owner_client, org):
    response = owner_client.get(url("imports_index", org))
    body = response.content.decode()
    assert response.status_code == 200
    assert "No imports yet" in body and "Export your contacts or companies" in body
    assert 'enctype="multipart/form-data"' in body
    assert "js/imports.js" in body


def test_the_whole_wizard(owner_client, org, owner, django_capture_on_commit_callbacks, monkeypatch):
    from apps.imports import tasks

    # 1. Upload.
    response = owner_client.post(
        url("imports_index", org),
        {"object_type": "lead", "file": SimpleUploadedFile("hubspot.csv", csv_bytes(ROWS), "text/csv")},
    )
    job = ImportJob.objects.get(organization=org)
    assert response.status_code == 302 and response["Location"] == url("imports_mapping", org, job)
    assert (job.total_rows, job.created_by, job.status) == (3, owner, "uploaded")

    # 2. Mapping: recognised headers are preselected, the unknown column is flagged.
    body = owner_client.get(url("imports_mapping", org, job)).content.decode()
    assert '<option value="email" selected>E-mail</option>' in body
    assert '<option value="country" selected>Country</option>' in body
    assert "1 column is not imported" in body
    assert body.count("Not imported</span>") == 1
    assert "<code>green</code>, <code>blue</code>" in body
    response = owner_client.post(
        url("imports_mapping", org, job),
        {"column_0": "email", "column_1": "first_name", "column_2": "country", "column_3": ""},
    )
    assert response.status_code == 302 and response["Location"] == url("imports_preview", org, job)

    # 3. Preview: counts and every problem with row, column and reason.
    body = owner_client.get(url("imports_preview", org, job)).content.decode()
    assert "All 3 rows were checked." in body
    assert "Row numbers count the header as row 1" in body
    assert (
        "<tr><td>3</td><td>Email</td><td>“bob(at)acme.test” is not a valid e-mail address.</td></tr>" in body
    )
    assert "<tr><td>4</td><td>Country/Region</td><td>“Narnia” is not a country" in body
    assert "<strong>1</strong> new leads" in body
    assert Lead.objects.count() == 0  # nothing written by the preview

    # 4. Start: queued, and the task is sent once the transaction commits.
    sent = []
    monkeypatch.setattr(tasks.run_job, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            url("imports_preview", org, job), {"mode": "upsert", "match_on": "email", "action": "start"}
        )
    assert response.status_code == 302 and response["Location"] == url("imports_job", org, job)
    assert sent == [(org.pk, job.pk)]
    body = owner_client.get(url("imports_job", org, job)).content.decode()
    assert 'hx-trigger="every 1s"' in body and "waiting for a worker" in body
    assert "Cancel import" in body

    # 5. The worker runs it (here in-process); the partial stops polling and shows the summary.
    run(job)
    body = owner_client.get(url("imports_progress", org, job)).content.decode()
    assert "hx-trigger" not in body
    assert "Import finished" in body
    assert '<progress max="3" value="3"' in body
    assert '<dd data-count="created">1</dd>' in body and '<dd data-count="errors">2</dd>' in body
    assert url("imports_errors", org, job) in body

    # 6. The error file: the failed rows as uploaded, plus an error column.
    response = owner_client.get(url("imports_errors", org, job))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="import-' in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines == [
        ["Email", "First Name", "Country/Region", "Favourite colour", "error"],
        [
            "bob(at)acme.test",
            "Bob",
            "DE",
            "blue",
            "Row 3: Email: “bob(at)acme.test” is not a valid e-mail address.",
        ],
        [
            "cy@acme.test",
            "Cy",
            "Narnia",
            "",
            "Row 4: Country/Region: “Narnia” is not a country: use a two-letter ISO code such as US or DE, "
            "or the country's English name.",
        ],
    ]


def test_preview_refuses_a_match_key_without_a_column(owner_client, org):
    job = upload(org, csv_bytes([["First Name"], ["Ada"]]))
    response = owner_client.post(
        url("imports_preview", org, job), {"mode": "upsert", "match_on": "email", "action": "start"}
    )
    assert response.status_code == 200
    assert "No column is mapped to E-mail" in response.content.decode()
    job.refresh_from_db()
    assert job.status in ImportJob.EDITABLE


def test_checking_again_with_other_options_starts_nothing(owner_client, org):
    job = upload(org, csv_bytes([["Email", "First Name"], ["ada@acme.test", "Ada"]]))
    response = owner_client.post(
        url("imports_preview", org, job), {"mode": "update", "match_on": "email", "action": "check"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "No lead has this e-mail; update mode only changes existing leads." in body
    assert re.search(r'<input type="radio" name="mode" value="update"[^>]* checked', body)
    job.refresh_from_db()
    assert job.status == "validated"


def test_mapping_one_field_twice_is_refused(owner_client, org):
    job = upload(org, csv_bytes(ROWS))
    response = owner_client.post(
        url("imports_mapping", org, job),
        {"column_0": "email", "column_1": "email", "column_2": "", "column_3": ""},
    )
    assert response.status_code == 200
    assert "E-mail is fed by two columns, Email and First Name." in response.content.decode()


def test_cancel(owner_client, org):
    job = upload(org, csv_bytes(ROWS))
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    assert owner_client.get(url("imports_cancel", org, job)).status_code == 405
    response = owner_client.post(url("imports_cancel", org, job), follow=True)
    assert "Import cancelled" in response.content.decode()
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_a_started_job_sends_its_wizard_pages_to_the_job_page(owner_client, org):
    job = upload(org, csv_bytes(ROWS))
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    for name in ("imports_mapping", "imports_preview"):
        response = owner_client.get(url(name, org, job))
        assert response.status_code == 302 and response["Location"] == url("imports_job", org, job)


@pytest.mark.parametrize("role", [Role.SALES_REP, Role.SALES_MANAGER, Role.VIEWER])
def test_roles_without_data_import_get_403(client, org, role):
    member = factories.make_member(org, role=role)
    client.force_login(member.user)
    job = upload(org, csv_bytes(ROWS))
    assert client.get(url("imports_index", org)).status_code == 403
    assert client.get(url("imports_errors", org, job)).status_code == 403


@pytest.mark.parametrize("role", [Role.REVOPS_LEAD, Role.MARKETER])
def test_operators_and_marketers_may_import(client, org, role):
    member = factories.make_member(org, role=role)
    client.force_login(member.user)
    assert client.get(url("imports_index", org)).status_code == 200


def test_the_list_of_imports_has_a_fixed_query_count(owner_client, org, owner, django_assert_num_queries):
    for _ in range(3):
        upload(org, csv_bytes(ROWS), actor=owner)
    owner_client.get(url("imports_index", org))  # warm the session
    # session, user, membership (org_view), nav memberships, count, the page of jobs with their uploader
    with django_assert_num_queries(6):
        response = owner_client.get(url("imports_index", org))
    assert response.content.decode().count("contacts.csv") == 3
