"""The marketing plan's timeline: where each program's bar sits in the visible range. Pure, no database.

Positions are percentages of the range's width, counted in whole days: a
program's bar starts at (days from the range's first day to the program's
start) ÷ (days in the range) and is (its days inside the range, both ends
included) ÷ (days in the range) wide. A program that starts before or ends
after the range is clipped to it and says so, so the page can draw the cut.
"""

import datetime
from dataclasses import dataclass, field

from .fiscal import fiscal_quarter_range, shift_quarter

SPANS = {"quarters": "This quarter and the next", "year": "The fiscal year"}


@dataclass(frozen=True)
class Range:
    start: datetime.date
    end: datetime.date  # inclusive
    fiscal_year: int
    quarter: int
    span: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def percent(self, day: datetime.date) -> float:
        """Where the start of `day` falls, as a percentage of the range's width (clamped to 0 to 100)."""
        offset = min(max((day - self.start).days, 0), self.days)
        return offset / self.days * 100


def plan_range(start_month: int, fiscal_year: int, quarter: int, span: str) -> Range:
    """Two quarters from the given one, or the whole fiscal year the quarter belongs to."""
    if span == "year":
        first, _ = fiscal_quarter_range(start_month, fiscal_year, 1)
        _, last = fiscal_quarter_range(start_month, fiscal_year, 4)
    else:
        first, _ = fiscal_quarter_range(start_month, fiscal_year, quarter)
        _, last = fiscal_quarter_range(start_month, *shift_quarter(fiscal_year, quarter, 1))
    return Range(first, last, fiscal_year, quarter, span)


@dataclass(frozen=True)
class Month:
    label: str
    left: float
    width: float


def months(visible: Range) -> list[Month]:
    """The calendar months in the range, for the header and the grid lines."""
    found, day = [], visible.start.replace(day=1)
    while day <= visible.end:
        following = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        left, right = visible.percent(max(day, visible.start)), visible.percent(following)
        found.append(Month(day.strftime("%b %Y"), left, right - left))
        day = following
    return found


@dataclass
class Bar:
    left: float
    width: float
    clipped_start: bool
    clipped_end: bool
    links: list[float] = field(default_factory=list)  # where each dependency ends, to draw a hint to the bar


def bar(visible: Range, start: datetime.date, end: datetime.date, dependency_ends=()) -> Bar | None:
    """The bar of a program running start..end (inclusive), or None when it lies outside the range."""
    if end < visible.start or start > visible.end:
        return None
    left = visible.percent(start)
    right = visible.percent(end + datetime.timedelta(days=1))
    links = [visible.percent(day + datetime.timedelta(days=1)) for day in dependency_ends]
    return Bar(left, right - left, start < visible.start, end > visible.end, links)
