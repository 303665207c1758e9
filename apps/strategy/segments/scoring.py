"""The fit score in plain Python: the reference the SQL compiler is tested against.

`record_of` flattens a lead or an account into the dict rules read (see
fields.py for the names); `fit_score` sums the points of the rules whose
conditions all hold (apps.records.conditions.matches).
"""

from apps.records import conditions

from .fields import ACCOUNT_FIELDS, LEAD, LEAD_FIELDS


def record_of(obj, object_type: str, *, touches_30d: int = 0, touches_90d: int = 0) -> dict:
    """The values rules read for a lead (with its account and stage loaded) or an account."""
    record = {"touches_30d": touches_30d, "touches_90d": touches_90d}
    if object_type == LEAD:
        for name, spec in LEAD_FIELDS.items():
            if spec.joins == {"a"}:
                account = obj.account if obj.account_id else None
                record[name] = getattr(account, name.removeprefix("account."), None) if account else None
            elif spec.kind in {"text", "number"}:
                record[name] = obj.stage.key if name == "stage" else getattr(obj, name)
    else:
        for name, spec in ACCOUNT_FIELDS.items():
            if spec.kind in {"text", "number"}:
                record[name] = getattr(obj, name)
    for key, value in (obj.custom or {}).items():
        record[f"custom.{key}"] = value
    return record


def fit_score(rules: list[dict], record: dict) -> int:
    return sum(rule["points"] for rule in rules if conditions.matches(rule["conditions"], record))
