"""Lift of a holdout test: rates, Newcombe and Katz intervals, p-value and verdict, against hand arithmetic
and published values. Pure: no database."""

import math

import pytest

from apps.measurement.attribution.incrementality import (
    INCONCLUSIVE,
    NEGATIVE,
    POSITIVE,
    lift,
    wilson_interval,
)

Z95 = 1.959963984540054  # the 97.5 % quantile of the standard normal


def test_a_worked_test_of_60_in_1000_against_40_in_1000():
    result = lift(1000, 60, 1000, 40)

    assert result.treatment_rate == 0.06
    assert result.control_rate == 0.04
    assert result.difference == pytest.approx(0.02, abs=1e-15)

    # Wilson, treatment: z² = 3.8414588; centre = (0.06 + 3.8414588 / 2000) / (1 + 3.8414588 / 1000)
    #   = 0.0619207 / 1.0038415 = 0.0616838; half-width = 1.959964 / 1.0038415
    #   * √(0.06 * 0.94 / 1000 + 3.8414588 / 4e6) = 1.9524636 * √0.0000573604 = 0.0147873
    #   → [0.0468965, 0.0764711]
    # Wilson, control: centre = (0.04 + 0.0019207) / 1.0038415 = 0.0417603;
    #   half-width = 1.9524636 * √(0.04 * 0.96 / 1000 + 0.0000009604) = 0.0122493 → [0.0295110, 0.0540096]
    assert wilson_interval(60, 1000, Z95) == pytest.approx((0.0468965, 0.0764711), abs=5e-8)
    assert wilson_interval(40, 1000, Z95) == pytest.approx((0.0295110, 0.0540096), abs=5e-8)
    # Newcombe: lower = 0.02 - √((0.06 - 0.0468965)² + (0.0540096 - 0.04)²) = 0.02 - √0.000367972 = 0.0008174
    #           upper = 0.02 + √((0.0764711 - 0.06)² + (0.04 - 0.0295110)²) = 0.02 + √0.000381316 = 0.0395273
    assert result.difference_ci == pytest.approx((0.0008174, 0.0395273), abs=5e-7)

    # Katz: ln(0.06 / 0.04) = ln 1.5 = 0.4054651;
    #   se = √(1/60 - 1/1000 + 1/40 - 1/1000) = √0.0396667 = 0.1991649;
    #   exp(0.4054651 ∓ 1.959964 * 0.1991649) - 1 = exp(0.0151093) - 1, exp(0.7958209) - 1
    #   = 0.0152237, 1.2162602
    assert result.relative_lift == pytest.approx(0.5, abs=1e-15)
    assert result.relative_lift_ci == pytest.approx((0.0152237, 1.2162602), abs=5e-7)

    # Pooled rate 100 / 2000 = 0.05; se = √(0.05 * 0.95 * (1/1000 + 1/1000)) = √0.000095 = 0.0097468;
    # z = 0.02 / 0.0097468 = 2.0519567; p = 2 * (1 - Φ(2.0519567)) = 2 * 0.0200869 = 0.0401739
    assert result.p_value == pytest.approx(0.0401739, abs=5e-7)

    assert result.verdict == POSITIVE
    assert result.summary == (
        "Treatment converted at 6.00% and control at 4.00%: +2.00 points (95% CI +0.08 to +3.95). "
        "The program adds conversions."
    )


@pytest.mark.parametrize(
    ("treatment", "control", "expected"),
    [
        # Newcombe (1998), "Interval estimation for the difference between independent proportions",
        # Statistics in Medicine 17, Table II, method 10 (hybrid score), to four decimals.
        ((56, 70), (48, 80), (0.0524, 0.3339)),
        ((9, 10), (3, 10), (0.1705, 0.8090)),
        ((5, 56), (0, 29), (-0.0381, 0.1926)),
        ((0, 10), (0, 20), (-0.1611, 0.2775)),
        ((0, 10), (0, 10), (-0.2775, 0.2775)),
        ((10, 10), (0, 20), (0.6791, 1.0000)),
        ((10, 10), (0, 10), (0.6075, 1.0000)),
    ],
)
def test_the_difference_interval_matches_newcombes_published_table(treatment, control, expected):
    (x_t, n_t), (x_c, n_c) = treatment, control
    result = lift(n_t, x_t, n_c, x_c)
    assert result.difference_ci == pytest.approx(expected, abs=5e-5)


def test_an_overlapping_interval_is_inconclusive():
    result = lift(100, 5, 100, 4)
    low, high = result.difference_ci
    assert low < 0 < high
    assert result.verdict == INCONCLUSIVE
    # pooled 9 / 200 = 0.045; se = √(0.045 * 0.955 * 0.02) = 0.0293172; z = 0.01 / 0.0293172 = 0.3410964
    # p = 2 * (1 - Φ(0.3410964)) = 0.7330311
    assert result.p_value == pytest.approx(0.7330311, abs=5e-7)


def test_a_program_that_costs_conversions_is_negative():
    result = lift(1000, 20, 1000, 60)
    assert result.difference == pytest.approx(-0.04, abs=1e-15)
    assert result.difference_ci[1] < 0
    assert result.verdict == NEGATIVE
    assert result.relative_lift == pytest.approx(-2 / 3, abs=1e-15)


def test_a_lower_confidence_gives_a_narrower_interval():
    wide, narrow = lift(1000, 60, 1000, 40), lift(1000, 60, 1000, 40, confidence=0.90)
    assert wide.difference_ci[0] < narrow.difference_ci[0] < narrow.difference_ci[1] < wide.difference_ci[1]
    assert narrow.confidence == 0.90
    assert narrow.p_value == wide.p_value


def test_no_control_conversion_leaves_the_relative_lift_undefined():
    result = lift(56, 5, 29, 0)
    assert result.relative_lift is None
    assert result.relative_lift_ci is None
    assert result.difference == pytest.approx(5 / 56)


def test_no_treatment_conversion_has_a_relative_lift_but_no_log_interval():
    result = lift(50, 0, 50, 5)
    assert result.relative_lift == -1.0
    assert result.relative_lift_ci is None


def test_nobody_converting_anywhere_has_nothing_to_test():
    result = lift(10, 0, 20, 0)
    assert result.p_value == 1.0
    assert result.verdict == INCONCLUSIVE
    assert result.difference == 0.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 11, 10, 1), "treatment_conversions: 11 conversions among only 10 members"),
        ((10, 1, 10, 12), "control_conversions: 12 conversions among only 10 members"),
        ((0, 0, 10, 1), "treatment_n: the group has no members"),
        ((10, 1, 0, 0), "control_n: the group has no members"),
        ((10, -1, 10, 1), "treatment_conversions: must not be negative"),
        ((10.5, 1, 10, 1), "treatment_n: expected a whole number"),
        ((10, 1, 10, "3"), "control_conversions: expected a whole number"),
    ],
)
def test_impossible_input_is_refused_naming_the_field(args, message):
    with pytest.raises(ValueError, match=message):
        lift(*args)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1])
def test_the_confidence_must_lie_between_0_and_1(confidence):
    with pytest.raises(ValueError, match="confidence: must lie strictly between 0 and 1"):
        lift(100, 10, 100, 5, confidence=confidence)


def test_the_wilson_interval_of_a_zero_rate_starts_at_zero():
    low, high = wilson_interval(0, 10, Z95)
    # p = 0: centre = (z²/20) / (1 + z²/10) = 0.1920729 / 1.3841459 = 0.1387667, half-width the same
    assert low == pytest.approx(0.0, abs=1e-15)
    assert high == pytest.approx(2 * 0.1920729 / 1.3841459, abs=1e-6)
    assert math.isclose(high, 0.2775, abs_tol=5e-5)
