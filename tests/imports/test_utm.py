"""A CSV import of leads against a UTM taxonomy enforced at ingest: refused rows say row, column and why."""

import pytest

from apps.execution.services import utm
from apps.imports import services
from apps.records import services as records
from apps.records.models import Lead
from tests.imports.helpers import csv_bytes, import_rows, upload

pytestmark = pytest.mark.django_db

RULE = "year-quarter-name, like 2026-q3-webinar"
ROWS = [
    ["Email", "First Name", "UTM Source", "UTM Medium", "UTM Campaign"],
    ["ada@acme.test", "Ada", "google", "cpc", "2026-q1-launch"],
    ["bob@acme.test", "Bob", "Bing", "cpc", "2026-q1-launch"],
    ["cy@acme.test", "Cy", "", "", ""],
    ["dee@acme.test", "Dee", "google", "", "spring"],
    ["eve@acme.test", "Eve", "google", "", "2026-q1-launch"],
]
REFUSED = [
    (
        3,
        [
            ("UTM Source", "The source “Bing” is not lower case."),
            ("UTM Source", "“Bing” is not an allowed source."),
        ],
    ),
    (5, [("UTM Campaign", f"“spring” does not follow the naming rule: {RULE}.")]),
    (6, [("UTM Medium", "No medium given.")]),
]


def save_taxonomy(org, *, enforce: bool):
    utm.taxonomy_update(
        org=org,
        allowed_sources=["google", "linkedin"],
        allowed_mediums=["cpc", "email"],
        campaign_pattern=r"\d{4}-q[1-4]-[a-z0-9-]+",
        campaign_pattern_help=RULE,
        enforce_at_ingest=enforce,
    )


def errors_of(job):
    return [(e.row_number, [tuple(x) for x in e.errors]) for e in job.row_errors.order_by("row_number")]


def emails(org) -> set[str]:
    return set(Lead.objects.for_org(org).values_list("email", flat=True))


def test_rows_breaking_an_enforced_taxonomy_are_refused_with_row_column_and_reason(org):
    save_taxonomy(org, enforce=True)
    job = import_rows(org, ROWS, mode="upsert", match_on="email")
    assert (job.created_count, job.updated_count, job.error_count) == (2, 0, 3)
    assert errors_of(job) == REFUSED
    # A row without any UTM value is not tagged, so not a violation.
    assert emails(org) == {"ada@acme.test", "cy@acme.test"}


def test_the_preview_promises_the_same_refusals(org):
    save_taxonomy(org, enforce=True)
    job = upload(org, csv_bytes(ROWS))
    preview = services.import_preview(org=org, job=job, mode="upsert", match_on="email")
    assert (preview.creates, preview.error_rows) == (2, 3)
    assert preview.problems == [
        (row, column, reason) for row, problems in REFUSED for column, reason in problems
    ]
    assert not Lead.objects.for_org(org).exists()


def test_without_enforcement_every_row_is_imported(org):
    save_taxonomy(org, enforce=False)
    job = import_rows(org, ROWS, mode="upsert", match_on="email")
    assert (job.created_count, job.error_count) == (5, 0)
    assert Lead.objects.for_org(org).get(email="bob@acme.test").utm_source == "Bing"


def test_an_update_keeps_the_leads_own_values_for_empty_cells(org):
    lead = records.lead_create(
        org=org, email="ada@acme.test", utm_source="google", utm_medium="cpc", utm_campaign="2026-q1-launch"
    )
    save_taxonomy(org, enforce=True)
    rows = [
        ["Email", "UTM Campaign"],
        ["ada@acme.test", "2026-q2-webinar"],
        ["ada@acme.test", "spring"],
    ]
    job = import_rows(org, rows, mode="update", match_on="email")
    assert (job.updated_count, job.error_count) == (1, 1)
    assert errors_of(job) == [(3, [("UTM Campaign", f"“spring” does not follow the naming rule: {RULE}.")])]
    lead.refresh_from_db()
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("google", "cpc", "2026-q2-webinar")
