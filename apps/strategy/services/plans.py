"""Saved plans: a reverse waterfall frozen under a name, its scenarios, and two plans side by side.

Saving a plan runs the waterfall (apps.strategy.planning) once and keeps every
input it used, defaults included: the target, the deal size and each stage's
rate and lag. History moves every night, so a plan that kept only what was
typed would quietly change; a saved plan opens tomorrow exactly as it was
saved. A scenario is a copy of a plan with some assumptions changed
(`based_on` points at the original); one plan per quarter can be primary, the
one later reviews compare against.
"""

import datetime
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from apps.accounts.services import active_member
from apps.core.errors import ServiceError
from apps.records.normalize import normalize_text
from apps.strategy import planning
from apps.strategy.models import SavedPlan

SCENARIO_KEYS = ("scenario_stage", "scenario_rate", "scenario_lag")


def as_text(value: float) -> str:
    """A float as the shortest text that reads back to it (12.5, 40, 1250000.75)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _invalid(result: planning.Result) -> ServiceError:
    field, reason = next(iter(result.errors.items()))
    return ServiceError(reason, field=field)


def frozen_params(org, params, today: datetime.date) -> tuple[dict[str, str], planning.Result]:
    """Every input of the waterfall `params` describe, defaults filled in; refused when one is missing."""
    params = {key: str(value) for key, value in params.items() if value is not None}
    result = planning.build(org, params, today)
    if result.errors:
        raise _invalid(result)
    frozen = {
        "fiscal_year": str(result.fiscal_year),
        "quarter": str(result.quarter),
        "target": as_text(result.target),
    }
    frozen.update({a.name: as_text(a.value) for a in result.assumptions})
    if result.scenario["stage"]:
        frozen.update({key: params[key] for key in SCENARIO_KEYS if params.get(key, "").strip()})
    return frozen, result


def _name(value) -> str:
    name = normalize_text(value)
    if not name:
        raise ServiceError("Give the plan a name.", field="name")
    if len(name) > 120:
        raise ServiceError("At most 120 characters.", field="name")
    return name


def _save(plan: SavedPlan) -> SavedPlan:
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:
        raise ServiceError(
            f"FY{plan.fiscal_year} Q{plan.quarter} already has a plan named “{plan.name}”.", field="name"
        ) from None
    return plan


@transaction.atomic
def plan_save(
    *, org, name, params, today: datetime.date, owner=None, note: str = "", based_on=None, primary=False
) -> SavedPlan:
    frozen, result = frozen_params(org, params, today)
    if based_on is not None and based_on.organization_id != org.pk:
        raise ServiceError("No plan of this organisation has this id.", field="based_on")
    plan = _save(
        SavedPlan(
            organization=org,
            name=_name(name),
            fiscal_year=result.fiscal_year,
            quarter=result.quarter,
            params=frozen,
            based_on=based_on,
            note=normalize_text(note),
            owner=active_member(org, owner),
        )
    )
    if primary:
        plan_make_primary(org=org, plan=plan)
    return plan


@transaction.atomic
def plan_update(*, org, plan: SavedPlan, today: datetime.date, **changes) -> SavedPlan:
    """Rename, re-note, re-own or change the inputs of a plan (the quarter comes with the inputs)."""
    if "name" in changes:
        plan.name = _name(changes["name"])
    if "note" in changes:
        plan.note = normalize_text(changes["note"])
    if "owner" in changes:
        plan.owner = active_member(org, changes["owner"])
    if "params" in changes:
        frozen, result = frozen_params(org, {**plan.params, **changes["params"]}, today)
        if (result.fiscal_year, result.quarter) != (plan.fiscal_year, plan.quarter) and plan.is_primary:
            plan.is_primary = False  # primary for its old quarter only
        plan.params, plan.fiscal_year, plan.quarter = frozen, result.fiscal_year, result.quarter
    return _save(plan)


@transaction.atomic
def plan_copy(*, org, plan: SavedPlan, name, changes: dict, today: datetime.date, owner=None) -> SavedPlan:
    """A scenario: the plan's inputs with `changes` applied, saved under a new name."""
    params = {key: value for key, value in plan.params.items() if key not in SCENARIO_KEYS}
    return plan_save(
        org=org,
        name=name,
        params={**params, **changes},
        today=today,
        owner=owner,
        note=f"A scenario of “{plan.name}”.",
        based_on=plan,
    )


@transaction.atomic
def plan_make_primary(*, org, plan: SavedPlan) -> SavedPlan:
    quarter = SavedPlan.objects.for_org(org).filter(fiscal_year=plan.fiscal_year, quarter=plan.quarter)
    quarter.exclude(pk=plan.pk).filter(is_primary=True).update(is_primary=False)
    plan.is_primary = True
    plan.save(update_fields=["is_primary", "updated_at"])
    return plan


def plan_delete(*, org, plan: SavedPlan) -> None:
    SavedPlan.objects.for_org(org).filter(pk=plan.pk).delete()


def plan_result(*, org, plan: SavedPlan, today: datetime.date) -> planning.Result:
    return planning.build(org, plan.params, today)


def primary_plan(*, org, fiscal_year: int, quarter: int) -> SavedPlan | None:
    plans = SavedPlan.objects.for_org(org).filter(fiscal_year=fiscal_year, quarter=quarter)
    return plans.filter(is_primary=True).first()


# --- Two plans side by side ------------------------------------------------------------------------


@dataclass(frozen=True)
class InputChange:
    name: str
    label: str
    first: str | None
    second: str | None


@dataclass(frozen=True)
class CompareRow:
    stage: str
    month: datetime.date
    first: int | None  # required (rounded up); None: the plan needs nothing of this stage that month
    second: int | None

    @property
    def change(self) -> int:
        return (self.second or 0) - (self.first or 0)


@dataclass
class Comparison:
    first: SavedPlan
    second: SavedPlan
    first_result: planning.Result
    second_result: planning.Result
    inputs: list[InputChange]
    stages: list[tuple[str, str]]
    rows: dict[str, list[CompareRow]]

    @property
    def ok(self) -> bool:
        return self.first_result.ok and self.second_result.ok

    @property
    def tables(self) -> list[tuple[str, str, list[CompareRow]]]:
        return [(key, name, self.rows[key]) for key, name in self.stages]


def _labels(result: planning.Result) -> dict[str, str]:
    labels = {"fiscal_year": "Fiscal year", "quarter": "Quarter", "target": "Revenue target"}
    labels.update({a.name: a.label for a in result.assumptions})
    words = ("Scenario stage", "Scenario rate change (points)", "Scenario lag change (days)")
    labels.update(dict(zip(SCENARIO_KEYS, words, strict=True)))
    return labels


def compare(*, org, first: SavedPlan, second: SavedPlan, today: datetime.date) -> Comparison:
    """The inputs that differ and each stage's required volume by month under both plans.

    Months are the union of both plans' months, so a longer lag that pulls a
    stage's need into an earlier month shows that month with nothing under the
    plan that does not need it.
    """
    a, b = plan_result(org=org, plan=first, today=today), plan_result(org=org, plan=second, today=today)
    labels = {**_labels(b), **_labels(a)}
    order = {key: index for index, key in enumerate(labels)}
    keys = sorted(set(first.params) | set(second.params), key=lambda key: order.get(key, len(order)))
    inputs = [
        InputChange(key, labels.get(key, key), first.params.get(key), second.params.get(key))
        for key in keys
        if first.params.get(key) != second.params.get(key)
    ]
    rows: dict[str, list[CompareRow]] = {}
    if a.ok and b.ok:
        stages = [key for key, _ in a.stages if key in b.rows]
        for key in stages:
            by_month_a = {row.month: row.required_rounded for row in a.rows[key]}
            by_month_b = {row.month: row.required_rounded for row in b.rows[key]}
            rows[key] = [
                CompareRow(key, month, by_month_a.get(month), by_month_b.get(month))
                for month in sorted(set(by_month_a) | set(by_month_b))
            ]
    return Comparison(first, second, a, b, inputs, [s for s in a.stages if s[0] in rows], rows)
