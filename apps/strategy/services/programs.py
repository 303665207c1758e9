"""The marketing plan: programs, their dependencies, budget lines and target KPIs, and progress.

Writes are atomic and keyword-only and refuse bad input with a `ServiceError`
naming the field.

Dependencies. A program may depend on other programs of its organisation, never
on itself, and never in a cycle (A after B after A), which is refused. Dates
are a different matter: "depends on" means "starts once that one has ended",
but plans slip, and refusing a date change until every dependent has been
moved first would make the plan harder to keep honest, not easier. So a
dependency that ends on or after its dependent's start is accepted and shown
as a warning (`dependency_warnings`) on the timeline and the program's page,
as is a dependency that was cancelled.

Targets name a catalogue metric (apps.measurement.metrics.catalogue) and its
target over the program's dates; `program_progress` reads the actual from the
metric engine over those dates, up to today, the same number the metric's own
page shows for that range.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction

from apps.core.errors import ServiceError
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY
from apps.records.normalize import normalize_text
from apps.strategy.models import Goal, Offer, Program, ProgramBudgetLine, ProgramStatus, ProgramTarget

from .positioning import member_of, segment_of

FIELDS = (
    "name", "objective", "rationale", "owner", "start", "end", "status", "segment", "offer", "goal",
    "depends_on", "budget_lines", "targets",
)  # fmt: skip
REQUIRED = ("name", "objective", "start", "end")
MAX_AMOUNT = Decimal("99999999999999.99")  # 16 digits, 2 of them decimals
MAX_TARGET = Decimal("99999999999999.9999")  # 18 digits, 4 of them decimals
MAX_DAYS = engine.MAX_DAYS  # the longest range the metric engine reads


# --- Cleaning ------------------------------------------------------------------------------------


def _text(value, *, field_name: str, limit: int, required: bool = False, multiline: bool = False) -> str:
    """Trimmed text; a multi-line field keeps its line breaks, a one-line field is normalised."""
    text = str(value or "").strip() if multiline else normalize_text(value)
    if required and not text:
        raise ServiceError("This field is required.", field=field_name)
    if len(text) > limit:
        raise ServiceError(f"At most {limit:,} characters ({len(text):,} given).", field=field_name)
    return text


def _date(value, *, field_name: str) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ServiceError(f"“{value}” is not a date (YYYY-MM-DD).", field=field_name) from None


def _status(value) -> str:
    text = normalize_text(value)
    if text not in ProgramStatus.values:
        raise ServiceError(
            f"“{text}” is not a status; use one of: {', '.join(ProgramStatus.values)}.", field="status"
        )
    return text


def _org_object(org, model, value, *, field_name: str):
    if value in (None, ""):
        return None
    pk = value.pk if isinstance(value, model) else value
    found = model.objects.for_org(org).filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise ServiceError(
            f"No {model._meta.verbose_name} of this organisation has this id.", field=field_name
        )
    return found


def _decimal(value, *, field_name: str, places: int, limit: Decimal, what: str) -> Decimal:
    if isinstance(value, bool) or value is None or value == "":
        raise ServiceError(f"Give the {what}.", field=field_name)
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ServiceError(f"“{value}” is not a number.", field=field_name) from None
    if not number.is_finite():
        raise ServiceError(f"“{value}” is not a number.", field=field_name)
    if number < 0:
        raise ServiceError(f"The {what} cannot be negative.", field=field_name)
    step = Decimal(1).scaleb(-places)
    if number != number.quantize(step):
        raise ServiceError(f"Use at most {places} decimals.", field=field_name)
    if number > limit:
        raise ServiceError(f"At most {limit:,}.", field=field_name)
    return number.quantize(step)


def _metric(value, *, field_name: str = "metric") -> str:
    key = normalize_text(value)
    if key not in BY_KEY:
        raise ServiceError(
            f"“{key}” is not a catalogue metric; GET /api/v1/metrics/ lists them.", field=field_name
        )
    return key


def _dependencies(org, value, program: Program | None) -> list[Program]:
    if value in (None, ""):
        return []
    found = []
    for item in value:
        dependency = _org_object(org, Program, item, field_name="depends_on")
        if program is not None and dependency.pk == program.pk:
            raise ServiceError("A program cannot depend on itself.", field="depends_on")
        if dependency not in found:
            found.append(dependency)
    if program is not None:
        _refuse_cycles(org, program, found)
    return found


def _refuse_cycles(org, program: Program, dependencies: list[Program]) -> None:
    """Refuse a dependency that already (transitively) depends on `program`."""
    edges: dict[int, set[int]] = {}
    through = Program.depends_on.through.objects.filter(from_program__organization=org)
    for source, target in through.values_list("from_program_id", "to_program_id"):
        edges.setdefault(source, set()).add(target)
    for dependency in dependencies:
        seen, stack = set(), [dependency.pk]
        while stack:
            current = stack.pop()
            if current == program.pk:
                raise ServiceError(
                    f"“{dependency.name}” already depends on this program, directly or through others; "
                    "a plan cannot go round in a circle.",
                    field="depends_on",
                    code="cycle",
                )
            if current not in seen:
                seen.add(current)
                stack.extend(edges.get(current, ()))


def _budget_lines(value) -> list[dict]:
    if value in (None, ""):
        return []
    if not isinstance(value, (list, tuple)):
        raise ServiceError("Give a list of budget lines.", field="budget_lines")
    lines = []
    for index, line in enumerate(value):
        try:
            lines.append(budget_line_values(line))
        except ServiceError as exc:  # named as the API names a nested field: budget_lines.0.amount
            raise ServiceError(exc.message, field=f"budget_lines.{index}.{exc.field}") from None
    return lines


def budget_line_values(line: dict) -> dict:
    unknown = sorted(set(line) - {"channel", "description", "amount"})
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])
    return {
        "channel": _text(line.get("channel"), field_name="channel", limit=60),
        "description": _text(line.get("description"), field_name="description", limit=200, required=True),
        "amount": _decimal(
            line.get("amount"), field_name="amount", places=2, limit=MAX_AMOUNT, what="amount"
        ),
    }


def _targets(value) -> list[dict]:
    if value in (None, ""):
        return []
    if not isinstance(value, (list, tuple)):
        raise ServiceError("Give a list of targets.", field="targets")
    targets, seen = [], set()
    for index, item in enumerate(value):
        try:
            cleaned = target_values(item)
        except ServiceError as exc:
            raise ServiceError(exc.message, field=f"targets.{index}.{exc.field}") from None
        if cleaned["metric"] in seen:
            raise ServiceError(f"{cleaned['metric']} has a target already.", field=f"targets.{index}.metric")
        seen.add(cleaned["metric"])
        targets.append(cleaned)
    return targets


def target_values(item: dict) -> dict:
    unknown = sorted(set(item) - {"metric", "target"})
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])
    return {
        "metric": _metric(item.get("metric")),
        "target": _decimal(
            item.get("target"), field_name="target", places=4, limit=MAX_TARGET, what="target"
        ),
    }


def program_values(program: Program) -> dict:
    """A program's own fields as the service names them (what a form or a partial update starts from)."""
    return {
        "name": program.name,
        "objective": program.objective,
        "rationale": program.rationale,
        "owner": program.owner,
        "start": program.start,
        "end": program.end,
        "status": program.status,
        "segment": program.segment,
        "offer": program.offer,
        "goal": program.goal,
        "depends_on": list(program.depends_on.all()) if program.pk else [],
    }


def _clean(org, values: dict, *, program: Program | None) -> dict:
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])
    if program is None:
        missing = [name for name in REQUIRED if values.get(name) in (None, "")]
        if missing:
            raise ServiceError("This field is required.", field=missing[0])
    cleaners = {
        "name": lambda v: _text(v, field_name="name", limit=120, required=True),
        "objective": lambda v: _text(v, field_name="objective", limit=4000, required=True, multiline=True),
        "rationale": lambda v: _text(v, field_name="rationale", limit=4000, multiline=True),
        "owner": lambda v: member_of(org, v),
        "start": lambda v: _date(v, field_name="start"),
        "end": lambda v: _date(v, field_name="end"),
        "status": _status,
        "segment": lambda v: segment_of(org, v),
        "offer": lambda v: _org_object(org, Offer, v, field_name="offer"),
        "goal": lambda v: _org_object(org, Goal, v, field_name="goal"),
        "depends_on": lambda v: _dependencies(org, v, program),
        "budget_lines": _budget_lines,
        "targets": _targets,
    }
    cleaned = {name: cleaners[name](value) for name, value in values.items()}
    start = cleaned.get("start", program.start if program else None)
    end = cleaned.get("end", program.end if program else None)
    if end < start:
        raise ServiceError("The end cannot be before the start.", field="end")
    if (end - start).days + 1 > MAX_DAYS:
        raise ServiceError(f"A program may run at most {MAX_DAYS:,} days.", field="end")
    return cleaned


def _write_children(org, program: Program, cleaned: dict) -> None:
    if "depends_on" in cleaned:
        program.depends_on.set(cleaned["depends_on"])
    if "budget_lines" in cleaned:
        program.budget_lines.all().delete()
        ProgramBudgetLine.objects.bulk_create(
            ProgramBudgetLine(organization=org, program=program, **line) for line in cleaned["budget_lines"]
        )
    if "targets" in cleaned:
        program.targets.all().delete()
        ProgramTarget.objects.bulk_create(
            ProgramTarget(organization=org, program=program, **item) for item in cleaned["targets"]
        )


def _check_org(org, obj, what: str) -> None:
    if obj.organization_id != org.pk:
        raise ServiceError(f"No such {what} in this organisation.", code="not_found")


# --- Writes --------------------------------------------------------------------------------------


@transaction.atomic
def program_create(*, org, **fields) -> Program:
    """A new program; `depends_on`, `budget_lines` and `targets` may come with it."""
    cleaned = _clean(org, fields, program=None)
    children = {
        name: cleaned.pop(name) for name in ("depends_on", "budget_lines", "targets") if name in cleaned
    }
    program = Program.objects.create(organization=org, **cleaned)
    _write_children(org, program, children)
    return program


@transaction.atomic
def program_update(*, org, program: Program, **fields) -> Program:
    """Change some fields; a given `depends_on`, `budget_lines` or `targets` replaces the whole set."""
    _check_org(org, program, "program")
    Program.objects.select_for_update().get(pk=program.pk)
    cleaned = _clean(org, fields, program=program)
    children = {
        name: cleaned.pop(name) for name in ("depends_on", "budget_lines", "targets") if name in cleaned
    }
    for name, value in cleaned.items():
        setattr(program, name, value)
    program.save()
    _write_children(org, program, children)
    return program


def program_set_status(*, org, program: Program, status: str) -> Program:
    return program_update(org=org, program=program, status=status)


@transaction.atomic
def program_delete(*, org, program: Program) -> None:
    _check_org(org, program, "program")
    program.delete()


@transaction.atomic
def budget_line_add(*, org, program: Program, **fields) -> ProgramBudgetLine:
    _check_org(org, program, "program")
    return ProgramBudgetLine.objects.create(organization=org, program=program, **budget_line_values(fields))


@transaction.atomic
def budget_line_delete(*, org, line: ProgramBudgetLine) -> None:
    _check_org(org, line, "budget line")
    line.delete()


@transaction.atomic
def target_set(*, org, program: Program, metric, target) -> ProgramTarget:
    """Set the program's target for a metric, replacing the one it had."""
    _check_org(org, program, "program")
    cleaned = target_values({"metric": metric, "target": target})
    found, _ = ProgramTarget.objects.update_or_create(
        organization=org, program=program, metric=cleaned["metric"], defaults={"target": cleaned["target"]}
    )
    return found


@transaction.atomic
def target_delete(*, org, target: ProgramTarget) -> None:
    _check_org(org, target, "target")
    target.delete()


# --- Reads ---------------------------------------------------------------------------------------


def programs_between(*, org, start: datetime.date, end: datetime.date):
    """The programs whose dates overlap start..end, with what the plan's page and export show."""
    return (
        Program.objects.for_org(org)
        .filter(start__lte=end, end__gte=start)
        .select_related("owner__user", "segment", "offer", "goal__team")
        .prefetch_related("depends_on", "budget_lines", "targets")
        .order_by("start", "name", "id")
    )


def budget_total(program: Program) -> Decimal:
    """The sum of the program's budget lines (reads the prefetched lines when there are any)."""
    return sum((line.amount for line in program.budget_lines.all()), Decimal("0.00"))


@dataclass
class DependencyWarning:
    dependency: Program
    message: str


def dependency_warnings(program: Program) -> list[DependencyWarning]:
    """Dependencies that do not end before this program starts, or were cancelled (see the docstring)."""
    warnings = []
    for dependency in program.depends_on.all():
        if dependency.status == ProgramStatus.CANCELLED:
            warnings.append(
                DependencyWarning(dependency, f"depends on “{dependency.name}”, which was cancelled")
            )
        elif dependency.end >= program.start:
            warnings.append(
                DependencyWarning(
                    dependency,
                    f"starts {program.start:%-d %b %Y}, before “{dependency.name}” ends "
                    f"({dependency.end:%-d %b %Y})",
                )
            )
    return warnings


@dataclass
class TargetProgress:
    target: ProgramTarget
    name: str
    unit: str
    direction: str  # "higher" or "lower" is better
    measured_to: datetime.date | None  # None before the program starts
    actual: float | None
    percent: float | None  # actual ÷ target x 100
    met: bool | None  # at or beyond the target in the metric's good direction; None without data

    def as_dict(self) -> dict:
        return {
            "metric": self.target.metric,
            "target": float(self.target.target),
            "unit": self.unit,
            "direction": self.direction,
            "measured_to": self.measured_to,
            "actual": self.actual,
            "percent": self.percent,
            "met": self.met,
        }


def program_progress(*, org, program: Program, today: datetime.date) -> list[TargetProgress]:
    """Each target with its actual over the program's dates up to today (nothing before it starts)."""
    rows = []
    measured_to = min(today, program.end) if today >= program.start else None
    for target in program.targets.all():
        metric = BY_KEY.get(target.metric)
        if metric is None:  # a metric retired from the catalogue since the target was set
            rows.append(TargetProgress(target, target.metric, "count", "higher", None, None, None, None))
            continue
        actual = None
        if measured_to is not None:
            actual = engine.evaluate(org, metric, store.Window(program.start, measured_to, None)).total
        goal = float(target.target)
        percent = actual / goal * 100 if actual is not None and goal > 0 else None
        met = None
        if actual is not None:
            met = actual >= goal if metric.direction == "higher" else actual <= goal
        rows.append(
            TargetProgress(
                target, metric.name, metric.unit, metric.direction, measured_to, actual, percent, met
            )
        )
    return rows
