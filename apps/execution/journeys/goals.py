"""Exit goals: checked for every claimed enrolment before its step runs, one query per goal type.

Goals are [{"type": "stage_reached", "stage": "sql"}, {"type": "replied"},
{"type": "unsubscribed"}, {"type": "opportunity_created"}]:

- stage_reached: the lead is at that stage or a later funnel stage;
- replied: the lead has a touchpoint of a reply type since it entered;
- unsubscribed: the lead's address is on the suppression list;
- opportunity_created: an opportunity whose primary contact is the lead, or on
  the lead's account, was created on or after the day it entered.

All but "unsubscribed" count as conversions in the analytics.
"""

from django.db.models import Q

from apps.core.errors import ServiceError
from apps.execution.models import Suppression
from apps.records.models import LifecycleStage, Opportunity, Touchpoint
from apps.records.stages import FUNNEL

GOAL_TYPES = {
    "stage_reached": "Reached a stage",
    "replied": "Replied",
    "unsubscribed": "Unsubscribed",
    "opportunity_created": "Opportunity created",
}
CONVERSION_GOALS = ("stage_reached", "replied", "opportunity_created")
REPLY_TYPES = ("reply", "email_reply")


def validate_goals(*, org, goals) -> list[dict]:
    if not isinstance(goals, list):
        raise ServiceError("Exit goals are a list.", field="exit_goals")
    clean = []
    for index, goal in enumerate(goals):
        kind = goal.get("type") if isinstance(goal, dict) else None
        if kind not in GOAL_TYPES:
            raise ServiceError(f"Unknown exit goal {kind!r}.", field=f"exit_goals[{index}].type")
        if kind == "stage_reached":
            stage = goal.get("stage")
            if not LifecycleStage.objects.for_org(org).filter(key=stage).exists():
                raise ServiceError(f"There is no stage {stage!r}.", field=f"exit_goals[{index}].stage")
            clean.append({"type": kind, "stage": stage})
        else:
            clean.append({"type": kind})
    return clean


def reasons_to_exit(enrollments, *, stage_orders: dict) -> dict[int, str]:
    """Map enrolment id -> the goal type it met, for enrolments (with lead and journey loaded)."""
    met: dict[int, str] = {}
    wanted = {}
    for enrollment in enrollments:
        for goal in enrollment.journey.exit_goals:
            wanted.setdefault(goal["type"], []).append((enrollment, goal))
    for enrollment, goal in wanted.get("stage_reached", []):
        stage = enrollment.lead.stage
        target = stage_orders.get((enrollment.organization_id, goal["stage"]))
        if stage.key == goal["stage"] or (
            target is not None and stage.kind == FUNNEL and stage.order >= target
        ):
            met.setdefault(enrollment.pk, "stage_reached")
    checks = {"replied": _replied, "unsubscribed": _unsubscribed, "opportunity_created": _opportunity}
    for kind, check in checks.items():
        pending = [e for e, _ in wanted.get(kind, []) if e.pk not in met]
        for enrollment_id in check(pending):
            met.setdefault(enrollment_id, kind)
    return met


def _replied(enrollments) -> set[int]:
    if not enrollments:
        return set()
    rows = Touchpoint.objects.filter(
        organization_id__in={e.organization_id for e in enrollments},
        lead_id__in={e.lead_id for e in enrollments},
        type__in=REPLY_TYPES,
        occurred_at__gte=min(e.entered_at for e in enrollments),
    ).values_list("lead_id", "occurred_at")
    latest: dict[int, object] = {}
    for lead_id, at in rows:
        latest[lead_id] = max(at, latest.get(lead_id, at))
    return {e.pk for e in enrollments if e.lead_id in latest and latest[e.lead_id] >= e.entered_at}


def _unsubscribed(enrollments) -> set[int]:
    wanted = [e for e in enrollments if e.lead.email]
    if not wanted:
        return set()
    gone = set(
        Suppression.objects.filter(
            organization_id__in={e.organization_id for e in wanted}, email__in={e.lead.email for e in wanted}
        ).values_list("organization_id", "email")
    )
    return {e.pk for e in wanted if (e.organization_id, e.lead.email) in gone}


def _opportunity(enrollments) -> set[int]:
    if not enrollments:
        return set()
    accounts = {e.lead.account_id for e in enrollments if e.lead.account_id}
    rows = Opportunity.objects.filter(
        Q(primary_contact_id__in={e.lead_id for e in enrollments}) | Q(account_id__in=accounts),
        organization_id__in={e.organization_id for e in enrollments},
        created_date__gte=min(e.entered_at for e in enrollments).date(),
    ).values_list("primary_contact_id", "account_id", "created_date")
    first: dict[tuple[str, int], object] = {}
    for contact, account, created in rows:
        for key in (("lead", contact), ("account", account)):
            if key[1]:
                first[key] = max(created, first.get(key, created))
    met = set()
    for e in enrollments:
        since = e.entered_at.date()
        for key in (("lead", e.lead_id), ("account", e.lead.account_id)):
            if key[1] and key in first and first[key] >= since:
                met.add(e.pk)
    return met
