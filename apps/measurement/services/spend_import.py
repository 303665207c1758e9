"""Importing spend from a CSV file, all rows or none.

The file is read with the import wizard's reader (encodings, delimiters and
damaged files are handled there) but runs in the request: a ledger is a few
hundred lines, not a CRM export. Headers are matched loosely ("Cost", "Spend",
"Start date"…); a `date` column makes one-day entries and a `month` column
(YYYY-MM) whole-month ones. Every row is checked before anything is written,
and problems are reported as (spreadsheet row, column as headed in the file,
reason). Rows with an external id update the entry that has it.
"""

import calendar
from dataclasses import dataclass
from datetime import date

import pghistory
from django.db import transaction

from apps.core.errors import ServiceError
from apps.imports.mapping import header_key
from apps.imports.reading import FileProblem, column_label, data_rows, file_blocks, inspect
from apps.records.normalize import normalize_text

from .spend import SpendRowsError, channel_vocabulary, clean_values, write_rows

# Past these sizes a request would get slow enough to time out; split bigger files.
IMPORT_MAX_BYTES = 2 * 1024 * 1024
IMPORT_MAX_ROWS = 10_000

# Header aliases, compared after `header_key` (case, spaces and punctuation ignored).
COLUMN_ALIASES = {
    "channel": ["channel", "marketing channel", "canonical channel"],
    "campaign": ["campaign", "campaign name", "campaign_ref", "utm_campaign"],
    "type": ["type", "spend type", "cost type", "category"],
    "period_start": ["period_start", "start", "start date", "from", "period start", "start_date"],
    "period_end": ["period_end", "end", "end date", "to", "period end", "end_date"],
    "date": ["date", "day"],
    "month": ["month"],
    "amount": ["amount", "cost", "spend", "amount spent", "spent"],
    "note": ["note", "notes", "description", "memo"],
    "external_id": ["external_id", "external id", "reference", "invoice", "invoice number"],
    "currency": ["currency"],
}
_ALIAS_KEYS = {header_key(alias): name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}


@dataclass
class ImportResult:
    rows: int
    created: int
    updated: int
    ignored_columns: list[str]


def _columns(headers: list[str]) -> tuple[dict[str, int], list[str], list[tuple[int, str, str]]]:
    """Which column feeds which field, the headers ignored, and the problems with the header row."""
    columns: dict[str, int] = {}
    ignored, problems = [], []
    for index, header in enumerate(headers):
        name = _ALIAS_KEYS.get(header_key(header)) if header else None
        if name is None:
            if header:
                ignored.append(header)
            continue
        if name in columns:
            first = column_label(headers, columns[name])
            problems.append((1, header, f"Both “{first}” and “{header}” would give the {name}; keep one."))
            continue
        columns[name] = index
    for required in ("channel", "amount"):
        if required not in columns:
            also = ", ".join(a for a in COLUMN_ALIASES[required] if a != required)
            problems.append((1, required, f"No {required} column (also read as: {also})."))
    period_ways = [way for way in ("period", "date", "month") if way in _period_columns(columns)]
    if not period_ways:
        problems.append(
            (1, "period_start", "No period: add period_start and period_end columns, or a date column "
             "(one-day entries), or a month column (YYYY-MM).")
        )  # fmt: skip
    elif len(period_ways) > 1:
        problems.append((1, "date", "Give the period one way only: period_start/period_end, date or month."))
    elif "period" in period_ways and not {"period_start", "period_end"} <= set(columns):
        missing = "period_end" if "period_start" in columns else "period_start"
        problems.append((1, missing, f"No {missing} column: a period needs both its start and its end."))
    return columns, ignored, problems


def _period_columns(columns: dict[str, int]) -> set[str]:
    found = set()
    if "period_start" in columns or "period_end" in columns:
        found.add("period")
    found.update(way for way in ("date", "month") if way in columns)
    return found


def _month(text: str) -> tuple[date, date]:
    text = normalize_text(text)
    if not text:
        raise ServiceError("Give the month (YYYY-MM).", field="month")
    try:
        year, month = (int(part) for part in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise ServiceError(f"“{text}” is not a month; write it as YYYY-MM.", field="month") from None
    return first, first.replace(day=calendar.monthrange(year, month)[1])


def _row_values(cells: list[str], columns: dict[str, int]) -> tuple[dict, list[tuple[str, str]]]:
    """A row's cells as service fields; a date or month column gives both ends of the period."""
    values = {name: cells[index] for name, index in columns.items() if name not in ("currency",)}
    problems = []
    if "date" in values:
        day = values.pop("date")
        values["period_start"] = values["period_end"] = day
    if "month" in values:
        try:
            values["period_start"], values["period_end"] = _month(values.pop("month"))
        except ServiceError as exc:
            problems.append(("month", exc.message))
    return values, problems


@transaction.atomic
def spend_import(*, org, file, file_name: str = "", actor=None) -> ImportResult:
    """Import a CSV file of spend entries, all rows or none.

    Every row is checked first; any problem raises `SpendRowsError` listing
    them all as (spreadsheet row, column as headed in the file, reason) and
    nothing is written. A file that cannot be read raises `ServiceError`.
    """
    size = getattr(file, "size", None)
    if size is None:
        file.seek(0, 2)
        size = file.tell()
    if size > IMPORT_MAX_BYTES:
        raise ServiceError(
            f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB; split it.", field="file"
        )
    blocks = file_blocks(file)
    try:
        fmt = inspect(blocks, size=size)
    except FileProblem as exc:
        raise ServiceError(exc.message, field="file") from None
    if fmt.total_rows > IMPORT_MAX_ROWS:
        raise ServiceError(
            f"The file has {fmt.total_rows:,} rows; import at most {IMPORT_MAX_ROWS:,} at a time."
        )
    columns, ignored, problems = _columns(fmt.headers)
    if problems:
        raise SpendRowsError(problems)
    header_of = {name: column_label(fmt.headers, index) for name, index in columns.items()}
    header_of.setdefault("period_start", header_of.get("date") or header_of.get("month", "period_start"))
    header_of.setdefault("period_end", header_of.get("date") or header_of.get("month", "period_end"))
    vocabulary = channel_vocabulary(org=org)
    rows, seen = [], {}
    try:
        for row_number, cells in data_rows(blocks, fmt):
            if not any(cell.strip() for cell in cells):
                continue
            values, row_problems = _row_values(cells, columns)
            cleaned, cleaning_problems = clean_values(values, vocabulary)
            if row_problems:  # a bad month: the missing period it leaves is the same problem
                cleaning_problems = [
                    p for p in cleaning_problems if p[0] not in ("period_start", "period_end")
                ]
            row_problems += cleaning_problems
            if "currency" in columns:
                currency = normalize_text(cells[columns["currency"]]).upper()
                if currency and currency != org.currency:
                    row_problems.append(
                        ("currency", f"The ledger is in {org.currency}; convert {currency} amounts first.")
                    )
            external_id = cleaned.get("external_id")
            if external_id and external_id in seen:
                row_problems.append(
                    ("external_id", f"Also on row {seen[external_id]}; list each entry once.")
                )
            elif external_id:
                seen[external_id] = row_number
            # A date column feeds both ends of the period: its one problem is reported once.
            located = {(row_number, header_of.get(name, name), reason): None for name, reason in row_problems}
            problems.extend(located)
            rows.append(cleaned)
    except FileProblem as exc:
        raise ServiceError(exc.message, field="file") from None
    if problems:
        raise SpendRowsError(problems)
    if not rows:
        raise ServiceError("The file has no data rows.", field="file")
    with pghistory.context(spend_import=file_name or "upload", rows=len(rows)):
        results = write_rows(org, rows, actor=actor)
    created = sum(1 for _, was_created in results if was_created)
    return ImportResult(rows=len(rows), created=created, updated=len(rows) - created, ignored_columns=ignored)
