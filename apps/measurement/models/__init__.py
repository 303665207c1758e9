"""Measurement: the spend ledger, daily rollups, attribution and the incrementality register."""

from .diagnostic import DiagnosticSnapshot
from .experiments import HoldoutTest
from .rollups import (
    AttributionDay,
    BacklogDay,
    CohortChannelDay,
    CohortDay,
    DirtyDay,
    FunnelChannelDay,
    FunnelDay,
    FunnelSegmentDay,
    MeasurementSettings,
    OpportunityDay,
    PipelineChange,
    PipelineSpell,
    ResponseDay,
    RollupState,
    TouchDay,
)
from .spend import PAID_TYPES, SpendEntry, SpendType

__all__ = [
    "PAID_TYPES",
    "AttributionDay",
    "BacklogDay",
    "CohortChannelDay",
    "CohortDay",
    "DiagnosticSnapshot",
    "DirtyDay",
    "FunnelChannelDay",
    "FunnelDay",
    "FunnelSegmentDay",
    "HoldoutTest",
    "MeasurementSettings",
    "OpportunityDay",
    "PipelineChange",
    "PipelineSpell",
    "ResponseDay",
    "RollupState",
    "SpendEntry",
    "SpendType",
    "TouchDay",
]
