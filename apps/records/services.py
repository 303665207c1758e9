"""Writes to the system of record.

Creating a lead normalises its e-mail, maps its source to a channel, matches
its account by domain, flags an exact-e-mail duplicate, records its first stage
event and scores its completeness, in one transaction. Stage changes always go
through `lead_change_stage`, which appends a StageEvent.
"""

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date

from apps.core.errors import ServiceError
from apps.governance.changes.guard import ensure_direct_edit_allowed
from apps.integrations.services import outbox_emit

from . import conditions, quality
from .models import (
    Account,
    Customer,
    CustomField,
    DuplicateCandidate,
    Lead,
    LifecycleStage,
    ObjectType,
    Opportunity,
    Origin,
    SourceMapping,
    StageDefinitionVersion,
    StageEvent,
    Touchpoint,
)
from .normalize import company_domain_of_email, normalize_domain, normalize_email, normalize_text
from .stages import DEFAULT_STAGES, DETOUR, FUNNEL, QUALIFIED_FROM

LEAD_TEXT_FIELDS = [
    "first_name", "last_name", "title", "phone", "company", "source",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
]  # fmt: skip
ACCOUNT_TEXT_FIELDS = ["name", "industry", "region"]
REPLY_TOUCHES = ("reply", "email_reply")  # touchpoint types that meet a journey's "replied" goal


# --- Stage definitions ------------------------------------------------------


def stage_snapshot(org) -> list[dict]:
    return [
        {
            "key": s.key,
            "name": s.name,
            "order": s.order,
            "kind": s.kind,
            "entry_criteria": s.entry_criteria,
            "owner_team": s.owner_team.name if s.owner_team_id else None,
            "rule": s.rule,
        }
        for s in LifecycleStage.objects.for_org(org).select_related("owner_team").order_by("order")
    ]


@transaction.atomic
def stages_install_defaults(*, org, actor=None) -> None:
    """Give a new organisation the default funnel, published as version 1."""
    if LifecycleStage.objects.for_org(org).exists():
        return
    LifecycleStage.objects.bulk_create(
        [
            LifecycleStage(
                organization=org, key=key, name=name, order=order, kind=kind, entry_criteria=criteria
            )
            for key, name, order, kind, criteria in DEFAULT_STAGES
        ]
    )
    StageDefinitionVersion.objects.create(
        organization=org, number=1, snapshot=stage_snapshot(org), note="Default funnel", created_by=actor
    )


@transaction.atomic
def stage_update(
    *, org, stage: LifecycleStage, actor=None, note: str = "", effective_from=None, **fields
) -> StageDefinitionVersion:
    """Change one stage's definition and publish the whole set as a new version.

    `effective_from` (an aware datetime, default now) is when the new version applies.
    """
    ensure_direct_edit_allowed(org, "stages")
    allowed = {"name", "entry_criteria", "owner_team", "rule", "order"}
    unknown = set(fields) - allowed
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    if "rule" in fields:
        try:
            conditions.validate(fields["rule"] or [])
        except conditions.ConditionError as exc:
            raise ServiceError(str(exc), field="rule") from None
    if "entry_criteria" in fields and not str(fields["entry_criteria"]).strip():
        raise ServiceError("Every stage needs a written entry criterion.", field="entry_criteria")
    if fields.get("owner_team") is not None and fields["owner_team"].organization_id != org.pk:
        raise ServiceError("Pick a team of this organisation.", field="owner_team")
    reordered = "order" in fields and fields["order"] != stage.order
    for key, value in fields.items():
        setattr(stage, key, value)
    stage.save()
    if reordered:
        _funnel_reshaped(org, f"stage {stage.key} reordered")
    return _publish(org, actor=actor, note=note, effective_from=effective_from)


def _publish(org, *, actor, note: str, effective_from=None) -> StageDefinitionVersion:
    latest = StageDefinitionVersion.objects.for_org(org).order_by("-number").first()
    return StageDefinitionVersion.objects.create(
        organization=org,
        number=(latest.number if latest else 0) + 1,
        snapshot=stage_snapshot(org),
        note=note[:300],
        created_by=actor,
        effective_from=effective_from or timezone.now(),
    )


# The stages the product itself reads (hand-offs, qualification, the dashboards' indicators): they can be
# renamed and redefined, never removed.
BUILT_IN_STAGES = frozenset(key for key, *_ in DEFAULT_STAGES)


@transaction.atomic
def stage_create(
    *, org, key: str, name: str, order: int, kind: str, entry_criteria: str, owner_team=None, rule=None,
    actor=None, note: str = "",
) -> LifecycleStage:  # fmt: skip
    """Add a stage to the funnel (or a detour) and publish the set as a new version."""
    ensure_direct_edit_allowed(org, "stages")
    if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key):
        raise ServiceError(
            "A stage key is 1 to 40 lower-case letters, digits or underscores, starting with a letter.",
            field="key",
        )
    if LifecycleStage.objects.for_org(org).filter(key=key).exists():
        raise ServiceError(f"There is already a stage {key!r}.", field="key")
    if kind not in (FUNNEL, DETOUR):
        raise ServiceError(f"A stage is a {FUNNEL} or a {DETOUR} stage, not {kind!r}.", field="kind")
    if not str(name or "").strip():
        raise ServiceError("Every stage needs a name.", field="name")
    if not str(entry_criteria or "").strip():
        raise ServiceError("Every stage needs a written entry criterion.", field="entry_criteria")
    try:
        conditions.validate(rule or [])
    except conditions.ConditionError as exc:
        raise ServiceError(str(exc), field="rule") from None
    if owner_team is not None and owner_team.organization_id != org.pk:
        raise ServiceError("Pick a team of this organisation.", field="owner_team")
    stage = LifecycleStage.objects.create(
        organization=org, key=key, name=name.strip(), order=order, kind=kind,
        entry_criteria=entry_criteria.strip(), owner_team=owner_team, rule=rule or [],
    )  # fmt: skip
    _publish(org, actor=actor, note=note or f"Stage {name} added")
    _funnel_reshaped(org, f"stage {key} added")
    return stage


@transaction.atomic
def stage_delete(*, org, stage: LifecycleStage, actor=None, note: str = "") -> None:
    """Remove a stage the organisation added, once no lead is in it, and publish the set.

    Its past stage events keep its key, so history and the facts built from it stay as they were."""
    ensure_direct_edit_allowed(org, "stages")
    if stage.key in BUILT_IN_STAGES:
        raise ServiceError(
            f"{stage.name} is one of the stages revops itself reads; rename or redefine it instead.",
            field="key",
        )
    waiting = Lead.objects.for_org(org).filter(stage=stage).count()
    if waiting:
        raise ServiceError(
            f"{waiting} lead{'s are' if waiting != 1 else ' is'} in {stage.name}: move them to another stage "
            "first.",
            field="key",
        )
    key, name = stage.key, stage.name
    stage.delete()
    _publish(org, actor=actor, note=note or f"Stage {name} removed")
    _funnel_reshaped(org, f"stage {key} removed")


def _funnel_reshaped(org, reason: str) -> None:
    from apps.measurement.services import rollup

    rollup.mark_funnel_reshaped(org, reason=reason)


def stages_by_key(org) -> dict[str, LifecycleStage]:
    return {s.key: s for s in LifecycleStage.objects.for_org(org)}


def _stage(org, key: str) -> LifecycleStage:
    stage = LifecycleStage.objects.for_org(org).filter(key=key).first()
    if stage is None:
        raise ServiceError(f"There is no stage {key!r}.", code="unknown_stage", field="stage")
    return stage


# --- Field cleaning ----------------------------------------------------------


def clean_custom(*, org, object_type: str, values: dict | None, partial: bool = False, existing=None) -> dict:
    """Validate custom field values against the organisation's definitions."""
    values = values or {}
    if not isinstance(values, dict):
        raise ServiceError("Custom fields must be an object of key → value.", field="custom")
    definitions = {d.key: d for d in CustomField.objects.for_org(org).filter(object_type=object_type)}
    cleaned = dict(existing or {}) if partial else {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            raise ServiceError(f"No custom field {key!r} on {object_type}s.", field=f"custom.{key}")
        cleaned[key] = _clean_custom_value(definition, value)
    for key, definition in definitions.items():
        if definition.required and cleaned.get(key) in (None, "") and not partial:
            raise ServiceError(f"{definition.label} is required.", field=f"custom.{key}")
    return cleaned


def _clean_custom_value(definition: CustomField, value):
    field = f"custom.{definition.key}"
    if value is None or value == "":
        return None
    if definition.type == CustomField.Type.NUMBER:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ServiceError(f"{definition.label} must be a number.", field=field) from None
        return float(number)
    if definition.type == CustomField.Type.DATE:
        parsed = value if isinstance(value, date) else parse_date(str(value).strip())
        if parsed is None:
            raise ServiceError(f"{definition.label} must be a date (YYYY-MM-DD).", field=field)
        return parsed.isoformat()
    if definition.type == CustomField.Type.CHOICE:
        if value not in definition.choices:
            allowed = ", ".join(map(str, definition.choices))
            raise ServiceError(f"{definition.label} must be one of: {allowed}.", field=field)
        return value
    return normalize_text(value)


def channel_for(org, *values: str) -> str:
    """The canonical channel of the first raw source/UTM value that has a mapping."""
    raw = [v.strip().lower() for v in values if v and v.strip()]
    if not raw:
        return ""
    mapping = {m.raw_value: m.channel for m in SourceMapping.objects.for_org(org).filter(raw_value__in=raw)}
    for value in raw:
        if value in mapping:
            return mapping[value]
    return ""


def match_account(org, *, email: str, company: str = "") -> Account | None:
    domain = company_domain_of_email(email)
    if not domain:
        return None
    return Account.objects.for_org(org).filter(domain=domain).order_by("created_at", "id").first()


def _check_member(org, membership, field="owner"):
    if membership is not None and membership.organization_id != org.pk:
        raise ServiceError("The owner must be a member of this organisation.", field=field)


def _check_same_org(org, obj, field):
    if obj is not None and obj.organization_id != org.pk:
        raise ServiceError(f"No such {field} in this organisation.", field=field)


# --- Leads -------------------------------------------------------------------


def _utm_check(org, record, taxonomy, values: dict | None = None) -> None:
    """Refuse a record whose UTM values (its own, unless `values` are given) break a taxonomy
    enforced at ingest (UtmRefused).

    `taxonomy` is the one the caller read for its whole request or import; None reads it here."""
    from apps.execution.services import utm

    values = utm.ingest_values(record) if values is None else values
    if not any(values.values()):
        return  # an untagged record (a lead typed in, a logged call) passes every taxonomy
    utm.ingest_check(taxonomy or utm.ingest_taxonomy(org), values)


def _own_utm(record) -> dict:
    from apps.execution.services import utm

    return utm.ingest_values(record)


def _lead_payload(lead: Lead) -> dict:
    return {
        "id": lead.pk,
        "external_id": lead.external_id,
        "email": lead.email,
        "name": lead.full_name,
        "company": lead.company,
        "stage": lead.stage.key,
        "source": lead.source,
        "channel": lead.channel,
        "account": lead.account_id,
        "owner": lead.owner_id,
    }


@transaction.atomic
def lead_create(
    *,
    org,
    origin: str = Origin.API,
    actor=None,
    api_key=None,
    stage: str = "inquiry",
    reason: str = "",
    owner=None,
    account=None,
    custom=None,
    utm_taxonomy=None,
    **fields,
) -> Lead:
    unknown = set(fields) - {*LEAD_TEXT_FIELDS, "email", "country", "score", "captured_at", "external_id"}
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    _check_member(org, owner)
    _check_same_org(org, account, "account")
    lead = Lead(
        organization=org,
        owner=owner,
        custom=clean_custom(org=org, object_type=ObjectType.LEAD, values=custom),
    )
    for name in LEAD_TEXT_FIELDS:
        setattr(lead, name, normalize_text(fields.get(name, "")))
    lead.email = normalize_email(fields.get("email"))
    if not lead.email and not (lead.first_name or lead.last_name) and not fields.get("external_id"):
        raise ServiceError("A lead needs at least an e-mail, a name or an external id.", field="email")
    _utm_check(org, lead, utm_taxonomy)
    lead.country = (fields.get("country") or "").strip().upper()
    lead.score = int(fields.get("score") or 0)
    lead.external_id = fields.get("external_id") or None
    lead.captured_at = fields.get("captured_at") or timezone.now()
    lead.channel = channel_for(org, lead.source, lead.utm_source, lead.utm_medium)
    lead.account = account or match_account(org, email=lead.email, company=lead.company)
    stages = stages_by_key(org)  # read once: the machine stage rules below need them all
    if stage not in stages:
        raise ServiceError(f"There is no stage {stage!r}.", code="unknown_stage", field="stage")
    lead.stage = stages[stage]
    lead.stage_entered_at = lead.captured_at
    lead.completeness = quality.completeness(org=org, object_type=ObjectType.LEAD, record=lead)
    lead.save()
    StageEvent.objects.create(
        organization=org,
        lead=lead,
        from_stage="",
        to_stage=lead.stage.key,
        at=lead.captured_at,
        actor=actor,
        api_key_prefix=api_key.prefix if api_key else "",
        reason=reason,
        origin=origin,
    )
    if lead.email:
        _flag_email_duplicates(org, lead)
    outbox_emit(org=org, event_type="lead.created", data=_lead_payload(lead))
    lead_apply_stage_rules(org=org, lead=lead, actor=actor, stages=stages.values())
    _refresh_segments(org, lead=lead)
    if lead.owner_id is None:
        from apps.execution.services.routing import routing_request

        routing_request(org=org, lead=lead, trigger="created")
    return lead


def _flag_email_duplicates(org, lead: Lead) -> None:
    others = (
        Lead.objects.for_org(org)
        .filter(email=lead.email, merged_into__isnull=True)
        .exclude(pk=lead.pk)
        .values_list("pk", flat=True)[:20]
    )
    DuplicateCandidate.objects.bulk_create(
        [
            DuplicateCandidate(
                organization=org, lead=lead, other_id=other, reason=DuplicateCandidate.Reason.EMAIL
            )
            for other in others
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def lead_update(
    *, org, lead: Lead, actor=None, api_key=None, origin: str = Origin.API, reason: str = "", **fields
):
    """Change a lead's fields; a `stage` among them goes through lead_change_stage."""
    allowed = {
        *LEAD_TEXT_FIELDS,
        "email",
        "country",
        "score",
        "captured_at",
        "external_id",
        "owner",
        "account",
        "custom",
        "stage",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    new_stage = fields.pop("stage", None)
    if "owner" in fields:
        _check_member(org, fields["owner"])
        lead.owner = fields.pop("owner")
    if "account" in fields:
        _check_same_org(org, fields["account"], "account")
        lead.account = fields.pop("account")
    if "custom" in fields:
        lead.custom = clean_custom(
            org=org,
            object_type=ObjectType.LEAD,
            values=fields.pop("custom"),
            partial=True,
            existing=lead.custom,
        )
    for name in LEAD_TEXT_FIELDS:
        if name in fields:
            setattr(lead, name, normalize_text(fields[name]))
    if "email" in fields:
        lead.email = normalize_email(fields["email"])
        if lead.account_id is None:
            lead.account = match_account(org, email=lead.email)
    if "country" in fields:
        lead.country = (fields["country"] or "").strip().upper()
    if "score" in fields:
        lead.score = int(fields["score"] or 0)
    if fields.get("captured_at"):
        lead.captured_at = fields["captured_at"]
    if "external_id" in fields:
        lead.external_id = fields["external_id"] or None
    if {"source", "utm_source", "utm_medium"} & set(fields):
        lead.channel = channel_for(org, lead.source, lead.utm_source, lead.utm_medium)
    lead.completeness = quality.completeness(org=org, object_type=ObjectType.LEAD, record=lead)
    lead.save()
    if new_stage and new_stage != lead.stage.key:
        lead_change_stage(
            org=org, lead=lead, to=new_stage, actor=actor, api_key=api_key, origin=origin, reason=reason
        )
    else:
        lead_apply_stage_rules(org=org, lead=lead, actor=actor)
        _refresh_segments(org, lead=lead)  # lead_change_stage refreshes them itself
    if lead.owner_id is None:
        from apps.execution.services.routing import routing_retry_held

        routing_retry_held(org=org, lead=lead)
    return lead


@transaction.atomic
def lead_change_stage(
    *, org, lead: Lead, to: str, actor=None, api_key=None, origin: str = Origin.API, reason: str = "", at=None
) -> StageEvent:
    stage = _stage(org, to)
    # Lock the lead so two concurrent transitions append events in a consistent order.
    locked = (
        Lead.objects.select_for_update(of=("self",)).select_related("stage").get(pk=lead.pk, organization=org)
    )
    if locked.stage_id == stage.pk:
        raise ServiceError(f"The lead is already in {stage.name}.", code="same_stage", field="stage")
    at = at or timezone.now()
    event = StageEvent.objects.create(
        organization=org,
        lead=locked,
        from_stage=locked.stage.key,
        to_stage=stage.key,
        at=at,
        actor=actor,
        api_key_prefix=api_key.prefix if api_key else "",
        reason=reason[:500],
        origin=origin,
    )
    Lead.objects.filter(pk=lead.pk).update(stage=stage, stage_entered_at=at, updated_at=timezone.now())
    lead.stage, lead.stage_entered_at = stage, at
    _refresh_segments(org, lead=lead)
    _route_on_stage_change(org, locked, stage)
    _handoff_on_stage_change(org, event)
    _journey_goals(org, lead_ids=[lead.pk])
    outbox_emit(
        org=org,
        event_type="stage.changed",
        data={
            "lead": lead.pk,
            "from": event.from_stage,
            "to": event.to_stage,
            "at": at.isoformat(),
            "reason": reason,
        },
    )
    return event


def _journey_goals(org, **who) -> None:
    """A write that can meet a journey's exit goal lets the enrolments concerned leave at once."""
    from apps.execution.journeys import goals

    goals.exit_met(org=org, **who)


def _refresh_segments(org, *, lead=None, account=None) -> None:
    """Keep segment memberships current: one statement per write, none without segments."""
    from apps.strategy.services import segments

    if lead is not None:
        segments.refresh_lead(org=org, lead_id=lead.pk)
    if account is not None:
        segments.refresh_account(org=org, account_id=account.pk)


def _handoff_on_stage_change(org, event: StageEvent) -> None:
    """MQL → SAL hands the lead to sales: the hand-off is created on commit, off this path."""
    from apps.execution.services import handoffs

    handoffs.handoff_on_stage_change(org=org, event=event)


def _route_on_stage_change(org, before: Lead, stage: LifecycleStage) -> None:
    """Leaving the working funnel frees the rep's capacity; becoming qualified
    without an owner asks routing for one."""
    from apps.execution.services import routing

    if stage.kind == DETOUR or stage.key == "customer":
        routing.assignments_close_for_lead(org=org, lead=before)
        return
    qualified = stages_by_key(org).get(QUALIFIED_FROM)
    was_qualified = before.stage.kind == FUNNEL and qualified and before.stage.order >= qualified.order
    if qualified and not was_qualified and stage.order >= qualified.order and before.owner_id is None:
        routing.routing_request(org=org, lead=before, trigger="qualified")


def lead_apply_stage_rules(*, org, lead: Lead, actor=None, stages=None) -> StageEvent | None:
    """Move a lead forward to the furthest funnel stage whose machine rule it meets.

    `stages` are the organisation's stages, when the caller has them already.
    """
    stages = LifecycleStage.objects.for_org(org) if stages is None else stages
    ruled = sorted(
        (s for s in stages if s.kind == FUNNEL and s.order > lead.stage.order and s.rule != []),
        key=lambda s: -s.order,
    )
    if not ruled:
        return None
    record = quality.as_record(lead)
    candidates = [s for s in ruled if conditions.matches(s.rule, record)]
    if not candidates:
        return None
    return lead_change_stage(
        org=org,
        lead=lead,
        to=candidates[0].key,
        actor=actor,
        origin=Origin.AUTOMATION,
        reason=f"Met the rule of {candidates[0].name}",
    )


def find_lead_for_upsert(org, *, match_on: str, values: dict) -> Lead | None:
    qs = Lead.objects.for_org(org).filter(merged_into__isnull=True)
    if match_on == "external_id":
        key = values.get("external_id")
        lead = Lead.objects.for_org(org).filter(external_id=key).first() if key else None
        # A merged lead may keep its external id; updates for it belong to the lead it was merged into.
        while lead is not None and lead.merged_into_id:
            lead = Lead.objects.for_org(org).filter(pk=lead.merged_into_id).first()
        return lead
    if match_on == "email":
        email = normalize_email(values.get("email"))
        return qs.filter(email=email).order_by("created_at", "id").first() if email else None
    raise ServiceError(f"Cannot match leads on {match_on!r}; use external_id or email.", field="match_on")


@transaction.atomic
def lead_upsert(
    *, org, match_on: str, origin: str = Origin.API, actor=None, api_key=None, utm_taxonomy=None, **values
):
    """Update the lead matching `match_on`, or create one. Returns (lead, created)."""
    existing = find_lead_for_upsert(org, match_on=match_on, values=values)
    if existing is None:
        lead = lead_create(
            org=org, origin=origin, actor=actor, api_key=api_key, utm_taxonomy=utm_taxonomy, **values
        )
        return lead, True
    # The UTM values the lead will carry: the ones given, and its own for the rest.
    after = {name: normalize_text(values.get(name, own)) for name, own in _own_utm(existing).items()}
    _utm_check(org, existing, utm_taxonomy, values=after)
    values.pop("reason", None)
    return lead_update(org=org, lead=existing, actor=actor, api_key=api_key, origin=origin, **values), False


# --- Accounts ------------------------------------------------------------------


def _clean_account_fields(org, account: Account, fields: dict, partial: bool) -> None:
    for name in ACCOUNT_TEXT_FIELDS:
        if name in fields:
            setattr(account, name, normalize_text(fields[name]))
    if "domain" in fields:
        account.domain = normalize_domain(fields["domain"])
    if "country" in fields:
        account.country = (fields["country"] or "").strip().upper()
    for name in ("employees", "annual_revenue", "external_id"):
        if name in fields:
            setattr(account, name, fields[name] if fields[name] not in ("",) else None)
    if "owner" in fields:
        _check_member(org, fields["owner"])
        account.owner = fields["owner"]
    if "custom" in fields:
        account.custom = clean_custom(
            org=org,
            object_type=ObjectType.ACCOUNT,
            values=fields["custom"],
            partial=partial,
            existing=account.custom,
        )
    if not account.name:
        raise ServiceError("An account needs a name.", field="name")


ACCOUNT_FIELDS = {
    *ACCOUNT_TEXT_FIELDS,
    "domain",
    "country",
    "employees",
    "annual_revenue",
    "external_id",
    "owner",
    "custom",
}


@transaction.atomic
def account_create(*, org, **fields) -> Account:
    unknown = set(fields) - ACCOUNT_FIELDS
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    account = Account(organization=org)
    _clean_account_fields(org, account, fields, partial=False)
    account.completeness = quality.completeness(org=org, object_type=ObjectType.ACCOUNT, record=account)
    account.save()
    # Leads that arrived before their account existed join it now.
    if account.domain:
        Lead.objects.for_org(org).filter(account__isnull=True, email__endswith="@" + account.domain).update(
            account=account
        )
    _refresh_segments(org, account=account)
    _route_unowned(org, account)
    return account


@transaction.atomic
def account_update(*, org, account: Account, **fields) -> Account:
    unknown = set(fields) - ACCOUNT_FIELDS
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    _clean_account_fields(org, account, fields, partial=True)
    account.completeness = quality.completeness(org=org, object_type=ObjectType.ACCOUNT, record=account)
    account.save()
    _refresh_segments(org, account=account)
    return account


@transaction.atomic
def account_upsert(*, org, match_on: str, **values):
    qs = Account.objects.for_org(org)
    if match_on == "external_id":
        existing = (
            qs.filter(external_id=values.get("external_id")).first() if values.get("external_id") else None
        )
    elif match_on == "domain":
        domain = normalize_domain(values.get("domain"))
        existing = qs.filter(domain=domain).order_by("created_at", "id").first() if domain else None
    else:
        raise ServiceError(
            f"Cannot match accounts on {match_on!r}; use external_id or domain.", field="match_on"
        )
    if existing is None:
        return account_create(org=org, **values), True
    return account_update(org=org, account=existing, **values), False


# --- Opportunities, customers, touchpoints ----------------------------------------

OPPORTUNITY_FIELDS = {
    "name", "account", "primary_contact", "amount", "currency", "stage", "status", "type", "source",
    "created_date", "close_date", "owner", "loss_reason", "external_id", "custom",
}  # fmt: skip


def _apply_opportunity(org, opportunity: Opportunity, fields: dict, partial: bool) -> None:
    unknown = set(fields) - OPPORTUNITY_FIELDS
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    _check_same_org(org, fields.get("account"), "account")
    _check_same_org(org, fields.get("primary_contact"), "primary_contact")
    _check_member(org, fields.get("owner"))
    if "custom" in fields:
        fields["custom"] = clean_custom(
            org=org, object_type=ObjectType.OPPORTUNITY, values=fields["custom"], partial=partial,
            existing=opportunity.custom,
        )  # fmt: skip
    for key, value in fields.items():
        setattr(opportunity, key, value)
    if not opportunity.currency:
        opportunity.currency = org.currency
    if opportunity.amount is None or Decimal(opportunity.amount) < 0:
        raise ServiceError("The amount cannot be negative.", field="amount")
    if opportunity.status == Opportunity.Status.LOST and not opportunity.loss_reason:
        raise ServiceError("Say why the deal was lost.", field="loss_reason")
    if opportunity.status != Opportunity.Status.OPEN and not opportunity.close_date:
        opportunity.close_date = timezone.localdate()


@transaction.atomic
def opportunity_create(*, org, **fields) -> Opportunity:
    if not (fields.get("name") or "").strip():
        raise ServiceError("An opportunity needs a name.", field="name")
    opportunity = Opportunity(organization=org)
    _apply_opportunity(org, opportunity, fields, partial=False)
    opportunity.save()
    _handoff_on_won(org, opportunity, was_won=False)
    _route_unowned(org, opportunity)
    if opportunity.primary_contact_id or opportunity.account_id:
        _journey_goals(
            org,
            lead_ids=[opportunity.primary_contact_id] if opportunity.primary_contact_id else [],
            account_id=opportunity.account_id,
        )
    return opportunity


def _route_unowned(org, record: Account | Opportunity) -> None:
    """A new account, or a new open opportunity, without an owner asks its routing policy for one."""
    if record.owner_id is not None:
        return
    if isinstance(record, Opportunity) and record.status != Opportunity.Status.OPEN:
        return  # a closed deal loaded from history has nobody left to work it
    from apps.execution.services import ownership

    ownership.ownership_request(org=org, record=record)


@transaction.atomic
def opportunity_update(*, org, opportunity: Opportunity, **fields) -> Opportunity:
    was_won = opportunity.status == Opportunity.Status.WON
    _apply_opportunity(org, opportunity, fields, partial=True)
    opportunity.save()
    _handoff_on_won(org, opportunity, was_won=was_won)
    return opportunity


def _handoff_on_won(org, opportunity: Opportunity, *, was_won: bool) -> None:
    """A new win hands the account to customer success (onboarding), created on commit."""
    from apps.execution.services import handoffs

    handoffs.handoff_on_won(org=org, opportunity=opportunity, was_won=was_won)


@transaction.atomic
def customer_create(*, org, account: Account, arr, start_date, churn_date=None) -> Customer:
    _check_same_org(org, account, "account")
    if churn_date and churn_date < start_date:
        raise ServiceError("The churn date is before the start date.", field="churn_date")
    return Customer.objects.create(
        organization=org, account=account, arr=arr, start_date=start_date, churn_date=churn_date
    )


TOUCHPOINT_FIELDS = {
    "lead", "account", "channel", "source", "medium", "utm_source", "utm_medium", "utm_campaign",
    "utm_term", "utm_content", "campaign_ref", "type", "occurred_at", "external_id", "note",
}  # fmt: skip


@transaction.atomic
def touchpoint_create(*, org, utm_taxonomy=None, **fields) -> Touchpoint:
    unknown = set(fields) - TOUCHPOINT_FIELDS
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    lead = fields.get("lead")
    _check_same_org(org, lead, "lead")
    _check_same_org(org, fields.get("account"), "account")
    if lead is None and fields.get("account") is None:
        raise ServiceError("A touchpoint belongs to a lead or an account.", field="lead")
    touchpoint = Touchpoint(organization=org)
    for key, value in fields.items():
        setattr(touchpoint, key, normalize_text(value) if isinstance(value, str) else value)
    touchpoint.external_id = fields.get("external_id") or None
    _utm_check(org, touchpoint, utm_taxonomy)
    if touchpoint.account is None and lead is not None:
        touchpoint.account_id = lead.account_id
    if not touchpoint.channel:
        touchpoint.channel = channel_for(org, touchpoint.source, touchpoint.utm_source, touchpoint.utm_medium)
    touchpoint.occurred_at = fields.get("occurred_at") or timezone.now()
    touchpoint.save()
    _touch_segments(org, touchpoint)
    if touchpoint.lead_id and touchpoint.type in REPLY_TOUCHES:
        _journey_goals(org, lead_ids=[touchpoint.lead_id])
    return touchpoint


@transaction.atomic
def touchpoint_upsert(*, org, utm_taxonomy=None, **fields):
    external_id = fields.get("external_id")
    if external_id:
        existing = Touchpoint.objects.for_org(org).filter(external_id=external_id).first()
        if existing is not None:
            before = _touch_facts(existing)
            for key, value in fields.items():
                setattr(existing, key, value)
            _utm_check(org, existing, utm_taxonomy)
            existing.save()
            if _touch_facts(existing) != before:
                _touchpoint_moved(org, before, _touch_facts(existing))
                _touch_segments(org, existing)
            return existing, False
    return touchpoint_create(org=org, utm_taxonomy=utm_taxonomy, **fields), True


def _touch_segments(org, touchpoint: Touchpoint) -> None:
    """Segments scoring touches in the last 30 or 90 days follow each touchpoint of their records."""
    from apps.strategy.services import segments

    segments.refresh_on_touch(org=org, lead_id=touchpoint.lead_id, account_id=touchpoint.account_id)


def _touch_facts(touchpoint: Touchpoint) -> tuple:
    """What the rollups read of a touchpoint: when, whose, and its channel and campaign."""
    return (
        touchpoint.occurred_at,
        touchpoint.lead_id,
        touchpoint.account_id,
        touchpoint.channel,
        touchpoint.utm_campaign,
    )


def _touchpoint_moved(org, before: tuple, after: tuple) -> None:
    """An edited touchpoint changes the touch facts of its old and its new day, and the attribution of
    the opportunities of its person and account, before and after. The rollups find new touchpoints by
    when they were written, not edited ones, so those days are named for the next run."""
    from apps.measurement.services import rollup

    zone = ZoneInfo(org.time_zone)
    days = {timezone.localdate(parse_when(facts[0]), zone) for facts in (before, after)}
    leads = {facts[1] for facts in (before, after)} - {None}
    accounts = {facts[2] for facts in (before, after)} - {None}
    related = Q(primary_contact_id__in=leads) | Q(account_id__in=accounts)
    days |= set(Opportunity.objects.for_org(org).filter(related).values_list("created_date", flat=True))
    rollup.mark_dirty(org, days, reason="touchpoint edited")


def parse_when(value) -> datetime | None:
    """Accept aware datetimes, ISO strings, or dates (midnight UTC)."""
    from django.utils.dateparse import parse_datetime

    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    parsed = parse_datetime(str(value).strip())
    if parsed is None:
        day = parse_date(str(value).strip())
        if day is None:
            raise ServiceError(f"{value!r} is not a date or date-time.", field="captured_at")
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)
