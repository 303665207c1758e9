"""Lifecycle stages: the defaults, and what stage events tell about a record.

Pure functions over plain data. An event is anything with `from_stage`,
`to_stage` (stage keys) and `at` (an aware datetime); a record's first event
has `from_stage` empty.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

FUNNEL = "funnel"
DETOUR = "detour"

# key, name, order, kind, written entry criterion
DEFAULT_STAGES = [
    ("inquiry", "Inquiry", 10, FUNNEL,
     "A person raised a hand or was added with consent: a form fill, sign-up, event scan or import."),
    ("mql", "MQL", 20, FUNNEL,
     "Marketing-qualified: fits the ICP and engaged enough to pass the score threshold agreed with sales."),
    ("sal", "SAL", 30, FUNNEL,
     "Sales-accepted: a rep accepted the lead and committed to work it within the SLA."),
    ("sql", "SQL", 40, FUNNEL,
     "Sales-qualified: a conversation confirmed need, authority and timing; an opportunity is likely."),
    ("opportunity", "Opportunity", 50, FUNNEL,
     "An opportunity is open for the person's account with an amount and a close date."),
    ("customer", "Customer", 60, FUNNEL,
     "A deal was closed-won: the account is paying."),
    ("recycled", "Recycled", 70, DETOUR,
     "Not ready now: sent back to nurture with a reason; may re-enter the funnel later."),
    ("disqualified", "Disqualified", 80, DETOUR,
     "Not a fit (outside the ICP, competitor, student, spam): leaves the funnel."),
]  # fmt: skip

QUALIFIED_FROM = "mql"  # the first stage that counts as "qualified"


@dataclass(frozen=True)
class Interval:
    stage: str
    start: datetime
    end: datetime | None  # None: still in the stage

    def seconds(self, now: datetime) -> float:
        return ((self.end or now) - self.start).total_seconds()


def _ordered(events):
    return sorted(events, key=lambda e: e.at)


def intervals(events) -> list[Interval]:
    """The stays in each stage, in order; the last one is open."""
    events = _ordered(events)
    stays = []
    for current, following in zip(events, [*events[1:], None], strict=True):
        stays.append(Interval(current.to_stage, current.at, following.at if following else None))
    return stays


def time_in_stage(events, *, now: datetime) -> dict[str, float]:
    """Total seconds spent in each stage, summing every stay when a stage is re-entered."""
    totals: dict[str, float] = {}
    for stay in intervals(events):
        totals[stay.stage] = totals.get(stay.stage, 0.0) + stay.seconds(now)
    return totals


def entries(events) -> Counter:
    """How many times each stage was entered (more than once means re-entry)."""
    return Counter(e.to_stage for e in events)


def reentered(events) -> list[str]:
    return sorted(stage for stage, n in entries(events).items() if n > 1)


def skipped(events, funnel_order: list[str]) -> list[str]:
    """Funnel stages jumped over by forward moves (e.g. Inquiry → SAL skips MQL), never entered at all."""
    position = {key: i for i, key in enumerate(funnel_order)}
    entered = set(entries(events))
    jumped = []
    for event in _ordered(events):
        if event.from_stage in position and event.to_stage in position:
            start, end = position[event.from_stage], position[event.to_stage]
            jumped += funnel_order[start + 1 : end]
    return [stage for stage in funnel_order if stage in set(jumped) - entered]
