"""A trained translator: translate (greedy, beam search or sampling), attention maps, and
sacreBLEU and chrF (Post 2018; Popović 2015) on detokenised, cased output; its two doors,
`textrnn translate` and POST /v1/translate."""
import json
import logging
import math
from dataclasses import dataclass

import torch

from ..data import bucketed_batches, collate, encode_texts
from ..data.sentence_pairs import Pairs, load_pairs
from ..errors import ConfigError, check_range, setting_name
from ..inference.decoding import beam_search, greedy, sample
from ..models import evaluating
from ..nested import take
from ..outputs import check_output, write_output
from ..settings import setting
from ..tokenization import PAD_ID, UNK_ID, decode, tokenizer_kind
from ..tokenizer_pair import sides
from .base import LoadedRun, check_texts
from .text_input import TextInput, texts_of

log = logging.getLogger("textrnn")
BOS, EOS = "<s>", "</s>"
# A translation may run to this multiple of its source's tokens, plus a few.
MAX_RATIO, MAX_EXTRA = 1.5, 10


def cut_to(sources: list[list[int]], most: int) -> tuple[list[list[int]], int]:
    """Sources cut to `most` tokens, and how many were longer."""
    return [s[:most] for s in sources], sum(len(s) > most for s in sources)


def special_ids(tok) -> tuple[int, int]:
    return tok.token_to_id(BOS), tok.token_to_id(EOS)


def detokenize(tok, ids, kind: str) -> str:
    """A translation's text: its tokens decoded, without the space that a tokenizer whose
    tokens carry a word's leading space (`kind`'s marks_spaces) reads before every sentence
    (tokenization.with_leading_space)."""
    text = decode(tok, ids)
    return text[1:] if tokenizer_kind(kind).marks_spaces and text.startswith(" ") else text


def bleu_chrf(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU and chrF with their sacreBLEU signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf = BLEU(force=True), CHRF()  # force: no warning about periods; same scores
    return {"bleu": bleu.corpus_score(hypotheses, [references]).score,
            "chrf": chrf.corpus_score(hypotheses, [references]).score,
            "signature": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())}}


def decoder_step(model, memory, bos: int, weights: list | None = None):
    """The decoder as decoding.py's step: (previous tokens, (state, feed)) -> log-probabilities
    with <pad>, <unk> and <s> (never a translation's token) at -inf, and the new carry; each
    step's attention weights (B, S) are appended to `weights` if given."""
    never = torch.tensor([PAD_ID, UNK_ID, bos], device=memory.values.device)

    def step(y, carry):
        feed, state, attention = model.step(y, carry[0], carry[1], memory)
        if weights is not None:
            weights.append(attention)
        logp = torch.log_softmax(model.scores(feed).float(), -1)
        return logp.index_fill_(1, never, -math.inf), (state, feed)
    return step


@torch.no_grad()
def translate_ids(model, sources: list[list[int]], bos: int, eos: int, beam: int = 1,
                  alpha: float = 0.6, temperature: float = 0.0, generator=None,
                  batch_size: int = 64) -> list[list[int]]:
    """Target ids (</s> left out) for source ids, in their order; sentences of similar
    length go together."""
    with evaluating(model):
        return _translate_ids(model, sources, bos, eos, beam, alpha, temperature, generator, batch_size)


def _translate_ids(model, sources, bos, eos, beam, alpha, temperature, generator, batch_size):
    device = next(model.parameters()).device
    out = [None] * len(sources)
    for idx in bucketed_batches([len(s) for s in sources], batch_size, seed=0, shuffle=False):
        src, lengths = collate([sources[i] for i in idx])
        memory, state, feed = model.encode(src.to(device), lengths.to(device))
        limits = [math.ceil(MAX_RATIO * n) + MAX_EXTRA for n in lengths.tolist()]
        start = torch.full((len(idx),), bos, device=device)
        if beam > 1:
            memory = memory.repeat(beam)
            carry = take((state, feed), torch.arange(len(idx), device=device).repeat_interleave(beam))
        else:
            carry = (state, feed)

        step = decoder_step(model, memory, bos)
        found = (beam_search(step, carry, start, beam, limits, eos, alpha) if beam > 1
                 else sample(step, carry, start, limits, eos, temperature, generator))
        for i, seq in zip(idx, found):
            out[i] = seq
    return out


class Translator(LoadedRun):
    """A trained encoder-decoder with its tokenizer: one vocabulary for both sides, or a
    TokenizerPair (one per language)."""
    noun = "translator"

    @property
    def sides(self) -> tuple:
        """(source tokenizer, target tokenizer, the target's kind)."""
        return sides(self.tokenizer, self.config.tokenizer)

    def _source_ids(self, texts) -> list[list[int]]:
        most = self.config.head.max_length
        ids, n = cut_to(encode_texts(self.sides[0], check_texts(texts)), most)
        if n:
            log.warning("%d text(s) have more than %d tokens, the longest this model learnt from; "
                        "each is cut there", n, most)
        return ids

    def translate(self, texts, beam: int = 1, length_penalty: float | None = None,
                  temperature: float = 0.0, seed: int | None = None, batch_size: int = 64) -> list[str]:
        """Translations of `texts`: greedy (beam 1), beam search with Wu et al.'s length
        penalty (alpha; None: the one chosen on validation when the model was trained), or
        sampled at `temperature` > 0 (with beam 1)."""
        _, target, kind = self.sides
        vocab = target.get_vocab_size()
        if not isinstance(beam, int) or not 1 <= beam <= vocab:
            raise ConfigError(f"beam must be a whole number from 1 to the vocabulary's size "
                              f"({vocab}), got {beam!r}")
        if length_penalty is None:
            length_penalty = self.config.head.length_penalty
        check_range("length-penalty", length_penalty, 0, 10)
        check_range("temperature", temperature, 0, 100)
        if seed is not None:
            check_range("seed", seed, 0, 2**32 - 1)
        if temperature > 0 and beam > 1:
            raise ConfigError(f"sampling (temperature > 0) takes {setting_name('beam', 1)}")
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed if seed is not None else torch.seed())
        bos, eos = special_ids(target)
        ids = translate_ids(self.model, self._source_ids(texts), bos, eos, beam, length_penalty,
                            temperature, generator, batch_size)
        return [detokenize(target, s, kind) for s in ids]

    @torch.no_grad()
    def attention(self, text: str):
        """The greedy translation of `text` with its attention: (source tokens, target
        tokens, weights (T, S)), each row of weights summing to one."""
        src = self._source_ids([text])[0]
        source, target, _ = self.sides
        bos, eos = special_ids(target)
        self.model.eval()
        memory, state, feed = self.model.encode(torch.tensor([src], device=self.device),
                                                torch.tensor([len(src)], device=self.device))
        rows = []
        tokens = greedy(decoder_step(self.model, memory, bos, rows), (state, feed),
                        torch.tensor([bos], device=self.device),
                        [math.ceil(MAX_RATIO * len(src)) + MAX_EXTRA], eos)[0]
        rows = [w[0].cpu() for w in rows]  # one per step: the tokens, then </s> if it came
        pieces = lambda tok, ids: [decode(tok, [i]) for i in ids]  # noqa: E731
        return (pieces(source, src), pieces(target, tokens) + [EOS][: len(rows) - len(tokens)],
                torch.stack(rows).numpy())

    def plot_attention(self, text: str, path) -> None:
        """A PNG of `text`'s attention map; never over a run's own file (outputs.py)."""
        from ..plots import plot_attention
        found = self.attention(text)
        write_output(path, lambda tmp: plot_attention(*found, tmp), "plot_attention")

    def evaluate(self, data, beam: int = 1, source_column=None, target_column=None, source_lang=None,
                 target_lang=None, split: str = "test", batch_size: int = 64) -> dict:
        """BLEU and chrF of the translations of parallel data (see data/sentence_pairs.py) or
        `Pairs`."""
        pairs = data if isinstance(data, Pairs) else load_pairs(
            data, source_column, target_column, source_lang or self.config.head.source_lang,
            target_lang or self.config.head.target_lang, split)
        hyps = self.translate(pairs.sources, beam=beam, batch_size=batch_size)
        alpha = {"length_penalty": self.config.head.length_penalty} if beam > 1 else {}
        return {**bleu_chrf(hyps, pairs.targets), "sentences": len(pairs), "beam": beam, **alpha}

    def evaluate_source(self, sources, settings, progress=False, batch_size=None) -> dict:
        """`textrnn evaluate`: greedy and beam-5 scores of two text files (source, then
        target), a table or a Hub dataset."""
        pairs = load_pairs(sources, None, None, self.config.head.source_lang,
                           self.config.head.target_lang, settings.split)
        size = batch_size or 64
        return {"greedy": self.evaluate(pairs, 1, batch_size=size),
                "beam_5": self.evaluate(pairs, 5, batch_size=size)}

    @staticmethod
    def describe(metrics: dict) -> str:
        """Scores as text: one set (validation), or several by decoding (greedy, beam_5)."""
        parts = [("", metrics)] if "bleu" in metrics else metrics.items()
        return "\n".join(f"{name + ': ' if name else ''}BLEU {m['bleu']:.2f}  chrF {m['chrf']:.2f}"
                         + (f"  loss {m['loss']:.4f}" if "loss" in m else "")
                         + (f"  length penalty {m['length_penalty']}" if "length_penalty" in m else "")
                         + f"  ({m['sentences']} sentences; {m['signature']['bleu']})"
                         for name, m in parts if isinstance(m, dict) and "bleu" in m)


@dataclass
class TranslateSettings(TextInput):
    """`textrnn translate`: a translation per text."""
    beam: int = setting(5, "beam size; 1: greedy", low=1, high=10_000)
    length_penalty: float | None = setting(None, "alpha of Wu et al. (2016)'s length penalty "
                                           "(default: the one chosen on validation after training; "
                                           "0.6 for a run that chose none)", low=0, high=10, type=float)
    temperature: float = setting(0.0, "sample at this temperature instead (with --beam 1); 0: off",
                                 low=0, high=100)
    seed: int | None = setting(None, "seed for sampling", low=0, high=2**32 - 1, type=int)
    plot_attention: str | None = setting(None, "save the first text's attention map as a PNG",
                                         metavar="PNG")


@dataclass
class TranslatorEvaluation:
    """`textrnn evaluate` on a translator: BLEU and chrF, greedy and with beam search."""
    split: str = setting("test", "dataset split of --data for Hub ids")


@dataclass
class TranslateRequest:
    """POST /v1/translate's body."""
    texts: list[str] = setting([], "texts to translate", required=True)
    beam: int = setting(5, "beam size; 1: greedy")
    attention: bool = setting(False, "also the attention map of the first text's greedy translation")


def translate_command(tr: Translator, settings: TranslateSettings, write, progress: bool) -> None:
    """`textrnn translate`: a line per text (or JSON), and the first one's attention map."""
    if settings.plot_attention:
        check_output(settings.plot_attention, "plot_attention")  # before any work
    texts = texts_of(settings, "translate")
    out = tr.translate(texts, beam=settings.beam, length_penalty=settings.length_penalty,
                       temperature=settings.temperature, seed=settings.seed)
    for text, translation in zip(texts, out):
        write((json.dumps({"source": text, "translation": translation}, ensure_ascii=False)
               if settings.json else translation) + "\n")
    if settings.plot_attention:
        tr.plot_attention(texts[0], settings.plot_attention)


def translate_endpoint(server, name: str, tr: Translator, body: TranslateRequest) -> dict:
    """POST /v1/translate: the translations, and with `attention` the first text's map:
    weights (T, S)."""
    server.cap_texts(body.texts)
    server.cap("the beam", body.beam, "max_beam")
    result = {"model": name, "translations": tr.translate(body.texts, beam=body.beam)}
    if body.attention:
        source, target, weights = tr.attention(body.texts[0])
        result["attention"] = {"source": source, "target": target, "weights": weights.tolist()}
    return result
