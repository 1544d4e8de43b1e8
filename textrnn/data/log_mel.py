"""Samples -> log-mel filterbank features (T, n_mels): a short-time Fourier transform
(`torch.stft`, Hann window), its power summed by triangular mel filters, then the log.
The filters are librosa's defaults (Slaney's mel scale, linear below 1 kHz and logarithmic
above, each filter scaled to unit area), so features match librosa's melspectrogram."""
import math

import torch

LOG_FLOOR = 1e-6  # added before the log: silence reads as log(1e-6), not minus infinity


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney's scale: 3 mels per 200 Hz up to 1 kHz, then 27 mels per factor of 6.4."""
    linear = hz / (200.0 / 3)
    log_part = 15.0 + torch.log(torch.clamp(hz, min=1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return torch.where(hz >= 1000.0, log_part, linear)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mel - 15.0))
    return torch.where(mel >= 15.0, log_part, linear)


def mel_filters(rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                fmax: float | None = None) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1): filter m rises from edge m to edge m + 1 and falls to edge
    m + 2, the n_mels + 2 edges evenly spaced in mels from fmin to fmax (default rate / 2)."""
    fmax = rate / 2 if fmax is None else fmax
    bins = torch.linspace(0, rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # (K,)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(torch.tensor(fmin, dtype=torch.float64))),
                                     float(hz_to_mel(torch.tensor(fmax, dtype=torch.float64))),
                                     n_mels + 2, dtype=torch.float64))  # (M + 2,)
    widths = edges[1:] - edges[:-1]  # (M + 1,)
    ramps = edges[:, None] - bins[None, :]  # (M + 2, K)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(rising, falling), min=0)  # (M, K)
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).float()  # unit area


def frame_sizes(rate: int, window_ms: float, hop_ms: float) -> tuple[int, int, int]:
    """(window, hop, n_fft) in samples: the FFT is the next power of two of the window."""
    window = max(2, round(rate * window_ms / 1000))
    return window, max(1, round(rate * hop_ms / 1000)), 1 << (window - 1).bit_length()


def frames(samples: int, hop: int) -> int:
    """Feature frames of a clip of `samples` (the STFT centres a frame on every hop)."""
    return 1 + samples // hop


def log_mel(x: torch.Tensor, rate: int, window_ms: float, hop_ms: float, n_mels: int,
            filters: torch.Tensor | None = None) -> torch.Tensor:
    """Samples (N,) -> log mel energies (T, n_mels), T = frames(N, hop)."""
    window, hop, n_fft = frame_sizes(rate, window_ms, hop_ms)
    if filters is None:
        filters = mel_filters(rate, n_fft, n_mels)
    spec = torch.stft(x, n_fft, hop, window, torch.hann_window(window), center=True,
                      pad_mode="reflect" if len(x) > n_fft // 2 else "constant",
                      return_complex=True)  # (K, T)
    power = spec.real ** 2 + spec.imag ** 2
    return torch.log(filters @ power + LOG_FLOOR).T  # (T, n_mels)


def normalise(features: torch.Tensor) -> torch.Tensor:
    """Each band to zero mean and unit variance over the clip's frames (per utterance): a
    clip's loudness and its microphone's colour no longer reach the model."""
    mean = features.mean(0, keepdim=True)
    std = features.std(0, keepdim=True, unbiased=False)
    return (features - mean) / (std + 1e-5)
