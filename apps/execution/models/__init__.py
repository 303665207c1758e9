"""Execution: routing, the rep inbox, SLA timers and notifications."""

from .people import BusinessCalendar, OutOfOffice, RepProfile
from .routing import (
    Assignment,
    PoolMember,
    RejectReason,
    RoutingDecision,
    RoutingPolicy,
    RoutingPolicyVersion,
    RoutingPool,
    RoutingRequest,
)
from .sla import Notification, SlaEvent, SlaPolicy, SlaTimer

__all__ = [
    "Assignment",
    "BusinessCalendar",
    "Notification",
    "OutOfOffice",
    "PoolMember",
    "RejectReason",
    "RepProfile",
    "RoutingDecision",
    "RoutingPolicy",
    "RoutingPolicyVersion",
    "RoutingPool",
    "RoutingRequest",
    "SlaEvent",
    "SlaPolicy",
    "SlaTimer",
]
