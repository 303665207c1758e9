"""Revenue goals: their writes, the reads the page and the API share, and progress against the target.

Writes are atomic and keyword-only and refuse bad input with a `ServiceError`
naming the field. The pghistory triggers on Goal record every version, so the
history of target changes is read back from the audit trail (`goal_history`)
rather than kept in a table of its own.

Progress (`goal_progress`) reads the metric engine over the days of the quarter
that have passed, so a goal shows the same number as the metric's own page
for that range:

- A team goal counts the team's members as opportunity owners when the metric
  can be grouped by owner (new bookings, pipeline created, new logos): the
  engine's by-owner rows of the members are summed. Net revenue retention has
  no owner dimension, so a team's NRR goal is measured on the whole
  organisation and says so (`scope = "organisation"`).
- The expected share is linear pace: the days of the quarter elapsed (today
  included) over its days.
- Status, for amounts and counts: the actual over the pace target (target x
  expected share) — "ahead" at 110 % or more, "on pace" from 90 % to 110 %,
  "behind" under 90 %. A rate (NRR) does not accumulate over a quarter, so it
  is compared with the target itself: "ahead" a point or more above it, "on
  pace" within a point below it, "behind" further below. Before the quarter
  starts a goal is "not started"; a rate with nothing to divide by is "no data".
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from apps.accounts.models import Team
from apps.accounts.services import active_member
from apps.audit.selectors import audit_actor
from apps.core.errors import ServiceError
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY
from apps.records.normalize import normalize_text
from apps.strategy.fiscal import fiscal_quarter_range
from apps.strategy.models import Goal, GoalMetric

FIELDS = ("metric", "fiscal_year", "quarter", "team", "owner", "target", "note")
REQUIRED = ("metric", "fiscal_year", "quarter", "owner", "target")
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_TARGET = Decimal("99999999999999.99")  # the column holds 16 digits, 2 of them decimals
CENT = Decimal("0.01")
# Status thresholds (see the module docstring).
PACE_AHEAD = 1.10
PACE_BEHIND = 0.90
RATE_BAND_POINTS = 1.0

AHEAD, ON_PACE, BEHIND, NOT_STARTED, NO_DATA = "ahead", "on_pace", "behind", "not_started", "no_data"
STATUS_LABELS = {
    AHEAD: "Ahead",
    ON_PACE: "On pace",
    BEHIND: "Behind",
    NOT_STARTED: "Not started",
    NO_DATA: "No data",
}


# --- Cleaning ------------------------------------------------------------------------------------


def _whole(value, *, field: str, low: int, high: int, what: str) -> int:
    if isinstance(value, bool):
        raise ServiceError(f"Give {what}.", field=field)
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ServiceError(f"“{value}” is not {what}.", field=field) from None
    if not low <= number <= high:
        raise ServiceError(f"Give {what} from {low} to {high}.", field=field)
    return number


def _metric(value) -> str:
    text = normalize_text(value)
    if text not in GoalMetric.values:
        raise ServiceError(
            f"“{text}” is not a goal metric; use one of: {', '.join(GoalMetric.values)}.", field="metric"
        )
    return text


def _target(value) -> Decimal:
    if isinstance(value, bool) or value is None or value == "":
        raise ServiceError("Give the target.", field="target")
    try:
        target = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ServiceError(
            f"“{value}” is not a number; write it like 250000 or 105.5.", field="target"
        ) from None
    if not target.is_finite():
        raise ServiceError(f"“{value}” is not a number; write it like 250000 or 105.5.", field="target")
    if target < 0:
        raise ServiceError("A target cannot be negative.", field="target")
    if target != target.quantize(CENT):
        raise ServiceError("Use at most two decimals.", field="target")
    if target > MAX_TARGET:
        raise ServiceError(f"At most {MAX_TARGET:,}.", field="target")
    return target.quantize(CENT)


def _team(org, value) -> Team | None:
    if value in (None, ""):
        return None
    pk = value.pk if isinstance(value, Team) else value
    found = Team.objects.for_org(org).filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise ServiceError("No team of this organisation has this id.", field="team")
    return found


def _note(value) -> str:
    text = normalize_text(value)
    if len(text) > 300:
        raise ServiceError(f"At most 300 characters ({len(text)} given).", field="note")
    return text


def goal_values(goal: Goal) -> dict:
    """A goal as the service's field names (what a partial update starts from)."""
    return {
        "metric": goal.metric,
        "fiscal_year": goal.fiscal_year,
        "quarter": goal.quarter,
        "team": goal.team,
        "owner": goal.owner,
        "target": goal.target,
        "note": goal.note,
    }


def _clean(org, values: dict, *, base: dict | None = None) -> dict:
    """The model's values from `values` over `base`; raises the first problem, naming its field."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])
    cleaners = {
        "metric": _metric,
        "fiscal_year": lambda v: _whole(v, field="fiscal_year", low=MIN_YEAR, high=MAX_YEAR, what="a year"),
        "quarter": lambda v: _whole(v, field="quarter", low=1, high=4, what="a quarter"),
        "team": lambda v: _team(org, v),
        "owner": lambda v: active_member(org, v, required="Name the member who owns this goal."),
        "target": _target,
        "note": _note,
    }
    cleaned = dict(base or {})
    for name, clean in cleaners.items():
        if name in values:
            cleaned[name] = clean(values[name])
        elif base is None:
            if name in REQUIRED:
                raise ServiceError("This field is required.", field=name)
            cleaned[name] = None if name == "team" else ""
    if cleaned.get("owner") is None:
        raise ServiceError("Name the member who owns this goal.", field="owner")
    return cleaned


def _check_free(org, cleaned: dict, *, exclude_pk=None) -> None:
    clash = Goal.objects.for_org(org).filter(
        metric=cleaned["metric"],
        fiscal_year=cleaned["fiscal_year"],
        quarter=cleaned["quarter"],
        team=cleaned["team"],
    )
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        scope = f"team {cleaned['team'].name}" if cleaned["team"] else "the organisation"
        raise ServiceError(
            f"{GoalMetric(cleaned['metric']).label} already has a goal for {scope} in "
            f"FY{cleaned['fiscal_year']} Q{cleaned['quarter']}; edit that one instead.",
            field="metric",
            code="duplicate",
        )


def _save(goal: Goal) -> Goal:
    try:
        with transaction.atomic():
            goal.save()
    except IntegrityError:  # a concurrent write took the slot between the check and the save
        raise ServiceError(
            "Another goal for this metric, quarter and team was just saved.", field="metric"
        ) from None
    return goal


# --- Writes --------------------------------------------------------------------------------------


@transaction.atomic
def goal_create(*, org, **fields) -> Goal:
    cleaned = _clean(org, fields)
    _check_free(org, cleaned)
    return _save(Goal(organization=org, **cleaned))


@transaction.atomic
def goal_update(*, org, goal: Goal, **fields) -> Goal:
    """Change some fields; every change, the target's included, becomes a version in the audit trail."""
    if goal.organization_id != org.pk:
        raise ServiceError("No such goal in this organisation.", code="not_found")
    locked = Goal.objects.select_for_update().get(pk=goal.pk, organization=org)
    cleaned = _clean(org, fields, base=goal_values(locked))
    _check_free(org, cleaned, exclude_pk=goal.pk)
    for name, value in cleaned.items():
        setattr(goal, name, value)
    return _save(goal)


@transaction.atomic
def goal_delete(*, org, goal: Goal) -> None:
    if goal.organization_id != org.pk:
        raise ServiceError("No such goal in this organisation.", code="not_found")
    goal.delete()


# --- Reads ---------------------------------------------------------------------------------------


def goals_for_quarter(*, org, fiscal_year: int, quarter: int, metric: str = ""):
    goals = Goal.objects.for_org(org).filter(fiscal_year=fiscal_year, quarter=quarter)
    if metric:
        goals = goals.filter(metric=metric)
    return goals.select_related("team", "owner__user").order_by("metric", "team__name", "id")


@dataclass
class Progress:
    start: datetime.date
    end: datetime.date  # inclusive
    measured_to: datetime.date | None  # the last day read; None before the quarter starts
    unit: str
    scope: str  # "team" or "organisation"
    actual: float | None
    target: float
    percent: float | None  # actual ÷ target x 100
    expected_share: float  # 0 to 1: the part of the quarter elapsed
    expected: float  # what linear pace asks for by now (the target itself for a rate)
    status: str

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def bar_percent(self) -> float:
        return max(0.0, min(100.0, self.percent or 0.0))

    @property
    def expected_percent(self) -> float:
        return self.expected_share * 100

    def as_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "measured_to": self.measured_to,
            "unit": self.unit,
            "scope": self.scope,
            "actual": self.actual,
            "target": self.target,
            "percent": self.percent,
            "expected_share": self.expected_share,
            "expected": self.expected,
            "status": self.status,
        }


def _status(unit: str, actual: float | None, target: float, expected: float) -> str:
    if actual is None:
        return NO_DATA
    if unit == "percent":
        if actual >= target + RATE_BAND_POINTS:
            return AHEAD
        return ON_PACE if actual >= target - RATE_BAND_POINTS else BEHIND
    if expected <= 0:
        return AHEAD if actual > 0 else ON_PACE
    pace = actual / expected
    if pace >= PACE_AHEAD:
        return AHEAD
    return ON_PACE if pace >= PACE_BEHIND else BEHIND


def _team_member_ids(goal: Goal) -> set[int]:
    return set(goal.team.memberships.values_list("membership_id", flat=True))


def goal_progress(*, org, goal: Goal, today: datetime.date) -> Progress:
    start, end = fiscal_quarter_range(org.fiscal_year_start_month, goal.fiscal_year, goal.quarter)
    metric = BY_KEY[goal.metric]
    team_scoped = goal.team_id is not None and "owner" in metric.dimensions
    scope = "team" if team_scoped else "organisation"
    target = float(goal.target)
    days = (end - start).days + 1
    if today < start:
        return Progress(start, end, None, metric.unit, scope, None, target, None, 0.0, 0.0, NOT_STARTED)
    measured_to = min(today, end)
    window = store.Window(start, measured_to, None)
    if team_scoped:
        members = _team_member_ids(goal)
        rows = engine.evaluate(org, metric, window, group_by="owner").rows
        actual = float(sum(row["value"] or 0 for row in rows if row["group"] in members))
    else:
        actual = engine.evaluate(org, metric, window).total
    share = ((measured_to - start).days + 1) / days
    expected = target if metric.unit == "percent" else target * share
    percent = actual / target * 100 if actual is not None and target > 0 else None
    status = _status(metric.unit, actual, target, expected)
    return Progress(
        start, end, measured_to, metric.unit, scope, actual, target, percent, share, expected, status
    )


@dataclass
class TargetChange:
    at: datetime.datetime
    who: str
    before: Decimal | None  # None: the goal was created with `after`
    after: Decimal
    note: str


def goal_history(*, org, goal: Goal) -> list[TargetChange]:
    """The goal's target over time, oldest first, from its audit-trail versions (django-pghistory).

    Every insert and update is a version holding the row after the change; a
    version whose target differs from the one before is a target change.
    """
    events = (
        Goal.pgh_event_model.objects.filter(pgh_obj_id=goal.pk, organization_id=org.pk)
        .exclude(pgh_label="delete")
        .select_related("pgh_context")
        .order_by("pgh_created_at", "pgh_id")
        .values("target", "note", "pgh_label", "pgh_created_at", "pgh_context__metadata")
    )
    changes, previous = [], None
    for event in events:
        if previous is None or event["target"] != previous:
            who = audit_actor(event["pgh_context__metadata"])
            changes.append(
                TargetChange(event["pgh_created_at"], who, previous, event["target"], event["note"])
            )
        previous = event["target"]
    return changes
