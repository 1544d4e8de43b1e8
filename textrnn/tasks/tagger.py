"""A trained sequence tagger: sentences to tensors and back, span and token scores, and its
doors: `textrnn tag`, `textrnn evaluate`, `textrnn.load(run).tag(texts)` and POST /v1/tag.

Scores follow CoNLL's conlleval: a predicted span counts when its type, first and last word
all equal a gold span's (data/schemes.py reads spans the same way in every scheme).
"""
import json
from collections import Counter
from dataclasses import dataclass

import torch

from ..data import bucketed_batches, collate
from ..data.schemes import check_tags, convert, spans
from ..data.tagged import Tagged, load_tagged, read_words, split_words
from ..device import autocast
from ..errors import DataError
from ..models import evaluating
from ..outputs import check_output, emit_lines, write_output
from ..settings import setting
from ..tokenization import check_characters
from ..world import World
from .base import LoadedRun, one_source
from .text_input import TextInput, texts_of

# ---- sentences <-> tensors --------------------------------------------------------------
def backward_models(cfg) -> list[bool]:
    """For each embedding language model of a tagger's config: does it read backwards?"""
    return [bool(lm.get("head", {}).get("reverse")) for lm in cfg.head.embeddings]


def encode_sentences(vocab, sentences, backward: list[bool]) -> list[tuple]:
    """Each sentence as (word ids, each word's character ids, [(LM ids, LM positions)])."""
    return [(vocab.encode_words(s), [vocab.encode_chars(w) for w in s],
             [vocab.strings(s, i, back) for i, back in enumerate(backward)]) for s in sentences]


def collate_sentences(encoded: list[tuple], tags: list[list[int]] | None = None) -> tuple:
    """(words (B, T), lengths (B,), chars (B, T, L), tags (B, T), then for each language
    model its ids (B, N) and positions (B, T)): every tensor batch-first, so a torchrun
    shard splits them alike."""
    words, lengths = collate([e[0] for e in encoded])
    B, T = words.shape
    L = max(len(c) for e in encoded for c in e[1])
    # one tensor from padded lists: a tensor per word would cost more than the batch's model
    pad_word, blank = [0] * L, [[0] * L] * T
    chars = torch.tensor([([c + pad_word[len(c):] for c in e[1]] + blank)[:T] for e in encoded])
    tag_ids = torch.tensor([(t + [0] * T)[:T] for t in tags]) if tags else torch.zeros(B, T, dtype=torch.long)
    strings = []
    for m in range(len(encoded[0][2])):
        ids, _ = collate([e[2][m][0] for e in encoded])
        at, _ = collate([e[2][m][1] for e in encoded])
        strings += [ids, at]
    return (words, lengths, chars, tag_ids, *strings)


def model_inputs(batch, device) -> tuple:
    """(words, lengths, chars, [(LM ids, positions)], tags) on `device`."""
    words, lengths, chars, tags, *strings = (t.to(device, non_blocking=True) for t in batch)
    return words, lengths, chars, list(zip(strings[::2], strings[1::2])), tags


@torch.no_grad()
def predict(model, vocab, sentences, device, precision="fp32", batch_size=64, progress=False,
            world=World(), encoded=None) -> list[tuple[list[int], list[float]]]:
    """(tag ids, each tag's probability) of every sentence, in their order; under torchrun
    each rank tags a share of the batches and every rank gets every result. `encoded`: the
    sentences as encode_sentences gives them, where the caller keeps them."""
    from tqdm.auto import tqdm

    encoded = encoded or encode_sentences(vocab, sentences, backward_models(model.cfg))
    batches = bucketed_batches([len(s) for s in sentences], batch_size, seed=0, shuffle=False)
    mine = []
    with evaluating(model):
        for idx in tqdm(batches[world.share(len(batches))], disable=not progress, unit="batch",
                        desc="tagging"):
            words, lengths, chars, strings, _ = model_inputs(collate_sentences([encoded[i] for i in idx]),
                                                             device)
            with autocast(device, precision):
                best, proba = model.decode(words, lengths, chars, strings)
            mine.append([(i, best[b, :n].tolist(), proba[b, :n].float().tolist())
                         for b, (i, n) in enumerate(zip(idx, lengths.tolist()))])
    out = [None] * len(sentences)
    for i, tags, proba in (row for rank in world.gather(mine) for part in rank for row in part):
        out[i] = (tags, proba)
    return out


# ---- scores -------------------------------------------------------------------------------
def tagging_metrics(gold: list[list[str]], predicted: list[list[str]], scheme: str) -> dict:
    """Token accuracy and, for a span scheme, precision, recall and F1 per type and
    micro-averaged over exact spans (conlleval's semantics). `score` is the one that picks
    the best weights: micro F1 with spans, else accuracy."""
    words = sum(len(g) for g in gold)
    right = sum(g == p for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps))
    out = {"accuracy": right / max(words, 1), "words": words, "sentences": len(gold)}
    if scheme == "none":
        return {"score": out["accuracy"], **out}
    found, true, hit = Counter(), Counter(), Counter()
    for g, p in zip(gold, predicted):
        gs, ps = set(spans(g)), set(spans(p))
        true.update(s[0] for s in gs)
        found.update(s[0] for s in ps)
        hit.update(s[0] for s in gs & ps)
    per_type = {t: prf(hit[t], found[t], true[t]) for t in sorted(set(true) | set(found))}
    micro = prf(sum(hit.values()), sum(found.values()), sum(true.values()))
    return {"score": micro["f1"], **out, **micro, "per_type": per_type}


def prf(hit: int, found: int, true: int) -> dict:
    p = hit / found if found else 0.0
    r = hit / true if true else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "predicted": found, "gold": true}


def describe_metrics(metrics: dict) -> str:
    """A tagger's scores as a table: per type, then micro-averaged, then token accuracy."""
    lines = []
    if "per_type" in metrics:
        lines.append(f"{'type':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'gold':>8}")
        for name, m in list(metrics["per_type"].items()) + [("micro avg", metrics)]:
            lines.append(f"{name:<12}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}"
                         f"{m['gold']:>8}")
    lines.append(f"token accuracy {metrics['accuracy']:.4f} over {metrics['words']} words, "
                 f"{metrics['sentences']} sentences")
    if metrics.get("unknown_tags"):
        lines.append(f"tags the model never saw (scored as errors): {metrics['unknown_tags']}")
    return "\n".join(lines)


# ---- settings of its doors ----------------------------------------------------------------
@dataclass
class ReadTagged:
    """How a tagged file, table or Hub dataset is read (training and evaluation alike)."""
    token_column: int = setting(0, "a CoNLL column file's word column, counted from 0", low=0,
                                high=1000)
    tag_column: str | None = setting(None, "a CoNLL column file's tag column, counted from 0 "
                                     "(default: the last); in CoNLL-U, upos (default) or xpos")
    label_column: str | None = setting(None, "a table's tag column (default: tags, ner_tags, "
                                       "pos_tags, upos, labels or label)")


@dataclass
class TaggerEvaluation(ReadTagged):
    """`textrnn evaluate` on a tagger: token accuracy, and span precision, recall and F1 per type."""
    text_column: str | None = setting(None, "column holding the text in tables and Hub datasets")
    split: str = setting("test", "dataset split of --data for Hub ids")
    data_config: str | None = setting(None, "dataset configuration name for Hub ids")
    output: str | None = setting(None, "also write each word's predicted tag to this file: CoNLL "
                                 "columns (word, gold tag, predicted tag), or JSON lines if it "
                                 "ends in .jsonl")


@dataclass
class TagSettings(TextInput):
    """`textrnn tag`: each word's tag, with the spans found."""
    pretokenized: bool = setting(False, "the texts are words split by spaces (a file: CoNLL "
                                 "columns, its first column the words) rather than raw text")
    output: str | None = setting(None, "write to this file instead of the terminal: CoNLL "
                                 "columns (word, tag, confidence), or JSON lines if it ends in "
                                 ".jsonl or with --json")


@dataclass
class TagRequest:
    """POST /v1/tag's body."""
    texts: list[str] = setting([], "texts to tag", required=True)
    pretokenized: bool = setting(False, "each text's words are split by spaces")


# ---- the loaded run ------------------------------------------------------------------------
class Tagger(LoadedRun):
    """A trained tagger with its vocabulary (tagger_vocab.json) and tag names."""
    noun = "tagger"
    describe = staticmethod(describe_metrics)

    @property
    def tags(self) -> list[str]:
        return list(self.model.cfg.head.tags)

    @property
    def scheme(self) -> str:
        return self.model.cfg.head.scheme

    def info(self) -> dict:
        return {"tags": self.tags, "scheme": self.scheme}

    def tag_words(self, sentences: list[list[str]], progress=False, batch_size=64) -> list[tuple]:
        """(tags, confidences) of each sentence of words."""
        found = predict(self.model, self.tokenizer, sentences, self.device, batch_size=batch_size,
                        progress=progress)
        return [([self.tags[i] for i in ids], proba) for ids, proba in found]

    def tag(self, texts, pretokenized: bool = False, progress: bool = False) -> list[dict]:
        """For each text: its tokens, their tags and confidences (a CRF's marginal
        probability, a softmax's probability), and the spans found with their character
        offsets in the text. Raw text is split into words by data/tagged.py's rule; with
        `pretokenized`, a text is a list of words or a string of words split by spaces (the
        offsets are then in the words joined by single spaces)."""
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, e.g. [text]")
        split = [self._words(t, pretokenized, n) for n, t in enumerate(texts)]
        results = []
        for (text, words), (tags, proba) in zip(split, self.tag_words([[w for w, _, _ in ws] for _, ws in split],
                                                                      progress)):
            found = [{"type": kind, "text": text[words[a][1]:words[b - 1][2]], "start": words[a][1],
                      "end": words[b - 1][2], "words": [a, b]} for kind, a, b in
                     (spans(tags) if self.scheme != "none" else [])]
            results.append({"text": text, "tokens": [w for w, _, _ in words], "tags": tags,
                            "confidences": proba, "spans": found})
        return results

    @staticmethod
    def _words(text, pretokenized: bool, n: int) -> tuple[str, list]:
        if pretokenized and not isinstance(text, str):
            text = " ".join(text)
        if not isinstance(text, str):
            raise TypeError(f"text {n + 1} is not a string")
        check_characters(text, f"text {n + 1}")
        if pretokenized:
            words, at = [], 0
            for w in text.split():
                at = text.index(w, at)
                words.append((w, at, at + len(w)))
                at += len(w)
        else:
            words = split_words(text)
        if not words:
            raise DataError(f"text {n + 1} has no words to tag")
        return text, words

    def evaluate(self, source, settings: TaggerEvaluation | None = None, progress=False,
                 batch_size: int = 64) -> dict:
        """Scores on tagged data (a path, Hub id or a `Tagged`), the gold tags read in the
        model's scheme. Gold tags the model never saw are counted and scored as errors."""
        settings = settings or TaggerEvaluation()
        if settings.output:
            check_output(settings.output, "output")  # before the work, not after it
        data = source if isinstance(source, Tagged) else load_tagged(
            source, settings.token_column, settings.tag_column, settings.text_column,
            settings.label_column, settings.split, settings.data_config)
        check_tags(data.tags, self.scheme, "data" if isinstance(source, Tagged) else str(source), data.lines)  # spans scored as spans
        gold = [convert(t, self.scheme) if self.scheme != "none" else t for t in data.tags]
        predicted = [tags for tags, _ in self.tag_words(data.sentences, progress, batch_size)]
        metrics = tagging_metrics(gold, predicted, self.scheme)
        known = set(self.tags)
        unknown = Counter(t for ts in gold for t in ts if t not in known)
        if unknown:
            metrics["unknown_tags"] = dict(unknown.most_common())
        if settings.output:
            write_predictions(settings.output, data.sentences, gold, predicted, "output")
        return metrics

    def evaluate_source(self, sources, settings: TaggerEvaluation, progress=False, batch_size=None):
        return self.evaluate(one_source(sources, "a tagger"), settings, progress, batch_size or 64)


def write_predictions(path, sentences, gold, predicted, setting_: str):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            for words, g, p in zip(sentences, gold, predicted):
                if str(path).endswith(".jsonl"):
                    f.write(json.dumps({"tokens": words, "gold": g, "predicted": p}, ensure_ascii=False) + "\n")
                else:
                    f.write("".join(f"{w}\t{a}\t{b}\n" for w, a, b in zip(words, g, p)) + "\n")
    write_output(path, write, setting_)


def inputs_of(settings: TagSettings) -> list:
    """The texts to tag: arguments, then the input file's lines (or, pretokenized, its
    CoNLL sentences' first column)."""
    if not (settings.input and settings.pretokenized):
        return texts_of(settings, "tag")
    return list(settings.texts) + [" ".join(s) for s in read_words(settings.input)]


def tag_command(tagger: Tagger, settings: TagSettings, write, progress: bool) -> None:
    """`textrnn tag`: CoNLL columns (word, tag, confidence; a blank line after each text)
    or, with --json, a JSON object per text; to --output if given."""
    if settings.output:
        check_output(settings.output, "output")
    texts = inputs_of(settings)
    results = tagger.tag(texts, settings.pretokenized, progress=len(texts) > 1000 and progress)
    as_json = settings.json or (settings.output or "").endswith(".jsonl")
    lines = [json.dumps(r, ensure_ascii=False) + "\n" if as_json else
             "".join(f"{w}\t{t}\t{p:.4f}\n" for w, t, p in zip(r["tokens"], r["tags"], r["confidences"])) + "\n"
             for r in results]
    emit_lines(lines, settings.output, write)


def tag_endpoint(server, name: str, tagger: Tagger, body: TagRequest) -> dict:
    """POST /v1/tag: each text's tokens, tags, confidences and spans."""
    server.cap_texts(body.texts)
    return {"model": name, "scheme": tagger.scheme, "results": tagger.tag(body.texts, body.pretokenized)}
