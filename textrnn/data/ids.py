"""Text -> token ids: a language model's flat stream (memory-mapped and cached for a
large text) and a classifier's ids per text."""
import ctypes
import hashlib
import re
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..files import atomic_write
from ..run_files import TOKENS
from ..tokenization import PAD_ID, encode_batch
from .corpus import Corpus, chunks

LARGE_TEXT = 1 << 24  # characters; longer texts are tokenized to a memory-mapped file


def token_dtype(vocab_size: int):
    """The narrowest integer type for the ids: 2 bytes a token for vocabularies up to 65,535."""
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max else np.int32


def encode_stream(tok, text, path=None) -> np.ndarray:
    """Tokenize a long text (a string, or pieces cut where every tokenizer splits, such
    as `Corpus.pieces()`) into a flat (N,) integer array, a batch of pieces at a time
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


def encode_cached(tokenizer, text: Corpus, run_dir: Path, name: str):
    """Token ids of `text`; a large text's ids go to run_dir/tokens/ (memory-mapped) and are
    reused when the same text and tokenizer come again (e.g. on --resume)."""
    try:
        return _encode_cached(tokenizer, text, run_dir, name)
    finally:
        release_freed_memory()  # what tokenizing freed, so training does not carry it too


CACHED_IDS = re.compile(r"^\w+-[0-9a-f]{16}\.bin$")  # the cache's file names, as made below


def _encode_cached(tokenizer, text: Corpus, run_dir: Path, name: str):
    if len(text) < LARGE_TEXT:
        return encode_stream(tokenizer, text.pieces())
    key = hashlib.blake2b(tokenizer.to_str().encode("utf-8"), digest_size=8)
    for piece in text.pieces():
        key.update(piece.encode("utf-8"))
    path = run_dir / TOKENS / f"{name}-{key.hexdigest()}.bin"
    if path.is_file() and not path.is_symlink():
        return np.memmap(path, dtype=token_dtype(tokenizer.get_vocab_size()), mode="r")
    if path.parent.is_symlink():  # never write through a link placed in the run folder
        raise CheckpointError(f"{path.parent} is a symbolic link; textrnn never writes through "
                              "one: remove it")
    # Written as every run-folder file is: a temporary file of its own (two processes never
    # share one), renamed into place, so a kill mid-way never leaves a short cache file.
    atomic_write(path, lambda tmp: encode_stream(tokenizer, text.pieces(), tmp))
    return np.memmap(path, dtype=token_dtype(tokenizer.get_vocab_size()), mode="r")


def encode_texts(tok, texts: list[str]) -> list[list[int]]:
    """Token ids per text (cut to the tokenizer's truncation length, if it has one); at
    least one token each, since packing needs a length >= 1."""
    return [ids or [PAD_ID] for ids in encode_batch(tok, texts)]
