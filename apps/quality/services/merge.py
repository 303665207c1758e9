"""Merging a duplicate lead into the one that survives, and undoing it.

What a merge does, in one transaction, with both leads locked:
1. decides every differing field by the survivorship rules
   (apps.quality.survivorship) or the caller's explicit choices;
2. writes the survivor's new values, recomputing its channel (when a source
   field changed) and its completeness;
3. re-points the merged lead's rows to the survivor: touchpoints, opportunities
   whose primary contact it was (REPOINTED), and its open duplicate pairs with
   third leads (unless the survivor already has a pair with that lead);
4. marks the pair's own DuplicateCandidate rows merged and sets
   `merged.merged_into = survivor`, which hides the merged lead from lists;
5. records a Merge row: `field_choices` (the side kept for every differing
   field), `survivor_before` (the survivor's fields before), and `moved` (ids of
   re-pointed rows by kind, the previous pair statuses, and under "state" the
   survivor's values right after the merge and the merged lead's before/after).

Stage history is never rewritten. StageEvent rows are append-only (a trigger
refuses UPDATE), so both leads keep their own events: the survivor may take the
merged lead's further stage (with the time it was entered), and the events that
explain it stay on the merged lead. A person's timeline is the union of the
events of the survivor and of every lead merged into it
(apps.quality.selectors.person_lead_ids / person_stage_events).

Undo reverses each step. It restores a survivor field only when it still holds
the value the merge wrote: a field someone changed after the merge keeps the
newer value and is reported. It is refused when the merge was already undone or
when a later merge involves either lead (that one must be undone first).

Audit: the lead, opportunity and rule updates are captured by the audit
triggers with `merge` (or `merge_undone`) = the Merge id in their context.
"""

from dataclasses import dataclass, field
from datetime import datetime

import pghistory
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.errors import ServiceError
from apps.measurement.services import rollup
from apps.quality import survivorship
from apps.quality.cache import overview_invalidate
from apps.quality.survivorship import MERGED
from apps.records import quality
from apps.records.models import (
    DuplicateCandidate,
    LifecycleStage,
    Merge,
    ObjectType,
    Opportunity,
    Touchpoint,
)
from apps.records.models import Lead as LeadModel
from apps.records.services import channel_for

# Rows that belong to a person and follow the survivor: (kind, model, foreign key to Lead).
# A new relation to Lead that should follow a merge is added here; undo needs nothing more.
REPOINTED = [
    ("touchpoints", Touchpoint, "lead"),
    ("opportunities", Opportunity, "primary_contact"),
]

# The survivor's columns a merge may change, snapshotted before and after it.
SNAPSHOT_FIELDS = [
    "email", "first_name", "last_name", "title", "phone", "company", "country",
    "source", "channel", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    "custom", "stage_id", "stage_entered_at", "owner_id", "account_id", "score", "captured_at",
    "completeness", "external_id", "updated_at",
]  # fmt: skip
_DATETIMES = {"stage_entered_at", "captured_at", "updated_at"}
# Computed from other fields: recomputed when they cannot be restored, never reported as kept.
_DERIVED = {"channel", "completeness", "updated_at"}
_SOURCE_FIELDS = {"source", "utm_source", "utm_medium"}


def _to_json(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return dict(value)
    return value


def _from_json(name: str, value):
    if name in _DATETIMES and isinstance(value, str):
        return parse_datetime(value)
    return value


def _snapshot(lead) -> dict:
    return {name: _to_json(getattr(lead, name)) for name in SNAPSHOT_FIELDS}


def _lock(org, survivor_id: int, merged_id: int):
    # Locked in id order, so two merges of the same pair cannot deadlock.
    leads = {
        lead.pk: lead
        for lead in LeadModel.objects.select_for_update()
        .filter(organization=org, pk__in=[survivor_id, merged_id])
        .order_by("pk")
    }
    return leads[survivor_id], leads[merged_id]


def _apply(org, keep, lose, sides: dict) -> None:
    """Set on `keep` (in memory) every value the merge takes from `lose`, and the derived fields."""
    taken = [f for f, side in sides.items() if side == MERGED]
    custom = dict(keep.custom or {})
    for name in taken:
        if name.startswith(survivorship.CUSTOM_PREFIX):
            key = name.removeprefix(survivorship.CUSTOM_PREFIX)
            if key in (lose.custom or {}):
                custom[key] = lose.custom[key]
            else:
                custom.pop(key, None)
        elif name == "stage":
            keep.stage_id, keep.stage_entered_at = lose.stage_id, lose.stage_entered_at
        else:
            attname = survivorship.ATTNAMES.get(name, name)
            setattr(keep, attname, getattr(lose, attname))
    keep.custom = custom
    if _SOURCE_FIELDS & set(taken):
        keep.channel = channel_for(org, keep.source, keep.utm_source, keep.utm_medium)
    keep.completeness = quality.completeness(org=org, object_type=ObjectType.LEAD, record=keep)


def _repoint_rows(org, keep, lose) -> dict[str, list[int]]:
    moved = {}
    for kind, model, fk in REPOINTED:
        ids = list(
            model.objects.for_org(org).filter(**{fk: lose}).order_by("pk").values_list("pk", flat=True)
        )
        if ids:
            model.objects.filter(pk__in=ids).update(**{fk: keep})
        moved[kind] = ids
    return moved


def _repoint_pairs(org, keep, lose) -> dict:
    """Close the pair itself; hand the merged lead's other pairs to the survivor unless they repeat one."""
    pairs = DuplicateCandidate.objects.for_org(org)
    own = pairs.filter(Q(lead=keep, other=lose) | Q(lead=lose, other=keep))
    statuses = {str(pk): status for pk, status in own.values_list("pk", "status")}
    own.update(status=DuplicateCandidate.Status.MERGED)

    known = {
        frozenset(pair)
        for pair in pairs.filter(Q(lead=keep) | Q(other=keep)).values_list("lead_id", "other_id")
    }
    as_lead, as_other = [], []
    for pk, lead_id, other_id in (
        pairs.filter(Q(lead=lose) | Q(other=lose))
        .exclude(pk__in=statuses)
        .values_list("pk", "lead_id", "other_id")
    ):
        partner = other_id if lead_id == lose.pk else lead_id
        pair = frozenset({keep.pk, partner})
        if partner == keep.pk or pair in known:
            continue  # a repeat of a pair the survivor already has: it stays with the hidden lead
        known.add(pair)
        (as_lead if lead_id == lose.pk else as_other).append(pk)
    if as_lead:
        pairs.filter(pk__in=as_lead).update(lead=keep)
    if as_other:
        pairs.filter(pk__in=as_other).update(other=keep)
    return {"as_lead": as_lead, "as_other": as_other, "statuses": statuses}


@transaction.atomic
def lead_merge(*, org, survivor, merged, field_choices=None, actor=None) -> Merge:
    """Merge `merged` into `survivor` (see the module docstring); returns the Merge record.

    `field_choices` maps a field name ("email", "custom.<key>") to "survivor" or
    "merged" and overrides the rules for that field; an unknown name is a
    ServiceError on "fields".
    """
    if survivor.organization_id != org.pk:
        raise ServiceError("No such lead in this organisation.", code="not_found", field="survivor")
    if merged.organization_id != org.pk:
        raise ServiceError(f"No other lead with id {merged.pk} here.", code="not_found", field="other")
    if survivor.pk == merged.pk:
        raise ServiceError("A lead cannot be merged into itself.", code="same_lead", field="other")
    if field_choices is not None and not isinstance(field_choices, dict):
        raise ServiceError("Choices are an object of field → survivor | merged.", field="fields")

    keep, lose = _lock(org, survivor.pk, merged.pk)
    for lead, role in ((keep, "survivor"), (lose, "other")):
        if lead.merged_into_id:
            raise ServiceError(
                f"Lead {lead.pk} was already merged into lead {lead.merged_into_id}.",
                code="already_merged",
                field=role,
            )
    mine, theirs = survivorship.lead_record(keep), survivorship.lead_record(lose)
    unknown = survivorship.unknown_choices(field_choices or {}, mine, theirs)
    if unknown:
        raise ServiceError(
            f"Cannot choose {unknown[0]!r}: name a lead field and “survivor” or “merged”.", field="fields"
        )
    stages = {
        s.pk: (s.kind, s.order)
        for s in LifecycleStage.objects.for_org(org).filter(pk__in={keep.stage_id, lose.stage_id})
    }
    sides = survivorship.resolve(mine, theirs, stages=stages, explicit=field_choices)

    now = timezone.now()
    merge = Merge.objects.create(
        organization=org,
        survivor=keep,
        merged=lose,
        field_choices=sides,
        survivor_before=_snapshot(keep),
        moved={},
        merged_by=actor,
    )
    merged_before = {"external_id": lose.external_id, "updated_at": _to_json(lose.updated_at)}
    with pghistory.context(merge=merge.pk):
        # The merged lead first: the survivor may take its external id (unique per organisation).
        lose_changes = {"merged_into": keep, "updated_at": now}
        if sides.get("external_id") == MERGED:
            lose_changes["external_id"] = None
        LeadModel.objects.filter(pk=lose.pk).update(**lose_changes)
        _apply(org, keep, lose, sides)
        keep.updated_at = now
        LeadModel.objects.filter(pk=keep.pk).update(**{name: getattr(keep, name) for name in SNAPSHOT_FIELDS})
        moved = _repoint_rows(org, keep, lose)
        moved["duplicates"] = _repoint_pairs(org, keep, lose)

    keep.refresh_from_db()
    moved["state"] = {
        "survivor_after": _snapshot(keep),
        "merged_before": merged_before,
        "merged_after": {
            "external_id": lose_changes.get("external_id", lose.external_id),
            "updated_at": _to_json(now),
        },
    }
    merge.moved = moved
    merge.save(update_fields=["moved", "updated_at"])
    overview_invalidate(org=org)
    _refresh_segments(org, keep.pk, lose.pk)
    rollup.mark_leads_dirty(org, [keep.pk, lose.pk], reason="lead merge")
    # The caller's instances were loaded before the lock; bring them up to date.
    survivor.refresh_from_db()
    merged.refresh_from_db()
    return merge


@dataclass
class _Restore:
    values: dict = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)  # changed after the merge: left alone
    recompute: bool = False  # a derived field changed since: recompute it from the restored values


def _restore_plan(current: dict, before: dict, after: dict, now) -> _Restore:
    """Three-way: restore a field only where it still holds what the merge wrote."""
    plan = _Restore()
    for name in SNAPSHOT_FIELDS:
        if name == "updated_at":
            continue
        if current.get(name) == after.get(name):
            if current.get(name) != before.get(name):
                plan.values[name] = _from_json(name, before.get(name))
        elif name in _DERIVED:
            plan.recompute = True
        else:
            plan.kept.append(name)
    untouched_since = (
        not plan.kept and not plan.recompute and current["updated_at"] == after.get("updated_at")
    )
    plan.values["updated_at"] = _from_json("updated_at", before["updated_at"]) if untouched_since else now
    return plan


@transaction.atomic
def merge_undo(*, org, merge: Merge, actor=None) -> Merge:
    """Undo a merge: the survivor's fields, the re-pointed rows and the merged lead come back.

    Returns the Merge with `undone_at` set and, in `moved["state"]["kept"]`, the
    survivor fields that were changed after the merge and so were left alone.
    """
    if merge.organization_id != org.pk:
        raise ServiceError("No such merge in this organisation.", code="not_found")
    merge = Merge.objects.select_for_update().get(pk=merge.pk, organization=org)
    if merge.undone_at:
        raise ServiceError(
            f"This merge was already undone on {timezone.localtime(merge.undone_at):%Y-%m-%d %H:%M}.",
            code="already_undone",
        )
    both = [merge.survivor_id, merge.merged_id]
    later = (
        Merge.objects.for_org(org)
        .filter(pk__gt=merge.pk, undone_at__isnull=True)
        .filter(Q(survivor_id__in=both) | Q(merged_id__in=both))
        .order_by("pk")
        .first()
    )
    if later is not None:
        raise ServiceError(
            f"Lead {later.survivor_id} and lead {later.merged_id} were merged after this one "
            f"(merge #{later.pk}); undo that merge first.",
            code="later_merge",
        )

    keep, lose = _lock(org, merge.survivor_id, merge.merged_id)
    state = merge.moved.get("state", {})
    now = timezone.now()
    plan = _restore_plan(_snapshot(keep), merge.survivor_before, state.get("survivor_after", {}), now)
    with pghistory.context(merge_undone=merge.pk):
        # The survivor first: it may hold the merged lead's external id.
        for name, value in plan.values.items():
            setattr(keep, name, value)
        if plan.recompute:
            keep.channel = channel_for(org, keep.source, keep.utm_source, keep.utm_medium)
            keep.completeness = quality.completeness(org=org, object_type=ObjectType.LEAD, record=keep)
            plan.values.update(channel=keep.channel, completeness=keep.completeness)
        LeadModel.objects.filter(pk=keep.pk).update(**plan.values)

        merged_before, merged_after = state.get("merged_before", {}), state.get("merged_after", {})
        lose_changes = {"merged_into": None}
        if (
            merged_before.get("external_id") != merged_after.get("external_id")
            and "external_id" not in plan.kept
        ):
            lose_changes["external_id"] = merged_before.get("external_id")
        if _to_json(lose.updated_at) == merged_after.get("updated_at"):
            lose_changes["updated_at"] = _from_json("updated_at", merged_before.get("updated_at"))
        else:
            lose_changes["updated_at"] = now
        LeadModel.objects.filter(pk=lose.pk).update(**lose_changes)

        for kind, model, fk in REPOINTED:
            ids = merge.moved.get(kind) or []
            if ids:
                model.objects.for_org(org).filter(pk__in=ids, **{fk: keep}).update(**{fk: lose})
        _restore_pairs(org, keep, lose, merge.moved.get("duplicates") or {})

    merge.undone_at = now
    merge.moved = {
        **merge.moved,
        "state": {**state, "kept": plan.kept, "undone_by": getattr(actor, "pk", None)},
    }
    merge.save(update_fields=["undone_at", "moved", "updated_at"])
    overview_invalidate(org=org)
    _refresh_segments(org, keep.pk, lose.pk)
    rollup.mark_leads_dirty(org, [keep.pk, lose.pk], reason="lead merge undone")
    return merge


def _refresh_segments(org, *lead_ids: int) -> None:
    """Both leads' segment memberships follow the merge: a merged-away lead belongs to none."""
    from apps.strategy.services import segments

    for lead_id in lead_ids:
        segments.refresh_lead(org=org, lead_id=lead_id)


def _restore_pairs(org, keep, lose, moved: dict) -> None:
    pairs = DuplicateCandidate.objects.for_org(org)
    if moved.get("as_lead"):
        pairs.filter(pk__in=moved["as_lead"], lead=keep).update(lead=lose)
    if moved.get("as_other"):
        pairs.filter(pk__in=moved["as_other"], other=keep).update(other=lose)
    by_status: dict[str, list[int]] = {}
    for pk, status in (moved.get("statuses") or {}).items():
        by_status.setdefault(status, []).append(int(pk))
    for status, ids in by_status.items():
        pairs.filter(pk__in=ids).update(status=status)
