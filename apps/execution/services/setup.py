"""Setting routing and SLAs up: pools and their members, rep profiles and absences,
business calendars, reject reasons, SLA policies, and the draft routing rules.

Every write is atomic and keyword-only and refuses bad input with a
`ServiceError` naming the field at fault, so a page can show the message next
to the input that caused it. Rule edits go through `policies.draft_update`,
which validates the whole rule list; a published version is never edited.
"""

import zoneinfo
from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils.text import slugify

from apps.accounts.models import Membership, Team
from apps.core.errors import ServiceError
from apps.execution import calendars
from apps.execution.models import (
    BusinessCalendar,
    OutOfOffice,
    PoolMember,
    RejectReason,
    RepProfile,
    RoutingPolicy,
    RoutingPolicyVersion,
    RoutingPool,
    SlaPolicy,
)
from apps.execution.models.sla import Clock
from apps.execution.routing import types
from apps.governance.changes.guard import ensure_direct_edit_allowed
from apps.records import conditions
from apps.records.models import LifecycleStage

from . import policies, sla

# What a rep most often says when a lead is not theirs to work; `key`s are stable for reports and webhooks.
DEFAULT_REJECT_REASONS = [
    ("not_icp", "Not our ideal customer"),
    ("duplicate", "Duplicate of a lead already worked"),
    ("wrong_territory", "Wrong territory"),
    ("bad_data", "Bad or fake contact data"),
    ("existing_customer", "Existing customer"),
    ("no_budget", "No budget"),
    ("competitor", "Competitor or partner"),
    ("job_seeker", "Student or job seeker"),
    ("other", "Other (see the note)"),
]


def _own(obj, org, *, field: str) -> None:
    """Refuse an object of another organisation as if it did not exist."""
    if obj is not None and obj.organization_id != org.pk:
        raise ServiceError("Choose one of this organisation's.", field=field)


def _name(value: str, *, field: str = "name") -> str:
    value = (value or "").strip()
    if not value:
        raise ServiceError("Give it a name.", field=field)
    return value


def _time_zone(value: str, *, field: str = "time_zone", blank: bool = False) -> str:
    value = (value or "").strip()
    if not value and blank:
        return ""
    if value not in zoneinfo.available_timezones():
        raise ServiceError(f"Unknown time zone {value!r}; use a name like Europe/Paris.", field=field)
    return value


def _hours(hours) -> dict:
    """Validated working hours; the error names the day (field "hours.mon") when it can."""
    try:
        return calendars.validate_hours(hours)
    except calendars.CalendarError as error:
        message = str(error)
        day = message.split(":", 1)[0]
        field = f"hours.{day}" if day in calendars.WEEKDAYS else "hours"
        raise ServiceError(message, field=field) from error


# --- Routing pools -------------------------------------------------------------------------------


def _pool_fields(*, org, name, strategy, team, description) -> dict:
    if strategy not in types.STRATEGIES:
        raise ServiceError("Choose one of the listed strategies.", field="strategy")
    _own(team, org, field="team")
    return {
        "name": _name(name),
        "strategy": strategy,
        "team": team,
        "description": (description or "").strip()[:300],
    }


def _unique_name(model, org, name: str, *, exclude_pk=None, what: str) -> None:
    clash = model.objects.for_org(org).filter(name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ServiceError(f"There is already a {what} called {name}.", code="duplicate", field="name")


@transaction.atomic
def pool_create(
    *, org, name: str, strategy: str = types.ROUND_ROBIN, team=None, description=""
) -> RoutingPool:
    fields = _pool_fields(org=org, name=name, strategy=strategy, team=team, description=description)
    _unique_name(RoutingPool, org, fields["name"], what="queue")
    return RoutingPool.objects.create(organization=org, **fields)


@transaction.atomic
def pool_update(
    *, org, pool: RoutingPool, name: str, strategy: str, team=None, description=""
) -> RoutingPool:
    _own(pool, org, field="pool")
    fields = _pool_fields(org=org, name=name, strategy=strategy, team=team, description=description)
    _unique_name(RoutingPool, org, fields["name"], exclude_pk=pool.pk, what="queue")
    for key, value in fields.items():
        setattr(pool, key, value)
    pool.save()
    return pool


def pool_references(*, org, pool: RoutingPool) -> list[str]:
    """Where the routing rules (of any object) still send records to `pool`, as phrases for a
    refusal message. Versions of the account and opportunity policies say whose they are."""
    found = []
    versions = RoutingPolicyVersion.objects.for_org(org).filter(
        Q(status__in=[RoutingPolicyVersion.Status.DRAFT, RoutingPolicyVersion.Status.PUBLISHED])
        | Q(fallback_pool=pool)
    )
    for version in versions.select_related("policy").order_by("policy_id", "number"):
        routed = version.policy.object_type
        whose = "" if routed == RoutingPolicy.Object.LEAD else f"{routed} routing "
        label = f"{whose}version {version.number} ({version.get_status_display().lower()})"
        if version.fallback_pool_id == pool.pk:
            found.append(f"the fallback queue of {label}")
        if version.status == RoutingPolicyVersion.Status.RETIRED:
            continue
        for index, rule in enumerate(version.rules):
            if rule.get("action", {}).get("pool") == pool.pk:
                found.append(f'rule {index + 1} "{rule.get("name", "")}" of {label}')
    return found


@transaction.atomic
def pool_delete(*, org, pool: RoutingPool) -> None:
    """Delete a queue no version of the rules uses; its members' ledgers go with it."""
    _own(pool, org, field="pool")
    RoutingPool.objects.select_for_update().get(pk=pool.pk)
    used = pool_references(org=org, pool=pool)
    if used:
        raise ServiceError(
            f"{pool.name} is still used by {'; '.join(used)}. Change those rules first.", code="in_use"
        )
    pool.delete()


def _territories(values) -> list[str]:
    cleaned = []
    for value in values or ():
        value = str(value).strip().upper()
        if not value:
            continue
        if len(value) > 60:
            raise ServiceError("A territory is a country code or a region name.", field="territories")
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def _weight(weight) -> int:
    if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
        raise ServiceError("The weight is a whole number from 1 to 100.", field="weight")
    return weight


@transaction.atomic
def pool_member_add(*, org, pool: RoutingPool, membership: Membership, weight: int = 1, territories=()):
    """Put someone in a queue. Someone who was in it before gets their old row
    back, ledger and place in the rotation included, so leaving and coming back
    neither forgives nor repeats their share."""
    _own(pool, org, field="pool")
    _own(membership, org, field="membership")
    if not membership.is_active:
        raise ServiceError("This person is no longer in the organisation.", field="membership")
    fields = {"weight": _weight(weight), "territories": _territories(territories), "is_active": True}
    member = PoolMember.objects.select_for_update().filter(pool=pool, membership=membership).first()
    if member is None:
        return PoolMember.objects.create(organization=org, pool=pool, membership=membership, **fields)
    if member.is_active:
        raise ServiceError(f"{membership.user.display_name} is already in this queue.", field="membership")
    for key, value in fields.items():
        setattr(member, key, value)
    member.save(update_fields=[*fields, "updated_at"])
    return member


@transaction.atomic
def pool_member_update(*, org, member: PoolMember, weight: int, territories=(), is_active: bool = True):
    """Change a member's weight or territories; `is_active=False` takes them out
    of the rotation but keeps the row, and so the ledger."""
    _own(member, org, field="member")
    member.weight = _weight(weight)
    member.territories = _territories(territories)
    member.is_active = bool(is_active)
    member.save(update_fields=["weight", "territories", "is_active", "updated_at"])
    return member


# --- Rep profiles and absences ---------------------------------------------------------------------


def rep_profile_for(*, org, membership: Membership) -> RepProfile:
    """The member's routing profile, or an unsaved default one (no working hours apply until saved)."""
    profile = RepProfile.objects.for_org(org).filter(membership=membership).first()
    return profile or RepProfile(organization=org, membership=membership)


def _cap(value, field: str):
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ServiceError("A cap is a whole number of leads, or empty for none.", field=field)
    return value


@transaction.atomic
def rep_profile_update(*, org, membership: Membership, **fields) -> RepProfile:
    """Set any of available, time_zone, hours, daily_cap and open_cap; others are kept."""
    _own(membership, org, field="membership")
    unknown = set(fields) - {"available", "time_zone", "hours", "daily_cap", "open_cap"}
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    profile, _ = RepProfile.objects.select_for_update().get_or_create(organization=org, membership=membership)
    if "available" in fields:
        profile.available = bool(fields["available"])
    if "time_zone" in fields:
        profile.time_zone = _time_zone(fields["time_zone"], blank=True)
    if "hours" in fields:
        profile.hours = _hours(fields["hours"])
    for cap in ("daily_cap", "open_cap"):
        if cap in fields:
            setattr(profile, cap, _cap(fields[cap], cap))
    profile.save()
    return profile


@transaction.atomic
def absence_create(*, org, membership: Membership, starts_at, ends_at, note: str = "") -> OutOfOffice:
    _own(membership, org, field="membership")
    if starts_at is None or starts_at.tzinfo is None:
        raise ServiceError("Give the first moment of the absence.", field="starts_at")
    if ends_at is None or ends_at.tzinfo is None:
        raise ServiceError("Give when the absence ends.", field="ends_at")
    if ends_at <= starts_at:
        raise ServiceError("The absence must end after it starts.", field="ends_at")
    return OutOfOffice.objects.create(
        organization=org, membership=membership, starts_at=starts_at, ends_at=ends_at, note=(note or "")[:200]
    )


@transaction.atomic
def absence_delete(*, org, absence: OutOfOffice) -> None:
    _own(absence, org, field="absence")
    absence.delete()


# --- Business calendars ---------------------------------------------------------------------------


def _holidays(holidays) -> list[dict]:
    """[{"date": "YYYY-MM-DD", "name": ...}] sorted by date, one per day."""
    if not isinstance(holidays, list):
        raise ServiceError("Holidays are a list of dates.", field="holidays")
    by_day = {}
    for index, holiday in enumerate(holidays):
        raw = holiday.get("date") if isinstance(holiday, dict) else None
        try:
            day = date.fromisoformat(raw) if isinstance(raw, str) else raw
            if not isinstance(day, date):
                raise ValueError
        except ValueError:
            raise ServiceError(
                f"Holiday {index + 1}: {raw!r} is not a date; use YYYY-MM-DD.", field="holidays"
            ) from None
        if day.isoformat() in by_day:
            raise ServiceError(f"{day.isoformat()} is listed twice.", field="holidays")
        by_day[day.isoformat()] = str(holiday.get("name") or "").strip()[:120]
    return [{"date": day, "name": name} for day, name in sorted(by_day.items())]


def _calendar_fields(*, org, name, time_zone, hours, holidays, team) -> dict:
    _own(team, org, field="team")
    return {
        "name": _name(name),
        "time_zone": _time_zone(time_zone),
        "hours": _hours(hours),
        "holidays": _holidays(holidays),
        "team": team,
    }


def _team_free(org, team, *, exclude_pk=None) -> None:
    if team is None:
        return
    taken = BusinessCalendar.objects.for_org(org).filter(team=team).exclude(pk=exclude_pk).first()
    if taken is not None:
        raise ServiceError(f"{team.name} already follows the calendar {taken.name}.", field="team")


@transaction.atomic
def calendar_create(*, org, name: str, time_zone: str, hours, holidays=(), team: Team | None = None):
    fields = _calendar_fields(
        org=org, name=name, time_zone=time_zone, hours=hours, holidays=list(holidays), team=team
    )
    _unique_name(BusinessCalendar, org, fields["name"], what="calendar")
    _team_free(org, team)
    return BusinessCalendar.objects.create(organization=org, **fields)


@transaction.atomic
def calendar_update(*, org, calendar: BusinessCalendar, name, time_zone, hours, holidays=(), team=None):
    _own(calendar, org, field="calendar")
    fields = _calendar_fields(
        org=org, name=name, time_zone=time_zone, hours=hours, holidays=list(holidays), team=team
    )
    _unique_name(BusinessCalendar, org, fields["name"], exclude_pk=calendar.pk, what="calendar")
    _team_free(org, team, exclude_pk=calendar.pk)
    for key, value in fields.items():
        setattr(calendar, key, value)
    calendar.save()
    return calendar


# --- Reject reasons --------------------------------------------------------------------------------


def _label(label: str) -> str:
    label = (label or "").strip()
    if not label:
        raise ServiceError("Write the reason as reps will read it.", field="label")
    return label[:120]


@transaction.atomic
def reject_reason_create(*, org, label: str, key: str = "") -> RejectReason:
    label = _label(label)
    key = slugify(key or label).replace("-", "_")[:40]
    if not key:
        raise ServiceError("Give the reason a key of letters or digits.", field="key")
    if RejectReason.objects.for_org(org).filter(key=key).exists():
        raise ServiceError(f"There is already a reason with the key {key}.", code="duplicate", field="label")
    order = RejectReason.objects.for_org(org).aggregate(last=Max("order"))["last"]
    return RejectReason.objects.create(
        organization=org, key=key, label=label, order=0 if order is None else order + 1
    )


@transaction.atomic
def reject_reason_update(*, org, reason: RejectReason, label: str | None = None, is_active=None):
    """Relabel or (de)activate. Keys never change: reports and webhooks group by them."""
    _own(reason, org, field="reason")
    if label is not None:
        reason.label = _label(label)
    if is_active is not None:
        reason.is_active = bool(is_active)
    reason.save(update_fields=["label", "is_active", "updated_at"])
    return reason


@transaction.atomic
def reject_reasons_install_defaults(*, org) -> int:
    """Add the standard reasons an organisation lacks; returns how many were added.

    Safe to run again: a reason whose key exists is left as the organisation
    relabelled or deactivated it.
    """
    existing = set(RejectReason.objects.for_org(org).values_list("key", flat=True))
    missing = [
        RejectReason(organization=org, key=key, label=label, order=order)
        for order, (key, label) in enumerate(DEFAULT_REJECT_REASONS)
        if key not in existing
    ]
    RejectReason.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


# --- SLA policies ---------------------------------------------------------------------------------


def _minutes(value, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ServiceError("Give a whole number of minutes, at least 1.", field=field)
    return value


def _sla_fields(*, org, name, clock, target_minutes, calendar, stage, team, conditions_, escalation) -> dict:
    if clock not in Clock.values:
        raise ServiceError("Choose accept or first touch.", field="clock")
    target = _minutes(target_minutes, "target_minutes")
    _own(calendar, org, field="calendar")
    _own(team, org, field="team")
    stage = (stage or "").strip()
    if stage and not LifecycleStage.objects.for_org(org).filter(key=stage).exists():
        raise ServiceError(f"There is no lifecycle stage {stage!r}.", field="stage")
    try:
        cleaned_conditions = conditions.validate(list(conditions_ or []))
    except conditions.ConditionError as error:
        raise ServiceError(str(error), field="conditions") from error
    return {
        "name": _name(name),
        "clock": clock,
        "target_minutes": target,
        "calendar": calendar,
        "stage": stage,
        "team": team,
        "conditions": cleaned_conditions,
        "escalation": sla.clean_escalation(target_minutes=target, steps=list(escalation or [])),
    }


@transaction.atomic
def sla_policy_create(
    *,
    org,
    name: str,
    target_minutes: int,
    clock: str = Clock.ACCEPT,
    calendar: BusinessCalendar | None = None,
    stage: str = "",
    team: Team | None = None,
    conditions=(),
    escalation=(),
    is_active: bool = True,
) -> SlaPolicy:
    ensure_direct_edit_allowed(org, "sla")
    fields = _sla_fields(
        org=org, name=name, clock=clock, target_minutes=target_minutes, calendar=calendar, stage=stage,
        team=team, conditions_=conditions, escalation=escalation,
    )  # fmt: skip
    _unique_name(SlaPolicy, org, fields["name"], what="SLA policy")
    return SlaPolicy.objects.create(organization=org, is_active=bool(is_active), **fields)


@transaction.atomic
def sla_policy_update(
    *,
    org,
    policy: SlaPolicy,
    name: str,
    target_minutes: int,
    clock: str,
    calendar=None,
    stage: str = "",
    team=None,
    conditions=(),
    escalation=(),
    is_active: bool = True,
) -> SlaPolicy:
    """Change a policy. Running timers keep the ladder they started with."""
    ensure_direct_edit_allowed(org, "sla")
    _own(policy, org, field="policy")
    fields = _sla_fields(
        org=org, name=name, clock=clock, target_minutes=target_minutes, calendar=calendar, stage=stage,
        team=team, conditions_=conditions, escalation=escalation,
    )  # fmt: skip
    _unique_name(SlaPolicy, org, fields["name"], exclude_pk=policy.pk, what="SLA policy")
    for key, value in fields.items():
        setattr(policy, key, value)
    policy.is_active = bool(is_active)
    try:
        policy.save()
    except IntegrityError:
        raise ServiceError("There is already an SLA policy with that name.", field="name") from None
    return policy


# --- Draft routing rules -----------------------------------------------------------------------------
# Each routed object (leads, accounts, opportunities) has its own policy; every function below edits
# the draft of the policy of `object_type`, leads unless told.

LEAD = RoutingPolicy.Object.LEAD


def routing_policy(*, org, object_type: str = LEAD) -> RoutingPolicy | None:
    """The routing policy of `object_type` if one was ever set up; reading pages must not create it."""
    return RoutingPolicy.objects.for_org(org).filter(object_type=object_type).first()


def lead_policy(*, org) -> RoutingPolicy | None:
    """The lead routing policy if one was ever set up; reading pages must not create it."""
    return routing_policy(org=org)


def _draft(org, actor, object_type: str = LEAD) -> tuple[RoutingPolicy, RoutingPolicyVersion]:
    # draft_for locks the policy row, so edits from two tabs apply one after the other.
    policy = policies.policy_for(org, object_type)
    return policy, policies.draft_for(org=org, policy=policy, actor=actor)


def _at(rules: list, index: int) -> None:
    if not 0 <= index < len(rules):
        raise ServiceError("That rule is no longer in the draft; reload the page.", code="not_found")


@transaction.atomic
def routing_rule_save(
    *, org, rule: dict, index: int | None = None, actor=None, object_type: str = LEAD
) -> RoutingPolicyVersion:
    """Add `rule` at the end of the draft (index None) or replace the rule at `index`.

    Errors name the rule's own fields ("action.person", "conditions"), not its place in the list.
    """
    policy, draft = _draft(org, actor, object_type)
    rules = list(draft.rules)
    if index is None:
        rules.append(rule)
        index = len(rules) - 1
    else:
        _at(rules, index)
        rules[index] = rule
    try:
        return policies.draft_update(org=org, policy=policy, rules=rules, actor=actor)
    except ServiceError as error:
        prefix = f"rules[{index}]."
        if error.field and error.field.startswith(prefix):
            error.field = error.field.removeprefix(prefix)
        elif error.field and error.field.startswith("rules["):
            # Another rule went stale (its queue or person is gone): say which one.
            other = int(error.field[6 : error.field.index("]")])
            error.message = f"Rule {other + 1} needs fixing first: {error.message}"
            error.field = None
        raise


@transaction.atomic
def routing_rule_delete(*, org, index: int, actor=None, object_type: str = LEAD) -> RoutingPolicyVersion:
    policy, draft = _draft(org, actor, object_type)
    rules = list(draft.rules)
    _at(rules, index)
    del rules[index]
    return policies.draft_update(org=org, policy=policy, rules=rules, actor=actor)


@transaction.atomic
def routing_rule_move(
    *, org, index: int, direction: str, actor=None, object_type: str = LEAD
) -> RoutingPolicyVersion:
    """Move a rule one place "up" (earlier: it is tried sooner) or "down"."""
    if direction not in ("up", "down"):
        raise ServiceError("Move a rule up or down.", field="direction")
    policy, draft = _draft(org, actor, object_type)
    rules = list(draft.rules)
    _at(rules, index)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
    return policies.draft_update(org=org, policy=policy, rules=rules, actor=actor)


@transaction.atomic
def routing_fallback_set(
    *, org, pool: RoutingPool | None, actor=None, object_type: str = LEAD
) -> RoutingPolicyVersion:
    """Set or clear the draft's fallback queue."""
    _own(pool, org, field="fallback_pool")
    policy, _ = _draft(org, actor, object_type)
    # draft_update reads None as "leave unchanged"; any other falsy value clears the queue.
    return policies.draft_update(org=org, policy=policy, fallback_pool=pool or False, actor=actor)
