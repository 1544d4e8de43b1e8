"""One recurrent step at a time, for sampling: the same maths as the encoder, fewer calls.

At batch 1 a step of `nn.LSTM` is dominated by per-call set-up, not arithmetic. Two
tricks remove most of it:
- the first layer's input projection W_ih·embed(token) + b is precomputed for every
  token, so it becomes a row lookup in a (vocab, G·H) table;
- each step is a handful of plain tensor ops (one matmul per layer, in the cells' own
  steppers, models/cells/), with no packing, validation or dropout branches.
The weights are captured when the stepper is built, so build a new one after they change;
`weights` picks the format they are held in (weights.py), and engines.py what runs the
step: these torch ops, or the same step traced into onnxruntime (onnx_engine.py).

Every stepper's state is batch first: per layer, the cell's step layout (a tuple of
(B, ...) tensors), and for a conv front end also the last k - 1 tokens, so samplers pick,
repeat and join rows of it without knowing what it holds.
"""
import torch

from ..nested import map_state
from ..tokenization import PAD_ID
from .weights import Dense, dense_for


def step_layout(cells, state) -> list:
    """Per layer, the model's state (each cell's sequence layout) as its cell steps it."""
    return [cell.step_state(s) for cell, s in zip(cells, state)]


class EncoderStepper:
    """An `RNNEncoder` one token at a time (unidirectional, eval mode); `encoder_stepper()`
    builds it. Call it under `torch.no_grad()` (Stepper does)."""

    def __init__(self, cells, layers, table=None, features=None, kernel: int = 0):
        """cells: the encoder's layers (their state layouts); layers: one cell stepper per
        layer, bottom first; table (vocab, G*H): the first layer's input projection of every
        token's embedding, or None when `features`, the encoder's ids (B, k) -> (B, k, E),
        runs a conv front end of width `kernel` before the first layer. It reads <pad> as
        zeros, the convolution's own left padding, so a window left-padded with <pad>
        before the text starts is exact."""
        self.cells, self.layers, self.table = cells, layers, table
        self.features, self.kernel = features, kernel

    def step_state(self, state, prompt):
        """The encoder's state after reading `prompt` (B, P) -> the state `step` takes."""
        layers = step_layout(self.cells, state)
        if self.features is None:
            return layers
        k = self.kernel - 1  # the window of earlier tokens the next step's convolution reads
        window = torch.nn.functional.pad(prompt[:, -k:], (k - min(k, prompt.size(1)), 0), value=PAD_ID)
        return layers, window  # (B, k - 1)

    def step(self, ids, state):
        """ids (B,): the newest tokens; state from `step_state`. Returns the top layer's
        output h (B, H) and the new state."""
        if self.features is not None:
            layers, window = state
            window = torch.cat([window, ids[:, None]], 1)  # (B, k): the convolution's input
            gi = self.layers[0].input_proj(self.features(window)[:, -1])  # newest position (B, E)
        else:
            layers, gi = state, self.table[ids]  # (B, G*H)
        h, s = self.layers[0].step(gi, layers[0])  # h: (B, H)
        new = [s]
        for layer, s in zip(self.layers[1:], layers[1:]):
            h, s = layer.step_from(h, s)  # from the layer below's output (B, H)
            new.append(s)
        return h, new if self.features is None else (new, window[:, 1:])


@torch.no_grad()
def encoder_stepper(encoder, weights: str = "fp32", fuse: bool | None = None) -> EncoderStepper:
    """`encoder` one token at a time with today's weights held in `weights` format: each
    layer's cell stepper, plus the conv front end if there is one, else a table of the first
    layer's input projection per token, computed once in fp32 whatever the format (it is
    read, not multiplied). `fuse`: whether layers above the first take one product over
    [input, state]; by default a smaller format fuses (see cells/elman.py's AffineStepper),
    fp32 keeps torch's two products, and its rounding."""
    dense = dense_for(weights)
    fuse = weights != "fp32" if fuse is None else fuse
    layers = [rnn.stepper(dense, fuse=i > 0 and fuse) for i, rnn in enumerate(encoder.layers)]
    cells = list(encoder.layers)
    if encoder.conv is not None:
        return EncoderStepper(cells, layers, features=encoder.features, kernel=encoder.cfg.conv_kernel)
    first = layers[0] if weights == "fp32" else encoder.layers[0].stepper(Dense)
    return EncoderStepper(cells, layers, table=first.input_proj(encoder.embed.weight.detach()))  # (vocab, G*H)


class Stepper:
    """Incremental inference for an `RNNLanguageModel`: its encoder's stepper, then the head's
    scorer. `lm_stepper()` builds it."""

    def __init__(self, encoder: EncoderStepper, score):
        self.encoder = encoder
        self.score = score  # h (B, H) -> next-token scores (B, vocab)

    def step_state(self, state, prompt):
        """The model's state after `prompt` (B, P) -> the state `step` takes."""
        return self.encoder.step_state(state, prompt)

    @torch.no_grad()
    def step(self, ids, state):
        """ids (B,): the newest tokens; state from `step_state`. Returns next-token scores
        (B, vocab) and the new state."""
        h, state = self.encoder.step(ids, state)
        return self.score(h), state


def lm_stepper(model, weights: str = "fp32", fuse: bool | None = None) -> Stepper:
    """A language model one token at a time (eval mode), its weights captured now in
    `weights` format (fp32, bf16 or int8): build a new one after they change."""
    return Stepper(encoder_stepper(model.encoder, weights, fuse), model.head.scorer(dense_for(weights)))


class SequenceStepper:
    """A step as the model's own forward over a (B, 1) sequence: torch's fused recurrent
    kernels, which at large batches beat the stepper's separate ops on some CPUs. Its state
    is the cells' step layout too (converted at each step; views, no copies)."""

    def __init__(self, model):
        self.model, self.cells = model, list(model.encoder.layers)

    def step_state(self, state, prompt=None):
        return step_layout(self.cells, state)

    @torch.no_grad()
    def step(self, ids, state):
        """ids (B,) newest tokens -> next-token scores (B, vocab), new state."""
        state = [cell.sequence_state(s) for cell, s in zip(self.cells, state)]
        scores, state = self.model(ids[:, None], state)  # (B, 1, vocab)
        return scores[:, 0], self.step_state(state)


def repeat_rows(state, n: int):
    """A batch-1 step state n times along the batch."""
    return map_state(lambda t: t.expand(n, *t.shape[1:]).contiguous(), state)
