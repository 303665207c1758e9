"""The demo organisation's routing setup: who works when, pools, reasons, SLAs and the rules.

Everything goes through the setup and policy services, as an admin would do it.
"""

from calendar import monthrange
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apps.accounts.models import Team
from apps.execution import calendars
from apps.execution.models import RoutingPolicyVersion
from apps.execution.models.sla import Clock
from apps.execution.routing import types
from apps.execution.services import policies, setup

DEMO_REP = "rep@northwind.example"
REVOPS = "revops@northwind.example"
MANAGER = "manager@northwind.example"
SDR2, AE, CSM = "rep2@northwind.example", "ae@northwind.example", "csm@northwind.example"

NORTH_AMERICA = ["NORTH AMERICA", "US", "CA"]
EMEA = ["EMEA", "GB", "IE", "DE", "FR", "NL", "SE", "ES"]
COUNTRIES = [place for place in NORTH_AMERICA + EMEA if len(place) == 2]


def _weekdays(start: str, end: str) -> dict:
    return {day: [[start, end]] if day not in ("sat", "sun") else [] for day in calendars.WEEKDAYS}


# e-mail: (time zone, working hours, daily cap, open cap)
PROFILES = {
    DEMO_REP: ("America/New_York", _weekdays("09:00", "17:30"), None, None),
    SDR2: ("Europe/London", _weekdays("08:30", "17:00"), 6, None),
    AE: ("America/Chicago", _weekdays("08:00", "17:00"), None, None),
    # Leads that pass a capped account owner by go to the SDRs, so the cap shows without queueing.
    CSM: ("America/Los_Angeles", _weekdays("09:00", "17:00"), None, 15),
    MANAGER: ("America/New_York", _weekdays("09:00", "17:30"), None, None),
}


# --- Public holidays ------------------------------------------------------------------------------


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th given weekday (0 = Monday) of a month; n = -1 for the last."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year, month, monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """A fixed-date holiday on a Saturday is taken the Friday before, on a Sunday the Monday after."""
    return day + timedelta(days={5: -1, 6: 1}.get(day.weekday(), 0))


def us_public_holidays(year: int) -> list[tuple[date, str]]:
    """US federal holidays of a year, fixed dates moved off weekends as they are observed."""
    fixed = [
        (date(year, 1, 1), "New Year's Day"), (date(year, 6, 19), "Juneteenth"),
        (date(year, 7, 4), "Independence Day"), (date(year, 11, 11), "Veterans Day"),
        (date(year, 12, 25), "Christmas Day"),
    ]  # fmt: skip
    floating = [
        (_nth_weekday(year, 1, 0, 3), "Martin Luther King Jr. Day"),
        (_nth_weekday(year, 2, 0, 3), "Presidents' Day"),
        (_nth_weekday(year, 5, 0, -1), "Memorial Day"),
        (_nth_weekday(year, 9, 0, 1), "Labor Day"),
        (_nth_weekday(year, 10, 0, 2), "Columbus Day"),
        (_nth_weekday(year, 11, 3, 4), "Thanksgiving Day"),
    ]
    return sorted([(_observed(day), name) for day, name in fixed] + floating)


def holidays_around(today: date) -> list[dict]:
    """The latest public holiday up to `today` and the next one after it, as calendar JSON."""
    days = [h for year in (today.year - 1, today.year, today.year + 1) for h in us_public_holidays(year)]
    past = max(h for h in days if h[0] <= today)
    upcoming = min(h for h in days if h[0] > today)
    return [{"date": day.isoformat(), "name": name} for day, name in (past, upcoming)]


# --- Setup ------------------------------------------------------------------------------------------


def configure(org, people: dict, now: datetime) -> dict:
    """Calendars, profiles, absences, reject reasons, pools and SLA policies; returns the pools
    by role and the SLA calendar's schedule."""
    teams = {t.name: t for t in Team.objects.for_org(org)}
    today = now.astimezone(ZoneInfo(org.time_zone)).date()
    holidays = holidays_around(today)
    sdr_calendar = setup.calendar_create(
        org=org, name="Inbound SDR hours", time_zone=org.time_zone, hours=_weekdays("09:00", "17:30"),
        holidays=holidays, team=teams.get("Inbound SDR"),
    )  # fmt: skip
    setup.calendar_create(
        org=org, name="Enterprise AE hours", time_zone=org.time_zone, hours=_weekdays("08:30", "18:00"),
        holidays=holidays, team=teams.get("Enterprise AE"),
    )  # fmt: skip
    for email, (tz, hours, daily_cap, open_cap) in PROFILES.items():
        setup.rep_profile_update(
            org=org,
            membership=people[email],
            time_zone=tz,
            hours=hours,
            daily_cap=daily_cap,
            open_cap=open_cap,
        )
    _absences(org, people, now)
    setup.reject_reasons_install_defaults(org=org)

    pools = {}
    for key, name, strategy, team, members, description in [
        ("sdr", "Inbound SDRs", types.ROUND_ROBIN, "Inbound SDR", [(DEMO_REP, 1, ()), (SDR2, 1, ())],
         "Every inbound lead no other rule claims, in turn."),
        ("ae", "Enterprise AEs", types.WEIGHTED, "Enterprise AE", [(AE, 3, ()), (MANAGER, 1, ())],
         "Large accounts; the manager takes one in four."),
        ("territory", "EMEA & North America", types.TERRITORY, "Inbound SDR",
         [(DEMO_REP, 1, NORTH_AMERICA), (SDR2, 1, EMEA)], "By the lead's country or region."),
        ("overflow", "Overflow", types.LOAD_BALANCED, None, [(DEMO_REP, 1, ()), (SDR2, 1, ()), (AE, 1, ())],
         "Whoever has the fewest open leads, when no rule finds anyone."),
    ]:  # fmt: skip
        pool = setup.pool_create(
            org=org,
            name=name,
            strategy=strategy,
            team=teams.get(team) if team else None,
            description=description,
        )
        for email, weight, territories in members:
            setup.pool_member_add(
                org=org, pool=pool, membership=people[email], weight=weight, territories=territories
            )
        pools[key] = pool

    setup.sla_policy_create(
        org=org, name="Accept new leads within 15 minutes", clock=Clock.ACCEPT, target_minutes=15,
        calendar=sdr_calendar, escalation=[
            {"at_minutes": 10, "action": "remind"}, {"at_minutes": 20, "action": "alert_manager"},
            {"at_minutes": 45, "action": "reassign"},
        ],
    )  # fmt: skip
    setup.sla_policy_create(
        org=org, name="First touch within an hour", clock=Clock.FIRST_TOUCH, target_minutes=60,
        calendar=sdr_calendar, escalation=[
            {"at_minutes": 45, "action": "remind"}, {"at_minutes": 90, "action": "alert_manager"},
        ],
    )  # fmt: skip
    schedule = calendars.schedule_from(
        time_zone=sdr_calendar.time_zone, hours_json=sdr_calendar.hours, holidays=sdr_calendar.holiday_dates
    )
    return {"pools": pools, "sla_schedule": schedule}


def _absences(org, people: dict, now: datetime) -> None:
    zone = ZoneInfo(org.time_zone)
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    # Away now: annual leave and a conference. Away before: a day off nine days ago.
    setup.absence_create(
        org=org, membership=people[SDR2], starts_at=midnight - timedelta(days=2),
        ends_at=midnight + timedelta(days=4), note="Annual leave",
    )  # fmt: skip
    setup.absence_create(
        org=org, membership=people[CSM], starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=2),
        note="Customer conference",
    )  # fmt: skip
    day_off = midnight - timedelta(days=9)
    while day_off.weekday() >= 5:
        day_off -= timedelta(days=1)
    setup.absence_create(
        org=org, membership=people[DEMO_REP], starts_at=day_off, ends_at=day_off + timedelta(days=1),
        note="Day off",
    )  # fmt: skip


def lead_rules(pools: dict, *, enterprise_employees: int = 1000) -> list[dict]:
    """The demo's lead routing rules, first match wins."""
    return [
        {"name": "Known accounts go to their owner",
         "conditions": [{"field": "account.has_owner", "op": "equals", "value": True}],
         "action": {"type": types.ASSIGN_ACCOUNT_OWNER, "pool": pools["sdr"].pk}},
        {"name": f"Enterprise ({enterprise_employees:,}+ employees) to the AEs",
         "conditions": [{"field": "account.employees", "op": "gte", "value": enterprise_employees},
                        {"field": "score", "op": "gte", "value": 20}],
         "action": {"type": types.ASSIGN_POOL, "pool": pools["ae"].pk}},
        {"name": "Hold leads we cannot work yet", "conditions": [],
         "action": {"type": types.HOLD_FOR_DATA, "min_completeness": 0.4}},
        {"name": "EMEA and North America by territory",
         "conditions": [{"field": "country", "op": "in", "value": COUNTRIES}],
         "action": {"type": types.ASSIGN_POOL, "pool": pools["territory"].pk}},
        {"name": "Everyone else to the SDR rotation", "conditions": [],
         "action": {"type": types.ASSIGN_POOL, "pool": pools["sdr"].pk}},
    ]  # fmt: skip


def account_rules(pools: dict) -> list[dict]:
    """New accounts without an owner: the largest to the AEs, the rest by territory."""
    return [
        {"name": "Enterprise accounts (1,000+ employees) to the AEs",
         "conditions": [{"field": "employees", "op": "gte", "value": 1000}],
         "action": {"type": types.ASSIGN_POOL, "pool": pools["ae"].pk}},
        {"name": "Whoever already works the account's leads", "conditions": [],
         "action": {"type": types.ASSIGN_STICKY, "pool": pools["territory"].pk}},
    ]  # fmt: skip


def opportunity_rules(pools: dict) -> list[dict]:
    """New opportunities without an owner go to the account's owner, else the AEs."""
    return [
        {"name": "The account's owner", "conditions": [],
         "action": {"type": types.ASSIGN_ACCOUNT_OWNER, "pool": pools["ae"].pk}},
    ]  # fmt: skip


def publish(org, pools: dict, actor, published_at: datetime):
    """Draft and publish the rules as the RevOps lead would, dated before the history they
    routed: leads, then accounts and opportunities. Returns the lead policy."""
    policy = None
    for object_type, rules, fallback, note in [
        ("lead", lead_rules(pools), pools["overflow"], "Speed-to-lead: first routing rules"),
        ("account", account_rules(pools), pools["overflow"], "Every new account gets an owner"),
        ("opportunity", opportunity_rules(pools), pools["ae"], "Deals follow their account"),
    ]:
        current = policies.policy_for(org, object_type)
        policies.draft_update(org=org, policy=current, rules=rules, fallback_pool=fallback, actor=actor.user)
        version = policies.policy_publish(org=org, policy=current, actor=actor.user, note=note)
        RoutingPolicyVersion.objects.filter(pk=version.pk).update(
            created_at=published_at, published_at=published_at
        )
        policy = policy or current
    return policy
