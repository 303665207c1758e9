"""The leak finder: where the funnel converts worse than the plan assumed or than it used to.

For every pair of consecutive funnel stages above the deal (the last funnel
stage stands for WON and its conversion is the win rate, measured on deals,
so it is not a lead leak), over a window [start, end]:

- actual conversion: the cohort conversion of the catalogue
  (`stage_conversion_cohort`: of the leads that first entered the from-stage in
  the window, the share that has reached the to-stage since), and the mean lag
  from the cohort facts (Σ lag_seconds ÷ Σ reached). By segment the fact store
  keeps stage entries only, so a segment's conversion is the period
  conversion (first entries into the to-stage ÷ first entries into the
  from-stage, same window) and has no lag;
- baselines: (a) "plan", the assumptions of the primary saved plan of the
  fiscal quarter containing `end` (its entered rates, history's defaults
  otherwise; apps.strategy.planning), one rate per stage, for the overall
  funnel and every channel; (b) "trailing", the same conversion of the same
  group over the three windows of equal length just before the window,
  pooled. Segments and teams are compared with their trailing average only
  (see PLAN_DIMENSIONS);
- groups: overall, by segment, by channel (the lead's channel) and by team
  (owners who are active members of the team; a member of two teams counts in both).

Cohorts need time to convert, so a pair's cohorts are judged once most of
their conversions have happened: the window (and its trailing windows with it)
is moved back by twice the pair's mean lag over the 180 days before the
window (about the time nine in ten conversions take), in whole days, at most
60 (`cohort_start`/`cohort_end` say which days were judged). Without that, a
recent window would always look worse than the older ones it is compared with.

A leak is a (stage pair, group) with at least `MIN_VOLUME` leads entering the
from-stage in the window (and in the trailing windows for the trailing
baseline) whose actual rate is at least `MIN_GAP` (2 points) below a baseline.
Its revenue at stake is

    volume * (expected rate - actual rate) * downstream conversion * average deal size

where volume is the leads that first entered the from-stage in the window,
downstream conversion is the product of the baseline's overall rates from the
to-stage to WON (the last one the win rate) and the deal size is the plan's
(plan) or the trailing windows' average deal size (trailing). When both
baselines flag the same group, the one with more revenue at stake is kept, so
every leak has one stable `key`. Leaks are ranked by revenue at stake.
"""

import datetime
import itertools
from collections import defaultdict
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

from django.db import connection
from django.urls import reverse
from django.utils.text import slugify

from apps.accounts.models import Team
from apps.strategy.assumptions import funnel_stages
from apps.strategy.fiscal import fiscal_quarter_of
from apps.strategy.models import Segment

from . import store
from .models import CohortChannelDay, CohortDay, FunnelChannelDay, FunnelDay, FunnelSegmentDay

MIN_VOLUME = 20  # leads entering the from-stage, in the window and in the trailing windows
MIN_GAP = 0.02  # two percentage points
TRAILING_WINDOWS = 3
DIMENSIONS = ("", "segment", "channel", "team")
# The groups compared with the plan's organisation-wide rates. A segment's rate is a period rate; a team's
# is read through the leads' current owners, and a lead changes owner as it moves on (an SDR hands it to
# an account executive), so a team's rate is only comparable with its own past.
PLAN_DIMENSIONS = ("", "channel")
DAY_SECONDS = 86_400
# A lag this much longer than expected is mentioned in the sentence.
SLOW_LAG = 1.25
# Cohorts are judged once they are twice as old as the pair's mean lag (about the time nine in ten
# conversions take), measured over this history.
MATURITY_FACTOR = 2
MATURITY_HISTORY_DAYS = 180
MAX_MATURITY_DAYS = 60


@dataclass
class Leak:
    key: str
    from_stage: str
    to_stage: str
    from_label: str
    to_label: str
    dimension: str  # "" (overall), "segment", "channel" or "team"
    group: str
    group_label: str
    actual_rate: float  # 0..1
    expected_rate: float  # 0..1, of the chosen baseline
    baseline: str  # "plan" or "trailing"
    plan_rate: float | None
    trailing_rate: float | None
    volume: int
    downstream_rate: float
    deal_size: float
    revenue_at_stake: float
    actual_lag_days: float | None
    expected_lag_days: float | None
    cohort_start: datetime.date  # the cohorts judged: the window moved back (see MATURITY_FACTOR)
    cohort_end: datetime.date
    sentence: str
    url: str

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(cohort_start=self.cohort_start.isoformat(), cohort_end=self.cohort_end.isoformat())
        return data


@dataclass
class _Counts:
    entries: float = 0.0  # leads first entering the from-stage
    reached: float = 0.0  # of them (cohort) or in the window (segment), reaching the to-stage
    lag_seconds: float = 0.0
    cohort: bool = True

    @property
    def rate(self) -> float | None:
        return self.reached / self.entries if self.entries else None

    @property
    def lag_days(self) -> float | None:
        if not self.cohort or not self.reached:
            return None
        return self.lag_seconds / self.reached / DAY_SECONDS


@dataclass(frozen=True)
class _Baseline:
    rates: dict[str, float]  # from-stage -> overall rate (the stage above WON: the win rate)
    lags: dict[str, float]
    deal_size: float | None


# --- Reading the facts ---------------------------------------------------------------------------


def _counts(org, dimension: str, requests) -> list[dict[tuple[str, str], _Counts]]:
    """For each (pair, window) of `requests`, {(from_stage, group): counts}.

    Every request is read at once: one statement per fact table, joined to the list of requests, so a
    dimension's current and trailing windows of every pair cost two statements, not two per window."""
    found: list[dict[tuple[str, str], _Counts]] = [defaultdict(_Counts) for _ in requests]
    if not requests:
        return found
    params = {
        "org": org.pk,
        "idx": list(range(len(requests))),
        "from": [pair[0] for pair, _ in requests],
        "to": [pair[1] for pair, _ in requests],
        "lo": [window.start for _, window in requests],
        "hi": [window.end for _, window in requests],
    }
    spans = """w AS (
        SELECT * FROM unnest(%(idx)s::int[], %(from)s::text[], %(to)s::text[], %(lo)s::date[], %(hi)s::date[])
            AS w(idx, from_stage, to_stage, lo, hi)
    )"""
    if dimension == "segment":
        # Period rates: the segment's first entries into the to-stage over those into the from-stage.
        sql = f"""
        WITH {spans}
        SELECT w.idx, f.segment_id::text,
               sum(f.first_entries) FILTER (WHERE f.stage = w.from_stage),
               coalesce(sum(f.first_entries) FILTER (WHERE f.stage = w.to_stage), 0)
        FROM {FunnelSegmentDay._meta.db_table} f
        JOIN w ON f.stage IN (w.from_stage, w.to_stage) AND f.day BETWEEN w.lo AND w.hi
        WHERE f.organization_id = %(org)s
        GROUP BY w.idx, f.segment_id
        """  # noqa: S608 (only the model's table name is interpolated)
        for idx, group, entries, reached in _fetch(sql, params):
            if entries is not None:
                counts = found[idx][requests[idx][0][0], group]
                counts.entries, counts.cohort, counts.reached = float(entries), False, float(reached)
        return found
    if dimension == "team":
        funnel_model, cohort_model, column = FunnelDay, CohortDay, "owner_id"
    else:
        funnel_model, cohort_model, column = FunnelChannelDay, CohortChannelDay, "channel"

    def group(alias: str) -> str:
        return f"{alias}.{column}" if dimension else "NULL"

    teams = store.teams_by_owner(org) if dimension == "team" else {}

    def groups(value) -> list[str]:
        if not dimension:
            return [""]
        if dimension == "team":
            return [str(team) for team in teams.get(value, [])]
        return [value or ""]

    sql = f"""
    WITH {spans}
    SELECT w.idx, {group("f")}, sum(f.first_entries)
    FROM {funnel_model._meta.db_table} f JOIN w ON f.stage = w.from_stage AND f.day BETWEEN w.lo AND w.hi
    WHERE f.organization_id = %(org)s
    GROUP BY 1, 2
    """  # noqa: S608 (only the models' table and column names are interpolated)
    for idx, value, entries in _fetch(sql, params):
        for name in groups(value):
            found[idx][requests[idx][0][0], name].entries += float(entries or 0)
    sql = f"""
    WITH {spans}
    SELECT w.idx, {group("c")}, sum(c.reached), sum(c.lag_seconds)
    FROM {cohort_model._meta.db_table} c
    JOIN w ON c.from_stage = w.from_stage AND c.to_stage = w.to_stage AND c.day BETWEEN w.lo AND w.hi
    WHERE c.organization_id = %(org)s
    GROUP BY 1, 2
    """  # noqa: S608 (only the models' table and column names are interpolated)
    for idx, value, reached, lag_seconds in _fetch(sql, params):
        for name in groups(value):
            counts = found[idx][requests[idx][0][0], name]
            counts.reached += float(reached or 0)
            counts.lag_seconds += float(lag_seconds or 0)
    return found


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _deal_facts(org, window: store.Window) -> tuple[float | None, float | None]:
    """(win rate, average deal size) of the deals closed in the window.

    The win rate is won ÷ (won + lost) and the deal size won amount ÷ won, as in the catalogue."""
    frame = store.sums(org, "opportunity", ["won", "lost", "won_amount"], window)
    won, lost, amount = (float(frame[m].sum()) for m in ("won", "lost", "won_amount"))
    return (won / (won + lost) if won + lost else None), (amount / won if won else None)


def _plan_baseline(org, end: datetime.date, today: datetime.date, stage_keys) -> _Baseline | None:
    """The primary saved plan of the quarter containing `end`: its rates, lags and deal size."""
    from apps.strategy import planning
    from apps.strategy.models import SavedPlan

    year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, end)
    plan = SavedPlan.objects.for_org(org).filter(fiscal_year=year, quarter=quarter, is_primary=True).first()
    if plan is None:
        return None
    result = planning.build(org, plan.params, today)
    values = {a.name: a.value for a in result.assumptions}
    rates = {k: values[f"rate.{k}"] / 100 for k in stage_keys if values.get(f"rate.{k}") is not None}
    lags = {k: values[f"lag.{k}"] for k in stage_keys if values.get(f"lag.{k}") is not None}
    return _Baseline(rates, lags, values.get("deal_size"))


def _trailing_baseline(org, counts, window: store.Window, pairs) -> tuple[_Baseline, float | None]:
    """The overall trailing rates and lags of each pair, and the deals' win rate and size over `window`."""
    win_rate, deal_size = _deal_facts(org, window)
    overall = {a: counts.get((a, "")) for a, _ in pairs}
    rates = {a: c.rate for a, c in overall.items() if c is not None and c.rate is not None}
    lags = {a: c.lag_days for a, c in overall.items() if c is not None and c.lag_days is not None}
    return _Baseline(rates, lags, deal_size), win_rate


def _downstream(baseline: _Baseline, later: list[str]) -> float | None:
    """The product of the baseline's rates from the to-stage down to WON; None when one is unknown."""
    product = 1.0
    for key in later:
        if baseline.rates.get(key) is None:
            return None
        product *= baseline.rates[key]
    return product


# --- Words and links -----------------------------------------------------------------------------

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def money(value: float, currency: str) -> str:
    """A compact amount: $240k, €1.2M."""
    symbol = SYMBOLS.get(currency, "")
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1_000_000:
        text = f"{value / 1_000_000:.1f}M".replace(".0M", "M")
    elif value >= 1_000:
        text = f"{value / 1_000:.0f}k"
    else:
        text = f"{value:.0f}"
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def _sentence(leak: Leak, currency: str) -> str:
    who = "overall" if not leak.dimension else f"for {leak.group_label}"
    pair = f"{leak.from_label} → {leak.to_label} {who}"
    actual, expected = f"{leak.actual_rate:.0%}", f"{leak.expected_rate:.0%}"
    if leak.baseline == "plan":
        text = f"{pair} is at {actual} against the plan's {expected}"
    else:
        text = f"{pair} fell to {actual} from {expected}"
    text += f"; about {money(leak.revenue_at_stake, currency)} of bookings at stake"
    if (
        leak.actual_lag_days is not None
        and leak.expected_lag_days
        and leak.actual_lag_days > leak.expected_lag_days * SLOW_LAG
    ):
        text += f", and it takes {leak.actual_lag_days:.0f} days instead of {leak.expected_lag_days:.0f}"
    return text


def _url(org, start, end, from_stage, to_stage, dimension) -> str:
    """The cohort conversion page of the pair, grouped like the leak."""
    params = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "from_stage": from_stage,
        "to_stage": to_stage,
    }
    metric = "stage_conversion_cohort"
    if dimension == "segment":
        metric = "stage_conversion_period"
    if dimension:
        params["group_by"] = dimension
    path = reverse("measurement_metric", kwargs={"org_slug": org.slug, "key": metric})
    return f"{path}?{urlencode(params)}"


def _group_names(org, dimension: str) -> dict[str, str] | None:
    """Every segment's or team's name by id (as the facts group them), read once per search."""
    model = {"segment": Segment, "team": Team}.get(dimension)
    if model is None:
        return None
    return {str(pk): name for pk, name in model.objects.for_org(org).values_list("pk", "name")}


def _labels(names: dict[str, str] | None, dimension: str, groups) -> dict[str, str]:
    if names is not None:  # a segment or team that no longer exists has no label
        return {group: names[group] for group in groups if group in names}
    if dimension == "channel":
        return {g: g or "(no channel)" for g in groups}
    return {"": "overall"}


def _key(from_stage, to_stage, dimension, group, label) -> str:
    base = f"leak:{from_stage}>{to_stage}"
    if not dimension:
        return f"{base}:overall"
    name = slugify(label).replace("-", "_") if dimension == "channel" else group
    return f"{base}:{dimension}:{name or 'none'}"


# --- The finder ----------------------------------------------------------------------------------


def _maturity(org, start: datetime.date, pairs) -> dict[str, int]:
    """Days each pair's cohorts are held back: twice the pair's mean lag over the `MATURITY_HISTORY_DAYS`
    before `start` (whole days, at most `MAX_MATURITY_DAYS`)."""
    history = store.Window(start - datetime.timedelta(days=MATURITY_HISTORY_DAYS), start, None)
    counts: dict[tuple[str, str], _Counts] = defaultdict(_Counts)
    for found in _counts(org, "", [(pair, history) for pair in pairs]):
        counts.update(found)
    out = {}
    for from_stage, _ in pairs:
        lag = counts[from_stage, ""].lag_days
        out[from_stage] = min(MAX_MATURITY_DAYS, round(MATURITY_FACTOR * lag)) if lag else 0
    return out


def _windows(start: datetime.date, end: datetime.date, shift: int) -> tuple[store.Window, store.Window]:
    """The judged window moved back by `shift` days, and the trailing windows just before it."""
    moved = datetime.timedelta(days=shift)
    length = (end - start).days + 1
    first, last = start - moved, end - moved
    trailing = store.Window(
        first - datetime.timedelta(days=TRAILING_WINDOWS * length), first - datetime.timedelta(days=1), None
    )
    return store.Window(first, last, None), trailing


def find_leaks(
    org,
    *,
    start: datetime.date,
    end: datetime.date,
    dimensions=DIMENSIONS,
    min_volume: int = MIN_VOLUME,
    today: datetime.date | None = None,
) -> list[Leak]:
    """Every leak of the window, the most revenue at stake first (see the module docstring)."""
    stages = funnel_stages(org)
    if len(stages) < 3:
        return []
    names = {s.key: s.name for s in stages}
    all_pairs = [(a.key, b.key) for a, b in itertools.pairwise(stages)]
    pairs = all_pairs[:-1]  # the last pair converts into WON: a deal, measured by the win rate
    keys = [a for a, _ in all_pairs]
    today = today or end
    plan = _plan_baseline(org, end, today, keys)
    maturity = _maturity(org, start, pairs)
    windows = {a: _windows(start, end, maturity[a]) for a, _ in pairs}
    # Each dimension's counts of every pair, over its current window and its trailing one.
    counted = {}
    for dimension in {"", *dimensions}:
        current = [(pair, windows[pair[0]][0]) for pair in pairs]
        found = _counts(org, dimension, current + [(pair, windows[pair[0]][1]) for pair in pairs])
        counted[dimension] = (found[: len(pairs)], found[len(pairs) :])
    overall_trailing = {}
    for found in counted[""][1]:
        overall_trailing.update(found)
    deal_window = _windows(start, end, 0)[1]
    trailing_base, trailing_win = _trailing_baseline(org, overall_trailing, deal_window, pairs)
    if trailing_win is not None:
        trailing_base.rates[all_pairs[-1][0]] = trailing_win

    leaks: list[Leak] = []
    for dimension in dimensions:
        group_names = _group_names(org, dimension)
        for index, pair in enumerate(pairs):
            from_stage, to_stage = pair
            window = windows[from_stage][0]
            now = counted[dimension][0][index]
            before = overall_trailing if not dimension else counted[dimension][1][index]
            labels = _labels(group_names, dimension, {group for _, group in now})
            later = keys[index + 1 :]
            for (stage, group), counts in sorted(now.items()):
                if stage != from_stage or counts.entries < min_volume or counts.rate is None:
                    continue
                if dimension and group not in labels:
                    continue
                candidates = []
                past = before.get((stage, group))
                trailing_rate = past.rate if past and past.entries >= min_volume else None
                if trailing_rate is not None:
                    candidates.append(("trailing", trailing_rate, trailing_base, past.lag_days))
                plan_rate = None
                if plan is not None and dimension in PLAN_DIMENSIONS:
                    plan_rate = plan.rates.get(from_stage)
                    if plan_rate is not None:
                        candidates.append(("plan", plan_rate, plan, plan.lags.get(from_stage)))
                best = None
                for name, expected, base, lag in candidates:
                    gap = expected - counts.rate
                    downstream = _downstream(base, later)
                    if gap < MIN_GAP or downstream is None or not base.deal_size:
                        continue
                    at_stake = counts.entries * gap * downstream * base.deal_size
                    if best is None or at_stake > best[0]:
                        best = (at_stake, name, expected, downstream, base.deal_size, lag)
                if best is None:
                    continue
                at_stake, name, expected, downstream, deal_size, lag = best
                label = labels.get(group, group)
                leak = Leak(
                    key=_key(from_stage, to_stage, dimension, group, label),
                    from_stage=from_stage,
                    to_stage=to_stage,
                    from_label=names[from_stage],
                    to_label=names[to_stage],
                    dimension=dimension,
                    group=group,
                    group_label=label,
                    actual_rate=round(counts.rate, 6),
                    expected_rate=round(expected, 6),
                    baseline=name,
                    plan_rate=None if plan_rate is None else round(plan_rate, 6),
                    trailing_rate=None if trailing_rate is None else round(trailing_rate, 6),
                    volume=int(counts.entries),
                    downstream_rate=round(downstream, 6),
                    deal_size=round(float(deal_size), 2),
                    revenue_at_stake=round(at_stake, 2),
                    actual_lag_days=None if counts.lag_days is None else round(counts.lag_days, 2),
                    expected_lag_days=None if lag is None else round(lag, 2),
                    cohort_start=window.start,
                    cohort_end=window.end,
                    sentence="",
                    url=_url(org, window.start, window.end, from_stage, to_stage, dimension),
                )
                leak.sentence = _sentence(leak, org.currency)
                leaks.append(leak)
    leaks.sort(key=lambda leak: (-leak.revenue_at_stake, leak.key))
    return leaks


def top_leaks(org, *, start: datetime.date, end: datetime.date, limit: int = 3) -> list["Leak"]:
    """The `limit` leaks with the most revenue at stake, each with its sentence."""
    return find_leaks(org, start=start, end=end)[:limit]


# --- The leaks and red flags page ----------------------------------------------------------------

DEFAULT_PRESET = "last_30"


def findings_dashboard(org, values, today: datetime.date | None = None):
    """(dashboard, None) or (None, {parameter: reason}): every leak of the range and today's red flags, as
    the page, its CSV exports and the API show them."""
    from .dashboards import base
    from .metrics import engine
    from .redflags import red_flags

    today = today or engine.local_today(org)
    errors = {}
    for name in base.FILTERS:
        if (values.get(name) or "").strip():
            errors[name] = "leaks are found for every segment, channel and team at once; remove the filter."
    try:
        query = base.parse_query(org, values, default_preset=DEFAULT_PRESET, today=today)
    except engine.QueryError as error:
        errors.update(error.errors)
    if errors:
        return None, errors
    Cell, Table = base.Cell, base.Table
    found = find_leaks(org, start=query.start, end=query.end, today=today)
    leaks_table = Table(
        "leaks",
        "Leaks, the most revenue at stake first",
        [
            ("rank", "#"),
            ("sentence", "Leak"),
            ("key", "Key"),
            ("from_stage", "From"),
            ("to_stage", "To"),
            ("dimension", "By"),
            ("group", "Group"),
            ("actual_rate", "Actual %"),
            ("expected_rate", "Expected %"),
            ("baseline", "Against"),
            ("volume", "Volume"),
            ("revenue_at_stake", "At stake"),
        ],
        empty="No stage converts at least two points worse than the plan or its trailing average on "
        f"{MIN_VOLUME} leads or more. Choose a longer range to judge more leads.",
        note="At stake = volume \u00d7 (expected \u2212 actual rate) \u00d7 conversion from the next stage "
        "to won \u00d7 average deal size. Recent cohorts are still converting, so a short recent range reads "
        "lower than its trailing average.",
    )
    for rank, leak in enumerate(found, 1):
        leaks_table.rows.append(
            {
                "rank": Cell(rank),
                "sentence": Cell(leak.sentence, url=leak.url),
                "key": Cell(leak.key),
                "from_stage": Cell(leak.from_stage, leak.from_label),
                "to_stage": Cell(leak.to_stage, leak.to_label),
                "dimension": Cell(leak.dimension, leak.dimension or "overall"),
                "group": Cell(leak.group, leak.group_label),
                "actual_rate": Cell(round(leak.actual_rate * 100, 4), f"{leak.actual_rate:.1%}"),
                "expected_rate": Cell(round(leak.expected_rate * 100, 4), f"{leak.expected_rate:.1%}"),
                "baseline": Cell(leak.baseline, "plan" if leak.baseline == "plan" else "trailing average"),
                "volume": Cell(leak.volume, f"{leak.volume:,}"),
                "revenue_at_stake": Cell(leak.revenue_at_stake, money(leak.revenue_at_stake, org.currency)),
            }
        )
    flags = red_flags(org, today=today)
    flags_table = Table(
        "red_flags",
        f"Red flags as of {today:%d %b %Y}",
        [("severity", "Severity"), ("title", "Red flag"), ("detail", "Why"), ("key", "Key")],
        empty="No red flag is raised: marketing volume and sales rejections, data completeness, live "
        "campaigns, KPI owners, orphan leads and repeated review items all look healthy.",
    )
    for flag in flags:
        flags_table.rows.append(
            {
                "severity": Cell(flag.severity, flag.severity.capitalize(), css=flag.severity),
                "title": Cell(flag.title, url=flag.url),
                "detail": Cell(flag.detail),
                "key": Cell(flag.key),
            }
        )
    board = base.Dashboard(query, tables=[leaks_table, flags_table])
    board.extra = {
        "leaks": [leak.as_dict() for leak in found],
        "red_flags": [flag.as_dict() for flag in flags],
    }
    return board, None
