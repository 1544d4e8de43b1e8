"""Writes speech_sample/: short spoken commands, each a word and two to four digits ("dial five
two one", "room three oh four"), synthesised by the espeak-ng voice, for recipes/speech.py;
train.csv and test.csv list each clip's file and transcript.

Every clip is a draw of the text, the voice (English accents of espeak-ng, each with a male
or female variant), the speed (words per minute) and the pitch, from a fixed seed. The clips
are resampled to 8 kHz (telephone quality, enough for speech) and stored as Ogg Opus (a
codec made for speech) at about 16 kbit/s, which keeps 600 clips under 2 MB. Test clips are
drawn the same way from other draws: their digit strings never occur in training.

Needs Debian's espeak-ng (apt install espeak-ng), soundfile and scipy; not run at install or
test time. Run: python data/make_speech_sample.py (seed 2026; rewrites the folder)
"""
import csv
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

SEED, TRAIN, TEST, RATE = 2026, 520, 80, 8000
OUT = Path(__file__).resolve().parent / "speech_sample"
WORDS = ["dial", "call", "press", "room", "floor", "code"]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh"]
VOICES = ["en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbclan",
          "en-gb-x-gbcwmd"]
VARIANTS = ["m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4"]


def text(rng: random.Random) -> str:
    return " ".join([rng.choice(WORDS)] + [rng.choice(DIGITS) for _ in range(rng.randint(2, 4))])


def speak(words: str, voice: str, speed: int, pitch: int, tmp: Path) -> np.ndarray:
    """The words as 8 kHz mono samples, silence at either end trimmed to 0.1 s."""
    wav = tmp / "clip.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav),
                    words], check=True)
    x, rate = soundfile.read(wav, dtype="float32")
    x = resample_poly(x, RATE, rate).astype(np.float32)
    loud = np.flatnonzero(np.abs(x) > 0.02)
    pad = RATE // 10
    return x[max(0, loud[0] - pad):loud[-1] + pad]


def main():
    rng = random.Random(SEED)
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "clips").mkdir(parents=True)
    seen = set()
    with tempfile.TemporaryDirectory() as tmp:
        for split, count in (("train", TRAIN), ("test", TEST)):
            rows = []
            while len(rows) < count:
                words = text(rng)
                digits = words.split(" ", 1)[1]
                if split == "test" and digits in seen:
                    continue  # a test string is never heard in training
                seen.add(digits)
                voice = f"{rng.choice(VOICES)}+{rng.choice(VARIANTS)}"
                x = speak(words, voice, rng.randint(130, 190), rng.randint(30, 70), Path(tmp))
                name = f"clips/{split}_{len(rows):03d}.ogg"
                soundfile.write(OUT / name, x, RATE, format="OGG", subtype="OPUS",
                                compression_level=0.99)
                rows.append((name, words))
            with open(OUT / f"{split}.csv", "w", newline="") as f:
                csv.writer(f).writerows([("path", "text"), *rows])


if __name__ == "__main__":
    main()
