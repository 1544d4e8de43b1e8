"""A text larger than the disk: the rows of a streamed dataset (`datasets`' IterableDataset,
read as it is iterated, nothing downloaded first), with a position that --resume restores
exactly. stream_windows.py deals them into a language model's columns.

Each row is one line of text: the stream's text is its rows, each followed by a newline
(a null row is skipped). Under torchrun each process reads its own share of the shards
(`datasets.distributed.split_dataset_by_node`), so no two read the same rows.
"""
import logging
from typing import Iterator

from ..errors import DataError, first_line
from ..world import World
from .corpus import Corpus
from .tables import TABLES, TEXT_COLUMNS, load_table, pick_column

log = logging.getLogger("textrnn")

READS = f"a .txt file, a folder of them, {TABLES}, a Hub-layout folder or a Hub dataset id"


class RowStream:
    """The text rows of a streamed source, one pass after another without end: all of
    them, or under torchrun (`world` of several) this process's share of the shards.

    `state()` is where the stream stands: the pass and `datasets`' own position within it
    (`IterableDataset.state_dict`: the shard and the row in it), which `restore` goes back
    to without reading the rows before it."""

    def __init__(self, source, text_column=None, split="train", config=None, world=World()):
        self.source, self.split, self.config, self.world = source, split, config, world
        dataset = self._open()
        names = dataset.column_names or list(self._first_row(dataset))
        self.column = pick_column(names, text_column, TEXT_COLUMNS, "text")
        self.passes, self._dataset, self._rows, self._read = 0, None, None, 0
        self._restored = None  # a restored position, until a row is read from it

    def _open(self):
        """The source as an IterableDataset, this process's share of it: opened afresh for
        each pass, since a position once loaded would hold for every later pass too."""
        dataset = load_table(str(self.source), self.split, self.config, READS, streaming=True)
        if self.world.size == 1:
            return dataset
        from datasets.distributed import split_dataset_by_node
        if dataset.n_shards % self.world.size:
            log.warning("%s has %d shards, which do not divide among %d processes: each reads "
                        "every shard and keeps its share of the rows (slower)", self.source,
                        dataset.n_shards, self.world.size)
        return split_dataset_by_node(dataset, rank=self.world.rank, world_size=self.world.size)

    def _first_row(self, dataset) -> dict:
        for row in self._guarded(dataset):
            return row
        raise DataError(f"{self.source} holds no rows; pass a source with text")

    def _guarded(self, dataset) -> Iterator[dict]:
        """The dataset's rows, a failure to read them (the network, a damaged shard) one
        line of ours; a run stopped by it resumes from its last checkpoint."""
        try:
            yield from dataset
        except DataError:
            raise
        except Exception as exc:  # datasets, fsspec and pyarrow raise many types
            raise DataError(f"reading the stream of {self.source} failed ({type(exc).__name__}: "
                            f"{first_line(exc, 200)}); check the source, then --resume "
                            "continues from the last checkpoint") from None

    def next_text(self) -> str:
        """The next row's text; at the end of a pass the stream starts again from its top."""
        while True:
            if self._rows is None:
                self._dataset = self._dataset or self._open()
                self._rows, self._read = self._guarded(self._dataset), 0
            row, self._restored = next(self._rows, None), None
            if row is None:
                if not self._read:
                    raise DataError(f"{self.source} gives no rows to process {self.world.rank} "
                                    "of its pass; pass a source with text (or more shards)")
                self.passes, self._dataset, self._rows = self.passes + 1, None, None
                continue
            self._read += 1
            text = row[self.column]
            if text is None:
                continue
            if not isinstance(text, str):
                raise DataError(f"{self.source}: column {self.column!r} holds "
                                f"{type(text).__name__} values, not text; pass --text-column")
            return text

    def head(self, megabytes: float | None = None) -> Corpus:
        """The text of a pass of its own, from the top: its first `megabytes` (UTF-8; what
        a new tokenizer learns from), or all of it (a validation split)."""
        limit, size, lines = (megabytes or 0) * 2**20, 0, []
        for row in self._guarded(self._open()):
            text = row[self.column]
            if isinstance(text, str):
                lines.append(text + "\n")
                size += len(lines[-1].encode("utf-8"))
                if limit and size >= limit:
                    break
        corpus = Corpus.from_string("".join(lines))
        if not corpus.has_text():
            first = f" in its first {megabytes:g} MB" if megabytes else ""
            raise DataError(f"{self.source} holds no text{first}; pass a source with text")
        return corpus

    def state(self) -> dict:
        # datasets gives a loaded position back only once its rows are read again
        position = None if self._rows is None else self._restored or self._dataset.state_dict()
        return {"passes": self.passes, "position": position, "read": self._read}

    def restore(self, state: dict) -> None:
        """Go back to a position `state()` gave."""
        self.passes, self._read = state["passes"], state["read"]
        self._dataset, self._rows, self._restored = None, None, state["position"]
        if state["position"] is not None:
            self._dataset = self._open()
            self._dataset.load_state_dict(state["position"])
            self._rows = self._guarded(self._dataset)
