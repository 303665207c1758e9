"""The chart builders write plotly's JSON directly: the same figure plotly.py's checked objects give."""

import datetime
import json
from decimal import Decimal

import plotly.graph_objects as go
import pytest

from apps.core import charts

AXES = [
    ([datetime.date(2026, 1, 5), datetime.date(2026, 1, 12)], [Decimal("1.5"), None]),
    (["Jan 2026", "Feb 2026"], [3, 2.5]),
]


def checked(figure: go.Figure) -> dict:
    """The figure as plotly.py validates and serialises it."""
    return json.loads(charts.chart_json(figure))


@pytest.mark.parametrize(("x", "y"), AXES)
def test_a_line_chart_is_the_validated_figure(x, y):
    expected = go.Figure([go.Scatter(x=x, y=y, name="Leads", mode="lines+markers")])
    expected.update_layout(title="Leads", yaxis_title="n")
    assert json.loads(charts.line_chart(title="Leads", x=x, series={"Leads": y}, y_title="n")) == checked(
        expected
    )


@pytest.mark.parametrize(("x", "y"), AXES)
@pytest.mark.parametrize("stacked", [False, True])
def test_a_bar_chart_is_the_validated_figure(x, y, stacked):
    expected = go.Figure([go.Bar(x=x, y=y, name="A"), go.Bar(x=x, y=y, name="B")])
    expected.update_layout(title="", yaxis_title="%", barmode="stack" if stacked else "group")
    built = charts.bar_chart(title="", x=x, series={"A": y, "B": y}, y_title="%", stacked=stacked)
    assert json.loads(built) == checked(expected)


def test_a_figures_own_layout_wins_over_the_house_layout():
    figure = json.loads(charts.figure_json([{"type": "bar", "x": [1], "y": [2]}], {"hovermode": "closest"}))
    assert figure["layout"]["hovermode"] == "closest"
    assert figure["layout"]["margin"] == charts.LAYOUT["margin"]
    assert figure["layout"]["template"]["layout"]  # plotly's default template, as go.Figure embeds it
