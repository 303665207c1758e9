"""Roles and what each may do: the one place permissions are decided.

Views and API viewsets ask `can(role, permission)` (usually through
`Membership.can`); nothing else compares role names.
"""

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    REVOPS_LEAD = "revops_lead", "RevOps lead"
    MARKETER = "marketer", "Marketer"
    SALES_MANAGER = "sales_manager", "Sales manager"
    SALES_REP = "sales_rep", "Sales rep"
    VIEWER = "viewer", "Viewer"


ALL = frozenset(Role)
OPERATORS = frozenset({Role.ADMIN, Role.REVOPS_LEAD})

PERMISSIONS: dict[str, frozenset[Role]] = {
    # Everyone in the organisation can read its data and definitions.
    "org.view": ALL,
    "org.edit": frozenset({Role.ADMIN}),
    "members.manage": frozenset({Role.ADMIN}),
    "teams.manage": frozenset({Role.ADMIN, Role.REVOPS_LEAD, Role.SALES_MANAGER}),
    "api_keys.manage": frozenset({Role.ADMIN}),
    "webhooks.manage": frozenset({Role.ADMIN, Role.REVOPS_LEAD}),
    "audit.view": frozenset({Role.ADMIN, Role.REVOPS_LEAD}),
    "security_log.view": frozenset({Role.ADMIN}),
    # The operating model: stages, routing, SLAs, metric definitions.
    "routing.edit": OPERATORS,
    "sla.edit": OPERATORS,
    "definitions.edit": OPERATORS,
    "operating_model.approve": OPERATORS,
    "strategy.edit": OPERATORS,
    # Operating reviews: plan, hold, record decisions and action items. Any member reads them and
    # updates the action items they own.
    "reviews.run": OPERATORS,
    "campaigns.edit": frozenset({Role.ADMIN, Role.REVOPS_LEAD, Role.MARKETER}),
    # Marketing operations: triage requests, move campaigns through build, QA and launch, own the
    # QA checklist and the UTM taxonomy. Any member may submit an intake request ("org.view").
    "campaigns.operate": OPERATORS,
    "leads.work": frozenset({Role.ADMIN, Role.REVOPS_LEAD, Role.SALES_MANAGER, Role.SALES_REP}),
    "leads.reassign": frozenset({Role.ADMIN, Role.REVOPS_LEAD, Role.SALES_MANAGER}),
    "data.import": frozenset({Role.ADMIN, Role.REVOPS_LEAD, Role.MARKETER}),
    "data.export": frozenset({Role.ADMIN, Role.REVOPS_LEAD, Role.MARKETER, Role.SALES_MANAGER}),
}


def can(role: str, permission: str) -> bool:
    try:
        allowed = PERMISSIONS[permission]
    except KeyError:
        raise KeyError(
            f"Unknown permission {permission!r}; add it to apps.accounts.roles.PERMISSIONS."
        ) from None
    return role in allowed
