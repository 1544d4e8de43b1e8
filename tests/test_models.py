import pytest
import torch
from torch import nn

from textrnn import ConfigError, ElmanRNN, build_model
from textrnn.inference.stepper import lm_stepper
from textrnn.inference.weights import Dense
from textrnn.models.cells import make_cell
from textrnn.tokenization import PAD_ID

from conftest import model_config, tiny_lm, trained_tied_conv_lm

CELLS = ["lstm", "gru", "rnn", "elman"]


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_elman_cell_equals_torch_rnn(activation, bidirectional):
    torch_rnn = nn.RNN(5, 7, nonlinearity=activation, batch_first=True, bidirectional=bidirectional)
    elman = ElmanRNN(5, 7, activation, bidirectional)
    elman.load_state_dict(torch_rnn.state_dict())  # same parameter names and shapes
    x = torch.randn(3, 11, 5)
    h0 = torch.randn(2 if bidirectional else 1, 3, 7)
    out_t, h_t = torch_rnn(x, h0)
    out_e, h_e = elman(x, h0)
    torch.testing.assert_close(out_e, out_t)
    torch.testing.assert_close(h_e, h_t)


def test_elman_follows_its_equation_with_sigmoid():
    elman = ElmanRNN(4, 3, "sigmoid")
    x, h = torch.randn(2, 1, 4), torch.randn(1, 2, 3)
    out, _ = elman(x, h)
    W, U = elman.weight_ih_l0, elman.weight_hh_l0
    expected = torch.sigmoid(x[:, 0] @ W.T + elman.bias_ih_l0 + h[0] @ U.T + elman.bias_hh_l0)
    torch.testing.assert_close(out[:, 0], expected)


@pytest.mark.parametrize("cell", CELLS)
def test_carrying_state_over_a_split_sequence_equals_one_pass(cell):
    model = tiny_lm(20, cell).eval()
    ids = torch.randint(2, 20, (3, 24))
    whole, _ = model(ids)
    first, state = model(ids[:, :10])
    second, _ = model(ids[:, 10:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


@pytest.mark.parametrize("cell", CELLS)
def test_a_model_overfits_one_small_batch(cell):
    model = tiny_lm(12, cell, hidden_size=32)
    ids = torch.randint(2, 12, (2, 16))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        logits, _ = model(ids[:, :-1])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


@pytest.mark.parametrize("cell,conv,pad_row", [(c, 0, "zero") for c in CELLS] +
                         [("lstm", 3, "zero"), ("lstm", 3, "random"), ("gru", 4, "random")])
def test_stepper_matches_the_full_forward_pass(cell, conv, pad_row):
    model = tiny_lm(20, cell, conv_kernel=conv).eval()
    if pad_row == "random":  # as a tied output layer trains it; the stepper must not care
        with torch.no_grad():
            model.encoder.embed.weight[PAD_ID].normal_()
    ids = torch.randint(2, 20, (2, 9))
    full, _ = model(ids)
    stepper = lm_stepper(model)
    _, state = model(ids[:, :1])  # a one-token prompt: the first windows start before the text
    state = stepper.step_state(state, ids[:, :1])  # a conv front end's window rides along
    for t in range(1, 9):
        logits, state = stepper.step(ids[:, t], state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-4)


def _trained_tied_conv_lm(vocab_size, kernel):
    return trained_tied_conv_lm(vocab_size, kernel, torch.randint(2, vocab_size, (4, 17)))


@pytest.mark.parametrize("kernel", [3, 5])
def test_a_trained_conv_stepper_matches_the_full_forward_pass_from_the_start(kernel):
    model = _trained_tied_conv_lm(20, kernel)
    ids = torch.randint(2, 20, (3, 10))
    full, _ = model(ids)  # (B, T, V): the convolution pads the start with zeros
    stepper = lm_stepper(model)
    _, state = model(ids[:, :1])  # a one-token prompt, as sampling runs it
    state = stepper.step_state(state, ids[:, :1])  # its window left-padded with <pad>
    for t in range(1, 10):
        logits, state = stepper.step(ids[:, t], state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-4)


def test_padding_does_not_change_a_conv_classifiers_prediction_whatever_its_row_holds():
    model = build_model(model_config("classifier", vocab_size=20, labels=["a", "b"], conv_kernel=3,
                                     embed_dim=12, hidden_size=16)).eval()
    with torch.no_grad():  # an encoder taken from a tied language model brings a trained row
        model.encoder.embed.weight[PAD_ID].normal_()
    short, long = torch.randint(2, 20, (1, 5)), torch.randint(2, 20, (1, 9))
    batch = torch.cat([nn.functional.pad(short, (0, 4), value=PAD_ID), long])  # (2, 9)
    together = model(batch, torch.tensor([5, 9]))
    torch.testing.assert_close(together[:1], model(short, torch.tensor([5])))
    torch.testing.assert_close(together[1:], model(long, torch.tensor([9])))


@pytest.mark.parametrize("kind", CELLS)
def test_a_cells_steps_equal_its_sequence_forward(kind):
    cell = make_cell(kind, 5, 7, "relu" if kind == "rnn" else "tanh")
    x, h0 = torch.randn(3, 6, 5), torch.randn(1, 3, 7)
    state0 = (h0, torch.randn(1, 3, 7)) if kind == "lstm" else h0  # (1, B, H) each
    out, _ = cell(x, state0)  # (B, T, H)
    stepper = cell.stepper(Dense)
    state = cell.step_state(state0)  # (B, H) each
    for t in range(x.size(1)):
        h, state = stepper.step(stepper.input_proj(x[:, t]), state)
        torch.testing.assert_close(h, out[:, t], atol=1e-6, rtol=1e-5)


def test_the_elman_stepper_follows_its_equation_with_sigmoid():
    elman = ElmanRNN(4, 3, "sigmoid")
    x, h = torch.randn(2, 4), torch.randn(2, 3)
    stepper = elman.stepper(Dense)
    out, state = stepper.step(stepper.input_proj(x), (h,))
    torch.testing.assert_close(out, elman.step(x, h))
    assert state[0] is out


@pytest.mark.parametrize("kind,torch_cls", [("lstm", nn.LSTM), ("gru", nn.GRU), ("rnn", nn.RNN)])
def test_torch_cells_keep_torchs_parameter_names(kind, torch_cls):
    for bidirectional in (False, True):
        cell = make_cell(kind, 5, 7, bidirectional=bidirectional)
        reference = torch_cls(5, 7, batch_first=True, bidirectional=bidirectional)
        assert isinstance(cell, torch_cls) and cell.batch_first
        assert [(n, p.shape) for n, p in cell.named_parameters()] == \
            [(n, p.shape) for n, p in reference.named_parameters()]
        cell.load_state_dict(reference.state_dict())  # saved weights load unchanged
        x = torch.randn(2, 4, 5)
        torch.testing.assert_close(cell(x)[0], reference(x)[0])


def test_a_bidirectional_cell_has_no_stepper():
    with pytest.raises(ValueError, match="bidirectional"):
        make_cell("lstm", 5, 7, bidirectional=True).stepper(Dense)


def test_tied_weights_share_one_matrix():
    model = tiny_lm(20, tie_weights=True, embed_dim=16, hidden_size=16)
    assert model.head.proj.weight is model.encoder.embed.weight


def test_causal_conv_does_not_see_the_future():
    model = tiny_lm(20, conv_kernel=3).eval()
    ids = torch.randint(2, 20, (1, 10))
    changed = ids.clone()
    changed[0, 6] = (ids[0, 6] + 1) % 18 + 2
    a, _ = model(ids)
    b, _ = model(changed)
    torch.testing.assert_close(a[:, :6], b[:, :6])


@pytest.mark.parametrize("bad", [dict(cell="transformer"), dict(hidden_size=0),
                                 dict(dropout=1.0), dict(bidirectional=True),
                                 dict(tie_weights=True, embed_dim=8, hidden_size=16),
                                 dict(task="classifier", labels=["a", "b"], head_hidden=-1)])
def test_bad_model_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        build_model(model_config(vocab_size=10, **bad))


@pytest.mark.parametrize("kind,activation", [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"),
                                             ("rnn", "relu")])
def test_padded_run_equals_packed_sequences(kind, activation):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from textrnn.models.padded import run_padded

    rnn = make_cell(kind, 6, 5, activation, bidirectional=True)  # the twin keeps the activation
    x = torch.randn(3, 8, 6)
    lengths = torch.tensor([8, 3, 5])
    packed, _ = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    expected, _ = pad_packed_sequence(packed, batch_first=True, total_length=8)
    torch.testing.assert_close(run_padded(rnn, x, lengths), expected, atol=1e-6, rtol=1e-5)


def _ulmfit_classifier():
    cfg = model_config("classifier", vocab_size=30, labels=["neg", "pos"], embed_dim=8,
                      hidden_size=8, num_layers=1, pooling="concat", head_hidden=6)
    return build_model(cfg)


def test_ulmfit_head_normalises_the_pooled_features():
    torch.manual_seed(0)
    model = _ulmfit_classifier().train()
    ids, lengths = torch.randint(2, 30, (16, 9)), torch.full((16,), 9)
    h, _ = model.encoder(ids, lengths=lengths)
    pooled = model.head.pool(h, lengths)  # (16, 24)
    normed = model.head.block[0](pooled)
    # BatchNorm in training mode: each pooled feature has mean 0, variance 1 over the batch
    # (up to BatchNorm's eps, which matters for these small raw variances).
    assert pooled.var(0).max() < 0.5
    torch.testing.assert_close(normed.mean(0), torch.zeros(24), atol=1e-5, rtol=0)
    torch.testing.assert_close(normed.var(0, unbiased=False), torch.ones(24), atol=2e-2, rtol=0)
    assert model(ids, lengths).shape == (16, 2)


def test_ulmfit_head_trains_on_a_batch_of_one_with_running_statistics():
    torch.manual_seed(0)
    model = _ulmfit_classifier().train()
    ids, lengths = torch.randint(2, 30, (1, 5)), torch.tensor([5])
    before = model.head.block[0].running_mean.clone()
    model(ids, lengths).sum().backward()  # plain BatchNorm1d raises on one example
    assert torch.equal(model.head.block[0].running_mean, before)
    assert model.head.proj.weight.grad is not None
