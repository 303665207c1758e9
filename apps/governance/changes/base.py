"""What every subject shares: the diff of two documents and validation by a dry run of `apply`.

Validation runs the subject's real `apply` inside a savepoint that is always rolled back, so a
proposed document is checked by exactly the service code that would apply it (nothing is written,
and work queued on commit by the rolled-back writes is dropped with them).
"""

import difflib
import json

from django.db import transaction

from apps.core.errors import ServiceError

from .guard import applying_change_request


class _DryRun(Exception):
    """Raised to roll the validation savepoint back."""


def canonical(document) -> str:
    """The document as stable, pretty JSON: equal documents give equal text."""
    return json.dumps(document, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def diff(before, after) -> list[str]:
    """A unified diff of the two documents as pretty JSON (an empty list when they are the same)."""
    old = canonical(before).splitlines() if before not in (None, {}) else []
    new = canonical(after).splitlines() if after not in (None, {}) else []
    return list(difflib.unified_diff(old, new, fromfile="current", tofile="proposed", lineterm="", n=3))


def same(a, b) -> bool:
    return canonical(a) == canonical(b)


def require_object(proposed, keys: dict[str, type | tuple]) -> dict[str, list[str]]:
    """Structural checks every adapter starts with: an object holding `keys` of the given types."""
    if not isinstance(proposed, dict):
        return {"proposed": ["The proposed state is a JSON object."]}
    errors = {}
    for key, kind in keys.items():
        if key not in proposed:
            errors[key] = ["This field is required."]
        elif not _is(proposed[key], kind):
            errors[key] = [f"Expected {_kind_name(kind)}."]
    unknown = sorted(set(proposed) - set(keys))
    for key in unknown:
        errors[key] = ["Unknown field."]
    return errors


def _is(value, kind) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON's true/false are not numbers here, whatever Python thinks.
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


def _kind_name(kind) -> str:
    names = {list: "a list", dict: "an object", str: "a text", int: "a whole number", float: "a number",
             bool: "true or false", type(None): "null"}  # fmt: skip
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def dry_run(apply_fn, org, target, proposed) -> dict[str, list[str]]:
    """Run `apply_fn` and roll it back; the service's refusal becomes {field: [message]}."""
    try:
        with transaction.atomic(), applying_change_request():
            apply_fn(org, target, proposed, by=None)
            raise _DryRun
    except _DryRun:
        return {}
    except ServiceError as error:
        return {error.field or "proposed": [error.message]}


def nested(prefix: str, error: ServiceError) -> ServiceError:
    """The same refusal with its field placed under `prefix` (a stage, a node of the tree)."""
    field = f"{prefix}.{error.field}" if error.field else prefix
    return ServiceError(error.message, code=error.code, field=field)
