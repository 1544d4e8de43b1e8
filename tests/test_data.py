import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import numpy as np
import torch

from textrnn import DataError, encode_stream, load_corpus, open_corpus, split_tail, train_tokenizer
from textrnn.tokenization import encode
from textrnn.data import tables
from textrnn.data import batchify, num_windows, window

from conftest import make_hub_layout


def test_txt_file_is_read_exactly(tmp_path):
    text = "line one\r\nline two\u0085 same line in Latin-1 terms\n"
    (tmp_path / "a.txt").write_bytes(text.encode("utf-8"))
    assert load_corpus(tmp_path / "a.txt") == text


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 7 bytes and pieces of 5 characters: every boundary case on a short text."""
    from textrnn.data import corpus, text_files
    monkeypatch.setattr(text_files, "BLOCK", 7)
    monkeypatch.setattr(corpus, "PIECE", 5)


STREAMED = "Ünïcödé ☃ first line\nsecond, longer line of words\n\nthird\u0085 no break\nlast"


def test_a_file_streams_in_pieces_that_end_at_newlines(tmp_path, small_blocks):
    (tmp_path / "a.txt").write_bytes(STREAMED.encode("utf-8"))
    corpus = open_corpus(tmp_path / "a.txt")
    pieces = list(corpus.pieces())
    assert "".join(pieces) == STREAMED and len(corpus) == len(STREAMED)
    assert len(pieces) > 3 and all(p.endswith("\n") for p in pieces[:-1])


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5])
def test_split_views_of_a_streamed_file_equal_the_string_split(tmp_path, small_blocks, fraction):
    (tmp_path / "a.txt").write_bytes(STREAMED.encode("utf-8"))
    head, tail = open_corpus(tmp_path / "a.txt").split_tail(fraction)
    assert (head.text(), tail.text()) == split_tail(STREAMED, fraction)
    assert (len(head), len(tail)) == tuple(map(len, split_tail(STREAMED, fraction)))


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_encoding_pieces_gives_the_ids_of_the_whole_text(tmp_path, small_blocks, kind):
    (tmp_path / "a.txt").write_bytes(STREAMED.encode("utf-8"))
    corpus = open_corpus(tmp_path / "a.txt")
    tok = train_tokenizer(kind, corpus.pieces(), vocab_size=60)
    assert tok.get_vocab() == train_tokenizer(kind, [STREAMED], vocab_size=60).get_vocab()
    assert encode_stream(tok, corpus.pieces()).tolist() == encode(tok, STREAMED)


def test_a_bad_byte_far_into_a_streamed_file_is_named_with_its_offset(tmp_path, small_blocks):
    (tmp_path / "a.txt").write_bytes(b"fine text\n" * 5 + b"caf\xe9\n")
    with pytest.raises(DataError, match="offset 53"):
        open_corpus(tmp_path / "a.txt")


def test_folder_of_txt_files_is_joined_in_name_order(tmp_path):
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first\n")
    assert load_corpus(tmp_path) == "first\nsecond\n"


def test_several_sources_are_read_one_after_another(tmp_path, small_blocks):
    (tmp_path / "a.txt").write_text("no newline at the end")
    pq.write_table(pa.table({"text": ["a review", "another"]}), tmp_path / "b.parquet")
    (tmp_path / "c.txt").write_text("last\n" * 20)
    sources = [tmp_path / "a.txt", tmp_path / "b.parquet", tmp_path / "c.txt"]
    corpus = open_corpus(sources)
    expected = "no newline at the end\na review\nanother\n" + "last\n" * 20
    assert corpus.text() == expected and len(corpus) == len(expected)
    head, tail = corpus.split_tail(0.25)  # the validation tail comes from the last source
    assert head.text() + tail.text() == expected and tail.text() == expected[-len(tail):]
    with pytest.raises(DataError, match="no training data"):
        open_corpus([])


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_tables_yield_their_text_column(tmp_path, fmt):
    rows = [{"id": 1, "text": "hello there"}, {"id": 2, "text": "general, kenobi"}]
    path = tmp_path / f"t.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        sep = "," if fmt == "csv" else "\t"
        path.write_text(f"id{sep}text\n" + "".join(f'{r["id"]}{sep}"{r["text"]}"\n' for r in rows))
    assert load_corpus(path) == "hello there\ngeneral, kenobi"


def test_hub_layout_dataset_loads_by_split_and_column(tmp_path):
    make_hub_layout(tmp_path / "ds")
    assert load_corpus(tmp_path / "ds", "content", split="train") == "first review\nsecond review"
    assert load_corpus(tmp_path / "ds", split="test") == "held out"  # `content` found by default


def test_hub_id_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(tables, "_hub_reachable", lambda timeout=5.0: False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    with pytest.raises(DataError, match="cannot reach the Hugging Face Hub"):
        load_corpus("someone/some-dataset")


def test_missing_column_lists_the_columns_found(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="columns found: a, b"):
        load_corpus(tmp_path / "t.csv")


@pytest.mark.parametrize("content,match", [(b"", "no text"), (b"  \n\t\n", "no text"),
                                           (b"caf\xe9 latin-1", "not valid UTF-8"),
                                           (b"\x00\x01\x02binary", "binary")])
def test_unusable_files_are_clear_errors(tmp_path, content, match):
    (tmp_path / "x.txt").write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_corpus(tmp_path / "x.txt")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_corpus(tmp_path / "nope.txt")


def test_split_tail_holds_out_the_end():
    train, val = split_tail("abcdefghij", 0.2)
    assert (train, val) == ("abcdefgh", "ij")


def test_batchify_makes_contiguous_columns_and_windows_shift_by_one():
    ids = np.arange(23, dtype=np.uint16)
    stream = batchify(ids, 2)  # (2, 11), the last token dropped
    assert stream.tolist()[1][:3] == [11, 12, 13]
    xs = [window(stream, i, 4) for i in range(num_windows(stream, 4))]
    assert [x.size(1) for x, _ in xs] == [4, 4, 2]
    for x, y in xs:
        assert torch.equal(y, x + 1)
    assert torch.cat([x for x, _ in xs], 1).tolist()[0] == list(range(10))


def test_encoding_to_a_file_gives_the_same_ids_memory_mapped(tmp_path):
    from textrnn import encode_stream, train_tokenizer
    text = ("the quick brown fox\n" * 5000)
    tok = train_tokenizer("char", [text])
    in_memory = encode_stream(tok, text)
    mapped = encode_stream(tok, text, tmp_path / "ids.bin")
    assert isinstance(mapped, np.memmap) and mapped.dtype == np.uint16
    assert np.array_equal(in_memory, mapped) and len(mapped) == len(text)


# text8's shape: one line, no newline at all, words separated by single spaces.
LINE_FREE = " ".join(f"w{i % 37}ord" + "s" * (i % 3) for i in range(400)) + " tail,end.  two\tspaces"


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_a_file_without_newlines_streams_in_bounded_pieces_with_the_ids_of_the_whole(
        tmp_path, small_blocks, kind):
    from textrnn.data import corpus as corpus_module

    (tmp_path / "a.txt").write_text(LINE_FREE)
    corpus = open_corpus(tmp_path / "a.txt")
    pieces = list(corpus.pieces())
    assert "".join(pieces) == LINE_FREE and len(corpus) == len(LINE_FREE)
    assert len(pieces) > 100 and max(map(len, pieces)) <= corpus_module.LONGEST * corpus_module.PIECE
    tok = train_tokenizer(kind, [LINE_FREE], vocab_size=200)
    assert encode_stream(tok, corpus.pieces()).tolist() == encode(tok, LINE_FREE)
    assert encode_stream(tok, LINE_FREE).tolist() == encode(tok, LINE_FREE)  # a string, cut alike
    assert train_tokenizer(kind, corpus.pieces(), vocab_size=200).get_vocab() == tok.get_vocab()


def test_pieces_cut_at_spaces_before_any_other_character(small_blocks):
    from textrnn.data.corpus import chunks

    text = "x" * 12 + " " + "y" * 12 + "," + "z" * 200
    pieces = list(chunks(text))
    assert "".join(pieces) == text
    assert pieces[0] == "x" * 12 and pieces[1].startswith(" y")  # cut just before the space
    assert all(len(p) <= 80 for p in pieces)  # no space at all: cut anywhere, but bounded


def test_a_line_free_text_is_cut_as_it_streams_not_once_read_whole(small_blocks):
    from textrnn.data.corpus import LONGEST, PIECE, Corpus

    read = []

    def blocks():  # 7-character blocks, as text_files yields them (patched)
        for i in range(0, len(LINE_FREE), 7):
            read.append(i)
            yield LINE_FREE[i:i + 7]

    first = next(Corpus(blocks, len(LINE_FREE)).pieces())
    assert len(read) * 7 <= LONGEST * PIECE + 7 < len(LINE_FREE) and LINE_FREE.startswith(first)


def test_tables_never_let_datasets_run_a_loading_script(tmp_path, monkeypatch):
    import datasets

    csv = tmp_path / "d.csv"
    csv.write_text("text\nhello\n")
    make_hub_layout(tmp_path / "hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen = []

    def up_to_3x(path, name=None, *, data_files=None, split=None, trust_remote_code=None, **kw):
        seen.append(trust_remote_code)
        return "table"

    monkeypatch.setattr(datasets, "load_dataset", up_to_3x)
    for source, split in ((str(csv), "train"), (str(tmp_path / "hub"), "test"), ("someone/data", "train")):
        assert tables.load_table(source, split) == "table"
    assert seen == [False, False, False]

    def from_4_0(path, name=None, *, data_files=None, split=None, **kw):  # the argument is gone
        seen.append(kw)
        return "table"

    monkeypatch.setattr(datasets, "load_dataset", from_4_0)
    tables.load_table(str(csv))
    assert "trust_remote_code" not in seen[-1]


def test_the_token_cache_is_reused_and_never_written_through_a_link(tmp_path, monkeypatch):
    from textrnn import CheckpointError
    from textrnn.data import ids

    monkeypatch.setattr(ids, "LARGE_TEXT", 10)  # every text counts as large
    path = tmp_path / "text.txt"
    path.write_text("some text to cache, twice over\n" * 20)
    tok = train_tokenizer("char", [path.read_text()])
    run = tmp_path / "run"
    first = ids.encode_cached(tok, open_corpus(str(path)), run, "train")
    cached = list((run / "tokens").iterdir())
    assert len(cached) == 1 and isinstance(first, np.memmap)
    again = ids.encode_cached(tok, open_corpus(str(path)), run, "train")
    assert np.array_equal(first, again) and list((run / "tokens").iterdir()) == cached
    assert np.array_equal(first, encode_stream(tok, path.read_text()))

    elsewhere, linked = tmp_path / "elsewhere", tmp_path / "linked"
    elsewhere.mkdir()
    linked.mkdir()
    (linked / "tokens").symlink_to(elsewhere)
    with pytest.raises(CheckpointError, match="symbolic link"):
        ids.encode_cached(tok, open_corpus(str(path)), linked, "train")
    assert list(elsewhere.iterdir()) == []


# ---- a byte-order mark (files saved by Notepad or exported by Excel) ------------------------------
BOM = "\ufeff"


@pytest.mark.parametrize("fmt", ["txt", "csv", "tsv", "jsonl"])
def test_a_leading_byte_order_mark_is_not_part_of_the_text(tmp_path, small_blocks, fmt):
    lines = ["first line", "second \ufeff line keeps its inner mark"]
    body = {"txt": "\n".join(lines) + "\n",
            "csv": "text\n" + "\n".join(lines) + "\n",
            "tsv": "text\n" + "\n".join(lines) + "\n",
            "jsonl": "".join(json.dumps({"text": t}) + "\n" for t in lines)}[fmt]
    path = tmp_path / f"a.{fmt}"
    path.write_bytes((BOM + body).encode("utf-8"))
    corpus = load_corpus(path)
    assert corpus.startswith("first line") and "second \ufeff line" in corpus


def test_labelled_tables_and_parallel_files_with_a_byte_order_mark(tmp_path):
    from textrnn.data import load_labelled
    from textrnn.data.sentence_pairs import load_pairs

    (tmp_path / "r.csv").write_bytes((BOM + "text,label\ngood,pos\nbad,neg\n").encode("utf-8"))
    data = load_labelled(tmp_path / "r.csv")
    assert data.texts[0] == "good"
    (tmp_path / "a.de").write_bytes((BOM + "eins\nzwei\n").encode("utf-8"))
    (tmp_path / "a.en").write_bytes((BOM + "one\ntwo\n").encode("utf-8"))
    pairs = load_pairs([str(tmp_path / "a.de"), str(tmp_path / "a.en")])
    assert (pairs.sources[0], pairs.targets[0]) == ("eins", "one")
