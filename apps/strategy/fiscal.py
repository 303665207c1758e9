"""The organisation's fiscal calendar: quarters of a fiscal year that starts in any month.

A fiscal year is named by the calendar year it ENDS in, as most finance teams
name it: with a year starting in October, FY2027 runs from 1 October 2026 to
30 September 2027 and its Q1 is October to December 2026. A year starting in
January is simply the calendar year. Pure functions over dates, no database.
"""

import datetime


def _first_month(start_month: int, fiscal_year: int, quarter: int) -> tuple[int, int]:
    """(year, month) of the first month of the quarter."""
    if not 1 <= start_month <= 12:
        raise ValueError(f"start_month must be 1 to 12, not {start_month!r}.")
    if not 1 <= quarter <= 4:
        raise ValueError(f"quarter must be 1 to 4, not {quarter!r}.")
    starts_in = fiscal_year if start_month == 1 else fiscal_year - 1
    months = start_month - 1 + 3 * (quarter - 1)  # months after January of starts_in
    return starts_in + months // 12, months % 12 + 1


def fiscal_quarter_range(
    start_month: int, fiscal_year: int, quarter: int
) -> tuple[datetime.date, datetime.date]:
    """The first and last day (inclusive) of a fiscal quarter."""
    year, month = _first_month(start_month, fiscal_year, quarter)
    first = datetime.date(year, month, 1)
    after = month + 3
    next_first = datetime.date(year + (after - 1) // 12, (after - 1) % 12 + 1, 1)
    return first, next_first - datetime.timedelta(days=1)


def fiscal_quarter_of(start_month: int, day: datetime.date) -> tuple[int, int]:
    """(fiscal_year, quarter) that `day` falls in."""
    if not 1 <= start_month <= 12:
        raise ValueError(f"start_month must be 1 to 12, not {start_month!r}.")
    offset = (day.month - start_month) % 12
    starts_in = day.year if day.month >= start_month else day.year - 1
    fiscal_year = starts_in if start_month == 1 else starts_in + 1
    return fiscal_year, offset // 3 + 1


def shift_quarter(fiscal_year: int, quarter: int, by: int) -> tuple[int, int]:
    """The quarter `by` quarters later (earlier when negative)."""
    index = fiscal_year * 4 + (quarter - 1) + by
    return index // 4, index % 4 + 1
