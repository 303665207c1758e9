"""Files as they arrive: malformed ones are refused with a clear message (never a 500), odd ones read.

The malformed corpus is built here, byte by byte, and uploaded through the
real page: each must answer 200 with a message saying what is wrong, and
leave no import job, no stored bytes and no lead behind.
"""

import codecs

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.imports.models import ImportFileChunk, ImportJob
from apps.imports.reading import column_letter
from apps.records.models import Lead
from tests.imports.helpers import csv_bytes, import_rows, start_and_run, upload

pytestmark = pytest.mark.django_db

HEADER = b"Email,First Name,Last Name\r\n"
ROW = b"ada@acme.test,Ada,Lovelace\r\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
)

MALFORMED = {
    "empty": (b"", "The file is empty"),
    "blank lines only": (b"\r\n\r\n  \r\n", "no text in it"),
    "header only": (HEADER, "a header row but no data rows"),
    "header only, no newline": (b"Email,First Name", "a header row but no data rows"),
    "ragged rows": (
        HEADER
        + ROW
        + b"bob@acme.test,Bob,Builder,extra\r\n"
        + ROW.replace(b"ada", b"cy")
        + b"dan@acme.test,Dan\r\n",
        "Row 3 has 4 cells but the header has 3 columns. 1 other row has the same problem.",
    ),
    "duplicate headers": (
        b"Email,First Name,email\r\nada@acme.test,Ada,ada@acme.test\r\n",
        "The column name \u201cemail\u201d appears more than once (columns A and C)",
    ),
    "NUL bytes": (HEADER + b"ada@acme.test,A\x00da,Lovelace\r\n", "NUL bytes"),
    "binary PNG renamed .csv": (PNG + b"\x00" * 64, "This is a PNG image, not a CSV file"),
    "Excel workbook renamed .csv": (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, "Excel workbook (.xlsx)"),
    "unknown encoding garbage": (
        HEADER + b"ada@acme.test," + bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D, 0xC3, 0x28]) * 4 + b",L\r\n",
        "neither UTF-8, UTF-16 nor Windows-1252",
    ),
    "control characters": (HEADER + b"ada@acme.test,\x01\x02\x03\x04,Lovelace\r\n", "control characters"),
    "unclosed quote": (
        HEADER + b'ada@acme.test,"Ada,Lovelace\r\nbob@acme.test,Bob,Builder\r\n',
        "Row 2 opens a quoted value that is never closed",
    ),
    "no column names": (b",,\r\n1,2,3\r\n", "no column names"),
    "first row empty": (b"\r\nEmail,Name\r\nada@acme.test,Ada\r\n", "The first row is empty"),
}


@pytest.fixture
def importer_client(owner_client):
    return owner_client


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_file_gets_a_clear_message_and_imports_nothing(case, importer_client, org):
    content, message = MALFORMED[case]
    response = importer_client.post(
        reverse("imports_index", kwargs={"org_slug": org.slug}),
        {"object_type": "lead", "file": SimpleUploadedFile("leads.csv", content, content_type="text/csv")},
    )
    assert response.status_code == 200
    assert message in response.content.decode(), response.content.decode()[-3000:]
    assert not ImportJob.objects.exists()
    assert not ImportFileChunk.objects.exists()
    assert not Lead.objects.exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(importer_client, org, settings):
    settings.IMPORT_MAX_BYTES = 1024
    content = HEADER + ROW * 100
    response = importer_client.post(
        reverse("imports_index", kwargs={"org_slug": org.slug}),
        {"object_type": "lead", "file": SimpleUploadedFile("big.csv", content, content_type="text/csv")},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "The file is 2.8\xa0KB; the largest file you can import is 1.0\xa0KB" in body
    assert 'data-max-bytes="1024"' in body  # the page also warns before uploading (static/js/imports.js)
    assert not ImportJob.objects.exists()


def test_the_upload_form_says_what_is_missing(importer_client, org):
    response = importer_client.post(
        reverse("imports_index", kwargs={"org_slug": org.slug}), {"object_type": "lead"}
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()


NAMES = [
    ["Email", "First Name", "Last Name", "Company Name"],
    ["jose@acme.test", "José", "Núñez", "Café Zoë"],
]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", False), ("utf-8", True), ("utf-16", False), ("cp1252", False)],
    ids=["utf-8", "utf-8 with BOM", "utf-16 LE with BOM", "cp1252"],
)
def test_encodings(encoding, bom, org):
    content = csv_bytes(NAMES, encoding=encoding, bom=bom)
    if encoding == "utf-16":
        assert content.startswith(codecs.BOM_UTF16_LE)
    job = upload(org, content)
    assert job.headers == NAMES[0]  # no BOM left on the first header
    assert job.mapping == ["email", "first_name", "last_name", "company"]
    start_and_run(job)
    lead = Lead.objects.get(organization=org)
    assert (lead.first_name, lead.last_name, lead.company) == ("José", "Núñez", "Café Zoë")


def test_a_cp1252_file_that_starts_like_utf8_is_still_read_as_cp1252(org):
    rows = [["Email", "First Name"]] + [[f"p{i}@acme.test", "Plain"] for i in range(5000)]
    rows.append(["last@acme.test", "Müller"])
    job = upload(org, csv_bytes(rows, encoding="cp1252"))
    assert job.encoding == "cp1252"
    start_and_run(job)
    assert Lead.objects.get(email="last@acme.test").first_name == "Müller"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_delimiters_are_sniffed(delimiter, org):
    rows = [
        ["Email", "First Name", "Company Name", "Annual note"],
        ["ada@acme.test", "Ada", "Acme, Inc.", "1,5; or 2|3"],
        ["bob@acme.test", "Bob", "Globex", ""],
    ]
    job = upload(org, csv_bytes(rows, delimiter=delimiter))
    assert job.delimiter == delimiter
    assert job.headers == rows[0]
    start_and_run(job)
    assert Lead.objects.get(email="ada@acme.test").company == "Acme, Inc."
    assert Lead.objects.count() == 2


def test_quoted_newlines_stay_in_their_cell_and_rows_keep_spreadsheet_numbers(org):
    content = (
        b"Email,First Name,Job Title\r\n"
        b'ada@acme.test,Ada,"Head of\r\nEngineering"\r\n'
        b"\r\n"
        b'not-an-email,Bob,"Two\nlines"\r\n'
    )
    job = upload(org, content)
    assert job.total_rows == 2
    job = start_and_run(job)
    assert Lead.objects.get(email="ada@acme.test").title == "Head of Engineering"
    (error,) = job.row_errors.all()
    # Header = row 1, Ada = row 2 (two lines, one row), blank = row 3, Bob = row 4.
    assert error.row_number == 4
    assert error.errors == [["Email", "\u201cnot-an-email\u201d is not a valid e-mail address."]]


def test_short_rows_with_trailing_empty_cells_are_fine_but_extra_values_are_not(org):
    job = upload(org, b"Email,First Name\r\nada@acme.test,Ada,,\r\n")
    assert job.total_rows == 1


def test_a_large_file_is_stored_in_chunks_and_read_back_in_order(org, monkeypatch):
    from apps.imports import services

    monkeypatch.setattr(services, "CHUNK_BYTES", 1000)
    rows = [["Email", "First Name"]] + [[f"person{i}@acme.test", f"Person {i}"] for i in range(300)]
    job = import_rows(org, rows)
    assert job.status == "succeeded" and job.created_count == 300
    assert Lead.objects.filter(email="person299@acme.test", first_name="Person 299").exists()
    assert not ImportFileChunk.objects.filter(job=job).exists()  # the bytes go once the job is done


def test_column_letters():
    assert [column_letter(i) for i in (0, 25, 26, 51, 701, 702)] == ["A", "Z", "AA", "AZ", "ZZ", "AAA"]
