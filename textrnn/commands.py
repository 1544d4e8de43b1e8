"""Building blocks of command-line programs, for the `textrnn` command and the recipes:
flags generated from a task's settings, presets resolved once, one-line errors."""
import argparse
import logging
import re
import sys
import time
from dataclasses import dataclass

from torch.distributed import DistError

from .config import EncoderConfig, ModelConfig
from .errors import NamedSettings, TextRNNError, first_line
from .inference.sampling import SamplingConfig
from .settings import add_flags, resolve, setting
from .tasks import get_task
from .training import TrainConfig, check_run, prepare_run, resumed_settings
from .world import joined, launched_rank

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130
QUIET_EXIT_DELAY = 2.0  # seconds


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage block)."""

    def error(self, message):
        if launched_rank():  # under torchrun every rank reads the same flags; rank 0 says it
            quiet_exit()
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see --help)\n")


@dataclass
class RunOptions:
    out: str | None = setting(None, "run folder to write")
    resume: bool = setting(False, "continue the run in --out")
    overwrite: bool = setting(False, "replace the run in --out")
    init_from: str | None = setting(None, "start from this language-model run folder or Hub "
                                    "model id: its tokenizer, embedding and recurrent layers (ULMFiT)")
    quiet: bool = setting(False, "no progress bar")
    debug: bool = setting(False, "show tracebacks")


@dataclass
class UseOptions:
    """What every command that uses a run folder takes."""
    device: str = setting("auto", "where the model runs: auto (cuda, mps, then cpu), cpu, cuda, "
                          "cuda:N or mps")
    quiet: bool = setting(False, "no progress bar")
    debug: bool = setting(False, "show tracebacks")


@dataclass
class RunSettings:
    """Everything one training command was asked for, resolved."""
    task: str
    data: object
    model: ModelConfig
    training: TrainConfig
    run: RunOptions
    sampling: SamplingConfig | None = None
    typed: frozenset = frozenset()  # the settings the user typed or a resumed run fixed (a preset's are not)

    def check(self) -> "RunSettings":
        """Every setting, before any data is read; `prepare` checks them again."""
        check_run(self.task, self.data, self.model, self.training)
        if self.sampling is not None:
            self.sampling.validate()
        return self

    def prepare(self):
        """Check everything, then tokenizer, data and model: a `Run` ready to `fit`."""
        if self.sampling is not None:
            self.sampling.validate()  # before, not after, training
        return prepare_run(self.task, self.data, self.model, self.training, self.run.out,
                           self.run.resume, self.run.overwrite, self.run.init_from, self.typed)


def add_training_flags(parser, task: str, shown: dict | None = None):
    """Every flag of `textrnn train-<task>`: data, model, head, training, run."""
    kind = get_task(task)
    add_flags(parser, kind.Data, "data", shown)
    add_flags(parser, EncoderConfig, "model", shown, skip=kind.encoder_flags_skip)
    add_flags(parser, kind.Head, f"{task} head", shown)
    add_flags(parser, TrainConfig, "training", shown)
    add_flags(parser, RunOptions, "run", shown)


def settings_from(task: str, given: dict, preset: dict | None = None,
                  sampling: bool = False) -> RunSettings:
    """Resolve each setting once: the field's default, then the preset (a command's defaults
    or a recipe's), then on --resume the run's own fixed settings, then what the user
    typed; with `sampling`, the sampling settings too."""
    kind = get_task(task)
    resumed = resumed_settings(given.get("out", (preset or {}).get("out"))) if given.get("resume") else {}
    values = {**(preset or {}), **resumed, **given}
    model = ModelConfig(task=task, encoder=resolve(EncoderConfig, values), head=resolve(kind.Head, values))
    sampling = resolve(SamplingConfig, values) if sampling else None
    # what a resumed run fixed at its start counts as typed, so the size rule leaves it as saved
    return RunSettings(task, resolve(kind.Data, values), model, resolve(TrainConfig, values),
                       resolve(RunOptions, values), sampling, frozenset(given) | frozenset(resumed))


def parse_settings(task: str, argv=None, description: str = "", preset=None,
                   sampling: dict | None = None) -> RunSettings:
    """A recipe's command line: every flag of `textrnn train-<task>` (plus the sampling
    flags, with `sampling` as their defaults); `preset(given)` picks the settings that fit
    the flags typed (say, the data), and the flags typed win over it."""
    parser = Parser(description=description)
    add_training_flags(parser, task)
    if sampling is not None:
        add_flags(parser, SamplingConfig, "sampling", sampling, skip=("seed",))
    given = vars(parser.parse_args(argv))
    settings = settings_from(task, given, {**(sampling or {}), **(preset(given) if preset else {})},
                             sampling=sampling is not None)
    if settings.sampling is not None:
        settings.sampling.seed = settings.training.seed  # one --seed for training and samples
    return settings


def exit_if_interrupted(result: dict) -> dict:
    """A finished run's result; after Ctrl-C or SIGTERM (the run has saved) the program
    ends with 130 or 143, so a script never goes on as if training had completed."""
    if result["status"] == "interrupted":
        sys.exit(128 + int(result["signal"]))
    return result


def run_guarded(func, *args, debug: bool = False):
    """Run func(*args); turn textrnn errors into one stderr line and an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    NamedSettings.for_command_line()
    try:
        return func(*args)
    except TextRNNError as exc:
        if debug:
            raise
        if not speaks_for_the_job(exc):
            quiet_exit()
        sys.stderr.write(f"error: {exc.for_command_line()}\n")
        sys.exit(EXIT_ERROR)
    except RuntimeError as exc:  # torch.distributed.DistError among them
        if debug or not lost_a_process(exc):
            raise_unless_out_of_memory(exc, debug)
        reason = re.sub(r"^\[[^\]]*\]\s*", "", first_line(exc, 400)).split(". ")[0][:120]
        sys.stderr.write(f"error: another process of this torchrun job failed or was lost "
                         f"({reason}); its own message says why; the run folder keeps its last "
                         "checkpoint, continue with --resume\n")
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except MemoryError as exc:
        raise_unless_out_of_memory(exc, debug)


def raise_unless_out_of_memory(exc, debug: bool):
    # torch reports a failed allocation as a RuntimeError (OutOfMemoryError on GPUs).
    if not _out_of_memory(exc) or debug:
        raise exc
    sys.stderr.write("error: out of memory; lower --batch-size, --hidden-size or the data size\n")
    sys.exit(EXIT_ERROR)


def lost_a_process(exc) -> bool:
    """A collective failed because another process of the job died or went silent (gloo
    and NCCL report it as a RuntimeError naming the transport)."""
    text = str(exc).lower()
    return joined() and (isinstance(exc, DistError) or any(
        k in text for k in ("gloo", "nccl", "connection reset", "connection closed", "timed out")))


def quiet_exit():
    """End a rank other than 0 on an error rank 0 reports: a moment later, so that rank 0's
    line is out before torchrun, seeing this exit, stops the job."""
    time.sleep(QUIET_EXIT_DELAY)
    sys.exit(EXIT_ERROR)


def speaks_for_the_job(exc) -> bool:
    """Under torchrun, rank 0 prints an error every rank raised (the same settings, before
    the processes joined, or one rank's failure shared by all); another rank prints only
    what it met alone."""
    if launched_rank() == 0:
        return True
    return joined() and not getattr(exc, "shared", False)


def _out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate memory" in text
