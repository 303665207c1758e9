"""Attribution from the database: paths in one SQL pass, every model in numpy, credit into AttributionDay.

What an opportunity's path holds
--------------------------------
The touches of its primary contact (Touchpoint.lead) and of its account (Touchpoint.account, which
includes the account's other people), each touch once, from the start of the local day
`attribution_lookback_days` before the opportunity's created date up to the moment it closed
(the end of the close date's local day, won or lost) or, while it is open, now. Touches are ordered by
time, ties by touch id.

Milestones (see engine.py for how the models use them):

- lead creation: the primary contact's `captured_at` (the moment the lead came in; its first stage
  event is written at that moment too). Unknown without a primary contact.
- opportunity creation: the **end** of the created date's local day. An opportunity has a date and no
  time; taking the end of the day makes that day's touches count as "at or before" its creation, so the
  demo request that created the opportunity in the afternoon is its opportunity-creation touch. The
  start of the day would hand that credit to whatever came the day before.
- won: the end of the close date's local day, for won opportunities only.

The pass
--------
`PATH_SQL` is one statement: the opportunities in scope joined to their touches (by lead, then by
account for the touches of other people, so no touch is counted twice) and ordered by
(opportunity, time, touch id). It is read with `COPY ... TO STDOUT (FORMAT csv)` and parsed by pandas'
C reader into flat arrays; the per-opportunity facts (day, amount, won, milestones) come from a second,
small query. Every model (engine.credits_all and the Markov model) runs over the same `Paths`, and
credit is summed per (created day, model, channel, source, campaign) with `np.bincount`. Nothing loops
in Python per opportunity or per touch.

Exact sums
----------
Credit is stored in integer units before it is summed: an opportunity's 10^6 micro-units of credit
(`opportunities`, 6 decimals) and its amount in cents (`pipeline`) are each shared among its touches
by largest remainder, so every opportunity's shares add up to exactly 1 and exactly its amount under
every model, and so does every total of AttributionDay rows. `won` and `revenue` are the same shares
for won opportunities. An opportunity with no touch in its window is credited whole to the
"(no touch)" row (channel, source and campaign "(no touch)"), so totals still count every
opportunity.

The data-driven model
---------------------
The Markov chain is fitted on the journeys of the organisation's leads that have touches: a lead's
touches in time order, **converted** when the lead is the primary contact of an opportunity, in which
case only the touches before its first opportunity's creation (as above, the end of that day) count.
The transitions are counted in SQL (markov_fit.py), so no touch travels to Python. Fitting reads
every touch of the organisation, so it is done on full rebuilds and reused by the day-by-day runs for
up to a week; the fit (shares, conversions, warning) is kept in the cache, where the page and the API
read its warning. The Markov rows of a day carry the fit in force when that day was last rebuilt; a
full rollup re-credits every day with one fit.
"""

import csv
import datetime
import io
import tempfile
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from django.db import connection
from django.utils import timezone

from . import engine, markov
from .engine import RULE_BASED_MODELS, Paths
from .markov_fit import NOT_FITTED, MarkovFit, current_fit, markov_fit

MARKOV = markov.MARKOV
ALL_MODELS = (*RULE_BASED_MODELS, MARKOV)
LABELS = {**engine.MODEL_LABELS, MARKOV: "Data-driven (Markov)"}
NO_TOUCH = "(no touch)"
CREDIT_UNITS = 10**6  # AttributionDay.opportunities has six decimals
DEFAULT_LOOKBACK_DAYS = 90

# Scope of the opportunities read; filled in by `_scope`.
_OPPORTUNITIES = """
    SELECT o.id, o.primary_contact_id AS lead_id, o.account_id,
           ((o.created_date - %(lookback)s)::timestamp AT TIME ZONE %(tz)s) AS since,
           CASE WHEN o.status IN ('won', 'lost') AND o.close_date IS NOT NULL
                THEN ((o.close_date + 1)::timestamp AT TIME ZONE %(tz)s) ELSE %(now)s END AS until
    FROM records_opportunity o
    WHERE o.organization_id = %(org)s {scope}
"""

PATH_SQL = """
WITH o AS ({opportunities})
SELECT o.id, t.id, date_part('epoch', t.occurred_at), t.channel, t.source, t.utm_campaign
FROM o JOIN records_touchpoint t ON t.lead_id = o.lead_id
WHERE t.organization_id = %(org)s AND t.occurred_at >= o.since AND t.occurred_at < o.until
UNION ALL
SELECT o.id, t.id, date_part('epoch', t.occurred_at), t.channel, t.source, t.utm_campaign
FROM o JOIN records_touchpoint t ON t.account_id = o.account_id
WHERE t.organization_id = %(org)s AND t.lead_id IS DISTINCT FROM o.lead_id
  AND t.occurred_at >= o.since AND t.occurred_at < o.until
ORDER BY 1, 3, 2
"""

WINDOW_SQL = "SELECT since, until FROM ({opportunities}) o"

# One row per opportunity in scope, by id. A date-only moment is the end of its local day: the next
# local midnight less a microsecond, so that `at <= moment` holds for every touch of that day.
FACTS_SQL = """
SELECT o.id, o.created_date - DATE '1970-01-01', round(o.amount * 100)::bigint, o.status = 'won',
       date_part('epoch', l.captured_at),
       date_part('epoch', (o.created_date + 1)::timestamp AT TIME ZONE %(tz)s) - 1e-6,
       CASE WHEN o.status = 'won' AND o.close_date IS NOT NULL
            THEN date_part('epoch', (o.close_date + 1)::timestamp AT TIME ZONE %(tz)s) - 1e-6 END
FROM records_opportunity o LEFT JOIN records_lead l ON l.id = o.primary_contact_id
WHERE o.organization_id = %(org)s {scope}
ORDER BY o.id
"""

# -- settings and scope --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    half_life_days: float = engine.DEFAULT_HALF_LIFE_DAYS


def settings_for(org) -> Settings:
    from apps.measurement.models import MeasurementSettings

    row = MeasurementSettings.objects.for_org(org).first()
    if row is None:
        return Settings()
    return Settings(lookback_days=row.attribution_lookback_days, half_life_days=row.time_decay_half_life_days)


def _params(org, settings: Settings, now: datetime.datetime | None = None, **extra) -> dict:
    return {
        "org": org.pk,
        "tz": org.time_zone,
        "lookback": int(settings.lookback_days),
        "now": now or timezone.now(),
        **extra,
    }


def _scope(*, days: list[datetime.date] | None = None, opportunity: int | None = None) -> str:
    if opportunity is not None:
        return "AND o.id = %(opportunity)s"
    if days is not None:
        return "AND o.created_date = ANY(%(days)s)"
    return ""


def path_sql(**scope) -> str:
    """The path pass for some opportunities (all of them, `days=` or `opportunity=`); bench.py times it."""
    return PATH_SQL.format(opportunities=_OPPORTUNITIES.format(scope=_scope(**scope)))


# -- reading -------------------------------------------------------------------------------------------


@dataclass
class Touches:
    """One row per touch of every path, ordered by (opportunity, time, touch id)."""

    opportunity: np.ndarray  # int64
    touch: np.ndarray  # int64 touch ids
    at: np.ndarray  # float64 seconds since the epoch
    channel: np.ndarray  # object (str)
    source: np.ndarray
    campaign: np.ndarray

    def __len__(self) -> int:
        return len(self.opportunity)


def copy_csv(sql: str, params: dict, sink) -> None:
    """Stream `COPY (sql) TO STDOUT` as CSV into a binary file-like `sink`."""
    with connection.cursor() as cursor:
        statement = cursor.mogrify(sql, params)
        if isinstance(statement, bytes):
            statement = statement.decode()
        cursor.copy_expert(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)", sink)


def read_touches(sql: str, params: dict) -> Touches:
    # A spooled file: in memory up to 64 MB, on disk beyond, so a big organisation does not hold
    # both the CSV text and the arrays in memory at once.
    with tempfile.SpooledTemporaryFile(max_size=64 * 2**20) as buffer:
        copy_csv(sql, params, buffer)
        buffer.seek(0)
        if buffer.read(1) == b"":
            frame = pd.DataFrame({i: [] for i in range(6)})
        else:
            buffer.seek(0)
            frame = pd.read_csv(
                buffer,
                header=None,
                names=list(range(6)),
                dtype={0: np.int64, 1: np.int64, 2: np.float64, 3: object, 4: object, 5: object},
                na_filter=False,  # text columns are NOT NULL: an empty field is ""
                engine="c",
            )
    return Touches(
        opportunity=frame[0].to_numpy(np.int64),
        touch=frame[1].to_numpy(np.int64),
        at=frame[2].to_numpy(np.float64),
        channel=frame[3].to_numpy(object),
        source=frame[4].to_numpy(object),
        campaign=frame[5].to_numpy(object),
    )


@dataclass
class Facts:
    """One row per opportunity in scope, ascending id."""

    id: np.ndarray
    day: np.ndarray  # int64 days since 1970-01-01
    cents: np.ndarray  # int64
    won: np.ndarray  # bool
    lead_created_at: np.ndarray  # float64 seconds, NaN unknown
    opportunity_created_at: np.ndarray
    won_at: np.ndarray


def read_facts(sql: str, params: dict) -> Facts:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [()] * 7

    def floats(values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    return Facts(
        id=np.array(columns[0], dtype=np.int64),
        day=np.array(columns[1], dtype=np.int64),
        cents=np.array(columns[2], dtype=np.int64),
        won=np.array(columns[3], dtype=bool),
        lead_created_at=floats(columns[4]),
        opportunity_created_at=floats(columns[5]),
        won_at=floats(columns[6]),
    )


# -- crediting -----------------------------------------------------------------------------------------


def apportion(weights: np.ndarray, paths: Paths, totals: np.ndarray) -> np.ndarray:
    """Integer shares of each path's integer total, in proportion to the weights, by largest remainder.

    Every share is rounded down and the units still missing go one each to the touches with the
    largest remainders (ties to the earlier touch), so each path's shares add up to exactly its total
    and each is within one unit of its exact value.
    """
    layout = paths.layout
    if paths.n_touches == 0:
        return np.zeros(0, dtype=np.int64)
    exact = weights * layout.per_touch(totals.astype(np.float64))
    floors = np.floor(exact).astype(np.int64)
    missing = totals - layout.per_path_sum(floors, dtype=np.int64)
    # One float key orders touches by path, then by decreasing remainder: 2 * path + (1 - remainder)
    # lies in (2 path, 2 path + 1]; a stable sort keeps the earlier touch first among equals.
    order = np.argsort(2.0 * layout.touch_path + (1.0 - (exact - floors)), kind="stable")
    path_of = layout.touch_path[order]
    rank = np.arange(len(order)) - layout.starts[path_of]
    bonus = np.zeros(len(order), dtype=np.int64)
    bonus[order] = rank < missing[path_of]
    return floors + bonus


@dataclass
class Credited:
    """Per touch of every path: its weight under each model (float64, each path summing to 1)."""

    paths: Paths
    weights: dict[str, np.ndarray]
    fit: MarkovFit


def credit(touches: Touches, facts: Facts, settings: Settings, fit: MarkovFit) -> Credited:
    """Every model's weights over the paths of `touches`, milestones from `facts`."""
    path_row = np.searchsorted(facts.id, _path_ids(touches.opportunity))
    paths = Paths(
        touches.opportunity,
        touches.at,
        lead_created_at=facts.lead_created_at[path_row],
        opportunity_created_at=facts.opportunity_created_at[path_row],
        won_at=facts.won_at[path_row],
    )
    weights = engine.credits_all(paths, half_life_days=settings.half_life_days)
    channel_code, channel_labels = pd.factorize(touches.channel)
    shares = np.array([fit.shares.get(label, 0.0) for label in channel_labels], dtype=np.float64)
    weights[MARKOV] = markov.markov_credits(paths, channel_code, shares)
    return Credited(paths=paths, weights=weights, fit=fit)


def _path_ids(opportunity: np.ndarray) -> np.ndarray:
    if len(opportunity) == 0:
        return opportunity
    return opportunity[np.concatenate(([True], np.diff(opportunity) != 0))]


@dataclass
class Rows:
    """AttributionDay rows as columns; measures in integer units (micro-credit and cents)."""

    day: np.ndarray  # int64 days since 1970-01-01
    model: list[str]
    channel: list[str]
    source: list[str]
    campaign: list[str]
    opportunities: np.ndarray  # micro-units
    pipeline: np.ndarray  # cents
    won: np.ndarray  # micro-units
    revenue: np.ndarray  # cents


def aggregate(touches: Touches, facts: Facts, credited: Credited) -> Rows:
    """Sum every model's credit per (created day, channel, source, campaign)."""
    paths = credited.paths
    opp_row = np.searchsorted(facts.id, touches.opportunity)
    path_row = np.searchsorted(facts.id, paths.ids)
    # Opportunities without a touch: one pseudo-touch each on the "(no touch)" dimensions.
    untouched = np.setdiff1d(np.arange(len(facts.id)), path_row, assume_unique=True)
    channel = np.concatenate([touches.channel, np.full(len(untouched), NO_TOUCH, dtype=object)])
    source = np.concatenate([touches.source, np.full(len(untouched), NO_TOUCH, dtype=object)])
    campaign = np.concatenate([touches.campaign, np.full(len(untouched), NO_TOUCH, dtype=object)])
    dims, dim_labels = _factorize_dims(channel, source, campaign)
    days, day_labels = pd.factorize(np.concatenate([facts.day[opp_row], facts.day[untouched]]))
    n_keys = len(day_labels) * len(dim_labels)
    keys = days.astype(np.int64) * len(dim_labels) + dims
    won = np.concatenate([facts.won[opp_row], facts.won[untouched]])

    units_total = np.full(paths.layout.n_paths, CREDIT_UNITS, dtype=np.int64)
    cents_total = facts.cents[path_row]
    extra_units = np.full(len(untouched), CREDIT_UNITS, dtype=np.int64)
    extra_cents = facts.cents[untouched]

    columns = {name: [] for name in ("key", "model", "opportunities", "pipeline", "won", "revenue")}
    for model in ALL_MODELS:
        weights = credited.weights[model]
        units = np.concatenate([apportion(weights, paths, units_total), extra_units])
        cents = np.concatenate([apportion(weights, paths, cents_total), extra_cents])
        # Float sums of integers are exact below 2^53 (90 trillion in cents).
        sums = {
            "opportunities": np.bincount(keys, weights=units, minlength=n_keys),
            "pipeline": np.bincount(keys, weights=cents, minlength=n_keys),
            "won": np.bincount(keys, weights=units * won, minlength=n_keys),
            "revenue": np.bincount(keys, weights=cents * won, minlength=n_keys),
        }
        present = np.flatnonzero((sums["opportunities"] > 0) | (sums["pipeline"] > 0))
        columns["key"].append(present)
        columns["model"].append(np.full(len(present), model, dtype=object))
        for name, values in sums.items():
            columns[name].append(np.rint(values[present]).astype(np.int64))
    key = np.concatenate(columns["key"])
    dim_of = key % max(len(dim_labels), 1)
    return Rows(
        day=np.asarray(day_labels, dtype=np.int64)[key // max(len(dim_labels), 1)],
        model=np.concatenate(columns["model"]).tolist(),
        channel=dim_labels[dim_of, 0].tolist(),
        source=dim_labels[dim_of, 1].tolist(),
        campaign=dim_labels[dim_of, 2].tolist(),
        **{name: np.concatenate(columns[name]) for name in ("opportunities", "pipeline", "won", "revenue")},
    )


def _factorize_dims(channel, source, campaign) -> tuple[np.ndarray, np.ndarray]:
    """One integer code per touch for its (channel, source, campaign), and the (n, 3) labels of the codes.

    Each column is factorized alone and the three codes combined into one integer, so no tuple is
    hashed per touch."""
    codes, uniques = [], []
    for values in (channel, source, campaign):
        code, unique = pd.factorize(values)
        codes.append(code.astype(np.int64))
        uniques.append(np.asarray(unique, dtype=object))
    sizes = [max(len(u), 1) for u in uniques]
    dims, combined = pd.factorize((codes[0] * sizes[1] + codes[1]) * sizes[2] + codes[2])
    first, rest = np.divmod(np.asarray(combined, dtype=np.int64), sizes[1] * sizes[2])
    second, third = np.divmod(rest, sizes[2])
    if not len(combined):
        return dims.astype(np.int64), np.empty((0, 3), dtype=object)
    return dims.astype(np.int64), np.column_stack([uniques[0][first], uniques[1][second], uniques[2][third]])


# -- writing -------------------------------------------------------------------------------------------


def _units(value: int) -> str:
    return f"{value // CREDIT_UNITS}.{value % CREDIT_UNITS:06d}"


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def write(org, rows: Rows, days: list[datetime.date] | None) -> int:
    """Replace the organisation's AttributionDay rows of `days` (None: all) by `rows`."""
    with connection.cursor() as cursor:
        if days is None:
            cursor.execute("DELETE FROM measurement_attributionday WHERE organization_id = %s", [org.pk])
        else:
            cursor.execute(
                "DELETE FROM measurement_attributionday WHERE organization_id = %s AND day = ANY(%s)",
                [org.pk, list(days)],
            )
        if not len(rows.day):
            return 0
        now = timezone.now().isoformat()
        dates = (np.datetime64("1970-01-01") + rows.day.astype("timedelta64[D]")).astype(str)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerows(
            zip(
                [org.pk] * len(dates),
                [now] * len(dates),
                [now] * len(dates),
                dates.tolist(),
                rows.model,
                rows.channel,
                rows.source,
                rows.campaign,
                map(_units, rows.opportunities.tolist()),
                map(_cents, rows.pipeline.tolist()),
                map(_units, rows.won.tolist()),
                map(_cents, rows.revenue.tolist()),
                strict=True,
            )
        )
        text.seek(0)
        cursor.copy_expert(
            "COPY measurement_attributionday (organization_id, created_at, updated_at, day, model, channel, "
            "source, campaign, opportunities, pipeline, won, revenue) FROM STDIN WITH (FORMAT csv, "
            "FORCE_NOT_NULL (channel, source, campaign))",
            text,
        )
    return len(rows.day)


# -- entry points --------------------------------------------------------------------------------------


def rebuild(org, days: list[datetime.date] | None, *, fit: MarkovFit | None = None) -> int:
    """Recompute AttributionDay for the opportunities created on `days` (local dates; None: every day).

    The days' rows are deleted first and written again; run it inside a transaction (the rollup does).
    A full rebuild refits the Markov chain; a partial one reuses the last fit while it is recent (`fit`
    imposes one: the benchmark times the rule-based work apart from fitting). Returns the rows written.
    """
    if days is not None:
        days = sorted(set(days))
        if not days:
            return 0
    settings = settings_for(org)
    fit = fit or current_fit(org, refit=days is None)
    params = _params(org, settings, days=days)
    touches = read_touches(path_sql(days=days), params)
    facts = read_facts(FACTS_SQL.format(scope=_scope(days=days)), params)
    credited = credit(touches, facts, settings, fit)
    return write(org, aggregate(touches, facts, credited), days)


def days_to_rebuild(org, *, since: datetime.datetime, dirty: list[datetime.date]) -> list[datetime.date]:
    """Created days of the opportunities whose credit may have changed since `since`.

    Those created on a dirty day; those edited since (amount, status, dates); those whose primary
    contact or account got touches written since; and days whose stored credit no longer counts the
    opportunities created on them (one was deleted or moved to another day).
    """
    sql = """
    SELECT o.created_date FROM records_opportunity o
    WHERE o.organization_id = %(org)s AND (
        o.created_date = ANY(%(dirty)s::date[])
        OR o.updated_at >= %(since)s
        OR o.primary_contact_id IN (
            SELECT lead_id FROM records_touchpoint WHERE organization_id = %(org)s AND created_at >= %(since)s
        )
        OR o.account_id IN (
            SELECT account_id FROM records_touchpoint
            WHERE organization_id = %(org)s AND created_at >= %(since)s
        )
    )
    UNION
    SELECT day FROM (
        SELECT day, sum(opportunities) AS n FROM measurement_attributionday
        WHERE organization_id = %(org)s AND model = %(model)s GROUP BY day
    ) stored
    FULL JOIN (
        SELECT created_date AS day, count(*) AS n FROM records_opportunity
        WHERE organization_id = %(org)s GROUP BY created_date
    ) actual USING (day)
    WHERE stored.n IS DISTINCT FROM actual.n
    """
    params = {"org": org.pk, "since": since, "dirty": list(dirty), "model": engine.FIRST_TOUCH}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


@dataclass(frozen=True)
class TouchCredit:
    touch_id: int
    occurred_at: datetime.datetime
    channel: str
    source: str
    campaign: str
    positions: tuple[str, ...]  # "first", "lead creation", "opportunity creation", "won", "last"
    shares: dict[str, Decimal]  # model -> share, six decimals; each model's shares sum to exactly 1


@dataclass(frozen=True)
class OpportunityCredits:
    touches: list[TouchCredit]
    settings: Settings
    fit: MarkovFit
    window_start: datetime.datetime
    window_end: datetime.datetime
    milestones: dict[str, datetime.datetime | None]


def opportunity_credits(org, opportunity) -> OpportunityCredits:
    """One opportunity's path as it stands now, each touch with its share under every model."""
    settings = settings_for(org)
    now = timezone.now()
    # A page load never fits the chain (a pass over every touch): before the first rollup, the
    # data-driven column treats every channel alike and says why.
    fit = markov_fit(org) or MarkovFit(
        shares={}, warning=NOT_FITTED, journeys=0.0, conversions=0.0, fitted_at=now
    )
    scope = {"opportunity": opportunity.pk}
    params = _params(org, settings, now=now, **scope)
    touches = read_touches(path_sql(**scope), params)
    facts = read_facts(FACTS_SQL.format(scope=_scope(**scope)), params)
    with connection.cursor() as cursor:
        cursor.execute(WINDOW_SQL.format(opportunities=_OPPORTUNITIES.format(scope=_scope(**scope))), params)
        window_start, window_end = cursor.fetchone()

    def moment(seconds: float):
        if np.isnan(seconds):
            return None
        return datetime.datetime.fromtimestamp(float(seconds), datetime.UTC)

    milestones = {
        "lead_created_at": moment(facts.lead_created_at[0]),
        "opportunity_created_at": moment(facts.opportunity_created_at[0]),
        "won_at": moment(facts.won_at[0]),
    }
    if not len(touches):
        return OpportunityCredits([], settings, fit, window_start, window_end, milestones)
    credited = credit(touches, facts, settings, fit)
    paths = credited.paths
    shares = {model: engine.to_decimal_shares(w, paths) for model, w in credited.weights.items()}
    positions = [[] for _ in range(len(touches))]
    for name, index in (
        ("first touch", paths.layout.starts[0]),
        ("lead creation", paths.milestones.lead[0]),
        ("opportunity creation", paths.milestones.opportunity[0]),
        ("won", paths.milestones.won[0]),
        ("last touch", paths.layout.ends[0]),
    ):
        if index != engine.NO_TOUCH:
            positions[index].append(name)
    rows = [
        TouchCredit(
            touch_id=int(touches.touch[i]),
            occurred_at=datetime.datetime.fromtimestamp(float(touches.at[i]), datetime.UTC),
            channel=touches.channel[i],
            source=touches.source[i],
            campaign=touches.campaign[i],
            positions=tuple(positions[i]),
            shares={model: shares[model][i] for model in ALL_MODELS},
        )
        for i in range(len(touches))
    ]
    return OpportunityCredits(rows, settings, fit, window_start, window_end, milestones)
