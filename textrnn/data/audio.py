"""Audio -> mono float samples at a model's rate. WAV, FLAC, Ogg (Vorbis, Opus), MP3 and
the rest libsndfile reads, through `soundfile` (its wheels carry libsndfile, so no FFmpeg):
several channels are mixed down, another rate is resampled by a polyphase filter. A clip is
read only when asked for (`Clip` holds where it is, not its samples), and every failure is
one line that names the clip."""
import io
import re
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from ..errors import DataError, first_line

SILENT = 1e-4  # a clip whose loudest sample is below this (of full scale) holds no sound


@dataclass(frozen=True)
class Clip:
    """Where a clip's audio is: a file's path, or its bytes (an upload, a Hub dataset's row)
    with a name to show in messages."""
    path: str | None = None
    data: bytes | None = None
    name: str = ""

    def __str__(self):
        return self.name or str(self.path)

    def open(self):
        return io.BytesIO(self.data) if self.data is not None else self.path


def _soundfile():
    import soundfile  # a C library behind it: imported where audio is read

    return soundfile


def clip_info(clip: Clip) -> tuple[int, float]:
    """(sample rate, seconds) from the header alone."""
    sf = _soundfile()
    if clip.data is None and not Path(str(clip.path)).is_file():
        raise DataError(f"{clip}: no such audio file; check the path")
    try:
        info = sf.info(clip.open())
    except Exception as exc:  # libsndfile's error for what it cannot parse
        raise DataError(_unreadable(clip, exc)) from None
    if info.samplerate <= 0:
        raise DataError(f"{clip} has a sample rate of {info.samplerate}; the file's header is "
                        "damaged: re-export it")
    return info.samplerate, info.frames / info.samplerate


def _unreadable(clip: Clip, exc: Exception) -> str:
    # libsndfile's "Error opening <what>: why": the clip is named already, keep the why
    why = re.sub(r"^Error opening .*?: ", "", first_line(exc, 200))
    return f"{clip} is not audio this can read ({why[:120]}); pass WAV, FLAC, Ogg or MP3"


def read_audio(clip: Clip, rate: int | None = None, max_seconds: float | None = None) -> np.ndarray:
    """The clip's samples (N,) float32 in [-1, 1], channels mixed down, resampled to `rate`
    (None: the file's own). Refuses a clip longer than `max_seconds`, an empty one and a
    silent one."""
    sf = _soundfile()
    source_rate, seconds = clip_info(clip)
    if max_seconds is not None and seconds > max_seconds:
        raise DataError(f"{clip} lasts {seconds:.1f} s, longer than the {max_seconds:g} s allowed; "
                        "cut it into shorter clips")
    try:
        x, _ = sf.read(clip.open(), dtype="float32", always_2d=True)  # (N, channels)
    except Exception as exc:
        raise DataError(_unreadable(clip, exc)) from None
    x = x.mean(axis=1)
    if not len(x):
        raise DataError(f"{clip} holds no samples; remove it or pass a clip with speech")
    if not np.isfinite(x).all() or np.abs(x).max() < SILENT:
        raise DataError(f"{clip} is silent (or holds no valid samples); remove it or pass a clip "
                        "with speech")
    return resample(x, source_rate, rate or source_rate)


def resample(x: np.ndarray, source: int, target: int) -> np.ndarray:
    """x at `source` Hz -> the same sound at `target` Hz: a polyphase filter (scipy's
    resample_poly, a Kaiser-windowed sinc) by the ratio target / source in lowest terms."""
    if source == target:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly  # scikit-learn's dependency

    g = gcd(source, target)
    return resample_poly(x, target // g, source // g).astype(np.float32)


def change_speed(x: np.ndarray, speed: float) -> np.ndarray:
    """x played `speed` times faster (pace and pitch together, as a tape would): resampled
    as if its rate were `speed` times the one it is read at (speeds in hundredths)."""
    return resample(x, round(speed * 100), 100)


def wav_bytes(x: np.ndarray, rate: int) -> bytes:
    """Samples (N,) in [-1, 1] as a 16-bit PCM WAV file's bytes (tests, the page's recorder)."""
    buffer = io.BytesIO()
    _soundfile().write(buffer, np.clip(x, -1, 1), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au"}


def is_audio_path(path) -> bool:
    return Path(str(path)).suffix.lower() in AUDIO_SUFFIXES
