"""`--engine onnxruntime`: the stepper's graph run by onnxruntime steps as torch's stepper
does, for every cell, samples the same texts, keeps its graph on disk, and refuses what it
cannot run in one line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from textrnn import ConfigError, LanguageModel, save_pretrained
from textrnn.inference import onnx_cache, onnx_engine
from textrnn.inference.engines import cached_stepper
from textrnn.inference.onnx_cache import cache_dir
from textrnn.inference.onnx_engine import onnx_stepper
from textrnn.inference.onnx_graph import state_layout, unwiden, widen
from textrnn.inference.stepper import lm_stepper

from conftest import make_text, tiny_lm

pytest.importorskip("onnxruntime", reason="the test extra installs onnxruntime")
pytest.importorskip("onnxscript", reason="the export extra installs onnxscript")

CELLS = ["lstm", "gru", "rnn", "elman"]


@pytest.fixture(scope="module")
def tok():
    from textrnn import train_tokenizer
    return train_tokenizer("char", [make_text()])


@pytest.fixture(scope="module")
def lms(tok):
    """cell -> a small LanguageModel (random weights, 2 layers)."""
    out = {}
    for cell in CELLS:
        torch.manual_seed(0)
        out[cell] = LanguageModel(tiny_lm(tok.get_vocab_size(), cell=cell).eval(), tok)
    return out


def random_state(model, batch):
    """Per layer a tuple of (B, H) tensors, (h, c) for an LSTM, as the steppers take them."""
    enc = model.cfg.encoder
    h = [torch.randn(batch, enc.hidden_size) * 0.5 for _ in range(enc.num_layers)]
    return [(x, torch.randn_like(x)) for x in h] if enc.cell == "lstm" else [(x,) for x in h]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 20])  # both sessions: threads spinning below 16, not from it
def test_an_fp32_step_gives_the_torch_steppers_scores_and_state(lms, cell, batch):
    model = lms[cell].model
    ids = torch.randint(2, model.cfg.vocab_size, (batch,))
    state = random_state(model, batch)
    want, want_state = lm_stepper(model).step(ids, state)
    got, got_state = cached_stepper(model, "fp32", "onnxruntime").step(ids, widen(state))
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(got_state, widen(want_state), atol=1e-6)  # (B, S*H): every h and c


def test_the_wide_state_holds_every_layers_tensors_in_order(lms):
    for cell in ("lstm", "gru"):
        model = lms[cell].model
        ids = torch.tensor([[3, 4], [5, 6]])
        _, state = model(ids)  # per layer (1, B, H), pairs for an LSTM
        wide = cached_stepper(model, "fp32", "onnxruntime").step_state(state, ids)  # (B, S*H)
        parts = unwiden(wide, state_layout(model))
        assert torch.equal(widen(parts), wide)
        for layer, s in zip(parts, state):  # bottom layer first; h before c
            pairs = zip(layer, s) if cell == "lstm" else [(layer[0], s)]
            assert all(torch.equal(got, want[0]) for got, want in pairs)


def test_int8_weights_score_close_to_fp32(lms):
    model = lms["lstm"].model
    ids, state = torch.arange(2, 10), random_state(model, 8)
    fp32, _ = lm_stepper(model).step(ids, state)
    int8, _ = cached_stepper(model, "int8", "onnxruntime").step(ids, widen(state))
    p, q = torch.softmax(fp32, -1), torch.softmax(int8, -1)
    assert (p - q).abs().max() < 0.02  # 8-bit rounding, not another function
    graph = cache_dir() / "steps"
    assert any(f.name.endswith("-int8.onnx") for f in graph.iterdir())


@pytest.mark.parametrize("cell", CELLS)
def test_generate_on_onnxruntime_writes_what_torch_writes(lms, cell):
    lm = lms[cell]
    for kw in ({"greedy": True}, {"seed": 3, "num_samples": 3, "temperature": 0.8}):
        want = lm.generate("ANNA: the", max_new_tokens=30, **kw)
        assert lm.generate("ANNA: the", max_new_tokens=30, engine="onnxruntime", **kw) == want


def test_beam_search_runs_on_onnxruntime(lms):
    lm = lms["gru"]
    want = lm.generate("BORIS:", max_new_tokens=12, beam=3)
    assert lm.generate("BORIS:", max_new_tokens=12, beam=3, engine="onnxruntime") == want


def test_the_graph_is_traced_once_then_read_from_the_cache(tok, monkeypatch):
    torch.manual_seed(1)
    model = tiny_lm(tok.get_vocab_size(), cell="gru").eval()
    ids, state = torch.tensor([4]), widen(random_state(model, 1))
    first, _ = onnx_stepper(model).step(ids, state)

    def no_tracing(*args, **kwargs):
        raise AssertionError("traced again")

    monkeypatch.setattr(onnx_cache, "graph_bytes", no_tracing)
    again, _ = onnx_stepper(model).step(ids, state)  # from the file
    assert torch.equal(first, again)
    with torch.no_grad():
        model.head.proj.bias.add_(1.0)  # new weights: a new graph, traced
    with pytest.raises(AssertionError, match="traced again"):
        onnx_stepper(model)


def test_a_damaged_cache_file_is_traced_again(tok):
    torch.manual_seed(2)
    model = tiny_lm(tok.get_vocab_size(), cell="rnn").eval()
    ids, state = torch.tensor([4]), widen(random_state(model, 1))
    want, _ = onnx_stepper(model).step(ids, state)
    path = onnx_cache.graph_path(model, "fp32")
    path.write_bytes(path.read_bytes()[:100])  # cut short
    got, _ = onnx_stepper(model).step(ids, state)
    assert torch.equal(got, want) and path.stat().st_size > 100  # rebuilt and kept again


def test_a_graph_onnxruntime_cannot_load_is_one_line(tok, monkeypatch):
    monkeypatch.setattr(onnx_cache, "graph_bytes", lambda model, weights: b"not a graph")
    torch.manual_seed(4)
    with pytest.raises(ConfigError, match="could not load the step graph .*engine='torch'"):
        onnx_stepper(tiny_lm(tok.get_vocab_size()).eval())


def test_an_unwritable_cache_folder_costs_only_the_tracing(tok, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would go")
    monkeypatch.setenv("TEXTRNN_CACHE", str(blocker))
    torch.manual_seed(3)
    model = tiny_lm(tok.get_vocab_size()).eval()
    ids, state = torch.tensor([5]), random_state(model, 1)
    want, _ = lm_stepper(model).step(ids, state)
    got, _ = onnx_stepper(model).step(ids, widen(state))
    assert torch.allclose(got, want, atol=1e-5) and blocker.read_text().startswith("a file")


def test_what_the_engine_cannot_run_is_refused_in_one_line(tok, lms, monkeypatch):
    conv = tiny_lm(tok.get_vocab_size(), conv_kernel=3).eval()
    with pytest.raises(ConfigError, match="conv front end"):
        onnx_stepper(conv)
    with pytest.raises(ConfigError, match="fp32 or int8 weights, not bf16"):
        lms["lstm"].generate("A", max_new_tokens=3, weights="bf16", engine="onnxruntime")
    monkeypatch.setattr(onnx_engine.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install 'textrnn\[export\]'"):
        onnx_stepper(lms["lstm"].model)


def textrnn(*args):
    return subprocess.run([sys.executable, "-m", "textrnn", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=os.environ)


def test_the_sample_command_runs_int8_on_onnxruntime(tok, tmp_path):
    run = tmp_path / "run"
    torch.manual_seed(0)
    save_pretrained(run, tiny_lm(tok.get_vocab_size()), tok)
    res = textrnn("sample", run, "--prompt", "ANNA:", "--length", "20", "--seed", "1",
                  "--weights", "int8", "--engine", "onnxruntime")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert res.stdout.startswith("ANNA:") and len(res.stdout) == len("ANNA:") + 20 + 1
    assert any(Path(cache_dir(), "steps").glob("*-int8.onnx"))
    res = textrnn("sample", run, "--prompt", "ANNA:", "--weights", "bf16", "--engine", "onnxruntime")
    assert res.returncode == 2 and res.stdout == "" and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "--weights int8" in res.stderr


# ---- a cache that cannot be poisoned ---------------------------------------------------------
def planted(victim, other, tmp_path, monkeypatch, mode=0o700, record=False):
    """A cache folder where `other`'s graph sits under `victim`'s name (a planted or stale
    file), recorded in the folder's index when `record`."""
    import hashlib
    import json

    folder = tmp_path / "cache"
    monkeypatch.setenv("TEXTRNN_CACHE", str(folder))
    onnx_stepper(other)  # traced and kept under other's name
    steps = folder / "steps"
    graph = onnx_cache.graph_path(other, "fp32").read_bytes()
    path = onnx_cache.graph_path(victim, "fp32")
    path.write_bytes(graph)
    if record:
        index = json.loads((steps / "index.json").read_text())
        index[path.name] = hashlib.sha256(graph).hexdigest()
        (steps / "index.json").write_text(json.dumps(index))
    steps.chmod(mode)
    return path


def agree_with_torch(model) -> bool:
    """One onnxruntime step of `model` (from its kept or traced graph) gives torch's scores."""
    ids, state = torch.tensor([4, 7]), random_state(model, 2)
    got, _ = onnx_stepper(model).step(ids, widen(state))
    return torch.allclose(got, lm_stepper(model).step(ids, state)[0], atol=1e-5)


@pytest.mark.parametrize("how", ["planted", "recorded in the index (a stale graph)"])
def test_a_graph_under_another_model_s_name_is_never_used(tok, tmp_path, monkeypatch, how):
    torch.manual_seed(5)
    victim, other = tiny_lm(tok.get_vocab_size()).eval(), tiny_lm(tok.get_vocab_size()).eval()
    path = planted(victim, other, tmp_path, monkeypatch, record=how != "planted")
    assert agree_with_torch(victim)
    assert path.read_bytes() != onnx_cache.graph_path(other, "fp32").read_bytes()  # traced again, kept


@pytest.mark.parametrize("mode", [0o770, 0o777])
def test_a_cache_folder_others_may_write_is_not_used(tok, tmp_path, monkeypatch, caplog, mode):
    torch.manual_seed(6)
    victim, other = tiny_lm(tok.get_vocab_size()).eval(), tiny_lm(tok.get_vocab_size()).eval()
    path = planted(victim, other, tmp_path, monkeypatch, mode=mode, record=True)
    onnx_cache._warned.clear()
    with caplog.at_level("WARNING"):
        assert agree_with_torch(victim)
    assert path.read_bytes() == onnx_cache.graph_path(other, "fp32").read_bytes()  # left untouched
    assert "can be written by other users" in caplog.text and "chmod go-w" in caplog.text


def test_a_new_cache_folder_is_the_user_s_alone(tok, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTRNN_CACHE", str(tmp_path / "fresh"))
    torch.manual_seed(7)
    onnx_stepper(tiny_lm(tok.get_vocab_size()).eval())
    assert (tmp_path / "fresh" / "steps").stat().st_mode & 0o077 == 0


def test_the_cache_keeps_under_its_size_limit_dropping_the_least_recently_used(tok, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTRNN_CACHE", str(tmp_path / "c"))
    models = []
    for seed in range(3):
        torch.manual_seed(10 + seed)
        models.append(tiny_lm(tok.get_vocab_size()).eval())
    onnx_stepper(models[0])
    size = onnx_cache.graph_path(models[0], "fp32").stat().st_size
    monkeypatch.setenv("TEXTRNN_CACHE_MB", str(2.5 * size / 2**20))  # room for two graphs
    onnx_stepper(models[1])
    os.utime(onnx_cache.graph_path(models[0], "fp32"), (1, 1))  # the oldest by use
    onnx_stepper(models[2])
    kept = [onnx_cache.graph_path(m, "fp32").is_file() for m in models]
    assert kept == [False, True, True]
    assert sum(p.stat().st_size for p in (tmp_path / "c" / "steps").glob("*.onnx")) <= 2.5 * size
