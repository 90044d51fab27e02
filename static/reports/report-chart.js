// Draws the report's chart from the JSON the page embeds (json_script); Chart.js is vendored.
(function () {
  "use strict";
  var source = document.getElementById("report-chart-data");
  var canvas = document.getElementById("report-chart");
  if (!source || !canvas || typeof Chart === "undefined") return;
  var spec = JSON.parse(source.textContent);
  var palette = ["#2f6fde", "#e0712c", "#2a9d5c", "#b5418f", "#7a5af5", "#c99a06"];
  var datasets = spec.datasets.map(function (d, i) {
    return {
      label: d.label,
      data: spec.percent ? d.data.map(function (v) { return v === null ? null : v * 100; }) : d.data,
      backgroundColor: palette[i % palette.length],
      borderColor: palette[i % palette.length],
      fill: false,
      tension: 0.2
    };
  });
  new Chart(canvas, {
    type: spec.type,
    data: { labels: spec.labels, datasets: datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: spec.percent, text: "%" } } }
    }
  });
})();
