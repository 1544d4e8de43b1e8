// The page: one tab per served run folder; each task has its panel. Plain JavaScript,
// no build step and nothing fetched from elsewhere. Text from models and users is only
// ever set as textContent.
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];
let current = null;     // the chosen model's description from GET /v1/models
let running = null;     // the AbortController of the generation in flight
window.textrnnArrivals = [];  // when each streamed piece arrived (ms), for tests and curiosity

async function postJSON(path, body, signal) {
  const res = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                 body: JSON.stringify(body), signal});
  if (!res.ok) {
    let message = res.statusText;
    try { message = (await res.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return res;
}

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

function choose(model) {
  current = model;
  for (const b of $("models").children) b.setAttribute("aria-pressed", b.dataset.name === model.name);
  for (const task of ["lm", "classifier", "forecaster", "translator"]) {
    $("panel-" + task).hidden = model.task !== task;
  }
  showError("");
  if (model.task === "forecaster" && !$("series").value) {
    $("series").placeholder = model.columns.join(",") + "\n(at least " + model.lookback + " rows)";
  }
}

async function start() {
  try {
    models = (await (await fetch("/v1/models")).json()).models;
  } catch (e) {
    $("empty").textContent = "The server did not answer: " + e.message;
    return;
  }
  $("empty").hidden = models.length > 0;
  for (const m of models) {
    const b = document.createElement("button");
    b.dataset.name = m.name;
    b.textContent = m.name;
    const kind = document.createElement("small");
    kind.textContent = m.kind;
    b.appendChild(kind);
    b.onclick = () => choose(m);
    $("models").appendChild(b);
  }
  if (models.length) choose(models[0]);
}

// ---- language model: text streamed in as server-sent events ----

function number(id) {
  const v = $(id).value.trim();
  return v === "" ? null : Number(v);
}

async function generate() {
  showError("");
  const body = {model: current.name, prompt: $("prompt").value, max_tokens: number("length"),
                temperature: number("temperature"), top_k: number("top_k"),
                top_p: number("top_p"), seed: number("seed"), stream: true};
  $("shown-prompt").textContent = body.prompt;
  $("generated").textContent = "";
  $("output").dataset.state = "running";
  window.textrnnArrivals = [];
  running = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  const t0 = performance.now();
  try {
    const res = await postJSON("/v1/generate", body, running.signal);
    await readEvents(res, (event, data) => {
      if (event === "error") throw new Error(data.error);
      if (event === "done") {
        const secs = (performance.now() - t0) / 1000;
        $("lm-status").textContent = data.tokens + " tokens in " + secs.toFixed(2) + " s, seed " +
          data.seed + " (" + data.finish_reason + ")";
        return;
      }
      window.textrnnArrivals.push(performance.now());
      $("generated").appendChild(document.createTextNode(data.text));
    });
    $("output").dataset.state = "done";
  } catch (e) {
    $("output").dataset.state = e.name === "AbortError" ? "stopped" : "failed";
    if (e.name !== "AbortError") showError(e.message);
  } finally {
    running = null;
    $("generate").disabled = false;
    $("stop").disabled = true;
  }
}

async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        if (line.startsWith("data: ")) data += line.slice(6);
      }
      onEvent(event, JSON.parse(data));
    }
  }
}

// ---- classifier: label bars and token contributions ----

async function classify() {
  showError("");
  try {
    const res = await postJSON("/v1/classify", {model: current.name, texts: [$("text").value], explain: true});
    const result = (await res.json()).results[0];
    drawBars(result);
    drawTokens($("text").value, result.explanation);
    $("method").textContent = "Highlighted for \u201c" + result.label + "\u201d by " +
      result.explanation.method + " (green: for it, red: against it).";
  } catch (e) {
    showError(e.message);
  }
}

function drawBars(result) {
  const bars = $("bars");
  bars.textContent = "";
  for (const [label, p] of Object.entries(result.probabilities)) {
    const row = document.createElement("div");
    row.className = "bar" + (label === result.label ? " best" : "");
    const name = document.createElement("span");
    name.textContent = label;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = (100 * p).toFixed(1) + "%";
    track.appendChild(fill);
    const value = document.createElement("span");
    value.textContent = (100 * p).toFixed(1) + "%";
    row.append(name, track, value);
    bars.appendChild(row);
  }
}

function drawTokens(text, explanation) {
  const out = $("tokens");
  out.textContent = "";
  const top = Math.max(1e-6, ...explanation.tokens.map((t) => Math.abs(t.contribution)));
  let at = 0;
  for (const t of explanation.tokens) {
    if (t.start > at) out.appendChild(document.createTextNode(text.slice(at, t.start)));
    const span = document.createElement("span");
    span.textContent = text.slice(t.start, t.end);
    const a = Math.min(1, Math.abs(t.contribution) / top) * 0.6;
    span.style.background = t.contribution >= 0 ? `rgba(22,163,74,${a})` : `rgba(220,38,38,${a})`;
    span.title = (t.contribution >= 0 ? "+" : "") + t.contribution.toFixed(4);
    out.appendChild(span);
    at = Math.max(at, t.end);
  }
  if (at < text.length) out.appendChild(document.createTextNode(text.slice(at)));
}

// ---- forecaster: history and forecast, a chart per target ----

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

async function forecast() {
  showError("");
  try {
    const rows = parseRows($("series").value, current.columns);
    const res = await postJSON("/v1/forecast", {model: current.name, rows});
    const out = await res.json();
    $("charts").textContent = "";
    out.targets.forEach((name, k) => $("charts").appendChild(
      chart(name, out.history.map((r) => r[k]), out.forecast.map((r) => r[k]))));
    $("fc-status").textContent = "History: the last " + out.history.length + " rows; forecast: the next " +
      out.forecast.length + ".";
  } catch (e) {
    showError(e.message);
  }
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

// ---- translator: the translation and the attention map of its greedy version ----

async function translate() {
  showError("");
  try {
    const res = await postJSON("/v1/translate", {model: current.name, texts: [$("source").value],
                                                 beam: number("beam"), attention: true});
    const out = await res.json();
    $("translation").textContent = out.translations[0];
    drawAttention(out.attention);
    $("tr-note").textContent = "Attention of the greedy translation: a row per output token, " +
      "a column per source token; darker is more weight.";
  } catch (e) {
    showError(e.message);
  }
}

function drawAttention(a) {
  const table = document.createElement("table");
  table.className = "attention";
  const head = table.insertRow();
  head.insertCell();
  for (const s of a.source) head.insertCell().textContent = s;
  a.weights.forEach((row, i) => {
    const tr = table.insertRow();
    tr.insertCell().textContent = a.target[i];
    for (const w of row) {
      const cell = tr.insertCell();
      cell.style.background = `rgba(29,35,48,${w.toFixed(3)})`;
      cell.title = w.toFixed(3);
    }
  });
  $("attention").textContent = "";
  $("attention").appendChild(table);
}

$("generate").onclick = generate;
$("stop").onclick = () => running && running.abort();
$("classify").onclick = classify;
$("forecast").onclick = forecast;
$("translate").onclick = translate;
start();
