"""Corpora read as a stream (--streaming): rows from a dataset laid out as the Hub lays it
out, each process's own shards, a tokenizer from the first megabytes, windows that carry
each column's text on, and a position that --resume restores exactly."""
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import textrnn
from textrnn.checkpoint import load_training_state
from textrnn.config import EncoderConfig, ModelConfig
from textrnn.data.stream_windows import StreamColumns
from textrnn.data.streams import RowStream
from textrnn.errors import ConfigError, DataError
from textrnn.tokenization import encode, train_tokenizer
from textrnn.training.config import TrainConfig
from textrnn.world import World

WORDS = "the cat sat on a mat and then it ran to see the dog who was in the house".split()
SHARDS, ROWS = 4, 30


def line(rng) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12)))


def make_shards(root):
    """A dataset as the Hub keeps one: a card naming the splits, and four train shards,
    each row naming its shard and place so the tests can tell who read what."""
    (root / "data").mkdir(parents=True)
    rng = random.Random(0)
    for s in range(SHARDS):
        rows = [f"s{s}r{i} {line(rng)}" for i in range(ROWS)]
        pq.write_table(pa.table({"text": rows, "id": list(range(ROWS))}),
                       root / "data" / f"train-{s:05d}-of-{SHARDS:05d}.parquet")
    for split in ("validation", "test"):
        pq.write_table(pa.table({"text": [line(rng) for _ in range(20)], "id": list(range(20))}),
                       root / "data" / f"{split}-00000-of-00001.parquet")
    (root / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n"
        + "".join(f"  - split: {s}\n    path: data/{s}-*\n" for s in ("train", "validation", "test"))
        + "---\n")
    return root


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return make_shards(tmp_path_factory.mktemp("streamed"))


def read(stream: RowStream, n: int) -> list[str]:
    return [stream.next_text() for _ in range(n)]


def test_each_process_reads_its_own_shards_and_together_all_rows(hub):
    mine = [read(RowStream(hub, world=World(rank, 2)), SHARDS * ROWS // 2) for rank in (0, 1)]
    shards = [{row.split("r")[0] for row in rows} for rows in mine]
    assert shards == [{"s0", "s2"}, {"s1", "s3"}]
    assert sorted(mine[0] + mine[1]) == sorted(read(RowStream(hub), SHARDS * ROWS))


def test_a_restored_position_reads_on_exactly_also_across_the_end_of_a_pass(hub):
    for before in (5, ROWS + 3, SHARDS * ROWS, SHARDS * ROWS - 1):
        stream = RowStream(hub, "text")
        read(stream, before)
        state = stream.state()
        after = read(stream, 40)
        again = RowStream(hub, "text")
        again.restore(state)
        assert read(again, 40) == after, before
    stream = RowStream(hub)
    first = read(stream, SHARDS * ROWS)
    assert read(stream, 3) == first[:3] and stream.passes == 1  # a new pass starts at the top


def test_the_tokenizer_sample_is_the_first_megabytes(hub):
    whole = RowStream(hub).head()
    top = RowStream(hub).head(megabytes=200 / 2**20)
    assert whole.text().startswith(top.text()) and 200 <= len(top.text().encode()) < 300
    assert whole.text().count("\n") == SHARDS * ROWS  # one line per row


def test_each_column_carries_its_own_text_on_and_resumes_exactly(hub):
    tok = train_tokenizer("char", [RowStream(hub).head().text()])
    columns = StreamColumns(RowStream(hub), tok, columns=3, bptt=7)
    windows = [columns.next_window() for _ in range(4)]
    for (x, y), (x2, _) in zip(windows, windows[1:]):
        assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(x2[:, 0], y[:, -1])
    # column 0 took the first row, then whatever row came next when it ran short
    text0 = torch.cat([windows[0][0][0]] + [y[0] for _, y in windows]).tolist()
    assert text0[:len(encode(tok, "s0r0 "))] == encode(tok, "s0r0 ")
    state = columns.state()
    later = [columns.next_window() for _ in range(6)]
    again = StreamColumns(RowStream(hub), tok, columns=3, bptt=7)
    again.restore(state, "state")
    for (x, y), (xa, ya) in zip(later, (again.next_window() for _ in range(6))):
        assert torch.equal(x, xa) and torch.equal(y, ya)


def test_windows_are_read_in_order_and_the_first_are_given_again(hub):
    """--size auto times its sizes on the first windows, then the loop trains on them."""
    from textrnn.tasks.lm import StreamedLM
    tok = train_tokenizer("char", [RowStream(hub).head().text()])
    task = StreamedLM(StreamColumns(RowStream(hub), tok, 2, 5), np.zeros(8, np.int64), 8, 5, 1)
    first = [task.batch(0, i) for i in range(3)]
    assert all(task.batch(0, i) is first[i] for i in range(3))  # again, not read on
    assert not torch.equal(task.batch(0, 3)[0], first[2][0]) and task.data_state()["windows"] == 4
    with pytest.raises(RuntimeError, match="read in order"):
        task.batch(0, 9)


def settings(hub, **data):
    return textrnn.DataConfig(**{"data": str(hub), "streaming": True, "val_data": str(hub),
                                 "test_data": str(hub), **data})


def model():
    return ModelConfig(encoder=EncoderConfig(embed_dim=8, hidden_size=16, num_layers=1, dropout=0.1))


def steps(n, **kw):
    return TrainConfig(**{"batch_size": 4, "bptt": 16, "lr": 1e-2, "max_steps": n, "eval_every": n,
                          "save_every": n, "warmup_steps": 0, "schedule": "constant",
                          "device": "cpu", "seed": 0, **kw})


def test_a_streamed_run_trains_and_resumes_exactly(hub, tmp_path):
    result = textrnn.train("lm", settings(hub), model(), steps(12), tmp_path / "straight",
                           show_progress=False)
    assert result["status"] == "done" and result["test"]["loss"] < 3.5
    textrnn.train("lm", settings(hub), model(), steps(6), tmp_path / "resumed", show_progress=False)
    textrnn.train("lm", settings(hub), model(), steps(12), tmp_path / "resumed", resume=True,
                  show_progress=False)
    a, b = (load_training_state(tmp_path / d) for d in ("straight", "resumed"))
    assert a["data"]["windows"] == b["data"]["windows"] == 12
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    lm = textrnn.load(tmp_path / "straight")  # a streamed run's folder is a language model's
    assert lm.generate("the", max_new_tokens=5, seed=0)[0].startswith("the")


def test_a_streamed_run_resumes_only_as_one(hub, tmp_path):
    textrnn.train("lm", settings(hub), model(), steps(2), tmp_path / "run", show_progress=False)
    plain = textrnn.DataConfig(data=str(hub), val_data=str(hub))
    with pytest.raises(ConfigError, match="resume it with the same settings"):
        textrnn.train("lm", plain, model(), steps(4), tmp_path / "run", resume=True,
                      show_progress=False)


@pytest.mark.parametrize("data,train,match", [
    (dict(val_data=None), {}, "needs val_data"),
    ({}, dict(max_steps=0, epochs=2), "no known length, so no epochs"),
    ({}, dict(eval_every=0), "eval_every=0 means at each epoch's end"),
    ({}, dict(gradual_unfreezing=True), "go by epochs"),
    (dict(text_column="body"), {}, "no text column 'body'"),
])
def test_settings_a_stream_cannot_honour_are_one_line(hub, tmp_path, data, train, match):
    with pytest.raises((ConfigError, DataError), match=match):
        textrnn.train("lm", settings(hub, **data), model(), steps(2, **train), tmp_path / "run",
                      show_progress=False)
    assert not (tmp_path / "run" / "config.json").exists()


def test_a_hub_dataset_cannot_stream_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="cannot stream 'someone/corpus' offline"):
        RowStream("someone/corpus")
