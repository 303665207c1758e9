"""The statistics of an A/B/n test, as plain functions over counts.

- `bucket`: deterministic "random" assignment. SHA-256 of "<experiment id>:<lead id>"
  read as a number in [0, 1) picks a variant by its weight, so a lead gets the
  same variant on every run, every worker and every replay, with no state.
- `two_proportion`: the two-proportion z-test of a variant against the control
  (pooled standard error for z, two-sided p-value), with a confidence interval
  for the difference in conversion rate (unpooled standard error).
- `compare`: every variant against the control (the first variant). With more
  than one comparison the significance level is divided by their number
  (Bonferroni), so "significant" keeps its meaning across the whole test.
"""

import hashlib
import math
from dataclasses import dataclass
from statistics import NormalDist

ALPHA = 0.05
# Below this many people in a variant the normal approximation and the verdict are not to be trusted.
MIN_SAMPLE = 100
_NORMAL = NormalDist()


def bucket(experiment_id: int, lead_id: int, weights: list[float]) -> int:
    """The index of the variant a lead falls into, stable across runs."""
    if not weights or any(w <= 0 for w in weights):
        raise ValueError("Every variant needs a positive weight.")
    digest = hashlib.sha256(f"{experiment_id}:{lead_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(weights)
    edge = 0.0
    for index, weight in enumerate(weights):
        edge += weight
        if point < edge:
            return index
    return len(weights) - 1  # float rounding at the very top


@dataclass(frozen=True)
class Comparison:
    control_rate: float
    variant_rate: float
    difference: float  # variant - control, in rate points (0.02 = two points)
    z: float | None  # None when nobody (or everybody) converted in both: no test possible
    p_value: float | None
    ci_low: float
    ci_high: float
    confidence: float  # e.g. 0.95, or 0.975 after a Bonferroni correction for two comparisons


def two_proportion(
    control_conversions: int, control_size: int, variant_conversions: int, variant_size: int, *,
    alpha: float = ALPHA,
) -> Comparison:  # fmt: skip
    if control_size <= 0 or variant_size <= 0:
        raise ValueError("Both groups need at least one person.")
    p1, p2 = control_conversions / control_size, variant_conversions / variant_size
    pooled = (control_conversions + variant_conversions) / (control_size + variant_size)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / control_size + 1 / variant_size))
    z = p_value = None
    if se_pooled > 0:
        z = (p2 - p1) / se_pooled
        p_value = math.erfc(abs(z) / math.sqrt(2))  # two-sided: 2 * (1 - Phi(|z|))
    se_diff = math.sqrt(p1 * (1 - p1) / control_size + p2 * (1 - p2) / variant_size)
    critical = _NORMAL.inv_cdf(1 - alpha / 2)
    return Comparison(
        control_rate=p1,
        variant_rate=p2,
        difference=p2 - p1,
        z=z,
        p_value=p_value,
        ci_low=(p2 - p1) - critical * se_diff,
        ci_high=(p2 - p1) + critical * se_diff,
        confidence=1 - alpha,
    )


@dataclass(frozen=True)
class Arm:
    key: str
    size: int
    conversions: int

    @property
    def rate(self) -> float | None:
        return self.conversions / self.size if self.size else None


BETTER, WORSE, NO_DIFFERENCE, TOO_SMALL = "better", "worse", "no_difference", "too_small"
VERDICTS = {
    BETTER: "Converts better than the control",
    WORSE: "Converts worse than the control",
    NO_DIFFERENCE: "No significant difference yet",
    TOO_SMALL: "Too few people to tell",
}


@dataclass(frozen=True)
class ArmResult:
    arm: Arm
    comparison: Comparison | None  # None for the control and for an empty arm
    verdict: str  # one of VERDICTS ("" for the control)
    small_sample: bool  # the warning: the verdict stands on fewer than `min_sample` people


@dataclass(frozen=True)
class Results:
    control: Arm
    arms: list[ArmResult]  # the control first
    comparisons: int
    alpha: float  # the level each comparison is held to (after Bonferroni)
    min_sample: int

    @property
    def small_sample(self) -> bool:
        return any(result.small_sample for result in self.arms)

    @property
    def leader(self) -> str | None:
        """The significantly better variant with the highest rate, when the samples are big enough."""
        better = [r for r in self.arms if r.verdict == BETTER and not r.small_sample]
        return max(better, key=lambda r: r.arm.rate).arm.key if better else None


def compare(arms: list[Arm], *, alpha: float = ALPHA, min_sample: int = MIN_SAMPLE) -> Results:
    """Each variant against the control (arms[0]), Bonferroni-adjusted for several variants."""
    if len(arms) < 2:
        raise ValueError("An experiment compares at least two variants.")
    control, others = arms[0], arms[1:]
    level = alpha / len(others)
    results = [ArmResult(control, None, "", control.size < min_sample)]
    for arm in others:
        small = arm.size < min_sample or control.size < min_sample
        if not arm.size or not control.size:
            results.append(ArmResult(arm, None, TOO_SMALL, True))
            continue
        comparison = two_proportion(control.conversions, control.size, arm.conversions, arm.size, alpha=level)
        significant = comparison.p_value is not None and comparison.p_value < level
        verdict = (BETTER if comparison.difference > 0 else WORSE) if significant else NO_DIFFERENCE
        results.append(ArmResult(arm, comparison, verdict, small))
    return Results(control=control, arms=results, comparisons=len(others), alpha=level, min_sample=min_sample)
