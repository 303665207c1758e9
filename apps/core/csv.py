"""CSV exports that are safe to open in a spreadsheet.

A cell starting with = + - @ (or a tab / carriage return) is read as a formula
by Excel, LibreOffice and Google Sheets, so text from users ("=HYPERLINK(...)"
as a name, an e-mail typed at the login form) could run in the reader's
spreadsheet. Such cells are prefixed with a single quote, which spreadsheets
show as plain text (OWASP "CSV injection").
"""

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_csv_cell(value) -> str:
    """The cell's text, defused if a spreadsheet would take it for a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)  # a negative number is data, not a formula
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    text = str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write() returns the line, for streaming csv.writer output."""

    def write(self, value):
        return value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> StreamingHttpResponse:
    """Stream `rows` (an iterable, consumed lazily) as an attachment named `filename`."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow([safe_csv_cell(h) for h in header])
        for row in rows:
            yield writer.writerow([safe_csv_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response
