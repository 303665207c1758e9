"""The pipeline waterfall, coverage against the remaining target and the forecast against the goal.

The waterfall explains how the open pipeline of one fiscal quarter (the
*scope*: opportunities open with a close date in the quarter) moved over a
window [start, end]:

    start + created + progressed - regressed - won - lost - pushed = end   (in amount)

It is read from the opportunity history (django-pghistory keeps a snapshot of
every version of an opportunity in records_opportunityevent). The state of an
opportunity at a moment is its latest snapshot written before that moment;
"at start" is the beginning of the start day and "at end" the end of the end
day, in the organisation's time zone. Every opportunity that was in scope at
some moment of the window is classified once, so the equation balances exactly
by construction:

- It *entered* the window in scope (start: its amount at start), was *created*
  in the window (created: its amount when it first appeared in scope), or was
  *pulled in* (it existed before the window, out of scope, and its close date
  moved into the quarter or it was reopened: its amount then counts in
  progressed).
- It *left* when the first snapshot after its last in-scope snapshot is won
  (won: its won amount), lost (lost: its last open amount) or open with a close
  date outside the quarter or none (pushed: its last open amount). Otherwise it
  is still in scope at end (end: its amount at end).
- Between entering and leaving, the net change of its amount (including a won
  amount that differs from the last open amount) is progressed when it rose
  and regressed when it fell.

An opportunity that leaves and comes back within the window counts once, from
its first entry to its final exit. One that never shows up open in the quarter
(created already won, say) is not pipeline and is not counted.

The history is read through rollup rows (apps.measurement.models.PipelineSpell):
one per open snapshot with a close date, carrying the time and content of the
deal's next snapshot, so a window's classification is one statement over the
quarter's rows with no window function and no raw event. `refresh_facts`
brings them up to date before every read: a trigger marks each deal whose
history grows (PipelineChange), only marked deals are rebuilt (a handful after
an edit), and each rollup run rebuilds them whole. The filters read the rows' type and owner (a change
to either writes a snapshot, so they are current) and the primary contact's
channel and campaign as of the deal's last change or the last rollup.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from apps.accounts.models import TeamMember
from apps.records.models import Opportunity
from apps.strategy.fiscal import fiscal_quarter_of, fiscal_quarter_range
from apps.strategy.models import Goal, GoalMetric

from . import facts, store
from .models import PipelineChange, PipelineSpell, RollupState

BUCKETS = ("start", "created", "progressed", "regressed", "won", "lost", "pushed", "end")
BUCKET_LABELS = {
    "start": "Open at start",
    "created": "Created",
    "progressed": "Progressed",
    "regressed": "Regressed",
    "won": "Won",
    "lost": "Lost",
    "pushed": "Pushed",
    "end": "Open at end",
}
# Sign of each bucket in the equation (start and end are totals).
SIGNS = {"created": 1, "progressed": 1, "regressed": -1, "won": -1, "lost": -1, "pushed": -1}
FILTERS = ("channel", "owner", "team", "campaign", "type")
# A page keeps its waterfalls until a deal changes, and this long at most: a team's members can change
# without any deal changing.
CACHE_SECONDS = 300
PIPELINE_LOCK = 0x70697065  # the first key of the advisory lock serialising PipelineSpell refreshes
STATE_FIELDS = ("pipeline_version", "pipeline_fiscal_month")
TAKE_CHANGES = "DELETE FROM measurement_pipelinechange WHERE organization_id = %s RETURNING opportunity_id"
# The win rate behind the forecast is measured over this many days before the quarter starts.
WIN_RATE_DAYS = 365


@dataclass(frozen=True)
class Scope:
    """Whose pipeline: the fiscal quarter and the filters (current values of the opportunity)."""

    fiscal_year: int
    quarter: int
    quarter_start: datetime.date
    quarter_end: datetime.date
    filters: dict = field(default_factory=dict)


@dataclass
class Waterfall:
    start: datetime.date
    end: datetime.date
    scope: Scope
    amounts: dict[str, Decimal]  # bucket -> amount
    counts: dict[str, int]  # bucket -> opportunities
    new_business_end: Decimal = Decimal(0)  # the part of "end" that is new business (the goal's pipeline)

    @property
    def balanced(self) -> bool:
        total = self.amounts["start"] + sum(sign * self.amounts[b] for b, sign in SIGNS.items())
        return total == self.amounts["end"]

    def rows(self) -> list[dict]:
        """The bucket table: one row per bucket, in the equation's order."""
        return [
            {
                "bucket": bucket,
                "label": BUCKET_LABELS[bucket],
                "sign": SIGNS.get(bucket, 0),
                "amount": float(self.amounts[bucket]),
                "count": self.counts[bucket],
            }
            for bucket in BUCKETS
        ]


def refresh_facts(org, *, whole: bool = False) -> str:
    """Bring the organisation's PipelineSpell rows up to its deals' history and return the version
    they stand at (waterfalls are cached under it). The deals marked in PipelineChange are rebuilt;
    everything is when `whole`, when the rows were never built or when the fiscal year moved.
    Concurrent callers wait for one another."""
    month = org.fiscal_year_start_month
    state = RollupState.objects.filter(organization_id=org.pk).values(*STATE_FIELDS).first()
    if (
        not whole
        and state is not None
        and state["pipeline_fiscal_month"] == month
        and not PipelineChange.objects.filter(organization_id=org.pk).exists()
    ):
        return f"pipeline:{state['pipeline_version']}"
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PIPELINE_LOCK, org.pk])
            # Only the marks this statement sees: one an uncommitted snapshot is writing stays for later.
            cursor.execute(TAKE_CHANGES, [org.pk])
            changed = sorted({row[0] for row in cursor.fetchall()})
        state, _ = RollupState.objects.get_or_create(organization_id=org.pk)
        if whole or state.pipeline_fiscal_month != month:
            facts.build_pipeline(org)
        elif changed:
            facts.build_pipeline(org, changed)
        else:  # another caller refreshed them meanwhile
            return f"pipeline:{state.pipeline_version}"
        state.pipeline_version += 1
        RollupState.objects.filter(pk=state.pk).update(
            pipeline_version=state.pipeline_version, pipeline_fiscal_month=month
        )
    return f"pipeline:{state.pipeline_version}"


def rebuild_facts(org) -> int:
    """Rebuild every PipelineSpell row of the organisation (each rollup run does, which refreshes the
    primary contacts' channels and campaigns); return how many there are."""
    refresh_facts(org, whole=True)
    return PipelineSpell.objects.for_org(org).count()


def scope_for(org, end: datetime.date, filters: dict | None = None) -> Scope:
    """The fiscal quarter containing `end`, with the given filters."""
    year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, end)
    first, last = fiscal_quarter_range(org.fiscal_year_start_month, year, quarter)
    return Scope(year, quarter, first, last, dict(filters or {}))


def _moment(org, day: datetime.date) -> datetime.datetime:
    """The beginning of a local day of the organisation."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=ZoneInfo(org.time_zone))


def _filter_sql(org, filters: dict, params: dict) -> str:
    """WHERE fragments on the spells (see the module's docstring for how current each dimension is)."""
    parts = []
    for name in ("channel", "campaign", "type"):
        if filters.get(name):
            parts.append(f"{name} = %(f_{name})s")
            params[f"f_{name}"] = filters[name]
    if filters.get("owner"):
        parts.append("owner_id = %(f_owner)s")
        params["f_owner"] = int(filters["owner"])
    if filters.get("team"):
        members = list(
            TeamMember.objects.for_org(org)
            .filter(team_id=int(filters["team"]))
            .values_list("membership_id", flat=True)
        )
        parts.append("owner_id = ANY(%(f_team)s)")
        params["f_team"] = members
    return "".join(f" AND {part}" for part in parts)


def _spells_sql(org, scope: Scope, params: dict) -> str:
    """The CTE `spells`: the scope's in-quarter snapshots written before the moment %(e)s that were
    still current at the moment %(s)s or later, i.e. the deal was in scope at some time of the window."""
    params.update({"org": org.pk, "qs": scope.quarter_start})
    where = _filter_sql(org, scope.filters, params)
    return f"""
    spells AS (
        SELECT opportunity_id AS opp, snapshot_id, entered_at, left_at, amount, next_status, next_amount,
               first_seen, type
        FROM {PipelineSpell._meta.db_table}
        WHERE organization_id = %(org)s AND quarter_start = %(qs)s AND entered_at < %(e)s
          AND (left_at IS NULL OR left_at >= %(s)s) {where}
    )"""  # noqa: S608 (only the model's table name and fixed fragments are interpolated)


def _classified_sql(org, start: datetime.date, end: datetime.date, scope: Scope) -> tuple[str, dict]:
    """A statement yielding one classified row per opportunity that was in scope during the window:
    (id, type, entry, entry_amount, exit, exit_amount, delta). The first spell says how the deal entered
    (it was in scope at the start, existed before it, or is new); the last one says how it left (what
    its next snapshot says, if that came before the end)."""
    refresh_facts(org)
    params = {"s": _moment(org, start), "e": _moment(org, end + datetime.timedelta(days=1))}
    spells = _spells_sql(org, scope, params)
    sql = f"""
    WITH {spells},
    first_in AS (
        SELECT DISTINCT ON (opp) opp, type, entered_at, amount, first_seen
        FROM spells ORDER BY opp, entered_at, snapshot_id
    ),
    last_in AS (
        SELECT DISTINCT ON (opp) opp, amount, next_amount,
               CASE WHEN left_at IS NULL OR left_at >= %(e)s THEN 'end'
                    WHEN next_status IN ('won', 'lost') THEN next_status
                    ELSE 'pushed' END AS exit
        FROM spells ORDER BY opp, entered_at DESC, snapshot_id DESC
    ),
    classified AS (
        SELECT f.opp AS id, f.type,
               CASE WHEN f.entered_at < %(s)s THEN 'start' WHEN f.first_seen < %(s)s THEN 'pulled'
                    ELSE 'created' END AS entry,
               f.amount AS entry_amount, x.exit,
               CASE WHEN x.exit = 'won' THEN x.next_amount ELSE x.amount END AS exit_amount
        FROM first_in f JOIN last_in x ON x.opp = f.opp
    )
    SELECT id, type, entry, entry_amount, exit, exit_amount, exit_amount - entry_amount AS delta
    FROM classified
    """  # noqa: S608 (only the module's own fragments are interpolated)
    return sql, params


def waterfall(org, *, start: datetime.date, end: datetime.date, scope: Scope | None = None) -> Waterfall:
    """The pipeline waterfall of the scope (default: the quarter containing `end`) over [start, end]."""
    scope = scope or scope_for(org, end)
    inner, params = _classified_sql(org, start, end, scope)
    sql = f"""
    WITH c AS ({inner})
    SELECT
        coalesce(sum(entry_amount) FILTER (WHERE entry = 'start'), 0),
        count(*) FILTER (WHERE entry = 'start'),
        coalesce(sum(entry_amount) FILTER (WHERE entry = 'created'), 0),
        count(*) FILTER (WHERE entry = 'created'),
        coalesce(sum(entry_amount) FILTER (WHERE entry = 'pulled'), 0)
            + coalesce(sum(delta) FILTER (WHERE delta > 0), 0),
        count(*) FILTER (WHERE entry = 'pulled' OR delta > 0),
        coalesce(-sum(delta) FILTER (WHERE delta < 0), 0),
        count(*) FILTER (WHERE delta < 0),
        coalesce(sum(exit_amount) FILTER (WHERE exit = 'won'), 0),
        count(*) FILTER (WHERE exit = 'won'),
        coalesce(sum(exit_amount) FILTER (WHERE exit = 'lost'), 0),
        count(*) FILTER (WHERE exit = 'lost'),
        coalesce(sum(exit_amount) FILTER (WHERE exit = 'pushed'), 0),
        count(*) FILTER (WHERE exit = 'pushed'),
        coalesce(sum(exit_amount) FILTER (WHERE exit = 'end'), 0),
        count(*) FILTER (WHERE exit = 'end'),
        coalesce(sum(exit_amount) FILTER (WHERE exit = 'end' AND type = 'new_business'), 0)
    FROM c
    """  # noqa: S608 (the module's own statement)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    order = ("start", "created", "progressed", "regressed", "won", "lost", "pushed", "end")
    amounts = {bucket: Decimal(row[2 * i]) for i, bucket in enumerate(order)}
    counts = {bucket: int(row[2 * i + 1]) for i, bucket in enumerate(order)}
    return Waterfall(start, end, scope, amounts, counts, Decimal(row[16]))


# Which classified rows make up each bucket, and the amount each contributes to it.
_BUCKET_ROWS = {
    "start": ("entry = 'start'", "entry_amount"),
    "created": ("entry = 'created'", "entry_amount"),
    "progressed": (
        "entry = 'pulled' OR delta > 0",
        "(CASE WHEN entry = 'pulled' THEN entry_amount ELSE 0 END) + greatest(delta, 0)",
    ),
    "regressed": ("delta < 0", "-delta"),
    "won": ("exit = 'won'", "exit_amount"),
    "lost": ("exit = 'lost'", "exit_amount"),
    "pushed": ("exit = 'pushed'", "exit_amount"),
    "end": ("exit = 'end'", "exit_amount"),
}


def bucket_opportunities(
    org, *, start: datetime.date, end: datetime.date, bucket: str, scope: Scope | None = None, limit=None
) -> list[dict]:
    """The opportunities behind one bucket, largest contribution first, with what each contributes."""
    if bucket not in _BUCKET_ROWS:
        raise ValueError(f"{bucket!r} is not one of {', '.join(BUCKETS)}.")
    scope = scope or scope_for(org, end)
    inner, params = _classified_sql(org, start, end, scope)
    condition, contribution = _BUCKET_ROWS[bucket]
    params["limit"] = limit
    sql = f"""
    WITH c AS ({inner})
    SELECT c.id, o.name, o.status, o.close_date, o.amount, c.entry, c.exit, c.entry_amount,
           c.exit_amount, {contribution} AS contribution
    FROM c JOIN {Opportunity._meta.db_table} o ON o.id = c.id
    WHERE {condition}
    ORDER BY contribution DESC, c.id
    LIMIT %(limit)s
    """  # noqa: S608 (the module's own fragments)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [col[0] for col in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for key in ("amount", "entry_amount", "exit_amount", "contribution"):
            row[key] = float(row[key])
    return rows


# --- Coverage and forecast -------------------------------------------------------------------------


@dataclass
class Outlook:
    """Coverage of the remaining target and the forecast, against the quarter's new bookings goal."""

    fiscal_year: int
    quarter: int
    goal_scope: str  # "organisation" or the team's name
    target: float | None  # None: no goal is set
    won: float  # new bookings won in the quarter up to the window's end
    open_pipeline: float  # open new-business pipeline closing in the quarter, at the window's end
    remaining: float | None  # target - won
    coverage: float | None  # open_pipeline ÷ remaining
    win_rate: float | None  # 0..1, by amount
    win_rate_basis: str
    forecast: float | None  # won + open_pipeline * win_rate
    forecast_attainment: float | None  # forecast ÷ target, in percent

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _goal(org, scope: Scope):
    goals = Goal.objects.for_org(org).filter(
        metric=GoalMetric.NEW_BOOKINGS, fiscal_year=scope.fiscal_year, quarter=scope.quarter
    )
    team = scope.filters.get("team")
    return goals.filter(team_id=int(team)).first() if team else goals.filter(team__isnull=True).first()


def _owner_ids(org, scope: Scope) -> list[int] | None:
    if scope.filters.get("team"):
        return list(
            TeamMember.objects.for_org(org)
            .filter(team_id=int(scope.filters["team"]))
            .values_list("membership_id", flat=True)
        )
    return None


def _opportunity_sums(org, scope: Scope, window: store.Window, owners) -> dict[str, float]:
    measures = ["won_amount", "lost_amount"]
    if owners is None:
        frame = store.sums(org, "opportunity", measures, window, type="new_business")
        return {m: float(frame[m].sum()) for m in measures}
    frame = store.sums(org, "opportunity", measures, window, "owner", type="new_business")
    picked = frame[frame.index.get_level_values("group").isin(owners)]
    return {m: float(picked[m].sum()) for m in measures}


def goal_scope(scope: Scope) -> Scope:
    """The scope the new bookings goal is measured on: new business, and the scope's team if any."""
    team = scope.filters.get("team")
    filters = {"type": "new_business", **({"team": team} if team else {})}
    return Scope(scope.fiscal_year, scope.quarter, scope.quarter_start, scope.quarter_end, filters)


def open_at(org, *, end: datetime.date, scope: Scope) -> tuple[Decimal, int]:
    """The amount and number of the opportunities in scope at the end of `end`: the waterfall's "end"
    bucket (each one's snapshot current then is open and closes in the quarter), read without
    classifying the window."""
    refresh_facts(org)
    moment = _moment(org, end + datetime.timedelta(days=1))
    params = {"s": moment, "e": moment}
    spells = _spells_sql(org, scope, params)
    sql = f"""
    WITH {spells}
    SELECT coalesce(sum(amount), 0), count(*) FROM spells WHERE left_at IS NULL OR left_at >= %(e)s
    """  # noqa: S608 (the module's own fragments)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        amount, count = cursor.fetchone()
    return Decimal(amount), int(count)


def open_pipeline(org, *, end: datetime.date, scope: Scope) -> float:
    """The open new-business pipeline closing in the quarter at the end of `end` (the goal's scope)."""
    return float(open_at(org, end=end, scope=goal_scope(scope))[0])


def outlook(org, *, end: datetime.date, scope: Scope | None = None, pipeline: float | None = None) -> Outlook:
    """Coverage and forecast for the quarter containing `end`, as of `end`.

    Both compare against the new bookings goal (organisation-wide, or the filtered team's goal), so they
    count new-business opportunities only, owned by the team's members when a team is chosen; other
    filters do not apply because the goal is not split by them.

    - won: new bookings (new-business won amount by close date) from the quarter's start to `end`;
    - open pipeline: the open new-business opportunities closing in the quarter at the end of `end`
      (the waterfall's "end" with type new business);
    - coverage = open pipeline ÷ (target - won); undefined when nothing remains to win;
    - win rate = won amount ÷ (won + lost amount) of the new-business opportunities closed in the
      365 days before the quarter;
    - forecast = won + open pipeline * win rate.
    """
    scope = scope or scope_for(org, end)
    measured = goal_scope(scope)
    owners = _owner_ids(org, measured)
    measured_to = min(end, scope.quarter_end)
    won = (
        _opportunity_sums(org, measured, store.Window(scope.quarter_start, measured_to, None), owners)[
            "won_amount"
        ]
        if measured_to >= scope.quarter_start
        else 0.0
    )
    open_now = open_pipeline(org, end=end, scope=scope) if pipeline is None else pipeline
    history_end = scope.quarter_start - datetime.timedelta(days=1)
    history = store.Window(history_end - datetime.timedelta(days=WIN_RATE_DAYS - 1), history_end, None)
    closed = _opportunity_sums(org, measured, history, owners)
    total_closed = closed["won_amount"] + closed["lost_amount"]
    win_rate = closed["won_amount"] / total_closed if total_closed > 0 else None
    basis = (
        f"won ÷ closed amount of new-business deals closed {history.start:%d %b %Y} to {history.end:%d %b %Y}"
        if win_rate is not None
        else f"no new-business deal closed {history.start:%d %b %Y} to {history.end:%d %b %Y}"
    )
    goal = _goal(org, scope)
    target = float(goal.target) if goal else None
    remaining = target - won if target is not None else None
    coverage = open_now / remaining if remaining and remaining > 0 else None
    forecast = won + open_now * win_rate if win_rate is not None else None
    attainment = forecast / target * 100 if forecast is not None and target else None
    label = "organisation"
    team = scope.filters.get("team")
    if team:
        from apps.accounts.models import Team

        found = Team.objects.for_org(org).filter(pk=int(team)).first()
        label = found.name if found else "team"
    return Outlook(
        scope.fiscal_year,
        scope.quarter,
        label,
        target,
        won,
        open_now,
        remaining,
        coverage,
        win_rate,
        basis,
        forecast,
        attainment,
    )


# --- The pipeline dashboard ------------------------------------------------------------------------

DEFAULT_PRESET = "this_quarter"
DRILL_LIMIT = 500  # opportunities listed (and exported) behind one bucket
TYPE_CHOICES = dict(Opportunity.Type.choices)


def _page_url(org, query, **overrides) -> str:
    from django.urls import reverse

    return f"{reverse('measurement_pipeline', args=[org.slug])}?{query.querystring(**overrides)}"


def waterfall_figure(result: Waterfall, title: str = "") -> str | None:
    """A plotly waterfall: the opening pipeline, each movement with its sign, and the closing total."""
    from apps.core.charts import figure_json

    if not any(result.amounts.values()):
        return None
    rows = result.rows()
    measures = ["absolute", *("relative" for _ in rows[1:-1]), "total"]
    values = [row["amount"] * (row["sign"] or 1) for row in rows]
    values[-1] = rows[-1]["amount"]
    trace = {
        "type": "waterfall",
        "x": [row["label"] for row in rows],
        "y": values,
        "measure": measures,
        "text": [f"{abs(v):,.0f}" for v in values],
        "textposition": "outside",
        "connector": {"line": {"width": 1}},
    }
    return figure_json([trace], {"title": {"text": title}, "showlegend": False, "hovermode": "closest"})


def _parse_extra(values, errors: dict) -> tuple[str, str]:
    """The pipeline's own parameters: the opportunity type filter and the bucket to list."""
    kind = (values.get("type") or "").strip()
    if kind and kind not in TYPE_CHOICES:
        errors["type"] = f"{kind!r} is not one of {', '.join(TYPE_CHOICES)}."
    bucket = (values.get("bucket") or "").strip()
    if bucket and bucket not in BUCKETS:
        errors["bucket"] = f"{bucket!r} is not one of {', '.join(BUCKETS)}."
    if (values.get("segment") or "").strip():
        errors["segment"] = "opportunities have no segment; filter by channel, team, owner, campaign or type."
    return kind, bucket


def build_dashboard(org, values, today: datetime.date | None = None):
    """(dashboard, None) or (None, {parameter: reason}): the page, its CSV exports and the API share it."""
    from .dashboards import base
    from .metrics import engine

    today = today or engine.local_today(org)
    errors: dict[str, str] = {}
    kind, bucket = _parse_extra(values, errors)
    try:
        query = base.parse_query(org, values, default_preset=DEFAULT_PRESET, today=today)
    except engine.QueryError as error:
        errors.update(error.errors)
        query = None
    if errors:
        return None, errors
    return pipeline_dashboard(query, kind=kind, bucket=bucket), None


def _filters(query, kind: str) -> dict:
    filters = {k: v for k, v in query.filters.items() if k in FILTERS}
    if kind:
        filters["type"] = kind
    return filters


def pipeline_dashboard(query, *, kind: str = "", bucket: str = ""):
    """The waterfall (and the previous period's when comparing), coverage and forecast, and the
    opportunities behind one bucket."""
    from .dashboards.base import DASH, Cell, Chart, Dashboard, Table, cached, format_value

    org = query.org
    scope = scope_for(org, query.end, _filters(query, kind))

    def waterfalls():
        previous = None
        if query.compare:
            before_start, before_end = query.previous
            previous = waterfall(
                org, start=before_start, end=before_end, scope=scope_for(org, before_end, scope.filters)
            )
        current = waterfall(org, start=query.start, end=query.end, scope=scope)
        if set(scope.filters) <= {"team"}:  # the goal's scope is this scope's new business
            return current, previous, float(current.new_business_end)
        return current, previous, open_pipeline(org, end=query.end, scope=scope)

    parts = ["waterfalls", query.start, query.end, query.compare, scope.filters]
    result, previous, open_now = cached(
        org, refresh_facts(org), parts, waterfalls, fresh=query.fresh, seconds=CACHE_SECONDS
    )
    board = Dashboard(query)
    type_override = {"type": kind} if kind else {}

    columns = [
        ("bucket", "Bucket"),
        ("label", "Movement"),
        ("amount", "Amount"),
        ("opportunities", "Opportunities"),
    ]
    if previous is not None:
        columns += [
            ("previous_amount", "Previous period"),
            ("previous_opportunities", "Previous opportunities"),
        ]
    table = Table(
        "waterfall",
        f"Pipeline waterfall, FY{scope.fiscal_year} Q{scope.quarter} "
        f"({scope.quarter_start:%d %b} \u2013 {scope.quarter_end:%d %b %Y})",
        columns,
        empty="No opportunity was open with a close date in this quarter during the period. Add close "
        "dates to open opportunities, or choose another range.",
        note="start + created + progressed \u2212 regressed \u2212 won \u2212 lost \u2212 pushed = end. "
        "Amounts are the opportunities' amounts; the filters use each opportunity's current owner, "
        "type and primary contact's channel and campaign.",
    )
    if any(result.counts.values()):
        for row in result.rows():
            sign = {1: "+ ", -1: "\u2212 "}.get(row["sign"], "")
            cells = {
                "bucket": Cell(row["bucket"]),
                "label": Cell(row["label"]),
                "amount": Cell(
                    row["amount"],
                    sign + format_value(row["amount"], "currency"),
                    url=_page_url(org, query, bucket=row["bucket"], **type_override) + "#opportunities",
                ),
                "opportunities": Cell(row["count"], format_value(row["count"], "count")),
            }
            if previous is not None:
                amount, count = float(previous.amounts[row["bucket"]]), previous.counts[row["bucket"]]
                cells["previous_amount"] = Cell(amount, format_value(amount, "currency"))
                cells["previous_opportunities"] = Cell(count, format_value(count, "count"))
            table.rows.append(cells)
    board.charts.append(Chart("waterfall", "Pipeline waterfall", waterfall_figure(result), table))

    view = outlook(org, end=query.end, scope=scope, pipeline=open_now)
    outlook_table = Table(
        "outlook",
        f"Coverage and forecast against the {view.goal_scope}'s new bookings goal",
        [("measure", "Measure"), ("value", "Value"), ("basis", "How it is computed")],
        note=""
        if view.target is not None
        else f"No new bookings goal is set for FY{view.fiscal_year} "
        f"Q{view.quarter}: set one on the goals page to see coverage.",
    )
    percent = None if view.win_rate is None else view.win_rate * 100
    for key, label, value, unit, basis in (
        ("target", "New bookings goal", view.target, "currency", "the quarter's goal"),
        ("won", "Won so far", view.won, "currency",
         "new bookings from the quarter's start to the period's end"),
        ("remaining", "Still to win", view.remaining, "currency", "goal \u2212 won so far"),
        ("open_pipeline", "Open pipeline", view.open_pipeline, "currency",
         "open new-business opportunities closing in the quarter, at the period's end"),
        ("coverage", "Coverage", view.coverage, "ratio", "open pipeline ÷ still to win"),
        ("win_rate", "Win rate", percent, "percent", view.win_rate_basis),
        ("forecast", "Forecast", view.forecast, "currency", "won so far + open pipeline \u00d7 win rate"),
        ("forecast_attainment", "Forecast against goal", view.forecast_attainment, "percent",
         "forecast ÷ goal"),
    ):  # fmt: skip
        outlook_table.rows.append(
            {
                "measure": Cell(key, label),
                "value": Cell(None if value is None else round(value, 6), format_value(value, unit) or DASH),
                "basis": Cell(basis),
            }
        )
    board.tables.append(outlook_table)

    if bucket:
        rows = bucket_opportunities(
            org, start=query.start, end=query.end, bucket=bucket, scope=scope, limit=DRILL_LIMIT
        )
        listing = Table(
            "opportunities",
            f"{BUCKET_LABELS[bucket]}: the opportunities behind it",
            [
                ("id", "Id"),
                ("name", "Opportunity"),
                ("status", "Status now"),
                ("close_date", "Close date now"),
                ("entry", "Entered as"),
                ("exit", "Left as"),
                ("contribution", "Contributes"),
            ],
            empty="No opportunity is behind this bucket in the period.",
            note=f"At most {DRILL_LIMIT} opportunities, largest contribution first."
            if len(rows) == DRILL_LIMIT
            else "",
        )
        from django.urls import reverse

        for row in rows:
            link = reverse("records_opportunity", args=[org.slug, row["id"]])
            listing.rows.append(
                {
                    "id": Cell(row["id"]),
                    "name": Cell(row["name"], url=link),
                    "status": Cell(row["status"]),
                    "close_date": Cell(row["close_date"].isoformat() if row["close_date"] else None),
                    "entry": Cell({"pulled": "pulled in"}.get(row["entry"], row["entry"])),
                    "exit": Cell(row["exit"]),
                    "contribution": Cell(row["contribution"], format_value(row["contribution"], "currency")),
                }
            )
        board.tables.append(listing)

    board.extra = {
        "scope": {
            "fiscal_year": scope.fiscal_year,
            "quarter": scope.quarter,
            "quarter_start": scope.quarter_start.isoformat(),
            "quarter_end": scope.quarter_end.isoformat(),
            "filters": scope.filters,
        },
        "waterfall": {b: float(result.amounts[b]) for b in BUCKETS},
        "waterfall_counts": dict(result.counts),
        "balanced": result.balanced,
        **(
            {"previous_waterfall": {b: float(previous.amounts[b]) for b in BUCKETS}}
            if previous is not None
            else {}
        ),
        "outlook": view.as_dict(),
    }
    return board
