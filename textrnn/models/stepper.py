"""One recurrent step at a time, for sampling: the same maths as the encoder, fewer calls.

At batch 1 a step of `nn.LSTM` is dominated by per-call set-up, not arithmetic. Two
tricks remove most of it:
- the first layer's input projection W_ih·embed(token) + b is precomputed for every
  token, so it becomes a row lookup in a (vocab, G·H) table;
- each step is a handful of plain tensor ops (one matmul per layer, in the cells'
  steppers, cells.py), with no packing, validation or dropout branches.
The weights are captured when the stepper is built, so build a new one after they change.
"""
import torch


class EncoderStepper:
    """An `RNNEncoder` one token at a time (unidirectional, eval mode); `RNNEncoder.stepper()`
    builds it. Call it under `torch.no_grad()` (Stepper does)."""

    def __init__(self, layers, embed_weight, features=None):
        """layers: one cell stepper per layer, bottom first; embed_weight: the embedding
        (vocab, E); features: the encoder's ids (B, k) -> (B, k, E) when a conv front end
        comes before the first layer, else None. It reads <pad> as zeros, the convolution's
        own left padding, so a window left-padded with <pad> before the text starts is exact."""
        self.layers = layers
        self.features = features
        if features is None:
            with torch.no_grad():  # (vocab, G*H): first-layer input projection per token
                self.table = layers[0].input_proj(embed_weight.detach())

    @staticmethod
    def step_state(state):
        """Encoder state (list of (1, B, H) tensors, (h, c) pairs for an LSTM) -> per-layer
        step states of (B, H) tensors."""
        return [tuple(t[0] for t in s) if isinstance(s, tuple) else s[0] for s in state]

    def step(self, ids, state):
        """ids: (B,) newest tokens, or (B, k) the last k for a conv front end; state from
        `step_state`. Returns the top layer's output h (B, H) and the new state."""
        if self.features is not None:
            gi = self.layers[0].input_proj(self.features(ids)[:, -1])  # newest position (B, E)
        else:
            gi = self.table[ids]  # (B, G*H)
        new_state = []
        for i, (layer, s) in enumerate(zip(self.layers, state)):
            if i:
                gi = layer.input_proj(h)  # the layer below's output (B, H)
            h, s = layer.step(gi, s)  # h: (B, H)
            new_state.append(s)
        return h, new_state


class Stepper:
    """Incremental inference for an `RNNLanguageModel`: its encoder's stepper, then the head's
    scorer. `RNNLanguageModel.stepper()` builds it."""

    def __init__(self, encoder: EncoderStepper, score):
        self.encoder = encoder
        self.score = score  # h (B, H) -> next-token scores (B, vocab)

    def step_state(self, state):
        """The model's state (list of (1, B, H) tensors) -> the state `step` takes."""
        return self.encoder.step_state(state)

    @torch.no_grad()
    def step(self, ids, state):
        """ids: (B,) newest tokens, or (B, k) the last k for a conv front end; state from
        `step_state`. Returns next-token scores (B, vocab) and the new state."""
        h, state = self.encoder.step(ids, state)
        return self.score(h), state
