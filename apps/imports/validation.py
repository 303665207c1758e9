"""Checking and cleaning the cells of one row, fast enough for a million rows.

One `RowValidator` is built per job (per mapping) and used by both the preview
and the run, so what the preview promises is what the run does. It is plain
Python over compiled regexes, no serializer per row. Each problem is
(column header as the user wrote it, reason); the caller adds the row number.

Values are cleaned the way `apps.records.services` cleans them (whitespace
collapsed as `normalize_text` does, e-mails lower-cased, country codes upper-
cased, naive date-times read as UTC), so an imported lead equals one created
through the API from the same values.

When the organisation enforces its UTM taxonomy at ingest, a lead row whose
UTM cells break it is refused, one problem per reason, under the column of the
value (`apps.execution.services.utm.ingest_problems`, the API's judge). A value
that is missing beside others given is a problem of a new lead only
(writers._check_new): an update keeps the lead's own value for an empty cell.
"""

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_date, parse_datetime

from apps.execution.services import utm
from apps.records.models import CustomField
from apps.records.normalize import normalize_domain

from .countries import country_code
from .mapping import Field, header_key
from .models import ObjectType
from .reading import column_label


class Invalid(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def shown(value: str, limit: int = 60) -> str:
    return f"“{value if len(value) <= limit else value[: limit - 1] + '…'}”"


# A strict subset of what Django's EmailValidator accepts (dot-atom local part,
# ASCII host names, alphabetic TLD): the common case, checked with one regex.
# Anything else is given to Django's validator, so the verdict is Django's.
_FAST_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_INTEGER = re.compile(r"[+-]?\d+(?:\.0*)?")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_CURRENCY = str.maketrans("", "", "$€£¥ \u00a0")
_HOSTNAME = re.compile(r"(?:[\w](?:[\w-]{0,61}[\w])?\.)+[\w-]{2,63}")
_MAX_REVENUE = Decimal("100000000000000")  # DecimalField(max_digits=16, decimal_places=2)
_CENT = Decimal("0.01")


def _text(max_length: int | None) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = " ".join(value.split())
        if max_length and len(value) > max_length:
            raise Invalid(f"Longer than {max_length} characters (it has {len(value)}).")
        return value

    return parse


def _email(max_length: int) -> Callable[[str], str]:
    fast = _FAST_EMAIL.fullmatch

    def parse(value: str) -> str:
        if not fast(value):
            try:
                validate_email(value)
            except ValidationError:
                raise Invalid(f"{shown(value)} is not a valid e-mail address.") from None
        if len(value) > max_length:
            raise Invalid(f"Longer than {max_length} characters (it has {len(value)}).")
        return value.lower()

    return parse


def _country(value: str) -> str:
    code = country_code(value)
    if code is None:
        raise Invalid(
            f"{shown(value)} is not a country: use a two-letter ISO code such as US or DE, "
            "or the country's English name."
        )
    return code


def _integer(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if "," in value or " " in value or "_" in value:
            if not _THOUSANDS.fullmatch(value.replace(" ", ",").replace("_", ",")):
                raise Invalid(f"{shown(value)} is not a whole number.")
            value = value.replace(",", "").replace(" ", "").replace("_", "")
        if not _INTEGER.fullmatch(value):
            raise Invalid(f"{shown(value)} is not a whole number.")
        number = int(value.partition(".")[0])
        if not minimum <= number <= maximum:
            raise Invalid(f"{number} is out of range: use a number from {minimum} to {maximum}.")
        return number

    return parse


def _decimal(value: str) -> Decimal:
    cleaned = value.translate(_CURRENCY)
    if "," in cleaned:
        if not _THOUSANDS.fullmatch(cleaned.lstrip("+-")):
            raise Invalid(f"{shown(value)} is not a number (write 1234567.89, without a decimal comma).")
        cleaned = cleaned.replace(",", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise Invalid(f"{shown(value)} is not a number.") from None
    if not number.is_finite():
        raise Invalid(f"{shown(value)} is not a number.")
    number = number.quantize(_CENT)
    if abs(number) >= _MAX_REVENUE:
        raise Invalid(f"{value} is too large (at most 99,999,999,999,999.99).")
    return number


def _datetime(value: str) -> datetime:
    """ISO 8601 dates and date-times, as `records.services.parse_when` reads them."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parse_datetime(value)
            day = parse_date(value) if parsed is None else None
        except ValueError:  # well-formed but impossible, like 2026-02-30
            parsed = day = None
        if parsed is None:
            if day is None:
                raise Invalid(
                    f"{shown(value)} is not a date: use YYYY-MM-DD, or YYYY-MM-DD HH:MM for a date and "
                    "time (ISO 8601)."
                ) from None
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _external_id(max_length: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) > max_length:
            raise Invalid(f"Longer than {max_length} characters (it has {len(value)}).")
        return value

    return parse


def _domain(max_length: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        try:
            domain = normalize_domain(value)
        except ValueError:  # urlsplit refuses some malformed addresses
            domain = ""
        if not domain or not _HOSTNAME.fullmatch(domain):
            raise Invalid(f"{shown(value)} is not a web address or domain (like acme.com).")
        if len(domain) > max_length:
            raise Invalid(f"Longer than {max_length} characters (it has {len(domain)}).")
        return domain

    return parse


# HubSpot's internal lifecycle values, for the stages a default funnel has.
_STAGE_ALIASES = {
    "subscriber": "inquiry",
    "lead": "inquiry",
    "marketingqualifiedlead": "mql",
    "salesacceptedlead": "sal",
    "salesqualifiedlead": "sql",
    "evangelist": "customer",
}


def stage_lookup(stages) -> dict[str, str]:
    """Accepted spellings (key, name, HubSpot value; case and punctuation ignored) → stage key."""
    lookup = {}
    keys = {stage.key for stage in stages}
    for alias, key in _STAGE_ALIASES.items():
        if key in keys:
            lookup[alias] = key
    for stage in stages:
        lookup[header_key(stage.name)] = stage.key
        lookup[header_key(stage.key)] = stage.key
    return lookup


def _stage(lookup: dict[str, str], keys: list[str]) -> Callable[[str], str]:
    allowed = ", ".join(keys)

    def parse(value: str) -> str:
        key = lookup.get(header_key(value))
        if key is None:
            raise Invalid(f"{shown(value)} is not a lifecycle stage here; use one of: {allowed}.")
        return key

    return parse


def _custom(definition: CustomField) -> Callable[[str], object]:
    label = definition.label
    if definition.type == CustomField.Type.NUMBER:

        def parse_number(value: str):
            try:
                number = Decimal(value.replace(",", "") if _THOUSANDS.fullmatch(value) else value)
            except InvalidOperation:
                raise Invalid(f"{label} must be a number; {shown(value)} is not.") from None
            if not number.is_finite():
                raise Invalid(f"{label} must be a number; {shown(value)} is not.")
            return float(number)

        return parse_number
    if definition.type == CustomField.Type.DATE:

        def parse_date_value(value: str):
            try:
                day = parse_date(value)  # what records.services.clean_custom accepts
            except ValueError:
                day = None
            if day is None:
                raise Invalid(f"{label} must be a date (YYYY-MM-DD); {shown(value)} is not.")
            return day.isoformat()

        return parse_date_value
    if definition.type == CustomField.Type.CHOICE:
        exact = {str(c): c for c in definition.choices}
        folded = {str(c).casefold(): c for c in definition.choices}
        allowed = ", ".join(map(str, definition.choices))

        def parse_choice(value: str):
            if value in exact:
                return exact[value]
            if value.casefold() in folded:
                return folded[value.casefold()]
            raise Invalid(f"{label} must be one of: {allowed}; {shown(value)} is not.")

        return parse_choice
    return _text(None)


def parser_for(field: Field, *, stages: dict[str, str], stage_keys: list[str], customs: dict) -> Callable:
    kind = field.kind
    if kind == "text":
        return _text(field.max_length)
    if kind == "email":
        return _email(field.max_length)
    if kind == "country":
        return _country
    if kind == "int":
        return _integer(field.minimum, field.maximum)
    if kind == "decimal":
        return _decimal
    if kind == "datetime":
        return _datetime
    if kind == "external_id":
        return _external_id(field.max_length)
    if kind == "domain":
        return _domain(field.max_length)
    if kind == "stage":
        return _stage(stages, stage_keys)
    if kind == "custom":
        return _custom(customs[field.name.removeprefix("custom.")])
    raise ValueError(f"No parser for {kind!r}")


class RowValidator:
    """Cleans a row's cells into field values and lists its problems.

    `validate(cells)` returns (values, errors): values maps field names to
    clean values (custom fields under "custom"); an empty cell gives no value
    at all, so an update leaves that field as it is. `utm_taxonomy` is given
    only when the taxonomy is enforced at ingest.
    """

    def __init__(self, *, object_type, headers, mapping, fields, stages=(), customs=(), utm_taxonomy=None):
        stage_keys = [s.key for s in stages]
        lookup = stage_lookup(stages)
        by_key = {c.key: c for c in customs}
        self.object_type = object_type
        self.headers = headers
        self.columns = []
        self.labels: dict[str, str] = {}  # field -> the header it comes from
        for index, name in enumerate(mapping):
            if not name or name not in fields:
                continue
            parse = parser_for(fields[name], stages=lookup, stage_keys=stage_keys, customs=by_key)
            label = column_label(headers, index)
            custom_key = name.removeprefix("custom.") if name.startswith("custom.") else None
            self.columns.append((index, label, name, custom_key, parse))
            self.labels[name] = label
        self.fields = fields
        self.utm_taxonomy = utm_taxonomy

    def label(self, field: str) -> str:
        """The user's header for a field, or our label when no column feeds it."""
        return self.labels.get(field) or (self.fields[field].label if field in self.fields else field)

    @staticmethod
    def _identifies(values: dict) -> bool:
        return bool(
            values.get("email")
            or values.get("first_name")
            or values.get("last_name")
            or values.get("external_id")
        )

    def validate(self, cells: list[str]) -> tuple[dict, list[tuple[str, str]]]:
        values: dict = {}
        errors: list[tuple[str, str]] = []
        for index, label, name, custom_key, parse in self.columns:
            raw = cells[index].strip()
            if not raw:
                continue
            try:
                value = parse(raw)
            except Invalid as exc:
                errors.append((label, exc.reason))
                continue
            if custom_key is None:
                values[name] = value
            else:
                values.setdefault("custom", {})[custom_key] = value
        if self.object_type == ObjectType.LEAD and not errors and not self._identifies(values):
            errors.append(
                (self.label("email"), "A lead needs an e-mail, a name or an external ID; this row has none.")
            )
        if self.utm_taxonomy is not None and not values.keys().isdisjoint(utm.FIELDS):
            for problem in utm.ingest_problems(self.utm_taxonomy, values, partial=True):
                errors.append((self.label(problem.field), problem.message))
        return values, errors
