"""What every measure returns, and the window it looks at."""

import datetime
import re
from dataclasses import dataclass, field
from functools import cached_property
from zoneinfo import ZoneInfo

from django.utils import timezone

from .components import WINDOW_DAYS

MAX_RECORDS = 5  # records named as evidence (those that miss the point, first)
# Where the subject of a measure's sentence ends ("segments | have an owner").
PREDICATE = re.compile(r" (?:are|have|were|was|name|map|follow|passed|launched on time)\b")


@dataclass
class Evidence:
    """The share a component measures (None: nothing to measure), in words, with the records behind it."""

    ratio: float | None
    summary: str
    records: list[str] = field(default_factory=list)
    part: float | None = None
    whole: float | None = None


def counted(part: int, whole: int, what: str, records=(), *, verb: str = "") -> Evidence:
    """`part` of `whole` `what`; no evidence when there is nothing to count."""
    names = [str(name) for name in list(records)[:MAX_RECORDS]]
    if not whole:
        noun = PREDICATE.split(what, maxsplit=1)[0]  # "segments have an owner" -> "segments"
        return Evidence(None, f"No {noun} yet: nothing to measure.", [], part, whole)
    text = f"{part} of {whole} {what}{(' ' + verb) if verb else ''} ({round(100 * part / whole)} %)."
    return Evidence(part / whole, text, names, part, whole)


@dataclass
class Context:
    """The organisation and the day the diagnostic is taken on (its local day)."""

    org: object
    today: datetime.date
    now: datetime.datetime

    @classmethod
    def for_day(cls, org, today: datetime.date | None = None) -> "Context":
        zone = ZoneInfo(org.time_zone)
        local_now = timezone.localtime(timezone.now(), zone)
        today = today or local_now.date()
        if today == local_now.date():
            now = timezone.now()
        else:  # a past day: as of the end of that day
            now = datetime.datetime.combine(
                today + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
            )
        return cls(org, today, now)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.org.time_zone)

    @property
    def start(self) -> datetime.date:
        return self.today - datetime.timedelta(days=WINDOW_DAYS - 1)

    @property
    def since(self) -> datetime.datetime:
        """The first moment of the window, in the organisation's time zone."""
        return datetime.datetime.combine(self.start, datetime.time.min, tzinfo=self.zone)

    @cached_property
    def cache(self) -> dict:
        return {}
