"""The SQL the writers run: COPY streams, array lookups, updates through a temporary table.

Functions taking `ctx` read from it only the model, the organisation, the match
key and the column lists (see writers.Context). Table and column names come
from the models' metadata, quoted; every value travels as a parameter.
"""

import csv
import io
import json
from collections.abc import Iterable
from itertools import islice

from django.db import connection

from apps.records.models import Account, Lead


class CsvStream:
    """A file-like object whose read() formats the next rows as COPY CSV.

    psycopg2 calls read() and ships each piece while Postgres is already
    inserting the previous one, so building rows and writing them overlap.
    """

    ROWS_PER_READ = 500

    def __init__(self, rows: Iterable[list]):
        self._rows = iter(rows)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, quoting=csv.QUOTE_NOTNULL, lineterminator="\n")

    def read(self, size: int = -1) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(islice(self._rows, self.ROWS_PER_READ))
        return self._buffer.getvalue()


def copy_rows(model, columns: list[str], rows: Iterable[list], *, table: str | None = None) -> None:
    """COPY rows (lists in `columns` order, possibly produced lazily) into the model's table or `table`."""
    qn = connection.ops.quote_name
    names = ", ".join(qn(model._meta.get_field(c).column) for c in columns)
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {qn(table or model._meta.db_table)} ({names}) FROM STDIN WITH (FORMAT csv)",
            CsvStream(rows),
        )


def as_json(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True) if value else "{}"


def allocate_ids(model, n: int) -> list[int]:
    """`n` primary keys drawn from the table's sequence, in increasing order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, n],
        )
        return sorted(row[0] for row in cursor.fetchall())


def fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def table_name(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# Lookups take arrays (`= ANY(%s)`): one parameter for 5,000 keys instead of 5,000.
def accounts_by_domain(org, domains) -> dict[str, int]:
    """The oldest account of each domain (as `match_account` picks it)."""
    domains = [d for d in set(domains) if d]
    if not domains:
        return {}
    sql = f"SELECT DISTINCT ON (domain) domain, id FROM {table_name(Account)} "  # noqa: S608
    sql += "WHERE organization_id = %s AND domain = ANY(%s) ORDER BY domain, created_at, id"
    return dict(fetch(sql, [org.pk, domains]))


def lookup(ctx, keys: set[str]) -> dict[str, tuple[int, int | None]]:
    """Existing records by match key: key -> (id, merged_into_id)."""
    if not keys:
        return {}
    table, merged = table_name(ctx.model), "merged_into_id" if ctx.is_lead else "NULL"
    if ctx.match_on == "external_id":  # unique, merged records included
        sql = f"SELECT external_id, id, {merged} FROM {table} "  # noqa: S608
        sql += "WHERE organization_id = %s AND external_id = ANY(%s)"
        return {key: (pk, into) for key, pk, into in fetch(sql, [ctx.org.pk, list(keys)])}
    # E-mail (leads) or domain (accounts): the oldest live record wins, as in records.services.
    column = {"email": "email", "domain": "domain"}[ctx.match_on]
    live = "AND merged_into_id IS NULL " if ctx.is_lead else ""
    sql = f"SELECT DISTINCT ON ({column}) {column}, id FROM {table} "  # noqa: S608
    sql += f"WHERE organization_id = %s AND {column} = ANY(%s) {live}ORDER BY {column}, created_at, id"
    return {key: (pk, None) for key, pk in fetch(sql, [ctx.org.pk, list(keys)])}


def external_id_owners(ctx, ids: set[str]) -> dict[str, int]:
    if not ids:
        return {}
    sql = f"SELECT external_id, id FROM {table_name(ctx.model)} "  # noqa: S608
    sql += "WHERE organization_id = %s AND external_id = ANY(%s)"
    return dict(fetch(sql, [ctx.org.pk, list(ids)]))


def locked_rows(ctx, ids: list[int]) -> dict[int, dict]:
    rows = ctx.model.objects.for_org(ctx.org).filter(pk__in=ids).select_for_update().values(*ctx.columns)
    return {row["id"]: row for row in rows}


def update_from_temp(ctx, rows: list[dict]) -> None:
    """UPDATE the managed columns of `rows` (dicts with id) through a temporary table."""
    if not rows:
        return
    qn = connection.ops.quote_name
    meta = ctx.model._meta
    columns = ["id", *ctx.managed]
    db_columns = [meta.get_field(c).column for c in columns]
    temp = f"import_{meta.model_name}_changes"
    with connection.cursor() as cursor:
        # Only quoted identifiers from the model's metadata are interpolated.
        sql = f"CREATE TEMP TABLE IF NOT EXISTS {qn(temp)} ON COMMIT DROP AS SELECT "
        sql += f"{', '.join(qn(c) for c in db_columns)} FROM {qn(meta.db_table)} WITH NO DATA"
        cursor.execute(sql)
    for row in rows:
        row["custom"] = as_json(row["custom"])
    copy_rows(ctx.model, columns, [[row[c] for c in columns] for row in rows], table=temp)
    assignments = ", ".join(f"{qn(c)} = t.{qn(c)}" for c in db_columns[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(meta.db_table)} AS m SET {assignments} FROM {qn(temp)} AS t "  # noqa: S608
            f"WHERE m.id = t.id AND m.organization_id = %s",
            [ctx.org.pk],
        )
        cursor.execute(f"TRUNCATE {qn(temp)}")


def adopt_leads(ctx, adopters: dict[str, int], now) -> None:
    """Account-less leads whose e-mail ends in @domain join the new account (as account_create does)."""
    if not adopters:
        return
    table = connection.ops.quote_name(Lead._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS l SET account_id = a.id, updated_at = %s
            FROM unnest(%s::bigint[], %s::text[]) AS a(id, domain)
            WHERE l.organization_id = %s AND l.account_id IS NULL AND l.email LIKE '%%@%%'
              AND reverse(split_part(reverse(l.email), '@', 1)) = a.domain
            """,  # noqa: S608 (only a quoted table name is interpolated)
            [now, list(adopters.values()), list(adopters.keys()), ctx.org.pk],
        )


def analyze(model) -> None:
    """Refresh the planner's statistics of the model's table.

    An organisation that had no leads when the table was last analysed looks
    tiny to the planner, which then finds matches through the organisation
    index and filters every row of the organisation: each batch gets slower
    as the import grows it. Autovacuum catches up eventually; an import of a
    million rows cannot wait for it.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table_name(model)}")
