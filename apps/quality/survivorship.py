"""Field-level survivorship: which of two duplicate records' values the merged record keeps.

Pure functions over plain dicts (a lead's values keyed by field name, custom
fields as `custom.<key>`), so every rule is testable without a database.

Rules, for each field whose values differ:
- `email`: the most recently updated record's non-empty value;
- `score`: the higher; `captured_at`: the earlier (first capture is the real one);
- `stage`: the further funnel stage by order; a detour (Recycled, Disqualified)
  only survives when neither record is in the funnel;
- everything else: the survivor's value when it has one, else the merged record's.
An explicit choice {"field": "survivor" | "merged"} overrides the rule.
"""

from collections.abc import Mapping

from apps.records.quality import filled
from apps.records.stages import FUNNEL

SURVIVOR = "survivor"
MERGED = "merged"
SIDES = (SURVIVOR, MERGED)

# The lead fields a merge decides, in the order the review page shows them.
MERGE_FIELDS = [
    "first_name", "last_name", "email", "company", "title", "phone", "country",
    "owner", "account", "stage", "score", "captured_at", "external_id",
    "source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
]  # fmt: skip

CUSTOM_PREFIX = "custom."
# Merge fields that are foreign keys, compared by id.
ATTNAMES = {"owner": "owner_id", "account": "account_id", "stage": "stage_id"}


def lead_record(lead) -> dict:
    """A lead as these rules see it: merge fields by name (ids for relations), custom.<key>, updated_at."""
    record = {name: getattr(lead, ATTNAMES.get(name, name)) for name in MERGE_FIELDS}
    for key, value in (lead.custom or {}).items():
        record[f"{CUSTOM_PREFIX}{key}"] = value
    record["updated_at"] = lead.updated_at
    return record


def custom_fields(*records: Mapping) -> list[str]:
    keys = set()
    for record in records:
        keys |= {key for key in record if key.startswith(CUSTOM_PREFIX)}
    return sorted(keys)


def choosable_fields(survivor: Mapping, merged: Mapping) -> list[str]:
    return [*MERGE_FIELDS, *custom_fields(survivor, merged)]


def differing_fields(survivor: Mapping, merged: Mapping) -> list[str]:
    return [f for f in choosable_fields(survivor, merged) if survivor.get(f) != merged.get(f)]


def rule_side(field: str, survivor: Mapping, merged: Mapping, *, stages: Mapping) -> tuple[str, str]:
    """(side, why) the default rule picks for one differing field.

    `stages` maps a stage id to (kind, order); records carry `stage` as a stage id
    and `updated_at` as anything comparable.
    """
    mine, theirs = survivor.get(field), merged.get(field)
    if not filled(mine) and filled(theirs):
        return MERGED, "only the merged record has a value"
    if not filled(theirs):
        return SURVIVOR, "the survivor's value"
    if field == "email":
        if (merged.get("updated_at") or 0) > (survivor.get("updated_at") or 0):
            return MERGED, "the more recently updated record's e-mail"
        return SURVIVOR, "the more recently updated record's e-mail"
    if field == "score":
        return (MERGED, "the higher score") if theirs > mine else (SURVIVOR, "the higher score")
    if field == "captured_at":
        return (MERGED, "the earlier capture") if theirs < mine else (SURVIVOR, "the earlier capture")
    if field == "stage":
        my_kind, my_order = stages.get(mine, ("", 0))
        their_kind, their_order = stages.get(theirs, ("", 0))
        if their_kind == FUNNEL and (my_kind != FUNNEL or their_order > my_order):
            return MERGED, "the further funnel stage"
        return SURVIVOR, "the further funnel stage" if my_kind == FUNNEL else "the survivor's value"
    return SURVIVOR, "the survivor's value"


def resolve(
    survivor: Mapping, merged: Mapping, *, stages: Mapping, explicit: Mapping | None = None
) -> dict[str, str]:
    """For every field whose values differ, the side whose value the survivor ends up with."""
    explicit = explicit or {}
    return {
        field: explicit.get(field) or rule_side(field, survivor, merged, stages=stages)[0]
        for field in differing_fields(survivor, merged)
    }


def unknown_choices(explicit: Mapping, survivor: Mapping, merged: Mapping) -> list[str]:
    """Names in `explicit` that are not fields a merge decides, or whose value is not a side."""
    allowed = set(choosable_fields(survivor, merged))
    return sorted(f for f, side in explicit.items() if f not in allowed or side not in SIDES)


def merged_values(survivor: Mapping, merged: Mapping, sides: Mapping) -> dict:
    """The values the survivor takes from the merged record (only fields that change)."""
    return {field: merged.get(field) for field, side in sides.items() if side == MERGED}
