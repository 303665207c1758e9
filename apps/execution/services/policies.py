"""Routing policies: editing the draft, publishing it (audited, with a diff)
and turning stored rules into the engine's records."""

import difflib
import json
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import Membership
from apps.core.errors import ServiceError
from apps.execution.models import RoutingPolicy, RoutingPolicyVersion, RoutingPool
from apps.execution.routing import types
from apps.governance.changes.guard import ensure_direct_edit_allowed
from apps.records import conditions


def rules_for_engine(rules_json) -> tuple[types.Rule, ...]:
    return tuple(
        types.Rule(
            name=rule.get("name") or f"Rule {index + 1}",
            conditions=tuple(rule.get("conditions") or ()),
            action=types.Action(
                type=rule["action"]["type"],
                person=rule["action"].get("person"),
                pool=rule["action"].get("pool"),
                min_completeness=rule["action"].get("min_completeness"),
            ),
        )
        for index, rule in enumerate(rules_json)
    )


# Holding waits for a record's completeness score; opportunities have none, so nothing would release them.
NO_COMPLETENESS = "Opportunities have no completeness score to wait for: choose another action."


def clean_rules(*, org, rules, object_type: str = RoutingPolicy.Object.LEAD) -> list[dict]:
    """Validate stored rules of `object_type`'s policy; every error names the rule and the field."""
    if not isinstance(rules, list):
        raise ServiceError("Rules are a list.", field="rules")
    pool_ids = set(RoutingPool.objects.for_org(org).values_list("pk", flat=True))
    member_ids = set(Membership.objects.for_org(org).values_list("pk", flat=True))
    cleaned = []
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        if not isinstance(rule, dict):
            raise ServiceError("A rule is an object.", field=where)
        try:
            conds = conditions.validate(list(rule.get("conditions") or []))
        except conditions.ConditionError as error:
            raise ServiceError(str(error), field=f"{where}.conditions") from error
        action = rule.get("action") or {}
        kind = action.get("type")
        if kind not in types.ACTIONS:
            raise ServiceError(f"Unknown action {kind!r}.", field=f"{where}.action.type")
        if kind == types.HOLD_FOR_DATA and object_type == RoutingPolicy.Object.OPPORTUNITY:
            raise ServiceError(NO_COMPLETENESS, field=f"{where}.action.type")
        clean_action = {"type": kind}
        if kind == types.ASSIGN_PERSON:
            if action.get("person") not in member_ids:
                raise ServiceError("Choose a person of this organisation.", field=f"{where}.action.person")
            clean_action["person"] = action["person"]
        if kind == types.ASSIGN_POOL and action.get("pool") is None:
            raise ServiceError("Choose a team queue.", field=f"{where}.action.pool")
        if action.get("pool") is not None:
            if action["pool"] not in pool_ids:
                raise ServiceError("Choose a queue of this organisation.", field=f"{where}.action.pool")
            clean_action["pool"] = action["pool"]
        if kind == types.HOLD_FOR_DATA:
            threshold = action.get("min_completeness")
            if not isinstance(threshold, int | float) or not 0 < threshold <= 1:
                raise ServiceError(
                    "Give the completeness threshold between 0 and 1.",
                    field=f"{where}.action.min_completeness",
                )
            clean_action["min_completeness"] = float(threshold)
        cleaned.append({"name": str(rule.get("name") or f"Rule {index + 1}")[:200], "conditions": conds,
                        "action": clean_action})  # fmt: skip
    return cleaned


def policy_for(org, object_type: str = RoutingPolicy.Object.LEAD) -> RoutingPolicy:
    policy, _ = RoutingPolicy.objects.get_or_create(
        organization=org, object_type=object_type, defaults={"name": f"{object_type.title()} routing"}
    )
    return policy


def published_version(org, object_type: str = RoutingPolicy.Object.LEAD) -> RoutingPolicyVersion | None:
    return (
        RoutingPolicyVersion.objects.for_org(org)
        .filter(policy__object_type=object_type, status=RoutingPolicyVersion.Status.PUBLISHED)
        .first()
    )


class PublishedPolicy(NamedTuple):
    """What routing needs of the published version: its id, fallback queue and rules."""

    version_id: int
    fallback_pool_id: int | None
    rules: tuple[types.Rule, ...]


# `published_version` without the model: every lead ingest reads it twice, and building
# that queryset cost several times what the query does.
_PUBLISHED_SQL = """
    SELECT v.id, v.fallback_pool_id, v.rules
    FROM execution_routingpolicyversion AS v
    JOIN execution_routingpolicy AS p ON p.id = v.policy_id
    WHERE v.organization_id = %(org)s AND p.object_type = %(object)s AND v.status = %(published)s
"""


def published_policy(org, object_type: str = RoutingPolicy.Object.LEAD) -> PublishedPolicy | None:
    """The published version's id, fallback queue and rules, read fresh (no cache to go stale)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _PUBLISHED_SQL,
            {"org": org.pk, "object": object_type, "published": RoutingPolicyVersion.Status.PUBLISHED},
        )
        row = cursor.fetchone()
    if row is None:
        return None
    version_id, fallback_pool_id, rules = row
    # jsonb comes back as text (Django leaves decoding to the model field).
    rules = json.loads(rules) if isinstance(rules, str) else rules
    return PublishedPolicy(version_id, fallback_pool_id, rules_for_engine(rules))


@transaction.atomic
def draft_for(*, org, policy: RoutingPolicy, actor=None) -> RoutingPolicyVersion:
    """The policy's draft, started from the published version when there is none."""
    RoutingPolicy.objects.select_for_update().get(pk=policy.pk, organization=org)
    draft = policy.versions.filter(status=RoutingPolicyVersion.Status.DRAFT).first()
    if draft:
        return draft
    published = policy.versions.filter(status=RoutingPolicyVersion.Status.PUBLISHED).first()
    last = policy.versions.order_by("-number").values_list("number", flat=True).first() or 0
    return RoutingPolicyVersion.objects.create(
        organization=org,
        policy=policy,
        number=last + 1,
        rules=published.rules if published else [],
        fallback_pool=published.fallback_pool if published else None,
        created_by=actor,
    )


@transaction.atomic
def draft_update(*, org, policy: RoutingPolicy, rules=None, fallback_pool=None, actor=None, **_):
    draft = draft_for(org=org, policy=policy, actor=actor)
    if rules is not None:
        draft.rules = clean_rules(org=org, rules=rules, object_type=policy.object_type)
    if fallback_pool is not None:
        if fallback_pool and fallback_pool.organization_id != org.pk:
            raise ServiceError("Choose a queue of this organisation.", field="fallback_pool")
        draft.fallback_pool = fallback_pool or None
    draft.save()
    return draft


def snapshot_text(version: RoutingPolicyVersion | None) -> list[str]:
    if version is None:
        return []
    pools = dict(RoutingPool.objects.for_org(version.organization_id).values_list("pk", "name"))
    people = {
        m.pk: m.user.display_name
        for m in Membership.objects.filter(organization_id=version.organization_id).select_related("user")
    }
    # Versions built to compare documents (governance) may have no policy: those are lead rules.
    routed = version.policy.object_type if version.policy_id else RoutingPolicy.Object.LEAD
    lines = []
    for index, rule in enumerate(version.rules):
        lines.append(f"{index + 1}. {rule['name']}")
        for condition in rule["conditions"] or [{"field": f"(any {routed})", "op": "is_not_empty"}]:
            lines.append(f"   when {conditions.describe(condition)}")
        action = rule["action"]
        target = people.get(action.get("person")) or pools.get(action.get("pool")) or ""
        extra = f" {action['min_completeness']:.0%}" if "min_completeness" in action else ""
        lines.append(f"   then {types.ACTIONS[action['type']].lower()} {target}{extra}".rstrip())
    lines.append(f"Fallback queue: {pools.get(version.fallback_pool_id, 'none')}")
    return lines


def policy_diff(old: RoutingPolicyVersion | None, new: RoutingPolicyVersion) -> list[str]:
    return list(
        difflib.unified_diff(
            snapshot_text(old),
            snapshot_text(new),
            fromfile=f"v{old.number}" if old else "nothing published",
            tofile=f"v{new.number}",
            lineterm="",
        )
    )


@transaction.atomic
def policy_publish(*, org, policy: RoutingPolicy, actor, note: str = "") -> RoutingPolicyVersion:
    ensure_direct_edit_allowed(org, "routing")
    RoutingPolicy.objects.select_for_update().get(pk=policy.pk, organization=org)
    draft = policy.versions.filter(status=RoutingPolicyVersion.Status.DRAFT).first()
    if draft is None:
        raise ServiceError("There is no draft to publish.", code="no_draft")
    if not draft.rules and draft.fallback_pool_id is None:
        raise ServiceError("Add a rule or a fallback queue before publishing.", field="rules")
    # Pools or people may have gone since the draft was saved.
    clean_rules(org=org, rules=draft.rules, object_type=policy.object_type)
    previous = policy.versions.filter(status=RoutingPolicyVersion.Status.PUBLISHED).first()
    diff = policy_diff(previous, draft)
    if previous:
        previous.status = RoutingPolicyVersion.Status.RETIRED
        previous.save(update_fields=["status", "updated_at"])
    draft.status = RoutingPolicyVersion.Status.PUBLISHED
    draft.published_at = timezone.now()
    draft.published_by = actor
    draft.note = note[:300]
    draft.diff = diff
    draft.save()
    return draft


def rules_json_dump(rules) -> str:
    return json.dumps(rules, indent=2, sort_keys=True)
