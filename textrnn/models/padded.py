"""Variable-length batches through torch's fused RNN kernels, without packing.

On CPU, `pack_padded_sequence` makes nn.LSTM fall back to a step-by-step loop that is
10-20x slower than its fused (oneDNN) kernel on a padded batch. Length-bucketed batches
carry little padding, so we run the padded batch instead and keep the results exact:
- forward direction: position t only sees positions <= t, so a real token never sees
  the padding after it; outputs at padded positions are zeroed;
- backward direction: each sequence is reversed within its own length (padding stays at
  the end), run forward with the reverse weights, and reversed back, so it too starts at
  the sequence's last real token.
(On CUDA, cuDNN runs packed sequences natively and the encoder packs as usual.)
"""
import weakref

import torch
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

_TWINS = weakref.WeakKeyDictionary()  # rnn -> a weightless unidirectional copy


def _unidirectional_twin(rnn):
    """The cell's weightless one-direction twin (its contract's `one_direction`), made once."""
    twin = _TWINS.get(rnn)
    if twin is None:
        twin = _TWINS[rnn] = rnn.one_direction()
    return twin


def real_positions(lengths, T: int):
    """(B, T) bool: True at each sequence's first lengths[b] positions, False at padding."""
    return torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]


def reverse_within_length(x, lengths):
    """(B, T, D) -> each sequence's first lengths[b] steps in reverse order, padding in place
    (with lengths None, the whole sequence reversed)."""
    if lengths is None:
        return x.flip(1)
    B, T = x.shape[:2]
    t = torch.arange(T, device=x.device).expand(B, T)
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T)
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.size(-1)))


def run_padded(rnn, x, lengths, overrides=None):
    """One layer of a cell that leaves lengths to the encoder (cells/contract.py: its
    reverse direction's parameters carry torch's "_reverse" suffix) over a padded batch
    x (B, T, E) with true `lengths` (B,).

    Returns outputs (B, T, D*H) equal to what packed sequences give, zeros at padding.
    `overrides` replaces parameters (e.g. weight-dropped matrices).
    """
    weights = {**dict(rnn.named_parameters()), **(overrides or {})}
    twin = _unidirectional_twin(rnn)
    forward = {k: v for k, v in weights.items() if not k.endswith("_reverse")}
    out, _ = functional_call(twin, forward, (x,))  # (B, T, H)
    if rnn.bidirectional:
        backward = {k[: -len("_reverse")]: v for k, v in weights.items() if k.endswith("_reverse")}
        rev, _ = functional_call(twin, backward, (reverse_within_length(x, lengths),))
        out = torch.cat([out, reverse_within_length(rev, lengths)], -1)  # (B, T, 2H)
    return out * real_positions(lengths, x.size(1)).unsqueeze(-1).to(out.dtype)


def run_layer(rnn, x, state=None, lengths=None, overrides=None):
    """One layer of any cell: (outputs (B, T, D*H), state). With `lengths` (a padded batch) no
    state goes in or comes out: a cell that takes lengths gets them, another runs padded on
    a CPU (run_padded) or packed on a GPU (cuDNN reads packed sequences natively).
    `overrides` replaces parameters (e.g. weight-dropped matrices)."""
    call = (lambda *a: functional_call(rnn, overrides, a)) if overrides else rnn
    if lengths is None:
        return call(x, state) if state is not None else call(x)
    if rnn.takes_lengths:
        return call(x, None, lengths)[0], None
    if not x.is_cuda:
        return run_padded(rnn, x, lengths, overrides), None
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = call(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return out, None
