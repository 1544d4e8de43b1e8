"""--size auto: the model fitted to the machine; a run too short to be useful says so."""
import json
import logging

import pytest

from textrnn import ConfigError
from textrnn.training.config import TrainConfig
from textrnn.training.loop import warn_if_short
from textrnn.training.sizing import candidates, choose
from textrnn.config import EncoderConfig, ModelConfig

SIZES = {"small": {"hidden_size": 16, "embed_dim": 8}, "medium": {"hidden_size": 32, "embed_dim": 8},
         "large": {"hidden_size": 64, "embed_dim": 16}}


def test_candidates_stop_below_the_configured_size_which_comes_last():
    sizes = candidates(SIZES, EncoderConfig(hidden_size=48, embed_dim=12), TrainConfig())
    assert list(sizes) == ["small", "medium", "configured"]
    assert sizes["configured"] == {"hidden_size": 48, "embed_dim": 12}


def test_a_size_brings_its_own_dropout_and_rate_unless_typed():
    from textrnn.training.sizing import sized

    class Model:  # what sized() reads of a model
        cfg = ModelConfig(task="lm", encoder=EncoderConfig(hidden_size=16, embed_dim=8, dropout=0.3))

    record = {"chosen": "small", "hidden_size": 16, "embed_dim": 8, "dropout": 0.0, "lr": 0.01,
              "timed": [{"size": "small", "hidden_size": 16, "embed_dim": 8, "dropout": 0.0,
                         "lr": 0.01, "seconds_per_step": 0.1, "steps_in_budget": 10}]}
    built = []
    model, cfg = sized(Model(), TrainConfig(lr=3e-3), record, lambda c: built.append(c) or c)
    assert cfg.lr == 0.01 and model.encoder.dropout == 0.0 and model.encoder.hidden_size == 16
    model, cfg = sized(Model(), TrainConfig(lr=3e-3), record, lambda c: c, typed={"lr", "dropout"})
    assert cfg.lr == 3e-3 and isinstance(model, Model)  # same shape, dropout typed: the model itself


def test_the_largest_size_that_takes_enough_steps_is_chosen_and_larger_ones_are_not_timed():
    pace = {16: 0.1, 32: 0.2, 64: 1.0}  # seconds per step
    timed = []

    def time_one(settings):
        timed.append(settings["hidden_size"])
        return pace[settings["hidden_size"]], 1000

    # 100 s at 0.85 of the budget: 850 steps of small, 425 of medium, 85 of large
    name, timings = choose(SIZES, time_one, budget=100, steps=400)
    assert name == "medium" and timed == [16, 32, 64]
    assert [t["steps_in_budget"] for t in timings] == [850, 425, 85]
    timed.clear()
    name, _ = choose(SIZES, time_one, budget=100, steps=500)
    assert name == "small" and timed == [16, 32]  # medium does not fit: large is never built


def test_a_machine_too_slow_for_every_size_gets_the_smallest():
    name, timings = choose(SIZES, lambda s: (10.0, 1000), budget=100, steps=50)
    assert name == "small" and len(timings) == 1


def test_the_tokens_per_parameter_rule_keeps_the_largest_size_that_trains_enough_per_weight():
    params = {16: 1_000, 32: 4_000, 64: 16_000}  # each size's weights; 0.1 s a step for all
    time_one = lambda s: (0.1, params[s["hidden_size"]])  # noqa: E731
    # 100 s: 850 steps of 100 tokens = 85,000 tokens: 85, 21.25 and 5.3 per weight
    name, timings = choose(SIZES, time_one, budget=100, steps=1, per_parameter=10, tokens_per_step=100)
    assert name == "medium" and [t["tokens_per_parameter"] for t in timings] == [85.0, 21.25, 5.31]
    assert choose(SIZES, time_one, budget=100, steps=1, per_parameter=5, tokens_per_step=100)[0] == "large"
    assert choose(SIZES, time_one, budget=100, steps=1, tokens_per_step=100)[0] == "large"  # steps alone


def test_a_fresh_run_records_its_choice_and_resume_keeps_it(tmp_path):
    from textrnn.commands import settings_from
    from textrnn.training import prepare_run

    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    values = dict(data=str(text), out=str(tmp_path / "run"), hidden_size=64, embed_dim=16,
                  num_layers=1, batch_size=4, bptt=16, time_budget=3, size="auto", size_steps=10,
                  eval_every=5, save_every=5, warmup_steps=1, precision="fp32", device="cpu")
    s = settings_from("lm", values)
    run = prepare_run("lm", s.data, s.model, s.training, s.run.out)
    run.fit(show_progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    sizing = metrics["sizing"]
    assert sizing["chosen"] in ("small", "medium", "large", "larger", "configured")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    chosen = next(t for t in sizing["timed"] if t["size"] == sizing["chosen"])
    assert config["encoder"]["hidden_size"] == chosen["hidden_size"] == sizing["hidden_size"]
    # --resume: the saved model and its record, whatever this machine would choose now
    s = settings_from("lm", dict(values, time_budget=4, resume=True))
    run = prepare_run("lm", s.data, s.model, s.training, s.run.out, resume=True)
    assert run.sizing == sizing and run.model.cfg.encoder.hidden_size == chosen["hidden_size"]
    run.lock.release()
    # --init-from over that folder (--overwrite): the model it starts from, and no record of
    # the old run's choice
    import shutil
    shutil.copytree(tmp_path / "run", tmp_path / "old")  # a folder holding the old record
    s = settings_from("lm", dict(values, out=str(tmp_path / "old"), overwrite=True,
                                 init_from=str(tmp_path / "run")))
    run = prepare_run("lm", s.data, s.model, s.training, s.run.out, overwrite=True,
                      init_from=str(tmp_path / "run"))
    assert run.sizing is None
    run.lock.release()


@pytest.mark.parametrize("limits, steps, warned", [
    (dict(time_budget=10.0, warmup_steps=50), 45, "fewer than its 50 warm-up steps"),
    (dict(time_budget=10.0, warmup_steps=10, size="auto", size_steps=600), 200, "under half the 600"),
    (dict(time_budget=10.0, warmup_steps=10, size="auto", size_steps=600), 400, None),
    (dict(max_steps=30, warmup_steps=100), 30, "fewer than its 100 warm-up steps"),
])
def test_a_run_too_short_to_be_useful_warns_in_one_line(caplog, limits, steps, warned):
    with caplog.at_level(logging.WARNING, logger="textrnn"):
        warn_if_short(TrainConfig(**limits), steps)
    lines = [r.getMessage() for r in caplog.records]
    if warned is None:
        assert lines == []
    else:
        assert len(lines) == 1 and warned in lines[0] and "pass" in lines[0]


def test_a_typed_width_keeps_the_configured_size_and_no_budget_is_refused():
    from textrnn.training.run import _machine_size

    cfg = TrainConfig(size="auto", time_budget=10.0)
    model = object()  # never looked at: nothing is timed
    assert _machine_size(None, model, None, cfg, None, False, False, None, None, None,
                         {"hidden_size"}) == (model, cfg, None)
    with pytest.raises(ConfigError, match="fits the model to a time budget; add time_budget"):
        TrainConfig(size="auto", max_steps=5).validate()




@pytest.mark.parametrize("seconds_per_unit,chosen", [(1e-6, "configured"), (8e-4, "medium"), (1.0, "small")])
def test_a_slower_step_gets_a_smaller_classifier(tmp_path, reviews, monkeypatch, seconds_per_unit, chosen):
    from textrnn.commands import settings_from
    from textrnn.training import prepare_run, sizing

    # a step's time grows with the model's width; the budget takes 50 steps of 0.85 * 10 s
    monkeypatch.setattr(sizing, "seconds_per_step", lambda model, *a: seconds_per_unit *
                        model.cfg.encoder.hidden_size ** 2 / 100)
    values = dict(data=str(reviews), out=str(tmp_path / "run"), hidden_size=160, embed_dim=16,
                  time_budget=10, size="auto", size_steps=50, device="cpu", fit_to_size=False)
    s = settings_from("classifier", values)
    run = prepare_run("classifier", s.data, s.model, s.training, s.run.out,
                      typed=frozenset(values) - {"hidden_size", "embed_dim"})  # a preset's width
    run.lock.release()
    assert run.sizing["chosen"] == chosen
    assert run.model.cfg.encoder.hidden_size == {"configured": 160, "medium": 128, "small": 64}[chosen]
