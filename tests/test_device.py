"""--precision auto: bf16 only where the CPU has bf16 arithmetic."""
import pytest
import torch

from textrnn.device import fast_bf16, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, "fp32"), (True, False, "bf16"),
                                                         (False, True, "bf16")])
def test_auto_takes_bf16_only_with_bf16_instructions(monkeypatch, avx512_bf16, amx, expected):
    # an AVX-512 CPU without them passes oneDNN's own check, yet emulates bf16 slowly
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert fast_bf16(CPU) == (expected == "bf16")
    assert resolve_precision("auto", CPU) == expected
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"
