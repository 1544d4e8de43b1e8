"""--ema: the weight average follows its formula, is what gets validated and saved, and
resumes exactly."""
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from textrnn.checkpoint import load_training_state
from textrnn.errors import ConfigError
from textrnn.training.averaging import WeightAverage

from test_training import interrupt_at, make_trainer


def test_the_average_follows_its_warmed_up_decay():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = WeightAverage(model, 0.9)
    expected = [p.detach().clone() for p in model.parameters()]
    for t in range(1, 30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            model[1].running_mean.add_(1.0)
        average.update()
        d = min(0.9, (1 + t) / (10 + t))
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters())]
    for e, a in zip(expected, average.model.parameters()):
        assert torch.allclose(e, a, atol=1e-6)
        assert not a.requires_grad
    assert torch.equal(average.model[1].running_mean, model[1].running_mean)  # copied, not averaged


def test_a_tied_matrix_stays_one_matrix_in_the_average():
    model = nn.Module()
    model.embed, model.out = nn.Embedding(5, 3), nn.Linear(3, 5)
    model.out.weight = model.embed.weight
    average = WeightAverage(model, 0.5)
    with torch.no_grad():
        model.embed.weight.add_(1.0)
    average.update()
    assert average.model.out.weight is average.model.embed.weight
    assert not torch.equal(average.model.embed.weight, model.embed.weight)


def test_the_saved_weights_are_the_average(tmp_path, char_tok, text):
    make_trainer(tmp_path / "run", char_tok, text, ema=0.8, eval_every=12).fit()
    state = load_training_state(tmp_path / "run")
    saved = load_file(tmp_path / "run" / "model.safetensors")
    averaged, raw = state["ema"]["weights"], state["model"]
    assert state["ema"]["updates"] == 12
    assert all(torch.equal(saved[k], averaged[k]) for k in saved)
    assert any(not torch.equal(saved[k], raw[k]) for k in saved)


def test_without_ema_nothing_changes(tmp_path, char_tok, text):
    make_trainer(tmp_path / "a", char_tok, text).fit()
    make_trainer(tmp_path / "b", char_tok, text, ema=0.0).fit()
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "ema" not in load_training_state(tmp_path / "a")


def test_a_run_with_ema_resumes_exactly(tmp_path, char_tok, text):
    make_trainer(tmp_path / "a", char_tok, text, ema=0.8).fit()
    first = make_trainer(tmp_path / "b", char_tok, text, ema=0.8)
    interrupt_at(first, 5)
    assert first.fit()["status"] == "interrupted"
    make_trainer(tmp_path / "b", char_tok, text, ema=0.8, resume=True).fit()
    a, b = load_training_state(tmp_path / "a"), load_training_state(tmp_path / "b")
    assert a["ema"]["updates"] == b["ema"]["updates"] == 12
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
        assert torch.equal(a["ema"]["weights"][k], b["ema"]["weights"][k]), k
    best_a = load_file(tmp_path / "a" / "model.safetensors")
    best_b = load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)


def test_ema_cannot_change_on_resume(tmp_path, char_tok, text):
    first = make_trainer(tmp_path / "run", char_tok, text, ema=0.8)
    interrupt_at(first, 5)
    first.fit()
    with pytest.raises(ConfigError, match="ema=0.9"):
        make_trainer(tmp_path / "run", char_tok, text, ema=0.9, resume=True)


def test_an_ema_of_one_or_more_is_refused():
    from textrnn import TrainConfig
    with pytest.raises(ConfigError, match="ema"):
        TrainConfig(ema=1.0, max_steps=1).validate()
