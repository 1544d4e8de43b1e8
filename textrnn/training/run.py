"""One path from settings to a trained run folder, for every task and every start: fresh,
--resume (the folder's own model and tokenizer) or --init-from (a language model's)."""
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..checkpoint import load_pretrained, read_config
from ..hub import run_folder
from ..config import ModelConfig
from ..encodings import TOKENIZER
from ..device import resolve_device, resolve_precision
from ..errors import CheckpointError, ConfigError, DataError, setting_name
from ..files import FolderLock, read_json
from ..run_files import CONFIG, SETTINGS, STATE
from ..settings import check
from ..tasks import build_model, check_model_config, for_task, get_task
from ..world import World, start
from .config import TrainConfig
from .checkpointer import foreign_entries
from .distributed import same_on_every_rank
from .same_run import same_run_on_every_rank, same_training_data, training_data
from .sizing import fit_to_machine, sized
from .loop import Trainer
from .state import seed_everything

log = logging.getLogger("textrnn")


def check_run(task: str, data_cfg, model_cfg: ModelConfig, train_cfg, world=World()) -> None:
    """Check every setting of a run before any data is read (minutes, for a large corpus)."""
    kind = get_task(task)
    check(data_cfg)
    if not data_cfg.data:
        raise ConfigError(f"no training data: pass {setting_name('data', 'PATH_OR_HUB_ID')}")
    check_model_config(for_task(model_cfg, task))
    train_cfg.validate()
    kind.check_settings(data_cfg, for_task(model_cfg, task), train_cfg)
    if train_cfg.batch_size % world.size:
        raise ConfigError(f"{setting_name('batch_size', train_cfg.batch_size)} is the global batch "
                          f"and does not divide among {world.size} processes; pass a multiple of "
                          f"{world.size}")
    if kind.name != task:
        raise ConfigError(f"TASKS[{task!r}] is named {kind.name!r}; register a task under its name")


def guard_run_dir(out, resume: bool, overwrite: bool) -> Path:
    """Refuse to train over an earlier run unless asked to continue or replace it, and into
    a folder holding files textrnn did not write unless asked to (--overwrite), which then
    keeps them: a fresh run removes only textrnn's own files (Checkpointer.start_fresh)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{setting_name('out', out)} is a file; choose a folder")
    has_run = (out / CONFIG).exists() or (out / STATE).exists()
    if resume and not has_run:
        raise CheckpointError(f"nothing to resume in {out}; train without {setting_name('resume', True)} first")
    if has_run and not (resume or overwrite):
        raise ConfigError(f"{out} already holds a run; pass {setting_name('resume', True)} to continue "
                          f"it, {setting_name('overwrite', True)} to replace it, or choose another "
                          f"{setting_name('out')}")
    foreign = foreign_entries(out)
    if foreign and not (resume or overwrite):
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ConfigError(f"{out} holds files textrnn did not write ({shown}); choose another "
                          f"{setting_name('out')}, or pass {setting_name('overwrite', True)} to train "
                          "there (textrnn's files replace any of the same name; the rest stay)")
    return out


def resumed_settings(out) -> dict:
    """The training settings a run in `out` must keep on --resume (see TrainConfig), as it
    saved them; a command fills the ones the user left out from these."""
    saved = _saved_settings(out).get("training")
    saved = saved if isinstance(saved, dict) else {}
    return {k: saved[k] for k in TrainConfig.fixed_on_resume() if k in saved}


def _saved_settings(out) -> dict:
    return read_json(Path(out) / SETTINGS)  # resuming checks the folder itself, with clearer messages


def load_start(run_dir, tokenizer_kind=None):
    """(model, tokenizer) of the run folder a run starts from (--init-from), refusing a
    tokenizer kind other than the one asked for; the task takes it or says why not. A Hub
    model id is read as its run folder."""
    run_dir = run_folder(run_dir)
    cfg = read_config(run_dir)
    if tokenizer_kind is not None and tokenizer_kind != cfg.tokenizer:
        raise ConfigError(f"{setting_name('tokenizer', tokenizer_kind)} differs from the "
                          f"{cfg.tokenizer} tokenizer of {run_dir}; drop {setting_name('tokenizer')} "
                          "to reuse it")
    model, tokenizer, _ = load_pretrained(run_dir)
    return model.train(), tokenizer


class NoLock:
    """What ranks other than 0 hold: only rank 0 writes, so only it locks the folder."""

    def release(self, undo: bool = False):
        pass


@dataclass
class Run:
    """A run ready to train: its model, tokenizer, task (holding the data) and place."""
    task: object
    model: object
    tokenizer: object
    data_cfg: object
    train_cfg: object
    run_dir: Path
    device: object
    precision: str
    resume: bool
    lock: FolderLock  # held from prepare_run to the end of fit
    world: World = World()
    held_data: dict = field(default_factory=dict)  # what its training data held (same_run.py)
    sizing: dict | None = None  # --size auto's choice and timings (sizing.py)

    def fit(self, show_progress: bool = True) -> dict:
        """Train with the one loop; the result gains "run_dir"."""
        try:
            with self.world.together():
                trainer = Trainer(self.model, self.task, self.train_cfg, self.run_dir, self.tokenizer,
                                  self.device, self.precision, self.resume, show_progress, self.world)
            trainer.folder.write_settings(self.data_cfg, self.train_cfg, self.held_data, self.sizing)
            result = dict(trainer.fit(), run_dir=str(self.run_dir))
            self.world.wait(patient=True)  # rank 0 has written the folder: all may read it
            return result
        finally:
            self.lock.release()


def prepare_run(task: str, data_cfg, model_cfg: ModelConfig, train_cfg, out, resume=False,
                overwrite=False, init_from=None, typed=None) -> Run:
    """Check the settings, then source -> tokenizer -> model -> batches for `task`.

    `typed`: the settings a user typed, which the task's settings for the data's size
    (`fit_to_size`) never replace; None (the Python API) keeps every setting as given.

    Under torchrun every process does this, each step agreed on by all (a step that fails
    on one rank fails on every rank, with that rank's message); rank 0 alone locks the
    folder, and writes the token cache before the others read it."""
    device = resolve_device(train_cfg.device)
    world = start(device, train_cfg.dist_timeout)
    same_run_on_every_rank(world, data_cfg, model_cfg, train_cfg, init_from, resume)
    kind, model_cfg = get_task(task), for_task(model_cfg, task)
    with world.together():
        run_dir, lock = _claim(task, data_cfg, model_cfg, train_cfg, out, resume, overwrite, world)
    try:
        return _prepare(kind, data_cfg, model_cfg, train_cfg, run_dir, resume, init_from, device,
                        lock, world, typed)
    except BaseException:
        lock.release(undo=True)
        raise


def _claim(task, data_cfg, model_cfg, train_cfg, out, resume, overwrite, world):
    """Check every setting and the folder; rank 0 locks it (one writer per folder, before
    anything is read or written)."""
    check_run(task, data_cfg, model_cfg, train_cfg, world)
    run_dir = guard_run_dir(out, resume, overwrite)
    return run_dir, FolderLock(run_dir).acquire() if world.main else NoLock()


def _prepare(kind, data_cfg, model_cfg, train_cfg, run_dir, resume, init_from, device, lock,
             world, typed) -> Run:
    with world.together():
        precision = resolve_precision(train_cfg.precision, device)
        held = training_data(data_cfg)  # read once: checked on --resume, then recorded
        model, tokenizer, data, data_cfg, train_cfg = _model_and_data(
            kind, data_cfg, model_cfg, train_cfg, run_dir, resume, init_from, typed, held)
    same_on_every_rank(world, model, tokenizer)
    # rank 0 writes the token cache, then the others read it
    batches = world.rank0_first(kind.prepare, data, tokenizer, data_cfg, train_cfg, run_dir, model.cfg)
    if not batches.num_batches(0):  # refused before the loop, which would have nothing to do
        raise DataError(f"the training data gives no batch for a {kind.Loaded.noun}; pass more "
                        "training data")
    model, train_cfg, sizing = _machine_size(kind, model, batches, train_cfg, run_dir, resume,
                                             bool(init_from), device, precision, world, typed)
    if world.rank:  # every rank draws its own dropout masks
        seed_everything(train_cfg.seed + 1_000_003 * world.rank)
    vocabulary = f", vocabulary {model.cfg.vocab_size}" if TOKENIZER in kind.encodings else ""
    log.info("model: %s, %d parameters%s, device %s, %s%s", model.cfg.encoder.cell,
             sum(p.numel() for p in model.parameters()), vocabulary, device, precision,
             f", {world.size} processes" if world.size > 1 else "")
    return Run(batches, model.to(device), tokenizer, data_cfg, train_cfg, run_dir, device,
               precision, resume, lock, world, held, sizing)


def _machine_size(kind, model, batches, train_cfg, run_dir, resume, init_from, device, precision,
                  world, typed):
    """(model, training settings, record) under --size auto: a fresh run's rank 0 times the
    task's sizes and every rank builds its choice; a resumed or --init-from run keeps its
    model and settings (and a resumed one its record)."""
    if train_cfg.size != "auto":
        return model, train_cfg, None
    if "hidden_size" in (typed or ()):  # nothing to fit (a budget is required: TrainConfig.validate)
        log.info("size auto fits the model's width to a time budget; with a width typed, the "
                 "configured size")
        return model, train_cfg, None
    if resume:  # the record of its own start (an --init-from run has none: its folder is new)
        return model, train_cfg, _saved_settings(run_dir).get("sizing")
    if init_from:
        return model, train_cfg, None
    record = fit_to_machine(kind, model, batches, train_cfg, device, precision, build_model) \
        if world.main else None
    record = world.gather(record, patient=True)[0]  # rank 0's choice, for every rank
    return (*sized(model, train_cfg, record, build_model, typed or frozenset()), record)


def _model_and_data(kind, data_cfg, model_cfg, train_cfg, run_dir, resume, init_from, typed, held):
    """The data, the model with its tokenizer (a resumed run's own, one started from a
    language model's (--init-from), or a fresh one with a tokenizer learnt from the data)
    and the training settings, fitted to the data's size."""
    seed_everything(train_cfg.seed)
    # A folder to resume is checked whole (manifest included) before any data is read.
    saved = load_pretrained(run_dir) if resume else None
    if resume:  # the same data, by what the files hold (runs before 0.3.0 did not record it)
        recorded = _saved_settings(run_dir).get("training_data")
        same_training_data(recorded if isinstance(recorded, dict) else {}, held, data_cfg, run_dir)
    data = kind.read_data(data_cfg, train_cfg.seed, saved[0].cfg if saved else None)
    data_cfg, model_cfg, train_cfg = fit_to_size(kind, data, data_cfg, model_cfg, train_cfg, typed)
    if saved:  # the saved model and vocabulary win: ids and shapes must not change
        model, tokenizer = saved[0].train(), saved[1]
    elif init_from:
        start, tokenizer = load_start(init_from, data_cfg.tokenizer)
        model, tokenizer = kind.from_language_model(start, tokenizer, data, data_cfg, model_cfg)
    else:
        kind_name, tokenizer = kind.new_encoding(data, data_cfg)
        cfg = replace(model_cfg, tokenizer=kind_name, vocab_size=tokenizer.get_vocab_size())
        model = build_model(kind.complete(cfg, data))
        kind.start_weights(model, data)
    return model, tokenizer, data, data_cfg, train_cfg


def fit_to_size(kind, data, data_cfg, model_cfg: ModelConfig, train_cfg, typed):
    """The task's settings for this much data (its `fit_to_size`) in place of every one the
    user did not type: (data_cfg, model_cfg, train_cfg)."""
    chosen = {} if typed is None else kind.fit_to_size(data, data_cfg)
    chosen = {k: v for k, v in chosen.items() if k not in typed}
    if not chosen:
        return data_cfg, model_cfg, train_cfg
    log.info("data of this size: %s (a flag typed wins; --no-fit-to-size keeps the defaults)",
             ", ".join(f"{k.replace('_', '-')} {v}" for k, v in chosen.items()))
    part = lambda cfg: {k: v for k, v in chosen.items() if hasattr(cfg, k)}  # noqa: E731
    return (replace(data_cfg, **part(data_cfg)),
            replace(model_cfg, encoder=replace(model_cfg.encoder, **part(model_cfg.encoder))),
            replace(train_cfg, **part(train_cfg)))


def train(task: str, data_cfg, model_cfg: ModelConfig, train_cfg, out, resume=False,
          overwrite=False, init_from=None, show_progress=True) -> dict:
    """Train (or resume) a `task` model into run folder `out`. Returns the result of
    `Trainer.fit()` plus "run_dir" (and "test" metrics where the task reports them)."""
    run = prepare_run(task, data_cfg, model_cfg, train_cfg, out, resume, overwrite, init_from)
    return run.fit(show_progress)
