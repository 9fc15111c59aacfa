// The history explorer's chart: net points per day, stacked by reason. The data is the JSON in
// the canvas's data-chart attribute (htmx drops <script> elements from what it swaps in);
// htmx.onLoad draws it on the first load and again whenever the filters swap in new results.
(function () {
  "use strict";

  var COLOURS = ["#1f5fbf", "#17683a", "#a3271d", "#b26b00", "#6a3fb5", "#0f7c83", "#7a5c3a", "#55606c"];

  function draw(root) {
    if (typeof Chart === "undefined" || !root.querySelectorAll) return;
    var canvases = root.matches && root.matches("canvas[data-chart]") ? [root] : root.querySelectorAll("canvas[data-chart]");
    Array.prototype.forEach.call(canvases, function (canvas) {
      var data = JSON.parse(canvas.getAttribute("data-chart"));
      var existing = Chart.getChart(canvas);
      if (existing) existing.destroy();
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: data.datasets.map(function (set, i) {
            return { label: set.label, data: set.data, backgroundColor: COLOURS[i % COLOURS.length], borderRadius: 2 };
          })
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: {
            x: { stacked: true, grid: { display: false } },
            y: { stacked: true, grid: { color: "#e6e9ed" }, ticks: { precision: 0 } }
          },
          plugins: { legend: { position: "bottom", labels: { boxWidth: 12, color: "#1d2733" } } }
        }
      });
    });
  }

  if (window.htmx) {
    htmx.onLoad(draw);
    // Going back within the explorer (hx-history="false": no snapshots are kept): load the
    // URL as a whole page; the server renders the filters and the results from the query string.
    document.addEventListener("htmx:historyCacheMiss", function (event) {
      if (!document.querySelector("[data-reload-on-back]")) return;
      event.preventDefault();
      window.location.reload();
    });
  } else {
    document.addEventListener("DOMContentLoaded", function () { draw(document.body); });
  }
})();
