"""The demo organisation's strategy: one module per part, seeded in the order they refer to each other."""

from .budget import seed_channel_budget
from .goals import seed_goals
from .kpi import seed_kpi_tree
from .plan import seed_positioning, seed_programs
from .plans import seed_plans, seed_review
from .segments import seed_segments

__all__ = [
    "seed_channel_budget",
    "seed_goals",
    "seed_kpi_tree",
    "seed_plans",
    "seed_positioning",
    "seed_programs",
    "seed_review",
    "seed_segments",
]
