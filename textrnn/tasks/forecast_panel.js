// The forecaster's panel on textrnn's page: recent rows as CSV in, a chart per target of
// the history and the forecast out (an inline SVG with axes, ticks and a legend).
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

  // About `count` round tick values (1, 2 or 5 times a power of ten) from lo to hi.
  function ticks(lo, hi, count, whole) {
    const raw = (hi - lo) / count, power = 10 ** Math.floor(Math.log10(raw));
    let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    if (whole) step = Math.max(1, Math.round(step));  // rows are counted in whole steps
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push({value: v, text: (Math.abs(v) < step / 2 ? 0 : v).toFixed(digits)});
    }
    return out;
  }

  // One target's chart: the history (rows -n+1 .. 0, 0 the last row given) and the
  // forecast (rows 1 .. H) in a distinct colour with a marker on each row, on axes whose
  // ticks read in the data's units and in rows from the last one given.
  function chart(name, history, future) {
    const W = 860, H = 270, left = 62, right = 16, top = 34, bottom = 46;
    const ns = "http://www.w3.org/2000/svg", all = history.concat(future);
    let lo = Math.min(...all), hi = Math.max(...all);
    const pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.05 || 1;  // a flat series still gets a range
    lo -= pad;
    hi += pad;
    const first = 1 - history.length, last = future.length;
    const x = (row) => left + (W - left - right) * (row - first) / Math.max(1, last - first);
    const y = (v) => H - bottom - (H - top - bottom) * (v - lo) / (hi - lo);
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", "100%");
    const add = (tag, attrs, text) => {
      const e = document.createElementNS(ns, tag);
      Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, v));
      if (text !== undefined) e.textContent = text;
      svg.appendChild(e);
      return e;
    };
    ticks(lo, hi, 5).forEach((t) => {
      add("line", {x1: left, x2: W - right, y1: y(t.value), y2: y(t.value), stroke: "#eee"});
      add("text", {x: left - 6, y: y(t.value) + 4, "text-anchor": "end"}, t.text);
    });
    ticks(first, last, 8, true).forEach((t) => {
      add("line", {x1: x(t.value), x2: x(t.value), y1: H - bottom, y2: H - bottom + 5, stroke: "#444"});
      add("text", {x: x(t.value), y: H - bottom + 17, "text-anchor": "middle"},
          (t.value > 0 ? "+" : "") + t.text);
    });
    add("polyline", {points: `${left},${top} ${left},${H - bottom} ${W - right},${H - bottom}`,
                     fill: "none", stroke: "#444"});
    add("line", {x1: x(0), x2: x(0), y1: top, y2: H - bottom, stroke: "#999",
                 "stroke-dasharray": "3 3"});  // the last row given: the forecast starts after it
    add("text", {x: (left + W - right) / 2, y: H - 8, "text-anchor": "middle"},
        "rows after the last row given (0: the last row given)");
    add("text", {x: 14, y: (top + H - bottom) / 2, "text-anchor": "middle",
                 transform: `rotate(-90 14 ${(top + H - bottom) / 2})`}, name + " (data's units)");
    const line = (values, start, colour, dash) => add("polyline", {
      points: values.map((v, i) => x(start + i) + "," + y(v)).join(" "), fill: "none", stroke: colour,
      "stroke-width": 1.8, "stroke-dasharray": dash || "none"});
    const signed = (row) => (row > 0 ? "+" : "") + row;
    const dots = (values, start, colour) => values.forEach((v, i) => {
      const dot = add("circle", {cx: x(start + i), cy: y(v), r: values.length <= 3 ? 4.5 : 3.2, fill: colour});
      const hover = document.createElementNS(ns, "title");  // the row and its value on hover
      hover.textContent = `${signed(start + i)}: ${Number(v.toPrecision(6))}`;
      dot.appendChild(hover);
    });
    const HISTORY = "#4a4f57", FORECAST = "#ea7317";
    line(history, first, HISTORY);
    if (history.length <= 12) dots(history, first, HISTORY);  // a short line alone is hard to see
    line([history[history.length - 1], future[0]], 0, FORECAST, "4 3");  // from the last row known
    line(future, 1, FORECAST);
    dots(future, 1, FORECAST);
    const rows = (n) => n + (n === 1 ? " row" : " rows");
    [[HISTORY, `history (${rows(history.length)})`], [FORECAST, `forecast (${rows(future.length)})`]]
      .forEach(([colour, text], i) => {
        const at = left + 6 + i * 190;
        add("line", {x1: at, x2: at + 22, y1: 16, y2: 16, stroke: colour, "stroke-width": 2});
        if (colour === FORECAST) add("circle", {cx: at + 11, cy: 16, r: 3.2, fill: colour});
        add("text", {x: at + 28, y: 20}, text);
      });
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
