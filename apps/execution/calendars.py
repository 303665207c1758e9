"""Business-hours clocks: is a calendar open, and how much working time lies between two instants.

SLA timers ("first touch within 4 business hours") and routing ("only to people who are working
now") need the same arithmetic, so it lives here as plain functions over a frozen `Schedule`: no
database, no Django, only `zoneinfo`. The database layer turns a calendar row into a `Schedule` with
`schedule_from()` and hands it in, which is what lets a sweep over a million timers, or a test, run
without a query.

Working hours are wall-clock local times ("09:00-17:00 in Europe/Paris"), so a working day keeps its
local shape across daylight-saving changes. Every instant this module returns is an aware datetime in
UTC; inputs may be in any zone but must be aware.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import groupby, pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# JSON-shaped, as stored on a calendar row. Callers get a normalised copy from `validate_hours`, so
# nothing downstream can mutate this by accident.
DEFAULT_HOURS = {
    "mon": [["09:00", "17:00"]],
    "tue": [["09:00", "17:00"]],
    "wed": [["09:00", "17:00"]],
    "thu": [["09:00", "17:00"]],
    "fri": [["09:00", "17:00"]],
    "sat": [],
    "sun": [],
}

# An interval's end of time(0, 0) means midnight at the end of its day ("24:00" in JSON): an interval
# can never end at or before it starts, so the value is free for that meaning.
MIDNIGHT = time(0, 0)
MINUTES_PER_DAY = 24 * 60
ONE_DAY = timedelta(days=1)
ZERO = timedelta(0)

# How far ahead a search for working time may look. A calendar whose holidays blank out years is a
# data-entry mistake; the cap turns it into an error instead of a loop that never ends.
MAX_SEARCH_YEARS = 3
MAX_SEARCH_DAYS = MAX_SEARCH_YEARS * 366

NO_WORKING_HOURS = "The calendar has no working hours."

EN_DASH = "\N{EN DASH}"
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")


class CalendarError(ValueError):
    """Bad calendar input, or a question the calendar cannot answer (no working time ahead)."""


def _zone(name: str) -> ZoneInfo:
    # ZoneInfo caches instances by key, so calling this per computation costs a dict lookup.
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise CalendarError(f"Unknown time zone {name!r}.") from None


@dataclass(frozen=True)
class Schedule:
    """When a calendar is open.

    `hours` has seven entries, Monday first; each is a sorted tuple of non-overlapping
    `(start, end)` wall-clock times in `time_zone`, where an end of `time(0, 0)` means the end of
    the day. An interval cannot cross midnight: a night shift is 22:00-24:00 on one day and
    00:00-06:00 on the next. `holidays` are local dates with no working time at all.

    Build one with `schedule_from()`, which validates the hours; constructing one directly only
    checks the time zone and the number of days.
    """

    time_zone: str
    hours: tuple[tuple[tuple[time, time], ...], ...]
    holidays: frozenset[date] = frozenset()

    def __post_init__(self):
        _zone(self.time_zone)
        if len(self.hours) != len(WEEKDAYS):
            raise CalendarError("A schedule needs hours for all seven days, Monday first.")


ALWAYS = Schedule(time_zone="UTC", hours=(((MIDNIGHT, MIDNIGHT),),) * len(WEEKDAYS))


# --- Building schedules ---------------------------------------------------------------------------


def validate_hours(hours_json) -> dict:
    """Check working hours given as JSON and return them normalised.

    Accepts `{"mon": [["09:00", "12:00"], ["13:00", "17:30"]], ...}`; a missing day (or null) is
    closed and "24:00" may end an interval. Returns all seven days in order, each with its intervals
    sorted and written "HH:MM". Raises `CalendarError` naming the day and interval at fault.
    """
    return {
        day: [[_format_minutes(start), _format_minutes(end)] for start, end in intervals]
        for day, intervals in zip(WEEKDAYS, _parse_hours(hours_json), strict=True)
    }


def schedule_from(*, time_zone: str, hours_json: dict | None, holidays: Iterable = ()) -> Schedule:
    """A validated `Schedule`; `hours_json=None` means `DEFAULT_HOURS` (Monday to Friday, 9 to 5).

    `holidays` are dates or ISO "YYYY-MM-DD" strings, read as local dates in `time_zone`.
    """
    parsed = _parse_hours(DEFAULT_HOURS if hours_json is None else hours_json)
    hours = tuple(
        tuple((_minutes_to_time(start), _minutes_to_time(end)) for start, end in intervals)
        for intervals in parsed
    )
    return Schedule(time_zone=time_zone, hours=hours, holidays=_parse_holidays(holidays))


def merge_holidays(schedule: Schedule, holidays: Iterable) -> Schedule:
    """`schedule` with extra holidays, e.g. a person's hours plus their team calendar's holidays."""
    extra = _parse_holidays(holidays)
    if extra <= schedule.holidays:
        return schedule
    return replace(schedule, holidays=schedule.holidays | extra)


def _parse_hours(hours_json) -> list[list[tuple[int, int]]]:
    """Seven lists of sorted `(start, end)` minutes since local midnight; an end may be 1440."""
    if not isinstance(hours_json, dict):
        raise CalendarError("Working hours must be an object keyed by day (mon, tue, ... sun).")
    for day in hours_json:
        if day not in WEEKDAYS:
            raise CalendarError(f"unknown day {day!r}; use one of {', '.join(WEEKDAYS)}.")
    return [_parse_day(day, hours_json.get(day)) for day in WEEKDAYS]


def _parse_day(day: str, intervals) -> list[tuple[int, int]]:
    if intervals is None:
        return []
    if not isinstance(intervals, list | tuple):
        raise CalendarError(f"{day}: expected a list of [start, end] pairs.")
    parsed = []
    for interval in intervals:
        if not isinstance(interval, list | tuple) or len(interval) != 2:
            raise CalendarError(f"{day}: {interval!r} is not a [start, end] pair.")
        start = _parse_minutes(day, interval[0], is_end=False)
        end = _parse_minutes(day, interval[1], is_end=True)
        span = f"{_format_minutes(start)}-{_format_minutes(end)}"
        if end == start:
            raise CalendarError(f"{day}: {span} is empty.")
        if end < start:
            # "22:00-00:00" is the usual way to mean "until midnight"; point at the spelling we take.
            hint = " (use 24:00 for midnight)" if end == 0 else ""
            raise CalendarError(f"{day}: {span} ends before it starts{hint}.")
        parsed.append((start, end))
    parsed.sort()
    for (start, end), (next_start, next_end) in pairwise(parsed):
        # Touching intervals (09:00-12:00, 12:00-17:00) are fine; sharing a minute is not.
        if next_start < end:
            raise CalendarError(
                f"{day}: {_format_minutes(start)}-{_format_minutes(end)} overlaps "
                f"{_format_minutes(next_start)}-{_format_minutes(next_end)}."
            )
    return parsed


def _parse_minutes(day: str, value, *, is_end: bool) -> int:
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise CalendarError(f"{day}: {value!r} is not a time; use HH:MM, e.g. 09:00.")
    hours, minutes = int(match[1]), int(match[2])
    if (hours, minutes) == (24, 0):
        if not is_end:
            raise CalendarError(f"{day}: 24:00 can only end an interval.")
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise CalendarError(f"{day}: {value!r} is not a time; use HH:MM, e.g. 09:00.")
    return hours * 60 + minutes


def _format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes_to_time(minutes: int) -> time:
    return MIDNIGHT if minutes == MINUTES_PER_DAY else time(minutes // 60, minutes % 60)


def _parse_holidays(holidays: Iterable) -> frozenset[date]:
    if isinstance(holidays, str):
        # Iterating a lone string would read each character as a date.
        raise CalendarError("Holidays must be a list of dates, not a single string.")
    days = set()
    for value in holidays:
        # A datetime is a date too, but which local date it means depends on a zone we do not know.
        if isinstance(value, date) and not isinstance(value, datetime):
            days.add(value)
            continue
        try:
            days.add(date.fromisoformat(value))
        except (TypeError, ValueError):
            raise CalendarError(f"Holiday {value!r} is not a date; use YYYY-MM-DD.") from None
    return frozenset(days)


# --- Clock arithmetic -----------------------------------------------------------------------------


def is_open(schedule: Schedule, at: datetime) -> bool:
    """Whether `at` (aware, any zone) falls in working time; intervals include their start only."""
    at = _as_utc(at, "at")
    day = _local_date(schedule, at)
    for opens, closes in _intervals(schedule, day - ONE_DAY, day + ONE_DAY):
        if opens > at:
            break
        if at < closes:
            return True
    return False


def next_open(schedule: Schedule, at: datetime) -> datetime:
    """`at` in UTC if the calendar is open then, else the start of the next working interval."""
    return add_business_time(schedule, at, ZERO)


def next_open_outside(
    schedule: Schedule, at: datetime, absences: Iterable[tuple[datetime, datetime]]
) -> datetime:
    """Like `next_open`, but never inside one of `absences`: aware `[start, end)` spans when someone
    is away (out of office), which may overlap and come in any order.

    An opening that falls in an absence moves to the absence's end and is checked again, so each
    absence is stepped over at most once and the search ends.
    """
    spans = sorted((_as_utc(start, "start"), _as_utc(end, "end")) for start, end in absences)
    moment = next_open(schedule, at)
    while blocking := next((end for start, end in spans if start <= moment < end), None):
        moment = next_open(schedule, blocking)
    return moment


def add_business_time(schedule: Schedule, start: datetime, delta: timedelta) -> datetime:
    """The instant (aware, UTC) when `delta` of working time has elapsed after `start`.

    Nights, weekends and holidays do not count. With `delta` zero the answer is `start` if the
    calendar is open then, else the next opening. When the working time runs out exactly at a
    closing time the answer is that closing time, not the next morning, so that
    `business_time_between(start, add_business_time(start, delta)) == delta` always holds.

    Raises `CalendarError` when the schedule has no working hours at all, and when `delta` is not
    reached within `MAX_SEARCH_YEARS` years (holidays covering everything, or an absurd delta).
    """
    start = _as_utc(start, "start")
    if delta < ZERO:
        raise CalendarError(f"Cannot add a negative amount of business time ({delta}).")
    if not any(schedule.hours):
        raise CalendarError(NO_WORKING_HOURS)
    remaining = delta
    first_day = _local_date(schedule, start)
    for opens, closes in _intervals(schedule, first_day - ONE_DAY, first_day + timedelta(MAX_SEARCH_DAYS)):
        if closes <= start:
            continue
        opens = max(opens, start)
        if opens + remaining <= closes:
            return opens + remaining
        remaining -= closes - opens
    wanted = f"{delta} of working time" if delta else "any working time"
    raise CalendarError(
        f"The calendar does not have {wanted} in the {MAX_SEARCH_YEARS} years after "
        f"{start:%Y-%m-%d %H:%M} UTC; check its holidays."
    )


def business_time_between(schedule: Schedule, start: datetime, end: datetime) -> timedelta:
    """Working time in `[start, end)`; zero when `end <= start`."""
    start, end = _as_utc(start, "start"), _as_utc(end, "end")
    if end <= start:
        return ZERO
    total = ZERO
    for opens, closes in _intervals(
        schedule, _local_date(schedule, start) - ONE_DAY, _local_date(schedule, end) + ONE_DAY
    ):
        if opens >= end:
            break
        overlap = min(closes, end) - max(opens, start)
        if overlap > ZERO:
            total += overlap
    return total


def _intervals(schedule: Schedule, first_day: date, last_day: date) -> Iterator[tuple[datetime, datetime]]:
    """The working intervals of local days `first_day..last_day`, as ordered, disjoint UTC pairs.

    Each wall-clock time becomes an instant with fold=0: a time the clocks skip (02:30 on a
    spring-forward night in Paris) keeps the offset from before the change, so it lands as far past
    the gap as it was into it (03:30), and a time that happens twice means its first occurrence.
    That makes a 24/7 day 23 or 25 hours long, as a wall clock shows it, but it can also make an
    interval that ends in a gap overlap the next one, so each interval is trimmed to start no
    earlier than the previous one ended. Every clock function walks this one sequence from the
    same first day, which is why they agree with one another.

    Callers ask for a day either side of the ones they care about: where the clocks change at
    midnight, a day's intervals can reach past the instant its local date seems to end.
    """
    last_close = None
    day = first_day
    while day <= last_day:
        if day not in schedule.holidays:
            for opens, closes in _day_instants(schedule.time_zone, day, schedule.hours[day.weekday()]):
                if last_close is not None and opens < last_close:
                    opens = last_close
                if opens < closes:
                    yield opens, closes
                    last_close = closes
        day += ONE_DAY


# A sweep over many timers asks about the same few calendars on the same few days again and again,
# and the zone conversions are most of the cost, so they are memoised; the inputs are all immutable.
@lru_cache(maxsize=16384)
def _day_instants(
    time_zone: str, day: date, intervals: tuple[tuple[time, time], ...]
) -> tuple[tuple[datetime, datetime], ...]:
    """One day's wall-clock intervals as UTC instants, untrimmed."""
    zone = _zone(time_zone)
    return tuple(
        (_instant(day, start, zone), _instant(day + ONE_DAY if end == MIDNIGHT else day, end, zone))
        for start, end in intervals
    )


def _instant(day: date, wall_time: time, zone: ZoneInfo) -> datetime:
    # fold=0 is datetime's default; the conversion through UTC is what resolves gaps and repeats.
    return datetime.combine(day, wall_time, tzinfo=zone).astimezone(UTC)


def _local_date(schedule: Schedule, at: datetime) -> date:
    return at.astimezone(_zone(schedule.time_zone)).date()


def _as_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise CalendarError(f"{name} must be a datetime, got {value!r}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(f"{name} must be timezone-aware, got the naive {value.isoformat()}.")
    return value.astimezone(UTC)


# --- Display --------------------------------------------------------------------------------------


def describe(schedule: Schedule) -> str:
    """One line for a settings page: "Mon-Fri 09:00-17:00, Europe/Paris, 3 holidays", with en dashes."""
    if all(day == ((MIDNIGHT, MIDNIGHT),) for day in schedule.hours):
        parts = ["24/7"]
    elif not any(schedule.hours):
        parts = ["No working hours"]
    else:
        parts = []
        # Consecutive days with the same hours read as one run (Monday to Friday); closed days are left out.
        for intervals, run in groupby(enumerate(schedule.hours), key=lambda item: item[1]):
            if not intervals:
                continue
            days = [WEEKDAYS[index].title() for index, _ in run]
            label = days[0] if len(days) == 1 else f"{days[0]}{EN_DASH}{days[-1]}"
            spans = " & ".join(f"{_format_time(s)}{EN_DASH}{_format_end(e)}" for s, e in intervals)
            parts.append(f"{label} {spans}")
    parts.append(schedule.time_zone)
    if count := len(schedule.holidays):
        parts.append(f"{count} holiday" if count == 1 else f"{count} holidays")
    return ", ".join(parts)


def _format_time(value: time) -> str:
    return f"{value:%H:%M}"


def _format_end(value: time) -> str:
    return "24:00" if value == MIDNIGHT else _format_time(value)
