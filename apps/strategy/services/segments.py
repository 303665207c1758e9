"""Segments and the ICP: writes, membership upkeep and the comparison with everyone else.

Membership is written by one SQL statement per segment (a full recompute: on
create and edit, on "recompute now" and nightly) and by one statement per
record write covering all the organisation's segments of its type
(`refresh_lead`, `refresh_account`, `refresh_on_touch`, called by apps.records.services). The
per-write statement is compiled once and kept in the cache, so a write costs
nothing at all in SQL when the organisation has no segments; any change to a
segment drops the cached statement. The statement joins the segments table, so
a stale cache entry cannot write a membership for a deleted segment.
"""

from dataclasses import dataclass

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.strategy.models import Segment, SegmentMembership, SegmentObject
from apps.strategy.segments import fields, sql

CACHE_SECONDS = 600
EDITABLE = {"key", "name", "description", "object_type", "is_icp", "rules", "threshold", "owner"}


def _cache_key(org_id: int) -> str:
    return f"segments:statements:{org_id}"


def forget_statements(org_id: int) -> None:
    """Drop the cached per-write statements now and again at commit (a reader in between may re-cache)."""
    cache.delete(_cache_key(org_id))
    transaction.on_commit(lambda: cache.delete(_cache_key(org_id)))


def _statements(org_id: int) -> dict:
    """{"lead", "lead_by_account", "account", "lead_on_touch", "account_on_touch"}: (sql, params) or None
    each."""
    cached = cache.get(_cache_key(org_id))
    if cached is not None:
        return cached
    # A segment without rules (one made only to hang positioning on) has no members to keep.
    segments = list(Segment.objects.filter(organization_id=org_id).exclude(rules=[]).order_by("id"))
    leads = [s for s in segments if s.object_type == SegmentObject.LEAD]
    accounts = [s for s in segments if s.object_type == SegmentObject.ACCOUNT]
    reads_account = [s for s in leads if "a" in fields.joins_of([s.rules], fields.LEAD)]
    lead_touches = any("tp" in fields.joins_of([s.rules], fields.LEAD) for s in leads)
    account_touches = any("tp" in fields.joins_of([s.rules], fields.ACCOUNT) for s in accounts)
    statements = {
        "lead": sql.membership_statement(leads, fields.LEAD, sql.RECORD) if leads else None,
        "lead_by_account": (
            sql.membership_statement(reads_account, fields.LEAD, sql.ACCOUNT_LEADS) if reads_account else None
        ),
        "account": sql.membership_statement(accounts, fields.ACCOUNT, sql.RECORD) if accounts else None,
    }
    # A touchpoint changes the behaviour counts: refresh its record only where some rule reads them.
    statements["lead_on_touch"] = statements["lead"] if lead_touches else None
    statements["account_on_touch"] = statements["account"] if account_touches else None
    cache.set(_cache_key(org_id), statements, CACHE_SECONDS)
    return statements


def _run(statement, org_id: int, record: int, now=None) -> tuple[int, int]:
    text, literals = statement
    with connection.cursor() as cursor:
        cursor.execute(text, {**literals, **sql.run_params(org_id, now or timezone.now(), record)})
        return cursor.fetchone()


def refresh_lead(*, org, lead_id: int) -> None:
    """Bring one lead's memberships of every lead segment up to date: one statement, or none."""
    statement = _statements(org.pk)["lead"]
    if statement is not None:
        _run(statement, org.pk, lead_id)


def refresh_account(*, org, account_id: int) -> None:
    """An account's own memberships, and its leads' where lead segments read account fields."""
    statements = _statements(org.pk)
    for name in ("account", "lead_by_account"):
        if statements[name] is not None:
            _run(statements[name], org.pk, account_id)


def refresh_on_touch(*, org, lead_id: int | None, account_id: int | None) -> None:
    """A new touchpoint's lead and account, where a segment scores touches in the last 30 or 90 days:
    at most two statements, and none when no rule reads behaviour."""
    statements = _statements(org.pk)
    if lead_id and statements["lead_on_touch"] is not None:
        _run(statements["lead_on_touch"], org.pk, lead_id)
    if account_id and statements["account_on_touch"] is not None:
        _run(statements["account_on_touch"], org.pk, account_id)


def has_segments(org) -> bool:
    statements = _statements(org.pk)
    return any(value is not None for value in statements.values())


# --- Full recompute -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recomputed:
    members: int
    written: int
    removed: int


def segment_recompute(*, org, segment: Segment, now=None) -> Recomputed:
    """Recompute every membership of one segment in one statement; store its size and time."""
    now = now or timezone.now()
    statement = sql.membership_statement([segment], segment.object_type, sql.ALL)
    with transaction.atomic():
        written, removed = _run(statement, org.pk, None, now)
        members = SegmentMembership.objects.for_org(org).filter(segment=segment).count()
        Segment.objects.for_org(org).filter(pk=segment.pk).update(
            member_count=members, recomputed_at=now, updated_at=now
        )
    segment.member_count, segment.recomputed_at = members, now
    return Recomputed(members=members, written=written, removed=removed)


def organization_recompute(*, org, progress=None) -> dict[str, Recomputed]:
    """Every segment of the organisation, one after the other (the nightly run)."""
    segments = list(Segment.objects.for_org(org).order_by("id"))
    results = {}
    for done, segment in enumerate(segments, start=1):
        results[segment.key] = segment_recompute(org=org, segment=segment)
        if progress:
            progress(done, len(segments))
    return results


# --- Writes ---------------------------------------------------------------------------------------


def _clean(org, segment: Segment, values: dict) -> None:
    unknown = set(values) - EDITABLE
    if unknown:
        name = sorted(unknown)[0]
        raise ServiceError(f"Unknown field {name}.", field=name)
    for name, value in values.items():
        setattr(segment, name, value)
    segment.key = (segment.key or "").strip().lower()
    segment.name = (segment.name or "").strip()
    if not segment.key or not all(c.isalnum() or c in "-_" for c in segment.key):
        raise ServiceError("A key is letters, digits, - and _ only.", field="key")
    if not segment.name:
        raise ServiceError("Name the segment.", field="name")
    if segment.object_type not in SegmentObject.values:
        raise ServiceError("A segment is of leads or of accounts.", field="object_type")
    if isinstance(segment.threshold, bool) or not isinstance(segment.threshold, int) or segment.threshold < 1:
        raise ServiceError("The threshold is a whole number of points, at least 1.", field="threshold")
    if segment.owner is not None and segment.owner.organization_id != org.pk:
        raise ServiceError("The owner must be a member of this organisation.", field="owner")
    segment.rules = fields.clean_rules(org=org, object_type=segment.object_type, rules=segment.rules)
    taken = Segment.objects.for_org(org).filter(key=segment.key).exclude(pk=segment.pk)
    if taken.exists():
        raise ServiceError(f"Another segment has the key {segment.key!r}.", field="key")
    if segment.is_icp and Segment.objects.for_org(org).filter(is_icp=True).exclude(pk=segment.pk).exists():
        raise ServiceError("The organisation has an ICP already; unmark it first.", field="is_icp")


def _save(org, segment: Segment, *, recompute: bool) -> Segment:
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise ServiceError("Another segment has this key, or the ICP is taken.", field="key") from None
    forget_statements(org.pk)
    if recompute:
        segment_recompute(org=org, segment=segment)
    else:
        recompute_later(org=org, segment=segment)
    return segment


def recompute_later(*, org, segment: Segment) -> None:
    """Recompute the segment in full in a worker, once this transaction commits. Until it has, the
    segment is `recompute_pending` (stamped after its last recompute). A task lost on the way is made up
    by the nightly recompute."""
    from apps.strategy.segments import tasks

    Segment.objects.for_org(org).filter(pk=segment.pk).update(updated_at=timezone.now())
    transaction.on_commit(lambda: tasks.segment_recompute.delay(segment.pk))


@transaction.atomic
def segment_create(*, org, recompute: bool = True, **values) -> Segment:
    """A new segment, its members computed now, or with recompute=False by a worker (pages and the API:
    a full recompute of a million leads takes seconds)."""
    segment = Segment(organization=org, rules=values.pop("rules", None))
    _clean(org, segment, values)
    return _save(org, segment, recompute=recompute)


def _names_segment(document, key: str) -> bool:
    """Whether a JSON document (routing rules, a journey's entry or steps) refers to this segment key: a
    condition on `segments`, a "segment joined" entry or a branch on a segment."""
    if isinstance(document, list):
        return any(_names_segment(item, key) for item in document)
    if not isinstance(document, dict):
        return False
    if document.get("field") == "segments":
        value = document.get("value")
        if value == key or (isinstance(value, list) and key in value):
            return True
    if document.get("segment") == key:
        return True
    return any(_names_segment(value, key) for value in document.values() if isinstance(value, dict | list))


def key_uses(*, org, key: str) -> list[str]:
    """Where routing and journeys refer to a segment by its key: they would silently stop matching if it
    were renamed or deleted, so those are refused while any of these remain."""
    from apps.execution.models import Journey, JourneyStatus, RoutingPolicyVersion

    uses = []
    versions = RoutingPolicyVersion.objects.for_org(org).exclude(status=RoutingPolicyVersion.Status.RETIRED)
    for version in versions.select_related("policy").order_by("policy_id", "number"):
        if _names_segment(version.rules, key):
            uses.append(f"{version.policy.name} (routing, {version.get_status_display().lower()})")
    journeys = (
        Journey.objects.for_org(org).exclude(status=JourneyStatus.ARCHIVED).select_related("current_version")
    )
    for journey in journeys.order_by("name"):
        steps = journey.current_version.steps if journey.current_version_id else []
        if _names_segment([journey.entry, journey.draft_steps, journey.exit_goals, steps], key):
            uses.append(f"{journey.name} (journey)")
    return uses


def _check_unused(org, key: str, doing: str) -> None:
    uses = key_uses(org=org, key=key)
    if uses:
        raise ServiceError(
            f"Cannot {doing} segment {key!r}: {', '.join(uses)} refer to it by key. Change those first.",
            field="key",
        )


@transaction.atomic
def segment_update(*, org, segment: Segment, recompute: bool = True, **values) -> Segment:
    key = segment.key
    if "object_type" in values and values["object_type"] != segment.object_type:
        SegmentMembership.objects.for_org(org).filter(segment=segment).delete()
    _clean(org, segment, values)
    if segment.key != key:
        renamed, segment.key = segment.key, key  # a refused rename leaves the instance as it was
        _check_unused(org, key, "rename")
        segment.key = renamed
    return _save(org, segment, recompute=recompute)


@transaction.atomic
def segment_delete(*, org, segment: Segment) -> None:
    _check_unused(org, segment.key, "delete")
    segment.delete()
    forget_statements(org.pk)
