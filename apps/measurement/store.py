"""Reading the daily facts: sums and merged sketches by period and dimension.

Every metric reads facts through this module (apps.measurement.facts writes
them); together they are the seam where a column store can take over.

`grain` is "day", "week" (weeks start on Monday), "month", "quarter" or None
for the whole range as one period. Periods are labelled by their first day,
clipped to the range: a weekly series from a Wednesday starts with that
Wednesday.

Grouping by team reads the owner facts and gives each team the figures of its
active members, as the team filter does: someone in two teams counts in both,
and what nobody in a team owns is the group None ("no team").
"""

import datetime
import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import F, Sum
from django.db.models.functions import Trunc

from .models import (
    AttributionDay,
    CohortChannelDay,
    CohortDay,
    FunnelChannelDay,
    FunnelDay,
    FunnelSegmentDay,
    OpportunityDay,
    ResponseDay,
    SpendEntry,
    TouchDay,
)

GRAINS = ("day", "week", "month", "quarter")

TABLES = {
    "funnel": FunnelDay,
    "cohort": CohortDay,
    "opportunity": OpportunityDay,
    "response": ResponseDay,
    "touch": TouchDay,
    "attribution": AttributionDay,
}

# Coarser copies without the owner and campaign dimensions, read whenever a
# query needs neither: far fewer rows per day.
COARSE = {"funnel": FunnelChannelDay, "cohort": CohortChannelDay}
COARSE_KEYS = {"channel", "channel__in", "stage", "stage__in", "from_stage", "to_stage"}

# Copies keyed by a dimension the detailed table lacks: the only table a query grouped by it can read.
BY_DIMENSION = {("funnel", "segment"): FunnelSegmentDay}

# The column behind each dimension a report can group by, per fact table. "team" is read as "owner" and
# regrouped (see _by_team).
DIMENSIONS = {
    "funnel": {
        "channel": "channel",
        "campaign": "campaign",
        "owner": "owner_id",
        "stage": "stage",
        "segment": "segment_id",
    },
    "cohort": {"channel": "channel", "campaign": "campaign", "owner": "owner_id"},
    "opportunity": {"channel": "channel", "campaign": "campaign", "owner": "owner_id", "type": "type"},
    "response": {
        "channel": "channel",
        "campaign": "campaign",
        "owner": "owner_id",
        "reason": "reject_reason",
    },
    "touch": {"channel": "channel", "campaign": "campaign"},
    "attribution": {"channel": "channel", "campaign": "campaign"},
    "spend": {"channel": "channel", "campaign": "campaign_ref", "type": "type"},
}


@dataclass(frozen=True)
class Window:
    start: datetime.date
    end: datetime.date  # inclusive
    grain: str | None

    def periods(self) -> list[datetime.date]:
        """The first day of every period in the window, in order."""
        if self.grain is None:
            return [self.start]
        starts, day = [], self.start
        while day <= self.end:
            starts.append(day)
            day = next_period(period_start(day, self.grain), self.grain)
        return starts

    def previous(self) -> "Window":
        """The window of the same length just before this one."""
        length = self.end - self.start
        end = self.start - datetime.timedelta(days=1)
        return Window(end - length, end, self.grain)


def period_start(day: datetime.date, grain: str) -> datetime.date:
    if grain == "day":
        return day
    if grain == "week":
        return day - datetime.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def next_period(start: datetime.date, grain: str) -> datetime.date:
    if grain == "day":
        return start + datetime.timedelta(days=1)
    if grain == "week":
        return start + datetime.timedelta(days=7)
    months = 1 if grain == "month" else 3
    month = start.month - 1 + months
    return datetime.date(start.year + month // 12, month % 12 + 1, 1)


def _label(window: Window, day: datetime.date) -> datetime.date:
    """The period a day falls in, clipped to the window's start."""
    if window.grain is None:
        return window.start
    return max(period_start(day, window.grain), window.start)


def _model(table: str, group_by: str | None, where: dict):
    """The fact table to read: the coarse copy when neither the grouping nor a filter needs more."""
    if (table, group_by) in BY_DIMENSION:
        return BY_DIMENSION[table, group_by]
    # A filter on a dimension only a copy carries (segment): that copy, grouped or not.
    for (copy_table, dimension), model in BY_DIMENSION.items():
        if copy_table == table and DIMENSIONS[table][dimension] in where:
            return model
    coarse = COARSE.get(table)
    if coarse and group_by in (None, "channel", "stage") and set(where) <= COARSE_KEYS:
        return coarse
    return TABLES[table]


def teams_by_owner(org) -> dict[int, list[int]]:
    """{membership id: ids of the teams it is an active member of}."""
    from apps.accounts.models import TeamMember

    teams: dict[int, list[int]] = {}
    members = TeamMember.objects.for_org(org).filter(membership__is_active=True)
    for owner, team in members.values_list("membership_id", "team_id").order_by("team_id"):
        teams.setdefault(owner, []).append(team)
    return teams


def _by_team(org, rows: list[dict]) -> list[dict]:
    """Rows grouped by owner, once for each of the owner's teams (group None for no team)."""
    teams = teams_by_owner(org)
    return [{**row, "group": team} for row in rows for team in teams.get(row["group"]) or [None]]


def sums(org, table: str, measures: list[str], window: Window, group_by: str | None = None, **where):
    """A DataFrame indexed by period (and group) with one column per summed measure."""
    if group_by == "team":
        frame = sums(org, table, measures, window, "owner", **where).reset_index()
        rows = _by_team(org, frame.to_dict("records"))
        return _frame(window, rows, measures, group_by)
    model = _model(table, group_by, where)
    group_column = DIMENSIONS[table][group_by] if group_by else None
    statement = _sums_sql(model, org, window, group_column, measures, where)
    if statement is not None:
        with connection.cursor() as cursor:
            cursor.execute(*statement)
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return _frame(window, rows, measures, group_by)
    queryset = model.objects.for_org(org).filter(day__gte=window.start, day__lte=window.end, **where)
    keys = []
    if window.grain is not None:
        queryset = queryset.annotate(
            period=Trunc("day", window.grain, output_field=model._meta.get_field("day"))
        )
        keys.append("period")
    if group_by:
        queryset = queryset.annotate(group=F(group_column))
        keys.append("group")
    return _frame(window, _aggregate(queryset, keys, measures), measures, group_by)


# The lookups `sums` writes as SQL itself; any other goes through the ORM.
_OPERATORS = {"exact": "= %s", "in": "= ANY(%s)", "gt": "> %s", "gte": ">= %s", "lt": "< %s", "lte": "<= %s"}


def _sums_sql(model, org, window: Window, group_column, measures: list[str], where: dict):
    """The statement `sums` runs, written directly: a dashboard makes dozens of these small reads, and
    building each as a queryset cost several times what running it did. None when a lookup is not
    one of `_OPERATORS` (the ORM then builds the same statement)."""
    meta, quote = model._meta, connection.ops.quote_name
    conditions, params = (
        ["organization_id = %s", "day >= %s", "day <= %s"],
        [org.pk, window.start, window.end],
    )
    for lookup, value in where.items():
        name, _, operator = lookup.partition("__")
        operator = operator or "exact"
        if operator not in _OPERATORS:
            return None
        column = quote(meta.get_field(name).column)
        if operator == "exact" and value is None:
            conditions.append(f"{column} IS NULL")
            continue
        conditions.append(f"{column} {_OPERATORS[operator]}")
        params.append(list(value) if operator == "in" else value)
    keys = []
    if window.grain is not None:
        keys.append(("date_trunc(%s, day)::date", "period"))
        params.insert(0, window.grain)
    if group_column:
        keys.append((quote(meta.get_field(group_column).column), "group"))
    selected = [f"{expression} AS {quote(alias)}" for expression, alias in keys]
    selected += [f"sum({quote(meta.get_field(m).column)}) AS {quote(m)}" for m in measures]
    # Only the model's own table and column names and the fixed fragments above are interpolated.
    sql = f"SELECT {', '.join(selected)} FROM {meta.db_table} WHERE {' AND '.join(conditions)}"  # noqa: S608
    if keys:
        sql += " GROUP BY " + ", ".join(str(position) for position in range(1, len(keys) + 1))
    return sql, params


def sketches(org, table: str, field: str, window: Window, group_by: str | None = None, **where):
    """Merged duration sketches by period (and group): {(period[, group]): {bucket: count}}.

    The buckets are summed in PostgreSQL, so only one count per period and bucket travels."""
    if group_by == "team":
        teams = teams_by_owner(org)
        by_team: dict[tuple, dict[int, int]] = {}
        for (period, owner), counts in sketches(org, table, field, window, "owner", **where).items():
            for team in teams.get(owner) or [None]:
                into = by_team.setdefault((period, team), {})
                for bucket, count in counts.items():
                    into[bucket] = into.get(bucket, 0) + count
        return by_team
    model = _model(table, group_by, where)
    queryset = model.objects.for_org(org).filter(day__gte=window.start, day__lte=window.end, **where)
    columns = ["day", field] + ([DIMENSIONS[table][group_by]] if group_by else [])
    inner, params = queryset.exclude(**{field: {}}).values_list(*columns).query.sql_with_params()
    group = ", s.grp" if group_by else ""
    sql = f"""
        SELECT s.day{group}, b.key::int, sum(b.value::bigint)::bigint
        FROM ({inner}) AS s(day, sk{", grp" if group_by else ""})
        CROSS JOIN LATERAL jsonb_each_text(s.sk) AS b
        GROUP BY s.day{group}, b.key
    """  # noqa: S608 (the queryset's own SQL, with its parameters)
    merged: dict[tuple, dict[int, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            key = (_label(window, row[0]),) + ((row[1],) if group_by else ())
            counts = merged.setdefault(key, {})
            counts[row[-2]] = counts.get(row[-2], 0) + row[-1]
    return merged


def cumulative(
    org, table: str, measures: list[str], until: datetime.date, group_by: str | None = None, **where
):
    """Measures summed over every day up to and including `until` (a running balance)."""
    if group_by == "team":
        balances: dict = {}
        owners = cumulative(org, table, measures, until, "owner", **where)
        for row in _by_team(org, [{"group": owner, **values} for owner, values in owners.items()]):
            into = balances.setdefault(row["group"], dict.fromkeys(measures, 0.0))
            for measure in measures:
                into[measure] += row[measure]
        return balances
    model = _model(table, group_by, where)
    queryset = model.objects.for_org(org).filter(day__lte=until, **where)
    keys = ["group"] if group_by else []
    if group_by:
        queryset = queryset.annotate(group=F(DIMENSIONS[table][group_by]))
    rows = _aggregate(queryset, keys, measures)
    if not group_by:
        return {m: float(rows[0][m] or 0) if rows else 0.0 for m in measures}
    return {row["group"]: {m: float(row[m] or 0) for m in measures} for row in rows}


def spend(org, window: Window, group_by: str | None = None, types=None, channels=None, campaigns=None):
    """Spend by period (and group), each entry spread evenly over the days of its own period.

    `channels` and `campaigns` (lists) keep the entries of those channels and campaign references."""
    period = (
        "%(start)s::date" if window.grain is None else "greatest(date_trunc(%(grain)s, d)::date, %(start)s)"
    )
    group = f", s.{DIMENSIONS['spend'][group_by]}" if group_by else ""
    filters = ""
    params = {"org": org.pk, "start": window.start, "end": window.end, "grain": window.grain}
    if types:
        filters += " AND s.type = ANY(%(types)s)"
        params["types"] = list(types)
    if channels is not None:
        filters += " AND s.channel = ANY(%(channels)s)"
        params["channels"] = list(channels)
    if campaigns is not None:
        filters += " AND s.campaign_ref = ANY(%(campaigns)s)"
        params["campaigns"] = list(campaigns)
    sql = f"""
        SELECT {period}{group}, sum(s.amount / (s.period_end - s.period_start + 1))
        FROM {SpendEntry._meta.db_table} s
        CROSS JOIN LATERAL generate_series(
            greatest(s.period_start, %(start)s), least(s.period_end, %(end)s), interval '1 day'
        ) AS d
        WHERE s.organization_id = %(org)s AND s.period_end >= %(start)s AND s.period_start <= %(end)s
              {filters}
        GROUP BY 1{", 2" if group_by else ""}
    """  # noqa: S608 (only the module's own fragments are interpolated)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    records = [
        {"period": row[0], **({"group": row[1]} if group_by else {}), "amount": row[-1]} for row in rows
    ]
    return _frame(window, records, ["amount"], group_by)


def _aggregate(queryset, keys: list[str], measures: list[str]) -> list[dict]:
    """SUM of each measure grouped by `keys`; one row for no keys (`.values()` with no field would
    group by every column)."""
    sums = {m: Sum(m) for m in measures}
    if not keys:
        return [queryset.aggregate(**sums)]
    return list(queryset.values(*keys).annotate(**sums).order_by())


def _frame(window: Window, rows: list[dict], measures: list[str], group_by: str | None) -> pd.DataFrame:
    """Rows to a frame with a row for every period of the window (zeros where nothing happened).

    Rows falling on the same period (and group) are summed: the first period is clipped to the window's
    start, and a team gathers several owners. Groups are sorted, blanks last."""
    totals: dict = {}
    for row in rows:
        period = _label(window, row["period"]) if window.grain is not None else window.start
        key = (period, row["group"]) if group_by else period
        into = totals.setdefault(key, [0.0] * len(measures))
        for position, measure in enumerate(measures):
            into[position] += float(row[measure] or 0)
    periods = window.periods()
    if group_by:
        groups = sorted({key[1] for key in totals}, key=lambda g: (_blank(g), g if not _blank(g) else 0))
        keys = list(itertools.product(periods, groups))
        index = _group_index(window, groups)
    else:
        keys = periods
        index = _period_index(window).view()  # its own object: renaming it leaves the shared one alone
    zeros = [0.0] * len(measures)
    values = np.array([totals.get(key, zeros) for key in keys], dtype=float).reshape(len(keys), len(measures))
    return pd.DataFrame(values, index=index, columns=measures)


@functools.lru_cache(maxsize=256)
def _period_index(window: Window) -> pd.Index:
    """The window's periods as an index (immutable, so one is shared by every frame of the window)."""
    return pd.Index(window.periods(), name="period")


def _group_index(window: Window, groups: list) -> pd.MultiIndex:
    """Every (period, group) pair, periods outermost, groups in the given order; a blank group is a
    missing value (NaN), as MultiIndex.from_tuples reads it, at a fraction of the cost."""
    named = [group for group in groups if not _blank(group)]
    position = {group: code for code, group in enumerate(named)}
    periods = _period_index(window)
    group_codes = np.array([-1 if _blank(group) else position[group] for group in groups], dtype=np.intp)
    return pd.MultiIndex(
        levels=[periods, pd.Index(named)],
        codes=[np.repeat(np.arange(len(periods)), len(groups)), np.tile(group_codes, len(periods))],
        names=["period", "group"],
        verify_integrity=False,
    )


def _blank(group) -> bool:
    return group is None or (isinstance(group, float) and math.isnan(group))


def attributed(org, model: str, window: Window, group_by: str | None = None, **where):
    """Attribution credit of the opportunities created in each period (AttributionDay)."""
    measures = ["opportunities", "pipeline", "won", "revenue"]
    return sums(org, "attribution", measures, window, group_by, model=model, **where)


def has_attribution(org, model: str) -> bool:
    return AttributionDay.objects.for_org(org).filter(model=model).exists()


def subscriptions(org, window: Window) -> pd.DataFrame:
    """Per period: ARR and accounts active at its start and end, and what churned within it.

    Reads the Customer rows directly (one row per subscription, far fewer than
    events), every period in one statement. A subscription is active at the
    start of a period when it started before it and had not churned before it;
    at the end when it started by then and churns after it. An account churned
    when a subscription active at the start churned within the period and
    none of its subscriptions is active at the end."""
    from apps.records.models import Customer

    periods = window.periods()
    ends = [later - datetime.timedelta(days=1) for later in periods[1:]] + [window.end]
    sql = f"""
        WITH p AS (SELECT * FROM unnest(%(starts)s::date[], %(ends)s::date[]) AS p(start, finish)),
        flags AS (
            SELECT p.start, p.finish, c.account_id, c.arr,
                   c.start_date < p.start AND (c.churn_date IS NULL OR c.churn_date >= p.start) AS at_start,
                   c.start_date < p.start AND c.churn_date >= p.start AND c.churn_date <= p.finish AS churned,
                   c.start_date <= p.finish AND (c.churn_date IS NULL OR c.churn_date > p.finish) AS at_end
            FROM p JOIN {Customer._meta.db_table} c ON c.organization_id = %(org)s
        ),
        accounts AS (
            SELECT start, account_id, bool_or(churned) AND NOT bool_or(at_end) AS lost
            FROM flags GROUP BY start, account_id
        )
        SELECT p.start, p.finish - p.start + 1,
               coalesce(sum(f.arr) FILTER (WHERE f.at_start), 0),
               count(DISTINCT f.account_id) FILTER (WHERE f.at_start),
               coalesce(sum(f.arr) FILTER (WHERE f.churned), 0),
               (SELECT count(*) FROM accounts a WHERE a.start = p.start AND a.lost),
               coalesce(sum(f.arr) FILTER (WHERE f.at_end), 0),
               count(DISTINCT f.account_id) FILTER (WHERE f.at_end)
        FROM p LEFT JOIN flags f ON f.start = p.start
        GROUP BY p.start, p.finish
        ORDER BY p.start
    """  # noqa: S608 (only the model's table name is interpolated)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": org.pk, "starts": periods, "ends": ends})
        rows = cursor.fetchall()
    columns = ["days", "start_arr", "start_accounts", "churned_arr", "churned_accounts"]
    columns += ["end_arr", "end_accounts"]
    values = np.array([row[1:] for row in rows], dtype=float).reshape(len(rows), len(columns))
    index = pd.Index([row[0] for row in rows], name="period")
    return pd.DataFrame(values, index=index, columns=columns)
