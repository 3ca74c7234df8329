// regscout console: charts from the JSON a page embeds (no inline script runs: the CSP forbids it).
"use strict";

const SERIES = [
  ["critical", "Critical", "--critical"],
  ["high", "High", "--high"],
  ["medium", "Medium", "--medium"],
  ["low", "Low", "--low"],
  ["other", "Other", "--unknown"],
];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function historyChart(figure) {
  const history = JSON.parse(figure.querySelector("script[type='application/json']").textContent);
  const day = (text) => Date.parse(text + "T12:00:00Z") / 1000;
  const points = history.points;
  const xs = points.map((p) => day(p.day));
  const data = [xs, ...SERIES.map(([key]) => points.map((p) => p.counts[key] || 0))];
  const options = {
    width: Math.max(320, figure.clientWidth || 800),
    height: 300,
    scales: { x: { time: true, range: [day(history.from), day(history.to)] } },
    axes: [{ stroke: cssVar("--fg") }, { stroke: cssVar("--fg") }],
    series: [{}, ...SERIES.map(([, label, colour]) => ({ label, stroke: cssVar(colour), width: 2 }))],
  };
  new uPlot(options, data, figure);
}

function drawCharts(root) {
  root.querySelectorAll("[data-chart='history']").forEach((figure) => {
    if (!figure.dataset.drawn && window.uPlot) {
      figure.dataset.drawn = "1";
      historyChart(figure);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => drawCharts(document));
document.addEventListener("htmx:afterSwap", (event) => drawCharts(event.target));
