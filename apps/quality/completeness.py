"""Completeness rules as SQL: the same score apps.records.quality computes in Python, set-based.

`apps.records.quality.score()` scores one record in memory (on create and
update). Here the organisation's rules become ORM expressions so that a
million records are scored, recomputed or aggregated by one statement: a
field counts as filled when it is non-null and, for text, not blank; a
`custom.<key>` rule reads the JSON key as text. The result agrees with the
Python function (a test holds them together).
"""

from dataclasses import dataclass

from django.db import models
from django.db.models import Case, F, FloatField, IntegerField, Q, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Round, Trim
from django.db.models.lookups import Exact, GreaterThanOrEqual, IsNull

from apps.records.models import Account, Lead, ObjectType, Opportunity
from apps.records.quality import rules_for

MODELS = {ObjectType.LEAD: Lead, ObjectType.ACCOUNT: Account, ObjectType.OPPORTUNITY: Opportunity}

# Bookkeeping columns that describe the row, not the person or company.
_NOT_RULE_FIELDS = {
    "id", "organization", "created_at", "updated_at", "completeness", "custom", "merged_into",
    "stage_entered_at",
}  # fmt: skip

CUSTOM_PREFIX = "custom."


@dataclass(frozen=True)
class Rule:
    field: str
    weight: int
    required: bool
    pk: int | None = None  # None for a default rule the organisation has not customised

    @property
    def label(self) -> str:
        return field_label(self.field)


def standard_fields(object_type: str) -> list[str]:
    """The model fields a completeness rule may name, in declaration order."""
    model = MODELS[object_type]
    return [f.name for f in model._meta.concrete_fields if f.name not in _NOT_RULE_FIELDS]


def field_label(field: str) -> str:
    if field.startswith(CUSTOM_PREFIX):
        return field.removeprefix(CUSTOM_PREFIX).replace("_", " ").capitalize() + " (custom)"
    return field.replace("_", " ").capitalize().replace("Utm", "UTM")


def rules(*, org, object_type: str) -> list[Rule]:
    """The organisation's rules for one record type, or the defaults until it has any."""
    return [Rule(f, w, r) for f, w, r in rules_for(org=org, object_type=object_type)]


def filled_q(object_type: str, field: str) -> Q:
    """A condition true when `field` holds a value on a row of `object_type`."""
    if field.startswith(CUSTOM_PREFIX):
        text = KT(f"custom__{field.removeprefix(CUSTOM_PREFIX)}")
        return Q(IsNull(text, False)) & ~Q(Exact(Trim(text), Value("")))
    model_field = MODELS[object_type]._meta.get_field(field)
    if model_field.is_relation:
        return Q(**{f"{field}__isnull": False})
    if isinstance(model_field, models.CharField | models.TextField):
        return Q(IsNull(F(field), False)) & ~Q(Exact(Trim(F(field)), Value("")))
    return Q(**{f"{field}__isnull": False})


def missing_required_q(object_type: str, rule_list: list[Rule]) -> Q | None:
    """True for rows missing at least one required field; None when no field is required."""
    condition = None
    for rule in rule_list:
        if rule.required:
            missing = ~filled_q(object_type, rule.field)
            condition = missing if condition is None else condition | missing
    return condition


def score_expression(object_type: str, rule_list: list[Rule]):
    """The weighted share of filled rule fields, 0..1, rounded to 4 places like the Python score."""
    total = sum(rule.weight for rule in rule_list)
    if not total:
        return Value(1.0, output_field=FloatField())
    got = sum(
        (
            Case(When(filled_q(object_type, rule.field), then=Value(rule.weight)), default=Value(0))
            for rule in rule_list
        ),
        start=Value(0),
    )
    ratio = Cast(got, models.DecimalField(max_digits=12, decimal_places=6)) / Value(total)
    return Cast(Round(ratio, 4), FloatField())


def complete_q(object_type: str, rule_list: list[Rule], *, threshold: float) -> Q:
    """Complete enough: the score reaches `threshold` and nothing required is missing."""
    condition = Q(GreaterThanOrEqual(score_expression(object_type, rule_list), Value(threshold)))
    missing = missing_required_q(object_type, rule_list)
    return condition & ~missing if missing is not None else condition


def integer_case(condition: Q):
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())
