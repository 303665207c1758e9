// Draws every server-built plotly figure on the page: <div data-chart="ID"> + <script id="ID" type="application/json">.
(function () {
  function draw() {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      const source = document.getElementById(el.dataset.chart);
      if (!source) return;
      const figure = JSON.parse(JSON.parse(source.textContent));
      // The modebar's camera saves the chart as PNG in the browser (no server, works offline);
      // data-filename names the file after the page, chart and dates.
      Plotly.newPlot(el, figure.data, figure.layout, {
        responsive: true,
        displaylogo: false,
        toImageButtonOptions: { format: "png", filename: el.dataset.filename || "chart", scale: 2 },
      });
      el.dataset.drawn = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
