"""A speech model's encoding, kept in its run folder as speech.json: how a clip becomes
features (sample rate, window, hop, mel bands, per-utterance normalisation) and the output
alphabet (id 0 is CTC's blank, id i the alphabet's character i - 1), as a forecaster keeps
its scaler. Transcripts are normalised one way everywhere (`normal_text`): for training
targets and for both sides of the error rates."""
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from .log_mel import frame_sizes, frames, log_mel, mel_filters, normalise

BLANK = 0
SPEECH_FILE = "speech.json"


def normal_text(text: str) -> str:
    """Lower case, punctuation removed (an apostrophe inside a word stays: "don't"),
    whitespace collapsed: how transcripts are trained and scored."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(c).startswith(("P", "S")) and c != "'" else c
                   for c in text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


@dataclass
class SpeechEncoding:
    sample_rate: int = 16000
    window_ms: float = 25.0
    hop_ms: float = 10.0
    n_mels: int = 40
    normalise: bool = True
    alphabet: list = field(default_factory=list)  # characters, id = index + 1 (0: blank)

    def __post_init__(self):
        self._index = {c: i + 1 for i, c in enumerate(self.alphabet)}
        self._filters = None

    # ---- the Encoding interface (encodings.py) -------------------------------------------
    def get_vocab_size(self) -> int:
        return len(self.alphabet) + 1

    def to_str(self, pretty: bool = True) -> str:
        return json.dumps(asdict(self), indent=2 if pretty else None, ensure_ascii=False)

    @classmethod
    def from_file(cls, path) -> "SpeechEncoding":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            enc = cls(**data)
            ok = (isinstance(enc.sample_rate, int) and enc.sample_rate > 0 and enc.n_mels > 0
                  and enc.window_ms > 0 and enc.hop_ms > 0 and isinstance(enc.alphabet, list)
                  and all(isinstance(c, str) and len(c) == 1 for c in enc.alphabet)
                  and len(set(enc.alphabet)) == len(enc.alphabet))
        except (OSError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{path} is not a speech encoding ({exc}); use the files saved "
                                  "with the run") from None
        if not ok:
            raise CheckpointError(f"{path} holds malformed settings or alphabet; use the files "
                                  "saved with the run")
        return enc

    # ---- text ------------------------------------------------------------------------------
    @classmethod
    def learn(cls, transcripts, **features) -> "SpeechEncoding":
        """The alphabet of the training transcripts (normalised), sorted."""
        chars = sorted({c for t in transcripts for c in normal_text(t)})
        return cls(alphabet=chars, **features)

    def encode(self, text: str) -> list[int]:
        """Character ids of a normalised transcript; a character outside the alphabet is
        left out (the model cannot write it, so the error rates count it as an error)."""
        return [self._index[c] for c in normal_text(text) if c in self._index]

    def decode(self, ids) -> str:
        return "".join(self.alphabet[i - 1] for i in ids if i != BLANK)

    def unknown(self, text: str) -> set[str]:
        return {c for c in normal_text(text) if c not in self._index}

    # ---- audio -----------------------------------------------------------------------------
    @property
    def hop(self) -> int:
        return frame_sizes(self.sample_rate, self.window_ms, self.hop_ms)[1]

    def frames(self, samples: int) -> int:
        return frames(samples, self.hop)

    def features(self, samples: np.ndarray) -> torch.Tensor:
        """Samples at `sample_rate` (N,) -> features (T, n_mels), float32."""
        if self._filters is None:
            n_fft = frame_sizes(self.sample_rate, self.window_ms, self.hop_ms)[2]
            self._filters = mel_filters(self.sample_rate, n_fft, self.n_mels)
        x = log_mel(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), self.sample_rate,
                    self.window_ms, self.hop_ms, self.n_mels, self._filters)
        return normalise(x) if self.normalise else x
