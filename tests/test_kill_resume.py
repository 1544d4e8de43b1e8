"""A run killed with SIGKILL and resumed ends with the same weights as an uninterrupted one."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from textrnn.checkpoint import load_training_state

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--data", str(ROOT / "data/tiny_play.txt"), "--max-steps", "120", "--save-every", "7",
        "--eval-every", "40", "--hidden-size", "24", "--embed-dim", "8", "--batch-size", "8",
        "--bptt", "24", "--dropout", "0.1", "--precision", "fp32", "--device", "cpu", "--quiet"]


def train(out, *extra, **popen):
    cmd = [sys.executable, "-m", "textrnn", "train-lm", "--out", str(out), *ARGS, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    straight = train(tmp_path / "straight")
    assert straight.wait(timeout=300) == 0, straight.stderr.read()

    victim = train(tmp_path / "killed")
    state = tmp_path / "killed" / "training_state.pt"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and victim.poll() is None:
        time.sleep(0.01)
    time.sleep(0.05)  # land somewhere after the first save, possibly mid-save
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    saved_step = load_training_state(tmp_path / "killed")["step"]  # a whole file, never half
    assert saved_step % 7 == 0 and saved_step < 120

    resumed = train(tmp_path / "killed", "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    a = load_training_state(tmp_path / "straight")["model"]
    b = load_training_state(tmp_path / "killed")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def interrupt_once_logging(proc, log: Path) -> int:
    """Send SIGINT once `log` exists (training has begun); the exit code."""
    deadline = time.time() + 120
    while not log.exists() and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=60)


def test_sigint_saves_and_exits_130(tmp_path):
    proc = train(tmp_path / "run", "--save-every", "100000")
    assert interrupt_once_logging(proc, tmp_path / "run" / "log.jsonl") == 130
    assert "continue with --resume" in proc.stderr.read()
    assert load_training_state(tmp_path / "run")["step"] > 0


def test_sigint_during_a_finetune_stage_ends_the_whole_recipe(tmp_path):
    out = tmp_path / "ulmfit"
    cmd = [sys.executable, str(ROOT / "recipes" / "finetune.py"), "--out", str(out),
           "--pretrain-budget", "120", "--embed-dim", "16", "--hidden-size", "16", "--num-layers", "1",
           "--batch-size", "8", "--bptt", "16", "--precision", "fp32", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert interrupt_once_logging(proc, out / "lm" / "log.jsonl") == 130
    finally:
        proc.kill()  # never leave a recipe running behind a failed test
        proc.wait()
    assert load_training_state(out / "lm")["step"] > 0
    assert not (out / "lm_task").exists()  # stage 2 never started
