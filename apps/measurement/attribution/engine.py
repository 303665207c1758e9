"""Rule-based multi-touch attribution, vectorised over flat arrays.

An opportunity's **path** is the touches the database selected for it (those inside the organisation's
lookback window), in time order. Every model below turns a path into one weight per touch; the weights of
a path are non-negative and sum to 1, so an opportunity, its pipeline amount or its won revenue can be
shared among the touches' channels, sources and campaigns without creating or losing any of it.

Milestone touches
-----------------
Three moments of an opportunity's life may be known: the lead's creation, the opportunity's creation and
the deal being won. The **milestone touch** of a moment is the last touch at or before it (the convention of
Marketo Measure, formerly Bizible: the interaction closest before the milestone earns it). A touch exactly
at the moment counts: the form fill that creates a lead happens at that instant. When a moment is unknown
(no date: an open or lost opportunity has no won date) or every touch came after it, the milestone has no
touch and is **absent**.

- first-touch touch: the path's first touch;
- lead-creation touch (LC): the last touch at or before `lead_created_at`;
- opportunity-creation touch (OC): the last touch at or before `opportunity_created_at`;
- closed-won touch (CW): the last touch at or before `won_at`.

One touch can hold several positions (the first touch is often the lead-creation touch too); it then earns
the sum of their shares.

Absent positions and the exactly-one rule
-----------------------------------------
A model is a set of position shares plus a share for the touches in between. A share with nobody to take it
(an absent milestone, or no touch in between) is re-spread over the shares that are present, in proportion
to them: the raw shares of a path are divided by their sum. This is what the vendors do, and it makes every
model's weights sum to 1 for every path with at least one touch. A one-touch path therefore gets 1.0 under
every model.

The models
----------
- **First touch**: 100 % to the first touch.
- **Last touch**: 100 % to the path's last touch.
- **Linear**: 1/n to each of the n touches.
- **U-shaped** (position-based): 40 % to the first touch, 40 % to the last touch, 20 % split equally among
  the touches in between. Two touches get 50 % each (the 20 % has nobody to take it). This is the
  first/last-touch form that most analytics tools call U-shaped; Marketo Measure's U-shaped uses the
  lead-creation touch instead of the last one.
- **W-shaped**: 30 % each to the first, lead-creation and opportunity-creation touches, 10 % split equally
  among the other touches up to the opportunity-creation touch. Touches after the opportunity was created
  earn nothing under this model (it describes how the opportunity came about); when the opportunity has no
  creation touch, all touches are in its window.
- **Full path**: 22.5 % each to the first, lead-creation, opportunity-creation and closed-won touches, 10 %
  split equally among the other touches up to the closed-won touch (touches after the deal was won cannot
  have helped win it). An open or lost opportunity has no closed-won touch, so its 22.5 % is re-spread:
  the three other positions get 22.5/77.5 ≈ 29.03 % each and the touches in between, after the
  opportunity's creation included, 10/77.5 ≈ 12.90 %. Unlike W-shaped, the touches of an open deal after
  its creation keep earning: they are what the full path measures.
- **Time decay**: a touch's weight halves every `half_life_days` (default 7) of its age, measured back from
  the opportunity's creation: weight ∝ 2^(-(t_ref - t) / half_life). t_ref is `opportunity_created_at`, or
  the path's last touch when the creation date is unknown. Touches after t_ref have age 0 (they weigh as
  much as a touch at the conversion). Weights are then divided by their path's sum.

Data layout
-----------
`Paths` holds flat arrays, one row per touch, sorted by (path, time), and one row per path for the
milestone times. Every model is computed with whole-array numpy operations (path boundaries from one
`np.diff`, per-path sums and counts from `np.add.reduceat`, per-path values spread onto touches with
`np.repeat`): there is no Python loop per path or per touch, so the cost grows like one pass over the
touches. `credits_all` computes every model over the same `Paths`, whose boundaries and milestone touches
are computed once and cached.

The readable, loop-per-path form of the same definitions is `reference.py`; the tests hold the two equal.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

import numpy as np
import pandas as pd

FIRST_TOUCH = "first_touch"
LAST_TOUCH = "last_touch"
LINEAR = "linear"
U_SHAPED = "u_shaped"
W_SHAPED = "w_shaped"
FULL_PATH = "full_path"
TIME_DECAY = "time_decay"

RULE_BASED_MODELS = (FIRST_TOUCH, LAST_TOUCH, LINEAR, U_SHAPED, W_SHAPED, FULL_PATH, TIME_DECAY)
MODEL_LABELS = {
    FIRST_TOUCH: "First touch",
    LAST_TOUCH: "Last touch",
    LINEAR: "Linear",
    U_SHAPED: "U-shaped",
    W_SHAPED: "W-shaped",
    FULL_PATH: "Full path",
    TIME_DECAY: "Time decay",
}

U_SHAPED_END_SHARE = 0.4
U_SHAPED_MIDDLE_SHARE = 0.2
W_SHAPED_MILESTONE_SHARE = 0.3
W_SHAPED_MIDDLE_SHARE = 0.1
FULL_PATH_MILESTONE_SHARE = 0.225
FULL_PATH_MIDDLE_SHARE = 0.1

DEFAULT_HALF_LIFE_DAYS = 7.0
SECONDS_PER_DAY = 86_400.0

NO_TOUCH = -1  # index of an absent milestone touch


def to_seconds(values) -> np.ndarray:
    """Float seconds since the epoch, NaN for a missing value.

    Accepts numbers (taken as seconds already), numpy datetime64 (NaT is missing) or anything
    `pandas.to_datetime` reads (aware datetimes, strings; None is missing).
    """
    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        return array.astype(np.float64)
    if array.dtype.kind != "M":
        array = pd.to_datetime(array, utc=True).tz_localize(None).to_numpy()
    micros = array.astype("datetime64[us]")
    seconds = micros.astype(np.int64) / 1e6
    return np.where(np.isnat(micros), np.nan, seconds)


@dataclass(frozen=True)
class Layout:
    """Where each path sits in the flat arrays; computed once per `Paths`."""

    starts: np.ndarray  # index of each path's first touch
    ends: np.ndarray  # index of each path's last touch
    sizes: np.ndarray  # touches per path

    @property
    def n_paths(self) -> int:
        return len(self.starts)

    @cached_property
    def touch_path(self) -> np.ndarray:
        """For each touch, the 0-based number of its path."""
        return self.per_touch(np.arange(self.n_paths))

    def per_path_sum(self, per_touch_values: np.ndarray, dtype=np.float64) -> np.ndarray:
        """Sum of a per-touch array over each path (paths are contiguous runs, so one reduceat)."""
        if self.n_paths == 0:
            return np.zeros(0, dtype=dtype)
        return np.add.reduceat(per_touch_values, self.starts, dtype=dtype)

    def per_touch(self, per_path_values: np.ndarray) -> np.ndarray:
        """Each path's value repeated onto its touches."""
        return np.repeat(per_path_values, self.sizes)


@dataclass(frozen=True)
class MilestoneTouches:
    """The index of each path's milestone touches, NO_TOUCH when absent."""

    lead: np.ndarray
    opportunity: np.ndarray
    won: np.ndarray


@dataclass(frozen=True, eq=False)
class Paths:
    """Touches of many opportunities as flat arrays.

    `path` (integer opportunity id) and `at` (touch time) have one entry per touch, sorted by
    (path, at); ties in time keep the given order, so order ties by touch id in the query. The milestone
    times have one entry per path, in ascending path order (the order of `ids`); NaN or NaT means
    unknown, and None means unknown for every path. Times are seconds since the epoch or datetime64.
    """

    path: np.ndarray
    at: np.ndarray
    lead_created_at: np.ndarray | None = None
    opportunity_created_at: np.ndarray | None = None
    won_at: np.ndarray | None = None

    def __post_init__(self):
        path = np.asarray(self.path)
        if path.ndim != 1 or (len(path) and path.dtype.kind not in "iu"):
            raise ValueError("path: expected a one-dimensional array of integer ids")
        path = path.astype(np.int64)
        at = to_seconds(self.at)
        if at.shape != path.shape:
            raise ValueError(f"at: expected {len(path)} times, one per touch, got {at.shape}")
        if np.isnan(at).any():
            raise ValueError("at: every touch needs a time")
        same_path = path[1:] == path[:-1]
        if (path[1:] < path[:-1]).any():
            raise ValueError("path: touches must be sorted by path id")
        if (same_path & (at[1:] < at[:-1])).any():
            raise ValueError("at: touches must be sorted by time within each path")
        # Frozen: the normalised arrays replace the given ones through object.__setattr__.
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "at", at)
        n_paths = int(len(path) and 1 + np.count_nonzero(~same_path))
        for name in ("lead_created_at", "opportunity_created_at", "won_at"):
            object.__setattr__(self, name, self._per_path_times(name, n_paths))

    def _per_path_times(self, name: str, n_paths: int) -> np.ndarray:
        values = getattr(self, name)
        if values is None:
            return np.full(n_paths, np.nan)
        seconds = to_seconds(values)
        if seconds.shape != (n_paths,):
            raise ValueError(f"{name}: expected {n_paths} times, one per path, got {seconds.shape}")
        return seconds

    @classmethod
    def from_rows(cls, path, at, *, lead_created_at=None, opportunity_created_at=None, won_at=None):
        """Build from one row per touch where each row repeats its opportunity's milestone times.

        This is the shape of a query joining touches to their opportunity; the milestone times are read
        from each path's first row.
        """
        path = np.asarray(path)
        starts = _path_starts(path)

        def first_of_each(values):
            return None if values is None else np.asarray(values)[starts]

        return cls(
            path,
            at,
            lead_created_at=first_of_each(lead_created_at),
            opportunity_created_at=first_of_each(opportunity_created_at),
            won_at=first_of_each(won_at),
        )

    @property
    def n_touches(self) -> int:
        return len(self.path)

    @cached_property
    def layout(self) -> Layout:
        starts = _path_starts(self.path)
        ends = np.append(starts[1:], len(self.path))[: len(starts)] - 1  # empty when there is no touch
        return Layout(starts=starts, ends=ends, sizes=ends - starts + 1)

    @property
    def ids(self) -> np.ndarray:
        """The path ids in the order of the per-path arrays."""
        return self.path[self.layout.starts]

    @cached_property
    def milestones(self) -> MilestoneTouches:
        return MilestoneTouches(
            lead=self.milestone_touch(self.lead_created_at),
            opportunity=self.milestone_touch(self.opportunity_created_at),
            won=self.milestone_touch(self.won_at),
        )

    def milestone_touch(self, moments: np.ndarray) -> np.ndarray:
        """Per path, the index of the last touch at or before `moments[path]`, NO_TOUCH if none.

        Touches are sorted by time within a path, so the touches at or before the moment are a prefix
        of it; counting them gives the prefix's last index. NaN compares false, so an unknown moment
        counts no touch.
        """
        layout = self.layout
        at_or_before = self.at <= layout.per_touch(moments)
        counts = layout.per_path_sum(at_or_before, dtype=np.int64)
        return np.where(counts > 0, layout.starts + counts - 1, NO_TOUCH)

    def repeat(self, per_path_values) -> np.ndarray:
        """Spread one value per path (an opportunity's amount) onto each of its touches."""
        values = np.asarray(per_path_values)
        if values.shape != (self.layout.n_paths,):
            raise ValueError(f"expected {self.layout.n_paths} values, one per path, got {values.shape}")
        return self.layout.per_touch(values)


def _path_starts(path: np.ndarray) -> np.ndarray:
    """Index of the first touch of each run of equal path ids."""
    if len(path) == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], np.diff(path) != 0)))


# -- the models ----------------------------------------------------------------------------------------


def normalise(raw: np.ndarray, paths: Paths) -> np.ndarray:
    """Divide each touch's raw weight by its path's total, so every path sums to 1.

    This is where a share with nobody to take it is re-spread in proportion to the shares present.
    """
    layout = paths.layout
    return raw / layout.per_touch(layout.per_path_sum(raw))


def first_touch(paths: Paths) -> np.ndarray:
    weights = np.zeros(paths.n_touches)
    weights[paths.layout.starts] = 1.0
    return weights


def last_touch(paths: Paths) -> np.ndarray:
    weights = np.zeros(paths.n_touches)
    weights[paths.layout.ends] = 1.0
    return weights


def linear(paths: Paths) -> np.ndarray:
    layout = paths.layout
    return layout.per_touch(1.0 / layout.sizes)


def positional(
    paths: Paths,
    positions: list[tuple[np.ndarray, float]],
    middle_share: float,
    window_end: np.ndarray,
) -> np.ndarray:
    """A position-based model: shares on position touches, the rest split among touches in between.

    `positions` pairs each position's per-path touch index (NO_TOUCH when absent) with its share. The
    middle share is split equally among the touches of the path that hold no position and lie at or
    before the path's `window_end` index. Shares add up on a touch holding several positions.
    """
    layout = paths.layout
    raw = np.zeros(paths.n_touches)
    holds_position = np.zeros(paths.n_touches, dtype=bool)
    for touch_index, share in positions:
        present = touch_index[touch_index != NO_TOUCH]
        # One touch per path per position: the indexes are distinct, so += cannot lose an addition.
        raw[present] += share
        holds_position[present] = True
    in_window = np.arange(paths.n_touches) <= layout.per_touch(window_end)
    middle = in_window & ~holds_position
    n_middle = layout.per_path_sum(middle, dtype=np.int64)
    each = np.divide(middle_share, n_middle, out=np.zeros(layout.n_paths), where=n_middle > 0)
    raw += middle * layout.per_touch(each)
    return normalise(raw, paths)


def u_shaped(paths: Paths) -> np.ndarray:
    layout = paths.layout
    ends = [(layout.starts, U_SHAPED_END_SHARE), (layout.ends, U_SHAPED_END_SHARE)]
    return positional(paths, ends, U_SHAPED_MIDDLE_SHARE, window_end=layout.ends)


def _window_end(milestone: np.ndarray, layout: Layout) -> np.ndarray:
    """The closing milestone touch, or the path's last touch when that milestone is absent."""
    return np.where(milestone != NO_TOUCH, milestone, layout.ends)


def w_shaped(paths: Paths) -> np.ndarray:
    layout, milestones = paths.layout, paths.milestones
    positions = [
        (layout.starts, W_SHAPED_MILESTONE_SHARE),
        (milestones.lead, W_SHAPED_MILESTONE_SHARE),
        (milestones.opportunity, W_SHAPED_MILESTONE_SHARE),
    ]
    window_end = _window_end(milestones.opportunity, layout)
    return positional(paths, positions, W_SHAPED_MIDDLE_SHARE, window_end)


def full_path(paths: Paths) -> np.ndarray:
    layout, milestones = paths.layout, paths.milestones
    positions = [
        (layout.starts, FULL_PATH_MILESTONE_SHARE),
        (milestones.lead, FULL_PATH_MILESTONE_SHARE),
        (milestones.opportunity, FULL_PATH_MILESTONE_SHARE),
        (milestones.won, FULL_PATH_MILESTONE_SHARE),
    ]
    window_end = _window_end(milestones.won, layout)
    return positional(paths, positions, FULL_PATH_MIDDLE_SHARE, window_end)


def time_decay(paths: Paths, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> np.ndarray:
    if not half_life_days > 0:
        raise ValueError(f"half_life_days: must be positive, got {half_life_days}")
    layout = paths.layout
    last_at = paths.at[layout.ends]
    reference = np.where(np.isnan(paths.opportunity_created_at), last_at, paths.opportunity_created_at)
    age = np.maximum(layout.per_touch(reference) - paths.at, 0.0)
    # Measured from the path's youngest touch (its last one: age falls as time rises), the exponent is
    # never positive and the youngest touch weighs exactly 1, so a path of very old touches cannot
    # underflow to an all-zero total. Normalising makes this the same as 2^(-age / half-life).
    youngest_age = layout.per_touch(age[layout.ends])
    raw = np.exp2(-(age - youngest_age) / (half_life_days * SECONDS_PER_DAY))
    return normalise(raw, paths)


_MODELS: dict[str, Callable[..., np.ndarray]] = {
    FIRST_TOUCH: lambda paths, half_life_days: first_touch(paths),
    LAST_TOUCH: lambda paths, half_life_days: last_touch(paths),
    LINEAR: lambda paths, half_life_days: linear(paths),
    U_SHAPED: lambda paths, half_life_days: u_shaped(paths),
    W_SHAPED: lambda paths, half_life_days: w_shaped(paths),
    FULL_PATH: lambda paths, half_life_days: full_path(paths),
    TIME_DECAY: time_decay,
}


def credits(paths: Paths, model: str, *, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> np.ndarray:
    """Float64 weight per touch under a rule-based model; each path's weights sum to 1."""
    try:
        compute = _MODELS[model]
    except KeyError:
        raise ValueError(f"model: unknown model {model!r}; expected one of {', '.join(_MODELS)}") from None
    return compute(paths, half_life_days)


def credits_all(paths: Paths, *, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> dict[str, np.ndarray]:
    """Every rule-based model over the same paths (boundaries and milestone touches computed once)."""
    return {model: credits(paths, model, half_life_days=half_life_days) for model in RULE_BASED_MODELS}


# -- storing and summing credit ------------------------------------------------------------------------


def round_shares(weights: np.ndarray, paths: Paths, places: int = 6) -> np.ndarray:
    """Weights as integer units of 10^-places whose sum is exactly 10^places on every path.

    Largest-remainder rounding: every share is rounded down, and the units still missing from the
    path's total go one each to the touches with the largest remainders (ties to the earlier touch).
    Each share so stays within one unit of its exact value and never goes negative, which putting the
    whole residue on one share could not promise on long paths.
    """
    layout = paths.layout
    unit_total = 10**places
    scaled = np.asarray(weights, dtype=np.float64) * unit_total
    floors = np.floor(scaled).astype(np.int64)
    remainders = scaled - floors
    missing = unit_total - layout.per_path_sum(floors, dtype=np.int64)
    # Within each path, touches by decreasing remainder; lexsort's last key is its primary key.
    order = np.lexsort((-remainders, layout.touch_path))
    rank = np.arange(len(order)) - layout.starts[layout.touch_path[order]]
    bonus = np.zeros(len(order), dtype=np.int64)
    bonus[order] = rank < missing[layout.touch_path[order]]
    return floors + bonus


def to_decimal_shares(weights: np.ndarray, paths: Paths, places: int = 6) -> list[Decimal]:
    """The rounded shares as Decimals with `places` decimals; each path's shares sum to exactly 1."""
    return [Decimal(int(units)).scaleb(-places) for units in round_shares(weights, paths, places)]


def aggregate(weights: np.ndarray, keys: np.ndarray, amounts=None, *, minlength: int = 0) -> np.ndarray:
    """Credit summed by key: `result[k]` is the total weight (times amount) of the touches with key k.

    `keys` are non-negative integer codes (a channel, source or campaign per touch; `pandas.factorize`
    makes them, and a missing value should get a code of its own rather than be dropped, or credit
    would vanish). `amounts` is one number per touch, usually the opportunity's amount repeated onto
    its touches with `Paths.repeat`; without it the result counts opportunities.
    """
    keys = np.asarray(keys)
    if keys.dtype.kind not in "iu" or (len(keys) and keys.min() < 0):
        raise ValueError("keys: expected non-negative integer codes, one per touch")
    values = np.asarray(weights, dtype=np.float64)
    if amounts is not None:
        values = values * np.asarray(amounts, dtype=np.float64)
    return np.bincount(keys, weights=values, minlength=minlength)
