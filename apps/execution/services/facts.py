"""Reading the world into the routing engine's plain records.

Everything that depends on the clock or the database — absences, working
hours, holidays, caps and loads — is resolved here, once per decision, in a
handful of grouped queries (never a query per candidate).

The reads every decision makes (people, pools and their ledgers) are written in
SQL: each is one round trip, and building the equivalent querysets cost more
than running them, several times per lead. They are scoped by organisation in
their WHERE clauses, as `for_org` would scope them.
"""

import json
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Count, OuterRef, Q

from apps.accounts.models import User
from apps.execution import calendars
from apps.execution.models import Assignment
from apps.execution.routing import types
from apps.records import quality
from apps.records.models import Lead

# How many of a lead's past assignments are read for "already rejected this lead".
HISTORY_LIMIT = 50


def lead_history(org, lead_id: int) -> list[tuple[int, str]]:
    """(assignee, status) of every assignment the lead has had, the latest offer first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT assignee_id, status FROM execution_assignment "
            "WHERE organization_id = %(org)s AND lead_id = %(lead)s ORDER BY offered_at DESC",
            {"org": org.pk, "lead": lead_id},
        )
        return cursor.fetchall()


def lead_facts(org, lead: Lead, *, now: datetime, exclude=(), history=None) -> types.LeadFacts:
    """The lead as rules see it.

    `history` is the lead's latest assignments as (assignee, status), at most HISTORY_LIMIT
    of them, when the caller has read them already (see `lead_history`).
    """
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
            "segments": _segment_keys(org, lead),
        }
    )
    rejected = set(exclude)
    if history is None:
        # A lead being previewed is not saved yet: it has no history to read.
        history = (
            Assignment.objects.for_org(org)
            .filter(lead_id=lead.pk)
            .order_by("-offered_at")
            .values_list("assignee_id", "status")[:HISTORY_LIMIT]
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


def with_segment_keys(queryset, org):
    """Leads annotated with `segment_keys`, the keys of the segments they (or their account) belong to,
    so that routing reads them within the statement that reads the lead."""
    from apps.strategy.models import SegmentMembership

    memberships = SegmentMembership.objects.filter(organization=org).filter(
        Q(lead_id=OuterRef("pk")) | Q(account_id=OuterRef("account_id"), account_id__isnull=False)
    )
    return queryset.annotate(
        segment_keys=ArraySubquery(memberships.order_by("segment__key").values("segment__key"))
    )


def _segment_keys(org, lead: Lead) -> list[str]:
    keys = getattr(lead, "segment_keys", None)
    if keys is not None:
        return list(keys)
    if not lead.pk:
        return []  # a previewed lead is not saved, so it belongs to no segment yet
    return list(
        with_segment_keys(Lead.objects.filter(pk=lead.pk), org).values_list("segment_keys", flat=True)[0]
    )


def _previous_owner(org, lead: Lead) -> int | None:
    """The last person who owned the same person (same e-mail) or the same account."""
    if lead.owner_id:
        return lead.owner_id
    if not lead.email and not lead.account_id:
        return None
    with connection.cursor() as cursor:
        # A missing e-mail or account is passed as NULL, which equals nothing.
        cursor.execute(
            """
            SELECT owner_id FROM records_lead
            WHERE organization_id = %(org)s AND owner_id IS NOT NULL AND id IS DISTINCT FROM %(lead)s
              AND (email = %(email)s OR account_id = %(account)s)
            ORDER BY updated_at DESC
            LIMIT 1
            """,
            {"org": org.pk, "lead": lead.pk, "email": lead.email or None, "account": lead.account_id},
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _local_midnight(now: datetime, tz_name: str) -> datetime:
    try:
        zone = ZoneInfo(tz_name)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)


# One row per person: the membership, the user, the routing profile (if any, in this
# organisation), whether an absence covers `now`, and the holiday lists of the
# calendars of every team they belong to.
_PEOPLE_SQL = """
    SELECT m.id, m.is_active, u.is_active, u.full_name, u.email, u.time_zone,
           p.id, p.available, p.time_zone, p.hours, p.daily_cap, p.open_cap,
           EXISTS (
               SELECT 1 FROM execution_outofoffice AS o
               WHERE o.organization_id = %(org)s AND o.membership_id = m.id
                 AND o.starts_at <= %(now)s AND o.ends_at > %(now)s
           ),
           ARRAY(
               SELECT c.holidays FROM execution_businesscalendar AS c
               JOIN accounts_teammember AS t ON t.team_id = c.team_id AND t.organization_id = %(org)s
               WHERE c.organization_id = %(org)s AND t.membership_id = m.id AND c.holidays <> '[]'::jsonb
           )
    FROM accounts_membership AS m
    JOIN accounts_user AS u ON u.id = m.user_id
    LEFT JOIN execution_repprofile AS p ON p.membership_id = m.id AND p.organization_id = %(org)s
    WHERE m.organization_id = %(org)s AND m.id = ANY(%(ids)s)
"""


class _Person(NamedTuple):
    id: int
    is_active: bool
    user_is_active: bool
    full_name: str
    email: str
    user_time_zone: str
    profile_id: int | None  # None: no routing profile, so no working hours and no caps
    available: bool | None
    profile_time_zone: str | None
    hours: str | None  # the profile's working hours as JSON text
    daily_cap: int | None
    open_cap: int | None
    away: bool
    holidays: frozenset[date]

    @property
    def time_zone(self) -> str:
        return self.profile_time_zone or self.user_time_zone


def _people(org, member_ids, now: datetime) -> list[_Person]:
    with connection.cursor() as cursor:
        cursor.execute(_PEOPLE_SQL, {"org": org.pk, "ids": sorted(member_ids), "now": now})
        rows = cursor.fetchall()
    people = []
    for *columns, hours, daily_cap, open_cap, away, calendars_holidays in rows:
        # jsonb comes back as text (Django leaves decoding to the fields; this is no field).
        holidays = frozenset(
            date.fromisoformat(holiday["date"]) for text in calendars_holidays for holiday in json.loads(text)
        )
        if hours is not None and not isinstance(hours, str):
            hours = json.dumps(hours, sort_keys=True)
        people.append(_Person(*columns, hours, daily_cap, open_cap, away, holidays))
    return people


def candidates(org, member_ids, *, now: datetime, need_loads: bool) -> dict[int, types.Candidate]:
    """Base candidates (no pool-specific fairness) for the given memberships."""
    member_ids = set(member_ids)
    if not member_ids:
        return {}
    people = _people(org, member_ids, now)
    capped = {person.id: person for person in people if person.daily_cap is not None}
    open_counted = {person.id for person in people if person.open_cap is not None} | (
        {person.id for person in people} if need_loads else set()
    )
    open_counts = _open_counts(org, open_counted)
    today = today_counts(org, {pk: person.time_zone or org.time_zone for pk, person in capped.items()}, now)

    result = {}
    for person in people:
        result[person.id] = types.Candidate(
            id=person.id,
            name=User(full_name=person.full_name, email=person.email).display_name,
            unavailable=_unavailable(person, now, org),
            daily_cap=person.daily_cap,
            open_cap=person.open_cap,
            assigned_today=today.get(person.id, 0),
            open_count=open_counts.get(person.id, 0),
        )
    return result


def rep_time_zone(profile, member, org) -> str:
    """The rep's own time zone, else the user's, else the organisation's."""
    return (profile and profile.time_zone) or member.user.time_zone or org.time_zone


def _unavailable(person: _Person, now, org) -> str | None:
    if not person.is_active or not person.user_is_active:
        return types.INACTIVE
    if person.profile_id is not None and not person.available:
        return types.UNAVAILABLE
    if person.away:
        return types.OUT_OF_OFFICE
    tz_name = person.time_zone or org.time_zone  # as rep_time_zone()
    if person.holidays and now.astimezone(ZoneInfo(tz_name)).date() in person.holidays:
        return types.HOLIDAY
    # Without a routing profile nobody has set working hours, so none apply.
    if person.profile_id is not None and not calendars.is_open(_working_hours(tz_name, person.hours), now):
        return types.OFF_HOURS
    return None


# Keyed by the hours' JSON text, not by whose they are: an edited profile simply misses,
# so nothing can go stale. Parsing was most of the cost of checking a rep's hours.
@lru_cache(maxsize=1024)
def _working_hours(time_zone: str, hours_json: str) -> calendars.Schedule:
    return calendars.schedule_from(time_zone=time_zone, hours_json=json.loads(hours_json))


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


class PoolInfo(NamedTuple):
    pk: int
    name: str
    strategy: str


class MemberRow(NamedTuple):
    """A pool member's place and ledger, as `pool_records` reads it."""

    pool_id: int
    membership_id: int
    weight: int
    territories: list[str]
    pass_value: float
    last_assigned_at: datetime | None


# Active members only, in the order the engine looks at them (the rotation's tie-break
# is the ledger, not this order, but explanations list members in it).
_MEMBERS_SQL = """
    SELECT pool_id, membership_id, weight, territories, pass_value, last_assigned_at
    FROM execution_poolmember
    WHERE organization_id = %(org)s AND pool_id = ANY(%(pools)s) AND is_active
    ORDER BY pool_id, id
"""

_POOLS_SQL = """
    SELECT p.id, p.name, p.strategy,
           m.pool_id, m.membership_id, m.weight, m.territories, m.pass_value, m.last_assigned_at
    FROM execution_routingpool AS p
    LEFT JOIN execution_poolmember AS m
           ON m.pool_id = p.id AND m.organization_id = %(org)s AND m.is_active
    WHERE p.organization_id = %(org)s AND p.id = ANY(%(pools)s)
    ORDER BY p.id, m.id
"""


def pool_members(org, pool_ids) -> list[MemberRow]:
    """The active members of the pools, with their ledgers, read once per decision."""
    if not pool_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_MEMBERS_SQL, {"org": org.pk, "pools": sorted(pool_ids)})
        return [MemberRow(*row) for row in cursor.fetchall()]


def pools_with_members(org, pool_ids) -> tuple[dict[int, PoolInfo], list[MemberRow]]:
    """The pools (by id) and their active members, as `pool_members` reads them, in one query."""
    pools, rows = {}, []
    if not pool_ids:
        return pools, rows
    with connection.cursor() as cursor:
        cursor.execute(_POOLS_SQL, {"org": org.pk, "pools": sorted(pool_ids)})
        for pk, name, strategy, *member in cursor.fetchall():
            pools.setdefault(pk, PoolInfo(pk, name, strategy))
            if member[0] is not None:
                rows.append(MemberRow(*member))
    return pools, rows


def pool_records(
    org, pool_ids, base: dict[int, types.Candidate], pools, rows: list[MemberRow] | None = None
) -> dict[int, types.Pool]:
    """Engine pools: each member's base candidate with this pool's weight, territory and ledger.

    `pools` are RoutingPools or PoolInfos; `rows` are `pool_members(org, pool_ids)` when read already.
    """
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
    return {row.membership_id for row in pool_members(org, pool_ids)}
