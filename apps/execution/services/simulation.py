"""What routing would do, without doing it: for one lead, for an unsaved lead, or for a past period.

Read-only by construction. Every entry point runs inside a transaction that is
rolled back whatever happens, reads the world with the same `facts` code that
live routing uses and runs the pure engine; nothing here calls a service that
writes, takes a row lock or enqueues work.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Membership
from apps.core.errors import ServiceError
from apps.execution.models import (
    Assignment,
    RoutingDecision,
    RoutingPolicy,
    RoutingPolicyVersion,
    RoutingPool,
)
from apps.execution.routing import engine, types
from apps.records import conditions, quality
from apps.records import services as records
from apps.records.models import Account, Lead, ObjectType, Opportunity
from apps.records.normalize import normalize_email, normalize_text

from . import facts, ownership, policies


@dataclass
class SimulatedLead:
    lead_id: int
    lead_label: str
    decision: types.Decision
    actual_assignee: int | None  # the first rep the lead was really offered to, if any
    changed: bool  # the simulated assignee differs from the actual one


@dataclass
class SimulationResult:
    leads: list[SimulatedLead]
    load: dict[int, int]  # membership id -> leads the simulated policy would assign them
    actual_load: dict[int, int]  # membership id -> leads they were really offered first
    names: dict[int, str]  # membership id -> display name, for everyone in either load
    changed: int
    version_number: int | None


# Exclusions that describe the moment a simulation happens to run rather than the
# people themselves. A past period is replayed with everyone as they are now
# (pools, weights, ledger, caps, the availability switch), but a run at 11 pm must
# not find every rep "outside working hours" for leads that came in at noon.
MOMENTARY = frozenset({types.OFF_HOURS, types.HOLIDAY, types.OUT_OF_OFFICE})

# Fields an unsaved lead may be previewed with: what lead_create accepts and rules can read.
PREVIEW_FIELDS = frozenset({*records.LEAD_TEXT_FIELDS, "email", "country", "score", "custom", "stage"})

# The id given to an unsaved lead: `facts.lead_facts` looks up the lead's past
# assignments by id, Django refuses an unsaved instance in a filter, and no row
# ever has id 0 (Postgres identities start at 1), so the lookup finds nothing, as it should.
UNSAVED_ID = 0


@contextmanager
def _read_only() -> Iterator[None]:
    # set_rollback(True) is set on the way out: once set, Django refuses further
    # queries in the block, so it cannot be set up front.
    with transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)


def version_for(
    org, version=None, object_type: str = RoutingPolicy.Object.LEAD
) -> RoutingPolicyVersion | None:
    """The version of `object_type`'s policy (leads by default) to simulate.

    `version` may be a RoutingPolicyVersion of this organisation, "draft",
    "published", or None: the draft when there is one, else the published version
    (None when the organisation has neither).
    """
    if isinstance(version, RoutingPolicyVersion):
        if version.organization_id != org.pk or version.policy.object_type != object_type:
            raise ServiceError("No such policy version here.", field="version")
        return version
    if version not in (None, "draft", "published"):
        raise ServiceError("Choose draft or published.", field="version")
    versions = RoutingPolicyVersion.objects.for_org(org).filter(policy__object_type=object_type)
    if version in (None, "draft"):
        draft = versions.filter(status=RoutingPolicyVersion.Status.DRAFT).first()
        if draft is not None or version is None:
            return draft or versions.filter(status=RoutingPolicyVersion.Status.PUBLISHED).first()
        raise ServiceError("There is no draft to simulate.", code="no_draft", field="version")
    published = versions.filter(status=RoutingPolicyVersion.Status.PUBLISHED).first()
    if published is None:
        raise ServiceError("Nothing is published yet.", code="not_published", field="version")
    return published


def _rules(version: RoutingPolicyVersion | None) -> tuple[tuple[types.Rule, ...], int | None]:
    if version is None:
        return (), None
    return policies.rules_for_engine(version.rules), version.fallback_pool_id


def _world(
    org, *, rules, fallback: int | None, pool_ids: set[int], lead_facts, now: datetime, timeless: bool
) -> tuple[dict[int, types.Candidate], dict[int, types.Pool]]:
    """People and pools as the engine sees them, gathered exactly as `routing._route` does."""
    pool_ids = set(pool_ids) | ({fallback} if fallback else set())
    pools = list(RoutingPool.objects.for_org(org).filter(pk__in=pool_ids).order_by("pk"))
    people_ids = facts.pool_member_ids(org, pool_ids)
    people_ids |= {rule.action.person for rule in rules if rule.action.person}
    for lead in lead_facts:
        people_ids |= {p for p in (lead.account_owner, lead.previous_owner) if p}
    need_loads = any(pool.strategy in (types.LOAD_BALANCED, types.CAPACITY) for pool in pools)
    base = facts.candidates(org, people_ids, now=now, need_loads=need_loads)
    if timeless:
        base = {
            pk: replace(c, unavailable=None) if c.unavailable in MOMENTARY else c for pk, c in base.items()
        }
    return base, facts.pool_records(org, pool_ids, base, pools)


def _decide(org, version, lead_facts: types.LeadFacts, *, now: datetime) -> types.Decision:
    rules, fallback = _rules(version)
    # Like live routing, only the pools of matching rules (and the fallback) are read.
    pool_ids = {r.action.pool for r in rules if r.action.pool and engine.rule_matches(r, lead_facts)}
    people, pools = _world(
        org, rules=rules, fallback=fallback, pool_ids=pool_ids, lead_facts=[lead_facts], now=now,
        timeless=False,
    )  # fmt: skip
    return engine.decide(rules, lead_facts, pools=pools, people=people, fallback_pool=fallback)


def simulate_lead(*, org, lead: Lead, version=None, now: datetime | None = None) -> types.Decision:
    """Who `lead` would go to if it were routed at `now` (default: now) under `version`.

    `version` as in `version_for`: by default the draft, else the published version.
    """
    if lead.organization_id != org.pk:
        raise ServiceError("No such lead here.", field="lead")
    now = now or timezone.now()
    with _read_only():
        return _decide(org, version_for(org, version), facts.lead_facts(org, lead, now=now), now=now)


def simulate_record(*, org, record, version=None, now: datetime | None = None) -> types.Decision:
    """Who an account or opportunity would be given to if it were routed at `now` under
    `version` of its own policy, as `ownership.route` would decide it."""
    if record.organization_id != org.pk:
        raise ServiceError("No such record here.", field=ownership.object_type_of(record))
    now = now or timezone.now()
    object_type = ownership.object_type_of(record)
    with _read_only():
        version = version_for(org, version, object_type)
        rules, fallback = _rules(version)
        record_facts = ownership.record_facts(org, record, now=now)
        _, people, pools = ownership.world(org, object_type, rules, record_facts, fallback, now=now)
        return engine.decide(
            rules, record_facts, pools=pools, people=people, fallback_pool=fallback, noun=object_type
        )


def preview_lead_data(*, org, data: dict, version=None, now: datetime | None = None) -> types.Decision:
    """Who a lead with these fields would go to if it were created at `now`.

    `data` holds lead fields (email, first_name, company, country, score, source,
    utm_*, stage, custom{...}). The lead is built as `lead_create` builds it — the
    account matched by the e-mail's domain, the channel mapped, completeness
    scored, machine stage rules applied — but never saved.
    """
    now = now or timezone.now()
    with _read_only():
        lead = _unsaved_lead(org, data, now=now)
        return _decide(org, version_for(org, version), facts.lead_facts(org, lead, now=now), now=now)


def _unsaved_lead(org, data: dict, *, now: datetime) -> Lead:
    if not isinstance(data, dict):
        raise ServiceError("Give the lead's fields as an object.", field="lead_data")
    unknown = sorted(set(data) - PREVIEW_FIELDS)
    if unknown:
        raise ServiceError(f"Unknown field {unknown[0]}.", field=unknown[0])
    lead = Lead(
        pk=UNSAVED_ID,
        organization=org,
        custom=records.clean_custom(org=org, object_type=ObjectType.LEAD, values=data.get("custom")),
    )
    for name in records.LEAD_TEXT_FIELDS:
        setattr(lead, name, normalize_text(data.get(name) or ""))
    lead.email = normalize_email(data.get("email"))
    lead.country = str(data.get("country") or "").strip().upper()
    try:
        lead.score = int(data.get("score") or 0)
    except (TypeError, ValueError):
        raise ServiceError("The score is a whole number.", field="score") from None
    lead.captured_at = lead.stage_entered_at = now
    lead.channel = records.channel_for(org, lead.source, lead.utm_source, lead.utm_medium)
    lead.account = records.match_account(org, email=lead.email, company=lead.company)
    stages = records.stages_by_key(org)
    key = data.get("stage") or "inquiry"
    if key not in stages:
        raise ServiceError(f"There is no stage {key!r}.", code="unknown_stage", field="stage")
    lead.stage = stages[key]
    lead.completeness = quality.completeness(org=org, object_type=ObjectType.LEAD, record=lead)
    # lead_create applies machine stage rules before it asks for routing; do the same, in memory.
    record = quality.as_record(lead)
    ahead = sorted(
        (s for s in stages.values() if s.kind == "funnel" and s.order > lead.stage.order and s.rule),
        key=lambda s: -s.order,
    )
    lead.stage = next((s for s in ahead if conditions.matches(s.rule, record)), lead.stage)
    return lead


def period_bounds(org, start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in the organisation's time zone."""
    tz = ZoneInfo(org.time_zone)
    return datetime.combine(start, time.min, tzinfo=tz), datetime.combine(
        end + timedelta(days=1), time.min, tzinfo=tz
    )


def simulate_period(*, org, start: date, end: date, version=None, limit: int = 5000) -> SimulationResult:
    """Replay the leads captured from `start` to `end` (inclusive, organisation time)
    through `version`, oldest first, and compare with what really happened.

    The starting point is everyone as they are now: pool membership, weights,
    territories, the fairness ledger, caps, today's and open counts, and the
    availability switch. Exclusions tied to the moment of the run (working
    hours, holidays, absences) are ignored. As in `engine.simulate`, each
    simulated assignment counts toward the next lead's caps and turns, and the
    whole period counts as one day.

    Each lead is replayed as it was first routed: without an owner and without
    rejections, so "sticky" rules look at other leads of the same person or account.
    The actual assignee is the rep the lead was first offered to, if any.
    """
    if end < start:
        raise ServiceError("The end is before the start.", field="end")
    if isinstance(version, RoutingPolicyVersion) and version.policy.object_type != RoutingPolicy.Object.LEAD:
        return _simulate_records_period(org=org, start=start, end=end, version=version, limit=limit)
    since, until = period_bounds(org, start, end)
    now = timezone.now()
    with _read_only():
        version = version_for(org, version)
        rules, fallback = _rules(version)
        leads = list(
            facts.with_segment_keys(Lead.objects.for_org(org), org)
            .filter(captured_at__gte=since, captured_at__lt=until, merged_into__isnull=True)
            .select_related("account", "stage")
            .order_by("captured_at", "id")[:limit]
        )
        lead_facts = [_as_first_routed(org, lead) for lead in leads]
        people, pools = _world(
            org, rules=rules, fallback=fallback, pool_ids={r.action.pool for r in rules if r.action.pool},
            lead_facts=lead_facts, now=now, timeless=True,
        )  # fmt: skip
        decisions = engine.simulate(rules, lead_facts, pools=pools, people=people, fallback_pool=fallback)
        actual = _first_assignees(org, [lead.pk for lead in leads])

        simulated = []
        for lead, decision in zip(leads, decisions, strict=True):
            assignee = decision.assignee if decision.outcome == types.ASSIGNED else None
            simulated.append(
                SimulatedLead(
                    lead_id=lead.pk,
                    lead_label=str(lead),
                    decision=decision,
                    actual_assignee=actual.get(lead.pk),
                    changed=assignee != actual.get(lead.pk),
                )
            )
        return _result(org, simulated, actual, people, version.number if version else None)


def _simulate_records_period(*, org, start: date, end: date, version, limit: int) -> SimulationResult:
    """`simulate_period` for an account or opportunity policy: the records created from `start`
    to `end`, each as if it had just arrived without an owner. What really happened is the
    owner its first routing decision gave it, else the owner it has (set by hand or an import)."""
    object_type = version.policy.object_type
    model = Account if object_type == RoutingPolicy.Object.ACCOUNT else Opportunity
    since, until = period_bounds(org, start, end)
    now = timezone.now()
    with _read_only():
        rules, fallback = _rules(version)
        queryset = model.objects.for_org(org).filter(created_at__gte=since, created_at__lt=until)
        if model is Opportunity:
            queryset = queryset.select_related("account")
        found = list(queryset.order_by("created_at", "id")[:limit])
        actual = {record.pk: record.owner_id for record in found}
        routed = (
            RoutingDecision.objects.for_org(org)
            .filter(outcome=types.ASSIGNED, **{f"{object_type}__in": found})
            .order_by("-created_at", "-pk")
            .values_list(f"{object_type}_id", "assignee_id")
        )
        actual.update(dict(routed))  # newest first, so each record keeps its first decision
        record_facts = []
        for record in found:
            record.owner_id = None  # never saved: "as it arrived"
            record_facts.append(ownership.record_facts(org, record, now=record.created_at))
        pool_ids = {r.action.pool for r in rules if r.action.pool} | ({fallback} if fallback else set())
        pools, rows = facts.pools_with_members(org, pool_ids)
        people_ids = {row.membership_id for row in rows} | {r.action.person for r in rules if r.action.person}
        for one in record_facts:
            people_ids |= {p for p in (one.account_owner, one.previous_owner) if p}
        base = facts.candidates(org, people_ids, now=now, need_loads=False)
        loads = ownership.owned_counts(org, object_type, people_ids)
        people = {
            pk: types.Candidate(
                id=c.id,
                name=c.name,
                unavailable=None if c.unavailable in MOMENTARY else c.unavailable,
                open_count=loads.get(pk, 0),
            )
            for pk, c in base.items()
        }
        engine_pools = facts.pool_records(org, pool_ids, people, pools.values(), rows=rows)
        decisions = engine.simulate(
            rules, record_facts, pools=engine_pools, people=people, fallback_pool=fallback, noun=object_type
        )
        simulated = [
            SimulatedLead(
                lead_id=record.pk,
                lead_label=str(record),
                decision=decision,
                actual_assignee=actual.get(record.pk),
                changed=(decision.assignee if decision.outcome == types.ASSIGNED else None)
                != actual.get(record.pk),
            )
            for record, decision in zip(found, decisions, strict=True)
        ]
        return _result(org, simulated, actual, people, version.number or None)


def _result(org, simulated: list[SimulatedLead], actual: dict, people, version_number) -> SimulationResult:
    """Load per person under the simulation and in reality (`actual`: record → who really got it)."""
    load = Counter(s.decision.assignee for s in simulated if s.decision.outcome == types.ASSIGNED)
    actual_load = Counter(a for a in actual.values() if a is not None)
    return SimulationResult(
        leads=simulated,
        load=dict(load),
        actual_load=dict(actual_load),
        names=_names(org, set(load) | set(actual_load), people),
        changed=sum(1 for s in simulated if s.changed),
        version_number=version_number,
    )


def _as_first_routed(org, lead: Lead) -> types.LeadFacts:
    # The instance was loaded here and is never saved: clearing the owner only
    # stops the lead counting as its own "previous owner".
    lead.owner_id = None
    lead_facts = facts.lead_facts(org, lead, now=lead.captured_at)
    return replace(lead_facts, rejected_by=frozenset())


def _first_assignees(org, lead_ids: list[int]) -> dict[int, int]:
    if not lead_ids:
        return {}
    return dict(
        Assignment.objects.for_org(org)
        .filter(lead_id__in=lead_ids)
        .order_by("lead_id", "offered_at", "id")
        .distinct("lead_id")
        .values_list("lead_id", "assignee_id")
    )


def _names(org, ids: set[int], people: dict[int, types.Candidate]) -> dict[int, str]:
    names = {pk: people[pk].name for pk in ids if pk in people}
    missing = ids - set(names)
    if missing:
        for member in Membership.objects.for_org(org).filter(pk__in=missing).select_related("user"):
            names[member.pk] = member.user.display_name
    return names
