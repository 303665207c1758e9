"""The demo organisation's strategy: one module per part, seeded in the order they refer to each other."""

from .goals import seed_goals

__all__ = ["seed_goals"]
