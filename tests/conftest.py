import os
import random
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from textrnn import build_model, config_from_dict, save_pretrained, train_tokenizer

# Under pytest-xdist (README's `-n 2`) each worker, and every process it starts, computes on
# one thread: two workers on two cores, instead of four threads contending for them.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def make_text(n_lines=200, seed=0) -> str:
    """A small deterministic play-like corpus with a few non-ASCII characters."""
    rng = random.Random(seed)
    names = ["ANNA", "BORIS", "CLÉO"]
    words = "the sea is calm and the boat is late so we wait by the old café near town".split()
    lines = []
    for _ in range(n_lines):
        lines.append(rng.choice(names) + ":")
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))).capitalize() + ".")
        lines.append("")
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True, scope="session")
def _cache_folder(tmp_path_factory):
    """Graphs that `--engine onnxruntime` keeps go to a folder of the test run's own (the
    CLI tests' subprocesses inherit it), never the user's cache."""
    old = os.environ.get("TEXTRNN_CACHE")
    os.environ["TEXTRNN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("TEXTRNN_CACHE")
    else:
        os.environ["TEXTRNN_CACHE"] = old


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    random.seed(0)


@pytest.fixture
def text():
    return make_text()


@pytest.fixture
def char_tok(text):
    return train_tokenizer("char", [text])


def model_config(task="lm", **settings):
    """A ModelConfig from encoder and head settings side by side (the flat layout that
    textrnn 0.1.0 wrote to config.json, which loading still reads)."""
    return config_from_dict({"task": task, **settings})


def tiny_lm(vocab_size, cell="lstm", **kw):
    cfg = model_config(vocab_size=vocab_size, cell=cell, embed_dim=kw.pop("embed_dim", 12),
                       hidden_size=kw.pop("hidden_size", 16), num_layers=kw.pop("num_layers", 2),
                       dropout=kw.pop("dropout", 0.0), **kw)
    return build_model(cfg)


# A classifier run folder written by textrnn 0.1.0 (fixtures/v0_1_0/README.md), read-only.
CLASSIFIER_RUN = Path(__file__).parent / "fixtures" / "v0_1_0" / "classifier"


def save_play_lm(folder):
    """A small character LSTM over `make_text()`'s characters (random weights), saved as a
    run folder; returns the folder."""
    tok = train_tokenizer("char", [make_text()])
    torch.manual_seed(0)
    save_pretrained(folder, tiny_lm(tok.get_vocab_size(), hidden_size=48), tok)
    return folder


def save_tiny_speech(folder):
    """A small speech recogniser over the bundled commands' alphabet at 8 kHz (random
    weights), saved as a run folder; returns the folder."""
    from textrnn.config import EncoderConfig, ModelConfig
    from textrnn.data.speech_encoding import SpeechEncoding
    from textrnn.models.crnn import SpeechRecognizer
    from textrnn.tasks.speech import SpeechHeadConfig

    enc = SpeechEncoding.learn(["zero one two three four five six seven eight nine"], sample_rate=8000)
    cfg = ModelConfig(task="speech", tokenizer="speech", vocab_size=enc.get_vocab_size(),
                      encoder=EncoderConfig(cell="lstm", bidirectional=True, embed_dim=16,
                                            hidden_size=16, num_layers=1, dropout=0.0),
                      head=SpeechHeadConfig(conv_channels=4, n_mels=enc.n_mels))
    torch.manual_seed(0)
    save_pretrained(folder, SpeechRecognizer(cfg), enc)
    return folder


POS = ["a great film", "i loved it", "wonderful and moving", "not bad at all", "truly great fun",
       "loved the ending", "great acting and a great story", "never boring"]
NEG = ["a dull film", "i hated it", "boring and long", "not good at all", "truly awful",
       "hated the ending", "bad acting and a bad story", "always boring"]


def write_csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "".join(f'"{t}",{y}\n' for t, y in rows))
    return path


@pytest.fixture
def reviews(tmp_path):
    rows = [(t, "positive") for t in POS] + [(t, "negative") for t in NEG]
    random.Random(0).shuffle(rows)
    return write_csv(tmp_path / "reviews.csv", rows * 3)


def make_hub_layout(root):
    """A dataset folder laid out as on the Hugging Face Hub: README card + data/ shards."""
    (root / "data").mkdir(parents=True)
    for split, texts in (("train", ["first review", "second review"]), ("test", ["held out"])):
        pq.write_table(pa.table({"content": texts, "label": [0] * len(texts)}),
                       root / "data" / f"{split}-00000-of-00001.parquet")
    (root / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n"
        "  - split: train\n    path: data/train-*\n  - split: test\n    path: data/test-*\n---\n")


def trained_tied_conv_lm(vocab_size, kernel, ids, steps=20):
    """A tied language model with a conv front end after a few optimizer steps on ids
    (B, T + 1): the tied output layer trains the <pad> row (id 0), which the embedding's
    padding_idx cannot stop."""
    from textrnn.tokenization import PAD_ID

    model = tiny_lm(vocab_size, conv_kernel=kernel, tie_weights=True, embed_dim=16, hidden_size=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss, _ = model(ids[:, :-1], targets=ids[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.encoder.embed.weight[PAD_ID].abs().max() > 0.05
    return model.eval()


@contextmanager
def live(*folders):
    """The base URL of a real server (uvicorn in a thread) for the folders."""
    uvicorn = pytest.importorskip("uvicorn")
    from textrnn.serve import ServeConfig, create_app
    server = uvicorn.Server(uvicorn.Config(create_app(list(folders), ServeConfig(port=0)),
                                           host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 20
        while not server.started:
            assert time.time() < deadline
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
