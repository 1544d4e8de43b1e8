import json
import os
import pickle

import pytest
import torch

from textrnn import (CheckpointError, ConfigError, build_model, load, load_pretrained,
                     save_pretrained)
from textrnn.checkpoint import atomic_write, load_training_state, save_training_state

from conftest import model_config, tiny_lm


@pytest.mark.parametrize("cell,tie", [("lstm", False), ("gru", True), ("elman", False)])
def test_save_then_load_gives_identical_logits(tmp_path, char_tok, cell, tie):
    v = char_tok.get_vocab_size()
    model = tiny_lm(v, cell, tie_weights=tie, embed_dim=16, hidden_size=16).eval()
    save_pretrained(tmp_path, model, char_tok, step=7)
    loaded, tok, step = load_pretrained(tmp_path)
    ids = torch.randint(2, v, (2, 13))
    torch.testing.assert_close(loaded(ids)[0], model(ids)[0], rtol=0, atol=0)
    assert step == 7 and tok.get_vocab_size() == v
    assert sorted(os.listdir(tmp_path)) == ["README.md", "config.json", "manifest.json",
                                            "model.safetensors", "tokenizer.json"]


def test_a_classifier_with_ulmfit_head_keeps_its_batchnorm_statistics(tmp_path, char_tok):
    cfg = model_config("classifier", vocab_size=char_tok.get_vocab_size(), labels=["a", "b"],
                      embed_dim=8, hidden_size=8, num_layers=1, pooling="concat", head_hidden=4)
    torch.manual_seed(0)
    model = build_model(cfg).train()
    ids, lengths = torch.randint(2, cfg.vocab_size, (6, 7)), torch.full((6,), 7)
    model(ids, lengths)  # moves the running statistics away from their initial values
    model.eval()
    save_pretrained(tmp_path, model, char_tok, step=1)
    loaded, _, _ = load_pretrained(tmp_path)
    assert torch.equal(loaded.head.block[0].running_var, model.head.block[0].running_var)
    torch.testing.assert_close(loaded(ids, lengths), model(ids, lengths), rtol=0, atol=0)


def test_a_crash_between_write_and_rename_keeps_the_old_file(tmp_path):
    target = tmp_path / "file.json"
    target.write_text("old")

    def crash(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a save

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["file.json"]  # no temporary file left behind


@pytest.fixture
def run_dir(tmp_path, char_tok):
    save_pretrained(tmp_path, tiny_lm(char_tok.get_vocab_size()), char_tok)
    return tmp_path


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json"])
def test_missing_file_is_a_clear_error(run_dir, name):
    (run_dir / name).unlink()
    with pytest.raises(CheckpointError, match=name.split(".")[0]):
        load(run_dir)


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json"])
def test_truncated_file_is_a_clear_error(run_dir, name):
    data = (run_dir / name).read_bytes()
    (run_dir / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load(run_dir)


@pytest.mark.parametrize("manifest", [True, False])
def test_tokenizer_from_another_run_is_refused(run_dir, manifest):
    from textrnn import train_tokenizer
    if not manifest:  # without the manifest, the vocabulary check still catches it
        (run_dir / "manifest.json").unlink()
    train_tokenizer("char", ["abc"]).save(str(run_dir / "tokenizer.json"))
    with pytest.raises(CheckpointError, match="copied from another run" if manifest else "expects"):
        load(run_dir)


def test_weights_of_the_same_shape_from_another_run_are_refused(run_dir, char_tok, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    torch.manual_seed(99)
    # A later step than this folder's own: the step alone would let it pass for a newer save.
    save_pretrained(other, tiny_lm(char_tok.get_vocab_size()), char_tok, step=99)
    (run_dir / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="belongs to another run"):
        load(run_dir)


def test_a_save_cut_off_before_its_manifest_update_still_loads(run_dir, char_tok, monkeypatch):
    from textrnn import checkpoint

    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(checkpoint, "record_files", killed)
    with pytest.raises(KeyboardInterrupt):
        save_pretrained(run_dir, tiny_lm(char_tok.get_vocab_size()), char_tok, step=5)
    monkeypatch.undo()
    assert load_pretrained(run_dir)[2] == 5  # the newer weights are whole: renamed into place


def test_a_damaged_manifest_is_a_clear_error(run_dir):
    (run_dir / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="delete it"):
        load(run_dir)


def test_config_from_a_newer_version_is_refused(run_dir):
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["textrnn_version"] = "99.0.0"
    (run_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="newer"):
        load(run_dir)


def test_config_with_unknown_keys_is_refused(run_dir):
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["attention_heads"] = 8
    (run_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="unknown keys"):
        load(run_dir)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_malicious_training_state_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"step": 1, "payload": _Exploit()}, tmp_path / "training_state.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_training_state(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_plain_pickle_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "training_state.pt").write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(CheckpointError):
        load_training_state(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_training_state_round_trips_tensors_and_rng(tmp_path):
    state = {"step": 3, "rng": torch.get_rng_state(), "carry": (torch.ones(1, 2, 3),)}
    save_training_state(tmp_path, state)
    back = load_training_state(tmp_path)
    assert back["step"] == 3 and torch.equal(back["rng"], state["rng"])


def test_a_full_disk_is_a_clear_error_and_keeps_the_previous_checkpoint(run_dir, char_tok, monkeypatch):
    # What safetensors raises when the disk fills (a real limit: tests/test_run_folder.py).
    from safetensors import SafetensorError

    from textrnn import checkpoint

    before = (run_dir / "model.safetensors").read_bytes()

    def no_space(*args, **kwargs):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                              'message: "No space left on device" })')
    monkeypatch.setattr(checkpoint, "save_file", no_space)
    with pytest.raises(CheckpointError, match="No space left"):
        save_pretrained(run_dir, tiny_lm(char_tok.get_vocab_size()), char_tok, step=9)
    assert (run_dir / "model.safetensors").read_bytes() == before
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    load(run_dir)  # still loads


def test_an_older_training_state_put_back_is_refused(tmp_path):
    save_training_state(tmp_path, {"step": 3})
    older = (tmp_path / "training_state.pt").read_bytes()
    save_training_state(tmp_path, {"step": 6})
    (tmp_path / "training_state.pt").write_bytes(older)
    with pytest.raises(CheckpointError, match="saved at step 6"):
        load_training_state(tmp_path)
