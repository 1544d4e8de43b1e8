"""A new cell touches no core file: a toy cell, written entirely here, whose state is three
tensors of different shapes (an output h (B, H), a matrix memory (B, H, k) and a window of
its k - 1 last inputs (B, k - 1, E)), registers itself in textrnn.CELLS and then trains a
language model, a classifier, a translator and a forecaster, samples, exports to ONNX, runs
in onnxruntime and resumes exactly, through the cell contract alone."""
from pathlib import Path

import pytest
import torch
from torch import nn

import textrnn
from textrnn import (EncoderConfig, ForecastHeadConfig, LabelledDataConfig, ModelConfig,
                     ParallelDataConfig, SeriesDataConfig, TrainConfig, TranslatorHeadConfig)
from textrnn.checkpoint import load_training_state
from textrnn.inference.stepper import lm_stepper
from textrnn.nested import leaves

from conftest import make_text
from test_forecast import write_series
from test_translate import write_pairs

ROOT = Path(__file__).resolve().parent.parent
K = 3  # the toy cell's window: this input and the k - 1 before it; its memory's slots


class WindowMemory(textrnn.Cell):
    """u_t = tanh(W [x_{t-k+1} .. x_t] + U h_{t-1} + b); each of k memory slots decays by
    0.9 and takes u_t weighted by softmax(A x_t); h_t = u_t + the slots' mean / 10."""
    state_names = ("h", "m", "window")

    def __init__(self, input_size, hidden_size, activation="tanh", bidirectional=False):
        super().__init__()
        self.input_size, self.hidden_size, self.bidirectional = input_size, hidden_size, bidirectional
        dirs = 2 if bidirectional else 1
        self.inp = nn.ModuleList(nn.Linear(K * input_size, hidden_size) for _ in range(dirs))
        self.rec = nn.ModuleList(nn.Linear(hidden_size, hidden_size, bias=False) for _ in range(dirs))
        self.key = nn.ModuleList(nn.Linear(input_size, K) for _ in range(dirs))

    def state_shapes(self):
        return (self.hidden_size,), (self.hidden_size, K), (K - 1, self.input_size)

    def zeros(self, x):
        return tuple(x.new_zeros(x.size(0), *shape) for shape in self.state_shapes())

    def step(self, d: int, x, state, dense=None):
        """One step of direction d: x (B, E), state (h, m, window) -> (h, state)."""
        h, m, window = state
        full = torch.cat([window, x[:, None]], 1)  # (B, K, E)
        if dense is None:
            u = torch.tanh(self.inp[d](full.flatten(1)) + self.rec[d](h))
            w = torch.softmax(self.key[d](x), -1)  # (B, K)
        else:  # the stepper's captured weights
            u = torch.tanh(dense["inp"](full.flatten(1), dense["rec"](h)))
            w = torch.softmax(dense["key"](x), -1)
        m = 0.9 * m + u[:, :, None] * w[:, None, :]  # (B, H, K)
        h = u + m.mean(-1) / 10
        return h, (h, m, full[:, 1:])

    def forward(self, x, state=None, lengths=None):
        """x (B, T, E) -> (B, T, D*H); the state holds still past each sequence's end."""
        outs = []
        for d in range(2 if self.bidirectional else 1):
            s = state if state is not None and d == 0 else self.zeros(x)
            out = [None] * x.size(1)
            for t in (range(x.size(1) - 1, -1, -1) if d else range(x.size(1))):
                h, new = self.step(d, x[:, t], s)
                if lengths is not None:
                    live = t < lengths  # (B,)
                    new = tuple(torch.where(live.view(-1, *[1] * (a.dim() - 1)), a, b)
                                for a, b in zip(new, s))
                    h = new[0] * live[:, None]
                out[t], s = h, new
            outs.append(torch.stack(out, 1))
            final = s
        return torch.cat(outs, -1), (final if not self.bidirectional else None)

    def stepper(self, dense, fuse=False):
        cell = self

        class Step:
            weights = {"inp": dense(cell.inp[0].weight.detach(), cell.inp[0].bias.detach()),
                       "rec": dense(cell.rec[0].weight.detach()),
                       "key": dense(cell.key[0].weight.detach(), cell.key[0].bias.detach())}

            def input_proj(self, x):  # the step reads the input itself: its window keeps it
                return x

            def step(self, gi, state):
                return cell.step(0, gi, state, self.weights)

            step_from = step
        return Step()


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setitem(textrnn.CELLS, "window_memory", WindowMemory)


def encoder(**kw):
    return EncoderConfig(**{"cell": "window_memory", "embed_dim": 6, "hidden_size": 8, "num_layers": 2,
                            "dropout": 0.0, **kw})


def steps(n, **kw):
    return TrainConfig(**{"batch_size": 8, "bptt": 16, "lr": 1e-2, "max_steps": n, "eval_every": n,
                          "save_every": n, "warmup_steps": 0, "schedule": "constant",
                          "device": "cpu", "seed": 0, **kw})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "play.txt"
    path.write_text(make_text(60))
    return path


def test_a_language_model_of_the_cell_trains_samples_and_resumes_exactly(corpus, tmp_path):
    data, model = textrnn.DataConfig(data=str(corpus)), ModelConfig(encoder=encoder(dropout=0.1))
    result = textrnn.train("lm", data, model, steps(12), tmp_path / "straight", show_progress=False)
    assert result["status"] == "done" and result["metrics"]["loss"] < 4.0
    textrnn.train("lm", data, model, steps(6), tmp_path / "resumed", show_progress=False)
    textrnn.train("lm", data, model, steps(12), tmp_path / "resumed", resume=True, show_progress=False)
    a, b = (load_training_state(tmp_path / d) for d in ("straight", "resumed"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x, y) for x, y in zip(leaves(a["carry"]), leaves(b["carry"])))

    lm = textrnn.load(tmp_path / "straight")
    ids = torch.tensor([lm.encode_prompt("ANNA: the sea is calm")])
    full, _ = lm.model(ids)  # the sequence form ...
    stepper = lm_stepper(lm.model)  # ... equals the step form, token by token
    _, state = lm.model(ids[:, :1])
    state = stepper.step_state(state, ids[:, :1])
    for t in range(1, ids.size(1)):
        logits, state = stepper.step(ids[:, t], state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-4)
    assert [s.shape for s in state[0]] == [(1, 8), (1, 8, K), (1, K - 1, 6)]
    texts = lm.generate("ANNA:", max_new_tokens=30, seed=1, num_samples=3, temperature=0.8)
    assert texts == lm.generate("ANNA:", max_new_tokens=30, seed=1, num_samples=3, temperature=0.8)
    assert all(len(t) == len("ANNA:") + 30 for t in texts)


def test_the_cells_step_exports_to_onnx_and_runs_in_onnxruntime(corpus, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    tok = textrnn.train_tokenizer("char", [corpus.read_text()])
    torch.manual_seed(0)
    model = textrnn.build_model(ModelConfig(task="lm", vocab_size=tok.get_vocab_size(), encoder=encoder(),
                                            head=textrnn.LMHeadConfig())).eval()
    lm = textrnn.LanguageModel(model, tok)
    from textrnn.export import export_onnx

    session = ort.InferenceSession(str(export_onnx(lm, tmp_path / "step.onnx")))
    # h and m have one shape in every layer: one input each; the windows differ (E 6, then H 8)
    assert [i.name for i in session.get_inputs()] == ["ids", "h", "m", "window_l0", "window_l1"]
    ids = torch.tensor([3, 7])
    state = [tuple(torch.randn(2, *shape) for shape in layer.state_shapes()) for layer in model.encoder.layers]
    want, want_state = lm_stepper(model).step(ids, state)
    feeds = {"ids": ids.numpy(), "h": torch.stack([s[0] for s in state]).numpy(),
             "m": torch.stack([s[1] for s in state]).numpy(),
             "window_l0": state[0][2].numpy(), "window_l1": state[1][2].numpy()}
    got = session.run(None, feeds)
    torch.testing.assert_close(torch.from_numpy(got[0]), want, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.from_numpy(got[4]), want_state[1][2])  # window_l1_out
    greedy = lm.generate("ANNA:", max_new_tokens=20, greedy=True)
    assert lm.generate("ANNA:", max_new_tokens=20, greedy=True, engine="onnxruntime") == greedy


def test_a_classifier_of_the_cell_reads_padding_as_nothing(tmp_path):
    from conftest import NEG, POS, write_csv

    rows = [(t, "pos") for t in POS] + [(t, "neg") for t in NEG]
    data = LabelledDataConfig(data=str(write_csv(tmp_path / "r.csv", rows * 3)), val_fraction=0.25)
    model = ModelConfig(task="classifier", encoder=encoder(bidirectional=True),
                        head=textrnn.ClassifierHeadConfig(pooling="max"))
    textrnn.train("classifier", data, model, steps(20, epochs=0), tmp_path / "clf", show_progress=False)
    clf = textrnn.load(tmp_path / "clf")
    alone = clf.predict_proba(["a dull film"])
    with_longer = clf.predict_proba(["a dull film", "great acting and a great story indeed"])
    torch.testing.assert_close(torch.tensor(with_longer[:1]), torch.tensor(alone), atol=1e-6, rtol=1e-5)


def test_a_translator_and_a_forecaster_of_the_cell_train(tmp_path):
    src, tgt = write_pairs(tmp_path / "pairs")
    tr = textrnn.train("translator", ParallelDataConfig(data=[str(src), str(tgt)], tokenizer="word",
                                                        vocab_size=50, min_frequency=1),
                       ModelConfig(task="translator", encoder=encoder(num_layers=1),
                                   head=TranslatorHeadConfig(decoder_size=8)),
                       steps(10, epochs=0), tmp_path / "tr", show_progress=False)
    assert tr["status"] == "done" and "bleu" in tr["metrics"]
    translator = textrnn.load(tmp_path / "tr")
    assert len(translator.translate(["zwei hund .", "eins katze ."], beam=2)) == 2

    series = write_series(tmp_path / "s.csv")
    fc = textrnn.train("forecaster", SeriesDataConfig(data=str(series), target=["all"]),
                       ModelConfig(task="forecaster", encoder=EncoderConfig(cell="window_memory", hidden_size=8,
                                                                            num_layers=1, dropout=0.0),
                                   head=ForecastHeadConfig(lookback=24, horizon=12, seg_len=6)),
                       steps(10, epochs=0), tmp_path / "fc", show_progress=False)
    assert fc["status"] == "done" and fc["test"]["mse"] > 0
    assert textrnn.load(tmp_path / "fc").forecast(str(series)).shape == (12, 3)  # time + 2 targets


def test_no_file_of_the_package_names_the_toy_cell():
    for path in (ROOT / "textrnn").rglob("*.py"):
        assert "WindowMemory" not in path.read_text() and "window_memory" not in path.read_text(), path


def test_a_cell_of_another_package_is_found_by_its_entry_point(tmp_path, monkeypatch):
    from textrnn import cli, plugins
    from textrnn.tasks import load_plugins

    dist = tmp_path / "toy_cells-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-cells\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[textrnn.cells]\nplugged = test_cell_interface:WindowMemory\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        monkeypatch.setattr(plugins, "_loaded", set())
        assert textrnn.models.cells.cell_class("plugged") is WindowMemory  # looked up on a miss
        del textrnn.CELLS["plugged"]
        monkeypatch.setattr(plugins, "_loaded", set())
        load_plugins()  # what `textrnn` does before it builds its flags
        args = cli.build_parser().parse_args(["train-lm", "--data", "x.txt", "--cell", "plugged"])
        assert args.cell == "plugged"
    finally:
        textrnn.CELLS.pop("plugged", None)
