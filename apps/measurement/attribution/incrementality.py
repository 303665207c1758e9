"""The lift measured by a holdout test, with its uncertainty.

A holdout test exposes a treatment group to a program and keeps a control group away from it over the same
period; each group has n members of whom x converted. The program's **incrementality** is how much more
the treatment group converted than it would have without the program, which the control group stands for.

- **Conversion rates**: p_t = x_t / n_t and p_c = x_c / n_c.
- **Absolute lift** (difference of rates, in rate points): p_t - p_c, with the **Newcombe hybrid score
  interval** (Newcombe 1998, method 10): each rate gets its Wilson score interval [l, u], and the
  difference's interval is
  p_t - p_c - √((p_t - l_t)² + (u_c - p_c)²)  to  p_t - p_c + √((u_t - p_t)² + (p_c - l_c)²).
  Unlike the Wald interval it stays inside [-1, 1] and keeps its coverage with few conversions or rates
  near 0 or 1, which is the usual case for conversion tests.
- **Relative lift**: p_t / p_c - 1, with the **Katz log interval** for the ratio of rates:
  exp(ln(p_t / p_c) ± z · √(1/x_t - 1/n_t + 1/x_c - 1/n_c)) - 1. Undefined (None) when the control
  group has no conversion; its interval is None when either group has none (the logarithm of 0).
- **p-value**: the two-sided two-proportion z test with the pooled rate p = (x_t + x_c) / (n_t + n_c):
  z = (p_t - p_c) / √(p (1 - p) (1/n_t + 1/n_c)). When nobody or everybody converted in both groups there
  is no difference to test and the p-value is 1.
- **Verdict**: "positive" when the whole interval of the absolute lift is above 0, "negative" when it is
  below 0, "inconclusive" otherwise. It follows the interval rather than the p-value, so the verdict and
  the interval shown beside it never disagree.

Normal quantiles come from the standard library's `statistics.NormalDist`.
"""

import math
import operator
from dataclasses import dataclass
from statistics import NormalDist

POSITIVE = "positive"
NEGATIVE = "negative"
INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Lift:
    treatment_rate: float
    control_rate: float
    difference: float
    difference_ci: tuple[float, float]
    relative_lift: float | None
    relative_lift_ci: tuple[float, float] | None
    p_value: float
    confidence: float
    verdict: str
    summary: str


def _count(name: str, value) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name}: expected a whole number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"{name}: must not be negative, got {number}")
    return number


def _group(prefix: str, n, conversions) -> tuple[int, int]:
    n = _count(f"{prefix}_n", n)
    conversions = _count(f"{prefix}_conversions", conversions)
    if n == 0:
        raise ValueError(f"{prefix}_n: the group has no members, so it has no conversion rate")
    if conversions > n:
        raise ValueError(f"{prefix}_conversions: {conversions} conversions among only {n} members")
    return n, conversions


def wilson_interval(conversions: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of the rate conversions / n."""
    p = conversions / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half_width = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return centre - half_width, centre + half_width


def lift(
    treatment_n, treatment_conversions, control_n, control_conversions, confidence: float = 0.95
) -> Lift:
    n_t, x_t = _group("treatment", treatment_n, treatment_conversions)
    n_c, x_c = _group("control", control_n, control_conversions)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must lie strictly between 0 and 1, got {confidence}")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p_t, p_c = x_t / n_t, x_c / n_c
    difference = p_t - p_c

    low_t, high_t = wilson_interval(x_t, n_t, z)
    low_c, high_c = wilson_interval(x_c, n_c, z)
    difference_ci = (
        difference - math.sqrt((p_t - low_t) ** 2 + (high_c - p_c) ** 2),
        difference + math.sqrt((high_t - p_t) ** 2 + (p_c - low_c) ** 2),
    )

    relative_lift = p_t / p_c - 1 if x_c else None
    relative_lift_ci = None
    if x_t and x_c:
        log_ratio = math.log(p_t / p_c)
        se = math.sqrt(1 / x_t - 1 / n_t + 1 / x_c - 1 / n_c)
        relative_lift_ci = (math.exp(log_ratio - z * se) - 1, math.exp(log_ratio + z * se) - 1)

    pooled = (x_t + x_c) / (n_t + n_c)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    # With nobody (or everybody) converting in both groups there is no spread, and nothing to test.
    p_value = 1.0 if pooled_se == 0 else 2 * (1 - NormalDist().cdf(abs(difference) / pooled_se))

    if difference_ci[0] > 0:
        verdict = POSITIVE
    elif difference_ci[1] < 0:
        verdict = NEGATIVE
    else:
        verdict = INCONCLUSIVE
    return Lift(
        treatment_rate=p_t,
        control_rate=p_c,
        difference=difference,
        difference_ci=difference_ci,
        relative_lift=relative_lift,
        relative_lift_ci=relative_lift_ci,
        p_value=p_value,
        confidence=confidence,
        verdict=verdict,
        summary=_summary(p_t, p_c, difference, difference_ci, confidence, verdict),
    )


def _summary(p_t, p_c, difference, ci, confidence, verdict) -> str:
    def points(value):
        return f"{value * 100:+.2f}"

    measured = (
        f"Treatment converted at {p_t:.2%} and control at {p_c:.2%}: {points(difference)} points "
        f"({confidence:.0%} CI {points(ci[0])} to {points(ci[1])})."
    )
    conclusion = {
        POSITIVE: "The program adds conversions.",
        NEGATIVE: "The program costs conversions.",
        INCONCLUSIVE: "The test cannot tell the program's effect from chance.",
    }[verdict]
    return f"{measured} {conclusion}"
