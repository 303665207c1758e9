"""Charts: pure functions build plotly figures on the server; a static script draws them.

A view passes `chart_json(figure)` to the template, which embeds it with
`{% include "components/chart.html" with chart=... %}` as a JSON data block (not
executable, so the strict CSP needs no exception); `static/js/charts.js` finds
those blocks and calls Plotly.newPlot.
"""

import plotly.graph_objects as go
import plotly.io as pio

LAYOUT = {
    "margin": {"l": 48, "r": 16, "t": 32, "b": 40},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 13},
    "hovermode": "x unified",
}


def chart_json(figure: go.Figure) -> str:
    figure.update_layout(**LAYOUT)
    return pio.to_json(figure, validate=False, pretty=False)


def line_chart(*, title: str, x: list, series: dict[str, list], y_title: str = "") -> str:
    figure = go.Figure([go.Scatter(x=x, y=y, name=name, mode="lines+markers") for name, y in series.items()])
    figure.update_layout(title=title, yaxis_title=y_title)
    return chart_json(figure)


def bar_chart(*, title: str, x: list, series: dict[str, list], y_title: str = "", stacked=False) -> str:
    figure = go.Figure([go.Bar(x=x, y=y, name=name) for name, y in series.items()])
    figure.update_layout(title=title, yaxis_title=y_title, barmode="stack" if stacked else "group")
    return chart_json(figure)
