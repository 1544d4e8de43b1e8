"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): the LSTM with its forget and
input gates read from the input alone and normalised to sum to one, so the state is a
running weighted average that trains as one matrix product and a scan (scan.py):

    f_t = sigmoid(W_f x_t + b_f)    i_t = sigmoid(W_i x_t + b_i)    h~_t = W_h x_t + b_h
    f'_t, i'_t = f_t / (f_t + i_t), i_t / (f_t + i_t)      h_t = f'_t * h_{t-1} + i'_t * h~_t

(no output gate, no cell state apart from h). The normalisation is computed from the
gates' logits, as the paper's log-space form does: with d = log i_t - log f_t =
softplus(-k_f) - softplus(-k_i), f' = sigmoid(-d) and i' = sigmoid(d), exact at saturated
gates where the ratio would divide 0 by 0. One input projection (3H, E) per direction:
rows f, i, then h~.
"""
import torch
from torch.nn.functional import softplus

from .scan import ScanCell


class MinLSTM(ScanCell):
    gates = 3

    def coefficients(self, pre):
        k_f, k_i, candidate = pre.float().chunk(3, -1)  # (B, T, H) each
        d = softplus(-k_f) - softplus(-k_i)  # log i - log f
        return torch.sigmoid(-d), torch.sigmoid(d) * candidate
