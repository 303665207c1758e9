"""The review dashboards by name, and the one call the pages, their CSV exports and the API make."""

from apps.core import memo
from apps.measurement.metrics import engine

from . import base
from .funnel import funnel_review
from .quarterly import quarterly_review
from .weekly import weekly_review

# name: (builder, default preset, title, lead paragraph)
DASHBOARDS = {
    "weekly": (
        weekly_review,
        "last_7",
        "Weekly RevOps review",
        "Leading indicators against the previous period and the plan, the KPI tree's status, the top "
        "leaks and red flags, and the action items due.",
    ),
    "quarterly": (
        quarterly_review,
        "this_quarter",
        "Quarterly growth review",
        "Lead flow by source, conversion by stage, campaign ROI, retention and upsell, unit economics "
        "and goal attainment.",
    ),
    "funnel": (
        funnel_review,
        "last_90",
        "Funnel",
        "Conversion by stage (cohort and period), how long leads stay in each stage, and pipeline velocity.",
    ),
}


def build(name: str, org, values):
    """(dashboard, None) or (None, errors) for the query in `values`: the page, CSV and API share it."""
    builder, preset, _, _ = DASHBOARDS[name]
    today = engine.local_today(org)
    try:
        query = base.parse_query(org, values, default_preset=preset, today=today)
    except engine.QueryError as error:
        return None, error.errors
    with memo.scope():
        return builder(query, today=today), None
