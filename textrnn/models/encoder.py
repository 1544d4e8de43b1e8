"""Embedding -> [1-D convolution] -> stacked recurrent layers, plain or each in a residual
block (residual.py): the encoder every task shares.

Contract in shapes: ids (B, T) -> outputs (B, T, output_size), state. `state` is a list
with one entry per layer, in that layer's cell's sequence layout (cells/contract.py; torch's
kernels: (h, c) for an LSTM, h for the others, each (D, B, H), D the number of directions).
With `lengths` (B,), padding never reaches a real position in either direction, so it
cannot change a result; no state comes back then (None entries).
"""
import torch
from torch import nn

from ..tokenization import PAD_ID
from .cells import make_cell
from .dropout import LockedDropout, embedding_dropout, weight_dropped
from .padded import run_layer
from .residual import ResidualBlock


class RNNEncoder(nn.Module):
    """`causal`: position t never sees t+1, as a language model needs (it matters for the
    convolution; a causal encoder must also be unidirectional). `input_size`: the
    recurrent layers' input width where the caller joins more to the embedding (a tagger's
    character features) before `recur` (default: embed_dim). `vocab_size` 0: no embedding,
    for inputs that are vectors already, read by `recur` alone (speech features)."""

    def __init__(self, cfg, vocab_size: int, causal: bool = False, input_size: int = 0):  # cfg: config.EncoderConfig
        super().__init__()
        self.cfg, self.causal = cfg, causal
        # vocab_size 0: no embedding, for inputs that are features already (speech)
        self.embed = nn.Embedding(vocab_size, cfg.embed_dim, padding_idx=PAD_ID) if vocab_size else None
        self.conv = None
        if cfg.conv_kernel:
            # A CRNN (e.g. Zhou et al. 2015's C-LSTM): n-gram features first, then recurrence.
            self.conv = nn.Conv1d(cfg.embed_dim, cfg.embed_dim, cfg.conv_kernel)
        dirs = 2 if cfg.bidirectional else 1
        width = cfg.hidden_size * dirs
        sizes = [input_size or cfg.embed_dim] + [width] * (cfg.num_layers - 1)
        self.residual = cfg.block == "residual"

        def layer(i, n):  # in a residual block the cell reads and writes the stream's width
            cell = make_cell(cfg.cell, width if self.residual else n, cfg.hidden_size,
                             cfg.activation, cfg.bidirectional, cfg)
            return ResidualBlock(cell, n, width, cfg.dropout, last=i == cfg.num_layers - 1) \
                if self.residual else cell
        self.layers = nn.ModuleList(layer(i, n) for i, n in enumerate(sizes))
        self.drop = LockedDropout(cfg.dropout)
        self.output_size = width

    def features(self, ids):
        """ids (B, T) -> RNN inputs (B, T', E); T' = T, or T - k + 1 after a causal conv."""
        x = embedding_dropout(self.embed, ids, self.cfg.embed_dropout, self.training)
        x = self.drop(x)
        if self.conv is None:
            return x
        # <pad> must read as the zeros the convolution pads with, whatever its row holds: a
        # tied output layer (Press & Wolf 2017) trains that row, which padding_idx cannot stop.
        # Then a sampler's window left-padded with <pad> and a classifier's padded batch see
        # exactly what one text alone sees. The recurrent layers need no mask: with `lengths`
        # a padded position never reaches a real one.
        x = x.masked_fill((ids == PAD_ID)[..., None], 0)  # (B, T, E)
        k = self.cfg.conv_kernel
        # A causal encoder (a language model's) pads on the left only, so position t never
        # sees t+1; a classifier reads the whole text and pads both sides to keep the length.
        pad = (k - 1, 0) if self.causal else ((k - 1) // 2, k // 2)
        x = nn.functional.pad(x.transpose(1, 2), pad)  # (B, E, T + k - 1)
        return torch.relu(self.conv(x)).transpose(1, 2)  # (B, T, E)

    def recur(self, x, state=None, lengths=None):
        """x (B, T, E) -> outputs (B, T, output_size), new state (list, one per layer)."""
        new_state = []
        for i, rnn in enumerate(self.layers):
            if i > 0 and not self.residual:  # a residual block drops its branches itself
                x = self.drop(x)  # between layers (locked, as AWD-LSTM); the head drops the output
            # with `lengths` (classification) no state goes in or comes out
            x, s = run_layer(rnn, x, None if state is None else state[i], lengths,
                             weight_dropped(rnn, self.cfg.weight_drop, self.training))
            new_state.append(s)
        return x, new_state

    def forward(self, ids, state=None, lengths=None):
        return self.recur(self.features(ids), state, lengths)
