"""Sampling with bf16 or int8 weights (models/step_weights.py) and the two step paths of
batched sampling (models/stepper.py): each follows the exact fp32 model."""
import pytest
import torch

from textrnn import ConfigError, LanguageModel
from textrnn.inference.weights import INT8_FROM, SEVEN_BIT_INPUTS, BF16Dense, Dense, Int8Dense, dense_for
from textrnn.inference.engines import TIMED_FROM, cached_stepper, fastest_stepper
from textrnn.inference.stepper import SequenceStepper, Stepper, lm_stepper

from conftest import tiny_lm

CELLS = ["lstm", "gru", "rnn", "elman"]
HELD = {"fp32": Dense, "bf16": BF16Dense, "int8": Int8Dense}


def stepped(model, stepper, ids):
    """Scores (B, T, V) of ids (B, T) read one token at a time by `stepper`."""
    first, state = model(ids[:, :1])
    state, out = stepper.step_state(state, ids[:, :1]), [first[:, 0]]
    for t in range(1, ids.size(1)):
        scores, state = stepper.step(ids[:, t], state)
        out.append(scores)
    return torch.stack(out, 1)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("weights", ["bf16", "int8"])
def test_a_stepper_with_smaller_weights_follows_the_exact_model(cell, weights):
    # Wide enough that every recurrent matrix is large enough for int8 (INT8_FROM entries).
    model = tiny_lm(20, cell, hidden_size=768, embed_dim=32).eval()
    ids = torch.randint(2, 20, (3, 12))
    full, _ = model(ids)  # (B, T, V)
    stepper = lm_stepper(model, weights)
    # The recurrent matrices are held in the format asked for, the upper layer's input and
    # recurrent halves as one matrix except in a GRU; a small output layer (20 x 768) stays
    # fp32 under int8, which is faster for a matrix that small.
    bottom, top = stepper.encoder.layers
    assert type(bottom.hh) is HELD[weights] and bottom.ihh is None
    assert type(top.hh if cell == "gru" else top.ihh) is HELD[weights]
    assert type(stepper.score) is (Dense if weights == "int8" else HELD[weights])
    got = stepped(model, stepper, ids)
    err = (got - full).abs().max() / full.abs().max()
    assert err < 0.03, f"{weights} strays {err:.4f} of the logits' scale"


@pytest.mark.parametrize("dense", [BF16Dense, Int8Dense])
def test_a_smaller_matrix_product_stays_within_a_percent(dense):
    w, b = torch.randn(512, 256) * 0.05, torch.randn(512) * 0.1
    x, add = torch.rand(8, 256) * 2 - 1, torch.randn(8, 512)
    exact = x @ w.T + b + add
    got = dense(w, b)(x, add)
    # 7-bit inputs where the CPU lacks VNNI (weights.SEVEN_BIT_INPUTS) lose half a bit
    tolerance = 0.015 if dense is Int8Dense and SEVEN_BIT_INPUTS else 0.01
    assert ((got - exact).norm() / exact.norm()) < tolerance


def test_int8_holds_only_matrices_large_enough_to_gain():
    int8 = dense_for("int8")
    assert type(int8(torch.randn(INT8_FROM // 512, 512))) is Int8Dense
    assert type(int8(torch.randn(INT8_FROM // 512 - 1, 512))) is Dense
    with pytest.raises(ConfigError, match="CPU only"):  # even a small matrix, off the CPU
        int8(torch.empty(4, 4, device="meta"))


def test_an_unknown_weights_format_is_one_line(char_tok):
    with pytest.raises(ConfigError, match="fp32, bf16, int8"):
        dense_for("int4")
    lm = LanguageModel(tiny_lm(char_tok.get_vocab_size()).eval(), char_tok)
    with pytest.raises(ConfigError, match="weights must be one of"):
        lm.generate("ANNA:", max_new_tokens=5, weights="fp8")


@pytest.mark.parametrize("weights", ["bf16", "int8"])
def test_sampling_with_smaller_weights_is_reproducible(char_tok, weights):
    lm = LanguageModel(tiny_lm(char_tok.get_vocab_size()).eval(), char_tok)
    a = lm.generate("ANNA:", max_new_tokens=30, seed=1, num_samples=3, weights=weights)
    assert a == lm.generate("ANNA:", max_new_tokens=30, seed=1, num_samples=3, weights=weights)
    assert all(t.startswith("ANNA:") and len(t) == 35 for t in a)


@pytest.mark.parametrize("cell", CELLS)
def test_the_sequence_path_steps_as_the_stepper_does(cell):
    model = tiny_lm(20, cell).eval()
    ids = torch.randint(2, 20, (TIMED_FROM, 10))
    torch.testing.assert_close(stepped(model, SequenceStepper(model), ids),
                               stepped(model, lm_stepper(model), ids), atol=1e-5, rtol=1e-4)


def test_the_faster_path_is_timed_only_where_both_apply(char_tok):
    model = tiny_lm(char_tok.get_vocab_size()).eval()
    assert type(fastest_stepper(model, TIMED_FROM - 1)) is Stepper  # small batches: the stepper
    assert type(fastest_stepper(model, TIMED_FROM, "int8")) is Stepper  # only it holds int8
    conv = tiny_lm(char_tok.get_vocab_size(), conv_kernel=3).eval()
    assert type(fastest_stepper(conv, TIMED_FROM)) is Stepper  # it reads a window of tokens
    first = type(fastest_stepper(model, TIMED_FROM))
    assert first in (Stepper, SequenceStepper)
    assert type(fastest_stepper(model, TIMED_FROM)) is first  # timed once, then kept
    lm = LanguageModel(model, char_tok)
    a = lm.generate("ANNA:", max_new_tokens=20, seed=2, num_samples=TIMED_FROM)
    assert a == lm.generate("ANNA:", max_new_tokens=20, seed=2, num_samples=TIMED_FROM)


def test_the_path_timed_faster_is_the_one_sampling_takes(char_tok, monkeypatch):
    import textrnn.inference.engines as stepper_module

    model = tiny_lm(char_tok.get_vocab_size(), hidden_size=24).eval()  # a shape no other test times
    calls = []

    def timed(stepper, model, ids):
        calls.append(type(stepper))
        return 1.0 if type(stepper) is Stepper else 0.5  # the sequence path "faster"

    monkeypatch.setattr(stepper_module, "_seconds_per_step", timed)
    assert type(fastest_stepper(model, 32)) is SequenceStepper
    assert sorted(c.__name__ for c in calls) == ["SequenceStepper", "Stepper"]
    lm = LanguageModel(model, char_tok)
    texts = lm.generate("ANNA:", max_new_tokens=15, seed=0, num_samples=32)
    assert len(calls) == 2  # timed once, then kept
    assert len(texts) == 32 and all(len(t) == 20 for t in texts)


def test_a_kept_stepper_is_built_again_once_a_weight_changes(char_tok):
    model = tiny_lm(char_tok.get_vocab_size()).eval()
    first = cached_stepper(model)
    assert cached_stepper(model) is first
    with torch.no_grad():
        model.head.proj.bias.add_(1.0)  # an optimizer step changes weights in place like this
    second = cached_stepper(model)
    assert second is not first
    ids = torch.tensor([3])
    _, state = model(ids[None])
    fresh = lm_stepper(model)
    torch.testing.assert_close(second.step(ids, second.step_state(state, ids[None]))[0],
                               fresh.step(ids, fresh.step_state(state, ids[None]))[0])
    model.double()  # new storage, same parameter objects
    assert cached_stepper(model) is not second


@pytest.mark.parametrize("cell", CELLS)
def test_a_fused_step_equals_the_two_products(cell):
    model = tiny_lm(20, cell).eval()
    layer = model.encoder.layers[1]
    apart, fused = layer.stepper(Dense), layer.stepper(Dense, fuse=True)
    x, h = torch.rand(3, 16) * 2 - 1, torch.rand(3, 16) * 2 - 1
    state = (h, torch.randn(3, 16)) if cell == "lstm" else (h,)
    out_apart, _ = apart.step_from(x, state)
    out_fused, _ = fused.step_from(x, state)
    torch.testing.assert_close(out_fused, out_apart, atol=1e-6, rtol=1e-5)
