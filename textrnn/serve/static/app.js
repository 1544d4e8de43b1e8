// The page: one tab per served run folder, named by the run and its task, each at its own
// address (/#RUN_NAME opens that run's tab). Each task's panel is drawn by the script its
// task gives (the model's `panel`, loaded once) or, for a task with none, by the generic
// form built from its request's fields (`inputs`), the JSON answer shown as it comes.
// Plain JavaScript, no build step and nothing fetched from elsewhere. Text from models and
// users is only ever set as textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const panels = {};      // task -> {host, show(model)}, made when a model of it is first chosen
let models = [];
window.textrnnArrivals = [];  // when each streamed piece arrived (ms), for tests and curiosity

// What a panel script may use: it registers textrnn.panels[task] = (host, api) => ({show}).
window.textrnn = {panels: {}};
const api = {$, postJSON, readEvents, showError, number, element};

// With an API key (textrnn serve --api-key) every call under /v1 needs it: the page asks
// once, on the first refusal, and keeps the key for this tab only (sessionStorage).
async function call(path, init = {}) {
  for (let asked = false; ; asked = true) {
    const key = sessionStorage.getItem("textrnn-api-key");
    const headers = Object.assign({}, init.headers || {}, key ? {Authorization: "Bearer " + key} : {});
    const res = await fetch(path, Object.assign({}, init, {headers}));
    if (res.status !== 401 || asked) return res;
    const typed = window.prompt("This server needs its API key:");
    if (!typed) return res;
    sessionStorage.setItem("textrnn-api-key", typed.trim());
  }
}

async function postJSON(path, body, signal) {
  const res = await call(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                body: JSON.stringify(body), signal});
  if (!res.ok) {
    let message = res.statusText;
    try { message = (await res.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return res;
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

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

function number(id) {
  const v = $(id).value.trim();
  return v === "" ? null : Number(v);
}

// element("button", {id: "go", textContent: "Go"}, child, ...)
function element(tag, props, ...children) {
  const el = document.createElement(tag);
  Object.assign(el, props || {});
  for (const c of children) el.append(c);
  return el;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = element("script", {src});
    s.onload = resolve;
    s.onerror = () => reject(new Error("the page could not load " + src));
    document.body.appendChild(s);
  });
}

async function panelFor(model) {
  if (!panels[model.task]) {
    const host = element("section", {id: "panel-" + model.task, className: "panel"});
    $("main").insertBefore(host, $("error"));
    let draw = window.textrnn.panels[model.task];
    if (!draw && model.panel) {
      await loadScript(model.panel);
      draw = window.textrnn.panels[model.task];
    }
    panels[model.task] = Object.assign({host}, (draw || genericPanel)(host, api));
  }
  return panels[model.task];
}

// A tab's address is the page's with the run's name as its hash: /#NAME.
const address = (model) => "#" + encodeURIComponent(model.name);

// The tab the address names, else the first one, saying why when it named a run not served.
async function openAddressed() {
  let name = location.hash.slice(1);
  try { name = decodeURIComponent(name); } catch (e) { /* a stray %: the name as typed */ }
  const model = models.find((m) => m.name === name);
  await choose(model || models[0]);
  if (name && !model) {
    showError("no run named " + name + " is served here; this server holds " +
              models.map((m) => m.name).join(", "));
  }
}

async function choose(model) {
  for (const b of $("models").children) b.setAttribute("aria-pressed", b.dataset.name === model.name);
  document.title = model.name + " · textrnn";
  // replaceState, not location.hash: the address follows the tab without a history entry per
  // click and without a hashchange (which would choose the tab again).
  if (location.hash !== address(model)) history.replaceState(null, "", address(model));
  showError("");
  try {
    const chosen = await panelFor(model);
    for (const p of Object.values(panels)) p.host.hidden = p !== chosen;
    chosen.show(model);
  } catch (e) {
    showError(e.message);
  }
}

async function start() {
  try {
    const res = await call("/v1/models");
    if (!res.ok) throw new Error((await res.json()).error || res.statusText);
    models = (await res.json()).models;
  } catch (e) {
    $("empty").textContent = "The server did not answer: " + e.message;
    return;
  }
  $("empty").hidden = models.length > 0;
  try {  // every served task's panel first, so a tab shows its panel at once
    for (const m of models) (await panelFor(m)).host.hidden = true;
  } catch (e) {
    showError(e.message);
  }
  for (const m of models) $("models").appendChild(tab(m));
  if (!models.length) return;
  window.addEventListener("hashchange", openAddressed);  // a typed address, back and forward
  await openAddressed();
}

// A run's tab: its name and what it is ("play · language model"); its title, its address.
function tab(model) {
  const b = element("button", {title: "/" + address(model)}, model.name + " ",
                    element("small", {textContent: "· " + model.kind}));
  b.dataset.name = model.name;
  b.onclick = () => choose(model);
  return b;
}

// ---- the generic form: a field per input of the endpoint's request, the answer as JSON ----

function genericPanel(host) {
  let current = null;
  const form = element("div", {className: "fields"});
  const send = element("button", {textContent: "Send", className: "send"});
  const answer = element("pre", {className: "answer"});
  host.append(form, element("div", {className: "controls"}, send), answer);

  function control(input) {
    const id = "input-" + input.name;
    if (input.kind === "boolean") {
      const box = element("input", {type: "checkbox", id, checked: Boolean(input.default)});
      return [element("label", {}, box, " " + input.name), box];
    }
    const multi = ["text", "texts", "rows"].includes(input.kind);
    const field = multi ? element("textarea", {id, rows: input.kind === "text" ? 3 : 5})
                        : element("input", {id, type: "number", step: input.kind === "integer" ? "1" : "any"});
    const shown = input.default === null || input.default === undefined ? "" :
      Array.isArray(input.default) ? input.default.join("\n") : String(input.default);
    field.value = shown;
    field.placeholder = input.kind === "texts" ? "one per line" : input.kind === "rows" ? "one row per line, values by commas" : "";
    return [element("label", {htmlFor: id, textContent: input.name}), field];
  }

  function value(input, field) {
    if (input.kind === "boolean") return field.checked;
    const raw = field.value;
    if (input.kind === "texts") return raw.split(/\r?\n/).filter((l) => l.trim() !== "");
    if (input.kind === "rows") return raw.trim().split(/\r?\n/).filter((l) => l.trim() !== "")
      .map((l) => l.split(",").map((c) => Number(c.trim())));
    if (input.kind === "integer" || input.kind === "number") return raw.trim() === "" ? null : Number(raw);
    return raw;
  }

  const fields = [];
  send.onclick = async () => {
    showError("");
    const body = {model: current.name};
    for (const [input, field] of fields) body[input.name] = value(input, field);
    try {
      const out = await (await postJSON(current.endpoint, body)).json();
      answer.textContent = JSON.stringify(out, null, 2);
    } catch (e) {
      showError(e.message);
    }
  };

  return {
    show(model) {
      current = model;
      form.textContent = "";
      fields.length = 0;
      for (const input of model.inputs) {
        const [label, field] = control(input);
        if (input.help) label.title = input.help;
        form.append(element("div", {className: "field"}, label, input.kind === "boolean" ? "" : field));
        fields.push([input, field]);
      }
      answer.textContent = "";
    },
  };
}

start();
