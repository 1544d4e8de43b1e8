"""Train a tagger (a BiLSTM-CRF over words and their characters), then score and use it.

    python recipes/tagging.py                       # the bundled news sample: people, places
                                                    # and companies, about a minute
    python recipes/tagging.py --data train.conll --val-data dev.conll --test-data test.conll
    python recipes/tagging.py --data train.conllu --val-data dev.conllu   # parts of speech (UPOS)

Every flag of `textrnn train-tagger` works here; those not given come from the preset that
fits the data (the tagger task's recipe presets).
"""
import textrnn
from textrnn.data.schemes import convert
from textrnn.data.tagged import load_tagged
from textrnn.tasks.tag_baseline import MostFrequentTag
from textrnn.tasks.tagger import tagging_metrics

SENTENCES = ["Jordan flew to Paris on Monday with help from Apple .",
             "Paris met Jordan in Georgia , Ford said .",
             "Angela Merkel visited Austin in May ."]


def main(settings):
    # 1. Vocabulary, characters, tags and model: words seen twice or more, every character,
    #    the data's spans trained as BIOES, a BiLSTM over words and a CRF over their tags.
    run = settings.prepare()

    # 2. Training: the one loop; the weights with the best validation F1 are kept.
    result = textrnn.exit_if_interrupted(run.fit(show_progress=not settings.run.quiet))
    describe = textrnn.Tagger.describe
    print(f"--- validation ---\n{describe(result['metrics'])}")
    if "test" in result:
        print(f"--- test ---\n{describe(result['test'])}")

    # 3. For scale: a table of each word's most frequent training tag, which reads no context,
    #    on the same held-out sentences (test, else validation).
    tagger = textrnn.load(result["run_dir"])
    scheme, d = tagger.scheme, settings.data
    read = lambda path, split: load_tagged(path, d.token_column, d.tag_column, d.text_column,  # noqa: E731
                                           d.label_column, split, d.data_config)
    held = read(d.test_data, d.test_split) if d.test_data else \
        read(d.val_data, d.val_split) if d.val_data else None
    if held is not None:
        train = read(d.data, d.split)
        written = lambda tags: [convert(t, scheme) if scheme != "none" else t for t in tags]  # noqa: E731
        guess = MostFrequentTag(train.sentences, train.tags).tag(held.sentences)
        lookup = tagging_metrics(written(held.tags), written(guess), scheme)
        print(f"most-frequent-tag baseline on the same sentences: {'F1' if scheme != 'none' else 'accuracy'} "
              f"{lookup['score']:.4f}")

    # 4. The saved run folder, as `textrnn tag` reads it: three sentences and what it found.
    examples = SENTENCES if "data" not in settings.typed else \
        [" ".join(s) for s in (held.sentences if held else read(d.data, d.split).sentences)[:3]]
    for found in tagger.tag(examples, pretokenized=True):
        print(f"\n{found['text']}")
        if scheme == "none":
            print("  " + " ".join(f"{w}/{t}" for w, t in zip(found["tokens"], found["tags"])))
        for span in found["spans"]:
            print(f"  {span['type']:<4} {span['text']}  (characters {span['start']}-{span['end']})")
    print(f"\nrun folder: {result['run_dir']}")


if __name__ == "__main__":
    settings = textrnn.parse_settings("tagger", description=__doc__.split("\n")[0],
                                      preset=textrnn.presets.for_recipe("tagger", "tagging"))
    textrnn.run_guarded(main, settings, debug=settings.run.debug)
