// The forecaster's panel on textrnn's page: recent rows as CSV in, a chart per target of
// the history and the forecast out.
"use strict";

window.textrnn.panels.forecaster = (host, {$, postJSON, showError, element}) => {
  let current = null;
  host.append(
    element("label", {htmlFor: "series", textContent: "Recent rows as CSV, oldest first (a header row picks the model's columns by name)"}),
    element("textarea", {id: "series", rows: 6}),
    element("div", {className: "controls"}, element("button", {id: "forecast", textContent: "Forecast"})),
    element("div", {id: "charts"}),
    element("p", {id: "fc-status", className: "note"}));

  function parseRows(csv, columns) {
    // A header row names the columns (others, a time column say, are left out); without
    // one, each row holds the model's columns in order.
    const lines = csv.trim().split(/\r?\n/).filter((l) => l.trim() !== "")
      .map((l) => l.split(",").map((c) => c.trim()));
    let pick = columns.map((_, i) => i);
    if (lines.length && lines[0].some((c) => c === "" || isNaN(Number(c)))) {
      const header = lines.shift();
      pick = columns.map((name) => header.indexOf(name));
      const missing = columns.filter((_, i) => pick[i] < 0);
      if (missing.length) throw new Error("the header lacks column " + missing.join(", ") +
                                          "; this model reads " + columns.join(", "));
    }
    return lines.map((cells) => pick.map((i) => Number(cells[i])));
  }

  function chart(name, history, future) {
    const W = 860, H = 220, pad = 30, all = history.concat(future);
    const lo = Math.min(...all), hi = Math.max(...all), n = all.length;
    const x = (i) => pad + (W - 2 * pad) * i / Math.max(1, n - 1);
    const y = (v) => H - pad - (H - 2 * pad) * (v - lo) / Math.max(1e-12, hi - lo);
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", "100%");
    const line = (values, offset, colour) => {
      const p = document.createElementNS(ns, "polyline");
      p.setAttribute("points", values.map((v, i) => x(i + offset) + "," + y(v)).join(" "));
      p.setAttribute("fill", "none");
      p.setAttribute("stroke", colour);
      p.setAttribute("stroke-width", "1.6");
      svg.appendChild(p);
    };
    line(history, 0, "#2f6fdf");
    line([history[history.length - 1]].concat(future), history.length - 1, "#ea7317");
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", pad);
    label.setAttribute("y", 16);
    label.textContent = name + ": history (blue), forecast (orange)";
    svg.appendChild(label);
    return svg;
  }

  $("forecast").onclick = async () => {
    showError("");
    try {
      const rows = parseRows($("series").value, current.columns);
      const out = await (await postJSON(current.endpoint, {model: current.name, rows})).json();
      $("charts").textContent = "";
      out.targets.forEach((name, k) => $("charts").appendChild(
        chart(name, out.history.map((r) => r[k]), out.forecast.map((r) => r[k]))));
      $("fc-status").textContent = "History: the last " + out.history.length + " rows; forecast: the next " +
        out.forecast.length + ".";
    } catch (e) {
      showError(e.message);
    }
  };
  return {
    show(model) {
      current = model;
      if (!$("series").value) {
        $("series").placeholder = model.columns.join(",") + "\n(at least " + model.lookback + " rows)";
      }
    },
  };
};
