"""What turns a task's data into a model's inputs, saved in the run folder beside
config.json: a tokenizer (tokenizer.json, readable by `tokenizers.Tokenizer.from_file`), a
translator's tokenizer per language (tokenizer_pair.json), a forecaster's scaler
(scaler.json), a speech recogniser's features and alphabet (speech.json), or one that a
task defines. config.json's "tokenizer" field names the kind,
and its "vocab_size" is the encoding's size: the model's input width. A task lists the
encodings its run folders may hold (Task.encodings); nothing else needs to know them."""
from collections.abc import Callable
from dataclasses import dataclass

from .data.series import Scaler
from .data.speech_encoding import SPEECH_FILE, SpeechEncoding
from .tokenization import KINDS, load_tokenizer
from .tokenizer_pair import PAIR_FILE, TokenizerPair


def _pretty(obj) -> str:
    return obj.to_str(pretty=True)


def _size(obj) -> int:
    return obj.get_vocab_size()


@dataclass(frozen=True)
class Encoding:
    """file: its name in a run folder; kinds: the config.json "tokenizer" values saved with
    it (a container: `kind in kinds`); load(path) -> the object; save(obj) -> the file's
    text; size(obj) -> the model's input width, which config.json's vocab_size must equal."""
    file: str
    kinds: object
    load: Callable
    save: Callable = _pretty
    size: Callable = _size


TOKENIZER = Encoding("tokenizer.json", KINDS, load_tokenizer)
TOKENIZER_PAIR = Encoding(PAIR_FILE, ("pair",), TokenizerPair.from_file)
SCALER = Encoding("scaler.json", ("scaler",), Scaler.from_file)
SPEECH = Encoding(SPEECH_FILE, ("speech",), SpeechEncoding.from_file)
