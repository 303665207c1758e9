"""The data-quality page's charts: selector output → plotly figure JSON (see apps.core.charts)."""

from apps.core.charts import bar_chart, line_chart


def _labels(weeks) -> list[str]:
    return [week.isoformat() for week in weeks]


def completeness_trend_chart(trends: dict) -> str | None:
    """Average completeness (percent) of the leads created each week; None when no week has a lead."""
    if not any(trends["created"]):
        return None
    averages = [None if value is None else round(100 * value, 1) for value in trends["average"]]
    return line_chart(
        title="Average completeness of new leads, by week created",
        x=_labels(trends["weeks"]),
        series={"Average completeness (%)": averages},
        y_title="%",
    )


def missing_required_chart(trends: dict) -> str | None:
    """New leads per week, and how many of them miss a required field."""
    if not any(trends["created"]):
        return None
    complete = [n - missing for n, missing in zip(trends["created"], trends["missing_required"], strict=True)]
    return bar_chart(
        title="New leads by week: missing a required field",
        x=_labels(trends["weeks"]),
        series={"Missing a required field": trends["missing_required"], "All required fields": complete},
        y_title="Leads",
        stacked=True,
    )
