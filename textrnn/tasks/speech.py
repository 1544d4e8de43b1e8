"""Speech to text: log-mel features of each clip (data/log_mel.py) into a CRNN (a 2-D
convolutional front end, a bidirectional encoder of any textrnn cell) trained with CTC over
characters (models/crnn.py). Clips are read when their batch comes, in length-bucketed
batches; the loss is CTC's, in nats per transcript character. The best weights are those of
the lowest validation character error rate, decoded greedily. The run folder keeps the
features' settings and the alphabet in speech.json (data/speech_encoding.py)."""
import logging
import random
from collections import Counter
from dataclasses import dataclass, replace

import torch
from torch.nn.utils.rnn import pad_sequence

from ..config import ModelConfig
from ..data import EpochBatches
from ..data.audio import change_speed, clip_info, read_audio
from ..device import autocast
from ..inference.ctc import greedy
from ..models import evaluating
from ..data.bundled import SAMPLE_DATA
from ..data.speech_encoding import SpeechEncoding
from ..data.transcribed import Transcribed, load_transcribed
from ..encodings import SPEECH
from ..errors import CheckpointError, ConfigError, DataError, setting_name
from ..models.crnn import SpeechRecognizer, conv_frames, time_strides
from ..settings import setting
from ..world import current
from .base import Endpoint, SourceSettings, Task
from .speech_serving import TranscribeRequest, openai_routes, transcribe_endpoint
from .transcriber import (MAX_SECONDS, SpeechEvaluation, TranscribeSettings, Transcriber, padded,
                          scores, transcribe_command)

log = logging.getLogger("textrnn")
SPEEDS = (0.9, 1.0, 1.1)  # --speed-perturb's, as Ko et al. (2015)

# `textrnn train-speech`: a 2x192 bidirectional LSTM over 128-wide projections of the
# front end's output, dropout 0.2, Adam at 2e-3 warmed up then cosine-decayed to the end,
# an evaluation per epoch and the best epoch kept.
COMMAND_DEFAULTS = dict(cell="lstm", bidirectional=True, embed_dim=128, hidden_size=192,
                        num_layers=2, dropout=0.2, lr=2e-3, batch_size=16, epochs=30,
                        warmup_steps=100, eval_every=0, save_every=0, weight_decay=0.01,
                        clip=5.0)

# recipes/speech.py on the bundled commands (data/make_speech_sample.py): a smaller model
# and a time budget a first run can wait for.
SAMPLE = dict(COMMAND_DEFAULTS, hidden_size=128, embed_dim=96, epochs=60, time_budget=150.0,
              lr=3e-3, data=str(SAMPLE_DATA / "speech_sample" / "train.csv"),
              test_data=str(SAMPLE_DATA / "speech_sample" / "test.csv"))


@dataclass
class SpeechDataConfig(SourceSettings):
    """Where the clips and transcripts come from, and how clips become features."""
    data: str = setting("", "training clips: a folder of audio files with one transcript table "
                        "(path, text), a csv/tsv/jsonl/parquet table naming audio files, or a Hub "
                        "dataset id with an audio column", metavar="DIR_OR_TABLE")
    val_data: str | None = setting(None, "validation clips (default: --val-fraction of --data)")
    test_data: str | None = setting(None, "test clips, scored after training")
    val_split: str = setting("validation", "dataset split of --val-data for Hub ids")
    test_split: str = setting("test", "dataset split of --test-data for Hub ids")
    val_fraction: float = setting(0.1, "fraction of --data held out for validation", low=0, high=1,
                                  low_open=True, high_open=True)
    audio_column: str | None = setting(None, "column naming the audio file (a table) or holding "
                                       "the audio (a Hub dataset; default: its Audio column)")
    sample_rate: int = setting(0, "the model's sample rate; clips at another rate are resampled "
                               "(0: the training clips' most common rate, since upsampling adds "
                               "nothing)", low=0, high=192_000)
    window_ms: float = setting(25.0, "feature window in milliseconds", low=1, high=1000)
    hop_ms: float = setting(10.0, "feature hop in milliseconds", low=1, high=1000)
    n_mels: int = setting(40, "mel bands per frame", low=4, high=512)
    normalise: bool = setting(True, "each band to zero mean and unit variance per clip")
    speed_perturb: bool = setting(False, "play each training clip at 0.9, 1.0 or 1.1 times its "
                                  "speed, drawn per clip and epoch (Ko et al. 2015): new voices' "
                                  "pitch and pace")
    max_audio_seconds: float = setting(MAX_SECONDS, "clips longer than this are refused",
                                       low=0, low_open=True, high=3600)


@dataclass
class SpeechHeadConfig:
    """The front end, the CTC head and SpecAugment (Park et al. 2019)."""
    conv_channels: int = setting(32, "channels of the two 3x3 convolutions", low=1, high=1024)
    time_stride: int = setting(4, "frames per output step (the front end downsamples time)",
                               choices=(1, 2, 4), type=int)
    freq_masks: int = setting(2, "SpecAugment: frequency masks per training clip", low=0, high=20)
    freq_mask_width: int = setting(8, "SpecAugment: widest frequency mask, in mel bands", low=0,
                                   high=512)
    time_masks: int = setting(2, "SpecAugment: time masks per training clip", low=0, high=100)
    time_mask_ratio: float = setting(0.05, "SpecAugment: widest time mask, as a share of the "
                                     "clip", low=0, high=1)
    n_mels: int = setting(40, "the features' mel bands", cli=False)


@dataclass
class SpeechSplits:
    train: Transcribed
    val: Transcribed
    test: Transcribed | None
    sample_rate: int
    seconds: dict  # id of a part -> each clip's seconds
    n_mels: int


class SpeechTask(Task):
    """Train a speech recogniser on transcribed clips: CTC over characters."""
    name, command, Head, Data, Loaded = ("speech", "train-speech", SpeechHeadConfig,
                                         SpeechDataConfig, Transcriber)
    pipeline_tag = "automatic-speech-recognition"
    encodings = (SPEECH,)
    command_defaults = COMMAND_DEFAULTS
    metric, mode, sampled_eval, loss_unit = "cer", "min", False, "nats per character"
    eval_batch_size = 32
    unit = "frames"
    verb, verb_help, Use, Evaluation = ("transcribe", "write down what clips say with a speech "
                                        "run folder", TranscribeSettings, SpeechEvaluation)
    use = staticmethod(transcribe_command)
    endpoint = Endpoint("transcribe", "what a clip says, with each word's times", TranscribeRequest,
                        transcribe_endpoint, panel="speech_panel.js", upload_kb="max_audio_kb",
                        routes=openai_routes)

    @staticmethod
    def build_model(cfg: ModelConfig):
        return SpeechRecognizer(cfg)

    @staticmethod
    def check_encoding(encoding: SpeechEncoding, cfg: ModelConfig, path) -> None:
        if encoding.n_mels != cfg.head.n_mels:
            raise CheckpointError(f"{path} has {encoding.n_mels} mel bands but config.json "
                                  f"{cfg.head.n_mels}; the folder mixes files of different runs")

    @staticmethod
    def recipe_preset(given: dict) -> dict:
        """recipes/speech.py: the bundled spoken commands, or clips of your own."""
        return dict(SAMPLE if "data" not in given else COMMAND_DEFAULTS)

    @staticmethod
    def read_data(data_cfg: SpeechDataConfig, seed: int, saved=None) -> SpeechSplits:
        read = lambda source, split: load_transcribed(source, data_cfg.audio_column,  # noqa: E731
                                                      data_cfg.text_column, split,
                                                      data_cfg.data_config)
        train = read(data_cfg.data, data_cfg.split)
        if data_cfg.val_data:
            val = read(data_cfg.val_data, data_cfg.val_split)
        else:
            train, val = hold_out(train, data_cfg.val_fraction, seed)
        test = read(data_cfg.test_data, data_cfg.test_split) if data_cfg.test_data else None
        seconds, rates = {}, Counter()
        for part in (train, val, test):
            if part is not None:
                infos = [clip_info(part.clips[i]) for i in range(len(part))]
                seconds[id(part)] = [s for _, s in infos]
                if part is train:
                    rates.update(r for r, _ in infos)
                long = [i for i, (_, s) in enumerate(infos) if s > data_cfg.max_audio_seconds]
                if long:
                    raise DataError(f"{part.clips[long[0]]} lasts {infos[long[0]][1]:.1f} s, longer "
                                    f"than {setting_name('max_audio_seconds', data_cfg.max_audio_seconds)}; "
                                    "cut it, or raise the cap")
        # a resumed run keeps its own rate, in its encoding (speech.json)
        rate = data_cfg.sample_rate or rates.most_common(1)[0][0]
        log.info("clips: %d training (%.0f s), %d validation%s; sample rate %d Hz%s", len(train),
                 sum(seconds[id(train)]), len(val), f", {len(test)} test" if test else "", rate,
                 "" if data_cfg.sample_rate else " (the training clips' most common)")
        return SpeechSplits(train, val, test, rate, seconds, data_cfg.n_mels)

    @staticmethod
    def new_encoding(data: SpeechSplits, data_cfg: SpeechDataConfig):
        return "speech", SpeechEncoding.learn(data.train.texts, sample_rate=data.sample_rate,
                                              window_ms=data_cfg.window_ms, hop_ms=data_cfg.hop_ms,
                                              n_mels=data_cfg.n_mels, normalise=data_cfg.normalise)

    @staticmethod
    def complete(cfg: ModelConfig, data: SpeechSplits) -> ModelConfig:
        return replace(cfg, head=replace(cfg.head, n_mels=data.n_mels))

    @classmethod
    def prepare(cls, data: SpeechSplits, encoding: SpeechEncoding, data_cfg, train_cfg, run_dir,
                model_cfg):
        frames = [encoding.frames(round(s * encoding.sample_rate)) for s in data.seconds[id(data.train)]]
        ids = [encoding.encode(t) for t in data.train.texts]
        check_alignable(data.train, frames, ids, time_strides(model_cfg.head.time_stride))
        speeds = fitting_speeds(data.seconds[id(data.train)], ids, encoding, model_cfg.head.time_stride) \
            if data_cfg.speed_perturb else None
        return cls(data, encoding, frames, ids, train_cfg.batch_size, train_cfg.seed,
                   train_cfg.eval_batch_size or cls.eval_batch_size, data_cfg.max_audio_seconds, speeds)

    def __init__(self, data: SpeechSplits, encoding: SpeechEncoding, frames: list[int],
                 ids: list[list[int]], batch_size: int, seed: int, eval_batch_size: int = 32,
                 max_seconds: float = MAX_SECONDS, speeds: list[tuple] | None = None):
        self.data, self.encoding, self.frames, self.ids = data, encoding, frames, ids
        self.batches = EpochBatches(frames, batch_size, seed)
        self.eval_size, self.max_seconds = eval_batch_size, max_seconds
        self.held_out = {}  # id of the validation or test clips -> their transcripts' ids
        self.speeds, self.seed = speeds, seed  # per training clip, the speeds it may be played at

    def num_batches(self, epoch: int) -> int:
        return len(self.batches(epoch))

    def features(self, part: Transcribed, idx: list[int], speeds=None):
        """Clips idx of a part (each played at its speed, if given) -> padded features
        (B, T, F) and lengths (B,)."""
        rate = self.encoding.sample_rate
        read = [read_audio(part.clips[i], rate, self.max_seconds) for i in idx]
        if speeds is not None:
            read = [change_speed(x, s) for x, s in zip(read, speeds)]
        return padded([self.encoding.features(x) for x in read])

    def batch(self, epoch: int, i: int):
        """features (B, T, F), lengths (B,), targets (B, L) padded with blanks, target
        lengths (B,): every tensor one row per clip, so torchrun's ranks split it by rows."""
        idx = self.batches(epoch)[i]
        speeds = None
        if self.speeds is not None:  # drawn from (seed, epoch, batch): a resumed run draws alike
            rng = random.Random(f"{self.seed}-{epoch}-{i}")
            speeds = [rng.choice(self.speeds[j]) for j in idx]
        feats, lengths = self.features(self.data.train, idx, speeds)
        targets = [torch.tensor(self.ids[j], dtype=torch.long) for j in idx]
        return feats, lengths, pad_sequence(targets, batch_first=True), torch.tensor([len(t) for t in targets])

    @staticmethod
    def tokens(batch) -> int:
        return int(batch[1].sum())

    def loss(self, model, batch, carry, device):
        feats, lengths, targets, target_lengths = (t.to(device) for t in batch)
        return model(feats, lengths, targets, target_lengths), None

    @torch.no_grad()
    def scores(self, model, part: Transcribed, device, precision, examples: int = 0) -> dict:
        """Greedy transcripts of a part (this rank's share of its clips) against its references."""
        world = current()
        mine = list(range(len(part)))[world.share(len(part))]
        heard, losses = {}, []
        if id(part) not in self.held_out:  # encoded once, read at every evaluation
            self.held_out[id(part)] = [self.encoding.encode(t) for t in part.texts]
        ids_of = self.held_out[id(part)]
        with evaluating(model):
            for start in range(0, len(mine), self.eval_size):
                idx = mine[start:start + self.eval_size]
                feats, lengths = self.features(part, idx)
                with autocast(device, precision):
                    lp, frames = model(feats.to(device), lengths.to(device))
                targets = [ids_of[i] for i in idx]
                loss = torch.nn.functional.ctc_loss(
                    lp.float().transpose(0, 1), torch.tensor([c for t in targets for c in t], dtype=torch.long),
                    frames.cpu(), torch.tensor([len(t) for t in targets]), blank=0,
                    reduction="sum", zero_infinity=True)
                losses.append((float(loss), sum(len(t) for t in targets)))
                for b, i in enumerate(idx):
                    heard[i] = self.encoding.decode(greedy(lp[b, :int(frames[b])].double().cpu().numpy())[0])
        gathered = world.gather(heard) if world.size > 1 else [heard]
        found = {i: h for part_heard in gathered for i, h in part_heard.items()}
        total = world.sum([sum(n for n, _ in losses), sum(c for _, c in losses)]).tolist()
        result = scores(part.texts, [found[i] for i in range(len(part))], examples)
        return {"loss": total[0] / max(total[1], 1), **result}

    def evaluate(self, model, device, precision, final=False):
        return self.scores(model, self.data.val, device, precision, examples=3 if final else 0)

    def report(self, model, metrics, folder, device, precision) -> dict:
        if self.data.test is None:
            return {}
        return {"test": self.scores(model, self.data.test, device, precision, examples=3)}


def check_alignable(part: Transcribed, frames: list[int], ids: list[list[int]], strides) -> None:
    """Refuse a clip whose transcript CTC cannot place in its frames: one frame per
    character, and a blank between two equal ones."""
    for i, (n, t) in enumerate(zip(frames, ids)):
        steps, need = int(conv_frames(torch.tensor(n), strides)), frames_needed(t)
        if need > steps:
            raise DataError(f"{part.clips[i]}: its transcript needs {need} output frames but the "
                            f"clip gives {steps} ({n} feature frames over the front end's time "
                            f"stride); check the transcript, or pass {setting_name('time_stride', 2)}")
        if not t:
            raise DataError(f"{part.clips[i]}: its transcript holds no letters or digits after "
                            "normalisation; remove the clip or transcribe it")


def fitting_speeds(seconds: list[float], ids: list[list[int]], encoding: SpeechEncoding,
                   time_stride: int) -> list[tuple]:
    """Per clip, the speeds of SPEEDS at which CTC can still place its transcript (a clip
    played faster gives fewer frames)."""
    strides = time_strides(time_stride)
    steps = lambda s, v: int(conv_frames(torch.tensor(encoding.frames(round(s * encoding.sample_rate / v))),  # noqa: E731
                                         strides))
    return [tuple(v for v in SPEEDS if v <= 1 or steps(s, v) >= frames_needed(t))
            for s, t in zip(seconds, ids)]


def frames_needed(ids: list[int]) -> int:
    """CTC's fewest output frames for a transcript: one per character, and a blank between
    two equal ones."""
    return len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))


def hold_out(data: Transcribed, fraction: float, seed: int) -> tuple[Transcribed, Transcribed]:
    """(rest, held out): a random `fraction` of the clips for validation."""
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    n = max(1, int(len(order) * fraction))
    if n >= len(order):
        raise ConfigError(f"{len(order)} clip(s) leave none to train on; pass "
                          f"{setting_name('val_data')} or more clips")
    pick = lambda rows: Transcribed([data.clips[i] for i in rows], [data.texts[i] for i in rows])  # noqa: E731
    return pick(sorted(order[n:])), pick(sorted(order[:n]))


__all__ = ["SpeechTask", "Transcriber", "SpeechDataConfig", "SpeechHeadConfig"]
