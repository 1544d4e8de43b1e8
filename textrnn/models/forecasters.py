"""The forecasting models: a window of past rows in, the next rows out, built from the same
recurrent cells as the text models (cells.py).

Contract in shapes: x (B, L, C) standardised inputs (the target channels first) ->
forecast (B, H, K) of the K target channels; with `targets` (B, H, K), the training loss
instead (a scalar, in fp32).
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from ..nested import map_state
from .cells import make_cell


class RevIN(nn.Module):
    """Reversible instance normalisation (Kim et al. 2022): each window is standardised by
    its own mean and spread on the way in and the forecast mapped back on the way out, with
    a learnt per-channel affine; a shift of level between training and test then needs no
    learning."""

    def __init__(self, channels: int, eps: float = 1e-5, last: bool = False, scale: bool = True):
        super().__init__()
        self.eps, self.last, self.scale = eps, last, scale
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))

    def normalise(self, x):  # x (B, L, C) -> (B, L, C), stats ((B, 1, C), (B, 1, C))
        # `last`: centre on the window's last row instead of its mean (RevIN's subtract_last;
        # SegRNN's own normalisation does the same), which suits series that drift.
        # Without `scale` the window keeps its spread, as SegRNN's code does: with series
        # already standardised as a whole, a quiet window then stays quiet.
        mean = (x[:, -1:] if self.last else x.mean(1, keepdim=True)).detach()
        std = (torch.sqrt(x.var(1, keepdim=True, unbiased=False) + self.eps).detach() if self.scale
               else torch.ones_like(mean))
        return (x - mean) / std * self.weight + self.bias, (mean, std)

    def denormalise(self, y, stats):  # y (B, H, K): the first K channels
        mean, std = stats
        k = y.shape[-1]
        y = (y - self.bias[:k]) / (self.weight[:k] + self.eps * self.eps)
        return y * std[..., :k] + mean[..., :k]


def keras_init(layer, hidden_size):
    """Keras's initialisation of one layer of a cell with hidden-to-hidden matrices."""
    for name, p in layer.named_parameters():
        if "weight_ih" in name:
            for block in p.data.split(hidden_size):
                nn.init.xavier_uniform_(block)
        elif "weight_hh" in name:
            for block in p.data.split(hidden_size):
                nn.init.orthogonal_(block)
        elif "bias" in name:
            nn.init.zeros_(p)


class StackedCells(nn.Module):
    """Recurrent layers one above the other: (B, T, E) -> (B, T, H), one state per layer.

    A cell with hidden-to-hidden matrices is initialised as Keras does: input weights
    Glorot-uniform (Glorot & Bengio 2010), hidden-to-hidden weights orthogonal per gate block
    (Saxe et al. 2014), so repeated steps neither shrink nor blow up the state at the start,
    and zero biases. A cell whose gates read only its input (mingru, rglru, ...) keeps its
    paper's initialisation (its gate biases set its memory's length)."""

    def __init__(self, kind, input_size, hidden_size, num_layers, activation="tanh", dropout=0.0,
                 settings=None):
        super().__init__()
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(make_cell(kind, n, hidden_size, activation, settings=settings)
                                    for n in sizes)
        self.drop = nn.Dropout(dropout)
        for layer in self.layers:
            if layer.recurrent_weight_names():
                keras_init(layer, hidden_size)

    def forward(self, x, state=None):
        new_state = []
        for i, rnn in enumerate(self.layers):
            if i > 0:
                x = self.drop(x)
            x, s = rnn(x, None if state is None else state[i])
            new_state.append(s)
        return x, new_state

    def repeat_state(self, state: list, times: int) -> list:
        """Each sequence's state `times` times in a row (through each cell's batch-first step
        layout, whatever its own layout is)."""
        return [rnn.sequence_state(map_state(lambda t: t.repeat_interleave(times, 0), rnn.step_state(s)))
                for rnn, s in zip(self.layers, state)]


LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss}


def loss_or_forecast(y, targets, loss: str):
    """The forecast, or with `targets` its loss in fp32: mse, or mae, which SegRNN trains
    with (Lin et al. 2023) and which a few outlying rows pull on less."""
    return y if targets is None else LOSSES[loss](y.float(), targets.float())


class StackedRegressor(nn.Module):
    """The founding document's regressor: stacked recurrent layers read the window, the last
    one's final output feeds a linear layer. Keras: SimpleRNN(50, return_sequences=True),
    SimpleRNN(50), Dense(1) is cell rnn, 2 layers of 50, horizon 1.

    decoding "direct": the linear layer gives all H x K values at once.
    decoding "recurrent": it gives the next row of every channel, which is fed back in, H times.
    """

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        e, h = cfg.encoder, cfg.head
        self.C, self.K, self.H = len(h.inputs), len(h.targets), h.horizon
        self.revin = RevIN(self.C, last=h.revin_last, scale=h.revin_scale) if h.revin else None
        self.rnn = StackedCells(e.cell, self.C, e.hidden_size, e.num_layers, e.activation, e.dropout, e)
        self.drop = nn.Dropout(e.dropout)
        width = self.H * self.K if h.decoding == "direct" else self.C
        self.out = nn.Linear(e.hidden_size, width)

    def forward(self, x, targets=None):
        stats = None
        if self.revin is not None:
            x, stats = self.revin.normalise(x)
        out, state = self.rnn(x)  # (B, L, hidden)
        if self.cfg.head.decoding == "direct":
            y = self.out(self.drop(out[:, -1])).view(-1, self.H, self.K)
        else:
            y = self.roll_out(out[:, -1], state)
        if stats is not None:
            y = self.revin.denormalise(y, stats)
        return loss_or_forecast(y, targets, self.cfg.head.loss)

    def roll_out(self, last, state):
        """Recurrent multi-step decoding: predict a row, read it back in, H times."""
        rows = []
        for _ in range(self.H):
            row = self.out(self.drop(last))  # (B, C)
            rows.append(row)
            out, state = self.rnn(row.unsqueeze(1), state)
            last = out[:, -1]
        return torch.stack(rows, 1)[..., : self.K]  # (B, H, K)


class SegmentRNN(nn.Module):
    """SegRNN (Lin et al. 2023): channel-independent; each channel's lookback is cut into
    segments of `seg_len` rows that one linear layer embeds, and the recurrent layers read
    the L / seg_len segments (not L steps). Decoding is parallel: for each of the
    ceil(H / seg_len) output segments, the position's and the channel's embeddings go
    through one recurrent step from the encoder's final state, and a linear layer turns
    the output into that segment's rows."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        e, h = cfg.encoder, cfg.head
        d, w = e.hidden_size, h.seg_len
        self.C, self.H, self.w = len(h.targets), h.horizon, w
        self.n_out = math.ceil(h.horizon / w)
        self.revin = RevIN(self.C, last=h.revin_last, scale=h.revin_scale) if h.revin else None
        self.embed = nn.Sequential(nn.Linear(w, d), nn.ReLU())
        self.rnn = StackedCells(e.cell, d, d, e.num_layers, e.activation, e.dropout, e)
        self.position = nn.Parameter(torch.randn(self.n_out, d // 2))
        self.channel = nn.Parameter(torch.randn(self.C, d - d // 2))
        self.drop = nn.Dropout(e.dropout)
        self.out = nn.Linear(d, w)

    def forward(self, x, targets=None):
        B, L, C = x.shape
        stats = None
        if self.revin is not None:
            x, stats = self.revin.normalise(x)
        segments = x.transpose(1, 2).reshape(B * C, L // self.w, self.w)  # (BC, n_in, w)
        _, state = self.rnn(self.embed(segments))
        y = self.decode(state, B)  # (BC, n_out, w)
        y = y.reshape(B, C, -1)[:, :, : self.H].transpose(1, 2)  # (B, H, C)
        if stats is not None:
            y = self.revin.denormalise(y, stats)
        return loss_or_forecast(y, targets, self.cfg.head.loss)

    def queries(self, B: int):
        """(B*C*n_out, 1, d): output segment j of channel c reads [position j, channel c]."""
        n, C = self.n_out, self.C
        pos = self.position.unsqueeze(0).expand(C, n, -1)  # (C, n_out, d/2)
        chan = self.channel.unsqueeze(1).expand(C, n, -1)  # (C, n_out, d/2)
        q = torch.cat([pos, chan], -1)  # (C, n_out, d)
        return q.unsqueeze(0).expand(B, C, n, -1).reshape(B * C * n, 1, -1)

    def decode(self, state, B: int):
        """All output segments at once: one step each, from the same encoder state."""
        out, _ = self.rnn(self.queries(B), self.rnn.repeat_state(state, self.n_out))
        return self.out(self.drop(out[:, 0])).view(B * self.C, self.n_out, self.w)


FORECASTERS = {"stacked": StackedRegressor, "segrnn": SegmentRNN}
