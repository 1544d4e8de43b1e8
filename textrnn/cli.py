"""The `textrnn` command: a training command and a use command per task (`train-<task>`
and its verb), then evaluate, export, serve and push on run folders (or Hub model ids).
Every command and its flags come from the tasks in TASKS and their settings' dataclasses.

Bad input ends with one line on stderr and a non-zero exit; `--debug` shows tracebacks.
"""
import json
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from .checkpoint import load
from .commands import Parser, UseOptions, add_training_flags, exit_if_interrupted, run_guarded, settings_from
from .errors import ConfigError, render, setting_name
from .export import FORMATS as EXPORT_FORMATS, export_onnx
from .hub import display_name
from .publish import push
from .run_files import EXPORTED
from .serve import ServeConfig, serve
from .settings import add_flags, check, resolve, setting
from .tasks import TASKS, load_plugins, task_of


OR_HUB = "or Hub model id (user/name[@revision])"


@dataclass
class EvaluateOptions:
    """`textrnn evaluate`'s own settings; each task adds its Evaluation's."""
    data: list = setting([], "the data to score, as the run's task reads it: a file, folder or Hub "
                         "id (or two files, where the task reads pairs)", nargs="+", required=True)
    json: bool = setting(False, "the scores as one JSON object")
    eval_batch_size: int = setting(0, "examples per evaluation batch; 0: the task's own", low=0,
                                   high=1 << 20)


@dataclass
class ExportOptions:
    format: str = setting("onnx", "the graph's format", choices=EXPORT_FORMATS)
    out: str | None = setting(None, "the file to write (default: RUN_DIR/step.onnx; for a Hub "
                              "model, NAME.onnx in this folder)")


@dataclass
class PushOptions:
    """`textrnn push`'s settings."""
    private: bool = setting(False, "create the repository private (an existing one keeps its visibility)")
    revision: str | None = setting(None, "the branch to commit to (created if missing; default main)")
    with_state: bool = setting(False, "also upload training_state.pt, so others can --resume the run")
    license: str | None = setting(None, "the license to state on the model card (a Hub license id, "
                                  "e.g. apache-2.0 or cc-by-4.0)")
    language: list = setting([], "the language(s) of the text it models, as ISO codes, for the model "
                             "card (e.g. en)", nargs="+")
    message: str | None = setting(None, "the commit message")


def train_command(task: str, given: dict) -> dict:
    if "out" not in given:
        raise ConfigError(f"no run folder: pass {setting_name('out', 'DIR')}")
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


def load_for(task, given: dict):
    """The run folder a use command names, as `task`'s loaded class (else one line saying
    which command its run wants)."""
    run = load(given["run_dir"], resolve(UseOptions, given).device)
    if not isinstance(run, task.Loaded):
        verb = task_of(run).verb
        raise ConfigError(f"{given['run_dir']} holds a {run.noun}, not a {task.Loaded.noun}; use "
                          f"`textrnn {verb}` for it, or pass another run folder")
    return run


def use_command(task, given: dict):
    """A task's use verb: its settings resolved and checked, then the run loaded and used."""
    settings = check(resolve(task.Use, {**task.use_defaults, **given}))  # before the run loads
    run = load_for(task, given)

    def write(text: str):
        sys.stdout.write(text)
        sys.stdout.flush()
    task.use(run, settings, write, progress=not resolve(UseOptions, given).quiet)


def evaluate_command(given: dict):
    """The run's own task scores the data (Task.Evaluation, Loaded.evaluate_source)."""
    options, use = check(resolve(EvaluateOptions, given)), resolve(UseOptions, given)
    run = load(given["run_dir"], use.device)
    task = task_of(run)
    own = {f.name for f in fields(task.Evaluation)}
    every = {f.name for t in TASKS.values() for f in fields(t.Evaluation)}
    foreign = sorted(set(given) & every - own)
    if foreign:
        raise ConfigError(f"{setting_name(foreign[0])} does not apply to a {run.noun}; its "
                          f"evaluation takes {', '.join(setting_name(n) for n in sorted(own)) or 'no more'}")
    settings = check(resolve(task.Evaluation, given))
    size = options.eval_batch_size or task.eval_batch_size
    metrics = run.evaluate_source(options.data, settings, not use.quiet, size)
    print(json.dumps(metrics) if options.json else run.describe(metrics))


def export_command(given: dict):
    """The run's recurrent step as an ONNX graph (export.py says its inputs)."""
    run, ref = load(given["run_dir"], "cpu"), given["run_dir"]
    local = Path(ref).exists()  # a Hub model's folder is its cache's: never written to
    out = Path(given.get("out") or (Path(ref) / EXPORTED if local else f"{display_name(ref)}.onnx"))
    print(f"wrote {export_onnx(run, out)}")


def push_command(given: dict):
    """The run folder and its model card, as one commit to a Hub model repository."""
    o = check(resolve(PushOptions, given))
    url = push(given["run_dir"], given["repo_id"], o.private, o.revision, o.with_state, o.license,
               o.language, o.message)
    print(f"pushed {given['run_dir']} to {url}")


def serve_command(given: dict):
    """A page and a JSON API for the run folders, until Ctrl+C."""
    cfg = check(resolve(ServeConfig, given))
    serve(given["run_dirs"], cfg, announce=lambda line: print(render(line, command_line=True), flush=True))


def build_parser():
    p = Parser(prog="textrnn", description="Recurrent neural text models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, task in TASKS.items():
        t = sub.add_parser(task.command, help=f"train a {task.Loaded.noun}",
                           description=task_description(task))
        add_training_flags(t, name, task.command_defaults)
        t.set_defaults(func=lambda given, name=name: report(name, train_command(name, given)))
    for task in TASKS.values():
        u = sub.add_parser(task.verb, help=task.verb_help, description=sentence(task.verb_help))
        u.add_argument("run_dir", help=f"a {task.Loaded.noun}'s run folder {OR_HUB}")
        add_flags(u, task.Use, task.verb, task.use_defaults)
        add_flags(u, UseOptions, "run folder")
        u.set_defaults(func=lambda given, task=task: use_command(task, given))
    _add_evaluate(sub)
    _add_deploy_commands(sub)
    return p


def sentence(text: str) -> str:
    """A one-line help text as a --help page's description: capitalised, with a full stop."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def task_description(task) -> str:
    """`train-<task> --help`'s description: the first line of the task's docstring (which says
    what it trains), else one made from its noun."""
    first = (task.__doc__ or "").strip().split("\n")[0]
    return sentence(first or f"train a {task.Loaded.noun} on its data")


def _add_evaluate(sub):
    scores = "; ".join(f"{t.Loaded.noun}: {(t.Evaluation.__doc__ or '').split(': ', 1)[-1].rstrip('.')}"
                       for t in TASKS.values())
    ev = sub.add_parser("evaluate", help=f"score a run folder on data ({scores})",
                        description=sentence(f"score a run folder on data, as its task scores it "
                                             f"({scores})"))
    ev.add_argument("run_dir", help=f"a run folder of any task {OR_HUB}")
    add_flags(ev, EvaluateOptions, "evaluation")
    taken = set()
    for task in TASKS.values():
        add_flags(ev, task.Evaluation, f"{task.Loaded.noun}", taken=taken)
    add_flags(ev, UseOptions, "run folder")
    ev.set_defaults(func=evaluate_command)


def _add_deploy_commands(sub):
    """export and serve: a run folder taken elsewhere, or shown."""
    what = "write a run's one recurrent step as an ONNX graph"
    ex = sub.add_parser("export", help=what, description=sentence(f"{what}, which onnxruntime (or "
                        "any ONNX runtime) runs without Python or textrnn"))
    ex.add_argument("run_dir", help=f"a run folder whose model steps one token at a time {OR_HUB}")
    add_flags(ex, ExportOptions, "export")
    add_flags(ex, UseOptions, "run folder", only=("debug",))
    ex.set_defaults(func=export_command)

    what = "a web page and JSON API for run folders (pip install 'textrnn[serve]')"
    sv = sub.add_parser("serve", help=what, description=sentence(
        f"{what}: a tab per run folder at /, an endpoint per task under /v1, until Ctrl+C"))
    sv.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help=f"the run folders to serve, each {OR_HUB}")
    add_flags(sv, ServeConfig, "server")
    add_flags(sv, UseOptions, "run folders", only=("debug",))
    sv.set_defaults(func=serve_command)

    what = "upload a run folder to the Hugging Face Hub with a model card"
    pu = sub.add_parser("push", help=what, description=sentence(
        f"{what} (weights, config, encoding, manifest, metrics, log, plots; never the resume state "
        "unless --with-state), after checking it as loading does; log in first with `hf auth login` "
        "or HF_TOKEN"))
    pu.add_argument("run_dir", help="the run folder to upload")
    pu.add_argument("repo_id", help="the Hub model id to upload to: user/name (or org/name)")
    add_flags(pu, PushOptions, "push")
    add_flags(pu, UseOptions, "run folder", only=("debug",))
    pu.set_defaults(func=push_command)


def main(argv=None):
    load_plugins()  # tasks and cells of other packages get their commands and flags too
    args = build_parser().parse_args(argv)
    given = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    run_guarded(args.func, given, debug=given.get("debug", False))


if __name__ == "__main__":
    main()
