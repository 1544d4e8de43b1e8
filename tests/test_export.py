"""`textrnn export --format onnx`: the step graph run by onnxruntime computes what textrnn's
own stepper computes, for every cell, and continues a prompt token for token as `generate`."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from textrnn import ConfigError, LanguageModel, build_model, save_pretrained
from textrnn.export import export_onnx
from textrnn.inference.stepper import lm_stepper
from textrnn.tokenization import PAD_ID, UNK_ID

from conftest import model_config, tiny_lm

ort = pytest.importorskip("onnxruntime", reason="the test extra installs onnxruntime")
pytest.importorskip("onnxscript", reason="the export extra installs onnxscript")

CELLS = ["lstm", "gru", "rnn", "elman"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """cell -> (LanguageModel, onnxruntime session of its exported step)."""
    from conftest import make_text
    from textrnn import train_tokenizer

    tok = train_tokenizer("char", [make_text()])
    out = {}
    for cell in CELLS:
        torch.manual_seed(0)
        lm = LanguageModel(tiny_lm(tok.get_vocab_size(), cell=cell).eval(), tok)
        path = export_onnx(lm, tmp_path_factory.mktemp("onnx") / f"{cell}.onnx")
        out[cell] = lm, ort.InferenceSession(str(path))
    return out


def run_graph(session, ids, h, c=None):
    feeds = {"ids": ids.numpy(), "h": h.numpy()}
    if c is not None:
        feeds["c"] = c.numpy()
    return [torch.from_numpy(x) for x in session.run(None, feeds)]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 8])
def test_the_graph_gives_the_steppers_logits_and_state(exported, cell, batch):
    lm, session = exported[cell]
    enc = lm.model.cfg.encoder
    ids = torch.randint(2, lm.model.cfg.vocab_size, (batch,))
    h = torch.randn(enc.num_layers, batch, enc.hidden_size) * 0.5  # (L, B, H)
    c = torch.randn_like(h) if cell == "lstm" else None
    state = [(h[i], c[i]) if c is not None else (h[i],) for i in range(enc.num_layers)]
    logits, new_state = lm_stepper(lm.model).step(ids, state)
    got = run_graph(session, ids, h, c)
    assert torch.allclose(got[0], logits, atol=1e-5)
    assert torch.allclose(got[1], torch.stack([s[0] for s in new_state]), atol=1e-6)
    if c is not None:
        assert torch.allclose(got[2], torch.stack([s[1] for s in new_state]), atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_a_greedy_continuation_through_the_graph_equals_generate(exported, cell):
    lm, session = exported[cell]
    enc = lm.model.cfg.encoder
    prompt = "ANNA: the sea"
    h = torch.zeros(enc.num_layers, 1, enc.hidden_size)
    c = torch.zeros_like(h) if cell == "lstm" else None
    for i in lm.encode_prompt(prompt):  # the prompt through the same graph, token by token
        logits, h, *rest = run_graph(session, torch.tensor([i]), h, c)
        c = rest[0] if rest else None
    new = []
    for _ in range(40):
        logits[:, [PAD_ID, UNK_ID]] = -np.inf  # what generate never emits
        nxt = int(logits.argmax(-1))
        new.append(nxt)
        logits, h, *rest = run_graph(session, torch.tensor([nxt]), h, c)
        c = rest[0] if rest else None
    expected = lm.generate(prompt, max_new_tokens=40, greedy=True)[0]
    assert prompt + "".join(lm.pieces()[i] for i in new) == expected


def test_the_graph_says_what_it_holds(exported):
    _, session = exported["lstm"]
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["textrnn_cell"] == "lstm" and meta["state"] == "h, c"
    assert int(meta["pad_id"]) == PAD_ID and int(meta["unk_id"]) == UNK_ID
    assert [i.name for i in session.get_inputs()] == ["ids", "h", "c"]
    assert session.get_inputs()[0].shape == ["batch"]  # any batch size


def test_an_adaptive_softmax_exports_its_log_probabilities(tmp_path):
    from conftest import make_text
    from textrnn import train_tokenizer

    tok = train_tokenizer("word", [make_text()], 40)
    lm = LanguageModel(tiny_lm(tok.get_vocab_size(), adaptive_cutoffs=[10, 20]).eval(), tok)
    session = ort.InferenceSession(str(export_onnx(lm, tmp_path / "adaptive.onnx")))
    ids, h = torch.tensor([3, 4]), torch.randn(2, 2, 16) * 0.5
    c = torch.randn_like(h)
    scores, _ = lm_stepper(lm.model).step(ids, [(h[i], c[i]) for i in range(2)])
    assert torch.allclose(run_graph(session, ids, h, c)[0], scores, atol=1e-5)


def test_a_conv_front_end_is_refused_in_one_line(char_tok, tmp_path):
    lm = LanguageModel(tiny_lm(char_tok.get_vocab_size(), conv_kernel=3).eval(), char_tok)
    with pytest.raises(ConfigError, match="conv"):
        export_onnx(lm, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def textrnn(*args):
    return subprocess.run([sys.executable, "-m", "textrnn", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_the_export_command_writes_the_graph_and_refuses_bad_input_in_one_line(char_tok, tmp_path):
    run = tmp_path / "run"
    save_pretrained(run, tiny_lm(char_tok.get_vocab_size(), cell="gru"), char_tok)
    res = textrnn("export", run, "--format", "onnx")
    assert res.returncode == 0 and res.stderr == "", res.stderr  # the exporter's chatter stays out
    session = ort.InferenceSession(str(run / "step.onnx"))
    assert [o.name for o in session.get_outputs()] == ["logits", "h_out"]
    for args in (["--out", tmp_path / "missing" / "x.onnx"], ["--format", "tflite"]):
        res = textrnn("export", run, *args)
        assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "Traceback" not in res.stderr


def test_a_classifier_run_folder_is_refused_in_one_line(char_tok, tmp_path):
    cfg = model_config("classifier", vocab_size=char_tok.get_vocab_size(), labels=["a", "b"],
                       embed_dim=8, hidden_size=8, num_layers=1)
    save_pretrained(tmp_path / "clf", build_model(cfg), char_tok)
    res = textrnn("export", tmp_path / "clf")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "export takes a language model's run" in res.stderr and not (tmp_path / "clf" / "step.onnx").exists()


def test_an_exporter_failure_is_one_line(char_tok, tmp_path, monkeypatch):
    def fails(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::something\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", fails)
    lm = LanguageModel(tiny_lm(char_tok.get_vocab_size()).eval(), char_tok)
    with pytest.raises(ConfigError, match=r"could not export this model's step \(unsupported operator "
                       r"aten::something\)"):
        export_onnx(lm, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
