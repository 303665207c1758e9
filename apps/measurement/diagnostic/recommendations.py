# ruff: noqa: RUF001, RUF002, RUF003 (prose for people: the signs × − ÷ – are meant)
"""Recommendations: one-line actions with a link, ranked by the revenue they are expected to bring back.

Expected impact, in the organisation's currency:

- where a recommendation addresses a funnel leak (`LEAK_STAGES`: the stages
  whose conversion it moves), the revenue at stake of the largest leak the
  leak finder reports over the same window from one of those stages
  (apps.measurement.leaks: volume × rate gap × downstream conversion × deal size);
- otherwise a simple estimate: gap × weight % × bookings of the window, where
  bookings are the catalogue's new bookings over the last 90 days, and for a
  component gap = 1 − its share (1 with no evidence) and weight = its maximum
  points; for a symptom or alignment check gap = its share (1 when it has
  none) and weight = `FINDING_WEIGHT`. A pillar of 10 points is thus worth 10 %
  of bookings when none of it is in place.

Ties (often: no bookings yet) are broken by the larger missing points, then by key, so the order is
stable.
"""

from django.urls import reverse

from apps.measurement.leaks import money

from .evidence import Context

FINDING_WEIGHT = 2
LEAK_STAGES = {
    "process.sla_compliance": ("mql",),
    "process.routed_by_rule": ("mql",),
    "symptom.slow_follow_up": ("mql",),
    "process.handoff_compliance": ("sal",),
    "process.no_mans_land": ("mql", "sal", "sql"),
}
# Findings' actions and the page that fixes each.
FINDING_ACTIONS = {
    "symptom.attribution_disputes": (
        "Log the touches behind every new opportunity so each can be credited",
        "measurement_attribution",
    ),
    "symptom.slow_follow_up": (
        "Cut speed-to-lead: tighten the first-touch SLA and its escalation",
        "execution_sla_policies",
    ),
    "symptom.broken_tracking": ("Fix the UTM values that break the taxonomy", "execution_utm_violations"),
    "symptom.uneven_pipeline": (
        "Spread campaign launches so pipeline is created every week",
        "execution_campaigns_calendar",
    ),
    "symptom.busy_work": ("Tie every launched campaign to a program and a segment", "execution_campaigns"),
    "symptom.activity_without_impact": (
        "Stop or rework the campaigns whose leads produce no pipeline",
        "execution_campaigns",
    ),
    "alignment.campaigns_without_program": (
        "Attach each campaign to the program it serves",
        "execution_campaigns",
    ),
    "alignment.programs_without_rationale": (
        "Give each program a segment, an offer and a goal",
        "strategy_programs",
    ),
    "alignment.budget_only_strategy": (
        "Define segments and write their positioning before spending by channel",
        "strategy_positioning",
    ),
    "alignment.volume_against_sql_rate": (
        "Trade lead volume for lead quality: aim programs at the ICP",
        "strategy_segments",
    ),
}


def _leak_for(key: str, leaks: list[dict]) -> dict | None:
    stages = LEAK_STAGES.get(key)
    if not stages:
        return None
    matching = [leak for leak in leaks if leak["from_stage"] in stages]
    return max(matching, key=lambda leak: (leak["revenue_at_stake"], leak["key"]), default=None)


def _impact(key: str, gap: float, weight: int, leaks: list[dict], bookings: float) -> tuple[float, str, str]:
    leak = _leak_for(key, leaks)
    if leak is not None:
        return round(leak["revenue_at_stake"], 2), "leak", leak["sentence"]
    return round(gap * weight / 100 * bookings, 2), "estimate", f"{gap:.0%} gap × {weight} % of bookings"


def recommend(ctx: Context, points: list[dict], findings: list[dict], leaks: list[dict], bookings: float):
    """Every missing point and every finding that shows, as a ranked list of one-line actions."""
    out = []
    for point in points:
        missing = point["max_points"] - point["points"]
        if not missing:
            continue
        gap = 1.0 if point["ratio"] is None else max(0.0, 1 - point["ratio"])
        impact, basis, basis_text = _impact(point["key"], gap, point["max_points"], leaks, bookings)
        out.append(
            {
                "key": point["key"],
                "action": point["action"],
                "url": point["fix_url"],
                "fix_label": point["fix_label"],
                "missing_points": missing,
                "impact": impact,
                "basis": basis,
                "basis_text": basis_text,
            }
        )
    for finding in findings:
        if not finding["found"]:
            continue
        action, url_name = FINDING_ACTIONS[finding["key"]]
        gap = 1.0 if finding["share"] is None else min(1.0, finding["share"])
        impact, basis, basis_text = _impact(finding["key"], gap, FINDING_WEIGHT, leaks, bookings)
        out.append(
            {
                "key": finding["key"],
                "action": action,
                "url": reverse(url_name, args=[ctx.org.slug]),
                "fix_label": finding["title"],
                "missing_points": 0,
                "impact": impact,
                "basis": basis,
                "basis_text": basis_text,
            }
        )
    out.sort(key=lambda rec: (-rec["impact"], -rec["missing_points"], rec["key"]))
    for rank, rec in enumerate(out, start=1):
        rec["rank"] = rank
        rec["impact_text"] = money(rec["impact"], ctx.org.currency)
    return out
