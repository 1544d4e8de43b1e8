"""An RNN encoder-decoder with attention, for translation (Bahdanau et al. 2015; Luong et
al. 2015).

The encoder is textrnn's own (`RNNEncoder`, any cell), reading the source both ways. The
decoder is a stack of the same cell's single steps (its contract's `decoder_step`),
started from the mean of the encoder's outputs (through a tanh layer). At step t it reads
the previous target token and, with input feeding (Luong et al. 2015), the previous step's
attentional vector, so each choice knows where attention went before; so every cell, even
one that trains in parallel over a sequence, decodes one step at a time here. Its top
state scores the source (attention.py), and tanh(W [context; state]) is the attentional
vector that the output layer reads. Training is teacher-forced: the true previous token
goes in.

Shapes: B sentences, S source tokens, T target tokens, E embedding, He = 2 x encoder
hidden (both directions), Hd decoder width, V the target vocabulary (the joint one, or
the target side's own with a vocabulary per language).
"""
from dataclasses import replace
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ..tokenization import PAD_ID
from .attention import Attention
from .cells import cell_class
from .encoder import RNNEncoder
from .padded import real_positions


class Memory(NamedTuple):
    """The encoded source, read by every decoder step."""
    values: torch.Tensor  # (B, S, He) the encoder's outputs
    keys: torch.Tensor    # (B, S, Hd or He) their side of the attention scores
    mask: torch.Tensor    # (B, S) True at real tokens

    def repeat(self, k: int) -> "Memory":
        """Each sentence k times in a row (for k beams)."""
        return Memory(*(t.repeat_interleave(k, 0) for t in self))


class Seq2Seq(nn.Module):
    def __init__(self, cfg):  # cfg: ModelConfig with a translator head
        super().__init__()
        self.cfg, head, enc = cfg, cfg.head, cfg.encoder
        self.encoder = RNNEncoder(replace(enc, bidirectional=True), cfg.vocab_size)
        He, Hd, E = self.encoder.output_size, head.decoder_size, enc.embed_dim
        V = head.target_vocab_size or cfg.vocab_size  # the target side's own, or the joint one
        self.embed = nn.Embedding(V, E, padding_idx=PAD_ID)
        self.bridge = nn.Linear(He, Hd * head.decoder_layers)
        step = cell_class(enc.cell).decoder_step
        first = E + (Hd if head.input_feeding else 0)
        self.cells = nn.ModuleList(step(first if i == 0 else Hd, Hd, enc.activation)
                                   for i in range(head.decoder_layers))
        self.attention = Attention(head.attention, Hd, He)
        self.combine = nn.Linear(He + Hd, Hd)
        self.drop = nn.Dropout(enc.dropout)
        # Tied: the output layer is the decoder's embedding (Press & Wolf 2017), read through
        # a projection to its width.
        self.to_embed = nn.Linear(Hd, E, bias=False) if head.tie_embeddings else None
        self.out = nn.Linear(E if head.tie_embeddings else Hd, V)
        if head.tie_embeddings:
            self.out.weight = self.embed.weight

    def encode(self, src, lengths):
        """src (B, S), lengths (B,) -> Memory, the decoder's first state (a list, one entry
        per layer) and its first attentional vector (B, Hd) of zeros."""
        values, _ = self.encoder(src, lengths=lengths)  # (B, S, He)
        mask = real_positions(lengths, src.size(1))  # (B, S)
        mean = (values * mask[..., None]).sum(1) / lengths[:, None].to(values.dtype)  # (B, He)
        starts = torch.tanh(self.bridge(mean)).chunk(len(self.cells), -1)  # each (B, Hd)
        state = [cell.start(h) for cell, h in zip(self.cells, starts)]  # each a step state
        feed = torch.zeros_like(starts[0])
        return Memory(values, self.attention.keys(values), mask), state, feed

    def step(self, y, state, feed, memory: Memory):
        """One target position: y (B,) the previous tokens -> the attentional vector (B, Hd),
        the new state, and the attention weights (B, S)."""
        return self.step_embedded(self.embed(y), state, feed, memory)

    def step_embedded(self, x, state, feed, memory: Memory):
        """`step` from the previous tokens' embeddings x (B, E)."""
        if self.cfg.head.input_feeding:
            x = torch.cat([x, feed], -1)
        x = self.drop(x)
        new = []
        for cell, s in zip(self.cells, state):
            h, s = cell(x, s)  # (B, Hd), the cell's new step state
            new.append(s)
            x = self.drop(h)
        context, weights = self.attention(h, memory.keys, memory.values, memory.mask)
        return torch.tanh(self.combine(torch.cat([context, h], -1))), new, weights

    def attend_all(self, tgt_in, state, memory: Memory):
        """Without input feeding the decoder's states do not depend on attention, so the
        cells run over the whole target at once in torch's fused kernels, and attention
        reads every position in one batched product: the attentional vectors (B, T, Hd),
        the same as `step` gives one position at a time."""
        x = self.drop(self.embed(tgt_in))  # (B, T, E)
        for cell, s in zip(self.cells, state):
            h = cell.sequence(x, s)  # (B, T, Hd)
            x = self.drop(h)
        context, _ = self.attention(h, memory.keys, memory.values, memory.mask)  # (B, T, He)
        return torch.tanh(self.combine(torch.cat([context, h], -1)))

    def scores(self, feed):
        """Attentional vectors (..., Hd) -> next-token logits (..., V)."""
        x = self.drop(feed)
        return self.out(self.to_embed(x) if self.to_embed is not None else x)

    def forward(self, src, src_lengths, tgt_in, targets=None):
        """Teacher-forced: src (B, S), src_lengths (B,), tgt_in (B, T) starting with <s>.
        Returns logits (B, T, V), or with targets (B, T) (ending with </s>, <pad> after) the
        mean cross-entropy per real target token, label-smoothed (Szegedy et al. 2016)."""
        memory, state, feed = self.encode(src, src_lengths)
        if self.cfg.head.input_feeding:  # each step needs the last one's attentional vector
            # One lookup for the whole target: the embedding's gradient is then one dense
            # (V, E) matrix per batch, not one per position added up.
            # (unbind, not [:, t]: slicing's backward writes a whole (B, T, E) of zeros per step)
            feeds = []
            for x in self.embed(tgt_in).unbind(1):  # each (B, E)
                feed, state, _ = self.step_embedded(x, state, feed, memory)
                feeds.append(feed)
            feeds = torch.stack(feeds, 1)  # (B, T, Hd)
        else:
            feeds = self.attend_all(tgt_in, state, memory)
        logits = self.scores(feeds)  # (B, T, V)
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=PAD_ID,
                               label_smoothing=self.cfg.head.label_smoothing)

