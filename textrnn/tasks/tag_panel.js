// The tagger's panel on textrnn's page: a text with the spans found highlighted (each type
// its colour, the type and confidence on hover), or, for tags without spans (parts of
// speech), each word with its tag under it.
"use strict";

window.textrnn.panels.tagger = (host, {$, postJSON, showError, element}) => {
  let current = null;
  const colours = ["#fde68a", "#bfdbfe", "#bbf7d0", "#fecaca", "#ddd6fe", "#fed7aa", "#a5f3fc"];
  const colourOf = {};
  host.append(
    element("label", {htmlFor: "tag-text", textContent: "Text to tag"}),
    element("textarea", {id: "tag-text", rows: 3, placeholder: "Angela Merkel visited Paris in 2019."}),
    element("div", {className: "controls"}, element("button", {id: "tag", textContent: "Tag"})),
    element("p", {id: "tagged", className: "tokens"}),
    element("p", {id: "tag-note", className: "note"}));

  function colour(type) {
    if (!(type in colourOf)) colourOf[type] = colours[Object.keys(colourOf).length % colours.length];
    return colourOf[type];
  }

  function drawSpans(result) {
    const out = $("tagged");
    out.textContent = "";
    // Offsets count characters (code points), as Python does; a JS string counts UTF-16 units.
    const chars = Array.from(result.text);
    const text = (a, b) => chars.slice(a, b).join("");
    let at = 0;
    for (const s of result.spans) {
      if (s.start > at) out.appendChild(document.createTextNode(text(at, s.start)));
      const word = element("mark", {textContent: text(s.start, s.end)});
      word.style.background = colour(s.type);
      const p = result.confidences.slice(s.words[0], s.words[1]);
      word.title = `${s.type} (${(100 * Math.min(...p)).toFixed(1)}%)`;
      out.append(word, element("sup", {textContent: s.type}));
      at = s.end;
    }
    if (at < chars.length) out.appendChild(document.createTextNode(text(at, chars.length)));
  }

  function drawTags(result) {
    const out = $("tagged");
    out.textContent = "";
    result.tokens.forEach((token, i) => {
      const cell = element("span", {className: "tagged-word"},
                           element("span", {textContent: token}),
                           element("small", {textContent: result.tags[i]}));
      cell.style.display = "inline-flex";
      cell.style.flexDirection = "column";
      cell.style.alignItems = "center";
      cell.style.margin = "0 0.35em";
      cell.title = `${(100 * result.confidences[i]).toFixed(1)}%`;
      out.appendChild(cell);
    });
  }

  $("tag").onclick = async () => {
    showError("");
    try {
      const res = await postJSON(current.endpoint, {model: current.name, texts: [$("tag-text").value]});
      const out = await res.json();
      const result = out.results[0];
      if (out.scheme === "none") drawTags(result); else drawSpans(result);
      $("tag-note").textContent = out.scheme === "none"
        ? "Each word's tag under it; hover for its confidence."
        : `${result.spans.length} span(s) found; hover for the type and the lowest confidence of its words.`;
    } catch (e) {
      showError(e.message);
    }
  };
  return {show(model) { current = model; }};
};
