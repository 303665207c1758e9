# ruff: noqa: RUF001, RUF003 (prose for people: the signs × − ÷ – are meant)
"""The table of every scored component: one place says what each point is and how it is earned.

Each component measures one share between 0 and 1 where higher is better (a
"lower is better" number such as the duplicate rate is turned round: the share
of leads that are not duplicates). Its points are those of the first threshold
the share reaches; a component with nothing to measure (no records behind it)
earns 0 points and says "no evidence", so a blank organisation never looks
healthy. Every pillar's components add up to 10 points. The page, the README
and the API all read this table.
"""

from dataclasses import dataclass

PEOPLE, PROCESS, TECHNOLOGY, DATA, STRATEGY = "people", "process", "technology", "data", "strategy"
PILLARS = {
    PEOPLE: "People",
    PROCESS: "Process",
    TECHNOLOGY: "Technology",
    DATA: "Data",
    STRATEGY: "Strategy",
}
# The execution score is the mean of these pillars; People is scored and shown but sits on neither axis.
EXECUTION_PILLARS = (PROCESS, TECHNOLOGY, DATA)
WINDOW_DAYS = 90  # the recent past most components look at, ending today (the organisation's local day)


@dataclass(frozen=True)
class Component:
    key: str
    pillar: str
    label: str
    measured: str  # how the share is measured, in words
    max_points: int
    thresholds: tuple[tuple[float, int], ...]  # (minimum share, points), highest first
    fix: str  # the url name of the page that fixes it
    fix_label: str
    action: str  # the one-line recommendation when points are missing

    def points_for(self, ratio: float | None) -> int:
        if ratio is None:
            return 0
        for minimum, points in self.thresholds:
            if ratio >= minimum - 1e-9:
                return points
        return 0

    @property
    def thresholds_text(self) -> str:
        parts = [f"≥ {round(minimum * 100)} %: {points} pt" for minimum, points in self.thresholds]
        return "; ".join(parts) + "; otherwise 0"


def _c(key, pillar, label, measured, max_points, thresholds, fix, fix_label, action) -> Component:
    return Component(key, pillar, label, measured, max_points, thresholds, fix, fix_label, action)


COMPONENTS: tuple[Component, ...] = (
    # --- People: every part of the operating model has someone who answers for it -------------------
    _c("people.kpi_owners", PEOPLE, "KPI-tree nodes with an owner",
       "KPI-tree nodes with an owner ÷ all KPI-tree nodes", 2, ((0.9, 2), (0.6, 1)),
       "strategy_kpi_tree", "KPI tree", "Give every KPI-tree node an owner"),
    _c("people.stage_owners", PEOPLE, "Funnel stages with an owning team",
       "funnel stages with an owner team ÷ funnel stages", 2, ((0.9, 2), (0.6, 1)),
       "records_definitions", "Stages and definitions", "Name the team that owns each funnel stage"),
    _c("people.sla_owners", PEOPLE, "SLA policies with an owning team",
       "active SLA policies scoped to a team ÷ active SLA policies", 2, ((0.9, 2), (0.5, 1)),
       "execution_sla_policies", "SLA policies", "Give each SLA policy the team that answers for it"),
    _c("people.segment_owners", PEOPLE, "Segments with an owner",
       "segments with an owner ÷ segments", 1, ((0.9, 1),),
       "strategy_segments", "Segments", "Give every segment an owner"),
    _c("people.actions_on_time", PEOPLE, "Review action items closed on time",
       "action items due in the last 90 days done by their due day ÷ action items due in the last 90 days",
       2, ((0.8, 2), (0.5, 1)),
       "governance_actions", "Action items", "Close review action items by their due date"),
    _c("people.handoff_receivers", PEOPLE, "Hand-offs with a named receiver",
       "hand-offs created in the last 90 days with a receiver ÷ hand-offs created", 1, ((0.9, 1),),
       "execution_handoffs", "Hand-offs", "Name a receiver on every hand-off"),
    # --- Process: the work happens as promised -----------------------------------------------------
    _c("process.sla_compliance", PROCESS, "SLA compliance",
       "the metric engine's SLA compliance over the last 90 days (clocks met ÷ clocks decided)", 2,
       ((0.9, 2), (0.75, 1)),
       "execution_sla_report", "SLA report", "Get SLA compliance above 90 %"),
    _c("process.handoff_compliance", PROCESS, "Hand-off SLA compliance",
       "hand-offs of the last 90 days answered in time ÷ hand-offs come due", 2, ((0.9, 2), (0.75, 1)),
       "execution_handoffs", "Hand-offs", "Answer hand-offs within their SLA"),
    _c("process.campaign_qa", PROCESS, "Campaign QA pass rate",
       "QA checks passed ÷ QA checks run, for campaigns requested in the last 90 days", 1, ((0.8, 1),),
       "execution_qa_checklist", "QA checklist", "Fix the QA checks campaigns fail"),
    _c("process.on_time_launch", PROCESS, "Campaigns launched on time",
       "campaigns live in the last 90 days on or before their due date ÷ those with a due date", 1,
       ((0.8, 1),),
       "execution_campaigns", "Campaigns", "Launch campaigns by their due date"),
    _c("process.routed_by_rule", PROCESS, "Leads routed by a rule",
       "routing decisions of the last 90 days made by a rule ÷ all decisions (the rest: fallback queue)",
       2, ((0.9, 2), (0.7, 1)),
       "execution_routing", "Routing rules", "Add rules for the leads that fall to the fallback queue"),
    _c("process.no_mans_land", PROCESS, "Leads out of no man's land",
       "working-funnel leads that have an owner and are within their stage's limit ÷ working-funnel leads",
       2, ((0.95, 2), (0.85, 1)),
       "execution_no_mans_land", "No man's land", "Reassign orphan and stuck leads"),
    # --- Technology: the stack is connected, automated and tracked ---------------------------------
    _c("technology.api_keys", TECHNOLOGY, "API keys in use",
       "active API keys used in the last 7 days ÷ active API keys", 2, ((0.5, 2), (0.01, 1)),
       "settings_api_keys", "API keys", "Connect your systems with an API key (and revoke unused ones)"),
    _c("technology.webhooks", TECHNOLOGY, "Healthy webhooks",
       "active endpoints with no failing deliveries ÷ all endpoints", 2, ((1.0, 2), (0.5, 1)),
       "settings_webhooks", "Webhooks", "Repair or remove failing webhook endpoints"),
    _c("technology.journeys", TECHNOLOGY, "Automation coverage",
       "motions (capture, nurture, expansion, retention) with a running journey ÷ 4", 3,
       ((1.0, 3), (0.75, 2), (0.5, 1)),
       "execution_journeys", "Journeys", "Run a journey for capture, nurture, expansion and retention"),
    _c("technology.tracking", TECHNOLOGY, "Tracking follows the UTM taxonomy",
       "tagged touchpoints of the last 90 days that follow the UTM taxonomy ÷ tagged touchpoints", 3,
       ((0.95, 3), (0.85, 2), (0.7, 1)),
       "execution_utm_violations", "UTM violations", "Fix the UTM values that break the taxonomy"),
    # --- Data: the records can be trusted ----------------------------------------------------------
    _c("data.completeness", DATA, "Complete lead records",
       "leads whose completeness score reaches the threshold with no required field missing ÷ leads", 3,
       ((0.8, 3), (0.6, 2), (0.4, 1)),
       "quality_completeness", "Completeness", "Fill the lead fields your completeness rules require"),
    _c("data.duplicates", DATA, "Leads without open duplicates",
       "1 − open duplicate pairs ÷ visible leads", 2, ((0.99, 2), (0.97, 1)),
       "quality_duplicates", "Duplicates", "Merge or dismiss the open duplicate pairs"),
    _c("data.unmapped", DATA, "Sources mapped to a channel",
       "source and UTM values on leads and touchpoints that map to a channel ÷ all non-empty values", 2,
       ((0.98, 2), (0.9, 1)),
       "quality_sources", "Source mappings", "Map the unmapped sources to channels"),
    _c("data.stage_criteria", DATA, "Stages with written entry criteria",
       "lifecycle stages with written entry criteria ÷ lifecycle stages", 2, ((1.0, 2), (0.75, 1)),
       "records_definitions", "Stages and definitions", "Write the entry criteria of every stage"),
    _c("data.metric_definitions", DATA, "KPI definitions complete",
       "KPI-tree nodes bound to a catalogue metric (with its written definition) or described in words "
       "÷ KPI-tree nodes", 1, ((0.9, 1),),
       "strategy_kpi_tree", "KPI tree", "Bind each KPI node to a catalogue metric or describe it"),
    # --- Strategy: what the execution is for -------------------------------------------------------
    _c("strategy.goals", STRATEGY, "Goals for the current quarter",
       "1 when at least one revenue goal is set for the current fiscal quarter, else 0", 2, ((1.0, 2),),
       "strategy_index", "Goals", "Set this quarter's revenue goals"),
    _c("strategy.icp_segments", STRATEGY, "An ICP and segments",
       "(an ICP is marked + at least two segments exist) ÷ 2", 2, ((1.0, 2), (0.5, 1)),
       "strategy_segments", "Segments", "Mark your ICP and define the segments you sell to"),
    _c("strategy.positioning", STRATEGY, "Positioning and offers per segment",
       "segments with written value propositions and an active offer ÷ segments", 2, ((0.8, 2), (0.5, 1)),
       "strategy_positioning", "Positioning", "Write the positioning and an offer for each segment"),
    _c("strategy.kpi_tree", STRATEGY, "KPI tree with targets and owners",
       "KPI-tree nodes with a target and an owner ÷ KPI-tree nodes", 2, ((0.8, 2), (0.5, 1)),
       "strategy_kpi_tree", "KPI tree", "Give the KPI tree targets and owners"),
    _c("strategy.plan", STRATEGY, "A plan with budget lines and a rationale",
       "programs of the current quarter with a budget line and a written rationale ÷ programs of the "
       "quarter", 2, ((0.8, 2), (0.5, 1)),
       "strategy_programs", "Marketing plan", "Give each program of the quarter a budget and a rationale"),
)  # fmt: skip

BY_KEY = {component.key: component for component in COMPONENTS}


def of_pillar(pillar: str) -> list[Component]:
    return [component for component in COMPONENTS if component.pillar == pillar]


def _check_totals() -> None:
    for pillar in PILLARS:
        total = sum(component.max_points for component in of_pillar(pillar))
        assert total == 10, f"{pillar} adds up to {total} points, not 10"


_check_totals()
