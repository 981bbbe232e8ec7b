// The overview: a chart of requests and operations per second (uPlot), and counts kept live
// from /_emulator/summary (the page's credentials go with same-origin requests).
(function () {
  var series = JSON.parse(document.getElementById("series").textContent);
  var chart = document.getElementById("chart");
  if (chart && series[0].length > 0 && window.uPlot) {
    new uPlot({
      width: Math.min(900, chart.clientWidth || 900), height: 240,
      series: [{}, { label: "requests/s", stroke: "#2f6fde" },
               { label: "operations/s", stroke: "#d2691e", scale: "ops" }],
      axes: [{}, { label: "requests/s" },
             { side: 1, scale: "ops", label: "operations/s", size: 80 }],
    }, series, chart);
  }
  function refresh() {
    fetch("/_emulator/summary?wait=0", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) return;
        document.querySelectorAll("#counts .n").forEach(function (el) {
          var v = s[el.dataset.key];
          if (typeof v === "number") el.textContent = v.toLocaleString("en-US");
        });
      })
      .catch(function () {});
  }
  setInterval(refresh, 2000);
})();
