"""Train a translator (an RNN encoder-decoder with attention), then score and show it.

    python recipes/translate.py                     # the bundled dates: words -> ISO digits, a few minutes
    python recipes/translate.py --data train.de train.en --val-data val.de val.en \
        --test-data test.de test.en                 # real parallel text, joint BPE

Every flag of `textrnn train-translator` works here; those not given come from the preset
that fits the data (the translator task's recipe presets).
"""
from pathlib import Path

import textrnn


def main(settings):
    # 1. Tokenizer, data and model: one vocabulary for both sides, pairs in length buckets,
    #    a bidirectional encoder and an attentive decoder.
    run = settings.prepare()

    # 2. Training: the one loop; the weights with the best validation BLEU are kept.
    result = textrnn.exit_if_interrupted(run.fit(show_progress=not settings.run.quiet))
    print(f"validation: {textrnn.Translator.describe(result['metrics'])}")
    if "test" in result:
        print(f"test:\n{textrnn.Translator.describe(result['test'])}")

    # 3. The saved run folder, as `textrnn translate` reads it: held-out sentences, exact
    #    matches and an attention map.
    translator = textrnn.load(result["run_dir"])
    pairs = textrnn.load_pairs(settings.data.test_data or settings.data.val_data or settings.data.data)
    sources, targets = pairs.sources[:1000], pairs.targets[:1000]
    found = translator.translate(sources, beam=5)
    exact = sum(f == t for f, t in zip(found, targets)) / len(targets)
    print(f"\nexact matches, beam 5: {exact:.1%} of {len(targets)} held-out sentences")
    for s, f, t in list(zip(sources, found, targets))[:5]:
        print(f"  {s}\n    -> {f}{'' if f == t else f'   (reference: {t})'}")
    heatmap = Path(result["run_dir"]) / "attention.png"
    translator.plot_attention(sources[0], heatmap)
    print(f"\nrun folder: {result['run_dir']} (attention map: {heatmap})")


if __name__ == "__main__":
    settings = textrnn.parse_settings("translator", description=__doc__.split("\n")[0],
                                      preset=textrnn.presets.for_recipe("translator", "translate"))
    textrnn.run_guarded(main, settings, debug=settings.run.debug)
