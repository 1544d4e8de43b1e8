// The translator's panel on textrnn's page: a text, its translation, and the attention map
// of its greedy translation.
"use strict";

window.textrnn.panels.translator = (host, {$, postJSON, showError, number, element}) => {
  let current = null;
  host.append(
    element("label", {htmlFor: "source", textContent: "Text to translate"}),
    element("textarea", {id: "source", rows: 3}),
    element("div", {className: "controls"},
            element("label", {}, "Beam ", element("input", {id: "beam", type: "number", min: 1, step: 1, value: 5})),
            element("button", {id: "translate", textContent: "Translate"})),
    element("pre", {id: "translation"}),
    element("div", {id: "attention"}),
    element("p", {id: "tr-note", className: "note"}));

  function drawAttention(a) {
    const table = element("table", {className: "attention"});
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

  $("translate").onclick = async () => {
    showError("");
    try {
      const res = await postJSON(current.endpoint, {model: current.name, texts: [$("source").value],
                                                    beam: number("beam"), attention: true});
      const out = await res.json();
      $("translation").textContent = out.translations[0];
      drawAttention(out.attention);
      $("tr-note").textContent = "Attention of the greedy translation: a row per output token, " +
        "a column per source token; darker is more weight.";
    } catch (e) {
      showError(e.message);
    }
  };
  return {show(model) { current = model; }};
};
