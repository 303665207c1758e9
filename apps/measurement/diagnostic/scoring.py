"""Pillar scores, the strategy and execution scores and the quadrant they put the organisation in.

A pillar's score is the sum of its components' points (0-10, see components.COMPONENTS). The
strategy score is the strategy pillar; the execution score is the mean of the process,
technology and data pillars, rounded to one decimal. A score of `THRESHOLD` or more is strong.
"""

from django.urls import reverse

from . import data, people, process, strategy, technology
from .components import COMPONENTS, EXECUTION_PILLARS, PILLARS, STRATEGY, Component
from .evidence import Context, Evidence

THRESHOLD = 5.0  # out of 10: at or above it a score is strong

STRONG_BOTH = "strong_both"
STRATEGY_ONLY = "strategy_only"  # strategy without execution
EXECUTION_ONLY = "execution_only"  # execution without strategy
NEITHER = "neither"
QUADRANTS = {
    STRONG_BOTH: "Strong strategy, strong execution",
    STRATEGY_ONLY: "Strategy without execution",
    EXECUTION_ONLY: "Execution without strategy",
    NEITHER: "Neither strategy nor execution yet",
}
QUADRANT_HELP = {
    STRONG_BOTH: "Keep the plan and the machine in step; work the fixes with the most revenue at stake.",
    STRATEGY_ONLY: "The plan is there but the machine does not deliver it: expect disputes over attribution, "
    "slow follow-up, broken tracking and an uneven pipeline.",
    EXECUTION_ONLY: "The machine runs without a plan behind it: expect busy work, campaigns with no program "
    "or segment and activity without impact.",
    NEITHER: "Start with the strategy (goals, ICP, positioning, a plan) and the process behind it.",
}

MEASURES = {
    **people.MEASURES,
    **process.MEASURES,
    **technology.MEASURES,
    **data.MEASURES,
    **strategy.MEASURES,
}
assert set(MEASURES) == {component.key for component in COMPONENTS}, "every component needs a measure"


def status_of(component: Component, points: int, evidence: Evidence) -> str:
    if evidence.ratio is None:
        return "no_evidence"
    if points == component.max_points:
        return "earned"
    return "partial" if points else "missed"


def score_component(ctx: Context, component: Component) -> dict:
    evidence = MEASURES[component.key](ctx)
    points = component.points_for(evidence.ratio)
    return {
        "key": component.key,
        "pillar": component.pillar,
        "label": component.label,
        "measured": component.measured,
        "thresholds": component.thresholds_text,
        "max_points": component.max_points,
        "points": points,
        "status": status_of(component, points, evidence),
        "ratio": None if evidence.ratio is None else round(evidence.ratio, 4),
        "summary": evidence.summary,
        "records": evidence.records,
        "fix_label": component.fix_label,
        "fix_url": reverse(component.fix, args=[ctx.org.slug]),
        "action": component.action,
    }


def quadrant_of(strategy_score: float, execution_score: float) -> str:
    strong_strategy = strategy_score >= THRESHOLD
    strong_execution = execution_score >= THRESHOLD
    if strong_strategy and strong_execution:
        return STRONG_BOTH
    if strong_strategy:
        return STRATEGY_ONLY
    if strong_execution:
        return EXECUTION_ONLY
    return NEITHER


def score(ctx: Context) -> tuple[dict, list[dict], str]:
    """({pillar: score, "strategy", "execution"}, every scored component in table order, quadrant)."""
    points = [score_component(ctx, component) for component in COMPONENTS]
    scores = {pillar: sum(p["points"] for p in points if p["pillar"] == pillar) for pillar in PILLARS}
    scores["execution"] = round(sum(scores[p] for p in EXECUTION_PILLARS) / len(EXECUTION_PILLARS), 1)
    scores["strategy"] = scores[STRATEGY]
    return scores, points, quadrant_of(scores["strategy"], scores["execution"])
