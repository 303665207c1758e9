"""Exit goals: checked for every claimed enrolment before its step runs, one query per goal type,
and at once when something that can meet one happens to a lead (`exit_met`), so an enrolment in a
long wait leaves when its goal is reached rather than when the wait ends.

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
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.execution.models import Enrollment, EnrollmentStatus, Suppression
from apps.records.models import LifecycleStage, Opportunity, Touchpoint
from apps.records.services import REPLY_TOUCHES
from apps.records.stages import FUNNEL

GOAL_TYPES = {
    "stage_reached": "Reached a stage",
    "replied": "Replied",
    "unsubscribed": "Unsubscribed",
    "opportunity_created": "Opportunity created",
}
CONVERSION_GOALS = ("stage_reached", "replied", "opportunity_created")
REPLY_TYPES = REPLY_TOUCHES  # the touchpoint types that are replies, as the records layer names them


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


def reasons_to_exit(enrollments, *, stage_orders: dict, suppressed: set | None = None) -> dict[int, str]:
    """Map enrolment id -> the goal type it met, for enrolments (with lead and journey loaded).

    `suppressed` is `suppressed_addresses(enrollments)` when the caller has read it already.
    """
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
    checks = {
        "replied": _replied,
        "unsubscribed": lambda pending: _unsubscribed(pending, suppressed),
        "opportunity_created": _opportunity,
    }
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


def suppressed_addresses(enrollments) -> set[tuple[int, str]]:
    """(organisation id, address) of the enrolments' leads that are on the suppression list."""
    wanted = [e for e in enrollments if e.lead.email]
    if not wanted:
        return set()
    return set(
        Suppression.objects.filter(
            organization_id__in={e.organization_id for e in wanted}, email__in={e.lead.email for e in wanted}
        ).values_list("organization_id", "email")
    )


def _unsubscribed(enrollments, suppressed=None) -> set[int]:
    wanted = [e for e in enrollments if e.lead.email]
    if not wanted:
        return set()
    gone = suppressed_addresses(wanted) if suppressed is None else suppressed
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


def exit_met(*, org, lead_ids=(), account_id=None, email: str = "", now=None) -> int:
    """Exit, now, the running enrolments whose goal these leads have just met: the leads named, the
    leads of `account_id` and those with the address `email`. Returns how many left.

    Called in the transaction of the write that may meet a goal (a stage change, a reply, an
    opportunity, an unsubscribe), so it sees that write. An enrolment a worker is stepping right now
    is skipped, not waited for: the worker checks its goals before the step, and the next claim
    checks them again.
    """
    who = Q(lead_id__in=list(lead_ids)) if lead_ids else Q()
    if account_id is not None:
        who |= Q(lead__account_id=account_id)
    if email:
        who |= Q(lead__email=email)
    if not who:
        return 0
    enrollments = list(
        Enrollment.objects.for_org(org)
        .filter(who, status__in=(EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED))
        .exclude(journey__exit_goals=[])
        .select_related("journey", "lead__stage")
        .select_for_update(skip_locked=True, of=("self",))
    )
    if not enrollments:
        return 0
    stage_orders = {
        (org.pk, key): order for key, order in LifecycleStage.objects.for_org(org).values_list("key", "order")
    }
    met = reasons_to_exit(enrollments, stage_orders=stage_orders)
    now = now or timezone.now()
    for reason in set(met.values()):  # one update per goal met, however many leads an account has
        Enrollment.objects.filter(pk__in=[pk for pk, why in met.items() if why == reason]).update(
            status=EnrollmentStatus.EXITED,
            exit_reason=reason,
            step_id="",
            next_run_at=None,
            finished_at=now,
            updated_at=now,
        )
    return len(met)
