"""The lead-routing engine: rules in order, then pools shared fairly.

Pure functions over the records in `types`: the database layer resolves the
clock (availability, today's counts) into `Candidate`s beforehand and writes
the `Decision` back afterwards, so the simulator can replay past leads through
exactly the code that routes live ones.

Fairness is stride scheduling: every pool member has a virtual clock (`pass`);
the member with the lowest pass goes next and is advanced by its stride,
1 / weight. Round robin is the special case where every weight is 1.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from apps.records import conditions

from .types import (
    ASSIGN_ACCOUNT_OWNER,
    ASSIGN_PERSON,
    ASSIGN_POOL,
    ASSIGN_STICKY,
    ASSIGNED,
    CAPACITY,
    DAILY_CAP,
    EXCLUSIONS,
    HELD,
    HOLD_FOR_DATA,
    LOAD_BALANCED,
    NOT_IN_TERRITORY,
    NOT_ITS_TURN,
    OPEN_CAP,
    QUEUED,
    REJECTED_BEFORE,
    TERRITORY,
    WEIGHTED,
    Action,
    Candidate,
    Considered,
    Decision,
    LeadFacts,
    Pool,
    Rule,
)

FALLBACK_NAME = "Fallback queue"

# How the final trail sentence names a strategy ("... (round robin in "EMEA SDRs")").
STRATEGY_WORDS = {
    WEIGHTED: "weighted round robin",
    CAPACITY: "most headroom",
    LOAD_BALANCED: "fewest open leads",
    TERRITORY: "territory",
}

# Passes are sums of 1/weight floats, so 1/3 + 1/3 + 1/3 need not equal 1.0;
# comparing them rounded keeps intended ties as ties, broken by the clock and id.
_PASS_DIGITS = 9


# --- Eligibility -------------------------------------------------------------------------------


def eligible_reason(candidate: Candidate, lead: LeadFacts) -> str | None:
    """Why `candidate` may not take `lead` (a key of EXCLUSIONS), or None when they may.

    Territory is not checked here: only the territory strategy uses it.
    """
    if candidate.unavailable:
        return candidate.unavailable
    if candidate.id in lead.rejected_by:
        return REJECTED_BEFORE
    if candidate.daily_cap is not None and candidate.assigned_today >= candidate.daily_cap:
        return DAILY_CAP
    if candidate.open_cap is not None and candidate.open_count >= candidate.open_cap:
        return OPEN_CAP
    return None


def lead_places(lead: LeadFacts) -> frozenset[str]:
    """The lead's upper-cased country and region, the keys a territory can list."""
    places = (lead.fields.get("country"), lead.fields.get("region"))
    return frozenset(str(place).strip().upper() for place in places if place and str(place).strip())


def _exclusion(candidate: Candidate, lead: LeadFacts, strategy: str) -> str | None:
    if strategy == TERRITORY and not candidate.territories & lead_places(lead):
        return NOT_IN_TERRITORY
    return eligible_reason(candidate, lead)


# --- Picking within a pool ---------------------------------------------------------------------


def stride(candidate: Candidate, strategy: str) -> float:
    return 1 / max(candidate.weight, 1) if strategy == WEIGHTED else 1.0


def pass_floor(eligible: Sequence[Candidate], strategy: str) -> float:
    """The lowest pass an eligible member can be credited with.

    In steady stride scheduling every member's pass is at most one of its own
    strides above the lowest pass, so max(pass - stride) never exceeds the
    lowest pass of anyone who has kept up. A member whose pass lags below it
    (back from leave, newly added, or capped for days) is lifted to it, and so
    gets about one round's worth of leads rather than all the leads it "missed".

    (Lifting to the plain minimum over eligible members would do nothing: the
    lagging member is itself the minimum.)
    """
    return max((member.pass_value - stride(member, strategy) for member in eligible), default=0.0)


def effective_pass(candidate: Candidate, floor: float) -> float:
    return max(candidate.pass_value, floor)


def headroom(candidate: Candidate) -> float:
    """Leads the candidate can still take before a cap bites; infinite when they have no cap."""
    room = [
        cap - used
        for cap, used in (
            (candidate.daily_cap, candidate.assigned_today),
            (candidate.open_cap, candidate.open_count),
        )
        if cap is not None
    ]
    return min(room, default=math.inf)


def _order_key(candidate: Candidate, strategy: str, floor: float) -> tuple:
    turn = (round(effective_pass(candidate, floor), _PASS_DIGITS), candidate.last_assigned_at, candidate.id)
    if strategy == LOAD_BALANCED:
        return (candidate.open_count, *turn)
    if strategy == CAPACITY:
        return (-headroom(candidate), *turn)
    # ROUND_ROBIN, WEIGHTED and TERRITORY take turns; an unknown strategy does too, so
    # a pool saved by a newer version of the code still routes rather than failing.
    return turn


def pick(pool: Pool, lead: LeadFacts) -> tuple[Candidate | None, list[Considered], float | None]:
    """Choose a member of `pool` for `lead`.

    Returns the chosen member (None when nobody is eligible), every member with
    why they were not chosen, and the chosen member's pass after this lead.
    """
    reasons = {member.id: _exclusion(member, lead, pool.strategy) for member in pool.members}
    eligible = [member for member in pool.members if reasons[member.id] is None]
    chosen, new_pass = None, None
    if eligible:
        floor = pass_floor(eligible, pool.strategy)
        chosen = min(eligible, key=lambda member: _order_key(member, pool.strategy, floor))
        new_pass = effective_pass(chosen, floor) + stride(chosen, pool.strategy)
    considered = [
        Considered(
            candidate=member.id,
            name=member.name,
            excluded=None if member is chosen else reasons[member.id] or NOT_ITS_TURN,
            pool=pool.id,
        )
        for member in pool.members
    ]
    return chosen, considered, new_pass


# --- Rules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    candidate: Candidate
    how: str  # the parenthesis of the final trail sentence
    pool: int | None = None
    new_pass: float | None = None


def _label(index: int, rule: Rule) -> str:
    return f'Rule {index + 1} "{rule.name}"'


def rule_matches(rule: Rule, lead: LeadFacts) -> bool:
    """Whether the rule's conditions hold for the lead (no conditions: always)."""
    return _first_failing(rule, lead) is None


def _first_failing(rule: Rule, lead: LeadFacts) -> dict | None:
    # conditions.matches() treats an empty list as matching nothing (right for segments);
    # in routing a rule without conditions is the catch-all, so test the conditions one by one.
    return next((c for c in rule.conditions if not conditions.holds(c, lead.fields)), None)


def _percent(value: float) -> str:
    # Whole percentages read best, but 59.5% must not print as "60% is below 60%".
    return f"{value:.0%}" if abs(value * 100 - round(value * 100)) < 1e-9 else f"{value:.1%}"


def _why(reason: str) -> str:
    return EXCLUSIONS.get(reason, reason)


def _from_pool(
    pool_id: int | None, lead: LeadFacts, pools: Mapping[int, Pool], decision: Decision
) -> _Found | None:
    if pool_id is None:
        return None
    pool = pools.get(pool_id)
    if pool is None:
        decision.trail.append(f"Pool #{pool_id} not found")
        return None
    chosen, considered, new_pass = pick(pool, lead)
    decision.considered.extend(considered)
    skipped = [f"{c.name} ({_why(c.excluded)})" for c in considered if c.excluded not in (None, NOT_ITS_TURN)]
    if skipped:
        decision.trail.append(f'In "{pool.name}", skipped ' + ", ".join(skipped))
    if chosen is None:
        decision.trail.append(f'Nobody eligible in "{pool.name}"')
        return None
    how = f'{STRATEGY_WORDS.get(pool.strategy, "round robin")} in "{pool.name}"'
    return _Found(chosen, how, pool=pool.id, new_pass=new_pass)


def _direct(
    person_id: int | None,
    role: str,
    how: str,
    lead: LeadFacts,
    people: Mapping[int, Candidate],
    decision: Decision,
) -> _Found | None:
    """Try one named person (a rule's person, the account owner, the previous owner)."""
    if person_id is None:
        decision.trail.append(f"No {role.lower()}")
        return None
    person = people.get(person_id)
    if person is None:
        decision.trail.append(f"{role} #{person_id} not found")
        return None
    reason = eligible_reason(person, lead)
    decision.considered.append(Considered(candidate=person.id, name=person.name, excluded=reason))
    if reason is not None:
        decision.trail.append(f"{role} {person.name} skipped: {_why(reason)}")
        return None
    return _Found(person, how)


def _assign_person(action: Action, lead, pools, people, decision):
    if action.person is None:
        decision.trail.append("No person set")
        return None
    return _direct(action.person, "Person", "named person", lead, people, decision)


def _assign_account_owner(action: Action, lead, pools, people, decision):
    owner = _direct(lead.account_owner, "Matched account owner", "account owner", lead, people, decision)
    return owner or _from_pool(action.pool, lead, pools, decision)


def _assign_sticky(action: Action, lead, pools, people, decision):
    owner = _direct(lead.previous_owner, "Previous owner", "previous owner", lead, people, decision)
    return owner or _from_pool(action.pool, lead, pools, decision)


def _assign_pool(action: Action, lead, pools, people, decision):
    if action.pool is None:
        decision.trail.append("No pool set")
        return None
    return _from_pool(action.pool, lead, pools, decision)


_ASSIGNERS: dict[str, Callable] = {
    ASSIGN_PERSON: _assign_person,
    ASSIGN_ACCOUNT_OWNER: _assign_account_owner,
    ASSIGN_STICKY: _assign_sticky,
    ASSIGN_POOL: _assign_pool,
}


def _hold(action: Action, lead: LeadFacts, decision: Decision, noun: str) -> bool:
    # A hold rule saved without a threshold means what its name says: hold until complete.
    threshold = 1.0 if action.min_completeness is None else action.min_completeness
    if lead.completeness < threshold:
        held = f"completeness {_percent(lead.completeness)} is below {_percent(threshold)}"
        decision.trail.append(f"{noun.capitalize()} held: {held}")
        return True
    decision.trail.append(
        f"Completeness {_percent(lead.completeness)} meets {_percent(threshold)}, so the hold does not apply"
    )
    return False


def _assigned(decision: Decision, found: _Found, by: str) -> Decision:
    decision.outcome = ASSIGNED
    decision.assignee = found.candidate.id
    decision.pool = found.pool
    decision.new_pass = found.new_pass
    decision.trail.append(f"Assigned to {found.candidate.name} by {by} ({found.how})")
    return decision


def decide(
    rules: Sequence[Rule],
    lead: LeadFacts,
    *,
    pools: Mapping[int, Pool],
    people: Mapping[int, Candidate],
    fallback_pool: int | None,
    noun: str = "lead",
) -> Decision:
    """Route one lead: the first rule that matches and finds someone eligible wins.

    A rule that matches but finds nobody (person excluded, pool exhausted,
    person or pool missing) passes the lead on to the next rule; when no rule
    assigns, the fallback pool is tried, and failing that the lead is QUEUED.
    Accounts and opportunities are routed alike; `noun` names them in the trail.
    """
    decision = Decision(outcome=QUEUED)
    for index, rule in enumerate(rules):
        label = _label(index, rule)
        failing = _first_failing(rule, lead)
        if failing is not None:
            decision.trail.append(f"{label} did not match: {conditions.describe(failing)}")
            continue
        decision.trail.append(f"{label} matched" + ("" if rule.conditions else " (no conditions: catch-all)"))
        if rule.action.type == HOLD_FOR_DATA:
            if _hold(rule.action, lead, decision, noun):
                decision.outcome, decision.rule_index, decision.rule_name = HELD, index, rule.name
                return decision
            continue
        assigner = _ASSIGNERS.get(rule.action.type)
        if assigner is None:
            decision.trail.append(f"{label} has an unknown action {rule.action.type!r}; skipped")
            continue
        found = assigner(rule.action, lead, pools, people, decision)
        if found is not None:
            decision.rule_index, decision.rule_name = index, rule.name
            return _assigned(decision, found, by=f'rule {index + 1} "{rule.name}"')
        decision.trail.append(f"{label} assigned nobody; trying the next rule")
    return _fall_back(decision, lead, pools=pools, fallback_pool=fallback_pool, noun=noun)


def _fall_back(
    decision: Decision, lead: LeadFacts, *, pools, fallback_pool: int | None, noun: str
) -> Decision:
    if fallback_pool is None:
        decision.trail.append(
            f"No rule assigned the {noun} and there is no fallback queue: it waits unassigned"
        )
        return decision
    decision.rule_name = FALLBACK_NAME
    found = _from_pool(fallback_pool, lead, pools, decision)
    if found is not None:
        return _assigned(decision, found, by="the fallback queue")
    decision.pool = fallback_pool
    decision.trail.append(f"Nobody eligible: the {noun} waits in the fallback queue")
    return decision


# --- Simulation --------------------------------------------------------------------------------


def simulate(
    rules: Sequence[Rule],
    leads: Sequence[LeadFacts],
    *,
    pools: Mapping[int, Pool],
    people: Mapping[int, Candidate],
    fallback_pool: int | None,
    noun: str = "lead",
) -> list[Decision]:
    """Route `leads` in order, as if each decision had been written back before the next.

    Each assignment adds one to the assignee's today and open counts wherever they
    appear (people and every pool: the counts are the person's), and moves their
    pass and last-assigned clock in the pool they were picked from (those are the
    pool member's ledger). All leads count as one day and availability does not
    change. The inputs are not modified.
    """
    pools, people = dict(pools), dict(people)
    # Simulated assignments happen after every real one, so the tie-break clock keeps its meaning.
    start = max((member.last_assigned_at for pool in pools.values() for member in pool.members), default=0.0)
    decisions = []
    for index, lead in enumerate(leads):
        decision = decide(rules, lead, pools=pools, people=people, fallback_pool=fallback_pool, noun=noun)
        decisions.append(decision)
        if decision.outcome == ASSIGNED:
            pools, people = _after_assignment(decision, pools, people, at=start + index + 1)
    return decisions


def _counted(candidate: Candidate) -> Candidate:
    return replace(
        candidate, assigned_today=candidate.assigned_today + 1, open_count=candidate.open_count + 1
    )


def _after_assignment(decision: Decision, pools: dict, people: dict, *, at: float) -> tuple[dict, dict]:
    assignee = decision.assignee

    def member_after(pool: Pool, member: Candidate) -> Candidate:
        if member.id != assignee:
            return member
        member = _counted(member)
        if pool.id == decision.pool:
            member = replace(member, pass_value=decision.new_pass, last_assigned_at=at)
        return member

    pools = {
        pool_id: replace(pool, members=tuple(member_after(pool, member) for member in pool.members))
        for pool_id, pool in pools.items()
    }
    if assignee in people:
        people = {**people, assignee: _counted(people[assignee])}
    return pools, people
