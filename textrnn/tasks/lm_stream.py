"""A language model trained on a stream (--streaming): a corpus larger than the disk, read
row by row from `datasets`' iterable datasets, tokenized on the fly and dealt into the
columns (data/streams.py). The model, its run folder and its use are the language model's;
only where the batches come from differs: in order, this process's own share, with a
position that training_state.pt keeps so that --resume continues the same rows.

A stream has no known length, so no epochs: a run is bounded by --max-steps or
--time-budget, and each process starts its share again from the top when it runs out."""
import logging
from dataclasses import dataclass

import numpy as np

from ..data import open_corpus
from ..data.stream_windows import StreamColumns
from ..data.streams import RowStream
from ..errors import ConfigError, setting_name
from ..world import current

log = logging.getLogger("textrnn")

ENDLESS = 2**62  # a stream's batches per epoch: the run ends by its steps or its time
HELD = 4  # windows kept to be given again: at least the steps sizing times (1 + TIMED_STEPS)


@dataclass
class StreamedText:
    """Training rows as a stream; validation and test texts whole (read as streams too, so
    that a Hub dataset's other splits never make the training split download)."""
    train: "StreamedSource"
    val: object
    test: object = None


class StreamedSource:
    """The training source: its first megabytes (what a new tokenizer learns from, as
    `pieces()`, the same on every process) and each process's own share (`rows()`)."""

    def __init__(self, data_cfg):
        self.cfg = data_cfg
        self._head, self._rows = None, None

    def rows(self) -> RowStream:
        """This process's rows, opened once."""
        if self._rows is None:
            c = self.cfg
            self._rows = RowStream(one_stream(c.data), c.text_column, c.split, c.data_config, current())
        return self._rows

    def head(self):
        if self._head is None:
            c = self.cfg
            whole = RowStream(one_stream(c.data), c.text_column, c.split, c.data_config)
            self._head = whole.head(c.tokenizer_sample_mb)
            log.info("the tokenizer learns from the stream's first %d characters (%s)",
                     len(self._head), setting_name("tokenizer_sample_mb", c.tokenizer_sample_mb))
        return self._head

    def pieces(self):
        return self.head().pieces()


def one_stream(data):
    sources = data if isinstance(data, (list, tuple)) else [data]
    if len(sources) != 1:
        raise ConfigError(f"{setting_name('streaming', True)} reads one source, got {len(sources)}; "
                          "pass one dataset (its shards are read in turn)")
    return sources[0]


def read_streamed(data_cfg) -> StreamedText:
    """The streamed training source, with its whole validation and test texts."""
    held = lambda source, split: open_corpus(source, data_cfg.text_column, split,  # noqa: E731
                                             data_cfg.data_config, streaming=True)
    test = held(data_cfg.test_data, data_cfg.test_split) if data_cfg.test_data else None
    train = StreamedSource(data_cfg)
    train.rows()  # the source opens and has a text column, before anything is learnt
    return StreamedText(train, held(data_cfg.val_data, data_cfg.val_split), test)


def check_streaming(data_cfg, model_cfg, train_cfg) -> None:
    """Settings a stream cannot honour, refused before anything is read."""
    if not data_cfg.streaming:
        return
    flag = setting_name("streaming", True)
    one_stream(data_cfg.data)
    if not data_cfg.val_data:
        raise ConfigError(f"{flag} needs {setting_name('val_data')}: a stream has no "
                          "end to hold out for validation")
    if train_cfg.epochs:
        raise ConfigError(f"a stream has no known length, so no epochs: bound a {flag} run with "
                          f"{setting_name('max_steps')} or {setting_name('time_budget')} instead "
                          f"of {setting_name('epochs')}")
    if model_cfg.head.reverse:
        raise ConfigError(f"{setting_name('reverse')} reads a text from its end, which a stream "
                          f"never reaches; drop {flag} or {setting_name('reverse')}")
    if train_cfg.gradual_unfreezing or train_cfg.schedule == "decay":
        raise ConfigError(f"{setting_name('gradual_unfreezing')} and {setting_name('schedule', 'decay')} "
                          f"go by epochs, which a stream does not have; drop them with {flag}")
    for every in ("eval_every", "save_every"):
        if not getattr(train_cfg, every):
            raise ConfigError(f"{setting_name(every, 0)} means at each epoch's end, which a stream "
                              f"never reaches; give a number of steps with {flag}")


class StreamedWindows:
    """What a language-model task class becomes when its windows come from a stream (lm.py's
    StreamedLM puts this before LMTask): read in order, this process's own columns."""
    own_share = True  # batch() gives this process's columns, not a global batch to split

    def __init__(self, columns: StreamColumns, val_ids, val_chars: int, bptt: int,
                 eval_batch_size: int, test=None):
        super().__init__(np.zeros(0, np.int64), val_ids, val_chars, 1, bptt, eval_batch_size,
                         test=test)
        self.columns, self.served, self.held = columns, 0, {}

    def num_batches(self, epoch: int) -> int:
        return ENDLESS

    def batch(self, epoch: int, i: int):
        """Window i: read in order; the last HELD are given again when asked again (--size
        auto times its sizes on the first windows, then the loop trains on them)."""
        if i in self.held:
            return self.held[i]
        if i != self.served:
            raise RuntimeError(f"a stream is read in order: window {i} asked, {self.served} next")
        self.held[i], self.served = self.columns.next_window(), self.served + 1
        self.held.pop(i - HELD, None)
        return self.held[i]

    def data_state(self) -> dict:
        return {"windows": self.served, **self.columns.state()}

    def restore_data_state(self, state, where: str) -> None:
        if not isinstance(state, dict) or "windows" not in state:
            raise ConfigError(f"{where} was not trained on a stream; resume it without "
                              f"{setting_name('streaming', True)}")
        self.columns.restore(state, where)
        self.served, self.held = int(state["windows"]), {}


def prepare_streamed(task_class, text: StreamedText, tokenizer, train_cfg, read_ids):
    """The streamed task (a `StreamedWindows` class): this process's share of the columns,
    and the validation and test ids."""
    columns = StreamColumns(text.train.rows(), tokenizer, train_cfg.batch_size // current().size,
                            train_cfg.bptt)
    val_ids = read_ids(text.val, "val")
    test = (read_ids(text.test, "test"), len(text.test)) if text.test else None
    return task_class(columns, val_ids, len(text.val), train_cfg.bptt,
                      train_cfg.eval_batch_size or task_class.eval_batch_size, test)
