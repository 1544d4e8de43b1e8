"""The data path, one way: source (file, folder, table, Hub id) -> text -> token ids -> batches.

text_files -> corpus, tables -> streams -> sources -> ids -> batches, stream_windows: each
module imports only the steps before it (and `textrnn.tokenization`), never a later one nor
the training side. streams and stream_windows are the way of a corpus read as a stream
(--streaming): rows as they arrive, then a language model's columns. Speech has its own:
audio, log_mel -> speech_encoding (features and alphabet); tables, audio -> transcribed.
"""
from .batches import EpochBatches, batchify, bucketed_batches, collate, num_windows, window
from .corpus import Corpus, split_tail
from .ids import encode_cached, encode_stream, encode_texts, token_dtype
from .sources import Labelled, label_ids, label_names, load_corpus, load_labelled, open_corpus
from .tables import TEXT_COLUMNS, load_table, pick_column
from .text_files import read_text_file

__all__ = [
    "Corpus", "EpochBatches", "Labelled", "TEXT_COLUMNS", "batchify", "bucketed_batches", "collate", "encode_cached",
    "encode_stream", "encode_texts", "label_ids", "label_names", "load_corpus", "load_labelled",
    "load_table", "num_windows", "open_corpus", "pick_column", "read_text_file", "split_tail",
    "token_dtype", "window",
]
