// The language model's panel on textrnn's page: a prompt, the sampling settings, and the
// text streamed in as server-sent events, with a stop button.
"use strict";

window.textrnn.panels.lm = (host, {$, postJSON, readEvents, showError, number, element}) => {
  let current = null;
  let running = null;  // the AbortController of the generation in flight
  const field = (label, id, attrs) => element("label", {}, label + " ", element("input", {id, type: "number", ...attrs}));
  host.append(
    element("label", {htmlFor: "prompt", textContent: "Prompt"}),
    element("textarea", {id: "prompt", rows: 3, placeholder: "Text to continue (empty: start afresh)"}),
    element("div", {className: "controls"},
            field("Temperature", "temperature", {min: 0, max: 5, step: 0.05}),
            field("Top-k", "top_k", {min: 0, step: 1}),
            field("Top-p", "top_p", {min: 0.01, max: 1, step: 0.01}),
            field("Length", "length", {min: 1, step: 1}),
            field("Seed", "seed", {min: 0, step: 1, placeholder: "random"}),
            element("button", {id: "generate", textContent: "Generate"}),
            element("button", {id: "stop", className: "secondary", textContent: "Stop", disabled: true})),
    element("pre", {id: "output"}, element("span", {id: "shown-prompt"}), element("span", {id: "generated"})),
    element("p", {id: "lm-status", className: "note"}));
  $("output").dataset.state = "idle";

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
      const res = await postJSON(current.endpoint, body, running.signal);
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

  // The fields start at the server's defaults (its request's, which are `textrnn sample`'s),
  // once: the same for every language model, and a value typed since is kept.
  const fieldOf = {max_tokens: "length", temperature: "temperature", top_k: "top_k", top_p: "top_p"};
  let filled = false;
  function fillDefaults(inputs) {
    for (const input of inputs) {
      if (fieldOf[input.name] && input.default !== null) $(fieldOf[input.name]).value = input.default;
    }
    filled = true;
  }

  $("generate").onclick = generate;
  $("stop").onclick = () => running && running.abort();
  return {show(model) { current = model; if (!filled) fillDefaults(model.inputs); }};
};
