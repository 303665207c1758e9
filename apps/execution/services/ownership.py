"""Routing accounts and opportunities to an owner.

The same engine, rules and pools as leads, with two differences that follow
from what is being routed. Ownership is given, not offered: an account or an
opportunity has no inbox, accept or SLA clock, so the chosen person simply
becomes its owner. And the caps on a rep's profile are lead caps: they do not
apply here, and "fewest open" counts the accounts (or open opportunities) a
person already owns.

A record is routed when it is created without an owner and its object has a
published policy; the request row commits with the record, like a lead's.
"""

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count
from django.urls import reverse

from apps.execution.models import RoutingDecision, RoutingPolicy, RoutingRequest
from apps.execution.models.routing import Trigger
from apps.execution.routing import engine, types
from apps.integrations.services import outbox_emit
from apps.records import quality
from apps.records.models import Account, Lead, Opportunity

from . import decisions, facts, notifications, policies

ACCOUNT = RoutingPolicy.Object.ACCOUNT
OPPORTUNITY = RoutingPolicy.Object.OPPORTUNITY

TRIGGERS = {ACCOUNT: Trigger.ACCOUNT_CREATED, OPPORTUNITY: Trigger.OPPORTUNITY_CREATED}


def object_type_of(record) -> str:
    return ACCOUNT if isinstance(record, Account) else OPPORTUNITY


def ownership_request(*, org, record, trigger: str | None = None) -> RoutingRequest | None:
    """Ask for an unowned account or opportunity to be routed once the current transaction commits."""
    from .routing import enqueue

    object_type = object_type_of(record)
    if policies.published_policy(org, object_type) is None:
        return None
    request = RoutingRequest.objects.create(
        organization=org, trigger=trigger or TRIGGERS[object_type], **{object_type: record}
    )
    enqueue(request)
    return request


# --- What rules see ------------------------------------------------------------------------------


def _clock_fields(org, now: datetime) -> dict:
    local = now.astimezone(ZoneInfo(org.time_zone))
    return {"local_hour": local.hour, "weekday": local.strftime("%a").lower()}


def _account_fields(account: Account | None) -> dict:
    if account is None:
        return {"account.has_owner": False}
    revenue = account.annual_revenue
    return {
        "account.has_owner": account.owner_id is not None,
        "account.industry": account.industry,
        "account.employees": account.employees,
        "account.region": account.region,
        "account.country": account.country,
        "account.annual_revenue": float(revenue) if revenue is not None else None,
    }


def _account_segments(org, account_id: int | None) -> list[str]:
    if account_id is None:
        return []
    from apps.strategy.models import SegmentMembership

    return sorted(
        SegmentMembership.objects.filter(organization=org, account_id=account_id).values_list(
            "segment__key", flat=True
        )
    )


def _last_owner(sql: str, params: dict) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def account_facts(org, account: Account, *, now: datetime) -> types.LeadFacts:
    """An account as rules see it. Sticky means whoever last owned one of its leads."""
    record = quality.as_record(account)
    record.update(_account_fields(account))
    record.update(_clock_fields(org, now))
    record["segments"] = _account_segments(org, account.pk)
    previous = _last_owner(
        "SELECT owner_id FROM records_lead WHERE organization_id = %(org)s AND account_id = %(account)s "
        "AND owner_id IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
        {"org": org.pk, "account": account.pk},
    )
    return types.LeadFacts(fields=record, completeness=account.completeness, previous_owner=previous)


def opportunity_facts(org, opportunity: Opportunity, *, now: datetime) -> types.LeadFacts:
    """An opportunity as rules see it, with its account's fields as account.<field>.

    The matched account's owner is the account's; sticky means whoever owned
    the account's previous opportunity, else the primary contact's owner.
    """
    account = opportunity.account
    record = quality.as_record(opportunity)
    record["amount"] = float(opportunity.amount) if opportunity.amount is not None else None
    record.update(_account_fields(account))
    record.update(_clock_fields(org, now))
    record["country"] = account.country if account else ""
    record["region"] = account.region if account else ""
    record["segments"] = _account_segments(org, opportunity.account_id)
    previous = None
    if opportunity.account_id:
        previous = _last_owner(
            "SELECT owner_id FROM records_opportunity WHERE organization_id = %(org)s "
            "AND account_id = %(account)s AND id <> %(id)s AND owner_id IS NOT NULL "
            "ORDER BY created_date DESC, id DESC LIMIT 1",
            {"org": org.pk, "account": opportunity.account_id, "id": opportunity.pk or 0},
        )
    if previous is None and opportunity.primary_contact_id:
        previous = (
            Lead.objects.filter(organization=org, pk=opportunity.primary_contact_id)
            .values_list("owner_id", flat=True)
            .first()
        )
    return types.LeadFacts(
        fields=record,
        account_owner=account.owner_id if account else None,
        previous_owner=previous,
    )


def record_facts(org, record, *, now: datetime) -> types.LeadFacts:
    if isinstance(record, Account):
        return account_facts(org, record, now=now)
    return opportunity_facts(org, record, now=now)


def owned_counts(org, object_type: str, member_ids) -> dict[int, int]:
    """Accounts, or open opportunities, each person owns: the load "fewest open" balances."""
    if not member_ids:
        return {}
    if object_type == ACCOUNT:
        owned = Account.objects.for_org(org)
    else:
        owned = Opportunity.objects.for_org(org).filter(status=Opportunity.Status.OPEN)
    rows = owned.filter(owner_id__in=member_ids).values("owner_id").annotate(n=Count("pk"))
    return {row["owner_id"]: row["n"] for row in rows}


def world(org, object_type: str, rules, record_facts_, fallback_pool_id, *, now: datetime):
    """The engine's pools and people for one record, without lead caps and with ownership loads."""
    pool_ids = {r.action.pool for r in rules if r.action.pool and engine.rule_matches(r, record_facts_)}
    if fallback_pool_id:
        pool_ids.add(fallback_pool_id)
    pools, rows = facts.pools_with_members(org, pool_ids)
    people_ids = {row.membership_id for row in rows}
    people_ids |= {r.action.person for r in rules if r.action.person}
    people_ids |= {p for p in (record_facts_.account_owner, record_facts_.previous_owner) if p}
    base = facts.candidates(org, people_ids, now=now, need_loads=False)
    loads = owned_counts(org, object_type, people_ids)
    base = {
        pk: types.Candidate(id=c.id, name=c.name, unavailable=c.unavailable, open_count=loads.get(pk, 0))
        for pk, c in base.items()
    }
    return pool_ids, base, facts.pool_records(org, pool_ids, base, pools.values(), rows=rows)


# --- Routing one request -------------------------------------------------------------------------


def route(request: RoutingRequest, *, now: datetime) -> RoutingDecision | None:
    """Decide and apply a pending account or opportunity request (the caller holds it locked)."""
    started = time.perf_counter()
    org = request.organization
    object_type = request.object_type
    model = Account if object_type == ACCOUNT else Opportunity
    queryset = model.objects.select_for_update(of=("self",)).filter(organization=org)
    if object_type == OPPORTUNITY:
        queryset = queryset.select_related("account")
    record = queryset.get(pk=request.account_id or request.opportunity_id)
    if record.owner_id is not None:
        return None  # someone gave it an owner since: nothing to decide
    policy = policies.published_policy(org, object_type)
    if policy is None:
        return None
    record_facts_ = record_facts(org, record, now=now)
    # Every pool the rules may draw on is locked up front, in id order, so the rotation is
    # decided on a consistent ledger. Ownership routing is rare next to lead routing, so the
    # narrower lock-then-confirm dance the lead path uses is not worth its complexity here.
    candidates_pools = {r.action.pool for r in policy.rules if r.action.pool}
    if policy.fallback_pool_id:
        candidates_pools.add(policy.fallback_pool_id)
    if candidates_pools:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM execution_routingpool WHERE organization_id = %s AND id = ANY(%s) "
                "ORDER BY id FOR UPDATE",
                [org.pk, sorted(candidates_pools)],
            )
    _, people, pools = world(org, object_type, policy.rules, record_facts_, policy.fallback_pool_id, now=now)
    decision = engine.decide(
        policy.rules,
        record_facts_,
        pools=pools,
        people=people,
        fallback_pool=policy.fallback_pool_id,
        noun=object_type,
    )
    row = decisions.decision_record(request, policy, decision, now=now, **{object_type: record})
    if decision.outcome == types.ASSIGNED:
        _give(org, object_type, record, row, decision, now=now)
    row.timings["decide_ms"] = round((time.perf_counter() - started) * 1000, 1)
    row.save(update_fields=["timings"])
    return row


def _give(org, object_type: str, record, row: RoutingDecision, decision: types.Decision, *, now) -> None:
    # The history trigger on the record keeps the change of owner in its audit trail.
    type(record).objects.filter(pk=record.pk).update(owner_id=decision.assignee, updated_at=now)
    record.owner_id = decision.assignee
    decisions.ledger_advance(decision, now=now)
    outbox_emit(
        org=org,
        event_type=f"{object_type}.routed",
        data={
            object_type: record.pk,
            "owner": decision.assignee,
            "pool": decision.pool,
            "rule": decision.rule_name,
            "decision": row.pk,
        },
    )
    notifications.notify(
        org=org,
        recipient_id=decision.assignee,
        kind=f"{object_type}.routed",
        title=f"New {object_type}: {record}",
        body=f"You own it now ({decision.rule_name or 'routing'}).",
        url=reverse(f"records_{object_type}", kwargs={"org_slug": org.slug, "pk": record.pk}),
    )
