"""A tagger's encoding, tagger_vocab.json: its words, its characters and the character
tokenizers of the language models whose contextual string embeddings it reads.

{"words": [...], "chars": [...], "lowercase": true, "language_models": [tokenizer.json, ...]}
Index = id in both lists; ids 0 and 1 are <pad> and <unk>, as with every tokenizer. A word
the vocabulary lacks reads as <unk> (its characters still read as themselves).
"""
import json
from collections import Counter
from pathlib import Path

from tokenizers import Tokenizer

from ..encodings import Encoding
from ..errors import CheckpointError
from ..tokenization import PAD, UNK, UNK_ID

VOCAB_FILE = "tagger_vocab.json"
# A longer word's characters are its first and last HALF_WORD: its prefix and its suffix,
# where its shape, inflection and derivation show (a URL's middle adds nothing).
HALF_WORD = 16


class TaggerVocab:
    def __init__(self, words: list[str], chars: list[str], lowercase: bool = True,
                 language_models: list | None = None):
        self.words, self.chars, self.lowercase = words, chars, lowercase
        self.language_models = list(language_models or [])  # tokenizers.Tokenizer, one per model
        self.word_ids = {w: i for i, w in enumerate(words)}
        self.char_ids = {c: i for i, c in enumerate(chars)}
        self._lm_chars = [lm_char_ids(t) for t in self.language_models]

    @classmethod
    def learn(cls, sentences, min_frequency: int, lowercase: bool, language_models=()):
        """Words seen at least `min_frequency` times in training (most frequent first) and
        every character seen."""
        words = Counter(w.lower() if lowercase else w for s in sentences for w in s)
        chars = Counter(c for s in sentences for w in s for c in w)
        keep = sorted((w for w, n in words.items() if n >= min_frequency), key=lambda w: (-words[w], w))
        return cls([PAD, UNK] + keep, [PAD, UNK] + sorted(chars, key=lambda c: (-chars[c], c)),
                   lowercase, language_models)

    def get_vocab_size(self) -> int:
        return len(self.words)

    def word_id(self, word: str) -> int:
        return self.word_ids.get(word.lower() if self.lowercase else word, UNK_ID)

    def encode_words(self, words: list[str]) -> list[int]:
        return [self.word_id(w) for w in words]

    def encode_chars(self, word: str) -> list[int]:
        if len(word) > 2 * HALF_WORD:
            word = word[:HALF_WORD] + word[-HALF_WORD:]
        return [self.char_ids.get(c, UNK_ID) for c in word]

    def strings(self, words: list[str], model: int, backward: bool) -> tuple[list[int], list[int]]:
        """Language model `model`'s input for a sentence, and where each word's state is.
        The sentence is its words joined by spaces after a newline (the LM sees a line
        start). Forwards: the state after each word's last character. A model that reads
        backwards gets the string reversed and the state after each word's first character."""
        text = " ".join(words)
        ends, at = [], 0
        for w in words:
            ends.append((at, at + len(w)))  # [first, end) of the word in `text`
            at += len(w) + 1
        if backward:
            text = text[::-1]
            positions = [len(text) - first for first, _ in ends]  # + 1 for the newline, - 1
        else:
            positions = [end for _, end in ends]  # the newline shifts each by 1; end - 1 + 1
        ids = [self._lm_chars[model](c) for c in "\n" + text]
        return ids, positions

    def to_str(self, pretty: bool = False) -> str:
        return json.dumps({"words": self.words, "chars": self.chars, "lowercase": self.lowercase,
                           "language_models": [json.loads(t.to_str()) for t in self.language_models]},
                          indent=2 if pretty else None, ensure_ascii=False)

    @classmethod
    def from_file(cls, path) -> "TaggerVocab":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            words, chars, lowercase = data["words"], data["chars"], bool(data["lowercase"])
            lms = [Tokenizer.from_str(json.dumps(t)) for t in data.get("language_models", [])]
            ok = words[:2] == [PAD, UNK] and chars[:2] == [PAD, UNK]
        except Exception:  # OSError, bad JSON or UTF-8, missing keys, a tokenizer's own error
            ok = False
        if not ok:
            raise CheckpointError(f"{path} is not a readable {VOCAB_FILE}; retrain or copy the file "
                                  "from the original run")
        return cls(words, chars, lowercase, lms)


def lm_char_ids(tokenizer: Tokenizer):
    """char -> id for a character language model's tokenizer (its normalizer applied)."""
    vocab = tokenizer.get_vocab()
    normal = tokenizer.normalizer

    def char_id(c: str) -> int:
        key = normal.normalize_str(c) if normal is not None else c
        return vocab.get(key, vocab.get(c, UNK_ID))
    return char_id


TAGGER_VOCAB = Encoding(VOCAB_FILE, ("tagger",), TaggerVocab.from_file)
