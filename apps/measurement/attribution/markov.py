"""The data-driven model: channel credit from the removal effect of a first-order Markov chain.

The chain
---------
Every journey (converting or not) is read as a walk between states: **(start)**, then the channel of each
touch in order, then **(conversion)** if the journey converted or **(null)** if it did not. Counting every
step of every journey (weighted by the journey's count) and dividing each state's counts by their total
gives the transition probabilities P(s → t). (conversion) and (null) are absorbing.

The conversion probability from each transient state s (start or a channel) satisfies
x(s) = Σ_t P(s → t) · x(t), with x(conversion) = 1 and x(null) = 0. With Q the transitions among
transient states and r the one-step probabilities of converting, that is the linear system
(I - Q) x = r, solved exactly with `numpy.linalg.solve` (no simulation). The chain's conversion
probability is x(start). Every state that appears in the data lies on a journey that ends in an absorbing
state, so I - Q is invertible. Repeated touches of one channel (self-loops) change nothing: from a state
the chain still leaves to the same places in the same proportions.

Removal effect
--------------
Removing channel c makes it a dead end (every walk reaching c stops there without converting):
x(c) = 0. The **removal effect** of c is 1 - P(conversion without c) / P(conversion): the share of
conversions that would be lost without it. Removal effects need not sum to 1 (a journey through two
channels is lost by removing either), so a channel's **share** is its removal effect divided by the sum of
all channels' removal effects. With no conversion at all every effect and share is 0.

When not to trust it
--------------------
The chain is estimated from counts, so thin data gives noisy transition probabilities and shares that
move a lot from one month to the next. `warning` is set when there are fewer than `MIN_CONVERSIONS` (100)
converting journeys, or when some channel appears in fewer than `MIN_CHANNEL_CONVERSIONS` (10) converting
journeys (its share then rests on a handful of deals); it is None otherwise. The numbers are still
returned: the warning is for the person reading them.

Credit per touch
----------------
An opportunity's path is credited from the channels' shares: each channel present on the path takes its
share, split equally among the path's touches of that channel, and the path's touch weights are then
divided by their sum so they total 1. A path with a single channel gives that channel 1.0. A path whose
channels all have a share of 0 (never seen converting) gives each of its channels the same credit.
"""

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .engine import Paths, normalise

MARKOV = "markov"
MIN_CONVERSIONS = 100
MIN_CHANNEL_CONVERSIONS = 10


@dataclass(frozen=True)
class MarkovResult:
    channels: tuple[Hashable, ...]
    removal_effect: dict[Hashable, float]
    share: dict[Hashable, float]
    conversion_probability: float  # P(conversion) of the fitted chain, from (start)
    journeys: float  # journeys used (their counts summed)
    conversions: float  # converting journeys used (their counts summed)
    channel_conversions: dict[Hashable, float]  # converting journeys each channel appears in
    warning: str | None

    def shares_for(self, labels: Sequence[Hashable]) -> np.ndarray:
        """The shares aligned with a caller's channel codes (label of code k = labels[k]); 0 if unseen."""
        return np.array([self.share.get(label, 0.0) for label in labels], dtype=np.float64)


def removal_effects(
    journeys: Iterable[tuple],
    *,
    min_conversions: int = MIN_CONVERSIONS,
    min_channel_conversions: int = MIN_CHANNEL_CONVERSIONS,
) -> MarkovResult:
    """Fit the chain on journeys given as (channels, converted) or (channels, converted, count).

    `channels` is the sequence of channel labels of the journey's touches in time order. A journey with
    no touch still counts: it goes from (start) straight to (conversion) or (null).
    """
    codes: dict[Hashable, int] = {}
    path, channel, converted, counts = [], [], [], []
    direct = {True: 0.0, False: 0.0}
    for journey in journeys:
        labels, did_convert = journey[0], bool(journey[1])
        count = float(journey[2]) if len(journey) > 2 else 1.0
        if count < 0:
            raise ValueError(f"count: must not be negative, got {count}")
        if not labels:
            direct[did_convert] += count
            continue
        number = len(converted)
        for label in labels:
            path.append(number)
            channel.append(codes.setdefault(label, len(codes)))
        converted.append(did_convert)
        counts.append(count)
    return removal_effects_from_arrays(
        np.array(path, dtype=np.int64),
        np.array(channel, dtype=np.int64),
        np.array(converted, dtype=bool),
        counts=np.array(counts, dtype=np.float64),
        labels=tuple(codes),
        direct_conversions=direct[True],
        direct_non_conversions=direct[False],
        min_conversions=min_conversions,
        min_channel_conversions=min_channel_conversions,
    )


def removal_effects_from_arrays(
    path: np.ndarray,
    channel: np.ndarray,
    converted: np.ndarray,
    *,
    counts: np.ndarray | None = None,
    labels: Sequence[Hashable] | None = None,
    direct_conversions: float = 0.0,
    direct_non_conversions: float = 0.0,
    min_conversions: int = MIN_CONVERSIONS,
    min_channel_conversions: int = MIN_CHANNEL_CONVERSIONS,
) -> MarkovResult:
    """Fit the chain on flat arrays: one row per touch sorted by (path, time), `channel` as integer codes.

    `converted` and `counts` have one entry per path, in ascending path order; `labels[k]` names code k
    (default: the codes themselves). Direct journeys (no touch) are passed as counts.
    """
    channel = np.asarray(channel, dtype=np.int64)
    n_channels = len(labels) if labels is not None else int(channel.max(initial=-1)) + 1
    labels = tuple(labels) if labels is not None else tuple(range(n_channels))
    if len(channel) and (channel.min() < 0 or channel.max() >= n_channels):
        raise ValueError(f"channel: codes must lie in 0..{n_channels - 1}")
    paths = Paths(np.asarray(path), np.zeros(len(channel)))  # only the grouping is used
    converted = np.asarray(converted, dtype=bool)
    counts = np.ones(len(converted)) if counts is None else np.asarray(counts, dtype=np.float64)
    if converted.shape != (paths.layout.n_paths,) or counts.shape != converted.shape:
        raise ValueError(f"converted, counts: expected one entry per path ({paths.layout.n_paths})")

    transitions = _transition_counts(
        paths, channel, converted, counts, n_channels, direct_conversions, direct_non_conversions
    )
    return removal_effects_from_transitions(
        transitions,
        labels=labels,
        journeys=float(counts.sum() + direct_conversions + direct_non_conversions),
        conversions=float(counts[converted].sum() + direct_conversions),
        channel_conversions=_converting_journeys_per_channel(paths, channel, converted, counts, n_channels),
        min_conversions=min_conversions,
        min_channel_conversions=min_channel_conversions,
    )


def removal_effects_from_transitions(
    transitions: np.ndarray,
    *,
    labels: Sequence[Hashable],
    journeys: float,
    conversions: float,
    channel_conversions: np.ndarray,
    min_conversions: int = MIN_CONVERSIONS,
    min_channel_conversions: int = MIN_CHANNEL_CONVERSIONS,
) -> MarkovResult:
    """Fit the chain from counted transitions, for callers that count them elsewhere (in SQL).

    `transitions[s, t]` counts the steps from state s to state t: 0 is (start), 1..K the channels
    (`labels[k - 1]`), K + 1 (conversion) and K + 2 (null), exactly as the journeys above are counted.
    `channel_conversions[k]` is the number of converting journeys channel k appears in.
    """
    labels = tuple(labels)
    n_channels = len(labels)
    transitions = np.asarray(transitions, dtype=np.float64)
    if transitions.shape != (n_channels + 3, n_channels + 3):
        raise ValueError(f"transitions: expected a {n_channels + 3} x {n_channels + 3} matrix")
    channel_conversions = np.asarray(channel_conversions, dtype=np.float64)
    base, without = _conversion_probabilities(transitions, n_channels)
    effects = np.zeros(n_channels) if base == 0 else np.maximum(1.0 - without / base, 0.0)
    total_effect = effects.sum()
    shares = effects / total_effect if total_effect > 0 else np.zeros(n_channels)
    return MarkovResult(
        channels=labels,
        removal_effect=dict(zip(labels, effects.tolist(), strict=True)),
        share=dict(zip(labels, shares.tolist(), strict=True)),
        conversion_probability=float(base),
        journeys=float(journeys),
        conversions=float(conversions),
        channel_conversions=dict(zip(labels, channel_conversions.tolist(), strict=True)),
        warning=_warning(conversions, labels, channel_conversions, min_conversions, min_channel_conversions),
    )


# States of the chain: 0 is (start), 1..K the channels, then (conversion) and (null).
def _transition_counts(paths, channel, converted, counts, n_channels, direct_conversions, direct_nulls):
    start, conversion, null = 0, n_channels + 1, n_channels + 2
    n_states = n_channels + 3
    layout = paths.layout
    state = channel + 1
    touch_counts = layout.per_touch(counts)
    is_last = np.zeros(len(state), dtype=bool)
    is_last[layout.ends] = True
    steps_from = [
        np.full(layout.n_paths, start),  # (start) → first touch
        state[~is_last],  # each touch → the next touch of its path
        state[layout.ends],  # last touch → (conversion) or (null)
        [start, start],  # journeys without touches
    ]
    steps_to = [
        state[layout.starts],
        state[1:][~is_last[:-1]],
        np.where(converted, conversion, null),
        [conversion, null],
    ]
    weights = [counts, touch_counts[~is_last], counts, [direct_conversions, direct_nulls]]
    flat = np.concatenate(steps_from) * n_states + np.concatenate(steps_to)
    matrix = np.bincount(flat, weights=np.concatenate(weights), minlength=n_states * n_states)
    return matrix.reshape(n_states, n_states)


def _conversion_probabilities(transitions: np.ndarray, n_channels: int) -> tuple[float, np.ndarray]:
    """P(conversion) from (start), and the same with each channel removed in turn."""
    transient = n_channels + 1
    conversion = n_channels + 1
    totals = transitions[:transient].sum(axis=1, keepdims=True)
    # A state never left (a label without touches, or (start) with no journey) keeps an all-zero row:
    # nothing reaches it, and its x solves to 0.
    probabilities = np.divide(
        transitions[:transient], totals, out=np.zeros((transient, len(transitions))), where=totals > 0
    )
    q = probabilities[:, :transient]
    r = probabilities[:, conversion]
    base = _solve(q, r)
    without = np.empty(n_channels)
    for code in range(n_channels):  # one small solve per channel, not per touch
        removed = code + 1
        q_removed, r_removed = q.copy(), r.copy()
        q_removed[removed] = 0.0
        r_removed[removed] = 0.0
        without[code] = _solve(q_removed, r_removed)
    return base, without


def _solve(q: np.ndarray, r: np.ndarray) -> float:
    x = np.linalg.solve(np.eye(len(q)) - q, r)
    return float(x[0])


def _converting_journeys_per_channel(paths, channel, converted, counts, n_channels) -> np.ndarray:
    layout = paths.layout
    if n_channels == 0:
        return np.zeros(0)
    converting_touch = layout.per_touch(converted)
    # One (path, channel) pair per channel present on a converting path, however many touches it has.
    pairs = np.unique(layout.touch_path[converting_touch] * n_channels + channel[converting_touch])
    return np.bincount(pairs % n_channels, weights=counts[pairs // n_channels], minlength=n_channels)


def _warning(conversions, labels, channel_conversions, min_conversions, min_channel_conversions):
    if conversions == 0:
        return "No converting journeys: the data-driven model cannot share any credit."
    problems = []
    if conversions < min_conversions:
        problems.append(
            f"Only {conversions:g} converting journey{'' if conversions == 1 else 's'} "
            f"(fewer than {min_conversions}): "
            "the shares are too noisy to trust."
        )
    thin = [
        str(label)
        for label, seen in zip(labels, channel_conversions, strict=True)
        if seen < min_channel_conversions
    ]
    if thin:
        problems.append(
            f"Seen in fewer than {min_channel_conversions} converting journeys: {', '.join(thin)}; "
            "their shares rest on too few deals."
        )
    return " ".join(problems) or None


def markov_credits(paths: Paths, channel: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Per-touch weights of the data-driven model over `paths`; each path sums to 1.

    `channel` holds each touch's channel code and `shares[k]` the share of code k (see
    `MarkovResult.shares_for`).
    """
    channel = np.asarray(channel, dtype=np.int64)
    shares = np.asarray(shares, dtype=np.float64)
    layout = paths.layout
    if channel.shape != (paths.n_touches,):
        raise ValueError(f"channel: expected {paths.n_touches} codes, one per touch")
    if len(channel) and (channel.min() < 0 or channel.max() >= len(shares)):
        raise ValueError(f"channel: codes must lie in 0..{len(shares) - 1}, the codes of `shares`")
    # Touches of the same channel on the same path: factorize hashes the (path, channel) pairs in one pass.
    pair, _ = pd.factorize(layout.touch_path * len(shares) + channel)
    same_channel = np.bincount(pair)[pair]
    raw = shares[channel] / same_channel
    unseen = layout.per_touch(layout.per_path_sum(raw) == 0)
    raw[unseen] = 1.0 / same_channel[unseen]
    return normalise(raw, paths)
