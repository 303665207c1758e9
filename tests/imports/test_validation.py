"""The per-row validator: every problem names its row, the column as the user wrote it, and the reason."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from apps.imports import services
from apps.imports.mapping import catalogue
from apps.imports.validation import RowValidator, _email
from apps.records.models import CustomField, LifecycleStage
from tests.imports.helpers import csv_bytes, upload

pytestmark = pytest.mark.django_db


def validator(org, headers, mapping, object_type="lead", customs=()):
    return RowValidator(
        object_type=object_type,
        headers=headers,
        mapping=mapping,
        fields=catalogue(object_type=object_type, customs=list(customs)),
        stages=list(LifecycleStage.objects.for_org(org).order_by("order")),
        customs=list(customs),
    )


EMAILS = [
    "ada@acme.test", "Ada.Lovelace@Example.COM", "a+tag@sub.example.co.uk", "o'brien@example.ie",
    "user@localhost", "user@[127.0.0.1]", '"quoted name"@example.com', "pelé@exämple.com",
    "user@xn--bcher-kva.ch", "no-at-sign", "two@@example.com", "a b@example.com", "user@example",
    "user@-example.com", "user@example.c", "user@.example.com", "user.@example.com", ".user@example.com",
    "user@exa_mple.com", "user@123.com", "user@example.123", "x" * 250 + "@example.com",
]  # fmt: skip


@pytest.mark.parametrize("email", EMAILS)
def test_email_check_agrees_with_djangos(email):
    try:
        validate_email(email)
        django_ok = True
    except ValidationError:
        django_ok = False
    parse = _email(10_000)
    try:
        cleaned = parse(email)
        ours = True
    except Exception:
        ours = False
    assert ours == django_ok, email
    if ours:
        assert cleaned == email.lower()


def test_cells_are_cleaned_like_the_records_services_clean_them(org):
    headers = [
        "Email",
        "First Name",
        "Country/Region",
        "Score",
        "Create Date",
        "Lifecycle Stage",
        "Record ID",
    ]
    check = validator(
        org, headers, ["email", "first_name", "country", "score", "captured_at", "stage", "external_id"]
    )
    values, errors = check.validate(
        [
            "  Ada@Acme.TEST ",
            " Ada \t  Augusta ",
            "Germany",
            "1,200",
            "2026-03-01 10:30",
            "Marketing Qualified Lead",
            " 42 ",
        ]
    )
    assert errors == []
    assert values == {
        "email": "ada@acme.test",
        "first_name": "Ada Augusta",
        "country": "DE",
        "score": 1200,
        "captured_at": datetime(2026, 3, 1, 10, 30, tzinfo=UTC),
        "stage": "mql",
        "external_id": "42",
    }


def test_each_problem_names_the_users_column_and_the_reason(org):
    headers = ["E-mail address", "Country", "Score", "Created", "Stage", "Job Title"]
    check = validator(org, headers, ["email", "country", "score", "captured_at", "stage", "title"])
    _, errors = check.validate(["ada(at)acme", "Atlantis", "twelve", "31/12/2025", "subscriberz", "x" * 201])
    assert errors == [
        ("E-mail address", "\u201cada(at)acme\u201d is not a valid e-mail address."),
        (
            "Country",
            "\u201cAtlantis\u201d is not a country: use a two-letter ISO code such as US or DE, "
            "or the country's English name.",
        ),
        ("Score", "\u201ctwelve\u201d is not a whole number."),
        (
            "Created",
            "\u201c31/12/2025\u201d is not a date: use YYYY-MM-DD, or YYYY-MM-DD HH:MM for a date and time "
            "(ISO 8601).",
        ),
        (
            "Stage",
            "\u201csubscriberz\u201d is not a lifecycle stage here; use one of: inquiry, mql, sal, sql, "
            "opportunity, customer, recycled, disqualified.",
        ),
        ("Job Title", "Longer than 200 characters (it has 201)."),
    ]


def test_a_lead_needs_an_email_a_name_or_an_external_id(org):
    check = validator(org, ["Email", "First Name", "Company"], ["email", "first_name", "company"])
    assert check.validate(["", "", "Acme"])[1] == [
        ("Email", "A lead needs an e-mail, a name or an external ID; this row has none.")
    ]
    assert check.validate(["", "Ada", ""])[1] == []


def test_numbers_and_dates(org):
    headers = ["Employees", "Annual Revenue", "Website", "Country"]
    check = validator(
        org, headers, ["employees", "annual_revenue", "domain", "country"], object_type="account"
    )
    values, errors = check.validate(["1,200", "$1,234,567.891", "https://www.Acme.com/about", "gb"])
    assert errors == []
    assert values == {
        "employees": 1200,
        "annual_revenue": Decimal("1234567.89"),
        "domain": "acme.com",
        "country": "GB",
    }
    _, errors = check.validate(["-3", "1.234,50", "not a site", "UK"])
    assert [column for column, _ in errors] == ["Employees", "Annual Revenue", "Website"]
    assert errors[0][1] == "-3 is out of range: use a number from 0 to 2147483647."


def test_custom_fields_are_checked_against_their_definitions(org):
    customs = [
        CustomField.objects.create(
            organization=org, object_type="lead", key="seats", label="Seats", type="number"
        ),
        CustomField.objects.create(
            organization=org, object_type="lead", key="renewal", label="Renewal", type="date"
        ),
        CustomField.objects.create(
            organization=org,
            object_type="lead",
            key="plan",
            label="Plan",
            type="choice",
            choices=["Free", "Pro"],
        ),
    ]
    headers = ["Email", "Seats", "Renewal", "Plan"]
    check = validator(
        org, headers, ["email", "custom.seats", "custom.renewal", "custom.plan"], customs=customs
    )
    values, errors = check.validate(["a@acme.test", "12", "2026-05-01", "pro"])
    assert errors == []
    assert values["custom"] == {"seats": 12.0, "renewal": "2026-05-01", "plan": "Pro"}
    _, errors = check.validate(["a@acme.test", "many", "soon", "Enterprise"])
    assert errors == [
        ("Seats", "Seats must be a number; \u201cmany\u201d is not."),
        ("Renewal", "Renewal must be a date (YYYY-MM-DD); \u201csoon\u201d is not."),
        ("Plan", "Plan must be one of: Free, Pro; \u201cEnterprise\u201d is not."),
    ]


def test_the_preview_lists_row_column_and_reason_with_spreadsheet_row_numbers(org):
    rows = [
        ["Email", "First Name", "Country"],
        ["ada@acme.test", "Ada", "GB"],
        ["bob(at)acme.test", "Bob", "Narnia"],
        ["cy@acme.test", "Cy", "FR"],
        ["", "", "DE"],
    ]
    job = upload(org, csv_bytes(rows))
    preview = services.import_preview(org=org, job=job, mode="upsert", match_on="email")
    assert (preview.checked, preview.creates, preview.updates, preview.error_rows) == (4, 2, 0, 2)
    assert preview.problems == [
        (3, "Email", "\u201cbob(at)acme.test\u201d is not a valid e-mail address."),
        (
            3,
            "Country",
            "\u201cNarnia\u201d is not a country: use a two-letter ISO code such as US or DE, "
            "or the country's English name.",
        ),
        (5, "Email", "A lead needs an e-mail, a name or an external ID; this row has none."),
    ]
    job.refresh_from_db()
    assert job.status == "validated"
