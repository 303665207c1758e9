"""The spend ledger: its writes (one entry, a JSON batch) and the reads its page, API and export share.

Every write is atomic and keyword-only and refuses bad input with a
`ServiceError` naming the field. A batch (an API list or a CSV file) is checked
whole before anything is written: one bad row refuses them all, with every
problem listed as (row, column, reason), so a batch never half-applies (CSV
files go through `spend_import`, which checks them the same way). Rows
carrying an `external_id` update the entry that already has it, so sending the
same batch twice changes nothing.

The audit trail comes from the pghistory triggers on SpendEntry; a batch tags
its rows' events with what it was (`spend_import`, `spend_batch`) on top of the
request's actor or API key.

Channels are the canonical channels of source mappings (Lead.channel), so CAC
by channel lines spend up with leads: "paid social" is stored as the mapping's
"Paid Social", and a raw source a mapping knows ("linkedin") as its channel.
A channel no mapping knows is kept as typed, spaces collapsed.

The reads live here too, next to the writes they mirror, so the page, the CSV
export and the API list filter the same way.
"""

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pghistory
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_date

from apps.core.errors import ServiceError
from apps.measurement.models import SpendEntry, SpendType
from apps.records.models import SourceMapping
from apps.records.normalize import normalize_text

FIELDS = ("channel", "campaign", "type", "period_start", "period_end", "amount", "note", "external_id")
MAX_AMOUNT = Decimal("999999999999.99")  # the column holds 14 digits, 2 of them decimals
CENT = Decimal("0.01")
CURRENCY_SIGNS = "€$£¥ \u00a0"
BATCH_MAX_ITEMS = 1_000
# What people call the spend types in invoices and finance exports.
TYPE_SYNONYMS = {
    "ads": SpendType.MEDIA, "advertising": SpendType.MEDIA, "paid media": SpendType.MEDIA,
    "tool": SpendType.TOOLS, "software": SpendType.TOOLS, "saas": SpendType.TOOLS,
    "staff": SpendType.PEOPLE, "salaries": SpendType.PEOPLE, "agency": SpendType.PEOPLE,
    "contractors": SpendType.PEOPLE, "event": SpendType.EVENTS, "sponsorship": SpendType.EVENTS,
}  # fmt: skip


class SpendRowsError(ServiceError):
    """Some rows of a batch are invalid and nothing was written.

    `problems` lists (row, column, reason): for a CSV file the spreadsheet row
    number and the header as written; for an API list the item's index and the
    field name, which is also how `fields` names them ("2.amount").
    """

    def __init__(self, problems: list[tuple[int, str, str]], *, what: str = "row"):
        count = len(problems)
        rows = len({row for row, _, _ in problems})
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in {rows} {what}{'s' if rows != 1 else ''}; "
            "nothing was written. Fix them and send the whole batch again.",
            code="invalid_rows",
        )
        self.problems = problems

    @property
    def fields(self) -> dict[str, list[str]]:
        fields: dict[str, list[str]] = {}
        for row, column, reason in self.problems:
            fields.setdefault(f"{row}.{column}", []).append(reason)
        return fields


# --- Cleaning ------------------------------------------------------------------------------------


@dataclass
class Vocabulary:
    """How typed channel names become canonical ones, read once per batch."""

    channels: dict[str, str]  # casefolded name -> canonical spelling
    raw: dict[str, str]  # a mapped raw source value (lower-case) -> its channel

    def channel(self, value) -> str:
        text = normalize_text(value)
        key = text.casefold()
        return self.channels.get(key) or self.raw.get(text.lower()) or text


def channel_vocabulary(*, org) -> Vocabulary:
    channels: dict[str, str] = {}
    for name in SpendEntry.objects.for_org(org).values_list("channel", flat=True).distinct():
        channels.setdefault(name.casefold(), name)
    raw = {}
    # The mappings' spelling wins over the ledger's, so a ledger typed in lower case converges on it.
    for raw_value, channel in SourceMapping.objects.for_org(org).values_list("raw_value", "channel"):
        channels[channel.casefold()] = channel
        raw[raw_value] = channel
    return Vocabulary(channels=channels, raw=raw)


def _text(value, *, field: str, max_length: int, required: str = "") -> str:
    text = normalize_text(value)
    if not text and required:
        raise ServiceError(required, field=field)
    if len(text) > max_length:
        raise ServiceError(f"At most {max_length} characters ({len(text)} given).", field=field)
    return text


def _channel(value, vocabulary: Vocabulary) -> str:
    text = _text(value, field="channel", max_length=60, required="Name the channel, e.g. Paid Social.")
    channel = vocabulary.channel(text)
    if len(channel) > 60:
        raise ServiceError("A channel name is at most 60 characters.", field="channel")
    return channel


def clean_type(value) -> str:
    text = normalize_text(value).casefold()
    if not text:
        return SpendType.MEDIA
    for choice in SpendType:
        if text in (choice.value, choice.label.casefold()):
            return choice.value
    if text in TYPE_SYNONYMS:
        return TYPE_SYNONYMS[text].value
    allowed = ", ".join(SpendType.values)
    raise ServiceError(f"“{normalize_text(value)}” is not a spend type; use one of: {allowed}.", field="type")


def clean_date(value, *, field: str) -> date:
    if isinstance(value, date):
        return value
    text = normalize_text(value)
    if not text:
        raise ServiceError("Give a date (YYYY-MM-DD).", field=field)
    try:
        parsed = parse_date(text)
    except ValueError:  # well formed but impossible, e.g. 2026-02-30
        raise ServiceError(f"{text} is not a day of the calendar.", field=field) from None
    if parsed is None:
        raise ServiceError(f"“{text}” is not a date; write it as YYYY-MM-DD.", field=field)
    return parsed


def clean_amount(value) -> Decimal:
    """A non-negative amount with at most two decimals.

    Text may carry spaces and thousands separators: "1,234.50", "1 234,50" and
    "1234.5" all read 1234.50. A lone comma followed by one or two digits is a
    decimal comma; otherwise commas group thousands.
    """
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        text = normalize_text(value).strip(CURRENCY_SIGNS).replace(" ", "").replace("\u00a0", "")
        text = text.replace("'", "")
        if not text:
            raise ServiceError("Give the amount spent.", field="amount")
        if "," in text and "." in text:
            thousands = "," if text.rfind(",") < text.rfind(".") else "."
            text = text.replace(thousands, "").replace(",", ".")
        elif text.count(",") == 1 and len(text.rpartition(",")[2]) in (1, 2):
            text = text.replace(",", ".")
        else:
            text = text.replace(",", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ServiceError(f"“{value}” is not an amount; write it like 1234.50.", field="amount") from None
    if not amount.is_finite():
        raise ServiceError(f"“{value}” is not an amount; write it like 1234.50.", field="amount")
    if amount < 0:
        raise ServiceError(
            "An amount cannot be negative; lower the entry a refund belongs to instead.", field="amount"
        )
    if amount != amount.quantize(CENT):
        raise ServiceError("Use at most two decimals (cents).", field="amount")
    if amount > MAX_AMOUNT:
        raise ServiceError(f"At most {MAX_AMOUNT:,} per entry.", field="amount")
    return amount.quantize(CENT)


def _external_id(value) -> str | None:
    text = normalize_text(value)
    if len(text) > 120:
        raise ServiceError(f"At most 120 characters ({len(text)} given).", field="external_id")
    return text or None


def clean_values(values: dict, vocabulary: Vocabulary, *, base: dict | None = None) -> tuple[dict, list]:
    """The model's values from `values` (over `base` for a partial update), and every problem found.

    Returns (cleaned, problems) where problems are (field, reason); each field
    is checked on its own so a row shows all its problems at once.
    """
    unknown = sorted(set(values) - set(FIELDS))
    problems = [(name, "Unknown field.") for name in unknown]
    cleaners = {
        "channel": lambda v: _channel(v, vocabulary),
        "campaign": lambda v: _text(v, field="campaign", max_length=255),
        "type": clean_type,
        "period_start": lambda v: clean_date(v, field="period_start"),
        "period_end": lambda v: clean_date(v, field="period_end"),
        "amount": clean_amount,
        "note": lambda v: _text(v, field="note", max_length=300),
        "external_id": _external_id,
    }
    cleaned = dict(base or {})
    for name, clean in cleaners.items():
        if name in values:
            try:
                cleaned[name] = clean(values[name])
            except ServiceError as exc:
                problems.append((exc.field or name, exc.message))
        elif base is None:
            if name in ("channel", "period_start", "period_end", "amount"):
                problems.append((name, "This field is required."))
            else:
                cleaned[name] = {"type": SpendType.MEDIA.value, "external_id": None}.get(name, "")
    start, end = cleaned.get("period_start"), cleaned.get("period_end")
    if isinstance(start, date) and isinstance(end, date) and end < start:
        problems.append(("period_end", f"The period ends ({end}) before it starts ({start})."))
    return cleaned, problems


def _raise_first(problems):
    if problems:
        field_name, reason = problems[0]
        raise ServiceError(reason, field=field_name)


def _model_values(cleaned: dict) -> dict:
    values = {k: v for k, v in cleaned.items() if k != "campaign"}
    values["campaign_ref"] = cleaned["campaign"]
    return values


def entry_values(entry: SpendEntry) -> dict:
    """An entry as the service's own field names (what a partial update starts from)."""
    return {
        "channel": entry.channel,
        "campaign": entry.campaign_ref,
        "type": entry.type,
        "period_start": entry.period_start,
        "period_end": entry.period_end,
        "amount": entry.amount,
        "note": entry.note,
        "external_id": entry.external_id,
    }


def _check_external_id_free(org, external_id, *, exclude_pk=None) -> None:
    if not external_id:
        return
    clash = SpendEntry.objects.for_org(org).filter(external_id=external_id)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ServiceError(
            f"Another entry already has the external id {external_id}.", code="duplicate", field="external_id"
        )


# --- One entry -----------------------------------------------------------------------------------


@transaction.atomic
def spend_create(*, org, actor=None, **fields) -> SpendEntry:
    cleaned, problems = clean_values(fields, channel_vocabulary(org=org))
    _raise_first(problems)
    _check_external_id_free(org, cleaned["external_id"])
    try:
        with transaction.atomic():
            return SpendEntry.objects.create(organization=org, created_by=actor, **_model_values(cleaned))
    except IntegrityError:  # another request took the external id since the check above
        _check_external_id_free(org, cleaned["external_id"])
        raise


@transaction.atomic
def spend_update(*, org, entry: SpendEntry, **fields) -> SpendEntry:
    """Change some fields of an entry; the result is checked whole (the period's order included)."""
    if entry.organization_id != org.pk:
        raise ServiceError("No such spend entry in this organisation.", code="not_found")
    locked = SpendEntry.objects.select_for_update().get(pk=entry.pk, organization=org)
    cleaned, problems = clean_values(fields, channel_vocabulary(org=org), base=entry_values(locked))
    _raise_first(problems)
    _check_external_id_free(org, cleaned["external_id"], exclude_pk=entry.pk)
    for name, value in _model_values(cleaned).items():
        setattr(entry, name, value)
    entry.save()
    return entry


@transaction.atomic
def spend_upsert(*, org, actor=None, **fields) -> tuple[SpendEntry, bool]:
    """Update the entry with this `external_id`, or create one. Returns (entry, created).

    Every field not given takes its default, as for a new entry: an upsert
    states the whole entry.
    """
    cleaned, problems = clean_values(fields, channel_vocabulary(org=org))
    _raise_first(problems)
    return write_rows(org, [cleaned], actor=actor)[0]


@transaction.atomic
def spend_delete(*, org, entry: SpendEntry) -> None:
    if entry.organization_id != org.pk:
        raise ServiceError("No such spend entry in this organisation.", code="not_found")
    entry.delete()


# --- Batches -------------------------------------------------------------------------------------


def write_rows(org, rows: list[dict], *, actor=None) -> list[tuple[SpendEntry, bool]]:
    """Create or update (by external id) every cleaned row, in order; call inside a transaction.

    Returns (entry, created) per row.
    """
    ids = [row["external_id"] for row in rows if row["external_id"]]
    existing = {
        e.external_id: e
        for e in SpendEntry.objects.for_org(org)
        .filter(external_id__in=ids)
        .select_for_update()
        .order_by("pk")
    }
    results = []
    for row in rows:
        values = _model_values(row)
        entry = existing.get(row["external_id"]) if row["external_id"] else None
        if entry is None:
            entry = SpendEntry(organization=org, created_by=actor, **values)
            try:
                # A savepoint: a concurrent writer that took the same external id first turns
                # this insert into an update instead of failing the batch.
                with transaction.atomic():
                    entry.save(force_insert=True)
            except IntegrityError:
                if not row["external_id"]:
                    raise
                entry = (
                    SpendEntry.objects.for_org(org).select_for_update().get(external_id=row["external_id"])
                )
            else:
                results.append((entry, True))
                continue
        changed = [name for name, value in values.items() if getattr(entry, name) != value]
        for name in changed:
            setattr(entry, name, values[name])
        if changed:
            entry.save(update_fields=[*changed, "updated_at"])
        results.append((entry, False))
    return results


def spend_batch_upsert(*, org, items: list[dict], actor=None) -> list[tuple[SpendEntry, bool]]:
    """Upsert a list of entries, all or none; (entry, created) per item, in order.

    Problems name the item's index: (index, field, reason).
    """
    if len(items) > BATCH_MAX_ITEMS:
        raise ServiceError(f"Send at most {BATCH_MAX_ITEMS} entries at a time.", code="too_many")
    vocabulary = channel_vocabulary(org=org)
    rows, problems, seen = [], [], {}
    for index, item in enumerate(items):
        cleaned, row_problems = clean_values(item, vocabulary)
        external_id = cleaned.get("external_id")
        if external_id and external_id in seen:
            row_problems.append(("external_id", f"Also in item {seen[external_id]}; send each entry once."))
        elif external_id:
            seen[external_id] = index
        problems.extend((index, name, reason) for name, reason in row_problems)
        rows.append(cleaned)
    if problems:
        raise SpendRowsError(problems, what="item")
    with transaction.atomic(), pghistory.context(spend_batch=len(rows)):
        return write_rows(org, rows, actor=actor)


# --- Reads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpendFilters:
    channel: str = ""
    type: str = ""
    campaign: str = ""
    start: date | None = None  # entries overlapping [start, end], both inclusive
    end: date | None = None


def filter_entries(queryset, filters: SpendFilters):
    """Narrow an already org-scoped queryset of entries; a period keeps the entries that overlap it."""
    if filters.channel:
        queryset = queryset.filter(channel__iexact=normalize_text(filters.channel))
    if filters.type:
        queryset = queryset.filter(type=filters.type)
    if filters.campaign:
        queryset = queryset.filter(campaign_ref__iexact=normalize_text(filters.campaign))
    if filters.start:
        queryset = queryset.filter(period_end__gte=filters.start)
    if filters.end:
        queryset = queryset.filter(period_start__lte=filters.end)
    return queryset


def spend_entries(*, org, filters: SpendFilters = SpendFilters()):
    """The organisation's entries matching `filters`."""
    return filter_entries(SpendEntry.objects.for_org(org), filters)


def spend_channels(*, org) -> list[str]:
    """The channels the ledger and the source mappings know, for pickers."""
    names = {
        *SpendEntry.objects.for_org(org).values_list("channel", flat=True).distinct(),
        *SourceMapping.objects.for_org(org).values_list("channel", flat=True).distinct(),
    }
    return sorted(names, key=str.casefold)


def spread_by_month(
    amount: Decimal, start: date, end: date, *, within: tuple[date | None, date | None] = (None, None)
) -> dict[date, Decimal]:
    """`amount` spread evenly over the days start..end, summed by month (keyed by the 1st), in cents.

    Only the days inside `within` count. Each share is the difference of
    rounded running totals, so the shares of the whole period add up to
    `amount` exactly and every share is within a cent of its exact value.
    """
    days = (end - start).days + 1
    low = max(start, within[0]) if within[0] else start
    high = min(end, within[1]) if within[1] else end
    shares: dict[date, Decimal] = {}
    if high < low:
        return shares

    def running(day_count: int) -> Decimal:
        return (amount * day_count / days).quantize(CENT, rounding=ROUND_HALF_UP)

    cursor = low
    while cursor <= high:
        month_end = cursor.replace(day=calendar.monthrange(cursor.year, cursor.month)[1])
        last = min(month_end, high)
        before = (cursor - start).days
        through = (last - start).days + 1
        shares[cursor.replace(day=1)] = running(through) - running(before)
        cursor = last + timedelta(days=1)
    return shares


@dataclass
class SpendTotals:
    """Spend by channel and by month, each entry spread evenly over its days (as metrics read it)."""

    total: Decimal
    by_channel: list[tuple[str, Decimal]]  # largest first
    by_month: list[tuple[date, Decimal]]  # oldest first
    matrix: dict[date, dict[str, Decimal]]  # month -> channel -> amount


def spend_totals(*, org, filters: SpendFilters = SpendFilters()) -> SpendTotals:
    """Totals of the entries `spend_entries` lists, counting only their days inside the filter period.

    Summed in Python: a ledger holds hundreds or a few thousand entries, and
    spreading one across month boundaries is clearer here than in SQL.
    """
    matrix: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    rows = spend_entries(org=org, filters=filters).values_list(
        "channel", "amount", "period_start", "period_end"
    )
    for channel, amount, start, end in rows.iterator(chunk_size=2000):
        for month, share in spread_by_month(amount, start, end, within=(filters.start, filters.end)).items():
            matrix[month][channel] += share
    by_channel: dict[str, Decimal] = defaultdict(Decimal)
    for channels in matrix.values():
        for channel, amount in channels.items():
            by_channel[channel] += amount
    by_month = [(month, sum(matrix[month].values(), Decimal("0"))) for month in sorted(matrix)]
    return SpendTotals(
        total=sum(by_channel.values(), Decimal("0")),
        by_channel=sorted(by_channel.items(), key=lambda item: (-item[1], item[0].casefold())),
        by_month=by_month,
        matrix={month: dict(channels) for month, channels in sorted(matrix.items())},
    )
