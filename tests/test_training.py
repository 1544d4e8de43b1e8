import json
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from textrnn import LMTask, TrainConfig, Trainer, TrainingDiverged, encode_stream, split_tail
from textrnn.checkpoint import load_training_state

from conftest import tiny_lm

CPU = torch.device("cpu")


def make_trainer(run_dir, tok, text, resume=False, cell="lstm", activation="tanh", show_progress=False,
                 **overrides):
    torch.manual_seed(0)
    train_text, val_text = split_tail(text, 0.1)
    task = LMTask(encode_stream(tok, train_text), encode_stream(tok, val_text), len(val_text),
                  batch_size=4, bptt=16)
    model = tiny_lm(tok.get_vocab_size(), cell, activation=activation, dropout=0.2)  # dropout: the RNG must be restored too
    settings = dict(batch_size=4, bptt=16, max_steps=12, eval_every=3, save_every=3, log_every=2,
                    warmup_steps=2, seed=0, device="cpu")
    cfg = TrainConfig(**{**settings, **overrides})
    return Trainer(model, task, cfg, run_dir, tok, CPU, resume=resume, show_progress=show_progress)


def interrupt_at(trainer, step):
    """Deliver a real SIGINT once `step` optimiser steps are done."""
    inner = trainer.train_step

    def step_then_signal(batch, scale=1.0):
        out = inner(batch, scale)
        if trainer.state.step == step:
            signal.raise_signal(signal.SIGINT)
        return out
    trainer.train_step = step_then_signal


def test_resume_after_half_the_steps_gives_the_same_weights(tmp_path, char_tok, text):
    straight = make_trainer(tmp_path / "a", char_tok, text)
    assert straight.fit()["status"] == "done"

    first = make_trainer(tmp_path / "b", char_tok, text)
    interrupt_at(first, 5)  # not a multiple of save_every: the interrupt itself must save
    result = first.fit()
    assert result["status"] == "interrupted" and result["step"] == 5
    second = make_trainer(tmp_path / "b", char_tok, text, resume=True)
    assert second.state.step == 5
    second.fit()

    a = load_training_state(tmp_path / "a")["model"]
    b = load_training_state(tmp_path / "b")["model"]
    for name in a:
        assert torch.equal(a[name], b[name]), name
    log_a = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    log_b = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    strip = lambda log: [{k: v for k, v in r.items() if k not in ("elapsed", "tokens_per_s")} for r in log]
    assert strip(log_a) == strip(log_b)


def test_run_folder_has_every_artifact(tmp_path, char_tok, text):
    result = make_trainer(tmp_path, char_tok, text).fit()
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "training_state.pt",
            "metrics.json", "log.jsonl", "loss.png"} <= names
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["val"]) >= {"loss", "bpc", "perplexity"}
    assert metrics["val"] == result["metrics"]


def test_training_lowers_the_validation_loss(tmp_path, char_tok, text):
    trainer = make_trainer(tmp_path, char_tok, text, max_steps=60, lr=1e-2, eval_every=60)
    before = trainer.task.evaluate(trainer.model, CPU, "fp32")["loss"]
    after = trainer.fit()["metrics"]["loss"]
    assert after < before - 0.5


def test_time_budget_stops_training(tmp_path, char_tok, text):
    trainer = make_trainer(tmp_path, char_tok, text, max_steps=0, epochs=0, time_budget=0.3,
                           eval_every=10_000, save_every=10_000)
    result = trainer.fit()
    assert result["status"] == "done" and result["step"] > 0
    assert 0.3 <= trainer.state.elapsed < 5


def test_diverging_loss_stops_and_keeps_finite_checkpoints(tmp_path, char_tok, text):
    # An unbounded (ReLU) RNN with plain SGD at lr 10 and no clipping blows up in a few steps.
    trainer = make_trainer(tmp_path, char_tok, text, cell="rnn", activation="relu",
                           optimizer="sgd", lr=10.0, clip=0, momentum=0.0, weight_decay=0.0,
                           warmup_steps=0, save_every=1, eval_every=1000, max_steps=500)
    with pytest.raises(TrainingDiverged, match="lower lr"):
        trainer.fit()
    assert 0 < trainer.saved_step < 500
    saved = load_file(str(tmp_path / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in saved.values())


def test_gradient_clipping_is_counted(tmp_path, char_tok, text):
    trainer = make_trainer(tmp_path, char_tok, text, clip=1e-3, max_steps=4)
    trainer.fit()
    assert trainer.state.clipped == 4


def test_periodic_evaluation_reads_a_capped_prefix_and_the_exact_one_all(char_tok, text):
    ids = encode_stream(char_tok, text)
    val = ids[-1000:]
    task = LMTask(ids[:-1000], val, 1000, batch_size=4, bptt=16, eval_tokens=200)
    model = tiny_lm(char_tok.get_vocab_size()).eval()
    periodic, exact = task.evaluate(model, CPU, "fp32"), task.evaluate(model, CPU, "fp32", final=True)
    assert periodic["tokens"] <= 200 and exact["tokens"] == 999
    # The prefix alone, read the same way, gives the same figure: nothing else was read.
    alone = LMTask(ids[:-1000], val[:200], 200, batch_size=4, bptt=16).evaluate(model, CPU, "fp32")
    assert periodic["loss"] == pytest.approx(alone["loss"], abs=1e-6)


class FakeClock:
    """perf_counter for the training loop: every reading is `tick` seconds after the last."""

    def __init__(self, tick):
        self.now, self.tick = 0.0, tick

    def perf_counter(self):
        self.now += self.tick
        return self.now


def rates_by_step(trainer):
    """Record the learning rate each optimiser step used."""
    rates, inner = {}, trainer.train_step

    def step(batch, scale=1.0):
        out = inner(batch, scale)
        rates[trainer.state.step] = trainer.opt.param_groups[-1]["lr"]
        return out
    trainer.train_step = step
    return rates


def test_a_time_budget_run_resumed_on_a_slower_machine_keeps_its_schedule(
        tmp_path, char_tok, text, monkeypatch):
    import textrnn.training.loop as loop
    budget = dict(max_steps=0, epochs=0, time_budget=2.0, schedule="cosine", eval_every=0,
                  save_every=0)
    monkeypatch.setattr(loop, "time", FakeClock(0.01))
    straight = make_trainer(tmp_path / "a", char_tok, text, **budget)
    straight_rates = rates_by_step(straight)
    straight.fit()

    monkeypatch.setattr(loop, "time", FakeClock(0.01))
    first = make_trainer(tmp_path / "b", char_tok, text, **budget)
    first_rates = rates_by_step(first)
    interrupt_at(first, 20)  # after the pace is fixed (5% of 2 s is a handful of steps)
    first.fit()
    assert first.state.pace == straight.state.pace
    monkeypatch.setattr(loop, "time", FakeClock(0.03))  # the machine is now 3x slower
    second = make_trainer(tmp_path / "b", char_tok, text, resume=True, **budget)
    second_rates = rates_by_step(second)
    second.fit()

    resumed = {**first_rates, **second_rates}
    assert 20 < second.state.step < straight.state.step  # the clock still ends the run sooner
    assert len(set(resumed.values())) > 10  # the rate really moves
    assert all(resumed[k] == straight_rates[k] for k in resumed)


class SlowClock:
    """A clock 50 s further on at each reading: the first step ends far past a small budget."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 50.0
        return self.now


def test_a_step_far_past_the_time_budget_ends_the_run_with_its_checkpoint(tmp_path, char_tok, text,
                                                                        monkeypatch):
    from textrnn.training import loop
    monkeypatch.setattr(loop, "time", SlowClock())
    trainer = make_trainer(tmp_path, char_tok, text, max_steps=0, epochs=0, time_budget=1.0,
                           eval_every=10_000, save_every=10_000, show_progress=True)
    result = trainer.fit()  # the progress bar is drawn (to the captured stderr) all along
    assert result["status"] == "done" and result["step"] == 1 and trainer.state.elapsed >= 50
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "metrics.json").is_file()


def test_a_broken_progress_display_is_switched_off_and_the_run_goes_on(tmp_path, char_tok, text,
                                                                     monkeypatch, caplog):
    from textrnn.training import runlog

    class Broken(runlog.tqdm):
        def update(self, n=1):
            raise OSError("the terminal went away")

    monkeypatch.setattr(runlog, "tqdm", Broken)
    trainer = make_trainer(tmp_path, char_tok, text, max_steps=4, show_progress=True)
    assert trainer.fit()["step"] == 4
    assert "progress bar failed" in caplog.text


def test_an_epoch_without_a_batch_is_one_line_not_an_endless_loop(tmp_path):
    """On a step budget an epoch without a batch would come round for ever, so the loop runs
    in its own process, ended by a timeout if it hangs."""
    import subprocess
    import sys

    script = tmp_path / "job.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from conftest import make_text
from textrnn import DataError, train_tokenizer
from test_training import make_trainer
text = make_text()
trainer = make_trainer({str(tmp_path / 'run')!r}, train_tokenizer("char", [text]), text[:6], max_steps=5, epochs=0)
assert trainer.task.num_batches(0) == 0  # the training text is shorter than one batch
try:
    trainer.fit()
except DataError as e:
    print(e)
""")
    job = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert job.returncode == 0 and "gives no batch" in job.stdout, job.stderr[-2000:]
