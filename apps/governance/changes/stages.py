"""Stage definitions: every lifecycle stage's name, order, written entry criterion, owner team and rule.

The document is {"stages": [{"key", "name", "order", "kind", "entry_criteria", "owner_team", "rule"}]}
with the owner team as a team id. Stages are matched by key: a listed key that does not exist yet adds
that stage, an existing key left out removes it (only a stage the organisation added, with no lead in
it: `records.services.stage_delete`), and a stage's kind never changes. Applying adds, then updates,
then removes, each through the records services, so every step publishes a definition version.
"""

from apps.accounts.models import Team
from apps.core.errors import ServiceError
from apps.records import services as records
from apps.records.models import LifecycleStage

from . import base

SUBJECT = "stages"
EDITABLE = ("name", "order", "entry_criteria", "owner_team", "rule")
STAGE_KEYS = {"key": str, "name": str, "order": int, "kind": str, "entry_criteria": str,
              "owner_team": (int, type(None)), "rule": list}  # fmt: skip


def export(org, target=None) -> dict:
    return {
        "stages": [
            {
                "key": stage.key,
                "name": stage.name,
                "order": stage.order,
                "kind": stage.kind,
                "entry_criteria": stage.entry_criteria,
                "owner_team": stage.owner_team_id,
                "rule": stage.rule,
            }
            for stage in LifecycleStage.objects.for_org(org).order_by("order", "id")
        ]
    }


def target_label(org, target=None) -> str:
    return "Lifecycle stages"


def validate(org, target, proposed) -> dict[str, list[str]]:
    errors = base.require_object(proposed, {"stages": list})
    if errors:
        return errors
    current = {s.key: s for s in LifecycleStage.objects.for_org(org)}
    seen = set()
    for index, stage in enumerate(proposed["stages"]):
        where = f"stages[{index}]"
        if not isinstance(stage, dict):
            errors[where] = ["A stage is an object."]
            continue
        for key, message in base.require_object(stage, STAGE_KEYS).items():
            errors[f"{where}.{key}"] = message
        key = stage.get("key")
        if key in seen:
            errors[f"{where}.key"] = [f"The stage {key!r} is listed twice."]
        seen.add(key)
        if key in current and stage.get("kind") != current[key].kind:
            errors[f"{where}.kind"] = ["A stage's kind (funnel or detour) cannot change."]
    return errors or base.dry_run(apply, org, target, proposed)


def apply(org, target, proposed, by=None, note: str = "") -> None:
    """Add the new stages, publish each changed one through `stage_update`, then remove the stages left
    out (one definition version per step)."""
    current = {s.key: s for s in LifecycleStage.objects.for_org(org).select_related("owner_team")}
    teams = {t.pk: t for t in Team.objects.for_org(org)}
    actor = getattr(by, "user", None)
    for index, wanted in enumerate(proposed["stages"]):
        if wanted["key"] in current:
            continue
        team = wanted["owner_team"]
        if team is not None and team not in teams:
            raise ServiceError("Pick a team of this organisation.", field=f"stages[{index}].owner_team")
        fields = {name: wanted[name] for name in ("key", "name", "order", "kind", "entry_criteria", "rule")}
        try:
            records.stage_create(org=org, owner_team=teams.get(team), actor=actor, note=note, **fields)
        except ServiceError as error:
            raise base.nested(f"stages[{index}]", error) from None
    for index, wanted in enumerate(proposed["stages"]):
        stage = current.get(wanted["key"])
        if stage is None:
            continue
        changes = {}
        for name in EDITABLE:
            value = wanted[name]
            if name == "owner_team":
                if value is not None and value not in teams:
                    raise ServiceError(
                        "Pick a team of this organisation.", field=f"stages[{index}].owner_team"
                    )
                if value != stage.owner_team_id:
                    changes["owner_team"] = teams.get(value)
            elif value != getattr(stage, name):
                changes[name] = value
        if not changes:
            continue
        try:
            records.stage_update(org=org, stage=stage, actor=actor, note=note, **changes)
        except ServiceError as error:
            raise base.nested(f"stages[{index}]", error) from None
    listed = {wanted["key"] for wanted in proposed["stages"]}
    for key, stage in current.items():
        if key not in listed:
            try:
                records.stage_delete(org=org, stage=stage, actor=actor, note=note)
            except ServiceError as error:
                raise ServiceError(error.message, field="stages") from None


diff = base.diff
