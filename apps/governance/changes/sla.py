"""An SLA policy: its clock, target, calendar, filters and escalation ladder.

The document holds the fields `execution.services.setup.sla_policy_update` takes, with the calendar and
the team as ids. A request with no target proposes a new policy: applying creates it (and records its
id as the request's target); rolling that back deactivates it (its timers keep their history).
"""

from apps.accounts.models import Team
from apps.core.errors import ServiceError
from apps.execution.models import BusinessCalendar, SlaPolicy
from apps.execution.models.sla import Clock
from apps.execution.services import setup

from . import base

SUBJECT = "sla"
KEYS = {"name": str, "clock": str, "target_minutes": int, "calendar": (int, type(None)), "stage": str,
        "team": (int, type(None)), "conditions": list, "escalation": list, "is_active": bool}  # fmt: skip
# What "no policy yet" looks like: the `before` of a request that created one.
NOTHING: dict = {}


def policy(org, target) -> SlaPolicy | None:
    if target is None:
        return None
    return SlaPolicy.objects.for_org(org).filter(pk=target).first()


def targets(org) -> list[tuple[int, str]]:
    return list(SlaPolicy.objects.for_org(org).order_by("name").values_list("pk", "name"))


def target_label(org, target) -> str:
    found = policy(org, target)
    return found.name if found else "A new SLA policy"


def export(org, target=None) -> dict:
    found = policy(org, target)
    if found is None:
        # A starting point for a new policy: an hour to accept, around the clock, any lead.
        return {"name": "", "clock": Clock.ACCEPT.value, "target_minutes": 60, "calendar": None, "stage": "",
                "team": None, "conditions": [], "escalation": [], "is_active": True}  # fmt: skip
    return {
        "name": found.name,
        "clock": found.clock,
        "target_minutes": found.target_minutes,
        "calendar": found.calendar_id,
        "stage": found.stage,
        "team": found.team_id,
        "conditions": found.conditions,
        "escalation": found.escalation,
        "is_active": found.is_active,
    }


def validate(org, target, proposed) -> dict[str, list[str]]:
    if target is not None and policy(org, target) is None:
        return {"target_id": ["No such SLA policy in this organisation."]}
    errors = base.require_object(proposed, KEYS)
    return errors or base.dry_run(apply, org, target, proposed)


def _fields(org, proposed) -> dict:
    calendar = team = None
    if proposed["calendar"] is not None:
        calendar = BusinessCalendar.objects.for_org(org).filter(pk=proposed["calendar"]).first()
        if calendar is None:
            raise ServiceError("Choose a calendar of this organisation.", field="calendar")
    if proposed["team"] is not None:
        team = Team.objects.for_org(org).filter(pk=proposed["team"]).first()
        if team is None:
            raise ServiceError("Choose a team of this organisation.", field="team")
    return {
        "name": proposed["name"],
        "clock": proposed["clock"],
        "target_minutes": proposed["target_minutes"],
        "calendar": calendar,
        "stage": proposed["stage"],
        "team": team,
        "conditions": proposed["conditions"],
        "escalation": proposed["escalation"],
        "is_active": proposed["is_active"],
    }


def apply(org, target, proposed, by=None, note: str = "") -> int | None:
    """Update the policy (or create it when there is no target); returns the policy's id."""
    found = policy(org, target)
    if target is not None and found is None:
        raise ServiceError("No such SLA policy in this organisation.", field="target_id")
    if proposed == NOTHING:
        # Rolling back the request that created the policy: switch it off, keep its history.
        if found is not None:
            setup.sla_policy_update(
                org=org, policy=found, **{**_fields(org, export(org, target)), "is_active": False}
            )
        return target
    if found is None:
        return setup.sla_policy_create(org=org, **_fields(org, proposed)).pk
    setup.sla_policy_update(org=org, policy=found, **_fields(org, proposed))
    return found.pk


diff = base.diff
