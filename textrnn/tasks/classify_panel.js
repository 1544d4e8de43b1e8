// The classifier's panel on textrnn's page: a text, its labels' probabilities as bars (and
// whether they are calibrated), and each token's contribution to the label shaded green (for
// it) or red (against it).
"use strict";

window.textrnn.panels.classifier = (host, {$, postJSON, showError, element}) => {
  let current = null;
  host.append(
    element("label", {htmlFor: "text", textContent: "Text"}),
    element("textarea", {id: "text", rows: 4, placeholder: "A sentence or a review to label"}),
    element("div", {className: "controls"}, element("button", {id: "classify", textContent: "Classify"})),
    element("div", {id: "bars"}),
    element("p", {id: "calibration", className: "note"}),
    element("p", {id: "tokens", className: "tokens"}),
    element("p", {id: "method", className: "note"}));

  function drawBars(result) {
    const bars = $("bars");
    bars.textContent = "";
    for (const [label, p] of Object.entries(result.probabilities)) {
      const fill = element("div", {className: "fill"});
      fill.style.width = (100 * p).toFixed(1) + "%";
      bars.appendChild(element("div", {className: "bar" + (label === result.label ? " best" : "")},
                               element("span", {textContent: label}),
                               element("div", {className: "track"}, fill),
                               element("span", {textContent: (100 * p).toFixed(1) + "%"})));
    }
  }

  function drawTokens(text, explanation) {
    const out = $("tokens");
    out.textContent = "";
    const top = Math.max(1e-6, ...explanation.tokens.map((t) => Math.abs(t.contribution)));
    let at = 0;
    for (const t of explanation.tokens) {
      if (t.start > at) out.appendChild(document.createTextNode(text.slice(at, t.start)));
      const span = element("span", {textContent: text.slice(t.start, t.end)});
      const a = Math.min(1, Math.abs(t.contribution) / top) * 0.6;
      span.style.background = t.contribution >= 0 ? `rgba(22,163,74,${a})` : `rgba(220,38,38,${a})`;
      span.title = (t.contribution >= 0 ? "+" : "") + t.contribution.toFixed(4);
      out.appendChild(span);
      at = Math.max(at, t.end);
    }
    if (at < text.length) out.appendChild(document.createTextNode(text.slice(at)));
  }

  $("classify").onclick = async () => {
    showError("");
    try {
      const res = await postJSON(current.endpoint, {model: current.name, texts: [$("text").value], explain: true});
      const answer = await res.json();
      const result = answer.results[0];
      drawBars(result);
      $("calibration").textContent = answer.calibrated
        ? "Calibrated probabilities: the logits divided by a temperature of " + answer.temperature +
          ", fitted on validation data (Guo et al. 2017)."
        : "Raw probabilities: no temperature was fitted for this model.";
      drawTokens($("text").value, result.explanation);
      $("method").textContent = "Highlighted for \u201c" + result.label + "\u201d by " +
        result.explanation.method + " (green: for it, red: against it).";
    } catch (e) {
      showError(e.message);
    }
  };
  return {show(model) { current = model; }};
};
