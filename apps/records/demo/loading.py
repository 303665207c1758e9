"""`seed_records()`: the simulated year bound to an organisation's stages and people and COPYed in."""

from datetime import datetime

from django.db import connection, transaction

from apps.accounts.roles import Role

from .. import quality
from ..benchdata import copy_rows, reserve_ids
from ..models import DuplicateCandidate, Lead, LifecycleStage, ObjectType, SourceMapping
from .data import Demo, DemoAccount, DemoLead
from .reference import SEED, SOURCE_MAPPINGS
from .simulation import build

# --- Writing it ------------------------------------------------------------------------


def channel_of(mapping: dict[str, str], *values: str) -> str:
    """services.channel_for over a plain {raw value: channel} dict."""
    for value in values:
        raw = (value or "").strip().lower()
        if raw in mapping:
            return mapping[raw]
    return ""


def source_mappings_ensure(org) -> dict[str, str]:
    """Add the demo's source mappings the organisation lacks; return its whole {raw value: channel}."""
    existing = set(SourceMapping.objects.for_org(org).values_list("raw_value", flat=True))
    SourceMapping.objects.bulk_create(
        [
            SourceMapping(organization=org, raw_value=raw, channel=channel, source_name=name)
            for raw, channel, name in SOURCE_MAPPINGS
            if raw not in existing
        ]
    )
    return dict(SourceMapping.objects.for_org(org).values_list("raw_value", "channel"))


def _owner_slots(org) -> list[tuple[int, int] | None]:
    """(membership id, user id) for each owner slot: the demo's sales reps in order, else any."""
    from apps.accounts.demo import PEOPLE
    from apps.accounts.models import Membership

    reps = list(
        Membership.objects.for_org(org)
        .filter(role=Role.SALES_REP, is_active=True)
        .select_related("user")
        .order_by("pk")
    )
    by_email = {m.user.email: m for m in reps}
    ordered = [by_email[e] for e, _n, role, _t in PEOPLE if role == Role.SALES_REP and e in by_email] or reps
    if not ordered:
        return [None] * 4
    return [(ordered[i % len(ordered)].pk, ordered[i % len(ordered)].user_id) for i in range(4)]


def _lead_record(lead: DemoLead) -> dict:
    """The fields completeness rules may name, as quality.as_record would give them."""
    return {
        "email": lead.email, "first_name": lead.first_name, "last_name": lead.last_name,
        "title": lead.title, "phone": lead.phone, "company": lead.company, "country": lead.country,
        "source": lead.source, "utm_source": lead.utm_source, "utm_medium": lead.utm_medium,
        "utm_campaign": lead.utm_campaign, "utm_term": lead.utm_term, "utm_content": lead.utm_content,
        "score": lead.score, "owner": lead.owner, "account": lead.account, "stage": lead.events[-1][1],
    }  # fmt: skip


def seed_records(org, *, scale: float = 1.0, seed: int = SEED, now: datetime | None = None) -> dict | None:
    """Fill `org` with the demo's records; returns the counts written, or None when it has leads already.

    `scale` shrinks or grows every count (tests use 0.05). One transaction.
    """
    if Lead.objects.for_org(org).exists():
        return None
    demo = build(scale=scale, seed=seed, now=now)
    with transaction.atomic():
        mapping = source_mappings_ensure(org)
        _write(org, demo, mapping)
    return demo.counts()


def _write(org, demo: Demo, mapping: dict[str, str]) -> None:
    from ..benchdata import ACCOUNT_COLUMNS, LEAD_COLUMNS

    stages = {s.key: s.pk for s in LifecycleStage.objects.for_org(org)}
    slots = _owner_slots(org)

    def member(slot):
        return None if slot is None or slots[slot] is None else slots[slot][0]

    def user(slot):
        return None if slot is None or slots[slot] is None else slots[slot][1]

    lead_rules = quality.rules_for(org=org, object_type=ObjectType.LEAD)
    account_rules = quality.rules_for(org=org, object_type=ObjectType.ACCOUNT)
    with connection.cursor() as cursor:
        first_account = reserve_ids(cursor, "records_account", len(demo.accounts))
        first_lead = reserve_ids(cursor, "records_lead", len(demo.leads))

        def account_id(index):
            return None if index is None else first_account + index

        def account_row(i, a: DemoAccount):
            record = {
                "name": a.name, "domain": a.domain, "industry": a.industry, "employees": a.employees,
                "annual_revenue": a.annual_revenue, "country": a.country, "region": a.region,
            }  # fmt: skip
            return (
                first_account + i, a.created, a.created, org.pk, None, a.name, a.domain, a.industry,
                a.employees, a.annual_revenue, a.country, a.region, member(a.owner), {},
                quality.score(record, account_rules),
            )  # fmt: skip

        copy_rows(
            cursor,
            "records_account",
            ACCOUNT_COLUMNS,
            (account_row(i, a) for i, a in enumerate(demo.accounts)),
        )

        # Tables with history triggers (accounts above, opportunities, customers) go
        # before the big ones: every history row's trigger opens a subtransaction,
        # and each of those rescans the queue of foreign-key checks deferred to
        # commit, so inserting them behind 100,000 queued checks costs seconds.
        # Deferred checks also make the order safe: leads exist by commit.
        copy_rows(
            cursor,
            "records_opportunity",
            ["created_at", "updated_at", "organization_id", "name", "account_id", "primary_contact_id",
             "amount", "currency", "stage", "status", "type", "source", "created_date", "close_date",
             "owner_id", "loss_reason", "custom"],
            (
                (d.created, d.close if d.status != "open" else d.created, org.pk, d.name,
                 account_id(d.account), None if d.lead is None else first_lead + d.lead, d.amount,
                 org.currency, d.stage, d.status, d.type, d.source, d.created.date(),
                 d.close.date() if d.close else None, member(d.owner), d.loss_reason, {})
                for d in demo.opportunities
            ),
        )  # fmt: skip
        copy_rows(
            cursor,
            "records_customer",
            ["created_at", "updated_at", "organization_id", "account_id", "arr", "start_date", "churn_date"],
            (
                (c.start, c.churn or c.start, org.pk, account_id(c.account), c.arr, c.start.date(),
                 c.churn.date() if c.churn else None)
                for c in demo.customers
            ),
        )  # fmt: skip

        def lead_row(i, lead: DemoLead):
            _frm, stage, entered, *_ = lead.events[-1]
            channel = channel_of(mapping, lead.source, lead.utm_source, lead.utm_medium)
            return (
                first_lead + i, lead.captured, entered, org.pk, None, lead.email, lead.first_name,
                lead.last_name, lead.title, lead.phone, lead.company, lead.country, lead.source, channel,
                lead.utm_source, lead.utm_medium, lead.utm_campaign, lead.utm_term, lead.utm_content, {},
                stages[stage], entered, member(lead.owner), account_id(lead.account), lead.score,
                lead.captured, quality.score(_lead_record(lead), lead_rules), None,
            )  # fmt: skip

        copy_rows(
            cursor, "records_lead", LEAD_COLUMNS, (lead_row(i, lead) for i, lead in enumerate(demo.leads))
        )
        copy_rows(
            cursor,
            "records_stageevent",
            ["created_at", "updated_at", "organization_id", "lead_id", "from_stage", "to_stage", "at",
             "actor_id", "api_key_prefix", "reason", "origin"],
            (
                (at, at, org.pk, first_lead + i, frm, to, at, user(actor), "", reason, origin)
                for i, lead in enumerate(demo.leads)
                for frm, to, at, origin, reason, actor in lead.events
            ),
        )  # fmt: skip
        copy_rows(
            cursor,
            "records_touchpoint",
            ["created_at", "updated_at", "organization_id", "lead_id", "account_id", "channel", "source",
             "medium", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "campaign_ref",
             "type", "occurred_at"],
            (
                (t["occurred_at"], t["occurred_at"], org.pk, first_lead + t["lead"],
                 account_id(demo.leads[t["lead"]].account),
                 channel_of(mapping, t["source"], t["utm_source"], t["utm_medium"]), t["source"], t["medium"],
                 t["utm_source"], t["utm_medium"], t["utm_campaign"], t["utm_term"], t["utm_content"],
                 t["campaign_ref"], t["type"], t["occurred_at"])
                for t in demo.touchpoints
            ),
        )  # fmt: skip
        copy_rows(
            cursor,
            "records_duplicatecandidate",
            ["created_at", "updated_at", "organization_id", "lead_id", "other_id", "reason", "score",
             "status"],
            (
                (demo.leads[a].captured, demo.leads[a].captured, org.pk, first_lead + a, first_lead + b,
                 DuplicateCandidate.Reason.EMAIL.value, 1.0, DuplicateCandidate.Status.OPEN.value)
                for a, b in demo.duplicates
            ),
        )  # fmt: skip
