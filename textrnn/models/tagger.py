"""A sequence tagger: each word read as its embedding, its characters' features and, where
given, contextual string embeddings from character language models; a bidirectional
encoder of any cell over the words; a tag score per word, then a CRF or a softmax.

Shapes: B sentences, T words, L characters per word, N characters per sentence string,
K tags, E the words' input width to the encoder.
"""
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from ..tokenization import PAD_ID
from .crf import CRF
from .dropout import LockedDropout
from .encoder import RNNEncoder
from .padded import real_positions

class CharFeatures(nn.Module):
    """A word's characters (N, L) -> one vector per word (N, 2 * hidden); a kind in
    CHAR_FEATURES reads the embedded characters (N, L, C) and their lengths (N,)."""

    def __init__(self, chars: int, embed_dim: int, hidden: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(chars, embed_dim, padding_idx=PAD_ID)
        self.drop = nn.Dropout(dropout)
        self.output_size = 2 * hidden

    def forward(self, chars):
        lengths = (chars != PAD_ID).sum(1).clamp(min=1)  # (N,)
        return self.read(self.drop(self.embed(chars)), lengths)


class CharLSTM(CharFeatures):
    """A character BiLSTM's last states both ways (Lample et al. 2016), which learns
    prefixes, suffixes and shape."""

    def __init__(self, chars: int, embed_dim: int, hidden: int, dropout: float):
        super().__init__(chars, embed_dim, hidden, dropout)
        self.rnn = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)

    def read(self, x, lengths):
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.rnn(packed)  # h (2, N, H): forward's last state, backward's first
        return torch.cat([h[0], h[1]], -1)  # (N, 2H)


class CharCNN(CharFeatures):
    """A character convolution max-pooled over the word (Ma & Hovy 2016): 2 * hidden filters
    of width 3, so it gives as many features as the BiLSTM."""

    def __init__(self, chars: int, embed_dim: int, hidden: int, dropout: float):
        super().__init__(chars, embed_dim, hidden, dropout)
        self.conv = nn.Conv1d(embed_dim, 2 * hidden, kernel_size=3, padding=1)

    def read(self, x, lengths):
        y = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (N, L, 2H)
        return y.masked_fill(~real_positions(lengths, y.shape[1])[..., None], float("-inf")).max(1).values


# --char-features: each kind's module, named by its class ("lstm" for CharLSTM; "none": no
# character features)
CHAR_FEATURES = {**{kind.__name__.removeprefix("Char").lower(): kind for kind in (CharLSTM, CharCNN)},
                 "none": None}


class ContextualStrings(nn.Module):
    """Contextual string embeddings (Akbik et al. 2018): a character language model reads
    the whole sentence as one string, and a word is its state after the word's last
    character (reading forwards), or after its first (a model that reads backwards). The
    same word gets a different vector in each context. `encoders`: the language models'
    encoders; `fine_tune`: train them with the tagger (else they stay fixed, in eval mode)."""

    def __init__(self, encoders: list, fine_tune: bool = False):
        super().__init__()
        self.models = nn.ModuleList(encoders)
        self.fine_tune = fine_tune
        if not fine_tune:
            self.models.requires_grad_(False)
        self.output_size = sum(m.output_size for m in encoders)

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.fine_tune:
            self.models.eval()  # fixed models keep dropout off
        return self

    def forward(self, strings: list):
        """`strings`: for each model, (ids (B, N), at (B, T)): its sentence strings and, for
        each word, the position whose state it takes -> (B, T, sum of the models' widths)."""
        out = []
        with torch.set_grad_enabled(self.fine_tune and torch.is_grad_enabled()):
            for model, (ids, at) in zip(self.models, strings):
                h, _ = model(ids)  # (B, N, H); causal, so padding at the end changes nothing
                out.append(h.gather(1, at[..., None].expand(-1, -1, h.shape[-1])))  # (B, T, H)
        return torch.cat(out, -1)


class SequenceTagger(nn.Module):
    """words (B, T), lengths (B,), chars (B, T, L), [strings: each language model's input, or
    their vectors (B, T, F)] -> tag scores (B, T, K); with tags (B, T), the loss in nats per
    word instead."""

    def __init__(self, cfg, chars: int, allowed=(), embedding_models=()):  # cfg: config.ModelConfig
        """`allowed`: the CRF's (allowed, may start, may end) masks (crf.CRF), or () for all."""
        super().__init__()
        self.cfg = cfg
        enc, head = cfg.encoder, cfg.head
        kind = CHAR_FEATURES[head.char_features]
        self.chars = kind(chars, head.char_embed_dim, head.char_hidden, enc.dropout) if kind else None
        self.strings = ContextualStrings(list(embedding_models), head.fine_tune_embeddings) \
            if embedding_models else None
        width = enc.embed_dim + (self.chars.output_size if self.chars else 0) + \
            (self.strings.output_size if self.strings else 0)
        self.encoder = RNNEncoder(enc, cfg.vocab_size, input_size=width)
        self.drop = LockedDropout(enc.dropout)
        self.out = nn.Linear(self.encoder.output_size, len(head.tags))
        self.crf = CRF(len(head.tags), *allowed) if head.output_layer == "crf" else None

    def emissions(self, words, lengths, chars, strings=()):
        x = self.encoder.features(words)  # (B, T, embed_dim)
        parts = [x]
        if self.chars is not None:
            real = real_positions(lengths, words.shape[1])  # (B, T)
            feats = x.new_zeros(*words.shape, self.chars.output_size)
            feats[real] = self.chars(chars[real]).to(x.dtype)  # only real words' characters
            parts.append(self.drop(feats))
        if self.strings is not None:  # `strings` may be their vectors already (B, T, F)
            found = strings if torch.is_tensor(strings) else self.strings(strings)
            parts.append(self.drop(found.to(x.dtype)))
        h, _ = self.encoder.recur(torch.cat(parts, -1), lengths=lengths)  # (B, T, D*H)
        return self.out(self.drop(h))  # (B, T, K)

    def forward(self, words, lengths, chars, strings=(), tags=None):
        scores = self.emissions(words, lengths, chars, strings)
        if tags is None:
            return scores
        if self.crf is not None:
            return self.crf.nll(scores, tags, lengths).sum() / lengths.sum()
        real = real_positions(lengths, words.shape[1])
        return F.cross_entropy(scores[real].float(), tags[real])

    def decode(self, words, lengths, chars, strings=()):
        """(best tags (B, T), each tag's probability (B, T)): Viterbi and the CRF's marginals,
        or each word's argmax and its softmax probability."""
        scores = self.emissions(words, lengths, chars, strings).float()
        if self.crf is None:
            proba, best = torch.softmax(scores, -1).max(-1)
            return best, proba
        best = self.crf.decode(scores, lengths)
        return best, self.crf.marginals(scores, lengths).gather(2, best[..., None]).squeeze(2)
