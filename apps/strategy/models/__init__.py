"""The strategy models: goals, the KPI tree, segments and the ICP, positioning and offers,
the channel budget, the marketing plan and saved plans. Quarterly strategy reviews are operating
reviews of apps.governance."""

from .budget import ChannelBudget
from .goals import Goal, GoalMetric
from .kpi import KpiCombine, KpiKind, KpiNode, KpiStatus, KpiTarget, KpiValue
from .plans import SavedPlan
from .positioning import Offer, OfferType, Positioning
from .programs import Program, ProgramBudgetLine, ProgramStatus, ProgramTarget
from .segments import Segment, SegmentMembership, SegmentObject

__all__ = [
    "ChannelBudget",
    "Goal",
    "GoalMetric",
    "KpiCombine",
    "KpiKind",
    "KpiNode",
    "KpiStatus",
    "KpiTarget",
    "KpiValue",
    "Offer",
    "OfferType",
    "Positioning",
    "Program",
    "ProgramBudgetLine",
    "ProgramStatus",
    "ProgramTarget",
    "SavedPlan",
    "Segment",
    "SegmentMembership",
    "SegmentObject",
]
