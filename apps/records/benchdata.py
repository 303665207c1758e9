"""Bulk loading for the system of record: COPY helpers and the benchmark-scale generator.

`seed_bench` fills one organisation with a million leads, ten million stage
events and ten million touchpoints in a few minutes; the demo loader
(demo.py) shares the COPY helpers for its smaller, realistic organisation.

Loading bypasses the services on purpose: one `lead_create` per row would take
hours. The rows are still what the services would write (normalised e-mails,
channels from the source mapping, accounts matched by domain, a first stage
event from "" for every lead, the last one equal to the lead's stage).

Speed comes from four things:
* COPY FROM STDIN fed by a generator, so Python builds rows on one core while
  PostgreSQL stores them on the other;
* the big tables in COPY's binary format: no text to format in Python nor to
  parse in PostgreSQL (timestamps above all), about half the CPU on each side;
* ids reserved up front (one `setval`), so child rows reference their parents
  without reading anything back;
* no per-row foreign-key checks or index maintenance when the load dominates
  the table: secondary indexes and foreign keys are dropped and rebuilt in the
  same transaction (a sort per index instead of ten million inserts into each).
"""

import io
import itertools
import json
import random
import re
import struct
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np

# --- COPY helpers --------------------------------------------------------------

NULL = "\\N"  # COPY's text format for NULL
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def copy_text(value) -> str:
    """One value in COPY's text format."""
    if isinstance(value, str):
        # Most values need no escaping; translate() only the few that do.
        return value.translate(_ESCAPES) if _NEEDS_ESCAPE.search(value) else value
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return copy_text(json.dumps(value))
    raise TypeError(f"Cannot COPY a {type(value).__name__}")


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of str or bytes chunks, for `copy_expert`.

    Reads may come back shorter than asked (psycopg2 reads until b""), which
    spares re-copying the rest of a large chunk on every read.
    """

    def __init__(self, chunks: Iterable[str]):
        self._chunks = iter(chunks)
        self._buffer = b""
        self._offset = 0

    def readable(self):
        return True

    def read(self, size=-1):
        while self._offset >= len(self._buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer, self._offset = (chunk if isinstance(chunk, bytes) else chunk.encode()), 0
        end = len(self._buffer) if size is None or size < 0 else self._offset + size
        out = self._buffer[self._offset : end]
        self._offset += len(out)
        return out


def copy_chunks(cursor, table: str, columns: list[str], chunks: Iterable[str]) -> None:
    """COPY pre-formatted text (lines of tab-separated values) into `table`."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    raw = getattr(cursor, "cursor", cursor)  # a Django CursorWrapper or a psycopg2 cursor
    raw.copy_expert(sql, _ChunkReader(chunks), size=1 << 20)


PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in Unix microseconds: binary timestamps count from it
NULL_FIELD = struct.pack("!i", -1)
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_BINARY_TRAILER = struct.pack("!h", -1)


def _text(value: str) -> bytes:
    """A text field of COPY's binary format."""
    data = value.encode()
    return struct.pack("!i", len(data)) + data


def copy_binary(cursor, table: str, columns: list[str], chunks: Iterable[bytes]) -> None:
    """COPY rows already in PostgreSQL's binary format (about half the CPU of text on both sides)."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"
    raw = getattr(cursor, "cursor", cursor)
    stream = itertools.chain([_BINARY_HEADER], chunks, [_BINARY_TRAILER])
    raw.copy_expert(sql, _ChunkReader(stream), size=1 << 20)


def copy_rows(cursor, table: str, columns: list[str], rows: Iterable[tuple], *, batch: int = 5000) -> None:
    """COPY tuples of Python values (None, str, numbers, dates, dicts) into `table`."""

    def chunks():
        lines = []
        for row in rows:
            lines.append("\t".join(map(copy_text, row)))
            if len(lines) >= batch:
                yield "\n".join(lines) + "\n"
                lines = []
        if lines:
            yield "\n".join(lines) + "\n"

    copy_chunks(cursor, table, columns, chunks())


def reserve_ids(cursor, table: str, count: int) -> int:
    """Take `count` consecutive ids of `table`'s identity sequence; return the first.

    The SHARE ROW EXCLUSIVE lock (held until the transaction ends) keeps other
    inserts, and so other `nextval` calls, out while the range is taken.
    """
    cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
    if count <= 0:
        return 0
    cursor.execute(
        "SELECT setval(seq, nextval(seq) + %s - 1) FROM pg_get_serial_sequence(%s, 'id') AS seq",
        [count, table],
    )
    (last,) = cursor.fetchone()
    return last - count + 1


# --- Dropping and rebuilding indexes around a load ---------------------------------


@dataclass
class Rebuild:
    """DDL to restore what `drop_for_load` removed, in order: indexes, then foreign keys."""

    indexes: list[tuple[str, str]] = field(default_factory=list)  # (name, CREATE INDEX …)
    constraints: list[tuple[str, str, str]] = field(default_factory=list)  # (table, name, definition)


def drop_for_load(cursor, *, foreign_keys_of: list[str], indexes_of: list[str]) -> Rebuild:
    """Drop the outgoing foreign keys of some tables and the secondary indexes of others.

    Primary keys stay (other tables' foreign keys need them), and so do indexes
    that back a constraint; plain and partial unique indexes are rebuilt from
    their own definition, so nothing of the schema is lost.
    """
    rebuild = Rebuild()
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(%s)
        ORDER BY 1, 2
        """,
        [foreign_keys_of],
    )
    for table, name, definition in cursor.fetchall():
        rebuild.constraints.append((table, name, definition))
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY(%s)
          AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """,
        [indexes_of],
    )
    for name, definition in cursor.fetchall():
        rebuild.indexes.append((name, definition))
        cursor.execute(f"DROP INDEX {name}")
    return rebuild


def restore_after_load(cursor, rebuild: Rebuild, *, report: Callable[[str], None] = lambda _: None) -> None:
    # Sorting for an index build is the slow part; give it memory (session-local).
    cursor.execute("SET maintenance_work_mem = '1GB'")
    for name, definition in rebuild.indexes:
        started = time.monotonic()
        cursor.execute(definition)
        report(f"index {name} ({time.monotonic() - started:.1f}s)")
    for table, name, definition in rebuild.constraints:
        started = time.monotonic()
        # Validated once with a single anti-join instead of one lookup per inserted row.
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        report(f"constraint {name} ({time.monotonic() - started:.1f}s)")
    cursor.execute("RESET maintenance_work_mem")


def _iso(unix_us: int) -> str:
    return datetime.fromtimestamp(unix_us / 1_000_000, UTC).isoformat()


# --- The benchmark-scale generator ---------------------------------------------------

FUNNEL_KEYS = ["inquiry", "mql", "sal", "sql", "opportunity", "customer"]
ORIGINS = ["api", "import", "ui", "automation"]
# The reason recorded for a move into each stage.
REASONS = {
    "inquiry": "", "mql": "Met the rule of MQL", "sal": "Accepted", "sql": "Discovery call done",
    "opportunity": "Opportunity created in the CRM", "customer": "Closed won",
    "recycled": "Not ready: timing", "disqualified": "Outside the ICP",
}  # fmt: skip
PATHS_PER_LENGTH = 64
MAX_EVENTS = 19  # events per lead are uniform in 1..19: ten on average
MAX_TOUCHES = 19


def stage_path(rng: random.Random, length: int) -> list[tuple[str, str]]:
    """A walk of `length` stage changes from "" → inquiry, forward with skips, recycles and disqualifications.

    Far longer than a real lead's history on average, on purpose: the benchmark
    needs ten million events for a million leads.
    """
    path = [("", "inquiry")]
    current = "inquiry"
    while len(path) < length:
        if current == "recycled":
            nxt = "mql"  # re-entry
        elif current in ("disqualified", "customer"):
            nxt = "recycled"
        else:
            position = FUNNEL_KEYS.index(current)
            roll = rng.random()
            if roll < 0.7:
                nxt = FUNNEL_KEYS[position + 1]
            elif roll < 0.8 and position + 2 < len(FUNNEL_KEYS):
                nxt = FUNNEL_KEYS[position + 2]  # a skipped stage
            elif roll < 0.95:
                nxt = "recycled"
            else:
                nxt = "disqualified"
        path.append((current, nxt))
        current = nxt
    return path


@dataclass(frozen=True)
class BenchPlan:
    leads: int
    accounts: int
    opportunities: int

    @classmethod
    def for_leads(cls, leads: int) -> "BenchPlan":
        # The demo organisation's proportions: an account per four leads, an
        # opportunity per thirteen or so.
        return cls(leads=leads, accounts=max(1, leads // 4), opportunities=max(1, leads * 3 // 40))


class Progress:
    """A one-line progress bar per phase (no dependency needed), and timed notes.

    Writes to a stream, or to a management command's `self.stdout` (which
    would otherwise end every write with a newline).
    """

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stdout
        self.width = width
        self.started = time.monotonic()
        self._last = 0.0

    def _write(self, text: str) -> None:
        if getattr(self.stream, "ending", None) is not None:  # django's OutputWrapper
            self.stream.write(text, ending="")
        else:
            self.stream.write(text)
        self.stream.flush()

    def update(self, label: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.5 and done < total:
            return
        self._last = now
        share = done / total if total else 1.0
        bar = "#" * int(share * self.width)
        elapsed = now - self.started
        line = f"\r{label:<14} [{bar:<{self.width}}] {share:6.1%} {done:>11,}/{total:<11,} {elapsed:6.1f}s"
        self._write(line + ("\n" if done >= total else ""))

    def note(self, message: str) -> None:
        self._write(f"  {message}  [{time.monotonic() - self.started:.1f}s]\n")


def _in_chunks(lines_of: Callable[[int, int], str], total: int, step: int, progress, label) -> Iterator[str]:
    """Yield `lines_of(lo, hi)` for consecutive slices of range(total), reporting progress."""
    for lo in range(0, total, step):
        hi = min(total, lo + step)
        yield lines_of(lo, hi)
        if progress is not None:
            progress.update(label, hi, total)


ACCOUNT_COLUMNS = [
    "id", "created_at", "updated_at", "organization_id", "external_id", "name", "domain", "industry",
    "employees", "annual_revenue", "country", "region", "owner_id", "custom", "completeness",
]  # fmt: skip
LEAD_COLUMNS = [
    "id", "created_at", "updated_at", "organization_id", "external_id", "email", "first_name",
    "last_name", "title", "phone", "company", "country", "source", "channel", "utm_source", "utm_medium",
    "utm_campaign", "utm_term", "utm_content", "custom", "stage_id", "stage_entered_at", "owner_id",
    "account_id", "score", "captured_at", "completeness", "merged_into_id",
]  # fmt: skip
EVENT_COLUMNS = [
    "id", "created_at", "updated_at", "organization_id", "lead_id", "from_stage", "to_stage", "actor_id",
    "api_key_prefix", "reason", "origin", "at",
]  # fmt: skip
TOUCH_COLUMNS = [
    "id", "created_at", "updated_at", "organization_id", "external_id", "lead_id", "account_id", "channel",
    "source", "medium", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    "campaign_ref", "type", "occurred_at",
]  # fmt: skip
OPPORTUNITY_COLUMNS = [
    "created_at", "updated_at", "organization_id", "external_id", "name", "account_id",
    "primary_contact_id", "amount", "currency", "stage", "status", "loss_reason", "close_date", "type",
    "source", "created_date", "owner_id", "custom",
]  # fmt: skip
LOADED_TABLES = [
    "records_account", "records_lead", "records_stageevent", "records_touchpoint", "records_opportunity",
]  # fmt: skip
# Tables the loaded ones' foreign keys point at: dropping and re-adding a key locks them too.
REFERENCED_TABLES = [
    "accounts_organization",
    "accounts_membership",
    "accounts_user",
    "records_lifecyclestage",
]
DEADLOCK_DETECTED = "40P01"


def _row_estimate(cursor, table: str) -> int:
    cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
    return max(0, cursor.fetchone()[0])  # -1 until the table is first analysed


# Binary rows: struct layouts of the fixed parts (field length, then value).
_EVENT_HEAD = struct.Struct("!hiqiqiqiqiq")  # 12 fields; id, created_at, updated_at, organization, lead
_TOUCH_HEAD = struct.Struct("!hiqiqiq")  # 18 fields; id, created_at, updated_at
_LEAD_HEAD = struct.Struct(
    "!hiqiqiqiqi"
)  # 28 fields; id, created_at, updated_at, organization, no external id
_BIGINT = struct.Struct("!iq")  # also timestamps: microseconds since 2000-01-01
_INT = struct.Struct("!ii")
_FLOAT = struct.Struct("!id")
_EMPTY_JSON = struct.pack("!i", 3) + b"\x01{}"  # jsonb: a version byte, then the text


class _Generator:
    """The rows of one benchmark load, as COPY chunks; per-lead choices are drawn up front."""

    def __init__(
        self, *, org, leads: int, seed: int, now: datetime, stages: dict, owners: list, mapping: dict
    ):
        from .demo import CHANNELS, channel_of

        self.org_id, self.currency, self.leads = org.pk, org.currency, leads
        self.plan = BenchPlan.for_leads(leads)
        self.rng = rng = np.random.default_rng(seed)
        prng = random.Random(seed)
        now_us = int(now.timestamp() * 1_000_000) - 1_000_000
        self.start_us = now_us - 365 * 86_400_000_000
        self.volumes = np.array([c.volume for c in CHANNELS], dtype=float)
        self.volumes /= self.volumes.sum()
        self.channels = len(CHANNELS)
        # Per lead: events (1..19, ten on average) and touchpoints alike; capture time
        # (sorted, so ids follow time as real inserts do); account, channel, owner, walk.
        self.n_events = rng.integers(1, MAX_EVENTS + 1, leads)
        self.n_touches = rng.integers(1, MAX_TOUCHES + 1, leads)
        self.captured = np.sort(
            self.start_us + rng.integers(0, now_us - self.start_us - 86_400_000_000, leads)
        )
        last = np.minimum(self.captured + (self.n_events - 1) * 86_400_000_000, now_us)
        self.step = np.where(self.n_events > 1, (last - self.captured) // np.maximum(self.n_events - 1, 1), 0)
        self.last = self.captured + (self.n_events - 1) * self.step  # the last event's time, exactly
        self.account_of = rng.integers(0, self.plan.accounts, leads)
        self.free_mail = rng.random(leads) < 0.12
        self.channel_of = rng.choice(self.channels, leads, p=self.volumes)
        self.owner_of = rng.integers(0, len(owners), leads)
        self.walk_of = rng.integers(0, PATHS_PER_LENGTH, leads)
        # A pool of encoded walks per length: the per-event work is then an id, a lead and a time.
        self.walks, self.final_stage = {}, {}
        for n in range(1, MAX_EVENTS + 1):
            pool = [stage_path(prng, n) for _ in range(PATHS_PER_LENGTH)]
            self.walks[n] = [
                [b"".join([_text(a), _text(b), NULL_FIELD, _text(""), _text(REASONS[b]),
                           _text(prng.choice(ORIGINS))]) for a, b in walk]
                for walk in pool
            ]  # fmt: skip
            self.final_stage[n] = [stages[walk[-1][1]] for walk in pool]
        self.lead_channel, self.touch_channel = [], []
        for ch in CHANNELS:
            src, utm_source, utm_medium = ch.sources[0]
            canonical = channel_of(mapping, src, utm_source, utm_medium)
            self.lead_channel.append(
                b"".join(map(_text, [src, canonical, utm_source, utm_medium, f"bench-{ch.touch}", "", ""]))
            )
            self.touch_channel.append(
                b"".join(map(_text, [canonical, src, utm_medium, utm_source, utm_medium, f"bench-{ch.touch}",
                                     "", "", "", ch.touch]))
            )  # fmt: skip
        self.owner_field = [NULL_FIELD if o is None else _BIGINT.pack(8, o) for o in owners]
        self.inquiry = stages["inquiry"]
        self.lead_fixed = _text("Manager") + _text("")  # title, phone
        self.first_ids = {}

    def reserve(self, cursor) -> None:
        total = {
            "records_account": self.plan.accounts,
            "records_lead": self.leads,
            "records_stageevent": int(self.n_events.sum()),
            "records_touchpoint": int(self.n_touches.sum()),
        }
        self.first_ids = {table: reserve_ids(cursor, table, n) for table, n in total.items()}

    def domain(self, a: int) -> str:
        return f"a{self.first_ids['records_account'] + a}.bench.example"

    def account_field(self, i: int) -> bytes:
        if self.free_mail[i]:
            return NULL_FIELD
        return _BIGINT.pack(8, self.first_ids["records_account"] + int(self.account_of[i]))

    def accounts(self, lo: int, hi: int) -> str:
        first, created = self.first_ids["records_account"], _iso(self.start_us)
        return "".join(
            f"{first + a}\t{created}\t{created}\t{self.org_id}\t\\N\tAccount {first + a}\t{self.domain(a)}\t"
            f"Software\t{50 + a % 950}\t\\N\tUS\tNorth America\t\\N\t{{}}\t1.0\n"
            for a in range(lo, hi)
        )

    def lead_rows(self, lo: int, hi: int) -> bytes:
        out, first_lead = [], self.first_ids["records_lead"]
        first_account = self.first_ids["records_account"]
        rows = zip(
            range(lo, hi), self.captured[lo:hi].tolist(), self.last[lo:hi].tolist(),
            self.n_events[lo:hi].tolist(), self.walk_of[lo:hi].tolist(), self.account_of[lo:hi].tolist(),
            self.free_mail[lo:hi].tolist(), self.channel_of[lo:hi].tolist(), self.owner_of[lo:hi].tolist(),
            strict=True,
        )  # fmt: skip
        for i, cap, last, n, walk, account, free, channel, owner in rows:
            lead_id, stage = first_lead + i, self.final_stage[n][walk]
            cap_us, last_us = cap - PG_EPOCH_US, last - PG_EPOCH_US
            email = f"lead{lead_id}@gmail.com" if free else f"lead{lead_id}@{self.domain(account)}"
            out.append(
                b"".join([
                    _LEAD_HEAD.pack(28, 8, lead_id, 8, cap_us, 8, last_us, 8, self.org_id, -1),
                    _text(email), _text(f"First{i % 997}"), _text(f"Last{i % 1009}"), self.lead_fixed,
                    _text(f"Account {first_account + account}"), _text("US"), self.lead_channel[channel],
                    _EMPTY_JSON, _BIGINT.pack(8, stage), _BIGINT.pack(8, last_us),
                    self.owner_field[owner] if stage != self.inquiry else NULL_FIELD,
                    NULL_FIELD if free else _BIGINT.pack(8, first_account + account),
                    _INT.pack(4, i % 100), _BIGINT.pack(8, cap_us), _FLOAT.pack(8, 0.9167), NULL_FIELD,
                ])
            )  # fmt: skip
        return b"".join(out)

    def event_rows(self, lo: int, hi: int) -> bytes:
        out, org_id = [], self.org_id
        event_id = self.first_ids["records_stageevent"] + int(self.n_events[:lo].sum())
        rows = zip(
            range(self.first_ids["records_lead"] + lo, self.first_ids["records_lead"] + hi),
            self.captured[lo:hi].tolist(), self.step[lo:hi].tolist(), self.n_events[lo:hi].tolist(),
            self.walk_of[lo:hi].tolist(), strict=True,
        )  # fmt: skip
        for lead_id, cap, step, n, walk in rows:
            at = cap - PG_EPOCH_US
            for change in self.walks[n][walk]:
                out.append(_EVENT_HEAD.pack(12, 8, event_id, 8, at, 8, at, 8, org_id, 8, lead_id))
                out.append(change)
                out.append(_BIGINT.pack(8, at))
                event_id += 1
                at += step
        return b"".join(out)

    def plan_touches(self) -> int:
        """Draw every touchpoint (lead, channel, time) and order them by time.

        Touches happen up to 45 days before their lead's capture (never before the
        window). Stored in time order, as they arrive in life: the three indexes on
        time then build from presorted input, which saves more than the two on the
        lead lose.
        """
        count = int(self.n_touches.sum())
        lead = np.repeat(np.arange(self.leads, dtype=np.int64), self.n_touches)
        at = np.maximum(self.captured[lead] - self.rng.integers(0, 45 * 86_400_000_000, count), self.start_us)
        order = np.argsort(at, kind="stable")
        self.touch_lead, self.touch_at = lead[order], at[order] - PG_EPOCH_US
        self.touch_kind = self.rng.choice(self.channels, count, p=self.volumes)[order]
        return count

    def touch_rows(self, lo: int, hi: int) -> bytes:
        """Touchpoints lo..hi (in time order)."""
        if lo == 0:
            org, first_lead = _BIGINT.pack(8, self.org_id), self.first_ids["records_lead"]
            self.touch_owner = [
                org + NULL_FIELD + _BIGINT.pack(8, first_lead + i) + self.account_field(i)
                for i in range(self.leads)
            ]
        out, touch_id = [], self.first_ids["records_touchpoint"] + lo
        rows = zip(
            self.touch_lead[lo:hi].tolist(), self.touch_at[lo:hi].tolist(), self.touch_kind[lo:hi].tolist(),
            strict=True,
        )  # fmt: skip
        for lead, at, kind in rows:
            out.append(_TOUCH_HEAD.pack(18, 8, touch_id, 8, at, 8, at))
            out.append(self.touch_owner[lead])
            out.append(self.touch_channel[kind])
            out.append(_BIGINT.pack(8, at))
            touch_id += 1
        return b"".join(out)

    def opportunities(self) -> Iterator[str]:
        """Text rows of opportunities on leads' accounts, amounts log-normal around 25k."""
        n = self.plan.opportunities
        leads = self.rng.integers(0, self.leads, n)
        amounts = np.round(self.rng.lognormal(np.log(25_000), 0.75, n), -2)
        status = self.rng.choice(3, n, p=[0.5, 0.2, 0.3])
        first_lead, first_account = self.first_ids["records_lead"], self.first_ids["records_account"]
        self.opportunity_count = 0
        for j in range(n):
            i = int(leads[j])
            if self.free_mail[i]:
                continue  # no account to sell to
            cap = int(self.captured[i])
            created = datetime.fromtimestamp(cap / 1_000_000, UTC).date()
            close = (created + timedelta(days=30)).isoformat()
            state = ("open\t\t\\N", f"won\t\t{close}", f"lost\tPrice\t{close}")[status[j]]
            owner = self.owner_field[self.owner_of[i]]
            self.opportunity_count += 1
            yield (
                f"{_iso(cap)}\t{_iso(cap)}\t{self.org_id}\t\\N\tOpportunity {j}\t"
                f"{first_account + int(self.account_of[i])}\t{first_lead + i}\t{amounts[j]:.2f}\t"
                f"{self.currency}\tDiscovery\t{state}\tnew_business\tbench\t{created.isoformat()}\t"
                f"{NULL if owner == NULL_FIELD else _BIGINT.unpack(owner)[1]}\t{{}}\n"
            )


def seed_bench(*, org, leads: int, seed: int = 7, progress: Progress | None = None, now=None) -> dict:
    """Add `leads` leads to `org`, ~10 stage events and ~10 touchpoints each, and
    a proportional number of accounts and opportunities, in one transaction.

    Foreign keys of the loaded tables are dropped and re-validated once at the
    end; secondary indexes are dropped and rebuilt for the tables the load at
    least doubles. Ends with ANALYZE. Returns the counts written.
    """
    from django.db import OperationalError, connection, transaction

    from apps.accounts.models import Membership
    from apps.accounts.roles import Role

    from .demo import SOURCE_MAPPINGS, source_mappings_ensure
    from .models import LifecycleStage
    from .services import stages_install_defaults

    stages_install_defaults(org=org)  # an organisation made before the records app has none
    stages = {s.key: s.pk for s in LifecycleStage.objects.for_org(org)}
    missing = [key for key in [*FUNNEL_KEYS, "recycled", "disqualified"] if key not in stages]
    if missing:
        raise ValueError(f"{org.slug} has no stage {missing[0]!r}; bench data needs the default stages.")
    owners = list(
        Membership.objects.for_org(org).filter(role=Role.SALES_REP).values_list("pk", flat=True)
    ) or [None]
    gen = _Generator(
        org=org, leads=leads, seed=seed, now=now or datetime.now(UTC), stages=stages, owners=owners,
        mapping={raw: channel for raw, channel, _ in SOURCE_MAPPINGS},
    )  # fmt: skip
    total_events, total_touches = int(gen.n_events.sum()), gen.plan_touches()

    def chunks(rows_of, total, step, label):
        return _in_chunks(rows_of, total, step, progress, label)

    def load(cursor) -> dict:
        # Every lock up front, in one order: taken one by one as the load goes, they
        # deadlock with a session that writes leads meanwhile.
        cursor.execute(f"LOCK TABLE {', '.join(LOADED_TABLES)} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"LOCK TABLE {', '.join(REFERENCED_TABLES)} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute("SET LOCAL synchronous_commit = off")
        source_mappings_ensure(org)
        adding = {
            "records_account": gen.plan.accounts,
            "records_lead": leads,
            "records_stageevent": total_events,
            "records_touchpoint": total_touches,
            "records_opportunity": gen.plan.opportunities,
        }
        existing = {table: _row_estimate(cursor, table) for table in adding}
        # Measured on 1M stage events: COPY with 6 indexes kept up to date costs 9.8 s
        # of CPU; without them 1.3 s, and rebuilding them 3 s, which grows with the
        # rows already in the table. Checking a foreign key per row costs about ten
        # times re-validating it once over the table. Hence the two thresholds.
        heavy = [t for t in adding if existing[t] <= 1.5 * adding[t]]
        unchecked = [t for t in adding if existing[t] <= 10 * adding[t]]
        rebuild = drop_for_load(cursor, foreign_keys_of=unchecked, indexes_of=heavy)
        # Foreign keys left in place check each statement's rows at its end, not at
        # commit. A queue of deferred checks is rescanned by every subtransaction, and
        # the history triggers open some per row (pghistory's and pgtrigger's exception
        # blocks): 40,000 such rows behind a deferred queue took 22 s instead of 0.8 s.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        if progress:
            dropped_keys = f"{len(rebuild.constraints)} foreign keys ({', '.join(unchecked) or 'none'})"
            dropped_indexes = f"{len(rebuild.indexes)} indexes ({', '.join(heavy) or 'none'})"
            progress.note(f"locked; dropped {dropped_keys}, {dropped_indexes}")
        # The audit trail's insert triggers (pghistory) cost about 60 µs a row (two
        # subtransactions each): 20 s here, for the history of synthetic rows. They are
        # skipped for this transaction with pgtrigger's own switch; updates stay audited.
        cursor.execute(
            "SELECT set_config('pgtrigger.ignore', coalesce(array_agg(tgname::text), '{}')::text, true) "
            "FROM pg_trigger WHERE tgrelid = ANY(%s::regclass[]) AND tgname LIKE %s",
            [LOADED_TABLES, "pgtrigger_insert_insert_%"],
        )
        gen.reserve(cursor)
        # Tables with history triggers go in statements of a few thousand rows, for the same reason.
        for batch in chunks(gen.accounts, gen.plan.accounts, 2_000, "accounts"):
            copy_chunks(cursor, "records_account", ACCOUNT_COLUMNS, [batch])
        copy_binary(cursor, "records_lead", LEAD_COLUMNS, chunks(gen.lead_rows, leads, 10_000, "leads"))
        copy_binary(
            cursor, "records_stageevent", EVENT_COLUMNS, chunks(gen.event_rows, leads, 5_000, "stage events")
        )
        copy_binary(
            cursor,
            "records_touchpoint",
            TOUCH_COLUMNS,
            chunks(gen.touch_rows, total_touches, 50_000, "touchpoints"),
        )
        for batch in itertools.batched(gen.opportunities(), 2_000):
            copy_chunks(cursor, "records_opportunity", OPPORTUNITY_COLUMNS, ["".join(batch)])
        counts = {
            "accounts": gen.plan.accounts, "leads": leads, "stage_events": total_events,
            "touchpoints": total_touches, "opportunities": gen.opportunity_count,
        }  # fmt: skip
        if progress:
            progress.note("loaded; rebuilding indexes and foreign keys")
        restore_after_load(cursor, rebuild, report=progress.note if progress else lambda _: None)
        return counts

    for attempt in range(1, 4):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                counts = load(cursor)
            break
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) != DEADLOCK_DETECTED or attempt == 3:
                raise
            if progress:
                progress.note("deadlock with another session (rolled back); trying again")

    # ANALYZE after commit so the planner knows the new sizes at once.
    with connection.cursor() as cursor:
        for table in LOADED_TABLES:
            cursor.execute(f"ANALYZE {table}")
    if progress:
        progress.note("analysed")
    return counts
