"""The fields segment rules may read, per object type, and how SQL reads each.

Lead segments read the lead's own fields, `custom.<key>` (the organisation's
custom lead fields), the matched account's fields as `account.<field>`, and
behaviour: `touches_30d` / `touches_90d`, the lead's touchpoints in the last
30 / 90 days. Account segments read the account's fields, `custom.<key>` and
the same two behaviour counts over the account's touchpoints.

Each field has a kind: "text" (a column that may be blank), "number" (a
nullable numeric column), "count" (behaviour, never empty) or "json" (a custom
field, any JSON value). The SQL expressions use the aliases the compiler
joins: r (the record), a (the lead's account), st (the lead's stage) and tp
(touch counts).
"""

import re
from dataclasses import dataclass

from apps.core.errors import ServiceError
from apps.records import conditions
from apps.records.models import CustomField, ObjectType

LEAD, ACCOUNT = "lead", "account"
MAX_RULES = 20
MAX_POINTS = 1000
BEHAVIOUR_DAYS = {"touches_30d": 30, "touches_90d": 90}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text / number / count / json
    sql: str  # the column or expression, under the compiler's aliases
    joins: frozenset = frozenset()  # a (account), st (stage), tp (touch counts)


def _text(name, label, sql, joins=()):
    return Field(name, label, "text", sql, frozenset(joins))


def _number(name, label, sql, joins=()):
    return Field(name, label, "number", sql, frozenset(joins))


_ACCOUNT_COLUMNS = [
    ("name", "Name", "text"), ("domain", "Domain", "text"), ("industry", "Industry", "text"),
    ("employees", "Employees", "number"), ("annual_revenue", "Annual revenue", "number"),
    ("country", "Country (ISO code)", "text"), ("region", "Region", "text"),
]  # fmt: skip
_LEAD_COLUMNS = [
    ("email", "E-mail"), ("first_name", "First name"), ("last_name", "Last name"), ("title", "Job title"),
    ("company", "Company"), ("country", "Country (ISO code)"), ("source", "Source"), ("channel", "Channel"),
    ("utm_source", "UTM source"), ("utm_medium", "UTM medium"), ("utm_campaign", "UTM campaign"),
    ("utm_term", "UTM term"), ("utm_content", "UTM content"),
]  # fmt: skip
_BEHAVIOUR = [
    Field("touches_30d", "Touches in the last 30 days", "count", "tp.touches_30d", frozenset({"tp"})),
    Field("touches_90d", "Touches in the last 90 days", "count", "tp.touches_90d", frozenset({"tp"})),
]

LEAD_FIELDS = {
    **{name: _text(name, label, f"r.{name}") for name, label in _LEAD_COLUMNS},
    "stage": _text("stage", "Stage (key)", "st.key", ["st"]),
    "score": _number("score", "Lead score", "r.score"),
    **{
        f"account.{name}": Field(
            f"account.{name}", f"Account: {label.lower()}", kind, f"a.{name}", frozenset("a")
        )
        for name, label, kind in _ACCOUNT_COLUMNS
    },
    **{f.name: f for f in _BEHAVIOUR},
}
ACCOUNT_FIELDS = {
    **{name: Field(name, label, kind, f"r.{name}") for name, label, kind in _ACCOUNT_COLUMNS},
    **{f.name: f for f in _BEHAVIOUR},
}
FIELDS = {LEAD: LEAD_FIELDS, ACCOUNT: ACCOUNT_FIELDS}
_CUSTOM_KEY = re.compile(r"^custom\.([A-Za-z0-9_-]{1,60})$")


def field(object_type: str, name: str) -> Field | None:
    """The field a rule names, or None; custom fields are not checked against definitions here."""
    known = FIELDS[object_type].get(name)
    if known is not None:
        return known
    match = _CUSTOM_KEY.match(name)
    if match:
        return Field(name, name, "json", f"(r.custom -> '{match.group(1)}')")
    return None


def choices(object_type: str, custom_fields) -> list[tuple[str, str]]:
    """(field, label) pairs for the rule builder: standard fields, then the custom ones."""
    standard = [(f.name, f.label) for f in FIELDS[object_type].values()]
    return standard + [(f"custom.{d.key}", f"{d.label} (custom)") for d in custom_fields]


def clean_rules(*, org, object_type: str, rules) -> list[dict]:
    """Validate rules; each error names its place, e.g. rules[1].conditions[0].field."""
    if not isinstance(rules, list) or not rules:
        raise ServiceError("Give at least one rule.", field="rules")
    if len(rules) > MAX_RULES:
        raise ServiceError(f"At most {MAX_RULES} rules.", field="rules")
    custom = set(
        CustomField.objects.for_org(org)
        .filter(object_type=ObjectType.LEAD if object_type == LEAD else ObjectType.ACCOUNT)
        .values_list("key", flat=True)
    )
    return [_clean_rule(rule, f"rules[{index}]", object_type, custom) for index, rule in enumerate(rules)]


def _clean_rule(rule, where: str, object_type: str, custom: set[str]) -> dict:
    if not isinstance(rule, dict):
        raise ServiceError("A rule is an object with a name, conditions and points.", field=where)
    name = str(rule.get("name") or "").strip()
    if not name:
        raise ServiceError("Name the rule.", field=f"{where}.name")
    points = rule.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or not -MAX_POINTS <= points <= MAX_POINTS:
        raise ServiceError(
            f"Points are a whole number between -{MAX_POINTS} and {MAX_POINTS}.", field=f"{where}.points"
        )
    conds = rule.get("conditions")
    if not isinstance(conds, list) or not conds:
        raise ServiceError("A rule needs at least one condition.", field=f"{where}.conditions")
    cleaned = [
        _clean_condition(c, f"{where}.conditions[{i}]", object_type, custom) for i, c in enumerate(conds)
    ]
    return {"name": name[:120], "conditions": cleaned, "points": points}


def _clean_condition(condition, where: str, object_type: str, custom: set[str]) -> dict:
    if not isinstance(condition, dict):
        raise ServiceError("A condition is an object with a field, an operator and a value.", field=where)
    name = condition.get("field")
    known = field(object_type, name) if isinstance(name, str) else None
    if known is None or (known.kind == "json" and name.removeprefix("custom.") not in custom):
        raise ServiceError(
            f"{name!r} is not a field segments of {object_type}s can read.", field=f"{where}.field"
        )
    op = condition.get("op")
    if op not in conditions.OPERATORS:
        raise ServiceError(f"Unknown operator {op!r}.", field=f"{where}.op")
    cleaned = {"field": name, "op": op}
    if op in {"is_empty", "is_not_empty"}:
        return cleaned
    value = condition.get("value")
    if op in {"in", "not_in"}:
        if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
            raise ServiceError(f"'{op}' takes a non-empty list of values.", field=f"{where}.value")
    elif not _scalar(value) or value is None or value == "":
        raise ServiceError("Give a value.", field=f"{where}.value")
    cleaned["value"] = value
    return cleaned


def _scalar(value) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def joins_of(rules_sets, object_type: str) -> set[str]:
    """The joins the rules of these segments need."""
    needed = set()
    for rules in rules_sets:
        for rule in rules:
            for condition in rule["conditions"]:
                needed |= field(object_type, condition["field"]).joins
    return needed
