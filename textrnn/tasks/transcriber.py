"""A trained speech recogniser with its encoding (what `textrnn.load` returns for a "speech"
run): transcripts with word timestamps, greedy or by prefix beam search with an optional
character language model fused in, and its door `textrnn transcribe`."""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from ..data.audio import Clip, read_audio, resample
from ..data.speech_encoding import normal_text
from ..data.text_files import read_lines
from ..data.transcribed import load_transcribed
from ..device import autocast
from ..errors import ConfigError, DataError, setting_name
from ..inference.ctc import align, greedy, prefix_beam_search, word_times
from ..metrics import error_rates
from ..models import evaluating
from ..outputs import check_output, emit_lines
from ..settings import setting
from .base import LoadedRun, one_source
from .language_model import LanguageModel

MAX_SECONDS = 60.0  # a clip is read whole by the encoder; longer ones are refused


@dataclass
class Decoding:
    """How frames become text."""
    beam: int = setting(1, "prefix beam search width; 1: greedy (the likeliest symbol of each "
                        "frame)", low=1, high=1024)
    lm: str | None = setting(None, "a character language model's run folder (or Hub model id) "
                             "fused into the beam search (shallow fusion)", metavar="RUN")
    lm_weight: float = setting(0.5, "with --lm: the weight of its log probabilities", low=0, high=10)
    word_bonus: float = setting(0.0, "with --beam: added per word, against the LM's bias for "
                                "short transcripts", low=-100, high=100)
    max_audio_seconds: float = setting(MAX_SECONDS, "clips longer than this are refused (a clip "
                                       "is read whole, never cut into windows)", low=0,
                                       low_open=True, high=3600)


@dataclass
class TranscribeSettings(Decoding):
    """`textrnn transcribe`: each clip's transcript."""
    files: list = setting([], "audio files (WAV, FLAC, Ogg, MP3)", positional=True, nargs="*")
    input: str | None = setting(None, "a UTF-8 file listing one audio file per line, after the "
                                "arguments'")
    output: str | None = setting(None, "write to this file instead of the terminal (JSON lines "
                                 "if it ends in .jsonl or with --json)")
    json: bool = setting(False, "one JSON object per clip, with word timestamps")


@dataclass
class SpeechEvaluation(Decoding):
    """`textrnn evaluate` on a speech recogniser: word and character error rates."""
    audio_column: str | None = setting(None, "column naming the audio (a table) or holding it "
                                       "(a Hub dataset)")
    text_column: str | None = setting(None, "column holding the transcripts")
    split: str = setting("test", "dataset split of --data for Hub ids")


def describe(m: dict) -> str:
    lines = [f"WER {m['wer']:.4f}  CER {m['cer']:.4f}  ({m['clips']} clips, {m['words']} words)"]
    for ex in m.get("examples", []):
        lines.append(f"  reference: {ex['reference']}\n  heard:     {ex['heard']}")
    return "\n".join(lines)


class Transcriber(LoadedRun):
    """A trained recogniser with its encoding (speech.json: features and alphabet)."""
    noun = "speech recogniser"
    describe = staticmethod(describe)

    @property
    def encoding(self):
        return self.tokenizer

    def info(self) -> dict:
        e = self.encoding
        return {"sample_rate": e.sample_rate, "alphabet": "".join(e.alphabet)}

    def samples(self, item, max_seconds: float = MAX_SECONDS) -> np.ndarray:
        """A clip (a path, bytes, a Clip, or samples at the model's rate, or (samples, rate))
        as samples at the model's rate."""
        rate = self.encoding.sample_rate
        if isinstance(item, tuple):
            x, source = np.asarray(item[0], dtype=np.float32), int(item[1])
            if x.ndim == 2:
                x = x.mean(axis=1)
            return resample(x, source, rate)
        if isinstance(item, np.ndarray):
            return item.astype(np.float32)
        clip = item if isinstance(item, Clip) else Clip(data=item, name="upload") \
            if isinstance(item, bytes) else Clip(path=str(item))
        return read_audio(clip, rate, max_seconds)

    @torch.no_grad()
    def log_probs(self, clips: list, precision="fp32", max_seconds=MAX_SECONDS) -> list[tuple]:
        """Per clip, (log P over the alphabet and blank per frame (T', V) as float64 numpy,
        the clip's seconds)."""
        samples = [self.samples(c, max_seconds) for c in clips]
        batch, lengths = padded([self.encoding.features(x) for x in samples])
        with evaluating(self.model), autocast(self.device, precision):
            lp, frames = self.model(batch.to(self.device), lengths.to(self.device))
        rate = self.encoding.sample_rate
        return [(lp[i, :int(frames[i])].double().cpu().numpy(), len(samples[i]) / rate)
                for i in range(len(clips))]

    def scorer(self, lm):
        """The fused language model of --lm (a run folder, a Hub id, or a loaded one)."""
        if lm is None:
            return None
        from ..checkpoint import load
        from ..inference.lm_fusion import CharLMScorer

        model = lm if isinstance(lm, LoadedRun) else load(lm)
        if not isinstance(model, LanguageModel):
            raise ConfigError(f"{setting_name('lm')} {lm} holds a {model.config.task}, not a language "
                              "model; pass a run folder of train-lm")
        cfg = model.config
        if cfg.tokenizer != "char" or cfg.head.reverse:
            raise ConfigError(f"{setting_name('lm')} {lm} is a {cfg.tokenizer}-level language model"
                              f"{' reading backwards' if cfg.head.reverse else ''}; fusion needs a "
                              "character-level one that reads forwards (train-lm --tokenizer char)")
        return CharLMScorer(model, self.encoding.alphabet, str(lm))

    def transcribe(self, clips, beam: int = 1, lm=None, lm_weight: float = 0.5,
                   word_bonus: float = 0.0, batch_size: int = 16,
                   max_seconds: float = MAX_SECONDS) -> list[dict]:
        """Each clip's {"text", "words": [{"word", "start", "end"} in seconds]}. A clip is a
        path, bytes, samples at the model's rate or (samples, rate). beam 1 is greedy; a
        wider beam searches prefixes, with `lm` (a character LM run) fused in."""
        if isinstance(clips, (str, Path, bytes, tuple, np.ndarray)):
            raise TypeError("pass a list of clips, e.g. [path]")
        if lm is not None and beam < 2:
            raise ConfigError(f"{setting_name('lm')} is fused into the beam search; pass "
                              f"{setting_name('beam', 8)} or more with it")
        scorer = self.scorer(lm)
        space = self.encoding.alphabet.index(" ") + 1 if " " in self.encoding.alphabet else None
        per_frame = self.encoding.hop * self.model.cfg.head.time_stride / self.encoding.sample_rate
        out = []
        for start in range(0, len(clips), batch_size):
            for lp, seconds in self.log_probs(clips[start:start + batch_size], max_seconds=max_seconds):
                ids = greedy(lp)[0]
                if beam > 1:
                    if scorer is not None:
                        scorer.reset()
                    ids = prefix_beam_search(lp, beam, scorer, lm_weight, word_bonus, space)
                out.append({"text": self.encoding.decode(ids),
                            "words": word_times(ids, align(lp, ids), space, per_frame,
                                                self.encoding.decode, seconds)})
        return out

    def evaluate(self, source, audio_column=None, text_column=None, split="test",
                 config=None, batch_size=16, examples: int = 3, **decoding) -> dict:
        """Word and character error rates on transcribed audio (both sides normalised alike:
        lower case, punctuation removed)."""
        data = load_transcribed(source, audio_column, text_column, split, config)
        heard = self.transcribe([data.clips[i] for i in range(len(data))], batch_size=batch_size,
                                **decoding)
        return scores(data.texts, [h["text"] for h in heard], examples)

    def evaluate_source(self, sources, settings: SpeechEvaluation, progress=False, batch_size=None) -> dict:
        return self.evaluate(one_source(sources, "a speech recogniser"), settings.audio_column,
                             settings.text_column, settings.split, batch_size=batch_size or 16,
                             beam=settings.beam, lm=settings.lm, lm_weight=settings.lm_weight,
                             word_bonus=settings.word_bonus, max_seconds=settings.max_audio_seconds)


def padded(features: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips' features, each (T_i, F) -> zero-padded (B, T, F) and lengths (B,)."""
    return pad_sequence(features, batch_first=True), torch.tensor([len(f) for f in features])


def scores(references: list[str], heard: list[str], examples: int = 3) -> dict:
    """Error rates of what was heard against the references, with the first `examples`."""
    refs = [normal_text(r) for r in references]
    got = [normal_text(h) for h in heard]
    return {**error_rates(refs, got), "clips": len(refs),
            "examples": [{"reference": r, "heard": h} for r, h in zip(refs[:examples], got)]}


def files_of(settings: TranscribeSettings) -> list[str]:
    files = list(settings.files)
    if settings.input:
        files += [line.strip() for line in read_lines(Path(settings.input)) if line.strip()]
    if not files:
        raise ConfigError(f"no audio to transcribe; pass files as arguments or "
                          f"{setting_name('input')} LIST")
    return files


def transcribe_command(run: Transcriber, settings: TranscribeSettings, write, progress: bool) -> None:
    """`textrnn transcribe`: a line per clip (its file, a tab, the transcript), or with
    --json an object per clip with word timestamps; to --output if given."""
    if settings.output:
        check_output(settings.output, "output")
    files = files_of(settings)
    for f in files:
        if not Path(f).is_file():
            raise DataError(f"{f}: no such audio file; check the path")
    results = run.transcribe(files, settings.beam, settings.lm, settings.lm_weight, settings.word_bonus,
                             max_seconds=settings.max_audio_seconds)
    as_json = settings.json or (settings.output or "").endswith(".jsonl")
    lines = [json.dumps({"file": f, **r}, ensure_ascii=False) + "\n" if as_json else f"{f}\t{r['text']}\n"
             for f, r in zip(files, results)]
    emit_lines(lines, settings.output, write)
