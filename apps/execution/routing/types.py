"""The plain data the routing engine reads and returns.

The database layer (`apps.execution.services.routing`) resolves everything that
needs the clock or the database — who is out of office, off hours, on holiday,
how many leads each person has today — into these frozen records, so the
engine itself is a pure function that the simulator can run on past leads.
"""

from dataclasses import dataclass, field

# Strategies a pool can use to pick among its eligible members.
ROUND_ROBIN = "round_robin"
WEIGHTED = "weighted"
CAPACITY = "capacity"
LOAD_BALANCED = "load_balanced"
TERRITORY = "territory"
STRATEGIES = {
    ROUND_ROBIN: "Round robin",
    WEIGHTED: "Weighted round robin",
    CAPACITY: "Capacity-capped (most headroom first)",
    LOAD_BALANCED: "Load-balanced (fewest open leads)",
    TERRITORY: "Territory (country or region)",
}

# What a rule does when its conditions hold.
ASSIGN_PERSON = "person"
ASSIGN_POOL = "pool"
ASSIGN_ACCOUNT_OWNER = "account_owner"
ASSIGN_STICKY = "sticky"
HOLD_FOR_DATA = "hold"
ACTIONS = {
    ASSIGN_PERSON: "Assign to a person",
    ASSIGN_POOL: "Assign to a team queue",
    ASSIGN_ACCOUNT_OWNER: "Assign to the matched account's owner",
    ASSIGN_STICKY: "Assign to the previous owner",
    HOLD_FOR_DATA: "Hold until the data is complete",
}

# Why a candidate was not chosen. The first five are resolved by the database
# layer (Candidate.unavailable); the rest are the engine's own.
INACTIVE = "inactive"
UNAVAILABLE = "unavailable"
OUT_OF_OFFICE = "out_of_office"
HOLIDAY = "holiday"
OFF_HOURS = "off_hours"
DAILY_CAP = "daily_cap"
OPEN_CAP = "open_cap"
NOT_IN_TERRITORY = "not_in_territory"
REJECTED_BEFORE = "rejected_before"
NOT_ITS_TURN = "not_its_turn"
EXCLUSIONS = {
    INACTIVE: "inactive",
    UNAVAILABLE: "marked unavailable",
    OUT_OF_OFFICE: "out of office",
    HOLIDAY: "on a team holiday",
    OFF_HOURS: "outside working hours",
    DAILY_CAP: "daily cap reached",
    OPEN_CAP: "open-lead cap reached",
    NOT_IN_TERRITORY: "not in territory",
    REJECTED_BEFORE: "already rejected this lead",
    NOT_ITS_TURN: "eligible, not their turn",
}

# Decision outcomes.
ASSIGNED = "assigned"
HELD = "held"
QUEUED = "queued"  # nobody eligible anywhere: waits in the fallback queue


@dataclass(frozen=True)
class Candidate:
    """One person as the engine sees them at the moment of the decision."""

    id: int  # Membership id
    name: str
    unavailable: str | None = None  # INACTIVE / UNAVAILABLE / OUT_OF_OFFICE / HOLIDAY / OFF_HOURS
    weight: int = 1  # weighted round robin
    territories: frozenset[str] = frozenset()  # upper-case country codes and region names
    daily_cap: int | None = None
    open_cap: int | None = None
    assigned_today: int = 0
    open_count: int = 0
    # Fairness: a virtual clock per pool member (stride scheduling). The member
    # with the lowest pass goes next; each assignment adds 1 / weight.
    pass_value: float = 0.0
    last_assigned_at: float = 0.0  # epoch seconds, a tie-break: longest-waiting first


@dataclass(frozen=True)
class Pool:
    id: int
    name: str
    strategy: str
    members: tuple[Candidate, ...]


@dataclass(frozen=True)
class Action:
    type: str  # one of ACTIONS
    person: int | None = None  # ASSIGN_PERSON
    pool: int | None = None  # ASSIGN_POOL; for account owner / sticky: the pool to use otherwise
    min_completeness: float | None = None  # HOLD_FOR_DATA: hold while completeness (0-1) is below


@dataclass(frozen=True)
class Rule:
    name: str
    conditions: tuple[dict, ...]  # apps.records.conditions format; all must hold
    action: Action


@dataclass(frozen=True)
class LeadFacts:
    """What rules can test and what account-owner / sticky actions need."""

    fields: dict  # flat: standard fields, "custom.<key>", "account.has_owner", "local_hour", "weekday"...
    completeness: float = 1.0
    account_owner: int | None = None  # Membership id of the matched account's owner
    previous_owner: int | None = None  # last owner of the same person or account
    rejected_by: frozenset[int] = frozenset()  # people who already rejected this lead


@dataclass(frozen=True)
class Considered:
    candidate: int
    name: str
    excluded: str | None  # None for the chosen one; a key of EXCLUSIONS otherwise
    pool: int | None = None


@dataclass
class Decision:
    outcome: str  # ASSIGNED / HELD / QUEUED
    assignee: int | None = None
    pool: int | None = None  # the pool the assignee was chosen from (None for a direct person)
    rule_index: int | None = None  # 0-based; None when the fallback queue decided
    rule_name: str = ""
    # Every candidate looked at, in the order looked at, with why they were excluded.
    considered: list[Considered] = field(default_factory=list)
    # A sentence per step: "Rule 1 'EMEA enterprise' did not match: country is one of FR, DE".
    trail: list[str] = field(default_factory=list)
    new_pass: float | None = None  # the assignee's pass value in `pool` after this assignment
