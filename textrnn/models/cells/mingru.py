"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?"): the GRU with its gates read from
the input alone, so a layer trains as one matrix product and a scan (scan.py):

    z_t = sigmoid(W_z x_t + b_z)        h~_t = W_h x_t + b_h        (no r gate, no tanh)
    h_t = (1 - z_t) * h_{t-1} + z_t * h~_t

As the paper's minimal version, h~ is linear; its log-space variant squashes h~ positive
only because a log-space scan needs positive values, which the linear-space scan does not.
One input projection (2H, E) per direction: rows z, then h~.
"""
import torch

from .scan import ScanCell


class MinGRU(ScanCell):
    gates = 2

    def coefficients(self, pre):
        z, candidate = pre.float().chunk(2, -1)  # (B, T, H) each
        z = torch.sigmoid(z)
        return 1 - z, z * candidate
