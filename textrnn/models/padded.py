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

_TWINS = weakref.WeakKeyDictionary()  # rnn -> a weightless unidirectional copy


def _unidirectional_twin(rnn):
    """The cell's weightless one-direction twin (its contract's `one_direction`), made once."""
    twin = _TWINS.get(rnn)
    if twin is None:
        twin = _TWINS[rnn] = rnn.one_direction()
    return twin


def reverse_within_length(x, lengths):
    """(B, T, D) -> each sequence's first lengths[b] steps in reverse order, padding in place."""
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
    mask = torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None]  # (B, T)
    return out * mask.unsqueeze(-1).to(out.dtype)
