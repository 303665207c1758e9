"""Reading the world into the routing engine's plain records.

Everything that depends on the clock or the database — absences, working
hours, holidays, caps and loads — is resolved here, once per decision, in a
handful of grouped queries (never a query per candidate).
"""

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Q

from apps.accounts.models import Membership, TeamMember
from apps.execution import calendars
from apps.execution.models import Assignment, BusinessCalendar, OutOfOffice, PoolMember, RepProfile
from apps.execution.routing import types
from apps.records import quality
from apps.records.models import Lead


def lead_facts(org, lead: Lead, *, now: datetime, exclude=()) -> types.LeadFacts:
    record = quality.as_record(lead)
    local = now.astimezone(ZoneInfo(org.time_zone))
    account_owner = lead.account.owner_id if lead.account_id and lead.account else None
    record.update(
        {
            "account.has_owner": account_owner is not None,
            "account.industry": lead.account.industry if lead.account else "",
            "account.employees": lead.account.employees if lead.account else None,
            "account.region": lead.account.region if lead.account else "",
            "region": lead.account.region if lead.account else "",
            "local_hour": local.hour,
            "weekday": local.strftime("%a").lower(),
        }
    )
    rejected = set(exclude)
    previous_owner = None
    # A lead being previewed is not saved yet: it has no history to read.
    history = (
        Assignment.objects.for_org(org)
        .filter(lead_id=lead.pk)
        .order_by("-offered_at")
        .values_list("assignee_id", "status")[:50]
        if lead.pk
        else []
    )
    for assignee, status in history:
        if status == Assignment.Status.REJECTED:
            rejected.add(assignee)
    previous_owner = _previous_owner(org, lead)
    return types.LeadFacts(
        fields=record,
        completeness=lead.completeness,
        account_owner=account_owner,
        previous_owner=previous_owner,
        rejected_by=frozenset(rejected),
    )


def _previous_owner(org, lead: Lead) -> int | None:
    """The last person who owned the same person (same e-mail) or the same account."""
    if lead.owner_id:
        return lead.owner_id
    same = Q(email=lead.email) if lead.email else Q(pk__in=[])
    if lead.account_id:
        same |= Q(account_id=lead.account_id)
    return (
        Lead.objects.for_org(org)
        .filter(same, owner__isnull=False)
        .exclude(pk=lead.pk)
        .order_by("-updated_at")
        .values_list("owner_id", flat=True)
        .first()
    )


def _local_midnight(now: datetime, tz_name: str) -> datetime:
    try:
        zone = ZoneInfo(tz_name)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)


def candidates(org, member_ids, *, now: datetime, need_loads: bool) -> dict[int, types.Candidate]:
    """Base candidates (no pool-specific fairness) for the given memberships."""
    member_ids = set(member_ids)
    if not member_ids:
        return {}
    members = {
        m.pk: m for m in Membership.objects.for_org(org).filter(pk__in=member_ids).select_related("user")
    }
    profiles = {p.membership_id: p for p in RepProfile.objects.for_org(org).filter(membership_id__in=members)}
    away = set(
        OutOfOffice.objects.for_org(org)
        .filter(membership_id__in=members, starts_at__lte=now, ends_at__gt=now)
        .values_list("membership_id", flat=True)
    )
    holidays = _team_holidays(org, members)
    capped = {pk for pk, p in profiles.items() if p.daily_cap is not None}
    open_counted = {pk for pk, p in profiles.items() if p.open_cap is not None} | (
        set(members) if need_loads else set()
    )
    open_counts = _open_counts(org, open_counted)
    today = today_counts(org, {pk: rep_time_zone(profiles.get(pk), members[pk], org) for pk in capped}, now)

    result = {}
    for pk, member in members.items():
        profile = profiles.get(pk)
        result[pk] = types.Candidate(
            id=pk,
            name=member.user.display_name,
            unavailable=_unavailable(member, profile, pk in away, holidays.get(pk, ()), now, org),
            daily_cap=profile.daily_cap if profile else None,
            open_cap=profile.open_cap if profile else None,
            assigned_today=today.get(pk, 0),
            open_count=open_counts.get(pk, 0),
        )
    return result


def rep_time_zone(profile, member, org) -> str:
    """The rep's own time zone, else the user's, else the organisation's."""
    return (profile and profile.time_zone) or member.user.time_zone or org.time_zone


def _unavailable(member, profile, away: bool, holidays, now, org) -> str | None:
    if not member.is_active or not member.user.is_active:
        return types.INACTIVE
    if profile is not None and not profile.available:
        return types.UNAVAILABLE
    if away:
        return types.OUT_OF_OFFICE
    tz_name = rep_time_zone(profile, member, org)
    if holidays and now.astimezone(ZoneInfo(tz_name)).date() in holidays:
        return types.HOLIDAY
    # Without a routing profile nobody has set working hours, so none apply.
    if profile is not None:
        schedule = calendars.schedule_from(time_zone=tz_name, hours_json=profile.hours)
        if not calendars.is_open(schedule, now):
            return types.OFF_HOURS
    return None


def _team_holidays(org, members) -> dict[int, frozenset]:
    calendar_by_team = {
        c.team_id: c.holiday_dates
        for c in BusinessCalendar.objects.for_org(org).filter(team__isnull=False).exclude(holidays=[])
    }
    if not calendar_by_team:
        return {}
    result = defaultdict(set)
    for membership_id, team_id in (
        TeamMember.objects.for_org(org)
        .filter(membership_id__in=members, team_id__in=calendar_by_team)
        .values_list("membership_id", "team_id")
    ):
        result[membership_id] |= calendar_by_team[team_id]
    return {pk: frozenset(days) for pk, days in result.items()}


def _open_counts(org, member_ids) -> dict[int, int]:
    if not member_ids:
        return {}
    rows = (
        Assignment.objects.for_org(org)
        .filter(assignee_id__in=member_ids, status__in=Assignment.LIVE)
        .values("assignee_id")
        .annotate(n=Count("id"))
    )
    return {row["assignee_id"]: row["n"] for row in rows}


def today_counts(org, time_zones: dict[int, str], now) -> dict[int, int]:
    """Assignments offered since each person's own local midnight."""
    if not time_zones:
        return {}
    since = Q()
    for pk, tz_name in time_zones.items():
        since |= Q(assignee_id=pk, offered_at__gte=_local_midnight(now, tz_name))
    rows = (
        Assignment.objects.for_org(org)
        .filter(since, offered_at__gte=now - timedelta(days=2))
        .values("assignee_id")
        .annotate(n=Count("id"))
    )
    return {row["assignee_id"]: row["n"] for row in rows}


def pool_members(org, pool_ids) -> list[PoolMember]:
    """The active members of the pools, with their ledgers, read once per decision."""
    return list(
        PoolMember.objects.for_org(org).filter(pool_id__in=pool_ids, is_active=True).order_by("pool_id", "id")
    )


def pool_records(
    org, pool_ids, base: dict[int, types.Candidate], pools, rows: list[PoolMember] | None = None
) -> dict[int, types.Pool]:
    """Engine pools: each member's base candidate with this pool's weight, territory and ledger."""
    members = defaultdict(list)
    for pm in pool_members(org, pool_ids) if rows is None else rows:
        candidate = base.get(pm.membership_id)
        if candidate is None:
            continue
        members[pm.pool_id].append(
            replace(
                candidate,
                weight=pm.weight,
                territories=frozenset(t.upper() for t in pm.territories),
                pass_value=pm.pass_value,
                last_assigned_at=pm.last_assigned_at.timestamp() if pm.last_assigned_at else 0.0,
            )
        )
    return {
        pool.pk: types.Pool(
            id=pool.pk, name=pool.name, strategy=pool.strategy, members=tuple(members[pool.pk])
        )
        for pool in pools
    }


def pool_member_ids(org, pool_ids) -> set[int]:
    return set(
        PoolMember.objects.for_org(org)
        .filter(pool_id__in=pool_ids, is_active=True)
        .values_list("membership_id", flat=True)
    )
