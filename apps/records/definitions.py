"""The organisation's own definitions around its records: custom fields, saved views, stage diffs.

Writes here follow the services pattern (atomic, keyword-only, ServiceError);
`snapshot_diff` and `stage_changes` are pure functions over plain data.
Changing a stage itself goes through `services.stage_update`, which publishes
a new StageDefinitionVersion.
"""

import re
from dataclasses import dataclass, field

from django.db import transaction

from apps.core.errors import ServiceError

from . import conditions
from .models import CustomField, LifecycleStage, ObjectType, SavedView

# --- Custom fields -------------------------------------------------------------------

# Lower-case letters, digits and underscores, starting with a letter: the key is
# used as `custom.<key>` in rules, filters, the API and ORM lookups.
CUSTOM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
MAX_CHOICES = 200


def _clean_choices(choices) -> list[str]:
    if isinstance(choices, str):
        choices = choices.splitlines()
    cleaned, seen = [], set()
    for choice in choices or []:
        text = str(choice).strip()
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            cleaned.append(text)
    return cleaned


@transaction.atomic
def custom_field_create(
    *,
    org,
    object_type: str,
    key: str,
    label: str,
    type: str = CustomField.Type.TEXT,  # named like the model field, as every service argument is
    choices=None,
    required: bool = False,
) -> CustomField:
    """Define a custom field on leads, accounts or opportunities.

    Values already stored are not touched; from now on the field is validated
    (`services.clean_custom`) on every write through the API, imports and the UI.
    """
    if object_type not in ObjectType.values:
        raise ServiceError("Pick leads, accounts or opportunities.", field="object_type")
    key = (key or "").strip()
    if not CUSTOM_KEY.match(key):
        raise ServiceError(
            "Use lower-case letters, digits and underscores, starting with a letter (e.g. fiscal_year).",
            field="key",
        )
    label = (label or "").strip()
    if not label:
        raise ServiceError("Give the field a label people will read.", field="label")
    if type not in CustomField.Type.values:
        raise ServiceError(f"Unknown type {type!r}.", field="type")
    choices = _clean_choices(choices)
    if type == CustomField.Type.CHOICE:
        if not choices:
            raise ServiceError("A choice field needs at least one choice (one per line).", field="choices")
        if len(choices) > MAX_CHOICES:
            raise ServiceError(f"At most {MAX_CHOICES} choices.", field="choices")
    elif choices:
        raise ServiceError("Only choice fields take a list of choices.", field="choices")
    if CustomField.objects.for_org(org).filter(object_type=object_type, key=key).exists():
        raise ServiceError(f"There is already a field {key!r} on {object_type}s.", field="key")
    return CustomField.objects.create(
        organization=org,
        object_type=object_type,
        key=key,
        label=label[:120],
        type=type,
        choices=choices,
        required=bool(required),
    )


@transaction.atomic
def custom_field_delete(*, org, custom_field: CustomField) -> None:
    """Stop defining a field. Values stay on the records (and in the audit trail) but are no longer shown."""
    if custom_field.organization_id != org.pk:
        raise ServiceError("No such custom field in this organisation.", code="not_found")
    custom_field.delete()


# --- Saved views ---------------------------------------------------------------------


@transaction.atomic
def saved_view_create(
    *,
    org,
    owner,
    object_type: str,
    name: str,
    visibility: str = SavedView.Visibility.PRIVATE,
    team=None,
    filters: dict | None = None,
    columns: list[str] | None = None,
    sort: str = "",
) -> SavedView:
    """Save a list's filters, columns and sort under a name, for its owner, a team or everyone."""
    if owner.organization_id != org.pk:
        raise ServiceError("The owner must be a member of this organisation.", field="owner")
    if object_type not in ObjectType.values:
        raise ServiceError("Unknown list.", field="object_type")
    name = (name or "").strip()
    if not name:
        raise ServiceError("Name the view.", field="name")
    if visibility not in SavedView.Visibility.values:
        raise ServiceError("Pick who sees the view.", field="visibility")
    if visibility == SavedView.Visibility.TEAM:
        if team is None:
            raise ServiceError("Pick the team that sees the view.", field="team")
        if team.organization_id != org.pk or not team.memberships.filter(membership=owner).exists():
            raise ServiceError("Share views only with a team you belong to.", field="team")
    else:
        team = None
    filters = {str(k): str(v) for k, v in (filters or {}).items() if v not in (None, "")}
    columns = [str(c) for c in (columns or [])]
    return SavedView.objects.create(
        organization=org,
        owner=owner,
        object_type=object_type,
        name=name[:80],
        visibility=visibility,
        team=team,
        filters=filters,
        columns=columns,
        sort=(sort or "")[:60],
    )


@transaction.atomic
def saved_view_delete(*, org, view: SavedView, membership) -> None:
    if view.organization_id != org.pk:
        raise ServiceError("No such view in this organisation.", code="not_found")
    if view.owner_id != membership.pk:
        raise ServiceError("Only the person who saved a view can delete it.", code="forbidden")
    view.delete()


# --- Stage definitions -------------------------------------------------------------------

# Snapshot fields in the order a diff lists them, with their labels.
SNAPSHOT_FIELDS = {
    "name": "Name",
    "order": "Order",
    "kind": "Kind",
    "entry_criteria": "Entry criterion",
    "owner_team": "Owner team",
    "rule": "Machine rule",
}


def rule_parts(rule) -> list[str]:
    """Each condition of a machine rule as words ("score at least 50"); an unreadable rule says so."""
    try:
        return [conditions.describe(c) for c in conditions.validate(rule or [])]
    except (conditions.ConditionError, KeyError, TypeError):
        return ["(a rule that cannot be read; edit the stage to fix it)"]


def rule_text(rule) -> str:
    """A machine rule in words: "country is one of FR, DE and score at least 50"; "none" when empty."""
    return " and ".join(rule_parts(rule)) if rule else "none"


def _shown(name: str, value) -> str:
    if name == "rule":
        return rule_text(value)
    if value in (None, ""):
        return "—"
    return str(value)


@dataclass
class StageDiff:
    key: str
    name: str
    change: str  # added, removed, changed
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (label, before, after)


def snapshot_diff(before: list[dict], after: list[dict]) -> list[StageDiff]:
    """What changed between two published stage snapshots, stage by stage (matched on key)."""
    old = {s["key"]: s for s in before or []}
    new = {s["key"]: s for s in after or []}
    diffs = []
    for stage in sorted(new.values(), key=lambda s: (s.get("order", 0), s["key"])):
        key = stage["key"]
        if key not in old:
            diffs.append(
                StageDiff(
                    key,
                    stage.get("name", key),
                    "added",
                    [(label, "—", _shown(f, stage.get(f))) for f, label in SNAPSHOT_FIELDS.items()],
                )
            )
            continue
        changed = [
            (label, _shown(f, old[key].get(f)), _shown(f, stage.get(f)))
            for f, label in SNAPSHOT_FIELDS.items()
            if old[key].get(f) != stage.get(f)
        ]
        if changed:
            diffs.append(StageDiff(key, stage.get("name", key), "changed", changed))
    for key, stage in old.items():
        if key not in new:
            diffs.append(
                StageDiff(
                    key,
                    stage.get("name", key),
                    "removed",
                    [(label, _shown(f, stage.get(f)), "—") for f, label in SNAPSHOT_FIELDS.items()],
                )
            )
    return diffs


def stage_changes(stage: LifecycleStage, **fields) -> dict:
    """Only the fields whose value differs from the stage's, so an unchanged form publishes nothing."""
    changed = {}
    for name, value in fields.items():
        current = getattr(stage, name)
        if name == "owner_team":
            if (value.pk if value else None) != stage.owner_team_id:
                changed[name] = value
        elif (current or ("" if name != "rule" else [])) != (value or ("" if name != "rule" else [])):
            changed[name] = value
    return changed
