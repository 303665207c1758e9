"""A person imports a CSV in Chromium: upload, mapping, preview, start, live progress, error file."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from apps.records.models import Lead
from tests import factories
from tests.browser.conftest import log_in
from tests.workers import Worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CSV = (
    b"Email,First Name,Last Name,Company Name,Country/Region,Favourite colour\r\n"
    b"ada@acme.test,Ada,Lovelace,Acme,GB,green\r\n"
    b"grace(at)navy.test,Grace,Hopper,Navy,US,blue\r\n"
    b"alan@turing.test,Alan,Turing,Bletchley,GB,\r\n"
    b"linus@kernel.test,Linus,Torvalds,Linux,Atlantis,\r\n"
    b"margaret@nasa.test,Margaret,Hamilton,NASA,US,white\r\n"
)


@pytest.fixture
def admin():
    user = factories.make_user(email="ada@acme.test", full_name="Ada Admin")
    factories.make_org(name="Acme", slug="acme", owner=user)
    return user


def test_import_a_csv_with_bad_rows_and_download_the_error_file(page, admin):
    worker = Worker().start()
    try:
        log_in(page, admin.email, factories.PASSWORD)
        page.get_by_role("link", name="Import").click()
        expect(page.get_by_role("heading", name="No imports yet")).to_be_visible()

        # 1. Upload.
        page.get_by_label("CSV file").set_input_files(
            files=[{"name": "hubspot-contacts.csv", "mimeType": "text/csv", "buffer": CSV}]
        )
        page.get_by_role("button", name="Upload and map columns").click()

        # 2. Mapping: recognised columns are preselected, the unknown one is flagged.
        expect(page.get_by_role("heading", name="Map columns")).to_be_visible()
        expect(page.get_by_label("Email", exact=True)).to_have_value("email")
        expect(page.get_by_label("Country/Region")).to_have_value("country")
        expect(page.get_by_label("Favourite colour")).to_have_value("")
        expect(page.get_by_text("1 column is not imported")).to_be_visible()
        page.get_by_role("button", name="Save and check the rows").click()

        # 3. Preview: each problem with its row, column and reason; nothing written yet.
        expect(page.get_by_role("heading", name="Check and choose")).to_be_visible()
        problems = page.locator("table.import-problems tbody tr")
        expect(problems).to_have_count(2)
        expect(problems.nth(0)).to_contain_text("3")
        expect(problems.nth(0)).to_contain_text("Email")
        expect(problems.nth(0)).to_contain_text("is not a valid e-mail address")
        expect(problems.nth(1)).to_contain_text("Country/Region")
        expect(page.get_by_text("Row numbers count the header as row 1")).to_be_visible()
        assert Lead.objects.count() == 0
        page.get_by_label("Update existing records, create the rest").check()
        page.get_by_role("button", name="Start import").click()

        # 4. The real worker runs it; the page follows along and ends on the summary.
        expect(page).to_have_url(re.compile(r"/o/acme/imports/\d+/$"))
        expect(page.get_by_role("heading", name=re.compile("Import finished"))).to_be_visible(timeout=30_000)
        expect(page.locator("[data-count=created]")).to_have_text("3")
        expect(page.locator("[data-count=errors]")).to_have_text("2")
        expect(page.locator("progress")).to_have_attribute("value", "5")

        # 5. The error file.
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download error file").click()
        download = download_info.value
        assert re.fullmatch(r"import-\d+-errors\.csv", download.suggested_filename)
        with open(download.path(), newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(io.StringIO(handle.read())))
    finally:
        worker.stop()

    assert lines[0] == [
        "Email",
        "First Name",
        "Last Name",
        "Company Name",
        "Country/Region",
        "Favourite colour",
        "error",
    ]
    assert [line[0] for line in lines[1:]] == ["grace(at)navy.test", "linus@kernel.test"]
    assert lines[1][-1] == "Row 3: Email: “grace(at)navy.test” is not a valid e-mail address."
    assert lines[2][-1].startswith("Row 5: Country/Region: “Atlantis” is not a country")
    assert sorted(Lead.objects.values_list("email", flat=True)) == [
        "ada@acme.test", "alan@turing.test", "margaret@nasa.test",
    ]  # fmt: skip
    assert page.console_problems == []


def test_a_file_over_the_limit_is_refused_before_it_is_uploaded(page, admin, settings):
    settings.IMPORT_MAX_BYTES = 100
    log_in(page, admin.email, factories.PASSWORD)
    page.goto("/o/acme/imports/")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": CSV * 10}]
    )
    expect(page.get_by_role("alert")).to_have_text(
        f"This file is {len(CSV) * 10 / 1024:.1f} KB; the largest file you can import is 100\xa0bytes. "
        "Split it into smaller files."
    )
    page.get_by_role("button", name="Upload and map columns").click()
    expect(page).to_have_url(re.compile(r"/o/acme/imports/$"))  # the browser kept the form back
    from apps.imports.models import ImportJob

    assert not ImportJob.objects.exists()
    assert page.console_problems == []
