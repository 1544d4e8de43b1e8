"""The residual block (`--block residual`): deep stacks of any cell, as Griffin (De et al.
2024) and xLSTM (Beck et al. 2024) build theirs.

    x = x + dropout(cell(rmsnorm(x)))                     (B, T, W)   W = D * hidden_size
    x = x + dropout(W_down(gelu(W_gate n) * W_up n))      n = rmsnorm(x), inner width 2W

Pre-normalisation keeps the residual stream's scale from compounding with depth, and the
gated MLP (a GeGLU, as Griffin's MLP block) is the per-token non-linearity that the cells
whose gates read only their input lack between time steps. The first block projects the
embeddings to W when their widths differ; the last normalises its output (the stream grows
with depth). The block keeps the cell contract (contract.py) by passing every state question
to its cell, so the encoder, samplers and ONNX export run it as any layer.
"""
import torch
from torch import nn

from .cells import Cell
from .dropout import LockedDropout
from .padded import real_positions, run_layer

MLP_RATIO = 2


class RMSNorm(nn.Module):
    """x / rms(x) * weight over the last dimension (Zhang & Sennrich 2019)."""

    def __init__(self, width: int, eps: float = 1e-6):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(width)), eps

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.square().mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


class GatedMLP(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.gate_up = nn.Linear(width, 2 * MLP_RATIO * width)
        self.down = nn.Linear(MLP_RATIO * width, width)

    def forward(self, x):  # (..., W) -> (..., W)
        gate, up = self.gate_up(x).chunk(2, -1)
        return self.down(nn.functional.gelu(gate) * up)


class ResidualStepper:
    """The block one token at a time, its matrices held by `dense`."""

    def __init__(self, block, cell_stepper, dense):
        grab = lambda m: dense(m.weight.detach(), m.bias.detach())  # noqa: E731
        self.inp = grab(block.inp) if block.inp is not None else None
        self.cell, self.ihh = cell_stepper, None
        self.norm1, self.norm2 = block.norm1, block.norm2
        self.out_norm = block.out_norm
        self.gate_up, self.down = grab(block.mlp.gate_up), grab(block.mlp.down)

    def input_proj(self, x):  # (B, E) -> (B, W): what a first layer's table holds per token
        return self.inp(x) if self.inp is not None else x

    def step(self, x, state):
        y, state = self.cell.step_from(self.norm1(x), state)
        x = x + y
        gate, up = self.gate_up(self.norm2(x)).chunk(2, -1)
        x = x + self.down(nn.functional.gelu(gate) * up)
        return (x if self.out_norm is None else self.out_norm(x)), state

    def step_from(self, x, state):
        return self.step(self.input_proj(x), state)


class ResidualBlock(Cell):
    """`cell` (any kind, reading and writing width W) in a residual block; `input_size` is
    the layer below's width (the embeddings' for the first block)."""

    def __init__(self, cell: Cell, input_size: int, width: int, dropout: float, last: bool):
        super().__init__()
        self.cell, self.bidirectional, self.hidden_size = cell, cell.bidirectional, cell.hidden_size
        self.inp = nn.Linear(input_size, width) if input_size != width else None
        self.norm1, self.norm2 = RMSNorm(width), RMSNorm(width)
        self.mlp = GatedMLP(width)
        self.out_norm = RMSNorm(width) if last else None
        self.drop = LockedDropout(dropout)

    # the cell contract, answered by the cell
    @property
    def state_names(self):
        return self.cell.state_names

    def state_shapes(self):
        return self.cell.state_shapes()

    def step_state(self, state):
        return self.cell.step_state(state)

    def sequence_state(self, step):
        return self.cell.sequence_state(step)

    def start_state(self, h):
        return self.cell.start_state(h)

    def recurrent_weight_names(self):
        return ["cell." + name for name in self.cell.recurrent_weight_names()]

    def stepper(self, dense, fuse: bool = False) -> ResidualStepper:
        return ResidualStepper(self, self.cell.stepper(dense, fuse), dense)

    def forward(self, x, state=None, lengths=None):
        """x (B, T, E or W) -> (B, T, W), the cell's state; zeros at padding with lengths."""
        if self.inp is not None:
            x = self.inp(x)
        y, state = run_layer(self.cell, self.norm1(x), state, lengths)
        x = x + self.drop(y)
        x = x + self.drop(self.mlp(self.norm2(x)))
        if self.out_norm is not None:
            x = self.out_norm(x)
        if lengths is not None:
            x = x * real_positions(lengths, x.size(1))[..., None]
        return x, state
