"""One tokenizer per language, for a translator that learns its source and target
vocabularies apart (`--separate-vocab`): two unrelated scripts, or languages that share
few words, then do not split one vocabulary between them.

Saved as tokenizer_pair.json: {"source": {"kind", "tokenizer"}, "target": {...}}, each
"tokenizer" being what tokenizer.json would hold (`tokenizers.Tokenizer.from_str` reads
it). Where the code asks a tokenizer for its size, a pair answers with the source side's:
config.json's vocab_size is the encoder's; the decoder's is the head's target_vocab_size.
"""
import json
from pathlib import Path

from tokenizers import Tokenizer

from .errors import CheckpointError
from .tokenization import load_tokenizer

PAIR_FILE = "tokenizer_pair.json"


class TokenizerPair:
    def __init__(self, source: Tokenizer, target: Tokenizer, source_kind: str, target_kind: str):
        self.source, self.target = source, target
        self.source_kind, self.target_kind = source_kind, target_kind

    def get_vocab_size(self) -> int:
        return self.source.get_vocab_size()

    def to_str(self, pretty: bool = False) -> str:
        sides = {name: {"kind": kind, "tokenizer": json.loads(tok.to_str())}
                 for name, kind, tok in (("source", self.source_kind, self.source),
                                         ("target", self.target_kind, self.target))}
        return json.dumps(sides, indent=2 if pretty else None, ensure_ascii=False)

    @classmethod
    def from_file(cls, path) -> "TokenizerPair":
        path = Path(path)
        try:
            sides = json.loads(path.read_text(encoding="utf-8"))
            parts = [(sides[s]["kind"], json.dumps(sides[s]["tokenizer"])) for s in ("source", "target")]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            raise CheckpointError(f"{path} is not a readable {PAIR_FILE}; retrain or copy the "
                                  "file from the original run") from None
        (source_kind, source), (target_kind, target) = parts
        return cls(load_tokenizer(path, source), load_tokenizer(path, target), source_kind, target_kind)


def sides(tokenizer, kind: str) -> tuple:
    """(source tokenizer, target tokenizer, the target's kind): a pair's two sides, or
    one joint tokenizer (of `kind`) for both."""
    if isinstance(tokenizer, TokenizerPair):
        return tokenizer.source, tokenizer.target, tokenizer.target_kind
    return tokenizer, tokenizer, kind
