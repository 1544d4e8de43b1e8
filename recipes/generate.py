"""Train a character-level LSTM language model, then sample text from it.

    python recipes/generate.py                          # the bundled play, about 3 minutes, sized to the machine
    python recipes/generate.py --data input.txt         # a large corpus: 2x768 LSTM, 15-minute budget
    python recipes/generate.py --data tiny_shakespeare --text-column text   # a Hub dataset id

Every flag of `textrnn train-lm` works here; those not given come from the preset that
fits the data (the language-model task's recipe presets: the bundled sample, or a
corpus of your own).
"""
import textrnn


def main(settings):
    # 1. Tokenizer, data and model: a character vocabulary learnt from the text, the text
    #    cut into BPTT windows over batch columns, and an LSTM (or those of --resume).
    run = settings.prepare()

    # 2. Training: the one loop; the run folder keeps the best validation weights.
    result = textrnn.exit_if_interrupted(run.fit(show_progress=not settings.run.quiet))

    # 3. Evaluation: the validation text read once as a stream (also in metrics.json).
    m = result["metrics"]
    print(f"validation: {m['loss']:.4f} nats/token, {m['bpc']:.4f} bits/char, "
          f"perplexity {m['perplexity']:.2f}  ->  {result['run_dir']}")

    # 4. Samples from the saved run folder, exactly as `textrnn sample` would.
    lm = textrnn.load(result["run_dir"])
    for i, text in enumerate(lm.sample(settings.sampling)):
        print(f"\n----- sample {i + 1} -----\n{text}")


if __name__ == "__main__":
    settings = textrnn.parse_settings("lm", description=__doc__.split("\n")[0],
                                      preset=textrnn.presets.for_recipe("lm", "generate"),
                                      sampling={"max_new_tokens": 400, "num_samples": 3})
    textrnn.run_guarded(main, settings, debug=settings.run.debug)
