"""Change control: the one check the operating model's edit services run first.

When an organisation turns change control on, stage definitions, routing policies, SLA policies, the
metric settings and the KPI tree change only by applying a change request. Each edit service calls
`ensure_direct_edit_allowed(org, subject)` at its top; applying a change request runs inside
`applying_change_request()`, which lets those same services (with their own validation, audit and
side effects) through.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from apps.core.errors import ServiceError

_applying: ContextVar[bool] = ContextVar("applying_change_request", default=False)

UNDER_CONTROL = {
    "stages": "Stage definitions are",
    "routing": "Routing policies are",
    "sla": "SLA policies are",
    "metrics": "Metric definitions (the measurement settings) are",
    "kpi": "The KPI tree is",
}


@contextmanager
def applying_change_request():
    """Mark the writes made inside the block as the sanctioned path (a change request being applied)."""
    token = _applying.set(True)
    try:
        yield
    finally:
        _applying.reset(token)


def change_control_on(org) -> bool:
    from apps.governance.models import GovernanceSettings

    org_id = getattr(org, "pk", org)
    return GovernanceSettings.objects.filter(organization_id=org_id, change_control=True).exists()


def ensure_direct_edit_allowed(org, subject: str) -> None:
    """Refuse a direct edit of `subject` while the organisation has change control on."""
    if _applying.get() or not change_control_on(org):
        return
    raise ServiceError(
        f"{UNDER_CONTROL[subject]} under change control in this organisation: propose the change as a "
        "change request (Governance → Change requests); it applies once approved.",
        code="change_control",
    )
