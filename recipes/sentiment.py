"""Train a sentiment classifier (a BiLSTM over words), then report scikit-learn metrics.

    python recipes/sentiment.py                                   # the bundled reviews, about a minute
    python recipes/sentiment.py --data train.tsv --eval-data dev.tsv --test-data test.tsv
    python recipes/sentiment.py --data stanfordnlp/imdb --test-data stanfordnlp/imdb --eval-split test

Every flag of `textrnn train-classifier` works here; those not given come from the
preset below that fits the data.
"""
import time
from pathlib import Path

import textrnn
from textrnn.cli import (CLASSIFIER_DEFAULTS, CLASSIFIER_TRAIN_DEFAULTS, Parser,
                         add_classifier_model_args, add_labelled_data_args, add_train_args,
                         configs_from_args, exit_if_interrupted, run_guarded)
from textrnn.metrics import format_report

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "sentiment_sample.csv"

# ~600 short reviews: a small BiLSTM, many epochs; the best validation epoch is kept.
SAMPLE_PRESET = dict(embed_dim=64, hidden_size=64, num_layers=1, bidirectional=True,
                     pooling="max", dropout=0.3, lr=3e-3, batch_size=16, epochs=25,
                     eval_every=30, save_every=30, warmup_steps=20, val_fraction=0.2,
                     )

# A real corpus (SST-2, IMDb): a word-level BiLSTM with max pooling, dropout 0.5, Adam at a
# constant 1e-3, an evaluation per epoch and the best epoch kept (these overfit within a few).
LARGE_PRESET = dict(CLASSIFIER_DEFAULTS, **CLASSIFIER_TRAIN_DEFAULTS, patience=6, precision="auto")

# --init-from LM_RUN: ULMFiT's fine-tuning (Howard & Ruder 2018): the LM's unidirectional
# encoder, concat pooling, discriminative learning rates (/2.6 per layer group down), a
# slanted triangular schedule and gradual unfreezing. Each can be switched off by its flag;
# --head-hidden 50 adds ULMFiT's BatchNorm + ReLU head (with --lr 3e-3: see finetune.py).
ULMFIT_PRESET = dict(bidirectional=False, pooling="concat", discriminative_lr=2.6,
                     gradual_unfreezing=True, schedule="stlr", lr=4e-3, dropout=0.3)


def parse_args(argv=None):
    parser = Parser(description=__doc__.split("\n")[0])
    add_labelled_data_args(parser)
    add_classifier_model_args(parser)
    add_train_args(parser, out=None)
    given, _ = parser.parse_known_args(argv)
    preset = SAMPLE_PRESET if given.data is None else LARGE_PRESET
    if given.init_from:
        preset = dict(preset, **ULMFIT_PRESET)
    parser.set_defaults(**preset)
    args = parser.parse_args(argv)
    args.data = args.data or str(BUNDLED)
    args.out = args.out or f"runs/sentiment-{time.strftime('%Y%m%d-%H%M%S')}"
    return args


def main(args):
    # 1. Train: labelled text -> word tokenizer -> BiLSTM classifier -> the training loop.
    data_cfg, model_cfg, train_cfg = configs_from_args(args, textrnn.LabelledDataConfig)
    result = exit_if_interrupted(textrnn.train_classifier(
        data_cfg, model_cfg, train_cfg, args.out, resume=args.resume, overwrite=args.overwrite,
        show_progress=not args.quiet, init_from=args.init_from))

    # 2. Evaluate: scikit-learn's report on the validation (and test) examples.
    print(f"--- validation ---\n{format_report(result['metrics'])}")
    if "test" in result:
        print(f"\n--- test ---\n{format_report(result['test'])}")

    # 3. Use the saved run folder, exactly as `textrnn predict` would.
    clf = textrnn.load(result["run_dir"])
    examples = ["what a great film, I loved every minute", "dull, and far too long",
                "not bad at all", "good acting but the plot is a mess"]
    print(f"\nrun folder: {result['run_dir']}")
    for text, label in zip(examples, clf.predict(examples)):
        print(f"{label:>10}  {text}")


if __name__ == "__main__":
    run_guarded(main, parse_args())
