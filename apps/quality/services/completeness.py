"""Completeness rules per organisation and record type, and the set-based recompute they trigger.

Until an organisation edits its rules, apps.records.quality.DEFAULT_RULES
apply. The first edit copies the defaults into rows, so adding one field adds
to the defaults instead of silently replacing them; deleting every rule of a
type brings the defaults back.

Every change queues a recompute of the stored scores (Lead.completeness,
Account.completeness) on commit; opportunities store no score and are always
scored live by the selectors.
"""

from collections.abc import Callable

from django.db import transaction
from django.db.models import F

from apps.core.errors import ServiceError
from apps.quality import completeness as cq
from apps.quality.cache import overview_invalidate
from apps.quality.models import QualityJob
from apps.records.models import CompletenessRule, CustomField, ObjectType
from apps.records.quality import DEFAULT_RULES

from .jobs import job_request
from .sources import BATCH, id_windows

MAX_WEIGHT = 100
# Record types whose score is stored on the row (and so must be recomputed).
STORED = {ObjectType.LEAD, ObjectType.ACCOUNT}


def _check_object_type(object_type: str) -> None:
    if object_type not in ObjectType.values:
        raise ServiceError(f"Unknown record type {object_type!r}.", field="object_type")


def _check_field(org, object_type: str, field: str) -> str:
    field = (field or "").strip()
    if field.startswith(cq.CUSTOM_PREFIX):
        key = field.removeprefix(cq.CUSTOM_PREFIX)
        if not CustomField.objects.for_org(org).filter(object_type=object_type, key=key).exists():
            raise ServiceError(f"No custom field {key!r} on {object_type}s.", field="field")
        return field
    if field not in cq.standard_fields(object_type):
        raise ServiceError(f"{object_type.capitalize()}s have no field {field!r}.", field="field")
    return field


def _check_weight(weight) -> int:
    try:
        weight = int(weight)
    except (TypeError, ValueError):
        raise ServiceError("The weight is a whole number.", field="weight") from None
    if not 1 <= weight <= MAX_WEIGHT:
        raise ServiceError(f"The weight is between 1 and {MAX_WEIGHT}.", field="weight")
    return weight


def _materialise_defaults(org, object_type: str) -> None:
    if CompletenessRule.objects.for_org(org).filter(object_type=object_type).exists():
        return
    CompletenessRule.objects.bulk_create(
        [
            CompletenessRule(organization=org, object_type=object_type, field=f, weight=w, required=r)
            for f, w, r in DEFAULT_RULES.get(object_type, [])
        ]
    )


def _rules_changed(org, object_type: str, actor) -> None:
    overview_invalidate(org=org)
    if object_type in STORED:
        job_request(org=org, kind=QualityJob.Kind.COMPLETENESS, object_type=object_type, actor=actor)


@transaction.atomic
def completeness_rule_create(
    *, org, object_type: str, field: str, weight: int = 1, required: bool = False, actor=None
) -> CompletenessRule:
    _check_object_type(object_type)
    field = _check_field(org, object_type, field)
    weight = _check_weight(weight)
    _materialise_defaults(org, object_type)
    if CompletenessRule.objects.for_org(org).filter(object_type=object_type, field=field).exists():
        raise ServiceError(
            f"{cq.field_label(field)} already counts; change its weight instead.",
            code="duplicate",
            field="field",
        )
    rule = CompletenessRule.objects.create(
        organization=org, object_type=object_type, field=field, weight=weight, required=bool(required)
    )
    _rules_changed(org, object_type, actor)
    return rule


@transaction.atomic
def completeness_rule_update(
    *, org, rule: CompletenessRule, weight=None, required=None, actor=None
) -> CompletenessRule:
    if rule.organization_id != org.pk:
        raise ServiceError("No such rule in this organisation.", code="not_found")
    if weight is not None:
        rule.weight = _check_weight(weight)
    if required is not None:
        rule.required = bool(required)
    rule.save()
    _rules_changed(org, rule.object_type, actor)
    return rule


@transaction.atomic
def completeness_rule_save(
    *, org, object_type: str, field: str, weight: int, required: bool, actor=None
) -> tuple[CompletenessRule, bool]:
    """Create the rule for `field`, or change the weight and requirement of the existing one."""
    _check_object_type(object_type)
    field = _check_field(org, object_type, field)
    _materialise_defaults(org, object_type)
    rule = CompletenessRule.objects.for_org(org).filter(object_type=object_type, field=field).first()
    if rule is None:
        rule = completeness_rule_create(
            org=org, object_type=object_type, field=field, weight=weight, required=required, actor=actor
        )
        return rule, True
    return completeness_rule_update(org=org, rule=rule, weight=weight, required=required, actor=actor), False


@transaction.atomic
def completeness_rule_delete(*, org, rule: CompletenessRule, actor=None) -> None:
    if rule.organization_id != org.pk:
        raise ServiceError("No such rule in this organisation.", code="not_found")
    object_type = rule.object_type
    rule.delete()
    _rules_changed(org, object_type, actor)


def completeness_recompute(
    *, org, object_type: str, batch_size: int = BATCH, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Rewrite the stored scores of one record type from the current rules; returns rows changed.

    One UPDATE per id window, each its own transaction, touching only rows whose
    score changes. The rules are read again for every window, so a run that
    overlaps a later rule change still ends with the newest rules applied.
    """
    _check_object_type(object_type)
    if object_type not in STORED:
        return {object_type: 0}
    model = cq.MODELS[object_type]
    windows = id_windows(model.objects.for_org(org), batch_size)
    changed = 0
    for step, (lo, hi) in enumerate(windows, start=1):
        with transaction.atomic():
            expression = cq.score_expression(object_type, cq.rules(org=org, object_type=object_type))
            changed += (
                model.objects.for_org(org)
                .filter(pk__gte=lo, pk__lt=hi)
                .annotate(new_score=expression)
                .exclude(completeness=F("new_score"))
                .update(completeness=F("new_score"))
            )
        if progress:
            progress(step, len(windows))
    return {object_type: changed}
