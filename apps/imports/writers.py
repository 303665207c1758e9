"""Applying one batch of rows to leads or accounts with a handful of set-based statements.

For a batch the writer issues one query to find the matches, one to find
accounts by e-mail domain, one for external-id clashes, then COPYs the new
records (ids drawn from the table's sequence up front; rows built while COPY
streams them) and their first stage events, updates the matched records from a
temporary table, and flags exact e-mail duplicates with one join (needless
when rows are matched on e-mail: a new lead then has no live namesake). The
semantics are those of
`apps.records.services` (`lead_create`, `lead_update`, `account_create`,
`account_update`), row by row:

* an empty cell leaves the field as it is on update;
* a changed e-mail re-matches a lead without an account by its domain;
* a stage change appends a StageEvent; a new lead's first event is
  "" → its stage at its capture time, origin "import";
* a new account adopts the account-less leads of its domain.

Rows of a batch that share a match key are applied in "waves" (the first
occurrence of every key, then the second, …) so that the second row sees
what the first one wrote, as it would row by row. No webhook events are
emitted: an import of a million leads must not become a million deliveries.

The caller runs `apply_rows` inside the batch's transaction. It raises
IntegrityError/DataError only for a problem the checks here did not foresee;
the service then retries the batch row by row to pin it on one row. The SQL
itself lives in sql.py.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from apps.execution.services import utm
from apps.records import quality
from apps.records.models import (
    Account,
    CustomField,
    DuplicateCandidate,
    Lead,
    LifecycleStage,
    Origin,
    SourceMapping,
    StageEvent,
)
from apps.records.normalize import company_domain_of_email
from apps.records.services import ACCOUNT_TEXT_FIELDS, LEAD_TEXT_FIELDS

from . import sql
from .models import Mode, ObjectType
from .validation import shown

DEFAULT_STAGE = "inquiry"  # where lead_create starts a lead without a stage
DUPLICATES_PER_LEAD = 20  # as lead_create: at most 20 earlier leads flagged per new lead

LEAD_MANAGED = [
    *LEAD_TEXT_FIELDS, "email", "country", "score", "captured_at", "external_id", "custom", "stage_id",
    "stage_entered_at", "account_id", "channel", "completeness", "updated_at",
]  # fmt: skip
ACCOUNT_MANAGED = [
    *ACCOUNT_TEXT_FIELDS, "domain", "country", "employees", "annual_revenue", "external_id", "custom",
    "completeness", "updated_at",
]  # fmt: skip


@dataclass(eq=False)
class Row:
    number: int  # spreadsheet row number
    cells: list[str]
    values: dict = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    key: str | None = None


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[Row] = field(default_factory=list)

    def add(self, other: "Outcome") -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed


class Context:
    """What one run loads once: stages, completeness rules, source mappings, COPY columns."""

    def __init__(self, *, org, object_type, mode, match_on, validator, actor_id=None, job_id=None):
        self.org = org
        self.object_type = object_type
        self.mode = mode
        self.match_on = match_on
        self.validator = validator
        self.actor_id = actor_id
        self.job_id = job_id
        self.is_lead = object_type == ObjectType.LEAD
        self.model = Lead if self.is_lead else Account
        self.noun = "lead" if self.is_lead else "account"
        self.a_noun = "A lead" if self.is_lead else "An account"
        stages = list(LifecycleStage.objects.for_org(org))
        self.stage_ids = {s.key: s.pk for s in stages}
        self.stage_keys = {s.pk: s.key for s in stages}
        self.rules = quality.rules_for(org=org, object_type=object_type)
        self.rules_total = sum(weight for _, weight, _ in self.rules)
        self.rules_plan = self._compile_rules()
        self.channels = {m.raw_value: m.channel for m in SourceMapping.objects.for_org(org)}
        self.required_customs = [
            (c.key, c.label)
            for c in CustomField.objects.for_org(org).filter(object_type=object_type, required=True)
        ]
        self.columns, self.defaults = _copy_columns(self.model)
        self.event_columns, self.event_defaults = _copy_columns(StageEvent, skip_pk=True)
        self.managed = LEAD_MANAGED if self.is_lead else ACCOUNT_MANAGED

    # -- derived values, as records.services computes them --

    def channel(self, *values: str) -> str:
        for value in values:
            raw = value.strip().lower() if value else ""
            if raw and raw in self.channels:
                return self.channels[raw]
        return ""

    def _compile_rules(self) -> list[tuple[str, str, int]]:
        """Each rule's field as a record lookup, so scoring a row is a short loop (see completeness)."""
        plan = []
        for name, weight, _ in self.rules:
            if name.startswith("custom."):
                plan.append(("custom", name.removeprefix("custom."), weight))
            elif name == "stage" and self.is_lead:
                plan.append(("stage", name, weight))
            elif name in ("account", "owner", "merged_into"):
                plan.append(("column", f"{name}_id", weight))
            else:
                plan.append(("column", name, weight))
        return plan

    def completeness(self, record: dict) -> float:
        """quality.score over the record as quality.as_record would flatten it."""
        if not self.rules_total:
            return 1.0
        filled, got = quality.filled, 0
        for kind, name, weight in self.rules_plan:
            if kind == "column":
                value = record.get(name)
            elif kind == "custom":
                value = (record.get("custom") or {}).get(name)
            else:
                value = self.stage_keys.get(record.get("stage_id"))
            # The common cases inline (a call per rule and row adds up at a million rows).
            if value is None or value == "":
                continue
            if value.__class__ is str:
                if not value.isspace():
                    got += weight
            elif filled(value):
                got += weight
        return round(got / self.rules_total, 4)

    def key_of(self, values: dict) -> str | None:
        return values.get(self.match_on) or None


def _copy_columns(model, *, skip_pk=False) -> tuple[list[str], dict]:
    """The model's columns (attnames) and, for the ones a writer does not set, one default each."""
    columns, defaults = [], {}
    for f in model._meta.concrete_fields:
        if skip_pk and f.primary_key:
            continue
        columns.append(f.attname)
        defaults[f.attname] = None if f.null and not f.has_default() else f.get_default()
    return columns, defaults


# --- Planning -------------------------------------------------------------------------


def _waves(rows: list[Row]) -> list[list[Row]]:
    waves: list[list[Row]] = [[]]
    seen: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.key is None:
            waves[0].append(row)
            continue
        wave = seen[row.key]
        seen[row.key] += 1
        if wave == len(waves):
            waves.append([])
        waves[wave].append(row)
    return [wave for wave in waves if wave]


def _plan(
    ctx: Context, wave: list[Row], simulated: dict
) -> tuple[list[Row], list[tuple[Row, int]], list[Row]]:
    """Split a wave into (creates, updates with the matched id, rows refused)."""
    existing = sql.lookup(ctx, {row.key for row in wave if row.key})
    existing.update({k: (v, None) for k, v in simulated.items() if k not in existing})
    key_label = ctx.validator.label(ctx.match_on)
    key_name = (
        ctx.validator.fields[ctx.match_on].label.lower() if ctx.match_on in ctx.validator.fields else ""
    )
    creates, updates, refused = [], [], []
    for row in wave:
        match = existing.get(row.key) if row.key else None
        if match and match[1]:
            row.errors.append(
                (key_label, f"This {key_name} belongs to a {ctx.noun} that was merged into another.")
            )
        elif ctx.mode == Mode.CREATE:
            if match:
                row.errors.append(
                    (
                        key_label,
                        f"{ctx.a_noun} with this {key_name} already exists; "
                        f"create mode only adds new {ctx.noun}s.",
                    )
                )
            else:
                creates.append(row)
                continue
        elif not row.key:
            row.errors.append(
                (key_label, f"Empty, but the {key_name} is the match key, so the row cannot be matched.")
            )
        elif match:
            updates.append((row, match[0]))
            continue
        elif ctx.mode == Mode.UPDATE:
            row.errors.append(
                (
                    key_label,
                    f"No {ctx.noun} has this {key_name}; update mode only changes existing {ctx.noun}s.",
                )
            )
        else:
            creates.append(row)
            continue
        refused.append(row)

    # External ids are unique per organisation, merged records included.
    if ctx.match_on != "external_id":
        with_ids = [(row, None) for row in creates] + updates
        owners = sql.external_id_owners(
            ctx, {r.values["external_id"] for r, _ in with_ids if r.values.get("external_id")}
        )
        first_row: dict[str, int] = {}
        label = ctx.validator.label("external_id")
        for row, pk in with_ids:
            ext = row.values.get("external_id")
            if not ext:
                continue
            owner = owners.get(ext)
            if owner is not None and owner != pk:
                row.errors.append(
                    (label, f"The external ID {shown(ext)} already belongs to another {ctx.noun}.")
                )
            elif ext in first_row:
                row.errors.append(
                    (label, f"The external ID {shown(ext)} is also on row {first_row[ext]} of this file.")
                )
            else:
                first_row[ext] = row.number

    for row in creates:
        _check_new(ctx, row)
    refused += [row for row in creates if row.errors] + [row for row, _ in updates if row.errors]
    creates = [row for row in creates if not row.errors]
    updates = [(row, pk) for row, pk in updates if not row.errors]
    return creates, updates, refused


def _check_new(ctx: Context, row: Row) -> None:
    """What only a new record needs (an update may leave these as they are)."""
    values = row.values
    if ctx.is_lead:
        if "stage" not in values and DEFAULT_STAGE not in ctx.stage_ids:
            row.errors.append(
                (
                    ctx.validator.label("stage"),
                    f"Empty, and there is no “{DEFAULT_STAGE}” stage to start new leads in.",
                )
            )
    elif not values.get("name"):
        row.errors.append((ctx.validator.label("name"), "A new account needs a name."))
    taxonomy = ctx.validator.utm_taxonomy
    if taxonomy is not None:  # enforced: a new lead tagged with some UTM values needs all three
        for problem in utm.ingest_problems(taxonomy, values):
            if problem.code == "missing":
                row.errors.append((ctx.validator.label(problem.field), problem.message))
    custom = values.get("custom") or {}
    for key, label in ctx.required_customs:
        if custom.get(key) in (None, ""):
            column = ctx.validator.labels.get(f"custom.{key}", label)
            row.errors.append((column, f"{label} is required for a new {ctx.noun}."))


def apply_rows(ctx: Context, rows: list[Row], *, write: bool = True) -> Outcome:
    """Apply (or, with write=False, only plan) rows whose cells were validated into `values`/`errors`."""
    outcome = Outcome()
    pending = []
    for row in rows:
        if row.errors:
            outcome.failed.append(row)
        else:
            row.key = ctx.key_of(row.values)
            pending.append(row)
    simulated: dict[str, int] = {}  # preview: keys that earlier waves would have created
    for wave in _waves(pending):
        creates, updates, refused = _plan(ctx, wave, simulated)
        outcome.failed += refused
        if not write:
            outcome.created += len(creates)
            outcome.updated += len(updates)
            simulated.update({row.key: 0 for row in creates if row.key})
            continue
        if ctx.is_lead:
            _insert_leads(ctx, creates)
            outcome.add(_update_leads(ctx, updates))
        else:
            _insert_accounts(ctx, creates)
            outcome.add(_update_accounts(ctx, updates))
        outcome.created += len(creates)
    outcome.failed.sort(key=lambda row: row.number)
    return outcome


# --- Leads -----------------------------------------------------------------------------


def _stage_event(ctx: Context, now, lead_id: int, from_stage: str, to_stage: str, at) -> list:
    event = dict(ctx.event_defaults)
    event.update(
        created_at=now, updated_at=now, organization_id=ctx.org.pk, lead_id=lead_id, from_stage=from_stage,
        to_stage=to_stage, at=at, actor_id=ctx.actor_id, api_key_prefix="", origin=Origin.IMPORT,
        reason=f"CSV import {ctx.job_id}" if ctx.job_id else "CSV import",
    )  # fmt: skip
    return [event[c] for c in ctx.event_columns]


def _insert_leads(ctx: Context, rows: list[Row]) -> None:
    if not rows:
        return
    now = timezone.now()
    ids = sql.allocate_ids(Lead, len(rows))
    accounts = sql.accounts_by_domain(
        ctx.org, {company_domain_of_email(r.values.get("email", "")) for r in rows}
    )
    base = dict(ctx.defaults)
    base.update(
        created_at=now, updated_at=now, organization_id=ctx.org.pk, owner_id=None, merged_into_id=None
    )
    columns, stage_ids, channel = ctx.columns, ctx.stage_ids, ctx.channel
    events, with_email = [], []

    def lead(row, lead_id):
        v = row.values
        r = dict(base)
        for name in LEAD_TEXT_FIELDS:
            r[name] = v.get(name, "")
        email = v.get("email", "")
        stage = v.get("stage", DEFAULT_STAGE)
        captured_at = v.get("captured_at") or now
        r.update(
            id=lead_id, email=email, country=v.get("country", ""), score=v.get("score", 0),
            external_id=v.get("external_id") or None, captured_at=captured_at, stage_entered_at=captured_at,
            custom=v.get("custom") or {}, stage_id=stage_ids[stage],
            channel=channel(r["source"], r["utm_source"], r["utm_medium"]),
            account_id=accounts.get(company_domain_of_email(email)) if email else None,
        )  # fmt: skip
        r["completeness"] = ctx.completeness(r)
        r["custom"] = sql.as_json(r["custom"])
        events.append(_stage_event(ctx, now, lead_id, "", stage, captured_at))
        if email:
            with_email.append((lead_id, email))
        return [r[c] for c in columns]

    # Each lead is built as COPY asks for it (see CsvStream), while Postgres inserts the previous ones.
    sql.copy_rows(Lead, columns, (lead(row, lead_id) for row, lead_id in zip(rows, ids, strict=True)))
    sql.copy_rows(StageEvent, ctx.event_columns, events)
    if ctx.match_on != "email":
        # Matched on e-mail, a new lead is new because no live lead has its e-mail: nothing to flag.
        _flag_email_duplicates(ctx, with_email, now)


def _flag_email_duplicates(ctx: Context, new_leads: list[tuple[int, str]], now) -> None:
    """Pair each new lead with up to 20 earlier live leads of the same e-mail, as lead_create does."""
    if not new_leads:
        return
    table = connection.ops.quote_name(Lead._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT lead, other FROM (
                SELECT n.id AS lead, o.id AS other, row_number() OVER (PARTITION BY n.id ORDER BY o.id) AS nth
                FROM unnest(%s::bigint[], %s::text[]) AS n(id, email)
                JOIN {table} AS o
                  ON o.organization_id = %s AND o.email = n.email AND o.merged_into_id IS NULL AND o.id < n.id
            ) AS pairs
            WHERE nth <= {DUPLICATES_PER_LEAD}
            """,  # noqa: S608 (only a quoted table name is interpolated)
            [[pk for pk, _ in new_leads], [email for _, email in new_leads], ctx.org.pk],
        )
        pairs = cursor.fetchall()
    DuplicateCandidate.objects.bulk_create(
        [
            DuplicateCandidate(
                organization=ctx.org,
                lead_id=lead,
                other_id=other,
                reason=DuplicateCandidate.Reason.EMAIL,
                created_at=now,
                updated_at=now,
            )
            for lead, other in pairs
        ],
        ignore_conflicts=True,
    )


def _changed(ctx: Context, old: dict, new: dict) -> bool:
    return any(old[c] != new[c] for c in ctx.managed if c != "updated_at")


def _update_leads(ctx: Context, pairs: list[tuple[Row, int]]) -> Outcome:
    outcome = Outcome()
    if not pairs:
        return outcome
    now = timezone.now()
    current = sql.locked_rows(ctx, [pk for _, pk in pairs])
    rematch = {
        company_domain_of_email(row.values["email"])
        for row, pk in pairs
        if "email" in row.values and current[pk]["account_id"] is None
    }
    accounts = sql.accounts_by_domain(ctx.org, rematch)
    changed, events = [], []
    for row, pk in pairs:
        v, old = row.values, current[pk]
        new = dict(old)
        for name in LEAD_TEXT_FIELDS:
            if name in v:
                new[name] = v[name]
        if "email" in v:
            new["email"] = v["email"]
            if new["account_id"] is None:
                new["account_id"] = accounts.get(company_domain_of_email(v["email"]))
        for name in ("country", "score", "captured_at", "external_id"):
            if name in v:
                new[name] = v[name]
        if "custom" in v:
            new["custom"] = {**(old["custom"] or {}), **v["custom"]}
        if {"source", "utm_source", "utm_medium"} & v.keys():
            new["channel"] = ctx.channel(new["source"], new["utm_source"], new["utm_medium"])
        stage_id = ctx.stage_ids[v["stage"]] if "stage" in v else old["stage_id"]
        if stage_id != old["stage_id"]:
            new["stage_id"], new["stage_entered_at"] = stage_id, now
            events.append(_stage_event(ctx, now, pk, ctx.stage_keys[old["stage_id"]], v["stage"], now))
        new["completeness"] = ctx.completeness(new)
        if _changed(ctx, old, new):
            new["updated_at"] = now
            changed.append(new)
    sql.update_from_temp(ctx, changed)
    if events:
        sql.copy_rows(StageEvent, ctx.event_columns, events)
    outcome.updated, outcome.unchanged = len(changed), len(pairs) - len(changed)
    return outcome


# --- Accounts ------------------------------------------------------------------------------


def _insert_accounts(ctx: Context, rows: list[Row]) -> None:
    if not rows:
        return
    now = timezone.now()
    ids = sql.allocate_ids(Account, len(rows))
    base = dict(ctx.defaults)
    base.update(created_at=now, updated_at=now, organization_id=ctx.org.pk, owner_id=None)
    accounts, adopters = [], {}
    for row, account_id in zip(rows, ids, strict=True):
        v = row.values
        r = dict(base)
        for name in ACCOUNT_TEXT_FIELDS:
            r[name] = v.get(name, "")
        r.update(
            id=account_id, domain=v.get("domain", ""), country=v.get("country", ""),
            employees=v.get("employees"), annual_revenue=v.get("annual_revenue"),
            external_id=v.get("external_id") or None, custom=v.get("custom") or {},
        )  # fmt: skip
        r["completeness"] = ctx.completeness(r)
        r["custom"] = sql.as_json(r["custom"])
        accounts.append([r[c] for c in ctx.columns])
        if r["domain"]:
            adopters.setdefault(r["domain"], account_id)  # the first new account of a domain adopts
    sql.copy_rows(Account, ctx.columns, accounts)
    sql.adopt_leads(ctx, adopters, now)


def _update_accounts(ctx: Context, pairs: list[tuple[Row, int]]) -> Outcome:
    outcome = Outcome()
    if not pairs:
        return outcome
    now = timezone.now()
    current = sql.locked_rows(ctx, [pk for _, pk in pairs])
    changed = []
    for row, pk in pairs:
        v, old = row.values, current[pk]
        new = dict(old)
        for name in (*ACCOUNT_TEXT_FIELDS, "domain", "country", "employees", "annual_revenue", "external_id"):
            if name in v:
                new[name] = v[name]
        if "custom" in v:
            new["custom"] = {**(old["custom"] or {}), **v["custom"]}
        new["completeness"] = ctx.completeness(new)
        if _changed(ctx, old, new):
            new["updated_at"] = now
            changed.append(new)
    sql.update_from_temp(ctx, changed)
    outcome.updated, outcome.unchanged = len(changed), len(pairs) - len(changed)
    return outcome
