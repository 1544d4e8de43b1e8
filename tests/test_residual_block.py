"""--block residual: any cell in a pre-norm residual block with a gated MLP; the step form
equals the sequence form, padding is nothing, and a config without the setting is a plain
stack."""
import json

import pytest
import torch

import textrnn
from textrnn import EncoderConfig, ModelConfig
from textrnn.errors import ConfigError
from textrnn.inference.stepper import lm_stepper

CELLS = ["lstm", "gru", "elman", "mingru", "minlstm", "rglru", "mlstm"]


def model(task, **encoder):
    head = {"lm": textrnn.LMHeadConfig(), "classifier": textrnn.ClassifierHeadConfig(
        pooling="max", labels=["neg", "pos"])}[task]
    cfg = ModelConfig(task=task, vocab_size=20, head=head,
                      encoder=EncoderConfig(**{"embed_dim": 6, "hidden_size": 8, "num_layers": 2,
                                               "dropout": 0.0, "block": "residual", "heads": 2,
                                               **encoder}))
    torch.manual_seed(0)
    return textrnn.build_model(cfg).eval()


@pytest.mark.parametrize("cell", CELLS)
def test_a_residual_language_model_steps_as_it_reads(cell):
    lm = model("lm", cell=cell)
    ids = torch.randint(2, 20, (2, 9))
    full, _ = lm(ids)
    stepper = lm_stepper(lm)
    _, state = lm(ids[:, :1])
    state = stepper.step_state(state, ids[:, :1])
    for t in range(1, 9):
        logits, state = stepper.step(ids[:, t], state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "mingru", "mlstm"])
def test_a_residual_bidirectional_classifier_reads_padding_as_nothing(cell):
    clf = model("classifier", cell=cell, bidirectional=True)
    ids = torch.randint(2, 20, (2, 7))
    ids[1, 4:] = 0  # <pad>
    lengths = torch.tensor([7, 4])
    both = clf(ids, lengths)
    alone = clf(ids[1:, :4], lengths[1:])
    torch.testing.assert_close(both[1:], alone, atol=1e-5, rtol=1e-4)


def test_blocks_hold_the_stream_s_width_and_the_plain_stack_has_no_block():
    lm = model("lm", cell="mingru")
    assert [type(layer).__name__ for layer in lm.encoder.layers] == ["ResidualBlock"] * 2
    assert lm.encoder.layers[0].inp is not None and lm.encoder.layers[1].inp is None  # 6 -> 8
    assert lm.encoder.layers[1].out_norm is not None and lm.encoder.layers[0].out_norm is None
    plain = model("lm", cell="mingru", block="plain")
    assert [type(layer).__name__ for layer in plain.encoder.layers] == ["MinGRU"] * 2


def test_a_config_written_before_blocks_loads_as_the_plain_stack(tmp_path):
    lm = model("lm", cell="lstm", block="plain")
    written = lm.cfg.to_dict()
    for key in ("block", "heads", "chunk_size"):
        del written["encoder"][key]
    cfg = textrnn.config_from_dict(json.loads(json.dumps(written)))
    assert cfg.encoder.block == "plain"
    again = textrnn.build_model(cfg)
    assert again.load_state_dict(lm.state_dict()) is not None


def test_a_forecaster_refuses_the_residual_block_in_one_line():
    cfg = ModelConfig(task="forecaster", tokenizer="scaler", vocab_size=1,
                      encoder=EncoderConfig(block="residual"),
                      head=textrnn.ForecastHeadConfig(inputs=["y"], targets=["y"]))
    with pytest.raises(ConfigError, match="stacks its cells plainly; drop block='residual'"):
        textrnn.build_model(cfg)
