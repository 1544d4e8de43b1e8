"""A stream's rows (streams.py) -> a language model's windows: each of B columns carries
its own text on from one window to the next, tokenized as it arrives."""
import numpy as np
import torch

from ..errors import CheckpointError, DataError, first_line
from .ids import encode_stream, token_dtype
from .streams import RowStream


class StreamColumns:
    """`columns` rows of token ids, each carrying its own text on from one window to the
    next (so a language model's carried state keeps reading it), filled from a
    `RowStream`: a row that runs short takes the stream's next line. Windows are (B, T)."""

    def __init__(self, rows: RowStream, tokenizer, columns: int, bptt: int):
        self.stream, self.tokenizer, self.bptt = rows, tokenizer, bptt
        self.dtype = token_dtype(tokenizer.get_vocab_size())
        self.rows = [np.zeros(0, self.dtype) for _ in range(columns)]

    def next_window(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (B, T) and next-token targets (B, T), int64."""
        T = self.bptt
        for r, row in enumerate(self.rows):
            parts = [row]
            while sum(len(p) for p in parts) < T + 1:
                parts.append(encode_stream(self.tokenizer, self.stream.next_text() + "\n"))
            self.rows[r] = np.concatenate(parts) if len(parts) > 1 else row
        block = torch.from_numpy(np.stack([row[:T + 1] for row in self.rows]).astype(np.int64))
        # The last target of a window is the first input of the next one.
        self.rows = [row[T:] for row in self.rows]
        return block[:, :-1], block[:, 1:]

    def state(self) -> dict:
        """The stream's position and every column's tokens not yet read."""
        return {"stream": self.stream.state(),
                "rows": [torch.from_numpy(row.astype(np.int64)) for row in self.rows]}

    def restore(self, state: dict, where: str) -> None:
        try:
            rows = state["rows"]
            if len(rows) != len(self.rows) or not all(isinstance(r, torch.Tensor) and r.dim() == 1
                                                      for r in rows):
                raise ValueError(f"{len(rows)} columns, this run reads {len(self.rows)}")
            self.rows = [r.numpy().astype(self.dtype) for r in rows]
            self.stream.restore(state["stream"])
        except DataError:
            raise
        except Exception as exc:  # a state of another source or layout, or an edited file
            raise CheckpointError(f"{where} holds a stream position that does not fit this run "
                                  f"({first_line(exc, 150)}); resume with the data and settings "
                                  "the run was started with") from None
