"""The `textrnn` command: train-lm, sample, train-classifier, predict, evaluate.

Bad input ends with one line on stderr and a non-zero exit; `--debug` shows tracebacks.
"""
import argparse
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path

from .config import ACTIVATIONS, CELLS, POOLINGS, ModelConfig
from .device import PRECISIONS
from .errors import ConfigError, DataError, TextRNNError
from .metrics import format_report
from .pipelines import DataConfig, LabelledDataConfig, train_classifier, train_language_model
from .tokenization import KINDS
from .training import OPTIMIZERS, SCHEDULES, TrainConfig

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130

# A word-level BiLSTM with max pooling: a strong sentence-classification baseline
# (Conneau et al. 2017 found max pooling over BiLSTM states the best of their encoders).
CLASSIFIER_DEFAULTS = dict(embed_dim=300, hidden_size=256, num_layers=1, bidirectional=True,
                           pooling="max", dropout=0.5)
# Adam at a constant 1e-3 and an evaluation per epoch, the best epoch kept (these data
# overfit within a few epochs); clipping at a norm of 5 only guards against explosions
# (typical norms here are 0.5-3).
CLASSIFIER_TRAIN_DEFAULTS = dict(lr=1e-3, batch_size=64, epochs=8, eval_every=0, save_every=0,
                                 warmup_steps=0, weight_decay=0.0, schedule="constant", clip=5.0)


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage block)."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def _defaults(cls, **overrides) -> dict:
    return {f.name: overrides.get(f.name, f.default) for f in fields(cls)
            if f.default is not f.default_factory}


def add_data_args(p, data_default=None):
    g = p.add_argument_group("data")
    g.add_argument("--data", default=data_default, nargs="+", metavar="SOURCE",
                   help="training text: a .txt file, a folder of .txt files, a csv/tsv/jsonl/parquet "
                        "file, or a Hugging Face Hub dataset id; several are read one after another")
    g.add_argument("--val-data", help="validation text (default: the tail of --data)")
    g.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of --data held out for validation, from its end (default 0.1)")
    g.add_argument("--text-column", help="column holding the text in tables and Hub datasets")
    g.add_argument("--split", default="train", help="dataset split for Hub ids (default train)")
    g.add_argument("--data-config", help="dataset configuration name for Hub ids")
    g.add_argument("--tokenizer", choices=KINDS, default=None,
                   help="char (default) for a new model; --init-from reuses its own")
    g.add_argument("--vocab-size", type=int, default=10000, help="word/bpe vocabulary size")
    g.add_argument("--lowercase", action="store_true", help="a new tokenizer lowercases all text")
    g.add_argument("--strip-html", action="store_true",
                   help="a new tokenizer reads <br /> markup (as in IMDb reviews) as a space")
    g.add_argument("--init-from", help="start from this language-model run folder's weights")
    g.add_argument("--extend-vocab", action="store_true",
                   help="with --init-from: add the new text's unseen tokens (mean-initialised)")


def add_text_length_args(g):
    """--max-length and --keep-start: how much of a long text a classifier reads."""
    g.add_argument("--max-length", type=int, default=_defaults(LabelledDataConfig)["max_length"],
                   help="tokens kept per text")
    g.add_argument("--keep-start", dest="keep_end", action="store_false",
                   help="cut a longer text after its first --max-length tokens (by default it "
                        "keeps its last ones, where a review usually gives its verdict)")


def add_labelled_data_args(p, data_default=None):
    d = _defaults(LabelledDataConfig)
    g = p.add_argument_group("data")
    g.add_argument("--data", default=data_default,
                   help="training examples: csv/tsv/jsonl/parquet, a folder with one sub-folder "
                        "of .txt files per class, or a Hugging Face Hub dataset id")
    g.add_argument("--eval-data", help="validation examples (default: --val-fraction of --data)")
    g.add_argument("--test-data", help="test examples, reported after training")
    g.add_argument("--val-fraction", type=float, default=d["val_fraction"])
    g.add_argument("--text-column", help="default: text, sentence, content or review")
    g.add_argument("--label-column", help="default: label, labels, sentiment, class or target")
    g.add_argument("--split", default=d["split"], help="split of --data for Hub ids")
    g.add_argument("--eval-split", default=d["eval_split"], help="split of --eval/--test-data for Hub ids")
    g.add_argument("--data-config", help="dataset configuration name for Hub ids")
    g.add_argument("--tokenizer", choices=KINDS, default=None,
                   help="word (default) for a new model; --init-from reuses its own")
    g.add_argument("--vocab-size", type=int, default=d["vocab_size"])
    g.add_argument("--init-from", help="a language-model run folder: reuse its tokenizer, "
                                       "embedding and recurrent layers (ULMFiT)")
    g.add_argument("--no-lowercase", dest="lowercase", action="store_false")
    g.add_argument("--keep-html", dest="strip_html", action="store_false",
                   help="keep <br /> tags (stripped by default)")
    add_text_length_args(g)
    g.add_argument("--class-weights", action="store_true",
                   help="weight the loss by inverse class frequency (imbalanced data)")


def add_model_args(p, **defaults):
    d = _defaults(ModelConfig, **defaults)
    g = p.add_argument_group("model")
    g.add_argument("--cell", choices=CELLS, default=d["cell"])
    g.add_argument("--activation", choices=ACTIVATIONS, default=d["activation"],
                   help="rnn/elman non-linearity")
    g.add_argument("--num-layers", type=int, default=d["num_layers"])
    g.add_argument("--embed-dim", type=int, default=d["embed_dim"])
    g.add_argument("--hidden-size", type=int, default=d["hidden_size"])
    g.add_argument("--dropout", type=float, default=d["dropout"],
                   help="locked dropout on embeddings, between layers and on the output")
    g.add_argument("--embed-dropout", type=float, default=d["embed_dropout"],
                   help="drop whole tokens from the embedding")
    g.add_argument("--weight-drop", type=float, default=d["weight_drop"],
                   help="DropConnect on the hidden-to-hidden weights")
    g.add_argument("--tie-weights", action=argparse.BooleanOptionalAction, default=d["tie_weights"])
    g.add_argument("--conv-kernel", type=int, default=d["conv_kernel"],
                   help="width of a 1-D convolution before the RNN (0: none)")


def add_lm_model_args(p, **defaults):
    add_model_args(p, **defaults)
    p.add_argument("--adaptive-cutoffs", type=int, nargs="*", default=defaults.get("adaptive_cutoffs", []),
                   metavar="ID", help="adaptive softmax: token ids where tail clusters start, "
                   "e.g. 2000 8000 for a word vocabulary (faster training; none: full softmax)")


def add_classifier_model_args(p, **defaults):
    add_model_args(p, **defaults)
    d = _defaults(ModelConfig, **defaults)
    g = p.add_argument_group("classifier")
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=d["bidirectional"])
    g.add_argument("--pooling", choices=POOLINGS, default=d["pooling"])
    g.add_argument("--head-hidden", type=int, default=d["head_hidden"],
                   help="width of a BatchNorm + ReLU layer before the output (ULMFiT: 50; 0: none)")


TRAIN_HELP = {"eval_every": "steps between evaluations; 0: at the end of each epoch",
              "save_every": "steps between checkpoints; 0: at the end of each epoch",
              "time_budget": "seconds of training, evaluation included; 0: no limit",
              "epochs": "0: no limit", "max_steps": "0: no limit", "clip": "max gradient norm; 0: off",
              "patience": "stop after this many evaluations without gain; 0: never"}


def add_train_args(p, **defaults):
    d = _defaults(TrainConfig, **defaults)
    g = p.add_argument_group("training")
    g.add_argument("--out", required="out" not in defaults, default=defaults.get("out"),
                   help="run folder to write")
    for name, kind in (("batch_size", int), ("bptt", int), ("lr", float), ("weight_decay", float),
                       ("warmup_steps", int), ("clip", float), ("epochs", int), ("max_steps", int),
                       ("time_budget", float), ("eval_every", int), ("save_every", int),
                       ("log_every", int), ("patience", int), ("seed", int)):
        g.add_argument("--" + name.replace("_", "-"), type=kind, default=d[name],
                       help=TRAIN_HELP.get(name))
    g.add_argument("--discriminative-lr", type=float, default=d["discriminative_lr"],
                   help="layer group k below the top trains at lr / this**k (ULMFiT: 2.6)")
    g.add_argument("--gradual-unfreezing", action=argparse.BooleanOptionalAction,
                   default=d["gradual_unfreezing"],
                   help="epoch e trains only the top e+1 layer groups")
    g.add_argument("--unfreeze-warmup", type=float, default=d["unfreeze_warmup"],
                   help="epochs over which a newly unfrozen group's rate rises (0: at once)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d["optimizer"])
    g.add_argument("--schedule", choices=SCHEDULES, default=d["schedule"])
    g.add_argument("--device", default=d["device"], help="auto, cpu, cuda, cuda:N or mps")
    g.add_argument("--precision", choices=PRECISIONS, default=d["precision"],
                   help="bf16 autocast is faster on recent CPUs and GPUs")
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--debug", action="store_true", help="show tracebacks")


def configs_from_args(args, data_cls=DataConfig):
    """(data config, ModelConfig, TrainConfig) from parsed arguments."""
    def pick(cls):
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})
    data = pick(data_cls)
    if isinstance(data.data, list) and len(data.data) == 1:  # --data takes one or several
        data.data = data.data[0]
    return data, pick(ModelConfig), pick(TrainConfig)


def train_lm_from_args(args) -> dict:
    data_cfg, model_cfg, train_cfg = configs_from_args(args)
    return train_language_model(data_cfg, model_cfg, train_cfg, args.out, resume=args.resume,
                                overwrite=args.overwrite, show_progress=not args.quiet,
                                init_from=args.init_from, extend_vocab=args.extend_vocab)


def train_classifier_from_args(args) -> dict:
    data_cfg, model_cfg, train_cfg = configs_from_args(args, LabelledDataConfig)
    return train_classifier(data_cfg, model_cfg, train_cfg, args.out, resume=args.resume,
                            overwrite=args.overwrite, show_progress=not args.quiet,
                            init_from=args.init_from)


def load_classifier(run_dir, device="cpu"):
    from .pretrained import Classifier, load

    model = load(run_dir, device)
    if not isinstance(model, Classifier):
        raise ConfigError(f"{run_dir} holds a language model, not a classifier; use "
                          "`textrnn sample` for it, or pass a classifier run folder")
    return model


def cmd_predict(args):
    clf = load_classifier(args.run_dir, args.device)
    texts = list(args.texts)
    if args.input:
        from .data.text_files import read_text_file
        # "\n" only: str.splitlines() would also break at U+0085, U+2028 and friends.
        lines = read_text_file(Path(args.input)).split("\n")
        texts += [line.rstrip("\r") for line in lines if line.strip()]
        if not texts:
            raise DataError(f"{args.input} holds no text; pass a UTF-8 file with one text per line")
    if not texts:
        raise ConfigError("no text to classify; pass texts as arguments or --input FILE")
    proba = clf.predict_proba(texts, progress=len(texts) > 1000 and not args.quiet)
    for text, p in zip(texts, proba):
        best = int(p.argmax())
        if args.json:
            print(json.dumps({"text": text, "label": clf.labels[best], "probability": float(p[best]),
                              "probabilities": dict(zip(clf.labels, map(float, p)))}))
        else:
            print(f"{clf.labels[best]}\t{p[best]:.4f}\t{text}")


def cmd_evaluate(args):
    """A classifier gets scikit-learn's report; a language model its loss, bpc and perplexity."""
    from .pretrained import Classifier, load

    model = load(args.run_dir, args.device)
    if isinstance(model, Classifier):
        m = model.evaluate(args.data, args.text_column, args.label_column, args.split,
                           progress=not args.quiet)
        print(json.dumps(m) if args.json else format_report(m))
        return
    from .data.sources import open_corpus
    m = model.evaluate_corpus(open_corpus(args.data, args.text_column, args.split))
    print(json.dumps(m) if args.json else
          "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items()))


def add_sampling_args(p, length=500):
    g = p.add_argument_group("sampling")
    g.add_argument("--prompt", default="", help="text to continue")
    g.add_argument("--length", type=int, default=length, help="new tokens per sample")
    g.add_argument("--temperature", type=float, default=0.8, help="0 is greedy")
    g.add_argument("--top-k", type=int, default=0)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--greedy", action="store_true")
    g.add_argument("--num-samples", type=int, default=1)
    g.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")


def sampling_kwargs(args, seed) -> dict:
    return dict(max_new_tokens=args.length, temperature=args.temperature, top_k=args.top_k,
                top_p=args.top_p, greedy=args.greedy, num_samples=args.num_samples,
                seed=seed, stop=args.stop)


def cmd_sample(args):
    from .pretrained import LanguageModel, load

    lm = load(args.run_dir, args.device)
    if not isinstance(lm, LanguageModel):
        raise ConfigError(f"{args.run_dir} holds a classifier, not a language model; use "
                          "`textrnn predict` for it, or pass a language-model run folder")
    stream = args.num_samples == 1 and not args.no_stream
    if stream:
        sys.stdout.write(args.prompt)
        lm.generate(args.prompt, **sampling_kwargs(args, args.seed),
                    on_token=lambda piece: (sys.stdout.write(piece), sys.stdout.flush()))
        sys.stdout.write("\n")
        return
    for i, text in enumerate(lm.generate(args.prompt, **sampling_kwargs(args, args.seed))):
        if args.num_samples > 1:
            print(f"----- sample {i + 1} -----")
        print(text)


def build_parser():
    p = Parser(prog="textrnn", description="Recurrent neural text models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("train-lm", help="train a language model")
    add_data_args(t)
    add_lm_model_args(t)
    add_train_args(t)
    t.set_defaults(func=lambda a: _report(train_lm_from_args(a)))

    s = sub.add_parser("sample", help="generate text from a language-model run folder")
    s.add_argument("run_dir")
    add_sampling_args(s)
    s.add_argument("--seed", type=int, default=None, help="same seed, same text")
    s.add_argument("--device", default="cpu")
    s.add_argument("--no-stream", action="store_true", help="print only when done")
    s.add_argument("--debug", action="store_true")
    s.set_defaults(func=cmd_sample)

    c = sub.add_parser("train-classifier", help="train a text classifier")
    add_labelled_data_args(c)
    add_classifier_model_args(c, **CLASSIFIER_DEFAULTS)
    add_train_args(c, **CLASSIFIER_TRAIN_DEFAULTS)
    c.set_defaults(func=lambda a: _report(train_classifier_from_args(a)))

    pr = sub.add_parser("predict", help="label texts with a classifier run folder")
    pr.add_argument("run_dir")
    pr.add_argument("texts", nargs="*", help="texts to classify")
    pr.add_argument("--input", help="a UTF-8 file with one text per line")
    pr.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_use_args(pr)
    pr.set_defaults(func=cmd_predict)

    ev = sub.add_parser("evaluate", help="score a run folder on data: a classifier's report, "
                                         "or a language model's loss and bits per character")
    ev.add_argument("run_dir")
    ev.add_argument("--data", required=True, help="labelled file, class folder or Hub id")
    ev.add_argument("--text-column")
    ev.add_argument("--label-column")
    ev.add_argument("--split", default="test", help="split for Hub ids (default test)")
    ev.add_argument("--json", action="store_true")
    _add_use_args(ev)
    ev.set_defaults(func=cmd_evaluate)
    return p


def _add_use_args(p):
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true")


def exit_if_interrupted(result: dict) -> dict:
    """A finished run's result; after Ctrl-C or SIGTERM (the run has saved) the program
    ends with 130 or 143, so a script never goes on as if training had completed."""
    if result["status"] == "interrupted":
        sys.exit(128 + int(result["signal"]))
    return result


def _report(result: dict):
    exit_if_interrupted(result)
    print(f"run folder: {result['run_dir']}")
    for split in ("metrics", "test"):
        m = result.get(split)
        if m is None:
            continue
        name = "validation" if split == "metrics" else "test"
        if "confusion_matrix" in m:
            print(f"--- {name} ---\n{format_report(m)}")
        else:
            print(f"{name}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in m.items()))


def run_guarded(func, args):
    """Run func(args); turn textrnn errors into one stderr line and an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return func(args)
    except TextRNNError as exc:
        if getattr(args, "debug", False):
            raise
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except (MemoryError, RuntimeError) as exc:
        # torch reports a failed allocation as a RuntimeError (OutOfMemoryError on GPUs).
        if not _out_of_memory(exc) or getattr(args, "debug", False):
            raise
        sys.stderr.write("error: out of memory; lower --batch-size, --hidden-size or the data size\n")
        sys.exit(EXIT_ERROR)


def _out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate memory" in text


def main(argv=None):
    args = build_parser().parse_args(argv)
    run_guarded(args.func, args)


if __name__ == "__main__":
    main()
