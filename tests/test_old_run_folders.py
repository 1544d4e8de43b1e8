"""Run folders written by textrnn 0.1.0 (tests/fixtures/v0_1_0) still load, give the
recorded logits, probabilities, samples and scores, and resume as 0.1.0 resumed them."""
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import textrnn
from textrnn.checkpoint import load_training_state

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "v0_1_0"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def lm_logits(model):
    return model.eval()(torch.tensor(EXPECTED["lm_ids"]))[0]


def test_an_old_language_model_gives_the_recorded_logits():
    model, tokenizer, step = textrnn.load_pretrained(FIXTURES / "lm")
    assert step == EXPECTED["lm_step"] and tokenizer.get_vocab_size() == EXPECTED["lm_vocab_size"]
    assert model.cfg.encoder.num_layers == 2 and model.cfg.head.tie_weights  # read from the flat file
    torch.testing.assert_close(lm_logits(model), torch.tensor(EXPECTED["lm_logits"]), rtol=0, atol=1e-6)


def test_an_old_language_model_samples_and_scores_as_recorded():
    lm = textrnn.load(FIXTURES / "lm")
    assert lm.generate("ANNA:", max_new_tokens=60, temperature=0.8, seed=3,
                       num_samples=2) == EXPECTED["lm_samples"]
    assert lm.generate("ANNA:", max_new_tokens=60, greedy=True, seed=0) == EXPECTED["lm_greedy"]
    score = lm.evaluate("ANNA: the sea is calm.\n")
    assert score == pytest.approx(EXPECTED["lm_evaluate"], abs=1e-6)


def test_an_old_classifier_gives_the_recorded_probabilities():
    clf = textrnn.load(FIXTURES / "classifier")
    assert clf.labels == EXPECTED["clf_labels"] and clf.step == EXPECTED["clf_step"]
    proba = clf.predict_proba(EXPECTED["clf_texts"])
    torch.testing.assert_close(torch.tensor(proba), torch.tensor(EXPECTED["clf_proba"]), rtol=0, atol=1e-6)


def resume(kind: str, tmp_path) -> Path:
    """Copy a fixture and resume it with the recorded command of textrnn 0.1.0."""
    copy = tmp_path / kind
    shutil.copytree(FIXTURES / kind, copy)
    command = EXPECTED["commands"][f"resume_{kind}"].split("&& ", 1)[1].replace("$COPY", str(copy))
    args = shlex.split(command)
    assert args[:3] == ["python", "-m", "textrnn"]
    res = subprocess.run([sys.executable, *args[1:]], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    return copy


def test_an_old_language_model_resumes_as_it_did(tmp_path):
    copy = resume("lm", tmp_path)
    model, _, step = textrnn.load_pretrained(copy)
    assert step == EXPECTED["lm_resumed_step"]
    torch.testing.assert_close(lm_logits(model), torch.tensor(EXPECTED["lm_resumed_logits"]),
                               rtol=0, atol=1e-6)
    state = load_training_state(copy)
    assert state["step"] == EXPECTED["lm_resumed_state_step"]
    model.load_state_dict(state["model"])
    torch.testing.assert_close(lm_logits(model), torch.tensor(EXPECTED["lm_resumed_state_logits"]),
                               rtol=0, atol=1e-6)


def test_an_old_classifier_resumes_as_it_did(tmp_path):
    copy = resume("classifier", tmp_path)
    clf = textrnn.load(copy)
    assert clf.step == EXPECTED["clf_resumed_step"]
    expected = torch.tensor(EXPECTED["clf_resumed_proba"])
    torch.testing.assert_close(torch.tensor(clf.predict_proba(EXPECTED["clf_texts"])), expected,
                               rtol=0, atol=1e-6)
    state = load_training_state(copy)
    assert state["step"] == EXPECTED["clf_resumed_state_step"]
    clf.model.load_state_dict(state["model"])
    torch.testing.assert_close(torch.tensor(clf.predict_proba(EXPECTED["clf_texts"])),
                               torch.tensor(EXPECTED["clf_resumed_state_proba"]), rtol=0, atol=1e-6)


def test_the_fixtures_are_left_as_written(tmp_path):
    # Loading migrates the flat config in memory only: the folder keeps 0.1.0's files.
    before = (FIXTURES / "lm" / "config.json").read_text()
    textrnn.load(FIXTURES / "lm")
    assert (FIXTURES / "lm" / "config.json").read_text() == before
    assert json.loads(before)["textrnn_version"] == "0.1.0" and "encoder" not in json.loads(before)
