"""A run folder under hostile conditions: files of another run, crafted configs and
metadata, power cuts, umasks, full disks, links, a second writer, and resumes with
changed settings. Each failure is one CheckpointError or ConfigError line, and nothing
already saved changes."""
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import textrnn
from textrnn import CheckpointError, ConfigError, DataConfig, TrainConfig, load
from textrnn.device import cpu_bf16_kernels
from textrnn.files import atomic_write

from conftest import make_text, model_config

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(embed_dim=8, hidden_size=8, num_layers=1, dropout=0.1)


def settings(**kw):
    return TrainConfig(**{**dict(batch_size=4, bptt=16, max_steps=6, eval_every=3, save_every=3,
                                 warmup_steps=0, device="cpu", seed=0), **kw})


def train(tmp_path, out="run", **kw):
    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        corpus.write_text(make_text(60))
    return textrnn.train("lm", DataConfig(data=str(corpus)), model_config(**TINY),
                         kw.pop("training", settings()), tmp_path / out, show_progress=False, **kw)


def hashes(folder: Path) -> dict:
    """Each file's digest; the lock file holds the last writer's process id, not run data."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != ".lock"}


# ---- 1. run ids ------------------------------------------------------------------------
def test_every_file_of_a_run_carries_its_id(tmp_path):
    run = Path(train(tmp_path)["run_dir"])
    manifest = json.loads((run / "manifest.json").read_text())
    from safetensors import safe_open
    with safe_open(str(run / "model.safetensors"), "pt") as f:
        assert f.metadata()["run_id"] == manifest["run_id"]
    assert torch.load(run / "training_state.pt", weights_only=True)["run_id"] == manifest["run_id"]


def test_a_replaced_runs_manifest_lists_the_files_it_did_not_rewrite(tmp_path):
    train(tmp_path)
    train(tmp_path, overwrite=True)  # the same config and tokenizer: not rewritten
    files = json.loads((tmp_path / "run" / "manifest.json").read_text())["files"]
    assert {"config.json", "tokenizer.json", "model.safetensors", "training_state.pt"} <= set(files)


def test_a_training_state_of_another_run_is_refused_whatever_its_step(tmp_path):
    train(tmp_path, "a")
    train(tmp_path, "b", training=settings(max_steps=9))  # a later step
    state = (tmp_path / "b" / "training_state.pt").read_bytes()
    (tmp_path / "a" / "training_state.pt").write_bytes(state)
    with pytest.raises(CheckpointError, match="belongs to another run"):
        train(tmp_path, "a", training=settings(max_steps=12), resume=True)


# ---- 2, 3. crafted files -----------------------------------------------------------------
def test_a_config_that_would_need_terabytes_is_refused_before_allocating(tmp_path):
    run = Path(train(tmp_path)["run_dir"])
    cfg = json.loads((run / "config.json").read_text())
    cfg["encoder"]["hidden_size"] = 60000  # 4 x 60000^2 floats a layer: about 58 GB
    (run / "config.json").write_text(json.dumps(cfg))
    (run / "manifest.json").unlink()  # so only the shape check stands in the way
    with pytest.raises(CheckpointError, match="config.json does not match model.safetensors"):
        load(run)


@pytest.mark.parametrize("value", ["²", "-3", "1e3", ""])
def test_a_crafted_step_in_the_weights_metadata_is_one_line(tmp_path, value):
    run = Path(train(tmp_path)["run_dir"])
    weights = load_file(str(run / "model.safetensors"))
    save_file(weights, str(run / "model.safetensors"), metadata={"step": value})
    with pytest.raises(CheckpointError):
        load(run)


@pytest.mark.parametrize("field,value", [("step", "²"), ("bytes", "12"), ("sha256", "xyz")])
def test_a_crafted_manifest_field_is_one_line(tmp_path, field, value):
    run = Path(train(tmp_path)["run_dir"])
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"]["model.safetensors"][field] = value
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="manifest.json is damaged"):
        load(run)


def test_a_crafted_version_in_the_config_is_no_traceback(tmp_path):
    run = Path(train(tmp_path)["run_dir"])
    cfg = json.loads((run / "config.json").read_text())
    cfg["textrnn_version"] = "\u00b2"  # str.isdigit() says yes, int() says no
    (run / "config.json").write_text(json.dumps(cfg))
    (run / "manifest.json").unlink()
    assert load(run).step == 6


def test_a_crafted_run_state_field_is_one_line(tmp_path):
    run = Path(train(tmp_path)["run_dir"])
    state = torch.load(run / "training_state.pt", weights_only=True)
    state["epoch"] = "two"
    torch.save(state, run / "training_state.pt")
    (run / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="malformed fields"):
        train(tmp_path, training=settings(max_steps=9), resume=True)


# ---- 4, 5. durability and permissions ----------------------------------------------------
def test_a_save_is_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    atomic_write(tmp_path / "f.json", lambda tmp: Path(tmp).write_text("{}"))
    assert len(synced) == 2 and synced[0].endswith(".tmp") and synced[1] == str(tmp_path)


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run = Path(train(tmp_path)["run_dir"])
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.iterdir() if p.is_file()}
    assert modes and all(m == 0o644 for m in modes.values()), modes


# ---- 6. a full disk, for real ------------------------------------------------------------
LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from textrnn.cli import main
main(sys.argv[2:])
"""


def limited_args(corpus, out) -> list:
    return ["train-lm", "--data", corpus, "--out", out, "--embed-dim", "8", "--hidden-size", "16",
            "--num-layers", "1", "--batch-size", "4", "--bptt", "16", "--eval-every", "3",
            "--save-every", "3", "--seed", "0", "--quiet"]


@pytest.fixture(scope="module")
def six_steps(tmp_path_factory):
    """A run of 6 steps, trained once; each test resumes a copy of it."""
    root = tmp_path_factory.mktemp("six")
    (root / "corpus.txt").write_text(make_text(60))
    first = subprocess.run([sys.executable, "-m", "textrnn", *map(str, limited_args(root / "corpus.txt", root / "run")),
                            "--max-steps", "6"], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    return root


@pytest.mark.parametrize("limit", [600, 20_000])
def test_a_file_size_limit_is_one_line_and_keeps_the_checkpoint(tmp_path, limit, six_steps):
    shutil.copytree(six_steps / "run", tmp_path / "run")
    args = limited_args(six_steps / "corpus.txt", tmp_path / "run")
    before = hashes(tmp_path / "run")
    res = subprocess.run([sys.executable, "-c", LIMITED, str(limit), *map(str, args),
                          "--max-steps", "12", "--resume"], capture_output=True, text=True, timeout=300)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert res.returncode == 2 and len(errors) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "could not save" in errors[0] and "File too large" in errors[0]
    after = hashes(tmp_path / "run")
    if limit < 1000:  # no file could be rewritten at all: everything stays as it was
        assert after == before
    assert after["training_state.pt"] == before["training_state.pt"]  # the checkpoint to resume
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
    load(tmp_path / "run")
    resumed = subprocess.run([sys.executable, "-m", "textrnn", *map(str, args), "--max-steps", "12",
                              "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr


# ---- 7. --overwrite ----------------------------------------------------------------------
def test_a_run_replaced_and_killed_before_its_first_save_never_loads_as_a_mix(tmp_path, monkeypatch):
    train(tmp_path)
    from textrnn import checkpoint

    def killed(*args, **kwargs):  # the first save of the new run dies after its config
        raise KeyboardInterrupt
    monkeypatch.setattr(checkpoint, "save_file", killed)
    with pytest.raises(KeyboardInterrupt):
        textrnn.train("lm", DataConfig(data=str(tmp_path / "corpus.txt")),
                      model_config(**{**TINY, "dropout": 0.3}), settings(), tmp_path / "run",
                      overwrite=True, show_progress=False)
    monkeypatch.undo()
    with pytest.raises(CheckpointError):
        load(tmp_path / "run")


# ---- 8. links ------------------------------------------------------------------------------
def test_nothing_is_written_through_a_link(tmp_path):
    run = tmp_path / "run"
    train(tmp_path)
    targets = {}
    for name in ("log.jsonl", "loss.png", "metrics.json", "training_config.json"):
        targets[name] = tmp_path / f"target-{name}"
        targets[name].write_text("keep")
        (run / name).unlink()
        (run / name).symlink_to(targets[name])
    train(tmp_path, overwrite=True)
    assert all(t.read_text() == "keep" for t in targets.values())
    assert not any((run / name).is_symlink() for name in targets)


# ---- 9. one writer ---------------------------------------------------------------------------
def test_a_second_writer_is_refused_and_readers_are_not(tmp_path):
    train(tmp_path)
    fd = os.open(tmp_path / "run" / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"4242")
    try:
        before = hashes(tmp_path / "run")
        with pytest.raises(CheckpointError, match="in use by process 4242"):
            train(tmp_path, training=settings(max_steps=9), resume=True)
        assert hashes(tmp_path / "run") == before
        load(tmp_path / "run")  # reading needs no lock
    finally:
        os.close(fd)
    train(tmp_path, training=settings(max_steps=9), resume=True)  # free again


def test_a_refused_run_leaves_no_folder_behind(tmp_path):
    with pytest.raises(textrnn.DataError):
        textrnn.train("lm", DataConfig(data=str(tmp_path / "missing.txt")), model_config(**TINY),
                      settings(), tmp_path / "new" / "run", show_progress=False)
    assert not (tmp_path / "new").exists()


# ---- 10. resume with changed settings ---------------------------------------------------------
@pytest.mark.parametrize("change", [dict(batch_size=8), dict(bptt=8), dict(seed=1), dict(lr=1e-2),
                                    dict(schedule="constant")])
def test_a_resume_that_would_change_the_run_is_refused_by_flag(tmp_path, change):
    train(tmp_path)
    before = hashes(tmp_path / "run")
    name = next(iter(change))  # the setting's name, as the Python API spells it
    with pytest.raises(ConfigError, match=f"{name}="):
        train(tmp_path, training=settings(max_steps=9, **change), resume=True)
    assert hashes(tmp_path / "run") == before


def test_a_resume_may_change_limits_intervals_and_precision(tmp_path):
    train(tmp_path)
    other = "bf16" if cpu_bf16_kernels() else "auto"  # a CPU without AVX-512 has no bf16 kernels
    result = train(tmp_path, resume=True, training=settings(max_steps=9, eval_every=2, save_every=2,
                                                            precision=other))
    assert result["step"] == 9


def test_bf16_on_a_cpu_without_bf16_kernels_is_one_line(monkeypatch):
    from textrnn import device

    monkeypatch.setattr(device, "cpu_bf16_kernels", lambda: False)
    with pytest.raises(ConfigError, match="no bf16 kernels here.*precision='auto'"):
        device.resolve_precision("bf16", torch.device("cpu"))
    assert device.resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_the_command_fills_the_fixed_settings_left_out_from_the_run(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(60))
    base = ["train-lm", "--data", str(corpus), "--out", str(tmp_path / "run"), "--embed-dim", "8",
            "--hidden-size", "8", "--num-layers", "1", "--eval-every", "3", "--save-every", "3",
            "--quiet"]
    from textrnn.cli import main
    main([*base, "--batch-size", "4", "--bptt", "16", "--lr", "0.01", "--max-steps", "3"])
    main([*base, "--max-steps", "6", "--resume"])  # batch size, bptt and lr from the run
    state = torch.load(tmp_path / "run" / "training_state.pt", weights_only=True)
    assert state["step"] == 6 and state["train_config"]["batch_size"] == 4
    assert state["train_config"]["lr"] == 0.01


def test_a_first_save_cut_off_before_its_manifest_update_still_loads(tmp_path, monkeypatch):
    from textrnn import checkpoint

    tok = textrnn.train_tokenizer("char", [make_text(5)])
    real = checkpoint.record_files

    def killed_after_the_weights(run_dir, step, names, run_id=None):
        if "model.safetensors" in names:
            raise KeyboardInterrupt  # the weights are in place, their manifest entry is not
        real(run_dir, step, names, run_id)
    monkeypatch.setattr(checkpoint, "record_files", killed_after_the_weights)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_pretrained(tmp_path, textrnn.build_model(model_config(
            vocab_size=tok.get_vocab_size(), **TINY)), tok, step=3, run_id="ab" * 16)
    monkeypatch.undo()
    assert "model.safetensors" not in json.loads((tmp_path / "manifest.json").read_text())["files"]
    assert textrnn.load_pretrained(tmp_path)[2] == 3
