"""Train a sentiment classifier (a BiLSTM over words), then report scikit-learn metrics.

    python recipes/sentiment.py                                   # the bundled reviews, about a minute
    python recipes/sentiment.py --data train.tsv --val-data dev.tsv --test-data test.tsv
    python recipes/sentiment.py --data stanfordnlp/imdb --test-data stanfordnlp/imdb

Every flag of `textrnn train-classifier` works here; those not given come from the preset
that fits the data (the classifier task's recipe presets), ULMFiT's fine-tuning with
--init-from LM_RUN.
"""
import textrnn


def main(settings):
    # 1. Tokenizer, data and model: a word vocabulary learnt from the training texts, the
    #    texts in length buckets, and a BiLSTM with max pooling (or --init-from's LM).
    run = settings.prepare()

    # 2. Training: the one loop; the best validation epoch is kept.
    result = textrnn.exit_if_interrupted(run.fit(show_progress=not settings.run.quiet))

    # 3. Evaluation: scikit-learn's report on the validation (and test) examples.
    print(f"--- validation ---\n{textrnn.format_report(result['metrics'])}")
    if "test" in result:
        print(f"\n--- test ---\n{textrnn.format_report(result['test'])}")

    # 4. Predictions from the saved run folder, exactly as `textrnn predict` would.
    clf = textrnn.load(result["run_dir"])
    examples = ["a gripping story and a superb cast", "the script was not funny",
                "the food was not bad at all", "great visuals but the story was really dull",
                "although the opening was slow, the ending was wonderful"]
    print(f"\nrun folder: {result['run_dir']}")
    for text, label in zip(examples, clf.predict(examples)):
        print(f"{label:>10}  {text}")


if __name__ == "__main__":
    settings = textrnn.parse_settings("classifier", description=__doc__.split("\n")[0],
                                      preset=textrnn.presets.for_recipe("classifier", "sentiment"))
    textrnn.run_guarded(main, settings, debug=settings.run.debug)
