"""Tables as a source: csv/tsv/jsonl/parquet files, Hub-layout folders and Hugging Face
Hub dataset ids, loaded with `datasets`, every failure turned into one line of ours."""
import inspect
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from ..errors import DataError, first_line, setting_name
from .text_files import check_text_file

TABLE_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json",
                 ".parquet": "parquet"}
TEXT_COLUMNS = ("text", "sentence", "content", "review")
HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


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


TABLES = "a .csv, .tsv, .jsonl, .json or .parquet table"
STREAMED_FORMATS = {**TABLE_FORMATS, ".txt": "text"}  # a streamed .txt: one row per line


def load_table(source: str, split: str = "train", config: str | None = None,
               reads: str = f"{TABLES} or a Hub dataset id", streaming: bool = False):
    """A `datasets.Dataset` from a csv/tsv/jsonl/parquet file, a folder in the Hub's
    layout (data files plus an optional README.md), or a Hub dataset id. `reads`: what
    the caller reads, for the message that refuses another kind of file.

    `streaming`: a `datasets.IterableDataset` instead, read as it is iterated (nothing
    downloaded or converted first); a .txt file is then a table too, one row per line."""
    import datasets  # heavy import, needed only for tables and the Hub

    # Its own log lines would come before ours; every failure gets one line of ours instead.
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    path = Path(source)
    if path.exists():  # progress bars only for downloads, where they help
        datasets.disable_progress_bars()
    try:
        if path.is_file():
            builder = (STREAMED_FORMATS if streaming else TABLE_FORMATS).get(path.suffix.lower())
            if builder is None:
                raise DataError(f"{path}: {path.suffix or 'no extension'} is not a file type "
                                f"this reads; pass {reads}")
            if builder != "parquet":
                check_text_file(path)
            kwargs = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
            return _load_dataset(datasets, builder, data_files=str(path), split="train",
                                 streaming=streaming, **kwargs)
        if path.is_dir():
            return _load_dataset(datasets, str(path), config, split=split, streaming=streaming)
        if not HUB_ID.match(source) or Path(source).suffix.lower() in TABLE_FORMATS | {".txt": 0}:
            raise DataError(f"{source} does not exist; check the path")
        if streaming and _offline_mode():
            raise DataError(f"cannot stream {source!r} offline (HF_HUB_OFFLINE is set): a stream "
                            "reads the Hub as it goes; go online, or drop --streaming to read a "
                            "cached copy")
        # Without this check an offline machine retries for half a minute, then tracebacks.
        if not _offline_mode() and not _hub_reachable():
            raise DataError(f"cannot reach the Hugging Face Hub to fetch {source!r}; check your "
                            "network, set HF_HUB_OFFLINE=1 to use a cached copy, or pass a local file")
        return _load_dataset(datasets, source, config, split=split, streaming=streaming)
    except DataError:
        raise
    except UnicodeDecodeError:
        raise DataError(f"{source} is not valid UTF-8; convert it to UTF-8 first") from None
    except ValueError as exc:  # e.g. an unknown split or config name
        if "corresponds to no data" in str(exc):  # what datasets says of a header-only file
            raise DataError(f"{source} has no rows; pass a file with data") from None
        raise DataError(f"cannot load {source}: {first_line(exc, 300)}") from None
    except Exception as exc:  # datasets/pyarrow raise many types for unreadable input
        cause = _root_cause(exc)
        raise DataError(f"cannot load {source}: {type(cause).__name__}: {first_line(cause, 300)}; "
                        "check the file format (e.g. every row has the same number of fields), "
                        "split and config") from None


def _load_dataset(datasets, *args, **kwargs):
    """`datasets.load_dataset`, never running a dataset's own Python loading script.
    From 2.20 to 3.x an unset trust_remote_code asks on the terminal, and
    HF_DATASETS_TRUST_REMOTE_CODE=1 says yes for us; False refuses both. 4.0 dropped
    loading scripts and, with them, the argument."""
    if "trust_remote_code" in inspect.signature(datasets.load_dataset).parameters:
        kwargs["trust_remote_code"] = False
    return datasets.load_dataset(*args, **kwargs)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception: datasets wraps a parser's precise message (say, which
    row has too many fields) in a generic DatasetGenerationError."""
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return exc


def pick_column(columns, wanted: str | None, candidates, what: str) -> str:
    """The column named `wanted`, else the first of `candidates` present."""
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"no {what} column {wanted!r}; columns found: {', '.join(columns)}; "
                            f"pass {setting_name(what + '_column')}")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise DataError(f"no {what} column; columns found: {', '.join(columns)}; pass "
                    f"{setting_name(what + '_column', 'NAME')}")
