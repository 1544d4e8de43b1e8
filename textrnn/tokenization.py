"""Character, word and BPE tokenizers, all built on Hugging Face `tokenizers`.

Every kind decodes back to the exact input text (for tokens it knows), because bits per
character and generated text are both computed from decoded strings:
- char: one token per Unicode character (not per byte), so "é" is one token;
- word: words and single punctuation marks; a word carries its leading space as "▁"
  (SentencePiece's convention), newlines and tabs are tokens of their own;
- bpe: byte-pair merges (Sennrich et al. 2016) over the same "▁"-marked text.
A literal "▁" (U+2581) in the text is escaped before the spaces become "▁" and restored
when decoding (see `_escape_marker`), so it never reads back as a space.

Ids 0 and 1 are always <pad> and <unk>, so padding masks and unknown-token handling do
not depend on the kind. A kind is a `TokenizerKind` in `KINDS`: how it learns a vocabulary,
how it grows one (a language model continued on new text), and whether its tokens carry the
space before a word.
"""
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from .errors import CheckpointError, ConfigError, DataError

PAD, UNK = "<pad>", "<unk>"
SPECIAL_TOKENS = [PAD, UNK]
PAD_ID, UNK_ID = 0, 1


def _char_tokenizer(vocab: dict) -> Tokenizer:
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # [\s\S] matches every character, newline included (Oniguruma has no (?s) flag here).
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return tok


# Word and BPE text marks a space as "▁" (U+2581), so a literal "▁" must be escaped or it
# would decode as a space. No single character can stand in for it (that character would
# then need escaping too), so both the "▁" and the escape character itself become a pair:
# ESC + MARK_CODE and ESC + ESC_CODE. Every ESC in normalized text starts such a pair, so
# the decoder can undo them with plain replacements. The three are Unicode noncharacters,
# reserved for internal use and never assigned, hence almost never in real text.
MARKER, ESC, MARK_CODE, ESC_CODE = "\u2581", "\ufdd0", "\ufdd1", "\ufdd2"
PAIR = ESC + f"[{MARK_CODE}{ESC_CODE}]"  # a regex: one escaped "▁" or ESC


def _escape_marker() -> list:
    """Normalizer steps: ESC -> ESC ESC_CODE first (so the next step's ESCs stay
    unambiguous), then "▁" -> ESC MARK_CODE."""
    return [normalizers.Replace(ESC, ESC + ESC_CODE), normalizers.Replace(MARKER, ESC + MARK_CODE)]


def _unescape_marker() -> list:
    """Decoder steps undoing `_escape_marker` after the "▁" of spaces became spaces. Fuse
    first: a pair may be split over two BPE tokens. "ESC MARK_CODE" can only be a pair
    (an ESC never stands alone), so it goes first; the ESCs left all start "ESC ESC_CODE"."""
    return [decoders.Fuse(), decoders.Replace(ESC + MARK_CODE, MARKER),
            decoders.Replace(ESC + ESC_CODE, ESC)]


def _metaspace() -> list:
    # Newlines and tabs split first so they stay visible tokens (line structure matters
    # for generation); an escape pair stays one piece, never glued to a word, so a word
    # token holds whole pairs; then spaces become "▁" glued to the following piece.
    return [
        pre_tokenizers.Split(Regex(r"[\n\t\r]"), behavior="isolated"),
        pre_tokenizers.Split(Regex(PAIR), behavior="isolated"),
        pre_tokenizers.Metaspace(prepend_scheme="never"),
    ]


def _metaspace_decoder():
    return decoders.Sequence([decoders.Metaspace(prepend_scheme="never")] + _unescape_marker())


def _word_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    # An escape pair is a word of its own (else [^\w▁] would split it in two).
    words = pre_tokenizers.Split(Regex(PAIR + r"|▁?\w+|▁?[^\w▁]|▁"), behavior="isolated")
    tok.pre_tokenizer = pre_tokenizers.Sequence(_metaspace() + [words])
    tok.decoder = _metaspace_decoder()
    return tok


def _bpe_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence(_metaspace())
    tok.decoder = _metaspace_decoder()
    return tok


HTML_BREAKS = r"(\s*<br\s*/?>\s*)+"  # IMDb-style reviews' <br /> tags, read as one space


def _normalizer(lowercase: bool, strip_html: bool, leading_space: bool = False):
    steps = []
    if strip_html:  # IMDb-style reviews: <br /> is markup, not words
        steps.append(normalizers.Replace(Regex(HTML_BREAKS), " "))
    if lowercase:
        steps.append(normalizers.Lowercase())
    if leading_space:
        steps.append(normalizers.Prepend(" "))
    return normalizers.Sequence(steps) if steps else None


def with_leading_space(tok: Tokenizer) -> Tokenizer:
    """Make `tok` read every text as if it followed a space, so a text's first word is
    the same "▁word" token as everywhere else. A language model keeps the exact text (only
    its stream's very first word lacks the "▁"); a classifier reads many short texts, and
    without this each would spend its first word on a rarer, separate token."""
    steps = [tok.normalizer] if tok.normalizer is not None else []
    tok.normalizer = normalizers.Sequence(steps + [normalizers.Prepend(" ")])
    return tok


def train_tokenizer(kind: str, texts: Iterable[str], vocab_size: int = 10000,
                    min_frequency: int = 1, lowercase: bool = False, strip_html: bool = False,
                    max_length: int = 0, leading_space: bool = False, keep_end: bool = False) -> Tokenizer:
    """Learn a vocabulary of `kind` from `texts` (an iterable of strings, read once).

    char keeps every character it sees (vocab_size is ignored); word keeps the
    `vocab_size` most frequent words; bpe learns merges up to `vocab_size` tokens.
    `lowercase`, `strip_html`, `leading_space` (see `with_leading_space`) and the
    truncation (see `truncate`) are stored in tokenizer.json, so prediction prepares text
    exactly as training did.
    """
    if vocab_size < len(SPECIAL_TOKENS) + 1 and tokenizer_kind(kind).sized:
        raise ConfigError(f"vocab size must be at least 3, got {vocab_size}")
    norm = _normalizer(lowercase, strip_html, leading_space)
    return truncate(tokenizer_kind(kind).learn(texts, vocab_size, min_frequency, norm), max_length, keep_end)


def _learn_char(texts, vocab_size, min_frequency, norm) -> Tokenizer:
    tok = _char_tokenizer(_char_vocab(texts, norm))
    tok.normalizer = norm  # a "▁" is a character like any other here: no escape needed
    return tok


def _learn_word(texts, vocab_size, min_frequency, norm) -> Tokenizer:
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=SPECIAL_TOKENS)
    return _trained(_word_tokenizer(), texts, trainer, norm)


def _learn_bpe(texts, vocab_size, min_frequency, norm) -> Tokenizer:
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=SPECIAL_TOKENS, show_progress=False)
    return _trained(_bpe_tokenizer(), texts, trainer, norm)


def _trained(tok: Tokenizer, texts, trainer, norm) -> Tokenizer:
    # Before training: the vocabulary is of normalized text. The escape goes last, so
    # nothing after it (lowercasing, say) can bring back a literal "▁".
    steps = [norm] if norm is not None else []
    tok.normalizer = normalizers.Sequence(steps + _escape_marker())
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def _grow(old: Tokenizer, texts: list[str], trainer) -> Tokenizer:
    """The old vocabulary, ids unchanged, plus the entries `trainer` learns from `texts`
    that it lacks (appended at the end, in the trainer's order; BPE merges too)."""
    fresh = Tokenizer.from_str(old.to_str())  # same normalizer and pre-tokenizer
    fresh.train_from_iterator(texts, trainer=trainer)
    merged, learnt = json.loads(old.to_str()), json.loads(fresh.to_str())
    vocab = merged["model"]["vocab"]
    for token, _ in sorted(learnt["model"]["vocab"].items(), key=lambda kv: kv[1]):
        if token not in vocab:
            vocab[token] = len(vocab)
    if "merges" in merged["model"]:
        known = {json.dumps(m) for m in merged["model"]["merges"]}
        merged["model"]["merges"] += [m for m in learnt["model"]["merges"] if json.dumps(m) not in known]
    return Tokenizer.from_str(json.dumps(merged))


def _grow_units(old, texts, vocab_size) -> Tokenizer:
    """Characters or words: the new text's units, by frequency."""
    return _grow(old, texts, trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS))


def _grow_bpe(old, texts, vocab_size) -> Tokenizer:
    return _grow(old, texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                                 show_progress=False))


@dataclass(frozen=True)
class TokenizerKind:
    """learn(texts, vocab_size, min_frequency, normalizer) -> Tokenizer (normalizer set);
    grow(old, texts, vocab_size) -> the old tokenizer, ids unchanged, plus what it lacks of
    `texts` (--extend-vocab); marks_spaces: its tokens carry the space before a word as "▁",
    so text read as if after a space starts with a word's usual token, and a decoded text
    then begins with that space; sized: vocab_size bounds it (char keeps every character)."""
    learn: Callable
    grow: Callable
    marks_spaces: bool
    sized: bool = True


KINDS: dict[str, TokenizerKind] = {
    "char": TokenizerKind(_learn_char, _grow_units, marks_spaces=False, sized=False),
    "word": TokenizerKind(_learn_word, _grow_units, marks_spaces=True),
    "bpe": TokenizerKind(_learn_bpe, _grow_bpe, marks_spaces=True),
}


def tokenizer_kind(kind: str) -> TokenizerKind:
    if kind not in KINDS:
        raise ConfigError(f"unknown tokenizer {kind!r}; choose one of {', '.join(KINDS)}")
    return KINDS[kind]


def extend_tokenizer(old: Tokenizer, kind: str, texts: list[str], vocab_size: int) -> Tokenizer:
    """`old` (of `kind`) with the tokens a tokenizer of its kind learns from `texts` that it
    lacks, appended at the end: every old id keeps its meaning."""
    return tokenizer_kind(kind).grow(old, texts, vocab_size)


def truncate(tok: Tokenizer, max_length: int, keep_end: bool = False) -> Tokenizer:
    """Make `tok` keep at most `max_length` tokens of a text (0: all of them): the last
    ones with `keep_end`, else the first. A review tends to end with its verdict, so
    classifiers keep the end, as Keras' pad_sequences and fastai's text classifier do."""
    if max_length:
        tok.enable_truncation(max_length, direction="left" if keep_end else "right")
    else:
        tok.no_truncation()
    return tok


def _char_vocab(texts: Iterable[str], norm) -> dict:
    """Every distinct character. A set is far faster and lighter than the generic trainer,
    which would materialise one piece per character of the corpus."""
    chars = set()
    for text in texts:
        chars.update(norm.normalize_str(text) if norm is not None else text)
    return {t: i for i, t in enumerate(SPECIAL_TOKENS + sorted(chars - set(SPECIAL_TOKENS)))}


def load_tokenizer(path, text: str | None = None) -> Tokenizer:
    """Read a tokenizer.json (or its `text`, read from `path`) and check it has the special
    tokens textrnn relies on."""
    try:
        tok = Tokenizer.from_str(text) if text is not None else Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises a bare Exception
        raise CheckpointError(f"{path} is not a readable tokenizer.json ({exc}); "
                              "retrain or copy the file from the original run") from None
    if tok.token_to_id(PAD) != PAD_ID or tok.token_to_id(UNK) != UNK_ID:
        raise CheckpointError(f"{path} lacks textrnn's <pad>/<unk> tokens at ids 0/1; "
                              "use the tokenizer.json saved with the run")
    return tok


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_characters(text: str, what: str = "the text") -> str:
    """`text`, refused in one line if it holds a lone surrogate (U+D800 to U+DFFF): half of
    a character, which no UTF-8 text holds. It comes from a command-line argument that was
    not valid UTF-8 or a JSON string's escape of half a character; a tokenizer cannot read
    it."""
    found = _SURROGATE.search(text)
    if found:
        raise DataError(f"{what} holds a lone surrogate (U+{ord(found.group()):04X}) at character "
                        f"{found.start() + 1}: half a character, not text; pass valid UTF-8 text")
    return text


def as_text(tok: Tokenizer) -> Tokenizer:
    """`tok` reading "<pad>", "<s>" and the like in a text as the characters they are: a
    special token is never made from what a user wrote (it would end a translation, or
    pad a text in the middle)."""
    tok.encode_special_tokens = True
    return tok


def encode(tok: Tokenizer, text: str) -> list[int]:
    return as_text(tok).encode(text, add_special_tokens=False).ids


def encode_batch(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    # The Rust side splits the batch over threads, which is much faster than a loop.
    return [e.ids for e in as_text(tok).encode_batch(texts, add_special_tokens=False)]


def decode(tok: Tokenizer, ids) -> str:
    return tok.decode(list(ids), skip_special_tokens=False)


def markup_spans(tokenizer, text: str) -> list[tuple[int, int]]:
    """(start, end) of each stretch of `text` the tokenizer reads as markup (its
    normalizer's HTML_BREAKS), in order; none for a tokenizer that keeps markup."""
    norm = tokenizer.normalizer  # read alone: the whole tokenizer's JSON holds its vocabulary
    if norm is None or not _has_pattern(json.loads(norm.__getstate__()), HTML_BREAKS):
        return []
    return [m.span() for m in re.finditer(HTML_BREAKS, text)]


def _has_pattern(node, pattern: str) -> bool:
    """Whether a normalizer (as tokenizer.json holds it) replaces `pattern`."""
    if isinstance(node, dict):
        return node.get("pattern") == {"Regex": pattern} or any(_has_pattern(v, pattern) for v in node.values())
    if isinstance(node, list):
        return any(_has_pattern(v, pattern) for v in node)
    return False
