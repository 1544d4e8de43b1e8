"""A run folder's model card: README.md, as the Hugging Face Hub shows it.

YAML metadata first (huggingface_hub's ModelCardData: library_name textrnn, the task's
pipeline tag, language and license as the user states them, Hub datasets, and every
figure of metrics.json as a model-index result with its split), then what the model is,
how to load it, the command that trained it (rebuilt from training_config.json and
config.json: the settings that differ from the command's defaults), its results, its
figures and its limitations. Training writes it at the end of a run, `save_pretrained`
beside the weights, and `textrnn push` again with the Hub id, license and language given.
"""
import logging
import math
import shlex
from dataclasses import fields
from pathlib import Path

from safetensors import safe_open

from .config import EncoderConfig
from .errors import first_line
from .files import read_json, write_text
from .run_files import CARD, CONFIG, METRICS, SETTINGS, WEIGHTS
from .settings import default_of, flag_name
from .tasks import TASKS

log = logging.getLogger("textrnn")
SPLITS = {"val": "validation", "test": "test"}  # metrics.json's sections that hold a split's figures


def parameters(run_dir: Path) -> int | None:
    """The weights' count from the safetensors header (no tensor is read), if there are weights."""
    try:
        with safe_open(str(run_dir / WEIGHTS), framework="pt") as f:
            return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    except Exception:  # a card describes what it can; loading the run is what verifies it
        return None


def data_names(settings: dict) -> list[str]:
    """The --data values the run trained on."""
    values = (settings.get("data") or {}).get("data") or []
    return [str(v) for v in (values if isinstance(values, list) else [values])]


def hub_datasets(settings: dict) -> list[str]:
    """The training data that names a Hub dataset rather than a file here."""
    return [v for v in data_names(settings) if not Path(v).exists()
            and not v.startswith(("/", ".", "~")) and not Path(v).suffix]


def results(metrics: dict) -> list[tuple[str, str, float]]:
    """(split, metric, value) of every number metrics.json reports for a split."""
    out = []
    for key, split in SPLITS.items():
        for name, value in (metrics.get(key) or {}).items():
            if isinstance(value, float) and math.isfinite(value):
                out.append((split, name, value))
    return out


def _flag_words(f, value) -> list[str]:
    flag = "--" + flag_name(f)
    if isinstance(value, bool):
        return [flag if value else "--no-" + flag[2:]]
    if isinstance(value, list):
        return [flag, *map(str, value)]
    return [flag, str(value)]


def training_command(task, config: dict, settings: dict) -> str:
    """`textrnn train-<task> ...` with every setting of the run that differs from that
    command's default: its data and training settings (training_config.json), its encoder
    and head (config.json, so a size --size auto chose is the one shown)."""
    from .training.config import TrainConfig  # imported here: training/ sits above this module

    words = ["textrnn", task.command]
    sections = ((task.Data, settings.get("data")), (EncoderConfig, config.get("encoder")),
                (task.Head, config.get("head")), (TrainConfig, settings.get("training")))
    for cls, values in sections:
        for f in fields(cls):
            if (not values or f.name not in values or not f.metadata.get("cli", True)
                    or f.name in task.encoder_flags_skip and cls is EncoderConfig):
                continue
            value = values[f.name]
            if value is None or value == task.command_defaults.get(f.name, default_of(f)):
                continue
            words += _flag_words(f, value)
    return " ".join(shlex.quote(w) for w in words) + " --out RUN"


def card_data(task, name: str, metrics: dict, settings: dict, license=None, language=None):
    from huggingface_hub import EvalResult, ModelCardData

    datasets = hub_datasets(settings)
    dataset = (datasets or data_names(settings) or ["unknown"])[0]
    evals = [EvalResult(task_type=task.pipeline_tag or task.name, dataset_type=dataset if datasets else "local",
                        dataset_name=Path(dataset).name if not datasets else dataset, dataset_split=split,
                        metric_type=metric, metric_value=round(value, 6))
             for split, metric, value in results(metrics)]
    return ModelCardData(library_name="textrnn", pipeline_tag=task.pipeline_tag, license=license,
                         language=language or None, datasets=datasets or None, model_name=name,
                         tags=["textrnn", "rnn", task.name], eval_results=evals or None)


def card_text(run_dir, repo: str | None = None, license: str | None = None,
              language: list | None = None) -> str:
    """The model card of the run in `run_dir`; `repo` is the Hub id it is (to be) published as."""
    run_dir = Path(run_dir)
    config, metrics, settings = (read_json(run_dir / n) for n in (CONFIG, METRICS, SETTINGS))
    task = TASKS[config["task"]]
    name = repo or run_dir.resolve().name
    ref = repo or str(run_dir)
    meta = card_data(task, name, metrics, settings, license, language).to_yaml()
    body = [f"# {name}", "", describe(task, config, run_dir), "", "## How to use", "",
            "```bash", "pip install textrnn", f"textrnn {task.verb} {shlex.quote(ref)} ...   "
            f"# textrnn {task.verb} --help lists its options", "```", "", "```python", "import textrnn",
            "", f"run = textrnn.load({ref!r})  # a {task.Loaded.noun}", "```", ""]
    if settings:
        body += ["## Training", "", "```bash", training_command(task, config, settings), "```", ""]
        if settings.get("sizing"):
            body += [f"`--size auto` chose the size `{settings['sizing'].get('chosen')}` for the "
                     "machine it trained on (training_config.json records its timings).", ""]
    found = results(metrics)
    if found:
        body += ["## Results", "", "| split | metric | value |", "|---|---|---|",
                 *[f"| {split} | {metric} | {value:.4f} |" for split, metric, value in found], ""]
    plots = sorted(p.name for p in run_dir.glob("*.png"))
    if plots:
        body += ["## Figures", "", *[f"![{p}]({p})" for p in plots], ""]
    body += ["## Limitations", "", *LIMITATIONS, ""]
    return f"---\n{meta.rstrip()}\n---\n\n" + "\n".join(body)


def describe(task, config: dict, run_dir: Path) -> str:
    enc = config.get("encoder") or {}
    count = parameters(run_dir)
    both = ", bidirectional" if enc.get("bidirectional") else ""
    return (f"A textrnn {task.Loaded.noun}. Encoder: `{enc.get('cell', '?')}`, {enc.get('num_layers', '?')} "
            f"layer(s) of {enc.get('hidden_size', '?')} units{both}"
            + (f", {count:,} parameters" if count else "")
            + f"; its input encoding is `{config.get('tokenizer')}` with {config.get('vocab_size')} entries.")


LIMITATIONS = [
    "- The figures above are this run's own, on the splits named; other text (another domain, "
    "register or language) may score lower.",
    "- A small recurrent model learns the regularities and the biases of its training data and "
    "nothing else; check its outputs before relying on them.",
    "- Loading verifies every file against manifest.json and reads no pickle; the resume state "
    "is not published unless pushed with `--with-state`.",
]


def write_card(run_dir, **kw) -> Path | None:
    """Write the run's model card (README.md) durably and return its path; a README.md that
    is not a textrnn card (the user's own) is kept, and a card that cannot be made is one
    log line: it describes saved results, never worth them."""
    path = Path(run_dir) / CARD
    try:
        if path.exists() and "library_name: textrnn" not in path.read_text(encoding="utf-8", errors="replace"):
            log.warning("%s is not a textrnn model card; kept as it is (no card written)", path)
            return None
        write_text(path, card_text(run_dir, **kw))
    except Exception as exc:
        log.warning("could not write %s (%s: %s)", path, type(exc).__name__, first_line(exc))
        return None
    return path
