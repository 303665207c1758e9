"""The attribution models written one path at a time, in plain Python: the readable specification.

`engine.py` (rule-based models) and `markov.py` (data-driven model) compute the same numbers over flat
arrays for speed; the tests hold them equal to these functions on random paths. Read the definitions in
`engine`'s and `markov`'s docstrings; this module only spells them out with loops.

A path here is a `Path`: the touch times in order (seconds) and the milestone times, None when unknown.
"""

import itertools
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from .engine import (
    DEFAULT_HALF_LIFE_DAYS,
    FIRST_TOUCH,
    FULL_PATH,
    FULL_PATH_MIDDLE_SHARE,
    FULL_PATH_MILESTONE_SHARE,
    LAST_TOUCH,
    LINEAR,
    SECONDS_PER_DAY,
    TIME_DECAY,
    U_SHAPED,
    U_SHAPED_END_SHARE,
    U_SHAPED_MIDDLE_SHARE,
    W_SHAPED,
    W_SHAPED_MIDDLE_SHARE,
    W_SHAPED_MILESTONE_SHARE,
)


@dataclass(frozen=True)
class Path:
    times: Sequence[float]
    lead_created_at: float | None = None
    opportunity_created_at: float | None = None
    won_at: float | None = None


def milestone_touch(times: Sequence[float], moment: float | None) -> int | None:
    """The index of the last touch at or before `moment`; None when the moment is unknown or precedes all."""
    found = None
    if moment is None:
        return found
    for index, time in enumerate(times):
        if time <= moment:
            found = index
    return found


def _share_out(n: int, positions: list[tuple[int | None, float]], middle_share: float, window_end: int):
    """Position shares on their touches, the middle share among the others up to `window_end`,
    then every share divided by the total actually given out (absent shares re-spread)."""
    credit = [0.0] * n
    held = set()
    for index, share in positions:
        if index is not None:
            credit[index] += share
            held.add(index)
    middle = [index for index in range(n) if index <= window_end and index not in held]
    for index in middle:
        credit[index] += middle_share / len(middle)
    total = sum(credit)
    return [value / total for value in credit]


def first_touch(path: Path) -> list[float]:
    return [1.0 if index == 0 else 0.0 for index in range(len(path.times))]


def last_touch(path: Path) -> list[float]:
    last = len(path.times) - 1
    return [1.0 if index == last else 0.0 for index in range(len(path.times))]


def linear(path: Path) -> list[float]:
    n = len(path.times)
    return [1.0 / n] * n


def u_shaped(path: Path) -> list[float]:
    n = len(path.times)
    ends = [(0, U_SHAPED_END_SHARE), (n - 1, U_SHAPED_END_SHARE)]
    return _share_out(n, ends, U_SHAPED_MIDDLE_SHARE, window_end=n - 1)


def w_shaped(path: Path) -> list[float]:
    n = len(path.times)
    lead = milestone_touch(path.times, path.lead_created_at)
    opportunity = milestone_touch(path.times, path.opportunity_created_at)
    positions = [
        (0, W_SHAPED_MILESTONE_SHARE),
        (lead, W_SHAPED_MILESTONE_SHARE),
        (opportunity, W_SHAPED_MILESTONE_SHARE),
    ]
    window_end = opportunity if opportunity is not None else n - 1
    return _share_out(n, positions, W_SHAPED_MIDDLE_SHARE, window_end)


def full_path(path: Path) -> list[float]:
    n = len(path.times)
    won = milestone_touch(path.times, path.won_at)
    positions = [
        (0, FULL_PATH_MILESTONE_SHARE),
        (milestone_touch(path.times, path.lead_created_at), FULL_PATH_MILESTONE_SHARE),
        (milestone_touch(path.times, path.opportunity_created_at), FULL_PATH_MILESTONE_SHARE),
        (won, FULL_PATH_MILESTONE_SHARE),
    ]
    window_end = won if won is not None else n - 1
    return _share_out(n, positions, FULL_PATH_MIDDLE_SHARE, window_end)


def time_decay(path: Path, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> list[float]:
    reference = path.opportunity_created_at
    if reference is None:
        reference = path.times[-1]
    half_life = half_life_days * SECONDS_PER_DAY
    raw = [2.0 ** (-max(reference - time, 0.0) / half_life) for time in path.times]
    total = sum(raw)
    return [value / total for value in raw]


def weights(path: Path, model: str, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> list[float]:
    if model == TIME_DECAY:
        return time_decay(path, half_life_days)
    return {
        FIRST_TOUCH: first_touch,
        LAST_TOUCH: last_touch,
        LINEAR: linear,
        U_SHAPED: u_shaped,
        W_SHAPED: w_shaped,
        FULL_PATH: full_path,
    }[model](path)


# -- the data-driven model -----------------------------------------------------------------------------

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"


def markov_transitions(journeys: Iterable[tuple]) -> dict[Hashable, dict[Hashable, float]]:
    """Transition counts between states: (start) → each touch's channel in turn → (conversion) or (null).

    A journey is (channels, converted) or (channels, converted, count).
    """
    counts: dict[Hashable, dict[Hashable, float]] = defaultdict(lambda: defaultdict(float))
    for journey in journeys:
        channels, converted = journey[0], journey[1]
        count = journey[2] if len(journey) > 2 else 1
        states = [START, *channels, CONVERSION if converted else NULL]
        for here, there in itertools.pairwise(states):
            counts[here][there] += count
    return counts


def conversion_probability(counts, removed: Hashable | None = None, tolerance: float = 1e-15) -> float:
    """P(reaching conversion from start), by repeating x(s) = Σ P(s→t)·x(t) until it settles.

    A removed channel leads nowhere (its x is 0), as if every journey through it had stopped there.
    """
    states = [state for state in counts if state != removed]
    x = defaultdict(float)
    x[CONVERSION] = 1.0
    for _ in range(1_000_000):
        change = 0.0
        for state in states:
            total = sum(counts[state].values())
            value = sum(
                count / total * x[there] for there, count in counts[state].items() if there != removed
            )
            change = max(change, abs(value - x[state]))
            x[state] = value
        if change < tolerance:
            break
    return x[START]


def markov_removal_effects(journeys: Sequence[tuple]) -> dict[Hashable, float]:
    """Per channel, 1 - P(conversion without it) / P(conversion); zero when nothing converts."""
    counts = markov_transitions(journeys)
    channels = {channel for journey in journeys for channel in journey[0]}
    base = conversion_probability(counts)
    if base == 0:
        return dict.fromkeys(channels, 0.0)
    return {channel: 1 - conversion_probability(counts, removed=channel) / base for channel in channels}


def markov_path_credits(channels: Sequence[Hashable], share: dict[Hashable, float]) -> list[float]:
    """One path's touches: each channel's share split equally among its touches, normalised to 1.

    A channel without a share counts 0; a path whose channels all count 0 gives each channel the same.
    """
    touches_of = defaultdict(int)
    for channel in channels:
        touches_of[channel] += 1
    raw = [share.get(channel, 0.0) / touches_of[channel] for channel in channels]
    if sum(raw) == 0:
        raw = [1.0 / touches_of[channel] for channel in channels]
    total = sum(raw)
    return [value / total for value in raw]
