"""The cells whose gates read only their input (minGRU, minLSTM, RG-LRU): their whole-sequence
form (one product and a scan) equals the same weights run one token at a time, forwards,
backwards and in gradients, at any length, with padding, in both directions; it stays
finite at extreme gates; and the models built of them sample, export and resume."""
import pytest
import torch

import textrnn
from textrnn import EncoderConfig, ModelConfig, TrainConfig
from textrnn.checkpoint import load_training_state
from textrnn.errors import ConfigError
from textrnn.inference.stepper import lm_stepper
from textrnn.inference.weights import Dense
from textrnn.models.cells import make_cell
from textrnn.models.cells.scan import linear_scan, sequential_scan
from textrnn.nested import leaves

from conftest import make_text

NEW = ["mingru", "minlstm", "rglru", "mlstm"]
H = 8  # the cells' width in these checks
# mLSTM: 2 heads of 4 (a layer norm over 2 values would magnify rounding), chunks of 16 so
# that longer sequences cross chunks
SETTINGS = EncoderConfig(heads=2, chunk_size=16)


@pytest.mark.parametrize("T", [1, 7, 128, 2048])
def test_the_scan_equals_the_recurrence_and_so_do_its_gradients(T):
    torch.manual_seed(T)
    a, b = torch.rand(3, T, 4, dtype=torch.float64), torch.randn(3, T, 4, dtype=torch.float64)
    h0 = torch.randn(3, 4, dtype=torch.float64)
    inputs = [t.requires_grad_() for t in (a, b, h0)]
    got, want = linear_scan(*inputs).double(), sequential_scan(*inputs)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    grad = torch.randn_like(want)
    for g, w in zip(torch.autograd.grad(got, inputs, grad), torch.autograd.grad(want, inputs, grad)):
        torch.testing.assert_close(g.double(), w, atol=1e-5, rtol=1e-5)


def token_by_token(cell, x, state=None):
    """The cell's own forward over one token at a time, its state carried: a plain loop."""
    outs = []
    for t in range(x.size(1)):
        y, state = cell(x[:, t:t + 1], state)
        outs.append(y)
    return torch.cat(outs, 1), state


@pytest.mark.parametrize("kind", NEW)
@pytest.mark.parametrize("T", [1, 7, 128, 2048])
def test_the_sequence_form_equals_a_loop_of_the_same_weights(kind, T):
    torch.manual_seed(0)
    cell = make_cell(kind, 5, H, settings=SETTINGS)
    x = torch.randn(2, T, 5, requires_grad=True)
    whole, state = cell(x)
    looped, loop_state = token_by_token(cell, x)
    torch.testing.assert_close(whole, looped, atol=1e-5, rtol=1e-4)
    for a, b in zip(leaves(state), leaves(loop_state)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    # Gradients of every weight and of the input up to T = 128; at 2048 the scan's own
    # gradients are checked against the recurrence's (the test above), and the cells' loop
    # backward (3.4 s here) would take the tests past their 60 s limit.
    if T <= 128:
        grad = torch.randn_like(whole)
        wrt = [x, *cell.parameters()]
        for g, w in zip(torch.autograd.grad(whole, wrt, grad), torch.autograd.grad(looped, wrt, grad)):
            torch.testing.assert_close(g, w, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", NEW)
def test_padding_is_nothing_in_either_direction(kind):
    torch.manual_seed(1)
    cell = make_cell(kind, 5, H, "tanh", True, settings=SETTINGS)
    x = torch.randn(3, 9, 5)
    lengths = torch.tensor([9, 4, 1])
    out, _ = cell(x, lengths=lengths)
    for i, n in enumerate(lengths.tolist()):
        alone, _ = cell(x[i:i + 1, :n])
        torch.testing.assert_close(out[i:i + 1, :n], alone, atol=1e-5, rtol=1e-4)
        assert not out[i, n:].any()
    # the backward half is the reverse weights read from each sequence's last real token
    reverse = make_cell(kind, 5, H, settings=SETTINGS)
    reverse.load_state_dict({k[: -len("_reverse")]: v for k, v in cell.state_dict().items()
                             if k.endswith("_reverse")})
    for i, n in enumerate(lengths.tolist()):
        back, _ = token_by_token(reverse, x[i:i + 1, :n].flip(1))
        torch.testing.assert_close(out[i:i + 1, :n, H:], back.flip(1), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", NEW)
def test_a_state_carried_across_windows_equals_one_long_window(kind):
    torch.manual_seed(2)
    cell = make_cell(kind, 5, H, settings=SETTINGS)
    x = torch.randn(2, 40, 5)
    whole, state = cell(x)
    first, mid = cell(x[:, :17])
    second, end = cell(x[:, 17:], mid)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-5, rtol=1e-4)
    for a, b in zip(leaves(end), leaves(state)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", NEW)
def test_the_step_form_equals_the_sequence_form(kind):
    torch.manual_seed(3)
    cell = make_cell(kind, 5, H, settings=SETTINGS).eval()
    x = torch.randn(2, 12, 5)
    whole, _ = cell(x)
    _, state = cell(x[:, :1])
    state = cell.step_state(state)
    stepper = cell.stepper(Dense)
    for t in range(1, 12):
        h, state = stepper.step_from(x[:, t], state)
        torch.testing.assert_close(h, whole[:, t], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", NEW)
def test_long_sequences_at_extreme_gates_stay_finite(kind):
    torch.manual_seed(4)
    cell = make_cell(kind, 4, 4)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(200)  # gates saturate at 0 and 1
    x = torch.randn(1, 8192, 4, requires_grad=True)
    out, _ = cell(x)
    out.square().mean().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in cell.parameters())


@pytest.mark.parametrize("kind", NEW)
def test_bf16_is_fp32_within_its_rounding(kind):
    torch.manual_seed(5)
    cell = make_cell(kind, 16, 16)
    x = torch.randn(2, 64, 16)
    want, _ = cell(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = cell(x)
    assert (got.float() - want).abs().max() < 0.05 * want.abs().max()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "play.txt"
    path.write_text(make_text(60))
    return path


@pytest.mark.parametrize("kind", NEW)
def test_a_language_model_of_the_cell_resumes_exactly_and_samples_in_every_engine(kind, corpus, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    data = textrnn.DataConfig(data=str(corpus))
    model = ModelConfig(encoder=EncoderConfig(cell=kind, embed_dim=8, hidden_size=12, num_layers=2,
                                              dropout=0.1))
    steps = lambda n: TrainConfig(batch_size=8, bptt=16, lr=1e-2, max_steps=n, eval_every=n,  # noqa: E731
                                  save_every=n, warmup_steps=0, schedule="constant", device="cpu",
                                  seed=0)
    textrnn.train("lm", data, model, steps(10), tmp_path / "straight", show_progress=False)
    textrnn.train("lm", data, model, steps(5), tmp_path / "resumed", show_progress=False)
    textrnn.train("lm", data, model, steps(10), tmp_path / "resumed", resume=True, show_progress=False)
    a, b = (load_training_state(tmp_path / d) for d in ("straight", "resumed"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])

    lm = textrnn.load(tmp_path / "straight")
    ids = torch.tensor([lm.encode_prompt("ANNA: the sea is calm")])
    full, _ = lm.model(ids)
    stepper = lm_stepper(lm.model)
    _, state = lm.model(ids[:, :1])
    state = stepper.step_state(state, ids[:, :1])
    for t in range(1, ids.size(1)):
        logits, state = stepper.step(ids[:, t], state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-4)
    greedy = lm.generate("ANNA:", max_new_tokens=20, greedy=True)
    assert ort and lm.generate("ANNA:", max_new_tokens=20, greedy=True, engine="onnxruntime") == greedy
    for weights in ("bf16", "int8"):  # other formats sample (their rounding may pick other tokens)
        assert len(lm.generate("ANNA:", max_new_tokens=20, seed=1, weights=weights)[0]) == 25
    int8 = lm.generate("ANNA:", max_new_tokens=20, seed=1, weights="int8", engine="onnxruntime")
    assert len(int8[0]) == 25


def test_mlstm_s_chunks_change_its_cost_not_its_outputs():
    torch.manual_seed(6)
    x = torch.randn(2, 50, 5)
    outs = []
    for size in (1, 7, 64):
        torch.manual_seed(7)
        outs.append(make_cell("mlstm", 5, H, settings=EncoderConfig(heads=2, chunk_size=size))(x)[0])
    for other in outs[1:]:
        torch.testing.assert_close(other, outs[0], atol=1e-5, rtol=1e-4)


def test_a_cell_with_its_own_convolution_refuses_a_second_in_one_line():
    with pytest.raises(ConfigError, match="rglru cell has its own temporal convolution.*--conv-kernel 3"):
        textrnn.build_model(ModelConfig(task="lm", vocab_size=10, encoder=EncoderConfig(cell="rglru", conv_kernel=3),
                                        head=textrnn.LMHeadConfig()))


def test_an_unknown_cell_lists_the_cells():
    with pytest.raises(ConfigError) as err:
        make_cell("lstn", 4, 4)
    assert all(kind in str(err.value) for kind in ["lstm", *NEW])
