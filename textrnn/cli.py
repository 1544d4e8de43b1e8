"""The `textrnn` command: a training command per task (train-lm, train-classifier, ...),
then sample, predict, forecast, translate, evaluate, export and serve on run folders.

Bad input ends with one line on stderr and a non-zero exit; `--debug` shows tracebacks.
"""
import json
import sys
from pathlib import Path

from .checkpoint import load
from .commands import Parser, add_training_flags, exit_if_interrupted, run_guarded, settings_from
from .data.text_files import read_lines
from .errors import ConfigError, DataError
from .generation import SamplingConfig
from .settings import add_flags, check, resolve
from .tasks import TASKS, Classifier, Forecaster, LanguageModel, Translator
from .data.series import FILLS, read_frame
from .export import FORMATS as EXPORT_FORMATS, export_onnx
from .files import write_text
from .serve import ServeConfig, serve

SAMPLE_DEFAULTS = {"max_new_tokens": 500, "temperature": 0.8}
USE = {LanguageModel: "sample", Classifier: "predict", Forecaster: "forecast",
       Translator: "translate"}  # a run's own command


def train_command(task: str, given: dict) -> dict:
    if "out" not in given:
        raise ConfigError("no run folder: pass --out DIR")
    settings = settings_from(task, given, TASKS[task].command_defaults)
    return settings.prepare().fit(show_progress=not settings.run.quiet)


def report(task: str, result: dict):
    exit_if_interrupted(result)
    describe = TASKS[task].Loaded.describe
    print(f"run folder: {result['run_dir']}")
    for key, name in (("metrics", "validation"), ("test", "test")):
        if key in result:
            text = describe(result[key])
            print(f"--- {name} ---\n{text}" if "\n" in text else f"{name}: {text}")


def _load(run_dir, device, wanted: type):
    model = load(run_dir, device)
    if not isinstance(model, wanted):
        use = USE.get(type(model), "evaluate")
        raise ConfigError(f"{run_dir} holds a {model.noun}, not a {wanted.noun}; use "
                          f"`textrnn {use}` for it, or pass another run folder")
    return model


def cmd_forecast(args):
    """The next horizon rows after the last lookback rows of --data, as CSV."""
    for path in (args.output, args.plot):
        if path and not Path(path).resolve().parent.is_dir():
            raise ConfigError(f"the folder of {path} does not exist; create it or choose another path")
    fc = _load(args.run_dir, args.device, Forecaster)
    frame = read_frame(args.data)
    table = fc.forecast(frame, fill=args.fill)
    if args.plot:
        fc.plot(frame, args.plot, fill=args.fill)
    if args.output:
        write_text(Path(args.output), table.to_csv(index=False))
    else:
        sys.stdout.write(table.to_csv(index=False))


def _texts(args, doing: str) -> list[str]:
    """The texts given as arguments, then each non-empty line of --input."""
    texts = list(args.texts)
    if args.input:
        texts += [line for line in read_lines(Path(args.input)) if line.strip()]
        if not texts:
            raise DataError(f"{args.input} holds no text; pass a UTF-8 file with one text per line")
    if not texts:
        raise ConfigError(f"no text to {doing}; pass texts as arguments or --input FILE")
    return texts


def cmd_predict(args):
    clf = _load(args.run_dir, args.device, Classifier)
    texts = _texts(args, "classify")
    proba = clf.predict_proba(texts, progress=len(texts) > 1000 and not args.quiet)
    for text, p in zip(texts, proba):
        best = int(p.argmax())
        if args.json:
            print(json.dumps({"text": text, "label": clf.labels[best], "probability": float(p[best]),
                              "probabilities": dict(zip(clf.labels, map(float, p)))}))
        else:
            print(f"{clf.labels[best]}\t{p[best]:.4f}\t{text}")


def cmd_translate(args):
    if args.plot_attention and not Path(args.plot_attention).resolve().parent.is_dir():
        raise ConfigError(f"the folder of {args.plot_attention} does not exist; create it or "
                          "choose another path")
    tr = _load(args.run_dir, args.device, Translator)
    texts = _texts(args, "translate")
    out = tr.translate(texts, beam=args.beam, length_penalty=args.length_penalty,
                       temperature=args.temperature, seed=args.seed)
    for text, translation in zip(texts, out):
        print(json.dumps({"source": text, "translation": translation}, ensure_ascii=False)
              if args.json else translation)
    if args.plot_attention:
        tr.plot_attention(texts[0], args.plot_attention)


def cmd_evaluate(args):
    """The run's own task scores the data: a classifier's report, an LM's loss and bpc, a
    translator's BLEU and chrF."""
    model = load(args.run_dir, args.device)
    if not isinstance(model, Translator) and len(args.data) != 1:
        raise ConfigError(f"--data takes one source for a {model.noun}, got {len(args.data)}")
    data = args.data if isinstance(model, Translator) else args.data[0]
    m = model.evaluate_source(data, args.text_column, args.label_column, args.split,
                              progress=not args.quiet)
    print(json.dumps(m) if args.json else model.describe(m))


def cmd_sample(args):
    lm = _load(args.run_dir, args.device, LanguageModel)
    cfg = resolve(SamplingConfig, {**SAMPLE_DEFAULTS, **vars(args)})
    if cfg.num_samples == 1 and not args.no_stream:
        started = []  # the prompt is written with the first new text, once nothing can fail

        def show(piece):
            sys.stdout.write(("" if started else cfg.prompt) + piece)
            sys.stdout.flush()
            started.append(True)
        lm.sample(cfg, on_token=show)
        sys.stdout.write(("" if started else cfg.prompt) + "\n")
        return
    for i, text in enumerate(lm.sample(cfg)):
        if cfg.num_samples > 1:
            print(f"----- sample {i + 1} -----")
        print(text)


def cmd_export(args):
    """A language model's recurrent step as an ONNX graph (export.py says its inputs)."""
    lm = load(args.run_dir, "cpu")
    out = Path(args.out) if args.out else Path(args.run_dir) / "step.onnx"
    if not out.resolve().parent.is_dir():
        raise ConfigError(f"the folder of {out} does not exist; create it or choose another --out")
    print(f"wrote {export_onnx(lm, out)}")


def cmd_serve(args):
    """A page and a JSON API for the run folders, until Ctrl+C."""
    cfg = check(resolve(ServeConfig, vars(args)))
    serve(args.run_dirs, cfg, announce=lambda line: print(line, flush=True))


def build_parser():
    p = Parser(prog="textrnn", description="Recurrent neural text models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, kind in TASKS.items():
        t = sub.add_parser(kind.command, help=f"train a {kind.Loaded.__name__} model",
                           description=(kind.__doc__ or "").split("\n")[0])
        add_training_flags(t, name, kind.command_defaults)
        t.set_defaults(func=lambda a, name=name: report(name, train_command(name, _given(a))))

    s = sub.add_parser("sample", help="generate text from a language-model run folder")
    s.add_argument("run_dir")
    add_flags(s, SamplingConfig, "sampling", SAMPLE_DEFAULTS)
    s.add_argument("--no-stream", action="store_true", help="print only when done")
    s.add_argument("--device", default="cpu")
    s.add_argument("--debug", action="store_true")
    s.set_defaults(func=cmd_sample)

    pr = _text_command(sub, "predict", "label texts with a classifier run folder", "classify")
    pr.set_defaults(func=cmd_predict)

    tr = _text_command(sub, "translate", "translate texts with a translator run folder", "translate")
    tr.add_argument("--beam", type=int, default=5, help="beam size; 1: greedy (default: 5)")
    tr.add_argument("--length-penalty", type=float, default=None,
                    help="alpha of Wu et al. (2016)'s length penalty (default: the one chosen "
                         "on validation after training; 0.6 for a run that chose none)")
    tr.add_argument("--temperature", type=float, default=0.0,
                    help="sample at this temperature instead (with --beam 1); 0: off")
    tr.add_argument("--seed", type=int, help="seed for sampling")
    tr.add_argument("--plot-attention", metavar="PNG", help="save the first text's attention map")
    tr.set_defaults(func=cmd_translate)

    fc = sub.add_parser("forecast", help="forecast the next rows with a forecaster run folder")
    fc.add_argument("run_dir")
    fc.add_argument("--data", required=True, help="recent rows with the run's columns (at least "
                    "its lookback): csv/tsv/jsonl/parquet or a Hub id")
    fc.add_argument("--output", help="write the forecast here as CSV (default: print it)")
    fc.add_argument("--plot", help="also save a PNG of the recent rows and the forecast")
    fc.add_argument("--fill", choices=FILLS, help="fill empty cells (default: refuse)")
    _add_use_args(fc)
    fc.set_defaults(func=cmd_forecast)

    _add_deploy_commands(sub)
    ev = sub.add_parser("evaluate", help="score a run folder on data: a classifier's report, a "
                        "language model's loss and bits per character, a forecaster's MSE and "
                        "MAE, a translator's BLEU and chrF")
    ev.add_argument("run_dir")
    ev.add_argument("--data", required=True, nargs="+", help="labelled file, class folder, text, "
                    "series or Hub id; for a translator also two text files (source, target)")
    ev.add_argument("--text-column")
    ev.add_argument("--label-column")
    ev.add_argument("--split", default="test", help="split for Hub ids (default test)")
    ev.add_argument("--json", action="store_true")
    _add_use_args(ev)
    ev.set_defaults(func=cmd_evaluate)
    return p


def _add_deploy_commands(sub):
    """export and serve: a run folder taken elsewhere, or shown."""
    ex = sub.add_parser("export", help="write a language model's recurrent step as an ONNX graph")
    ex.add_argument("run_dir")
    ex.add_argument("--format", choices=EXPORT_FORMATS, default="onnx")
    ex.add_argument("--out", help="the file to write (default: RUN_DIR/step.onnx)")
    ex.add_argument("--debug", action="store_true")
    ex.set_defaults(func=cmd_export)

    sv = sub.add_parser("serve", help="a web page and JSON API for run folders (pip install "
                        "'textrnn[serve]')")
    sv.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    add_flags(sv, ServeConfig, "server")
    sv.add_argument("--debug", action="store_true")
    sv.set_defaults(func=cmd_serve)


def _text_command(sub, name: str, help_: str, verb: str):
    """A command over a run folder and texts: as arguments, or --input FILE's lines."""
    p = sub.add_parser(name, help=help_)
    p.add_argument("run_dir")
    p.add_argument("texts", nargs="*", help=f"texts to {verb}")
    p.add_argument("--input", help="a UTF-8 file with one text per line")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_use_args(p)
    return p


def _given(args) -> dict:
    return {k: v for k, v in vars(args).items() if k not in ("func", "command")}


def _add_use_args(p):
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true")


def main(argv=None):
    args = build_parser().parse_args(argv)
    run_guarded(args.func, args, debug=getattr(args, "debug", False))


if __name__ == "__main__":
    main()
