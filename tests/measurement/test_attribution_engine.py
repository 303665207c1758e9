"""The attribution engine: hand-worked paths for every model, the degenerate cases, the vectorised engine
against the plain per-path reference on random paths, exact Decimal shares, and the Markov model.

Pure: no database. Times are in days * 86,400 so the milestones read like a calendar.
"""

import datetime as dt
import math
import time
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.measurement.attribution import engine, markov, reference
from apps.measurement.attribution.engine import (
    FIRST_TOUCH,
    FULL_PATH,
    LAST_TOUCH,
    LINEAR,
    RULE_BASED_MODELS,
    TIME_DECAY,
    U_SHAPED,
    W_SHAPED,
    Paths,
)
from apps.measurement.attribution.reference import Path

DAY = 86_400.0
# Function-scoped autouse fixtures of the Django suite (the cache reset) run once per test, not per
# example; these tests touch neither the database nor the cache.
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def days(*values):
    return [value * DAY for value in values]


def as_paths(*paths: Path) -> Paths:
    """Flatten reference paths into the engine's arrays; path ids 0, 1, 2, ..."""

    def moment(value):
        return np.nan if value is None else value

    return Paths(
        np.repeat(np.arange(len(paths)), [len(p.times) for p in paths]),
        np.concatenate([np.asarray(p.times, dtype=float) for p in paths]),
        lead_created_at=[moment(p.lead_created_at) for p in paths],
        opportunity_created_at=[moment(p.opportunity_created_at) for p in paths],
        won_at=[moment(p.won_at) for p in paths],
    )


def weights_of(path: Path, model: str, **params) -> list[float]:
    return engine.credits(as_paths(path), model, **params).tolist()


# Touches on days 0, 3, 10, 20 and 30. The lead was created on day 4, so its lead-creation touch is the
# day-3 touch (index 1); the opportunity on day 20, exactly at the fourth touch (index 3), which counts
# as "at or before"; the deal was won on day 35, after the last touch (index 4).
WON = Path(
    times=days(0, 3, 10, 20, 30), lead_created_at=4 * DAY, opportunity_created_at=20 * DAY, won_at=35 * DAY
)
OPEN = Path(
    times=WON.times, lead_created_at=WON.lead_created_at, opportunity_created_at=WON.opportunity_created_at
)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (FIRST_TOUCH, [1, 0, 0, 0, 0]),
        (LAST_TOUCH, [0, 0, 0, 0, 1]),
        (LINEAR, [0.2, 0.2, 0.2, 0.2, 0.2]),
        # 40 % first, 40 % last, 20 % / 3 = 0.0667 to each of the three between.
        (U_SHAPED, [0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4]),
        # 30 % first (0), lead creation (1), opportunity creation (3); 10 % to the only other touch up to
        # the opportunity-creation touch (2); the day-30 touch came after the opportunity: nothing.
        (W_SHAPED, [0.3, 0.3, 0.1, 0.3, 0.0]),
        # 22.5 % first, lead creation, opportunity creation, closed won (4: last touch before day 35);
        # 10 % to the touch between (2).
        (FULL_PATH, [0.225, 0.225, 0.1, 0.225, 0.225]),
    ],
)
def test_a_hand_worked_won_path_under_each_model(model, expected):
    assert weights_of(WON, model) == pytest.approx(expected, abs=1e-12)


def test_time_decay_on_the_hand_worked_path():
    # Ages back from the opportunity's creation (day 20): 20, 17, 10, 0 days, and 0 for the day-30 touch
    # (after the creation). Raw weights 2^(-age / 7), divided by their sum.
    raw = [2 ** (-20 / 7), 2 ** (-17 / 7), 2 ** (-10 / 7), 1.0, 1.0]  # 0.1380, 0.1857, 0.3715, 1, 1
    total = sum(raw)  # 2.6952
    assert weights_of(WON, TIME_DECAY) == pytest.approx([value / total for value in raw], abs=1e-12)
    assert weights_of(WON, TIME_DECAY)[0] == pytest.approx(0.051205, abs=1e-6)


def test_full_path_of_an_open_opportunity_respreads_the_closed_won_share():
    # No closed-won touch: its 22.5 % goes to the others in proportion. Present: 3 * 22.5 % on touches
    # 0, 1, 3 and 10 % split between the touches holding no position, 2 and 4 (the window runs to the
    # end of the path), so the total is 77.5 %: 0.225 / 0.775 = 0.290323 and 0.05 / 0.775 = 0.064516.
    expected = [0.225 / 0.775, 0.225 / 0.775, 0.05 / 0.775, 0.225 / 0.775, 0.05 / 0.775]
    assert weights_of(OPEN, FULL_PATH) == pytest.approx(expected, abs=1e-12)
    assert expected[0] == pytest.approx(0.290323, abs=1e-6)
    # W-shaped does not look at the won date.
    assert weights_of(OPEN, W_SHAPED) == pytest.approx(weights_of(WON, W_SHAPED), abs=1e-15)


@pytest.mark.parametrize("model", RULE_BASED_MODELS)
@pytest.mark.parametrize(
    "path",
    [
        Path(times=days(5)),
        Path(times=days(5), lead_created_at=5 * DAY, opportunity_created_at=6 * DAY, won_at=9 * DAY),
        Path(times=days(5), lead_created_at=1 * DAY, opportunity_created_at=2 * DAY),
    ],
    ids=["no milestones", "every milestone on the touch", "milestones before the touch"],
)
def test_a_single_touch_earns_everything(model, path):
    assert weights_of(path, model) == [1.0]


def test_two_touches_share_equally_under_u_shaped():
    # 40 % + 40 %, and the 20 % for the touches between has nobody to take it: 0.4 / 0.8 each.
    assert weights_of(Path(times=days(0, 9)), U_SHAPED) == [0.5, 0.5]


def test_coinciding_milestones_add_up_on_one_touch():
    # W-shaped: the lead was created on day 1, so the first touch (day 0) is also the lead-creation touch:
    # 30 + 30 = 60 %; the opportunity (day 6) goes to the day-5 touch: 30 %; no touch between, so the 10 %
    # is re-spread: 0.6 / 0.9 = 2/3, 0.3 / 0.9 = 1/3.
    path = Path(times=days(0, 5), lead_created_at=1 * DAY, opportunity_created_at=6 * DAY)
    assert weights_of(path, W_SHAPED) == pytest.approx([2 / 3, 1 / 3], abs=1e-12)
    # Full path: first + lead creation on touch 0 (45 %), opportunity creation exactly on touch 1 (22.5 %),
    # closed won on touch 2 (22.5 %), nobody between: 0.45 / 0.9, 0.225 / 0.9, 0.225 / 0.9.
    path = Path(times=days(0, 5, 9), lead_created_at=1 * DAY, opportunity_created_at=5 * DAY, won_at=10 * DAY)
    assert weights_of(path, FULL_PATH) == pytest.approx([0.5, 0.25, 0.25], abs=1e-12)


def test_a_milestone_before_every_touch_is_respread():
    # The lead existed before the first touch (day -1): no lead-creation touch. W-shaped: 30 % first (0),
    # 30 % opportunity creation (3), 10 % / 2 to touches 1 and 2, 0 after the opportunity; total 70 %:
    # 3/7, 1/14, 1/14, 3/7, 0.
    path = Path(times=WON.times, lead_created_at=-1 * DAY, opportunity_created_at=20 * DAY)
    assert weights_of(path, W_SHAPED) == pytest.approx([3 / 7, 1 / 14, 1 / 14, 3 / 7, 0], abs=1e-12)
    # The opportunity was created before every touch: no opportunity-creation touch, so the window is the
    # whole path. 30 % first (0), 30 % lead creation (1), 10 % / 3 to touches 2, 3, 4; total 70 %.
    path = Path(times=WON.times, lead_created_at=4 * DAY, opportunity_created_at=-2 * DAY)
    assert weights_of(path, W_SHAPED) == pytest.approx([3 / 7, 3 / 7, 1 / 21, 1 / 21, 1 / 21], abs=1e-12)


def test_a_milestone_touch_is_the_last_touch_at_or_before_the_moment():
    paths = as_paths(Path(times=days(0, 3, 3, 10)), Path(times=days(1)))
    # Two touches at day 3: the later one in the given order is the last at or before day 3.
    assert paths.milestone_touch(np.array([3 * DAY, 2 * DAY])).tolist() == [2, 4]
    assert paths.milestone_touch(np.array([9.9 * DAY, 0.5 * DAY])).tolist() == [2, engine.NO_TOUCH]
    assert paths.milestone_touch(np.array([np.nan, 30 * DAY])).tolist() == [engine.NO_TOUCH, 4]


def test_time_decay_halves_a_touch_one_half_life_older():
    # Opportunity created on day 20; touches 7 days and 0 days before it: raw 1/2 and 1 → 1/3, 2/3.
    path = Path(times=days(13, 20), opportunity_created_at=20 * DAY)
    first, second = weights_of(path, TIME_DECAY)
    assert first / second == pytest.approx(0.5, abs=1e-12)
    assert [first, second] == pytest.approx([1 / 3, 2 / 3], abs=1e-12)
    # With a 14-day half-life, 14 days older is half the weight and 7 days older 1/√2.
    path = Path(times=days(6, 13, 20), opportunity_created_at=20 * DAY)
    oldest, middle, newest = weights_of(path, TIME_DECAY, half_life_days=14)
    assert oldest / newest == pytest.approx(0.5, abs=1e-12)
    assert middle / newest == pytest.approx(1 / math.sqrt(2), abs=1e-12)


def test_time_decay_measures_age_back_from_the_opportunity_creation():
    # Touches after the creation (days 25 and 40) weigh as much as a touch at the creation (day 20);
    # the day-13 touch is one half-life older: raw 0.5, 1, 1 → 0.2, 0.4, 0.4.
    path = Path(times=days(13, 25, 40), opportunity_created_at=20 * DAY)
    assert weights_of(path, TIME_DECAY) == pytest.approx([0.2, 0.4, 0.4], abs=1e-12)
    # Without a creation date the reference is the last touch (day 27): ages 14, 7, 0 → 1/4, 1/2, 1.
    path = Path(times=days(13, 20, 27))
    assert weights_of(path, TIME_DECAY) == pytest.approx([1 / 7, 2 / 7, 4 / 7], abs=1e-12)


def test_time_decay_does_not_underflow_on_very_old_paths():
    # 20 years before the creation with a one-day half-life: 2^-7300 is 0 in floating point, yet the path
    # must still sum to 1 (its touches are 1 day apart: 1/3, 2/3).
    path = Path(times=days(0, 1), opportunity_created_at=7301 * DAY)
    assert weights_of(path, TIME_DECAY, half_life_days=1) == pytest.approx([1 / 3, 2 / 3], abs=1e-12)


def test_credits_all_matches_credits_model_by_model():
    paths = as_paths(WON, OPEN, Path(times=days(2, 4)))
    every = engine.credits_all(paths, half_life_days=3)
    assert list(every) == list(RULE_BASED_MODELS)
    for model in RULE_BASED_MODELS:
        assert np.array_equal(every[model], engine.credits(paths, model, half_life_days=3))


def test_paths_accept_datetimes_and_rows_that_repeat_the_milestones():
    at = np.array(["2026-01-01T00:00", "2026-01-04T00:00", "2026-01-02T00:00"], dtype="datetime64[s]")
    created = np.array(["2026-01-03T00:00", "2026-01-03T00:00", "NaT"], dtype="datetime64[s]")
    from_rows = Paths.from_rows([7, 7, 9], at, opportunity_created_at=created)
    base = 1767225600.0  # 2026-01-01T00:00:00Z
    assert from_rows.at.tolist() == [base, base + 3 * DAY, base + DAY]
    assert from_rows.ids.tolist() == [7, 9]
    assert from_rows.opportunity_created_at[0] == base + 2 * DAY
    assert math.isnan(from_rows.opportunity_created_at[1])
    assert math.isnan(from_rows.won_at[0])
    # The opportunity-creation touch of path 7 is its first touch; path 9 has none.
    assert from_rows.milestones.opportunity.tolist() == [0, engine.NO_TOUCH]


def test_paths_accept_aware_datetimes_as_the_database_returns_them():
    paris = dt.timezone(dt.timedelta(hours=1))
    at = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, 2, tzinfo=paris)]
    paths = Paths([1, 1], at, won_at=[None])
    assert paths.at.tolist() == [1767225600.0, 1767225600.0 + 3600]
    assert math.isnan(paths.won_at[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": [2, 1], "at": [0, 1]}, "path: touches must be sorted by path id"),
        ({"path": [1, 1], "at": [5, 1]}, "at: touches must be sorted by time within each path"),
        ({"path": [1, 1], "at": [1]}, "at: expected 2 times, one per touch"),
        ({"path": [1, 2], "at": [0, np.nan]}, "at: every touch needs a time"),
        ({"path": [1.5], "at": [0]}, "path: expected a one-dimensional array of integer ids"),
        ({"path": [1, 2], "at": [0, 1], "won_at": [1]}, "won_at: expected 2 times, one per path"),
    ],
)
def test_malformed_paths_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Paths(**kwargs)


def test_unknown_models_and_bad_half_lives_are_refused():
    paths = as_paths(WON)
    with pytest.raises(ValueError, match="model: unknown model 'markov'"):
        engine.credits(paths, "markov")
    with pytest.raises(ValueError, match="half_life_days: must be positive"):
        engine.credits(paths, TIME_DECAY, half_life_days=0)


def test_empty_paths_give_empty_credits():
    paths = Paths(np.array([], dtype=np.int64), np.array([]))
    for weights in engine.credits_all(paths).values():
        assert weights.shape == (0,)


# -- exact shares and sums -----------------------------------------------------------------------------


def test_rounded_shares_sum_to_exactly_one():
    paths = as_paths(WON, Path(times=days(0, 1, 2)))
    weights = engine.credits(paths, U_SHAPED)
    # Path 0: 0.4, 0.0667 * 3, 0.4 in ten-thousandths: floors 4000, 666, 666, 666, 4000 = 9998; the two
    # missing units go to the largest remainders (0.67 each, a tie, so the earlier touches).
    # Path 1: 0.4, 0.2, 0.4 exactly.
    units = engine.round_shares(weights, paths, places=4)
    assert units.tolist() == [4000, 667, 667, 666, 4000, 4000, 2000, 4000]
    shares = engine.to_decimal_shares(weights, paths, places=4)
    assert shares[:5] == [
        Decimal("0.4000"),
        Decimal("0.0667"),
        Decimal("0.0667"),
        Decimal("0.0666"),
        Decimal("0.4"),
    ]
    assert sum(shares[:5]) == Decimal(1)
    assert sum(shares[5:]) == Decimal(1)


def test_rounding_a_long_linear_path_never_goes_negative():
    # 3,000 touches of 1/3,000 = 333.33 millionths each: 3,000 * 333 = 999,000, and the 1,000 missing
    # millionths go one each to the first 1,000 touches (equal remainders).
    paths = Paths(np.zeros(3000, dtype=np.int64), np.arange(3000.0))
    units = engine.round_shares(engine.credits(paths, LINEAR), paths)
    assert units.sum() == 1_000_000
    assert units[:1000].tolist() == [334] * 1000
    assert units[1000:].tolist() == [333] * 2000


def test_aggregate_sums_credit_and_amounts_by_key():
    # Path 0 (amount 1,000) under U-shaped: 0.5 / 0.5 on channels 0 and 1; path 1 (amount 300): 0.4, 0.2,
    # 0.4 on channels 1, 2, 1.
    paths = as_paths(Path(times=days(0, 1)), Path(times=days(0, 1, 2)))
    weights = engine.credits(paths, U_SHAPED)
    channel = np.array([0, 1, 1, 2, 1])
    assert engine.aggregate(weights, channel).tolist() == pytest.approx([0.5, 1.3, 0.2], abs=1e-12)
    amount = paths.repeat([1000.0, 300.0])
    # channel 0: 500; channel 1: 500 + 0.8 * 300 = 740; channel 2: 0.2 * 300 = 60; total 1,300.
    revenue = engine.aggregate(weights, channel, amount, minlength=4)
    assert revenue.tolist() == pytest.approx([500, 740, 60, 0], abs=1e-9)
    with pytest.raises(ValueError, match="keys: expected non-negative integer codes"):
        engine.aggregate(weights, np.array([0, -1, 1, 2, 1]))


# -- engine against the reference, on random paths ----------------------------------------------------

moments = st.none() | st.integers(min_value=-3, max_value=43).map(lambda day: day * DAY)
random_path = st.builds(
    Path,
    # Whole and half days from a short range, so equal times and milestones on a touch both happen.
    times=st.lists(st.integers(min_value=0, max_value=80), min_size=1, max_size=9).map(
        lambda halves: [half * DAY / 2 for half in sorted(halves)]
    ),
    lead_created_at=moments,
    opportunity_created_at=moments,
    won_at=moments,
)


@PROPERTY_SETTINGS
@given(
    path_list=st.lists(random_path, min_size=1, max_size=8),
    half_life_days=st.floats(min_value=0.25, max_value=30),
)
def test_the_engine_matches_the_reference_and_every_path_sums_to_one(path_list, half_life_days):
    paths = as_paths(*path_list)
    layout = paths.layout
    for model, weights in engine.credits_all(paths, half_life_days=half_life_days).items():
        expected = [value for path in path_list for value in reference.weights(path, model, half_life_days)]
        assert weights == pytest.approx(expected, abs=1e-9), model
        assert (weights >= 0).all()
        sums = np.bincount(layout.touch_path, weights=weights)
        assert np.abs(sums - 1).max() <= 1e-12, model

        shares = engine.to_decimal_shares(weights, paths)
        for start, end in zip(layout.starts, layout.ends, strict=True):
            assert sum(shares[start : end + 1]) == Decimal(1)
        assert min(shares) >= 0
        assert np.abs(np.array([float(share) for share in shares]) - weights).max() <= 1e-6


def synthetic_paths(n_paths: int, seed: int = 7) -> Paths:
    """Random paths of 1-40 touches over a year, with milestones inside or around them."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 41, size=n_paths)
    path = np.repeat(np.arange(n_paths), sizes)
    at = rng.uniform(0, 365 * DAY, size=len(path))
    at = at[np.lexsort((at, path))]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    first, last = at[starts], at[starts + sizes - 1]
    span = last - first
    won = np.where(rng.random(n_paths) < 0.3, last + DAY, np.nan)
    return Paths(
        path,
        at,
        lead_created_at=first + span * rng.uniform(-0.1, 0.6, n_paths),
        opportunity_created_at=first + span * rng.uniform(0.2, 1.1, n_paths),
        won_at=won,
    )


def test_a_million_touches_in_one_pass_sum_to_one_and_agree_with_the_reference_on_a_sample():
    paths = synthetic_paths(50_000)
    assert paths.n_touches > 900_000
    started = time.perf_counter()
    every = engine.credits_all(paths)
    print(f"credits_all: {paths.n_touches:,} touches in {time.perf_counter() - started:.2f} s")
    layout = paths.layout
    for model, weights in every.items():
        sums = np.bincount(layout.touch_path, weights=weights)
        assert np.abs(sums - 1).max() <= 1e-12, model
    for number in (0, 1234, 49_999):
        start, end = layout.starts[number], layout.ends[number] + 1

        def moment(values, number=number):
            return None if math.isnan(values[number]) else float(values[number])

        path = Path(
            times=paths.at[start:end].tolist(),
            lead_created_at=moment(paths.lead_created_at),
            opportunity_created_at=moment(paths.opportunity_created_at),
            won_at=moment(paths.won_at),
        )
        for model, weights in every.items():
            assert weights[start:end] == pytest.approx(reference.weights(path, model), abs=1e-9)


# -- the data-driven model -----------------------------------------------------------------------------

# Four journeys over channels A, B, C:
#   A → B → conversion;  B → A → null;  C → conversion;  A → C → conversion.
# Transitions: start → A 2/4, B 1/4, C 1/4; A → B 1/3, null 1/3, C 1/3; B → conversion 1/2, A 1/2;
# C → conversion 1.
# Conversion probability x from each state: x_C = 1; x_B = 1/2 + x_A / 2; x_A = x_B / 3 + x_C / 3,
# so x_A = 1/6 + x_A/6 + 1/3, x_A = 3/5, x_B = 4/5; P = 1/2 · 3/5 + 1/4 · 4/5 + 1/4 · 1 = 3/4 (3 of 4).
# Without A (x_A = 0): x_B = 1/2; P = 1/4 · 1/2 + 1/4 = 3/8; removal effect 1 - (3/8)/(3/4) = 1/2.
# Without B (x_B = 0): x_A = 1/3; P = 1/2 · 1/3 + 1/4 = 5/12; removal effect 1 - (5/12)/(3/4) = 4/9.
# Without C (x_C = 0): x_A = x_B / 3, x_B = 1/2 + x_A/2, so x_A = 1/5, x_B = 3/5;
#   P = 1/2 · 1/5 + 1/4 · 3/5 = 1/4; removal effect 1 - (1/4)/(3/4) = 2/3.
# Sum of effects 1/2 + 4/9 + 2/3 = 29/18; shares 9/29, 8/29, 12/29.
HAND_JOURNEYS = [(("A", "B"), True), (("B", "A"), False), (("C",), True), (("A", "C"), True)]


def test_markov_removal_effects_of_the_hand_worked_chain():
    result = markov.removal_effects(HAND_JOURNEYS)
    assert result.channels == ("A", "B", "C")
    assert result.conversion_probability == pytest.approx(3 / 4, abs=1e-12)
    assert result.removal_effect == pytest.approx({"A": 1 / 2, "B": 4 / 9, "C": 2 / 3}, abs=1e-12)
    assert result.share == pytest.approx({"A": 9 / 29, "B": 8 / 29, "C": 12 / 29}, abs=1e-12)
    assert result.conversions == 3
    assert result.journeys == 4
    # Converting journeys each channel appears in: A in two (A→B, A→C), B in one, C in two.
    assert result.channel_conversions == {"A": 2, "B": 1, "C": 2}


def test_markov_warns_when_the_data_is_thin():
    result = markov.removal_effects(HAND_JOURNEYS)
    assert result.warning == (
        "Only 3 converting journeys (fewer than 100): the shares are too noisy to trust. "
        "Seen in fewer than 10 converting journeys: A, B, C; their shares rest on too few deals."
    )


def test_markov_counts_weigh_journeys_and_enough_data_clears_the_warning():
    # Each journey 100 times: the same chain (same shares), 300 conversions, every channel in ≥ 100
    # converting journeys.
    result = markov.removal_effects([(channels, converted, 100) for channels, converted in HAND_JOURNEYS])
    assert result.share == pytest.approx({"A": 9 / 29, "B": 8 / 29, "C": 12 / 29}, abs=1e-12)
    assert result.conversions == 300
    assert result.warning is None
    # One channel seen converting only 5 times is named on its own.
    thin = markov.removal_effects(
        [(channels, converted, 100) for channels, converted in HAND_JOURNEYS] + [(("D",), True, 5)]
    )
    assert thin.warning == (
        "Seen in fewer than 10 converting journeys: D; their shares rest on too few deals."
    )


def test_markov_without_conversions_shares_nothing():
    result = markov.removal_effects([(("A", "B"), False), (("B",), False)])
    assert result.share == {"A": 0.0, "B": 0.0}
    assert result.conversion_probability == 0.0
    assert result.warning == "No converting journeys: the data-driven model cannot share any credit."


def test_markov_journeys_without_touches_convert_without_any_channel():
    # start → A 2/3, start → conversion 1/3 (the touchless journey); A → conversion 1/2, null 1/2.
    # P = 1/3 + 2/3 · 1/2 = 2/3; without A: 1/3; removal effect 1 - (1/3)/(2/3) = 1/2; A's share is 1.
    result = markov.removal_effects([(("A",), True), ((), True), (("A",), False)])
    assert result.conversion_probability == pytest.approx(2 / 3, abs=1e-12)
    assert result.removal_effect == pytest.approx({"A": 0.5}, abs=1e-12)
    assert result.share == {"A": 1.0}
    assert result.conversions == 2


def test_markov_repeated_touches_of_one_channel_change_nothing():
    collapsed = markov.removal_effects(HAND_JOURNEYS)
    repeated = markov.removal_effects(
        [(("A", "A", "B"), True), (("B", "B", "B", "A"), False), (("C", "C"), True), (("A", "C"), True)]
    )
    assert repeated.removal_effect == pytest.approx(collapsed.removal_effect, abs=1e-12)


def test_markov_credits_per_touch():
    share = markov.removal_effects(HAND_JOURNEYS).shares_for(["A", "B", "C", "D"])
    assert share.tolist() == pytest.approx([9 / 29, 8 / 29, 12 / 29, 0.0], abs=1e-12)
    paths = Paths(np.array([1, 1, 1, 2, 2, 3, 3, 3]), np.arange(8.0))
    channel = np.array([0, 1, 0, 2, 2, 3, 3, 1])
    weights = markov.markov_credits(paths, channel, share)
    # Path 1 (A, B, A): A's 9/29 split over two touches, B's 8/29 on one; divided by 17/29:
    #   9/34, 16/34, 9/34.  Path 2 (C, C): one channel, 1.0 split over its two touches.
    # Path 3 (D, D, B): D never converted (share 0), so B takes it all.
    expected = [9 / 34, 16 / 34, 9 / 34, 0.5, 0.5, 0.0, 0.0, 1.0]
    assert weights.tolist() == pytest.approx(expected, abs=1e-12)
    # A path only of channels with no share: each channel the same, split among its touches.
    lonely = Paths(np.array([5, 5, 5]), np.arange(3.0))
    assert markov.markov_credits(lonely, np.array([3, 3, 4]), np.append(share, 0.0)).tolist() == (
        pytest.approx([0.25, 0.25, 0.5], abs=1e-12)
    )


def test_markov_refuses_codes_outside_the_shares_and_misaligned_arrays():
    paths = Paths(np.array([1, 1]), np.arange(2.0))
    with pytest.raises(ValueError, match=r"channel: codes must lie in 0\.\.1"):
        markov.markov_credits(paths, np.array([0, 2]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="channel: expected 2 codes, one per touch"):
        markov.markov_credits(paths, np.array([0]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"converted, counts: expected one entry per path \(1\)"):
        markov.removal_effects_from_arrays(np.array([1, 1]), np.array([0, 1]), np.array([True, False]))
    with pytest.raises(ValueError, match="count: must not be negative"):
        markov.removal_effects([(("A",), True, -1)])


journey = st.tuples(
    st.lists(st.sampled_from("ABCD"), max_size=5), st.booleans(), st.integers(min_value=1, max_value=3)
)


@PROPERTY_SETTINGS
@given(journeys=st.lists(journey, min_size=1, max_size=10))
def test_markov_solved_chain_matches_the_iterated_reference(journeys):
    result = markov.removal_effects(journeys)
    expected = reference.markov_removal_effects(journeys)
    assert result.removal_effect == pytest.approx(expected, abs=1e-9)
    # Shares sum to 1 as soon as a converting journey has a touch (its channels then have an effect).
    some_channel_converts = any(channels and converted for channels, converted, _ in journeys)
    assert sum(result.share.values()) == pytest.approx(1.0 if some_channel_converts else 0.0, abs=1e-12)


@PROPERTY_SETTINGS
@given(
    channel_lists=st.lists(
        st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=8), min_size=1
    ),
    share=st.lists(st.floats(min_value=0, max_value=1), min_size=5, max_size=5),
)
def test_markov_credits_match_the_reference_and_sum_to_one(channel_lists, share):
    paths = Paths(
        np.repeat(np.arange(len(channel_lists)), [len(channels) for channels in channel_lists]),
        np.concatenate([np.arange(len(channels), dtype=float) for channels in channel_lists]),
    )
    weights = markov.markov_credits(paths, np.concatenate(channel_lists), np.array(share))
    expected = [
        value
        for channels in channel_lists
        for value in reference.markov_path_credits(channels, dict(enumerate(share)))
    ]
    assert weights == pytest.approx(expected, abs=1e-9)
    sums = np.bincount(paths.layout.touch_path, weights=weights)
    assert np.abs(sums - 1).max() <= 1e-12
