"""How a stepper holds its matrices: `fp32`, `bf16` or `int8` (the `weights` of sampling).

A step at batch 1 reads every weight once and does two flops with each, so its time goes
into reading weights (13.6 MB of fp32 for a 2x512 character LSTM), not arithmetic; smaller
weights make it faster. Each format is one class: built from a matrix W (out, in) and an
optional bias (out,), called as `dense(x, add)` = x W^T + bias + add, x (B, in) -> (B, out)
in float32, so the recurrent state and everything around it stays float32.

- fp32: torch's addmm, exact.
- bf16: half the bytes; the product in bfloat16, the result back in float32.
- int8: dynamic quantisation (the scheme of Jacob et al. 2018, as torch's quantized
  `linear_dynamic` runs it on fbgemm or oneDNN): int8 weights with one scale per output
  row, each input quantised to 8 bits with its own range at every call, int32 sums
  rescaled to float32. A quarter of the bytes, and int8 dot products are also faster at
  batch 64. The input's range is taken over the whole batch, so a sample's rounding can
  depend on what else is in its batch (an LSTM's h lies in (-1, 1), so the ranges barely
  differ); fp32 has no such effect.
Tables computed once (the first layer's input projection per token) stay fp32, and so do
matrices under INT8_FROM entries: they sit in the CPU's cache, where int8's fixed cost per
call (quantising the input, rescaling the sums) outweighs reading fewer bytes.
"""
import warnings

import torch

from ..errors import ConfigError, setting_name


class Dense:
    """fp32: x W^T + bias + add with one addmm."""

    def __init__(self, w, bias=None):
        self.w_t = w.t().contiguous()  # (in, out): row-major for x @ W^T at batch 1
        self.bias = bias

    def __call__(self, x, add=None):
        base = _sum(self.bias, add)
        return torch.mm(x, self.w_t) if base is None else torch.addmm(base, x, self.w_t)


class BF16Dense(Dense):
    """bf16 weights; the product in bfloat16, the sum with bias and `add` in float32."""

    def __init__(self, w, bias=None):
        super().__init__(w.bfloat16(), bias)

    def __call__(self, x, add=None):
        y = torch.mm(x.bfloat16(), self.w_t).float()  # (B, out)
        base = _sum(self.bias, add)
        return y if base is None else y + base


def _saturates() -> bool:
    """Whether this CPU's int8 kernel adds products in pairs into int16 (AVX2 without VNNI),
    which overflows for 8-bit inputs: there inputs are quantized to 7 bits ("reduce_range",
    as PyTorch's quantization guide advises for such CPUs); on VNNI CPUs the sums are int32."""
    check = getattr(torch.cpu, "_is_vnni_supported", None)
    return check is not None and not check()


SEVEN_BIT_INPUTS = _saturates()


class Int8Dense:
    """int8 weights, one scale per output row (symmetric); dynamic 8-bit inputs."""

    def __init__(self, w, bias=None):
        if w.device.type != "cpu":
            raise ConfigError(f"int8 weights run on the CPU only; use {setting_name('device', 'cpu')}, "
                              f"or {setting_name('weights', 'bf16')} on a GPU")
        if not {"fbgemm", "onednn", "x86"} & set(torch.backends.quantized.supported_engines):
            raise ConfigError(f"this torch build has no int8 kernels for this CPU; sample with "
                              f"{setting_name('weights', 'fp32')} or bf16")
        w = w.float()
        scales = (w.abs().amax(1) / 127).clamp_min(1e-12)  # (out,)
        with warnings.catch_warnings():  # torch marks its quantized tensor type for a successor
            warnings.simplefilter("ignore", UserWarning)
            q = torch.quantize_per_channel(w, scales.double(), torch.zeros_like(scales, dtype=torch.long),
                                           0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(q, None if bias is None else bias.float())

    def __call__(self, x, add=None):
        y = torch.ops.quantized.linear_dynamic(x, self.packed, SEVEN_BIT_INPUTS)  # (B, out), bias included
        return y if add is None else y + add


# Measured at batch 1 on a 2-core Xeon (x W^T, W (out, 512)): out 512: fp32 18 us, int8
# 25 us; out 1024: fp32 51 us, int8 27 us; out 2048: 97 us against 32 us.
INT8_FROM = 1 << 19  # entries: 1024 x 512, a 2 MB fp32 matrix


def int8_if_large(w, bias=None):
    """Int8Dense for a matrix of INT8_FROM entries or more, else Dense (see the docstring);
    off the CPU, one line whatever the size."""
    if w.numel() >= INT8_FROM or w.device.type != "cpu":
        return Int8Dense(w, bias)
    return Dense(w, bias)


def _sum(a, b):
    if a is None or b is None:
        return b if a is None else a
    return a + b


FORMATS = {"fp32": Dense, "bf16": BF16Dense, "int8": int8_if_large}


def dense_for(weights: str):
    """The class that holds a matrix in this format; one line for an unknown one."""
    if weights not in FORMATS:
        raise ConfigError(f"unknown {setting_name('weights')} format {weights!r}; choose one of "
                          f"{', '.join(FORMATS)}")
    return FORMATS[weights]
