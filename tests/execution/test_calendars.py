"""Business-hours clocks, checked against expectations worked out by hand.

Dates are in 2026: Monday 5 January is a plain week (Paris is UTC+1); Europe springs forward on
Sunday 29 March and falls back on Sunday 25 October; New York does so on 8 March and 1 November.
"""

import random
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.execution.calendars import (
    ALWAYS,
    DEFAULT_HOURS,
    WEEKDAYS,
    CalendarError,
    add_business_time,
    business_time_between,
    describe,
    is_open,
    merge_holidays,
    next_open,
    schedule_from,
    validate_hours,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")

NINE_TO_FIVE = schedule_from(time_zone="Europe/Paris", hours_json=None)
ROUND_THE_CLOCK_PARIS = schedule_from(
    time_zone="Europe/Paris", hours_json={day: [["00:00", "24:00"]] for day in WEEKDAYS}
)
EVERY_DAY_PARIS = schedule_from(
    time_zone="Europe/Paris", hours_json={day: [["09:00", "17:00"]] for day in WEEKDAYS}
)
EVERY_DAY_NEW_YORK = schedule_from(
    time_zone="America/New_York", hours_json={day: [["09:00", "17:00"]] for day in WEEKDAYS}
)
LUNCH_BREAK = schedule_from(
    time_zone="Europe/Paris",
    hours_json={day: [["13:00", "17:30"], ["09:00", "12:00"]] for day in WEEKDAYS[:5]},
)


def paris(*args):
    return datetime(*args, tzinfo=PARIS)


def new_york(*args):
    return datetime(*args, tzinfo=NEW_YORK)


def hours(n):
    return timedelta(hours=n)


# --- add_business_time on an ordinary week -------------------------------------------------------


def test_within_a_day():
    result = add_business_time(NINE_TO_FIVE, paris(2026, 1, 5, 10), hours(2))
    assert result == paris(2026, 1, 5, 12)
    assert result.tzinfo is UTC
    assert result == datetime(2026, 1, 5, 11, tzinfo=UTC)


def test_crossing_a_night():
    assert add_business_time(NINE_TO_FIVE, paris(2026, 1, 5, 16, 30), hours(1)) == paris(2026, 1, 6, 9, 30)


def test_running_out_exactly_at_closing_time_is_closing_time_not_the_next_morning():
    assert add_business_time(NINE_TO_FIVE, paris(2026, 1, 5, 9), hours(8)) == paris(2026, 1, 5, 17)


def test_friday_evening_over_a_weekend():
    assert add_business_time(NINE_TO_FIVE, paris(2026, 1, 9, 16, 30), hours(1)) == paris(2026, 1, 12, 9, 30)
    assert add_business_time(NINE_TO_FIVE, paris(2026, 1, 9, 19), hours(1)) == paris(2026, 1, 12, 10)


def test_a_holiday_is_skipped():
    schedule = schedule_from(time_zone="Europe/Paris", hours_json=None, holidays=[date(2026, 1, 6)])
    assert add_business_time(schedule, paris(2026, 1, 5, 16, 30), hours(1)) == paris(2026, 1, 7, 9, 30)
    assert not is_open(schedule, paris(2026, 1, 6, 12))


def test_split_intervals_skip_the_lunch_break():
    assert add_business_time(LUNCH_BREAK, paris(2026, 1, 5, 11, 30), hours(1)) == paris(2026, 1, 5, 13, 30)
    # 3h in the morning and 4h30 in the afternoon.
    assert add_business_time(LUNCH_BREAK, paris(2026, 1, 5, 9), timedelta(hours=7, minutes=30)) == paris(
        2026, 1, 5, 17, 30
    )
    assert not is_open(LUNCH_BREAK, paris(2026, 1, 5, 12, 30))


def test_start_before_opening():
    assert add_business_time(NINE_TO_FIVE, paris(2026, 1, 5, 7), timedelta(minutes=30)) == paris(
        2026, 1, 5, 9, 30
    )


def test_start_on_a_weekend():
    assert add_business_time(NINE_TO_FIVE, paris(2026, 1, 10, 12), hours(2)) == paris(2026, 1, 12, 11)


def test_start_in_another_time_zone():
    # 03:00 in New York is 09:00 in Paris in January, so the Paris office is just opening.
    assert add_business_time(NINE_TO_FIVE, new_york(2026, 1, 5, 3), hours(1)) == paris(2026, 1, 5, 10)


def test_zero_delta_is_start_when_open_else_the_next_opening():
    assert add_business_time(NINE_TO_FIVE, paris(2026, 1, 5, 10), timedelta(0)) == paris(2026, 1, 5, 10)
    assert add_business_time(NINE_TO_FIVE, paris(2026, 1, 9, 17), timedelta(0)) == paris(2026, 1, 12, 9)


def test_always_is_plain_addition():
    # Through UTC: adding to a New York datetime is wall-clock arithmetic, off by the spring-forward hour.
    start = new_york(2026, 3, 7, 23, 15).astimezone(UTC)
    assert add_business_time(ALWAYS, start, hours(50)) == start + hours(50)
    assert business_time_between(ALWAYS, start, start + hours(50)) == hours(50)
    assert is_open(ALWAYS, start)
    assert next_open(ALWAYS, start) == start


# --- Daylight-saving changes ---------------------------------------------------------------------


def test_round_the_clock_across_spring_forward_in_paris():
    # 01:00 CET is 00:00 UTC; three real hours later it is 03:00 UTC, which Paris calls 05:00 CEST.
    assert add_business_time(ROUND_THE_CLOCK_PARIS, paris(2026, 3, 29, 1), hours(3)) == paris(2026, 3, 29, 5)
    assert business_time_between(ROUND_THE_CLOCK_PARIS, paris(2026, 3, 29), paris(2026, 3, 30)) == hours(23)


def test_round_the_clock_across_fall_back_in_paris():
    assert add_business_time(ROUND_THE_CLOCK_PARIS, paris(2026, 10, 25), hours(24)) == paris(2026, 10, 25, 23)
    assert business_time_between(ROUND_THE_CLOCK_PARIS, paris(2026, 10, 25), paris(2026, 10, 26)) == hours(25)


@pytest.mark.parametrize("sunday", [date(2026, 3, 29), date(2026, 10, 25)])
def test_nine_to_five_on_a_paris_dst_sunday_is_eight_hours(sunday):
    nine = paris(sunday.year, sunday.month, sunday.day, 9)
    five = paris(sunday.year, sunday.month, sunday.day, 17)
    assert add_business_time(EVERY_DAY_PARIS, nine, hours(8)) == five
    assert business_time_between(EVERY_DAY_PARIS, nine - hours(9), five + hours(7)) == hours(8)


def test_saturday_afternoon_into_the_paris_spring_forward_sunday():
    # Saturday 16:00-17:00 CET is one hour; Sunday opens at 09:00 CEST (07:00 UTC), one more hour.
    result = add_business_time(EVERY_DAY_PARIS, paris(2026, 3, 28, 16), hours(2))
    assert result == datetime(2026, 3, 29, 8, tzinfo=UTC)


def test_new_york_spring_forward_and_fall_back():
    spring = add_business_time(EVERY_DAY_NEW_YORK, new_york(2026, 3, 7, 16), hours(2))
    assert spring == datetime(2026, 3, 8, 14, tzinfo=UTC)  # 10:00 EDT
    fall = add_business_time(EVERY_DAY_NEW_YORK, new_york(2026, 10, 31, 16), hours(2))
    assert fall == datetime(2026, 11, 1, 15, tzinfo=UTC)  # 10:00 EST


def test_a_night_shift_over_a_dst_change_counts_real_hours():
    night = schedule_from(time_zone="America/New_York", hours_json={"sun": [["00:00", "06:00"]]})
    assert business_time_between(night, new_york(2026, 3, 7, 12), new_york(2026, 3, 9)) == hours(5)
    assert business_time_between(night, new_york(2026, 10, 31, 12), new_york(2026, 11, 2)) == hours(7)


def test_an_interval_ending_in_the_skipped_hour_is_not_counted_twice():
    # 02:30 does not exist on 29 March; fold=0 reads it as 03:30 CEST, which overlaps 03:00-04:00.
    # Every real instant from midnight to 04:00 CEST is working time, and that is three hours.
    schedule = schedule_from(
        time_zone="Europe/Paris", hours_json={"sun": [["00:00", "02:30"], ["03:00", "04:00"]]}
    )
    assert business_time_between(schedule, paris(2026, 3, 28), paris(2026, 3, 30)) == hours(3)
    assert add_business_time(schedule, paris(2026, 3, 29), hours(3)) == paris(2026, 3, 29, 4)
    assert is_open(schedule, paris(2026, 3, 29, 3, 45))


# --- is_open, next_open, business_time_between ---------------------------------------------------


def test_is_open_includes_the_opening_instant_and_excludes_the_closing_one():
    assert is_open(NINE_TO_FIVE, paris(2026, 1, 5, 9))
    assert is_open(NINE_TO_FIVE, paris(2026, 1, 5, 16, 59, 59))
    assert not is_open(NINE_TO_FIVE, paris(2026, 1, 5, 17))
    assert not is_open(NINE_TO_FIVE, paris(2026, 1, 10, 12))
    assert is_open(NINE_TO_FIVE, datetime(2026, 1, 5, 8, tzinfo=UTC))  # 09:00 in Paris


def test_next_open():
    assert next_open(NINE_TO_FIVE, paris(2026, 1, 5, 10, 15)) == paris(2026, 1, 5, 10, 15)
    assert next_open(NINE_TO_FIVE, paris(2026, 1, 9, 18)) == datetime(2026, 1, 12, 8, tzinfo=UTC)


def test_business_time_between():
    assert business_time_between(NINE_TO_FIVE, paris(2026, 1, 5), paris(2026, 1, 12)) == hours(40)
    assert business_time_between(NINE_TO_FIVE, paris(2026, 1, 9, 16), paris(2026, 1, 12, 10)) == hours(2)
    assert business_time_between(NINE_TO_FIVE, paris(2026, 1, 12), paris(2026, 1, 5)) == timedelta(0)
    assert business_time_between(NINE_TO_FIVE, paris(2026, 1, 5, 10), paris(2026, 1, 5, 10)) == timedelta(0)


@pytest.mark.parametrize(
    "schedule",
    [
        NINE_TO_FIVE,
        merge_holidays(LUNCH_BREAK, [date(2026, 3, 30), date(2026, 10, 26), date(2026, 12, 25)]),
        EVERY_DAY_NEW_YORK,
        ROUND_THE_CLOCK_PARIS,
        schedule_from(time_zone="Australia/Lord_Howe", hours_json={"sun": [["01:00", "03:00"]]}),
        ALWAYS,
    ],
    ids=["nine-to-five", "lunch-and-holidays", "new-york", "paris-24-7", "lord-howe-nights", "always"],
)
def test_business_time_between_inverts_add_business_time(schedule):
    rng = random.Random(20260329)
    year_start = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(300):
        start = year_start + timedelta(
            seconds=rng.randrange(365 * 24 * 3600), microseconds=rng.randrange(10**6)
        )
        delta = timedelta(minutes=rng.randrange(5000), microseconds=rng.choice([0, rng.randrange(10**6)]))
        end = add_business_time(schedule, start, delta)
        assert business_time_between(schedule, start, end) == delta, (start, delta)
        if delta:
            # The earliest such instant: a microsecond sooner, the time has not yet elapsed.
            assert business_time_between(schedule, start, end - timedelta(microseconds=1)) < delta
        opening = next_open(schedule, start)
        assert is_open(schedule, opening)
        assert business_time_between(schedule, start, opening) == timedelta(0)


# --- Errors --------------------------------------------------------------------------------------


def test_no_working_hours():
    closed = schedule_from(time_zone="Europe/Paris", hours_json={})
    with pytest.raises(CalendarError, match=re.escape("The calendar has no working hours.")):
        add_business_time(closed, paris(2026, 1, 5), hours(1))
    with pytest.raises(CalendarError, match=re.escape("The calendar has no working hours.")):
        next_open(closed, paris(2026, 1, 5))
    assert not is_open(closed, paris(2026, 1, 5, 10))
    assert business_time_between(closed, paris(2026, 1, 5), paris(2026, 2, 5)) == timedelta(0)


def test_holidays_covering_years_raise_instead_of_looping():
    first = date(2026, 1, 1)
    holidays = [first + timedelta(days=n) for n in range(4 * 366)]
    schedule = schedule_from(time_zone="Europe/Paris", hours_json=None, holidays=holidays)
    with pytest.raises(
        CalendarError, match="does not have any working time in the 3 years after 2026-01-04 23:00 UTC"
    ):
        next_open(schedule, paris(2026, 1, 5))
    with pytest.raises(CalendarError, match="does not have 1:00:00 of working time in the 3 years"):
        add_business_time(schedule, paris(2026, 1, 5), hours(1))


def test_naive_datetimes_and_negative_deltas_are_refused():
    with pytest.raises(CalendarError, match="timezone-aware"):
        add_business_time(NINE_TO_FIVE, datetime(2026, 1, 5, 10), hours(1))
    with pytest.raises(CalendarError, match="timezone-aware"):
        is_open(NINE_TO_FIVE, datetime(2026, 1, 5, 10))
    with pytest.raises(CalendarError, match="timezone-aware"):
        business_time_between(NINE_TO_FIVE, paris(2026, 1, 5), datetime(2026, 1, 6))
    with pytest.raises(CalendarError, match="negative"):
        add_business_time(NINE_TO_FIVE, paris(2026, 1, 5), -hours(1))


def test_unknown_time_zone():
    for name in ["Mars/Olympus_Mons", "Europe", "", "../etc/passwd"]:
        with pytest.raises(CalendarError, match="Unknown time zone"):
            schedule_from(time_zone=name, hours_json=None)


# --- Validation ----------------------------------------------------------------------------------


def test_validate_hours_normalises():
    assert validate_hours({"tue": [["13:00", "17:30"], ["9:00", "12:00"]], "sat": [["22:00", "24:00"]]}) == {
        "mon": [],
        "tue": [["09:00", "12:00"], ["13:00", "17:30"]],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": [["22:00", "24:00"]],
        "sun": [],
    }
    assert validate_hours(DEFAULT_HOURS) == DEFAULT_HOURS
    assert validate_hours({"sun": None})["sun"] == []
    # Touching intervals are allowed; only a shared minute is an overlap.
    assert validate_hours({"mon": [["09:00", "12:00"], ["12:00", "17:00"]]})["mon"] == [
        ["09:00", "12:00"],
        ["12:00", "17:00"],
    ]


@pytest.mark.parametrize(
    ("hours_json", "message"),
    [
        ({"tue": [["18:00", "09:00"]]}, "tue: 18:00-09:00 ends before it starts."),
        ({"fri": [["22:00", "00:00"]]}, "fri: 22:00-00:00 ends before it starts (use 24:00 for midnight)."),
        ({"wed": [["09:00", "09:00"]]}, "wed: 09:00-09:00 is empty."),
        ({"xyz": []}, "unknown day 'xyz'"),
        ({"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, "mon: 09:00-12:00 overlaps 11:00-13:00."),
        ({"thu": [["9am", "17:00"]]}, "thu: '9am' is not a time; use HH:MM"),
        ({"thu": [["09:00", "17:60"]]}, "thu: '17:60' is not a time"),
        ({"thu": [["09:00", "25:00"]]}, "thu: '25:00' is not a time"),
        ({"sat": [["24:00", "24:00"]]}, "sat: 24:00 can only end an interval."),
        ({"sun": [["09:00"]]}, "sun: ['09:00'] is not a [start, end] pair."),
        ({"sun": "09:00-17:00"}, "sun: expected a list of [start, end] pairs."),
        ({"sun": ""}, "sun: expected a list of [start, end] pairs."),
        ([["09:00", "17:00"]], "Working hours must be an object keyed by day"),
    ],
)
def test_validation_errors_name_the_day_and_interval(hours_json, message):
    with pytest.raises(CalendarError, match=re.escape(message)):
        validate_hours(hours_json)
    with pytest.raises(CalendarError, match=re.escape(message)):
        schedule_from(time_zone="Europe/Paris", hours_json=hours_json)


def test_holidays_accept_iso_strings_and_merge():
    schedule = schedule_from(time_zone="Europe/Paris", hours_json=None, holidays=["2026-12-25"])
    merged = merge_holidays(schedule, [date(2026, 1, 1), "2026-12-25"])
    assert merged.holidays == {date(2026, 1, 1), date(2026, 12, 25)}
    assert schedule.holidays == {date(2026, 12, 25)}
    assert merge_holidays(merged, []) is merged
    with pytest.raises(CalendarError, match="is not a date"):
        schedule_from(time_zone="Europe/Paris", hours_json=None, holidays=["Christmas"])
    with pytest.raises(CalendarError, match="is not a date"):
        merge_holidays(schedule, [datetime(2026, 1, 1, tzinfo=UTC)])


# --- describe ------------------------------------------------------------------------------------


def _plain(text):
    return text.replace("\N{EN DASH}", "-")


def test_describe():
    schedule = schedule_from(
        time_zone="Europe/Paris", hours_json=None, holidays=["2026-01-01", "2026-05-01", "2026-12-25"]
    )
    assert describe(schedule) == "Mon\N{EN DASH}Fri 09:00\N{EN DASH}17:00, Europe/Paris, 3 holidays"
    assert describe(ALWAYS) == "24/7, UTC"
    assert describe(schedule_from(time_zone="UTC", hours_json={})) == "No working hours, UTC"
    mixed = schedule_from(
        time_zone="America/New_York",
        hours_json={day: [["09:00", "12:00"], ["13:00", "17:30"]] for day in WEEKDAYS[:5]}
        | {"sat": [["10:00", "14:00"]], "sun": [["22:00", "24:00"]]},
        holidays=[date(2026, 7, 4)],
    )
    assert _plain(describe(mixed)) == (
        "Mon-Fri 09:00-12:00 & 13:00-17:30, Sat 10:00-14:00, Sun 22:00-24:00, America/New_York, 1 holiday"
    )
