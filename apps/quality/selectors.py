"""Reads of the data-quality app: completeness, fill rates, duplicates, unmapped sources, trends.

Everything is aggregated in SQL from the organisation's current rules
(apps.quality.completeness turns them into expressions), so the page is right
even before a recompute has rewritten the stored scores, and costs one query
per record type however many rows there are.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import connection
from django.db.models import Avg, Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from apps.records.models import (
    CompletenessRule,
    DuplicateCandidate,
    Lead,
    Merge,
    ObjectType,
    SourceMapping,
    StageEvent,
)
from apps.records.quality import DEFAULT_RULES, as_record, missing_required, score

from . import completeness as cq
from . import survivorship
from .cache import OVERVIEW_SECONDS, overview_key
from .models import QualityJob

DEFAULT_THRESHOLD = 0.8
TREND_WEEKS = 12


# --- Completeness -----------------------------------------------------------------


def all_rules(*, org) -> dict[str, list[cq.Rule]]:
    """Every record type's rules in one query; a type without rules gets the defaults."""
    rules: dict[str, list[cq.Rule]] = {t: [] for t in ObjectType.values}
    for pk, object_type, name, weight, required in (
        CompletenessRule.objects.for_org(org)
        .order_by("object_type", "-weight", "field")
        .values_list("pk", "object_type", "field", "weight", "required")
    ):
        rules[object_type].append(cq.Rule(name, weight, required, pk))
    for object_type, found in rules.items():
        if not found:
            rules[object_type] = [cq.Rule(f, w, r) for f, w, r in DEFAULT_RULES.get(object_type, [])]
    return rules


def plural_label(object_type: str) -> str:
    """ "Leads", "Accounts", "Opportunities"."""
    return str(cq.MODELS[object_type]._meta.verbose_name_plural).capitalize()


def records(*, org, object_type: str):
    """The records that count: for leads, those not merged into another."""
    queryset = cq.MODELS[object_type].objects.for_org(org)
    if object_type == ObjectType.LEAD:
        queryset = queryset.filter(merged_into__isnull=True)
    return queryset


@dataclass
class FieldFill:
    field: str
    label: str
    weight: int
    required: bool
    filled: int
    total: int

    @property
    def rate(self) -> float:
        return self.filled / self.total if self.total else 0.0

    @property
    def percent(self) -> int:
        return round(100 * self.rate)


@dataclass
class CompletenessSummary:
    object_type: str
    label: str
    threshold: float
    records: int = 0
    average: float | None = None
    complete: int = 0
    missing_required: int = 0
    fields: list[FieldFill] = field(default_factory=list)

    @property
    def plural(self) -> str:
        return plural_label(self.object_type)

    @property
    def complete_rate(self) -> float:
        return self.complete / self.records if self.records else 0.0

    @property
    def complete_percent(self) -> int:
        return round(100 * self.complete_rate)

    @property
    def average_percent(self) -> int | None:
        return None if self.average is None else round(100 * self.average)


def completeness_summary(*, org, object_type: str, rule_list=None, threshold: float = DEFAULT_THRESHOLD):
    """Records, average score, share complete, share missing a required field, and each field's fill rate.

    One aggregate query. "Complete" means a score of at least `threshold` with
    no required field missing (the same test as `is_complete_enough`).
    """
    rule_list = rule_list if rule_list is not None else cq.rules(org=org, object_type=object_type)
    expression = cq.score_expression(object_type, rule_list)
    missing = cq.missing_required_q(object_type, rule_list)
    aggregates = {
        "records": Count("pk"),
        "average": Avg(expression),
        "complete": Count("pk", filter=cq.complete_q(object_type, rule_list, threshold=threshold)),
    }
    if missing is not None:
        aggregates["missing_required"] = Count("pk", filter=missing)
    for index, rule in enumerate(rule_list):
        aggregates[f"filled_{index}"] = Count("pk", filter=cq.filled_q(object_type, rule.field))
    row = records(org=org, object_type=object_type).aggregate(**aggregates)
    summary = CompletenessSummary(
        object_type=object_type,
        label=ObjectType(object_type).label,
        threshold=threshold,
        records=row["records"],
        average=row["average"],
        complete=row["complete"],
        missing_required=row.get("missing_required", 0),
    )
    summary.fields = [
        FieldFill(rule.field, rule.label, rule.weight, rule.required, row[f"filled_{i}"], row["records"])
        for i, rule in enumerate(rule_list)
    ]
    return summary


def completeness_overview(
    *, org, threshold: float = DEFAULT_THRESHOLD, rules=None
) -> list[CompletenessSummary]:
    """A summary per record type: one query per type (plus one for the rules unless given)."""
    rules = rules if rules is not None else all_rules(org=org)
    return [
        completeness_summary(org=org, object_type=t, rule_list=rules[t], threshold=threshold)
        for t in ObjectType.values
    ]


def completeness_trends(*, org, object_type: str = ObjectType.LEAD, weeks: int = TREND_WEEKS, rule_list=None):
    """Per week of creation (Monday, organisation time zone), the last `weeks` weeks.

    Returns {"weeks": [date], "created": [int], "average": [float | None],
    "missing_required": [int]}, every week present so a quiet week is visible.
    """
    rule_list = rule_list if rule_list is not None else cq.rules(org=org, object_type=object_type)
    tz = ZoneInfo(org.time_zone)
    today = timezone.now().astimezone(tz).date()
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    missing = cq.missing_required_q(object_type, rule_list)
    rows = (
        records(org=org, object_type=object_type)
        .filter(created_at__gte=datetime.combine(first, time.min, tzinfo=tz))
        .annotate(week=TruncWeek("created_at", tzinfo=tz))
        .values("week")
        .annotate(
            created=Count("pk"),
            average=Avg(cq.score_expression(object_type, rule_list)),
            missing_required=Sum(cq.integer_case(missing))
            if missing is not None
            else Count("pk", filter=Q(pk=None)),
        )
        .order_by("week")
    )
    by_week = {_as_date(row["week"]): row for row in rows}
    week_list = [first + timedelta(weeks=i) for i in range(weeks)]
    return {
        "weeks": week_list,
        "created": [by_week[w]["created"] if w in by_week else 0 for w in week_list],
        "average": [round(by_week[w]["average"], 4) if w in by_week else None for w in week_list],
        "missing_required": [by_week[w]["missing_required"] or 0 if w in by_week else 0 for w in week_list],
    }


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class CompletenessVerdict:
    ok: bool
    score: float
    threshold: float
    missing_required: list[str]

    @property
    def reason(self) -> str:
        if self.ok:
            return f"Complete enough ({self.score:.0%} ≥ {self.threshold:.0%})."
        if self.missing_required:
            return "Missing required: " + ", ".join(cq.field_label(f) for f in self.missing_required) + "."
        return f"Completeness {self.score:.0%} is below {self.threshold:.0%}."


def completeness_check(*, lead, threshold: float = DEFAULT_THRESHOLD) -> CompletenessVerdict:
    """Whether a lead is complete enough to route, and why not (score from the current rules)."""
    rule_list = [(r.field, r.weight, r.required) for r in cq.rules(org=lead.organization, object_type="lead")]
    record = as_record(lead)
    value = score(record, rule_list)
    missing = missing_required(record, rule_list)
    return CompletenessVerdict(
        ok=value >= threshold and not missing, score=value, threshold=threshold, missing_required=missing
    )


def is_complete_enough(*, lead, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """True when the lead scores at least `threshold` and has every required field.

    Routing holds a lead back while this is False; `completeness_check` says why.
    """
    return completeness_check(lead=lead, threshold=threshold).ok


@dataclass
class Overview:
    """What the data-quality page shows, computed together and cached (apps.quality.cache)."""

    summaries: list[CompletenessSummary]
    trends: dict
    unmapped: list
    unmapped_total: int
    computed_at: datetime


def quality_overview(*, org, threshold: float = DEFAULT_THRESHOLD, fresh: bool = False) -> Overview:
    """Completeness per record type, the weekly trend and the top unmapped sources, cached for a while.

    `fresh` recomputes (and re-caches) whatever is cached.
    """
    key = overview_key(org.pk, threshold)
    if not fresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    rules = all_rules(org=org)
    unmapped, unmapped_total = unmapped_sources(org=org, limit=20)
    overview = Overview(
        summaries=completeness_overview(org=org, threshold=threshold, rules=rules),
        trends=completeness_trends(org=org, rule_list=rules[ObjectType.LEAD]),
        unmapped=unmapped,
        unmapped_total=unmapped_total,
        computed_at=timezone.now(),
    )
    cache.set(key, overview, OVERVIEW_SECONDS)
    return overview


# --- Duplicates and merges ------------------------------------------------------------


def duplicate_queue(*, org):
    """Open pairs whose two leads are both still visible, most likely first."""
    return (
        DuplicateCandidate.objects.for_org(org)
        .filter(
            status=DuplicateCandidate.Status.OPEN,
            lead__merged_into__isnull=True,
            other__merged_into__isnull=True,
        )
        .select_related("lead", "other")
        .order_by("-score", "-created_at", "-id")
    )


def duplicates_waiting(*, org) -> int:
    return duplicate_queue(org=org).count()


def duplicate_pair(*, org, candidate) -> tuple[Lead, Lead]:
    """The pair's two leads, older first, with what the review page shows about each (one query)."""
    leads = (
        Lead.objects.for_org(org)
        .filter(pk__in=[candidate.lead_id, candidate.other_id])
        .select_related("stage", "owner__user", "account")
        .annotate(
            touchpoint_count=Count("touchpoints", distinct=True),
            opportunity_count=Count("opportunities", distinct=True),
        )
        .order_by("created_at", "pk")
    )
    first, second = list(leads)
    return first, second


@dataclass
class ComparisonRow:
    field: str
    label: str
    a: object
    b: object
    differs: bool
    default: str  # "a" or "b": the side the rules keep when A survives
    why: str
    checked: str = ""  # the side ticked on the review form (set by MergeForm)


def _display(lead: Lead, name: str, tz):
    value = getattr(lead, name, None)
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    if name == "owner":
        return lead.owner.user.display_name if lead.owner_id else ""
    if name == "account":
        return lead.account.name if lead.account_id else ""
    if name == "stage":
        return lead.stage.name
    if name.startswith(survivorship.CUSTOM_PREFIX):
        return (lead.custom or {}).get(name.removeprefix(survivorship.CUSTOM_PREFIX))
    return getattr(lead, name)


def compare_leads(a: Lead, b: Lead, *, time_zone: str = "UTC") -> list[ComparisonRow]:
    """Every merge field side by side, with the side the rules would keep if `a` survives.

    Times are shown in `time_zone` (the organisation's).
    """
    tz = ZoneInfo(time_zone)
    record_a, record_b = survivorship.lead_record(a), survivorship.lead_record(b)
    stages = {a.stage_id: (a.stage.kind, a.stage.order), b.stage_id: (b.stage.kind, b.stage.order)}
    rows = []
    for name in survivorship.choosable_fields(record_a, record_b):
        differs = record_a.get(name) != record_b.get(name)
        side, why = (
            survivorship.rule_side(name, record_a, record_b, stages=stages) if differs else ("survivor", "")
        )
        rows.append(
            ComparisonRow(
                field=name,
                label=cq.field_label(name),
                a=_display(a, name, tz),
                b=_display(b, name, tz),
                differs=differs,
                default="a" if side == survivorship.SURVIVOR else "b",
                why=why,
            )
        )
    return rows


def merge_history(*, org):
    """Merges, newest first, each with `blocked_by`: the id of a later live merge involving its leads."""
    later = Merge.objects.filter(organization=org, pk__gt=OuterRef("pk"), undone_at__isnull=True).filter(
        Q(survivor_id=OuterRef("survivor_id"))
        | Q(survivor_id=OuterRef("merged_id"))
        | Q(merged_id=OuterRef("survivor_id"))
        | Q(merged_id=OuterRef("merged_id"))
    )
    return (
        Merge.objects.for_org(org)
        .select_related("survivor", "merged", "merged_by")
        .annotate(blocked_by=Subquery(later.order_by("pk").values("pk")[:1]))
        .order_by("-created_at", "-id")
    )


def person_lead_ids(*, org, lead) -> list[int]:
    """The lead and every lead merged into it, directly or through a chain of merges."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE person(id) AS (
                SELECT %(lead)s::bigint
                UNION
                SELECT l.id FROM records_lead AS l JOIN person AS p ON l.merged_into_id = p.id
                WHERE l.organization_id = %(org)s
            )
            SELECT id FROM person ORDER BY id
            """,
            {"lead": lead.pk, "org": org.pk},
        )
        return [row[0] for row in cursor.fetchall()]


def person_stage_events(*, org, lead):
    """A person's stage timeline: the events of the lead and of every lead merged into it."""
    return (
        StageEvent.objects.for_org(org)
        .filter(lead_id__in=person_lead_ids(org=org, lead=lead))
        .order_by("at", "id")
    )


# --- Sources ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnmappedSource:
    value: str
    uses: int
    fields: list[str]


# Leads and touchpoints are first grouped by their (source, utm_source,
# utm_medium) triple, which has few distinct values, and only those groups are
# unpivoted: one cheap hash aggregate per table instead of three scans.
_UNMAPPED_SQL = """
    WITH combos AS (
        SELECT source, utm_source, utm_medium, count(*) AS n FROM records_lead
        WHERE organization_id = %(org)s AND merged_into_id IS NULL
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT source, utm_source, utm_medium, count(*) FROM records_touchpoint
        WHERE organization_id = %(org)s
        GROUP BY 1, 2, 3
    ), raw AS (
        SELECT lower(btrim(v.value)) AS value, v.field, c.n
        FROM combos AS c
        CROSS JOIN LATERAL (
            VALUES (c.source, 'source'), (c.utm_source, 'utm_source'), (c.utm_medium, 'utm_medium')
        ) AS v(value, field)
    ), grouped AS (
        SELECT value, sum(n)::bigint AS uses, array_agg(DISTINCT field ORDER BY field) AS fields
        FROM raw WHERE value <> '' GROUP BY value
    )
    SELECT g.value, g.uses, g.fields, count(*) OVER () AS distinct_values
    FROM grouped AS g
    WHERE NOT EXISTS (
        SELECT 1 FROM records_sourcemapping AS m WHERE m.organization_id = %(org)s AND m.raw_value = g.value
    )
    ORDER BY g.uses DESC, g.value
    LIMIT %(limit)s
"""


def unmapped_sources(*, org, limit: int = 20) -> tuple[list[UnmappedSource], int]:
    """The most used raw source / UTM values with no mapping, and how many distinct ones there are.

    Counted over visible leads' and touchpoints' `source`, `utm_source` and
    `utm_medium`, compared as mappings are (trimmed, lower-case).
    """
    with connection.cursor() as cursor:
        cursor.execute(_UNMAPPED_SQL, {"org": org.pk, "limit": limit})
        rows = cursor.fetchall()
    total = rows[0][3] if rows else 0
    return [UnmappedSource(value, uses, list(fields)) for value, uses, fields, _ in rows], total


def source_mappings(*, org):
    return SourceMapping.objects.for_org(org).order_by("channel", "source_name", "raw_value")


def known_channels(*, org) -> list[str]:
    return list(
        SourceMapping.objects.for_org(org).order_by("channel").values_list("channel", flat=True).distinct()
    )


# --- Jobs ---------------------------------------------------------------------------------


def latest_jobs(*, org, kind: str) -> dict[str, QualityJob]:
    """The newest job of `kind` per object type ("" for jobs without one), in one query."""
    jobs: dict[str, QualityJob] = {}
    for job in QualityJob.objects.for_org(org).filter(kind=kind).order_by("-created_at", "-id")[:20]:
        jobs.setdefault(job.object_type, job)
    return jobs


def has_active_job(*, org, kind: str) -> bool:
    return (
        QualityJob.objects.for_org(org)
        .filter(kind=kind, status__in=[QualityJob.Status.QUEUED, QualityJob.Status.RUNNING])
        .exists()
    )
