"""A routing policy: the rules and the fallback queue of its published version.

The document is {"rules": [...], "fallback_pool": pool id or null}, rules in the stored format
(`execution.services.policies.clean_rules`). Applying writes them to the policy's draft and publishes
it with `policy_publish`, which audits the version and records its own diff; a draft someone was
editing by hand is replaced by the proposed rules.
"""

import difflib

from apps.core.errors import ServiceError
from apps.execution.models import RoutingPolicy, RoutingPolicyVersion, RoutingPool
from apps.execution.services import policies

from . import base

SUBJECT = "routing"


def policy(org, target) -> RoutingPolicy | None:
    """The policy a request targets: by id, or the lead policy when it names none."""
    if target is None:
        return RoutingPolicy.objects.for_org(org).filter(object_type=RoutingPolicy.Object.LEAD).first()
    return RoutingPolicy.objects.for_org(org).filter(pk=target).first()


def targets(org) -> list[tuple[int, str]]:
    return [(p.pk, p.name) for p in RoutingPolicy.objects.for_org(org).order_by("object_type")]


def target_label(org, target) -> str:
    found = policy(org, target)
    return found.name if found else "Lead routing"


def export(org, target=None) -> dict:
    found = policy(org, target)
    published = found.versions.filter(status=RoutingPolicyVersion.Status.PUBLISHED).first() if found else None
    if published is None:
        return {"rules": [], "fallback_pool": None}
    return {"rules": published.rules, "fallback_pool": published.fallback_pool_id}


def validate(org, target, proposed) -> dict[str, list[str]]:
    if target is not None and policy(org, target) is None:
        return {"target_id": ["No such routing policy in this organisation."]}
    errors = base.require_object(proposed, {"rules": list, "fallback_pool": (int, type(None))})
    if errors:
        return errors
    found = policy(org, target)
    try:
        policies.clean_rules(
            org=org,
            rules=proposed["rules"],
            object_type=found.object_type if found else RoutingPolicy.Object.LEAD,
        )
    except ServiceError as error:
        return {error.field or "rules": [error.message]}
    return base.dry_run(apply, org, target, proposed)


def unsaved_version(org, target, proposed) -> RoutingPolicyVersion:
    """The proposed rules as a version that is never saved, for the simulator."""
    found = policy(org, target) or RoutingPolicy(organization=org, object_type=RoutingPolicy.Object.LEAD)
    return RoutingPolicyVersion(
        organization=org,
        policy=found,
        number=0,
        rules=policies.clean_rules(org=org, rules=proposed["rules"], object_type=found.object_type),
        fallback_pool_id=proposed["fallback_pool"],
    )


def apply(org, target, proposed, by=None, note: str = "") -> None:
    found = policy(org, target) or policies.policy_for(org)
    fallback = None
    if proposed["fallback_pool"] is not None:
        fallback = RoutingPool.objects.for_org(org).filter(pk=proposed["fallback_pool"]).first()
        if fallback is None:
            raise ServiceError("Choose a queue of this organisation.", field="fallback_pool")
    actor = getattr(by, "user", None)
    draft = policies.draft_update(org=org, policy=found, rules=proposed["rules"], actor=actor)
    # draft_update reads an empty fallback as "leave it"; the document says exactly which queue.
    draft.fallback_pool = fallback
    draft.save(update_fields=["fallback_pool", "updated_at"])
    policies.policy_publish(org=org, policy=found, actor=actor, note=note)


diff = base.diff


def readable_diff(org, target, before: dict, after: dict) -> list[str]:
    """The rules as people read them (queues and reps by name), before and after, as a unified diff."""

    def text(document) -> list[str]:
        if not document:
            return []
        version = RoutingPolicyVersion(
            organization=org,
            rules=document.get("rules") or [],
            fallback_pool_id=document.get("fallback_pool"),
        )
        return policies.snapshot_text(version)

    return list(
        difflib.unified_diff(text(before), text(after), fromfile="current", tofile="proposed", lineterm="")
    )
