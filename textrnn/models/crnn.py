"""A speech recogniser: log-mel features -> a 2-D convolutional front end that downsamples
time -> a bidirectional recurrent encoder of any textrnn cell -> a CTC head over
characters. The conv + RNN hybrid (CRNN) of Deep Speech 2 (Amodei et al. 2016), trained
with CTC (Graves et al. 2006) and augmented with SpecAugment (Park et al. 2019).

Shapes: B clips, T feature frames, F mel bands, T' = frames after the front end, V the
alphabet and the blank."""
import torch
from torch import nn
from torch.nn import functional as F

from .encoder import RNNEncoder


def conv_frames(lengths: torch.Tensor, strides) -> torch.Tensor:
    """Frames after the front end's convolutions (kernel 3, padding 1, these time strides)."""
    for s in strides:
        lengths = (lengths - 1) // s + 1
    return lengths


def time_strides(total: int) -> tuple[int, int]:
    """The two convolutions' time strides for a total downsampling of 1, 2 or 4."""
    return {1: (1, 1), 2: (2, 1), 4: (2, 2)}[total]


def mask_beyond(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (B, C, T, F) with every frame at or past its clip's length set to 0: the zeros a
    convolution pads a clip alone with, so a clip in a padded batch reads as it does alone."""
    keep = torch.arange(x.shape[2], device=x.device)[None, :] < lengths[:, None]  # (B, T)
    return x * keep[:, None, :, None]


def spec_augment(x: torch.Tensor, lengths: torch.Tensor, freq_masks: int, freq_width: int,
                 time_masks: int, time_ratio: float) -> torch.Tensor:
    """SpecAugment's masking (Park et al. 2019) of features (B, T, F): per clip,
    `freq_masks` bands of up to `freq_width` mel channels and `time_masks` stretches of up
    to `time_ratio` of its frames set to 0, the mean of normalised features. Training only;
    the draws come from torch's generator, which the resume state keeps."""
    B, T, Fb = x.shape
    out = x.clone()
    for b in range(B):
        n = int(lengths[b])
        for _ in range(freq_masks):
            w = int(torch.randint(0, freq_width + 1, ()))
            f0 = int(torch.randint(0, max(1, Fb - w + 1), ()))
            out[b, :, f0:f0 + w] = 0
        widest = int(time_ratio * n)
        for _ in range(time_masks if widest else 0):
            w = int(torch.randint(0, widest + 1, ()))
            t0 = int(torch.randint(0, max(1, n - w + 1), ()))
            out[b, t0:t0 + w] = 0
    return out


class SpeechRecognizer(nn.Module):
    def __init__(self, cfg):  # cfg: ModelConfig with a speech head
        super().__init__()
        self.cfg, head, enc = cfg, cfg.head, cfg.encoder
        C, self.strides = head.conv_channels, time_strides(head.time_stride)
        self.conv1 = nn.Conv2d(1, C, 3, stride=(self.strides[0], 2), padding=1)
        self.conv2 = nn.Conv2d(C, C, 3, stride=(self.strides[1], 2), padding=1)
        bands = (((head.n_mels - 1) // 2 + 1) - 1) // 2 + 1  # after two frequency strides of 2
        self.proj = nn.Linear(C * bands, enc.embed_dim)
        self.encoder = RNNEncoder(enc, 0, input_size=enc.embed_dim)
        self.drop = nn.Dropout(enc.dropout)
        self.out = nn.Linear(self.encoder.output_size, cfg.vocab_size)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return conv_frames(lengths, self.strides)

    def log_probs(self, features, lengths):
        """features (B, T, F), lengths (B,) -> log P over the alphabet and blank (B, T', V),
        frames (B,)."""
        h = self.cfg.head
        if self.training and (h.freq_masks or h.time_masks):
            features = spec_augment(features, lengths, h.freq_masks, h.freq_mask_width,
                                    h.time_masks, h.time_mask_ratio)
        x = mask_beyond(features[:, None], lengths)  # (B, 1, T, F)
        lengths1 = conv_frames(lengths, self.strides[:1])
        x = mask_beyond(F.gelu(self.conv1(x)), lengths1)  # (B, C, T1, F1)
        out_lengths = conv_frames(lengths1, self.strides[1:])
        x = mask_beyond(F.gelu(self.conv2(x)), out_lengths)  # (B, C, T', F')
        x = self.drop(self.proj(x.transpose(1, 2).flatten(2)))  # (B, T', E)
        x, _ = self.encoder.recur(x, lengths=out_lengths)  # (B, T', H * directions)
        return torch.log_softmax(self.out(self.drop(x)).float(), -1), out_lengths

    def forward(self, features, lengths, targets=None, target_lengths=None):
        """With targets (the batch's transcripts' ids: (B, L) padded, or concatenated) the
        mean CTC loss per character of transcript; else (log probs, frames)."""
        log_probs, frames = self.log_probs(features, lengths)
        if targets is None:
            return log_probs, frames
        # CTC's own mean: each clip's loss over its transcript's length, then over clips.
        # zero_infinity: a clip too short for its transcript (refused when data is read)
        # cannot turn the whole batch's loss infinite.
        return F.ctc_loss(log_probs.transpose(0, 1), targets, frames, target_lengths, blank=0,
                          reduction="mean", zero_infinity=True)
