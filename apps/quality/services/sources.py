"""Source normalisation: raw source / UTM values mapped to canonical channels.

A mapping applies on ingest at once (apps.records.services.channel_for reads
the table); `sources_reapply` rewrites history with the same precedence —
`source`, then `utm_source`, then `utm_medium`, case-insensitive — in one
`UPDATE … FROM` per table and id window.
"""

from collections.abc import Callable

import pghistory
from django.db import connection, transaction
from django.db.models import Max, Min

from apps.core.errors import ServiceError
from apps.quality.cache import overview_invalidate
from apps.quality.models import QualityJob
from apps.records.models import Lead, SourceMapping, Touchpoint
from apps.records.normalize import normalize_text

from .jobs import job_request

# Rows per statement when rewriting history: big enough to be set-based, small
# enough that each transaction (and its audit events) stays short.
BATCH = 50_000

_FIELDS = {"raw_value", "channel", "source_name"}


def normalize_raw_value(value) -> str:
    """How a raw value is stored and compared: trimmed, spaces collapsed, lower-case."""
    return normalize_text(value).lower()


def _clean(org, fields: dict, *, instance: SourceMapping | None = None) -> dict:
    cleaned = {}
    if "raw_value" in fields:
        raw = normalize_raw_value(fields["raw_value"])
        if not raw:
            raise ServiceError("Enter the raw source or UTM value to map.", field="raw_value")
        if len(raw) > 255:
            raise ServiceError("A raw value is at most 255 characters.", field="raw_value")
        clash = SourceMapping.objects.for_org(org).filter(raw_value=raw)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        existing = clash.first()
        if existing is not None:
            raise ServiceError(
                f"“{raw}” is already mapped to {existing.channel}; edit or delete that mapping.",
                code="duplicate",
                field="raw_value",
            )
        cleaned["raw_value"] = raw
    if "channel" in fields:
        channel = normalize_text(fields["channel"])
        if not channel:
            raise ServiceError("Name the canonical channel, e.g. Paid Social.", field="channel")
        if len(channel) > 60:
            raise ServiceError("A channel name is at most 60 characters.", field="channel")
        cleaned["channel"] = channel
    if "source_name" in fields:
        source_name = normalize_text(fields["source_name"])
        if len(source_name) > 120:
            raise ServiceError("A source name is at most 120 characters.", field="source_name")
        cleaned["source_name"] = source_name
    return cleaned


@transaction.atomic
def source_mapping_create(*, org, raw_value: str, channel: str, source_name: str = "", actor=None):
    cleaned = _clean(org, {"raw_value": raw_value, "channel": channel, "source_name": source_name})
    overview_invalidate(org=org)
    return SourceMapping.objects.create(organization=org, **cleaned)


@transaction.atomic
def source_mapping_update(*, org, mapping: SourceMapping, actor=None, **fields) -> SourceMapping:
    unknown = set(fields) - _FIELDS
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    if mapping.organization_id != org.pk:
        raise ServiceError("No such mapping in this organisation.", code="not_found")
    for key, value in _clean(org, fields, instance=mapping).items():
        setattr(mapping, key, value)
    mapping.save()
    overview_invalidate(org=org)
    return mapping


@transaction.atomic
def source_mapping_delete(*, org, mapping: SourceMapping, actor=None) -> None:
    if mapping.organization_id != org.pk:
        raise ServiceError("No such mapping in this organisation.", code="not_found")
    mapping.delete()
    overview_invalidate(org=org)


def sources_reapply_request(*, org, actor=None) -> QualityJob:
    """Queue `sources_reapply` for a worker (history can be millions of rows)."""
    return job_request(org=org, kind=QualityJob.Kind.SOURCES_REAPPLY, actor=actor)


# The channel each row would get on ingest today: the first of source,
# utm_source, utm_medium that has a mapping, for the rows of one id window.
# A lead's channel is always derived from its values, so it is recomputed,
# cleared included, when a mapping was removed.
# `updated_at` moves with the channel: the nightly rollup re-reads the days of the leads
# edited since its last run.
_LEADS_SQL = """
    UPDATE records_lead AS l SET channel = m.channel, updated_at = clock_timestamp()
    FROM (
        SELECT x.id, COALESCE(ms.channel, mu.channel, mm.channel, '') AS channel
        FROM records_lead AS x
        LEFT JOIN records_sourcemapping AS ms
            ON ms.organization_id = x.organization_id AND ms.raw_value = lower(btrim(x.source))
        LEFT JOIN records_sourcemapping AS mu
            ON mu.organization_id = x.organization_id AND mu.raw_value = lower(btrim(x.utm_source))
        LEFT JOIN records_sourcemapping AS mm
            ON mm.organization_id = x.organization_id AND mm.raw_value = lower(btrim(x.utm_medium))
        WHERE x.organization_id = %(org)s AND x.id >= %(lo)s AND x.id < %(hi)s
    ) AS m
    WHERE l.id = m.id AND l.organization_id = %(org)s AND l.id >= %(lo)s AND l.id < %(hi)s
      AND l.channel IS DISTINCT FROM m.channel
"""
# A touchpoint may arrive with its channel set explicitly by the sender, which
# nothing distinguishes from a mapped one: only rows that a mapping covers change.
_TOUCHPOINTS_SQL = """
    UPDATE records_touchpoint AS t SET channel = m.channel, updated_at = clock_timestamp()
    FROM (
        SELECT x.id, COALESCE(ms.channel, mu.channel, mm.channel, '') AS channel
        FROM records_touchpoint AS x
        LEFT JOIN records_sourcemapping AS ms
            ON ms.organization_id = x.organization_id AND ms.raw_value = lower(btrim(x.source))
        LEFT JOIN records_sourcemapping AS mu
            ON mu.organization_id = x.organization_id AND mu.raw_value = lower(btrim(x.utm_source))
        LEFT JOIN records_sourcemapping AS mm
            ON mm.organization_id = x.organization_id AND mm.raw_value = lower(btrim(x.utm_medium))
        WHERE x.organization_id = %(org)s AND x.id >= %(lo)s AND x.id < %(hi)s
    ) AS m
    WHERE t.id = m.id AND t.organization_id = %(org)s AND t.id >= %(lo)s AND t.id < %(hi)s
      AND m.channel <> '' AND t.channel IS DISTINCT FROM m.channel
"""


def id_windows(queryset, batch_size: int) -> list[tuple[int, int]]:
    bounds = queryset.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return []
    return [(lo, lo + batch_size) for lo in range(bounds["lo"], bounds["hi"] + 1, batch_size)]


def sources_reapply(
    *, org, batch_size: int = BATCH, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Recompute Lead.channel and Touchpoint.channel over history; returns rows changed per table.

    Each id window is its own transaction, so a large history is rewritten in
    steps that report progress; the result does not depend on where a run
    stopped, so running it again (or twice at once) is safe.
    """
    plan = [("leads", _LEADS_SQL, window) for window in id_windows(Lead.objects.for_org(org), batch_size)] + [
        ("touchpoints", _TOUCHPOINTS_SQL, window)
        for window in id_windows(Touchpoint.objects.for_org(org), batch_size)
    ]
    changed = {"leads": 0, "touchpoints": 0}
    for step, (table, sql, (lo, hi)) in enumerate(plan, start=1):
        # The audit trail records each changed lead; the context says why it changed.
        with transaction.atomic(), pghistory.context(sources_reapplied=True), connection.cursor() as cursor:
            cursor.execute(sql, {"org": org.pk, "lo": lo, "hi": hi})
            changed[table] += cursor.rowcount
        if progress:
            progress(step, len(plan))
    return changed
