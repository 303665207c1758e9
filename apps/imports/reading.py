"""Reading an uploaded CSV: what it is, how it is encoded and delimited, and its rows.

Files arrive from spreadsheets and CRM exports in many shapes. This module
turns bytes into `(row_number, cells)` and turns every way a file can be
unreadable into a `FileProblem` whose message tells a person what to do:
empty, header only, binary (an image, a workbook), NUL bytes, an encoding that
is neither UTF-8, UTF-16 nor Windows-1252, ragged rows, duplicate headers, an
unclosed quote.

Rows are streamed: nothing holds more than one block of the file in memory.
Row numbers follow spreadsheets: the header is row 1, the first data row is
row 2, and a record whose quoted cell spans lines is still one row.
"""

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

SNIFF_BYTES = 64 * 1024
READ_BLOCK = 1024 * 1024
DELIMITERS = [",", ";", "\t", "|"]
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with BOM)",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "cp1252": "Windows-1252",
}
# A header row or data row longer than this is a damaged file, not data.
csv.field_size_limit(1024 * 1024)

_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"SQLite format 3\x00", "a SQLite database"),
    (b"\x7fELF", "a program"),
]
# Text files never contain these (tab, LF, CR, form feed and Ctrl-Z excepted).
_CONTROL = re.compile("[\x01-\x08\x0b\x0e-\x19\x1b-\x1f]")
_END = "\ufdd0revops-end-of-file\ufdd0"  # a Unicode noncharacter: never in real text
_SAVE_AS_CSV = "Export or save it as CSV (in Excel: File → Save As → CSV UTF-8) and upload that file."


class FileProblem(Exception):
    """The file cannot be imported as a whole; `message` says why and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class EncodingProblem(FileProblem):
    """The bytes are not valid text in the encoding tried."""


@dataclass
class FileFormat:
    encoding: str
    delimiter: str
    headers: list[str] = field(default_factory=list)
    total_rows: int = 0


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA: how spreadsheets name columns."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_label(headers: list[str], index: int) -> str:
    """The header as the user wrote it, or "Column C" for a blank one."""
    name = headers[index] if index < len(headers) else ""
    return name or f"Column {column_letter(index)}"


# --- Byte sources ---------------------------------------------------------------


class _BlockReader(io.RawIOBase):
    """A raw binary stream over an iterator of byte blocks."""

    def __init__(self, blocks: Iterable[bytes]):
        self._blocks = iter(blocks)
        self._current = memoryview(b"")

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._current:
            try:
                self._current = memoryview(next(self._blocks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n


def file_blocks(fileobj, *, size: int = READ_BLOCK) -> Callable[[], Iterator[bytes]]:
    """A re-openable source over a seekable binary file (an upload, a file on disk)."""

    def blocks():
        fileobj.seek(0)
        while block := fileobj.read(size):
            yield block

    return blocks


def _text(blocks: Iterable[bytes], encoding: str) -> io.TextIOWrapper:
    raw = io.BufferedReader(_BlockReader(blocks), buffer_size=READ_BLOCK)
    # newline="": the csv module sees \r\n inside quoted cells as data, as it must.
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")


# --- Sniffing -------------------------------------------------------------------


def _describe_binary(head: bytes) -> str | None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return None


def guess_encoding(head: bytes, *, complete: bool) -> str:
    """The encoding to try first, from the first bytes; `complete`: head is the whole file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    what = _describe_binary(head)
    if what:
        raise FileProblem(f"This is {what}, not a CSV file. {_SAVE_AS_CSV}")
    if b"\x00" in head:
        # UTF-16 without a byte-order mark: every other byte of ASCII text is NUL.
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be"
        line = head[: head.index(b"\x00")].count(b"\n") + 1
        raise FileProblem(
            f"The file contains NUL bytes (the first on line {line}), which a text file never does: it "
            f"is a binary file or a damaged export. {_SAVE_AS_CSV}"
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def sniff_delimiter(sample: str, *, complete: bool) -> str:
    """The candidate delimiter that splits the first rows into the most consistent columns."""
    if not complete:
        # Drop the last line: the sample may end in the middle of it.
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        sample = sample[:cut] if cut > 0 else sample
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        try:
            rows = [
                row
                for _, row in zip(
                    range(50), csv.reader(io.StringIO(sample), delimiter=delimiter), strict=False
                )
            ]
        except csv.Error:
            continue
        rows = [row for row in rows if row]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistency = sum(1 for row in rows if len(row) == width) / len(rows)
        score = (consistency, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


# --- Rows -------------------------------------------------------------------------


def _lines(text: io.TextIOWrapper, counter: list[int]) -> Iterator[str]:
    """The file's lines, refusing control characters and naming the line of a decoding error."""
    search = _CONTROL.search
    line_number = 0
    try:
        for line in text:
            line_number += 1
            if "\x00" in line:
                raise FileProblem(
                    f"The file contains NUL bytes (the first on line {line_number}), which a text file "
                    f"never does: it is a binary file or a damaged export. {_SAVE_AS_CSV}"
                )
            if search(line):
                raise FileProblem(
                    f"Line {line_number} contains control characters, so this is not a text CSV file "
                    f"(or it was damaged). {_SAVE_AS_CSV}"
                )
            yield line
    except UnicodeDecodeError:
        counter[0] = line_number + 1
        raise
    # A last line no file contains: if a quote is still open at the end of the file,
    # the csv module (lenient by design, for sloppy exports) puts it inside that cell.
    yield _END + "\n"


def read_rows(
    blocks: Callable[[], Iterator[bytes]], *, encoding: str, delimiter: str
) -> Iterator[tuple[int, list[str]]]:
    """Every record as (spreadsheet row number, cells), the header first (row 1).

    Blank records are skipped but keep their row numbers, as a spreadsheet does.
    """
    failed_line = [0]
    text = _text(blocks(), encoding)
    reader = csv.reader(_lines(text, failed_line), delimiter=delimiter, strict=False)
    row_number = 0
    try:
        for cells in reader:
            row_number += 1
            if not cells:
                continue
            if _END in cells[-1]:
                if cells == [_END]:
                    break
                raise FileProblem(
                    f"Row {row_number} opens a quoted value that is never closed, so the rest of the file "
                    "would be read as one cell. Close or remove that quote and upload the file again."
                )
            yield row_number, cells
    except UnicodeDecodeError:
        name = ENCODING_NAMES.get(encoding, encoding)
        raise EncodingProblem(f"line {failed_line[0]} is not valid {name}") from None
    except csv.Error as exc:
        raise FileProblem(
            f"Row {row_number + 1} could not be read ({exc}). A quote that is opened but never closed "
            f"usually causes this: fix that row or remove the stray quote."
        ) from None
    finally:
        text.close()


def data_rows(
    blocks: Callable[[], Iterator[bytes]], fmt: FileFormat, *, start: int = 0
) -> Iterator[tuple[int, list[str]]]:
    """The data rows from record `start` on (0 is the first after the header), cells padded to the header."""
    width = len(fmt.headers)
    first = start + 2  # row numbers: header is 1, data record 0 is 2
    rows = read_rows(blocks, encoding=fmt.encoding, delimiter=fmt.delimiter)
    next(rows, None)  # the header
    for row_number, cells in rows:
        if row_number < first:
            continue
        if len(cells) != width:
            cells = (cells + [""] * width)[:width]
        yield row_number, cells


def inspect(blocks: Callable[[], Iterator[bytes]], *, size: int) -> FileFormat:
    """Read the whole file once: its encoding, delimiter, headers and row count, or a FileProblem."""
    if size == 0:
        raise FileProblem(
            "The file is empty. Export your records with a header row and at least one data row."
        )
    head = b""
    for block in blocks():
        head += block
        if len(head) >= SNIFF_BYTES:
            break
    head = head[:SNIFF_BYTES]
    complete = len(head) >= size
    encoding = guess_encoding(head, complete=complete)
    try:
        try:
            return _scan(blocks, encoding, head, complete)
        except EncodingProblem:
            if encoding != "utf-8":
                raise
        # Valid UTF-8 at the start but not further on: most likely a Windows-1252 export.
        return _scan(blocks, "cp1252", head, complete)
    except EncodingProblem as exc:
        raise FileProblem(
            f"The file's text is neither UTF-8, UTF-16 nor Windows-1252 ({exc.message}), so its characters "
            "cannot be read reliably. Save it as CSV UTF-8 and upload it again."
        ) from None


def _scan(blocks, encoding: str, head: bytes, complete: bool) -> FileFormat:
    try:
        sample = codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
    except UnicodeDecodeError:
        name = ENCODING_NAMES.get(encoding, encoding)
        raise EncodingProblem(f"the start of the file is not valid {name}") from None
    if not sample.strip("\ufeff \t\r\n"):
        raise FileProblem("The file has no text in it. Export your records with a header row and data rows.")
    delimiter = sniff_delimiter(sample, complete=complete)
    fmt = FileFormat(encoding=encoding, delimiter=delimiter)
    rows = read_rows(blocks, encoding=encoding, delimiter=delimiter)
    first = next(rows, None)
    if first is None:
        raise FileProblem("The file has no text in it. Export your records with a header row and data rows.")
    header_row, header = first
    if header_row != 1:
        raise FileProblem("The first row is empty. The first row must hold the column names.")
    fmt.headers = [h.strip().lstrip("\ufeff").strip() for h in header]
    _check_headers(fmt.headers)
    width = len(fmt.headers)
    ragged, first_ragged = 0, None
    total = 0
    for row_number, cells in rows:
        total += 1
        if len(cells) != width and not (len(cells) > width and not any(cells[width:])):
            ragged += 1
            if first_ragged is None:
                first_ragged = (row_number, len(cells))
    if ragged:
        row_number, count = first_ragged
        others = ""
        if ragged > 1:
            others = f" {ragged - 1} other row{'s have' if ragged > 2 else ' has'} the same problem."
        raise FileProblem(
            f"Row {row_number} has {count} cell{'s' if count != 1 else ''} but the header has {width} "
            f"column{'s' if width != 1 else ''}.{others} An unquoted {DELIMITER_NAMES[delimiter]} inside "
            f"a value or a stray quote usually causes this: quote such values or fix the rows, then "
            f"upload the file again."
        )
    if total == 0:
        raise FileProblem("The file has a header row but no data rows. Add the records below the header.")
    fmt.total_rows = total
    return fmt


def _check_headers(headers: list[str]) -> None:
    if not any(headers):
        raise FileProblem("The first row has no column names. The first row must hold the column names.")
    seen: dict[str, int] = {}
    for index, name in enumerate(headers):
        if not name:
            continue
        key = name.casefold()
        if key in seen:
            first = seen[key]
            raise FileProblem(
                f"The column name “{name}” appears more than once (columns {column_letter(first)} and "
                f"{column_letter(index)}). Rename or remove one so that every column has its own name."
            )
        seen[key] = index
