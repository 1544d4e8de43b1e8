"""Device choice and mixed precision."""
import contextlib

import torch

from .errors import ConfigError, setting_name
from .world import launched, local_rank

PRECISIONS = ("fp32", "bf16", "auto")


def resolve_device(name: str = "auto") -> torch.device:
    """auto picks cuda, then mps, then cpu; an explicit device must exist. Under torchrun,
    cuda is each process's own GPU: the one of its LOCAL_RANK. A torch.device is read by
    its name."""
    name = str(name)
    if launched() and name.startswith("cuda:"):
        raise ConfigError(f"{setting_name('device', name)}: under torchrun each process takes the "
                          f"GPU of its LOCAL_RANK; pass {setting_name('device', 'cuda')} or auto")
    if launched() and name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name} asked for, but no CUDA GPU is visible; use "
                          f"{setting_name('device', 'cpu')}")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device mps asked for, but MPS is not available; use {setting_name('device', 'cpu')}")
    return torch.device(name)


def fast_bf16(device: torch.device) -> bool:
    """True where bf16 matmuls run natively (recent GPUs; CPUs with AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # oneDNN's own check passes on any AVX-512 CPU, where bf16 is emulated and slower than
        # fp32 (a SegRNN epoch took 3x as long); recent torch can ask for the instructions.
        checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported",
                                                              "_is_amx_tile_supported")]
        if all(check is not None for check in checks):
            return any(check() for check in checks)
        return cpu_bf16_kernels()
    return False


def resolve_precision(name: str, device: torch.device) -> str:
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; use {', '.join(PRECISIONS)}")
    if name == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    if name == "bf16" and device.type == "cpu" and not cpu_bf16_kernels():
        raise ConfigError(f"{setting_name('precision', 'bf16')}: this CPU has no AVX-512, so oneDNN "
                          f"has no bf16 kernels here (its LSTM refuses bf16 autocast); use "
                          f"{setting_name('precision', 'auto')} or fp32")
    return name


def cpu_bf16_kernels() -> bool:
    """Whether oneDNN runs bf16 on this CPU at all (natively or emulated on AVX-512)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast(device: torch.device, precision: str):
    """bf16 autocast: matmuls in bf16, reductions and the loss in fp32 (works on CPU too)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
