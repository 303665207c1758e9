"""A small condition language over plain dicts, shared by stage rules, routing and segments.

A condition is {"field": "country", "op": "in", "value": ["FR", "DE"]}; a rule
is a list of conditions that must all hold. Fields are read from a flat dict
(custom fields as "custom.<key>"). On a list value (a lead's "segments"),
`contains` holds when an element equals the value, `in` when an element is one
of the values and `not_in` when none is. Pure functions: no database.
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

OPERATORS = {
    "equals": "is",
    "not_equals": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "starts_with": "starts with",
    "gt": "greater than",
    "gte": "at least",
    "lt": "less than",
    "lte": "at most",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
}


class ConditionError(ValueError):
    pass


def _number(value):
    if isinstance(value, bool):
        raise InvalidOperation
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    return Decimal(str(value).strip())


def _comparable(left, right):
    """Compare numbers as numbers, dates as ISO strings, anything else case-insensitively."""
    try:
        return _number(left), _number(right)
    except (InvalidOperation, ValueError, TypeError):
        pass
    if isinstance(left, (date, datetime)):
        left = left.isoformat()
    if isinstance(right, (date, datetime)):
        right = right.isoformat()
    return str(left).casefold(), str(right).casefold()


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


def validate(conditions) -> list[dict]:
    if not isinstance(conditions, list):
        raise ConditionError("A rule is a list of conditions.")
    for index, condition in enumerate(conditions):
        if not isinstance(condition, dict) or not isinstance(condition.get("field"), str):
            raise ConditionError(f"Condition {index + 1} needs a field.")
        if condition.get("op") not in OPERATORS:
            raise ConditionError(f"Condition {index + 1}: unknown operator {condition.get('op')!r}.")
        if condition["op"] in {"in", "not_in"} and not isinstance(condition.get("value"), list):
            raise ConditionError(f"Condition {index + 1}: '{condition['op']}' takes a list of values.")
    return conditions


def holds(condition: dict, record: dict) -> bool:
    op = condition["op"]
    actual = record.get(condition["field"])
    expected = condition.get("value")
    if op == "is_empty":
        return _empty(actual)
    if op == "is_not_empty":
        return not _empty(actual)
    if _empty(actual):
        return op in {"not_equals", "not_in"}
    if isinstance(actual, list | tuple) and op in {"contains", "in", "not_in"}:
        return _holds_on_list(op, actual, expected)
    if op in {"in", "not_in"}:
        found = any(_comparable(actual, option)[0] == _comparable(actual, option)[1] for option in expected)
        return found if op == "in" else not found
    if op == "contains":
        return str(expected).casefold() in str(actual).casefold()
    if op == "starts_with":
        return str(actual).casefold().startswith(str(expected).casefold())
    left, right = _comparable(actual, expected)
    if type(left) is not type(right):
        return op == "not_equals"
    return {
        "equals": left == right,
        "not_equals": left != right,
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]


def _holds_on_list(op: str, actual, expected) -> bool:
    """A list value (a lead's segment keys) contains an element, or shares one with the options."""
    wanted = expected if op in {"in", "not_in"} else [expected]
    found = any(
        _comparable(item, option)[0] == _comparable(item, option)[1] for item in actual for option in wanted
    )
    return not found if op == "not_in" else found


def matches(conditions: list[dict], record: dict) -> bool:
    """True when every condition holds (an empty rule matches nothing)."""
    return bool(conditions) and all(holds(c, record) for c in conditions)


def describe(condition: dict) -> str:
    value = condition.get("value")
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    words = OPERATORS[condition["op"]]
    return f"{condition['field']} {words}" + ("" if condition["op"].endswith("empty") else f" {value}")
