"""Completeness: how much of what matters about a record is filled in.

A score is the weighted share of rule fields that are filled, from 0 to 1.
Organisations choose the fields and weights (CompletenessRule); until they do,
DEFAULT_RULES apply.
"""

from .models import CompletenessRule, ObjectType

# object type -> [(field, weight, required)]
DEFAULT_RULES: dict[str, list[tuple[str, int, bool]]] = {
    ObjectType.LEAD: [
        ("email", 3, True),
        ("first_name", 1, False),
        ("last_name", 1, False),
        ("company", 2, True),
        ("title", 1, False),
        ("country", 1, False),
        ("phone", 1, False),
        ("source", 2, True),
    ],
    ObjectType.ACCOUNT: [
        ("name", 2, True),
        ("domain", 3, True),
        ("industry", 1, False),
        ("employees", 1, False),
        ("country", 1, False),
    ],
    ObjectType.OPPORTUNITY: [
        ("amount", 2, True),
        ("close_date", 2, True),
        ("account", 2, True),
        ("source", 1, False),
    ],
}


def rules_for(*, org, object_type: str) -> list[tuple[str, int, bool]]:
    rules = list(
        CompletenessRule.objects.for_org(org)
        .filter(object_type=object_type)
        .values_list("field", "weight", "required")
    )
    return rules or DEFAULT_RULES.get(object_type, [])


def as_record(instance) -> dict:
    """A flat dict of a record's values, custom fields as custom.<key>, for rules and scoring."""
    record = {}
    for field in instance._meta.concrete_fields:
        if field.name == "custom":
            continue
        value = getattr(instance, field.attname)
        record[field.attname] = value
        if field.is_relation:
            record[field.name] = value
    for key, value in (getattr(instance, "custom", None) or {}).items():
        record[f"custom.{key}"] = value
    if hasattr(instance, "stage") and hasattr(instance, "stage_id") and getattr(instance, "stage_id", None):
        stage = instance.stage
        record["stage"] = getattr(stage, "key", stage)
    return record


def filled(value) -> bool:
    return value not in (None, "", [], {}) and not (isinstance(value, str) and not value.strip())


def score(record: dict, rules) -> float:
    total = sum(weight for _, weight, _ in rules)
    if not total:
        return 1.0
    got = sum(weight for field, weight, _ in rules if filled(record.get(field)))
    return round(got / total, 4)


def missing_required(record: dict, rules) -> list[str]:
    return [field for field, _, required in rules if required and not filled(record.get(field))]


def completeness(*, org, object_type: str, record) -> float:
    rules = rules_for(org=org, object_type=object_type)
    return score(record if isinstance(record, dict) else as_record(record), rules)
