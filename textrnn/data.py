"""Text sources (local files, folders, Hugging Face Hub ids) and language-model token streams."""
import ctypes
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from .corpus import Corpus, chunks, iter_text_file
from .errors import DataError
from .tokenization import encode_batch

TABLE_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json",
                 ".parquet": "parquet"}
TEXT_COLUMNS = ("text", "sentence", "content", "review")
HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def read_text_file(path: Path) -> str:
    """Read a UTF-8 text file, with newlines as written (no universal-newline rewriting)."""
    return "".join(iter_text_file(Path(path)))


def check_text_file(path: Path) -> None:
    """Refuse a binary or non-UTF-8 file before a table reader chokes on it, reading it
    in blocks (a table may be far larger than memory allows as one string)."""
    for _ in iter_text_file(Path(path)):
        pass


def _hub_reachable(timeout: float = 5.0) -> bool:
    from huggingface_hub import constants
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _offline_mode() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def load_table(source: str, split: str = "train", config: str | None = None):
    """A `datasets.Dataset` from a csv/tsv/jsonl/parquet file, a folder in the Hub's
    layout (data files plus an optional README.md), or a Hub dataset id."""
    import datasets  # heavy import, needed only for tables and the Hub

    # Its own log lines would come before ours; every failure gets one line of ours instead.
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    path = Path(source)
    if path.exists():  # progress bars only for downloads, where they help
        datasets.disable_progress_bars()
    try:
        if path.is_file():
            builder = TABLE_FORMATS.get(path.suffix.lower())
            if builder is None:
                raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .txt, "
                                f"{', '.join(TABLE_FORMATS)}")
            if builder != "parquet":
                check_text_file(path)
            kwargs = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
            return datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs)
        if path.is_dir():
            return datasets.load_dataset(str(path), config, split=split)
        if not HUB_ID.match(source) or Path(source).suffix.lower() in TABLE_FORMATS | {".txt": 0}:
            raise DataError(f"{source} does not exist; check the path")
        # Without this check an offline machine retries for half a minute, then tracebacks.
        if not _offline_mode() and not _hub_reachable():
            raise DataError(f"cannot reach the Hugging Face Hub to fetch {source!r}; check your "
                            "network, set HF_HUB_OFFLINE=1 to use a cached copy, or pass a local file")
        return datasets.load_dataset(source, config, split=split)
    except DataError:
        raise
    except UnicodeDecodeError:
        raise DataError(f"{source} is not valid UTF-8; convert it to UTF-8 first") from None
    except ValueError as exc:  # e.g. an unknown split or config name
        if "corresponds to no data" in str(exc):  # what datasets says of a header-only file
            raise DataError(f"{source} has no rows; pass a file with data") from None
        raise DataError(f"cannot load {source}: {_first_line(exc)}") from None
    except Exception as exc:  # datasets/pyarrow raise many types for unreadable input
        cause = _root_cause(exc)
        raise DataError(f"cannot load {source}: {type(cause).__name__}: {_first_line(cause)}; "
                        "check the file format (e.g. every row has the same number of fields), "
                        "split and config") from None


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception: datasets wraps a parser's precise message (say, which
    row has too many fields) in a generic DatasetGenerationError."""
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return exc


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def pick_column(columns, wanted: str | None, candidates, what: str) -> str:
    """The column named `wanted`, else the first of `candidates` present."""
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"no {what} column {wanted!r}; columns found: {', '.join(columns)}; "
                            f"pass --{what}-column")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise DataError(f"no {what} column; columns found: {', '.join(columns)}; pass --{what}-column NAME")


def open_corpus(source, text_column=None, split="train", config=None) -> Corpus:
    """All the text of a source, as a `Corpus` read piece by piece.

    A .txt file is read as is, and a folder of .txt files in name order, each ending with
    a newline: both stream from disk. Anything else is a table whose text column is
    joined by newlines (held in memory). A list of sources is read one after another.
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise DataError("no training data: pass at least one source")
        return Corpus.concat([open_corpus(s, text_column, split, config) for s in source])
    path = Path(source)
    if path.is_file() and path.suffix.lower() not in TABLE_FORMATS:
        corpus = Corpus.from_files([path])
    elif path.is_dir() and any(path.glob("*.txt")) and not any(path.glob("README.md")):
        corpus = Corpus.from_files(sorted(path.glob("*.txt")), end_lines=True)
    else:
        table = load_table(str(source), split, config)
        col = pick_column(table.column_names, text_column, TEXT_COLUMNS, "text")
        corpus = Corpus.from_string("\n".join(t for t in table[col] if t))
    if not corpus.has_text():
        raise DataError(f"{source} holds no text (empty or whitespace only); pass a corpus")
    return corpus


def load_corpus(source, text_column=None, split="train", config=None) -> str:
    """All the text of a source as one string (see `open_corpus`)."""
    return open_corpus(source, text_column, split, config).text()


def split_tail(text: str, fraction: float) -> tuple[str, str]:
    """Train on the head and validate on the last `fraction` of the characters (nanoGPT's split)."""
    cut = len(text) - int(len(text) * fraction)
    return text[:cut], text[cut:]


def token_dtype(vocab_size: int):
    """The narrowest integer type for the ids: 2 bytes a token for vocabularies up to 65,535."""
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max else np.int32


def encode_stream(tok, text, path=None) -> np.ndarray:
    """Tokenize a long text (a string, or pieces that each end at a newline, such as
    `Corpus.pieces()`) into a flat (N,) integer array, a batch of pieces at a time
    (HF `tokenizers` spreads a batch over threads). Batches stay near a megabyte: each
    token costs ~100 bytes in flight (HF encodings, then Python ints) until written out.

    With `path`, the ids go straight to that file and come back memory-mapped, so a
    corpus of hundreds of megabytes never needs its ids in memory twice (or at all).
    """
    dtype = token_dtype(tok.get_vocab_size())
    sink = open(path, "wb") if path is not None else None
    pieces, batch = [], []

    def flush():
        for ids in encode_batch(tok, batch):
            arr = np.asarray(ids, dtype=dtype)
            sink.write(arr.tobytes()) if sink is not None else pieces.append(arr)
        batch.clear()

    try:
        for chunk in chunks(text) if isinstance(text, str) else text:
            batch.append(chunk)
            if len(batch) == 16:
                flush()
        flush()
    finally:
        if sink is not None:
            sink.close()
    if path is not None:
        size = Path(path).stat().st_size
        return np.memmap(path, dtype=dtype, mode="r") if size else np.zeros(0, dtype)
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype)


def release_freed_memory() -> None:
    """Give the C heap's freed pages back to the system. Tokenizing hundreds of megabytes
    leaves that much freed but still resident (glibc keeps it for reuse), which training
    would otherwise carry on top of its own peak. A no-op where libc has no malloc_trim."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def batchify(ids, batch_size: int):
    """(N,) -> (B, N // B): B contiguous columns read in parallel (word_language_model).

    Each row is a stretch of the text, so the hidden state carried from one window to
    the next really continues the same text. The tail that does not fill a row is dropped.
    Works on numpy arrays (memory-mapped too, without copying) and on tensors.
    """
    n = len(ids) // batch_size
    return ids[: n * batch_size].reshape(batch_size, n)


def num_windows(stream, bptt: int) -> int:
    return (stream.shape[1] - 1 + bptt - 1) // bptt


def _long(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.long()
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64))


def window(stream, i: int, bptt: int):
    """Window i of a batchified stream: inputs (B, T) and next-token targets (B, T), int64."""
    start = i * bptt
    T = min(bptt, stream.shape[1] - 1 - start)
    return _long(stream[:, start:start + T]), _long(stream[:, start + 1:start + 1 + T])
