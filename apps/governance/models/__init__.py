"""Governance: the operating reviews where a team decides, and the change requests that alone may
change the operating model (stages, routing, SLAs, metric definitions, the KPI tree)."""

from .changes import ChangeRequest, ChangeStatus, ChangeSubject, GovernanceSettings
from .reviews import ActionItem, ActionStatus, AgendaItem, AgendaSource, Decision, OperatingReview, ReviewKind

__all__ = [
    "ActionItem",
    "ActionStatus",
    "AgendaItem",
    "AgendaSource",
    "ChangeRequest",
    "ChangeStatus",
    "ChangeSubject",
    "Decision",
    "GovernanceSettings",
    "OperatingReview",
    "ReviewKind",
]
