"""What an import does: create / update / upsert by match key, side effects, batches, checkpoint, lease."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.imports import selectors, services, writers
from apps.imports.models import ImportFileChunk, ImportJob, ImportRowError
from apps.integrations.models import OutboxEvent
from apps.records import quality
from apps.records import services as records
from apps.records.models import Account, DuplicateCandidate, Lead, SourceMapping, StageEvent
from tests.imports.helpers import csv_bytes, import_rows, run, upload

pytestmark = pytest.mark.django_db

LEADS = [
    ["Email", "First Name", "Last Name", "Company Name", "Original Source", "Create Date", "Record ID"],
    ["ada@acme.test", "Ada", "Lovelace", "Acme", "LinkedIn", "2026-01-15", "HS-1"],
    ["grace@navy.test", "Grace", "Hopper", "Navy", "Webinar", "2026-01-16T09:30:00Z", "HS-2"],
    ["alan@gmail.com", "Alan", "Turing", "", "", "", "HS-3"],
]


def errors_of(job):
    return [(e.row_number, [tuple(x) for x in e.errors]) for e in job.row_errors.order_by("row_number")]


# --- What a created lead looks like ------------------------------------------------------


def test_a_new_lead_is_what_lead_create_would_make(org, owner):
    SourceMapping.objects.create(organization=org, raw_value="linkedin", channel="Paid Social")
    acme = records.account_create(org=org, name="Acme", domain="acme.test")
    job = upload(org, csv_bytes(LEADS), actor=owner)
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    job = run(job)
    assert (job.status, job.created_count, job.error_count) == ("succeeded", 3, 0)

    ada = Lead.objects.get(email="ada@acme.test")
    assert ada.external_id == "HS-1" and ada.company == "Acme"
    assert ada.channel == "Paid Social"  # one SourceMapping load, same rule as channel_for
    assert ada.account == acme  # matched by the e-mail's company domain
    assert ada.captured_at == ada.stage_entered_at == datetime(2026, 1, 15, tzinfo=UTC)
    assert ada.completeness == quality.completeness(org=org, object_type="lead", record=ada)
    assert Lead.objects.get(email="alan@gmail.com").account is None  # free mail names no company

    # Compare with the API path on the same values.
    api = records.lead_create(
        org=org, email="ADA2@acme.test", first_name="Ada", last_name="Lovelace", company="Acme",
        source="LinkedIn",
        captured_at=datetime(2026, 1, 15, tzinfo=UTC),
    )  # fmt: skip
    for name in (
        "first_name",
        "last_name",
        "company",
        "channel",
        "account_id",
        "stage_id",
        "country",
        "score",
    ):
        assert getattr(ada, name) == getattr(api, name), name
    assert ada.completeness == api.completeness

    (event,) = StageEvent.objects.filter(lead=ada)
    assert (event.from_stage, event.to_stage, event.origin) == ("", "inquiry", "import")
    assert event.at == ada.captured_at and event.actor == owner
    assert StageEvent.objects.filter(origin="import").count() == 3


def test_an_import_emits_no_webhook_events(org):
    before = OutboxEvent.objects.count()
    import_rows(org, LEADS)
    assert Lead.objects.count() == 3
    assert OutboxEvent.objects.count() == before


def test_exact_email_duplicates_are_flagged(org):
    older = records.lead_create(org=org, email="ada@acme.test", first_name="Ada")
    job = import_rows(
        org,
        [
            ["Email", "First Name", "Record ID"],
            ["ada@acme.test", "Ada L.", "X-1"],
            ["ada@acme.test", "A.", "X-2"],
        ],
        mode="create",
        match_on="external_id",
    )
    assert job.created_count == 2
    first, second = Lead.objects.filter(external_id__in=["X-1", "X-2"]).order_by("external_id")
    pairs = set(DuplicateCandidate.objects.values_list("lead_id", "other_id", "reason"))
    assert pairs == {
        (first.pk, older.pk, "email"),
        (second.pk, older.pk, "email"),
        (second.pk, first.pk, "email"),
    }


# --- Modes and match keys ----------------------------------------------------------------


def test_create_mode_refuses_rows_that_already_exist(org):
    records.lead_create(org=org, email="ada@acme.test", first_name="Old")
    job = import_rows(org, LEADS, mode="create", match_on="email")
    assert (job.created_count, job.updated_count, job.error_count) == (2, 0, 1)
    assert errors_of(job) == [
        (2, [("Email", "A lead with this e-mail already exists; create mode only adds new leads.")])
    ]
    assert Lead.objects.get(email="ada@acme.test").first_name == "Old"


def test_update_mode_changes_matches_only_and_keeps_what_empty_cells_leave(org):
    lead = records.lead_create(
        org=org, email="ada@acme.test", first_name="Ada", title="CTO", phone="+44 1", external_id="HS-1"
    )
    rows = [
        ["Email", "First Name", "Job Title", "Phone Number", "Lifecycle Stage"],
        ["ADA@acme.test", "Augusta", "", "+44 2", "MQL"],
        ["nobody@acme.test", "No", "One", "", ""],
    ]
    job = import_rows(org, rows, mode="update", match_on="email")
    assert (job.created_count, job.updated_count, job.error_count) == (0, 1, 1)
    assert errors_of(job) == [
        (3, [("Email", "No lead has this e-mail; update mode only changes existing leads.")])
    ]
    lead.refresh_from_db()
    assert (lead.first_name, lead.title, lead.phone, lead.stage.key) == ("Augusta", "CTO", "+44 2", "mql")
    change = StageEvent.objects.filter(lead=lead).order_by("id").last()
    assert (change.from_stage, change.to_stage, change.origin) == ("inquiry", "mql", "import")
    assert Lead.objects.count() == 1


def test_upsert_by_external_id(org):
    lead = records.lead_create(org=org, email="old@acme.test", first_name="Ada", external_id="HS-1")
    job = import_rows(org, LEADS, mode="upsert", match_on="external_id")
    assert (job.created_count, job.updated_count) == (2, 1)
    lead.refresh_from_db()
    assert lead.email == "ada@acme.test"  # the e-mail changed; the key held


def test_update_and_upsert_need_the_match_key_in_each_row(org):
    rows = [["Email", "First Name"], ["", "Ada"], ["bob@acme.test", "Bob"]]
    job = import_rows(org, rows, mode="upsert", match_on="email")
    assert job.created_count == 1
    assert errors_of(job) == [
        (2, [("Email", "Empty, but the e-mail is the match key, so the row cannot be matched.")])
    ]


def test_the_match_key_column_must_be_mapped_for_update_and_upsert(org):
    job = upload(org, csv_bytes([["First Name"], ["Ada"]]))
    with pytest.raises(ServiceError, match="No column is mapped to E-mail"):
        services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    services.import_start(org=org, job=job, mode="create", match_on="email", enqueue=False)
    assert run(job).created_count == 1


def test_rerunning_the_same_file_in_upsert_mode_creates_nothing_new(org):
    rows = [LEADS[0]] + [
        [f"p{i}@acme.test", f"P{i}", "X", "Acme", "Ads", "2026-02-01", f"R-{i}"] for i in range(40)
    ]
    first = import_rows(org, rows, mode="upsert", match_on="email")
    assert first.created_count == 40
    leads, events = Lead.objects.count(), StageEvent.objects.count()
    second = import_rows(org, rows, mode="upsert", match_on="email")
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 40)
    third = import_rows(org, rows, mode="upsert", match_on="external_id")
    assert (third.created_count, third.unchanged_count) == (0, 40)
    assert (Lead.objects.count(), StageEvent.objects.count()) == (leads, events)


def test_the_same_key_twice_in_a_file_creates_once_then_updates(org):
    rows = [["Email", "First Name", "Job Title"], ["ada@acme.test", "Ada", ""], ["ada@acme.test", "", "CTO"]]
    job = import_rows(org, rows, mode="upsert", match_on="email")
    assert (job.created_count, job.updated_count) == (1, 1)
    lead = Lead.objects.get()
    assert (lead.first_name, lead.title) == ("Ada", "CTO")
    assert StageEvent.objects.count() == 1


def test_an_external_id_belonging_to_another_lead_is_a_row_error_not_a_failed_batch(org):
    records.lead_create(org=org, email="taken@acme.test", external_id="HS-1")
    job = import_rows(org, LEADS, mode="upsert", match_on="email")
    assert job.status == "succeeded"
    assert (job.created_count, job.error_count) == (2, 1)
    assert errors_of(job) == [
        (2, [("Record ID", "The external ID \u201cHS-1\u201d already belongs to another lead.")])
    ]


def test_accounts_upsert_by_domain_and_adopt_their_leads(org):
    lead = records.lead_create(org=org, email="ada@acme.test", first_name="Ada")
    assert lead.account is None
    existing = records.account_create(org=org, name="Globex", domain="globex.test", industry="Energy")
    rows = [
        ["Account Name", "Website", "Industry", "Employees", "Annual Revenue", "Billing Country"],
        ["Acme", "https://www.acme.test/about", "Software", "1,200", "5000000", "United States"],
        ["Globex Corp", "globex.test", "", "50", "", "DE"],
        ["", "nameless.test", "", "", "", ""],
    ]
    job = import_rows(org, rows, object_type="account", mode="upsert", match_on="domain")
    assert (job.created_count, job.updated_count, job.error_count) == (1, 1, 1)
    assert errors_of(job) == [(4, [("Account Name", "A new account needs a name.")])]
    acme = Account.objects.get(domain="acme.test")
    assert (acme.name, acme.employees, acme.country) == ("Acme", 1200, "US")
    assert acme.completeness == quality.completeness(org=org, object_type="account", record=acme)
    existing.refresh_from_db()
    assert (existing.name, existing.industry, existing.employees) == ("Globex Corp", "Energy", 50)
    lead.refresh_from_db()
    assert lead.account == acme


def test_accounts_by_external_id_in_create_mode(org):
    records.account_create(org=org, name="Acme", external_id="A-1")
    rows = [["Account ID", "Account Name"], ["A-1", "Acme again"], ["A-2", "Initech"]]
    job = import_rows(org, rows, object_type="account", mode="create", match_on="external_id")
    assert (job.created_count, job.error_count) == (1, 1)
    assert errors_of(job) == [
        (
            2,
            [
                (
                    "Account ID",
                    "An account with this external id already exists; create mode only adds new accounts.",
                )
            ],
        )
    ]


# --- Batches, checkpoint, lease ------------------------------------------------------------


def many_leads(n):
    return [["Email", "First Name"]] + [[f"person{i}@acme.test", f"Person {i}"] for i in range(n)]


class Crash(BaseException):
    """Like a SIGKILL: nothing in import_run gets to handle it."""


def test_a_crash_keeps_exactly_the_committed_batches_and_a_resume_applies_the_rest_once(
    org, settings, monkeypatch
):
    settings.IMPORT_BATCH_ROWS = 10
    job = upload(org, csv_bytes(many_leads(35)))
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)

    real, calls = writers.apply_rows, []

    def crash_in_the_third_batch(ctx, rows, **kwargs):
        calls.append(len(rows))
        outcome = real(ctx, rows, **kwargs)  # the third batch's leads are written, then...
        if len(calls) == 3:
            raise Crash
        return outcome

    monkeypatch.setattr(services, "apply_rows", crash_in_the_third_batch)
    with pytest.raises(Crash):
        run(job, owner="worker-1")
    job.refresh_from_db()
    # ...rolled back with their batch: exactly the two committed batches are there.
    assert (job.status, job.next_row, job.processed_rows, job.created_count) == ("running", 20, 20, 20)
    assert Lead.objects.count() == StageEvent.objects.count() == 20
    assert not Lead.objects.filter(email="person20@acme.test").exists()

    # Nobody else may take the job while worker-1's lease is fresh.
    monkeypatch.setattr(services, "apply_rows", real)
    assert services.import_run(org_id=org.pk, job_id=job.pk, owner="worker-2") == "not_claimed"
    # The lease lapses; the sweep queues the job again and another worker resumes it.
    ImportJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.imports_sweep() == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.recoveries) == ("queued", 1)
    job = run(job, owner="worker-2")
    assert (job.status, job.processed_rows, job.created_count) == ("succeeded", 35, 35)
    assert Lead.objects.count() == StageEvent.objects.count() == 35
    assert sorted(Lead.objects.values_list("email", flat=True)) == sorted(
        f"person{i}@acme.test" for i in range(35)
    )


def test_a_worker_whose_lease_was_taken_over_writes_nothing_more(org, settings):
    settings.IMPORT_BATCH_ROWS = 10
    job = upload(org, csv_bytes(many_leads(30)))
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    progress = []

    def take_over_after_first_batch(current):
        progress.append(current.processed_rows)
        if len(progress) == 1:  # worker-1 stalls; its lease lapses and worker-2 claims the job
            ImportJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
            assert services._claim(org_id=org.pk, job_id=job.pk, owner="worker-2")

    result = services.import_run(
        org_id=org.pk, job_id=job.pk, owner="worker-1", on_batch=take_over_after_first_batch
    )
    assert result == "lost"
    assert Lead.objects.count() == 10  # worker-1 stopped before its second batch
    assert services.import_run(org_id=org.pk, job_id=job.pk, owner="worker-3") == "not_claimed"
    # worker-2 died too: once its lease lapses, anyone finishes the job from the checkpoint.
    ImportJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    job = run(job, owner="worker-3")
    assert (job.status, job.created_count) == ("succeeded", 30)
    assert Lead.objects.count() == StageEvent.objects.count() == 30


def test_a_time_budget_hands_the_job_back_with_its_checkpoint(org, settings):
    settings.IMPORT_BATCH_ROWS = 10
    job = upload(org, csv_bytes(many_leads(25)))
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    job = run(job, budget_seconds=1e-9)
    assert (job.result, job.status, job.next_row, job.lease_owner) == ("released", "queued", 10, "")
    job = run(job)
    assert (job.result, job.status, job.created_count) == ("succeeded", "succeeded", 25)
    assert Lead.objects.count() == 25


def test_cancel_stops_a_queued_job_and_frees_its_file(org):
    job = upload(org, csv_bytes(many_leads(5)))
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    assert services.import_cancel(org=org, job=job)
    assert job.status == "cancelled"
    assert not ImportFileChunk.objects.filter(job=job).exists()
    assert services.import_run(org_id=org.pk, job_id=job.pk, owner="w") == "not_claimed"
    assert not services.import_cancel(org=org, job=job)
    assert Lead.objects.count() == 0


def test_a_started_job_can_no_longer_change(org):
    job = upload(org, csv_bytes(many_leads(2)))
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    with pytest.raises(ServiceError, match="queued"):
        services.import_set_mapping(org=org, job=job, mapping=["email", ""])
    with pytest.raises(ServiceError):
        services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)


def test_the_sweep_requeues_lapsed_jobs_and_gives_up_after_repeated_interruptions(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.imports import tasks

    sent = []
    monkeypatch.setattr(tasks.run_job, "delay", lambda *args: sent.append(args))
    job = upload(org, csv_bytes(many_leads(2)))
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    past = timezone.now() - timedelta(seconds=1)
    ImportJob.objects.filter(pk=job.pk).update(status="running", lease_owner="dead", lease_expires_at=past)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.imports_sweep() == [job.pk]
    assert sent == [(org.pk, job.pk)]

    ImportJob.objects.filter(pk=job.pk).update(
        status="running", lease_owner="dead", lease_expires_at=past, recoveries=services.MAX_RECOVERIES
    )
    assert services.imports_sweep() == []
    job.refresh_from_db()
    assert job.status == "failed" and "interrupted 6 times" in job.failure


def test_the_sweep_resends_queued_jobs_whose_message_was_lost(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.imports import tasks

    sent = []
    monkeypatch.setattr(tasks.run_job, "delay", lambda *args: sent.append(args))
    job = upload(org, csv_bytes(many_leads(2)))
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    assert services.imports_sweep() == []  # just queued: its message is probably on its way
    ImportJob.objects.filter(pk=job.pk).update(queued_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.imports_sweep() == [job.pk]
    assert sent == [(org.pk, job.pk)]


def test_an_unforeseen_database_error_is_pinned_on_its_row(org, monkeypatch):
    from django.db import IntegrityError

    real = writers.apply_rows

    def refuse_bob(ctx, rows, **kwargs):
        if any(row.values.get("email") == "bob@acme.test" for row in rows):
            raise IntegrityError('duplicate key value violates unique constraint "something"')
        return real(ctx, rows, **kwargs)

    monkeypatch.setattr(services, "apply_rows", refuse_bob)
    rows = [
        ["Email", "First Name"],
        ["ada@acme.test", "Ada"],
        ["bob@acme.test", "Bob"],
        ["cy@acme.test", "Cy"],
    ]
    job = import_rows(org, rows)
    assert (job.status, job.created_count, job.error_count) == ("succeeded", 2, 1)
    assert errors_of(job) == [
        (3, [("—", 'Could not be saved: duplicate key value violates unique constraint "something"')])
    ]


def test_the_error_file_holds_the_failed_rows_as_uploaded_with_an_error_column(org):
    rows = [
        ["Email", "First Name", "Country"],
        ["ada@acme.test", "Ada", "GB"],
        ["bad-email", '=HYPERLINK("http://evil")', "Narnia"],
    ]
    job = import_rows(org, rows)
    assert list(selectors.error_rows(org=org, job=job)) == [
        [
            "bad-email",
            '=HYPERLINK("http://evil")',
            "Narnia",
            "Row 3: Email: \u201cbad-email\u201d is not a valid e-mail address; "
            "Country: \u201cNarnia\u201d is not a country: use a two-letter ISO code such as US or DE, "
            "or the country's English name.",
        ]
    ]
    assert ImportRowError.objects.filter(job=job).count() == 1


def test_the_audit_trail_keeps_the_decisions_not_every_batch(org, owner, settings):
    settings.IMPORT_BATCH_ROWS = 5
    job = upload(org, csv_bytes(many_leads(30)), actor=owner)
    services.import_start(org=org, job=job, mode="upsert", match_on="email", enqueue=False)
    run(job)
    labels = [(e.pgh_label, e.status) for e in job.events.order_by("pgh_id")]
    assert labels == [
        ("insert", "uploaded"),
        ("update", "queued"),
        ("update", "running"),
        ("update", "succeeded"),
    ]


def test_a_growing_import_refreshes_the_planner_statistics_now_and_then(org, settings, monkeypatch):
    from apps.imports import sql

    settings.IMPORT_BATCH_ROWS = 10
    monkeypatch.setattr(services, "ANALYZE_AFTER_ROWS", 10)
    analysed = []
    real = sql.analyze
    monkeypatch.setattr(sql, "analyze", lambda model: analysed.append(model) or real(model))
    job = import_rows(org, many_leads(45))
    assert job.created_count == 45
    assert analysed == [Lead, Lead, Lead]  # after 10, 20 and 40 new rows
