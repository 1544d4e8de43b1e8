"""Train a character-level LSTM language model, then sample text from it.

    python recipes/generate.py                          # the bundled play, about 2 minutes on a laptop CPU
    python recipes/generate.py --data input.txt         # a large corpus: 2x512 LSTM, 15-minute budget
    python recipes/generate.py --data tiny_shakespeare --text-column text   # a Hub dataset id

Every flag of `textrnn train-lm` works here; those not given come from the preset below
that fits the data (the bundled sample, or a corpus of your own).
"""
import sys
import time
from pathlib import Path

import textrnn
from textrnn.cli import (Parser, add_data_args, add_lm_model_args, add_sampling_args, add_train_args,
                         configs_from_args, exit_if_interrupted, run_guarded, sampling_kwargs)

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "tiny_play.txt"

# The bundled play is ~65k characters: a mid-sized model, strong dropout, and a short
# time budget; the best validation checkpoint is kept, so overfitting late costs nothing.
SAMPLE_PRESET = dict(hidden_size=384, embed_dim=64, num_layers=2, dropout=0.3, batch_size=32,
                     bptt=128, lr=3e-3, warmup_steps=50, time_budget=100.0, eval_every=100,
                     save_every=200, precision="auto")

# A corpus of a megabyte or more (e.g. Tiny Shakespeare): a 2x768 LSTM sized so that a
# 15-minute budget on 2 modern CPU cores covers ~14 passes over 1 MB, bf16 autocast where
# the hardware has it, and a cosine schedule driven by wall time so the learning rate has
# decayed exactly when the budget ends.
LARGE_PRESET = dict(hidden_size=768, embed_dim=128, num_layers=2, dropout=0.3, batch_size=64,
                    bptt=128, lr=3e-3, warmup_steps=200, time_budget=900.0, eval_every=250,
                    save_every=250, precision="auto")


def parse_args(argv=None):
    parser = Parser(description=__doc__.split("\n")[0])
    add_data_args(parser)
    add_lm_model_args(parser)
    add_train_args(parser, out=None)
    add_sampling_args(parser, length=400)
    parser.set_defaults(num_samples=3)
    given, _ = parser.parse_known_args(argv)
    preset = SAMPLE_PRESET if given.data is None else LARGE_PRESET
    parser.set_defaults(**preset)
    args = parser.parse_args(argv)
    named = {a.split("=")[0] for a in (sys.argv[1:] if argv is None else argv)}
    if named & {"--epochs", "--max-steps"} and "--time-budget" not in named:
        args.time_budget = 0.0  # an explicit length replaces the preset's time budget
    args.data = args.data or str(BUNDLED)
    args.out = args.out or f"runs/generate-{time.strftime('%Y%m%d-%H%M%S')}"
    return args


def main(args):
    # 1. Train: text -> character tokenizer -> LSTM -> the training loop -> run folder.
    data_cfg, model_cfg, train_cfg = configs_from_args(args)
    textrnn.SamplingConfig(**sampling_kwargs(args, args.seed)).validate()  # before, not after, training
    result = exit_if_interrupted(textrnn.train_language_model(
        data_cfg, model_cfg, train_cfg, args.out, resume=args.resume, overwrite=args.overwrite,
        show_progress=not args.quiet, init_from=args.init_from, extend_vocab=args.extend_vocab))

    # 2. Evaluate: the validation text read once as a stream (also in metrics.json).
    m = result["metrics"]
    print(f"validation: {m['loss']:.4f} nats/token, {m['bpc']:.4f} bits/char, "
          f"perplexity {m['perplexity']:.2f}  ->  {result['run_dir']}")

    # 3. Sample from the saved run folder, exactly as `textrnn sample` would.
    lm = textrnn.load(result["run_dir"])
    for i, text in enumerate(lm.generate(args.prompt, **sampling_kwargs(args, args.seed))):
        print(f"\n----- sample {i + 1} -----\n{text}")


if __name__ == "__main__":
    run_guarded(main, parse_args())
