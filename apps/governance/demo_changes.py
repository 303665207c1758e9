"""Demo change requests: one applied twelve days ago (the gross margin the LTV and CAC payback use) and
one awaiting approval (a lower enterprise threshold in lead routing), with its impact preview.

Both go through the workflow services as the demo people would; only the dates are moved back
afterwards, so the list and the definitions page's as-of view have a past to show.
"""

import contextlib
import copy
from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import RoutingPolicy
from apps.governance.changes import metrics, routing
from apps.governance.models import ChangeRequest
from apps.governance.services import changes as services

ENTERPRISE_FIELD = "account.employees"
PROPOSED_THRESHOLD = 250


def _member(org, role) -> Membership | None:
    return Membership.objects.for_org(org).filter(role=role, is_active=True).order_by("pk").first()


def _applied_margin(org, requester, approver) -> ChangeRequest:
    now = timezone.now()
    change = services.change_create(
        org=org,
        by=requester,
        subject="metrics",
        title="Gross margin after hosting costs: 78 %",
        rationale="Finance books hosting in cost of sales now; LTV and CAC payback should use that margin.",
        proposed={**metrics.export(org), "gross_margin": 0.78},
    )
    services.change_submit(org=org, change=change, by=requester)
    services.change_approve(org=org, change=change, by=approver, note="Matches the board pack.")
    ChangeRequest.objects.filter(pk=change.pk).update(
        created_at=now - timedelta(days=14),
        submitted_at=now - timedelta(days=13),
        decided_at=now - timedelta(days=12),
        applied_at=now - timedelta(days=12),
    )
    return change


def _routing_proposal(org, requester) -> ChangeRequest | None:
    policy = RoutingPolicy.objects.for_org(org).filter(object_type=RoutingPolicy.Object.LEAD).first()
    if policy is None:
        return None
    proposed = copy.deepcopy(routing.export(org, policy.pk))
    rule = next(
        (r for r in proposed["rules"] if any(c.get("field") == ENTERPRISE_FIELD for c in r["conditions"])),
        None,
    )
    if rule is None:
        return None
    for condition in rule["conditions"]:
        if condition.get("field") == ENTERPRISE_FIELD:
            condition["value"] = PROPOSED_THRESHOLD
    rule["name"] = f"Enterprise ({PROPOSED_THRESHOLD}+ employees) to the AEs"
    change = services.change_create(
        org=org,
        by=requester,
        subject="routing",
        target_id=policy.pk,
        title=f"Send accounts of {PROPOSED_THRESHOLD}+ employees to the AEs",
        rationale="Mid-market deals stall with SDRs; the AEs have room this quarter.",
        proposed=proposed,
    )
    services.change_submit(org=org, change=change, by=requester)
    with contextlib.suppress(ServiceError):  # the preview is a convenience; the request stands without it
        services.change_preview(org=org, change=change)
    return change


def seed_changes(org) -> dict | None:
    """Seed the two requests once; None when the organisation has change requests already."""
    if ChangeRequest.objects.for_org(org).exists():
        return None
    admin, revops = _member(org, Role.ADMIN), _member(org, Role.REVOPS_LEAD)
    manager = _member(org, Role.SALES_MANAGER) or revops
    if admin is None or revops is None:
        return None
    applied = _applied_margin(org, revops, admin)
    pending = _routing_proposal(org, manager)
    return {"applied": 1 if applied else 0, "awaiting approval": 1 if pending else 0}
