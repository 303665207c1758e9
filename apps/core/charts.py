"""Charts: pure functions build plotly figures on the server; a static script draws them.

A view passes `chart_json(figure)` to the template, which embeds it with
`{% include "components/chart.html" with chart=... %}` as a JSON data block (not
executable, so the strict CSP needs no exception); `static/js/charts.js` finds
those blocks and calls Plotly.newPlot.
"""

import functools

import plotly.graph_objects as go
import plotly.io as pio

LAYOUT = {
    "margin": {"l": 48, "r": 16, "t": 32, "b": 40},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 13},
    "hovermode": "x unified",
}


@functools.cache
def _template() -> dict:
    """The default plotly template as a figure embeds it (large, so built once)."""
    return pio.templates[pio.templates.default].to_plotly_json()


def figure_json(data: list[dict], layout: dict) -> str:
    """A figure from traces and a layout written as plotly's JSON schema, over the house layout.

    This is what `chart_json(go.Figure(...))` gives for the same figure, without plotly.py checking
    every property of every trace on the way, which costs about ten milliseconds a chart: a review
    dashboard draws several. Use it where the figure's shape is fixed by the code.
    """
    figure = {"data": data, "layout": {**LAYOUT, **layout, "template": _template()}}
    return pio.to_json(figure, validate=False, pretty=False)


def chart_json(figure: go.Figure) -> str:
    figure.update_layout(**LAYOUT)
    return pio.to_json(figure, validate=False, pretty=False)


def _axis_titles(title: str, y_title: str) -> dict:
    return {"title": {"text": title}, "yaxis": {"title": {"text": y_title}}}


def line_chart(*, title: str, x: list, series: dict[str, list], y_title: str = "") -> str:
    traces = [
        {"type": "scatter", "x": x, "y": y, "name": name, "mode": "lines+markers"}
        for name, y in series.items()
    ]
    return figure_json(traces, _axis_titles(title, y_title))


def bar_chart(*, title: str, x: list, series: dict[str, list], y_title: str = "", stacked=False) -> str:
    traces = [{"type": "bar", "x": x, "y": y, "name": name} for name, y in series.items()]
    return figure_json(traces, {**_axis_titles(title, y_title), "barmode": "stack" if stacked else "group"})
