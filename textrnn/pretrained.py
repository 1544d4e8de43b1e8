"""Trained models as users hold them: `textrnn.load(run_dir)` -> LanguageModel."""
import logging
from pathlib import Path

from .checkpoint import load_pretrained
from .data.corpus import Corpus
from .data.ids import encode_stream, encode_texts
from .data.sources import Labelled, label_ids, load_labelled, open_corpus
from .device import resolve_device
from .errors import DataError
from .generation import SamplingConfig, sample
from .metrics import lm_metrics
from .tasks import classify, evaluate_classifier, lm_nll
from .tokenization import UNK_ID, decode, encode

log = logging.getLogger("textrnn")


class LanguageModel:
    """A trained next-token model with its tokenizer: generate text, score text."""

    def __init__(self, model, tokenizer, run_dir=None, step=0):
        self.model, self.tokenizer = model, tokenizer
        self.run_dir, self.step = run_dir, step
        self._pieces = None

    @property
    def config(self):
        return self.model.cfg

    @property
    def device(self):
        return next(self.model.parameters()).device

    def pieces(self) -> list[str]:
        """The text of every token id, for streaming output one token at a time."""
        if self._pieces is None:
            self._pieces = [decode(self.tokenizer, [i]) for i in range(self.tokenizer.get_vocab_size())]
        return self._pieces

    def encode_prompt(self, prompt: str) -> list[int]:
        ids = encode(self.tokenizer, prompt)
        if UNK_ID in ids:
            unseen = sorted({c for c in prompt if encode(self.tokenizer, c) == [UNK_ID]})
            log.warning("the prompt holds text the model never saw (%s); it is read as <unk>",
                        " ".join(repr(c) for c in unseen[:10]) or "unknown words")
        if not ids:  # an empty prompt starts the text at a line break, if the model knows one
            newline = encode(self.tokenizer, "\n")
            ids = newline if newline and UNK_ID not in newline else [UNK_ID]
        return ids

    def generate(self, prompt: str = "", max_new_tokens: int = 200, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, seed=None, num_samples: int = 1,
                 greedy: bool = False, stop=(), on_token=None) -> list[str]:
        """`num_samples` texts, each the prompt followed by its continuation.

        temperature 0 or greedy=True picks the most likely token; `stop` strings end a
        sample (cut before the stop string); `on_token(text)` streams sample 0 as it grows.
        """
        cfg = SamplingConfig(max_new_tokens, temperature, top_k, top_p, greedy, num_samples,
                             seed, tuple(stop)).validate()
        ids = self.encode_prompt(prompt)
        return [prompt + c for c in sample(self.model, ids, cfg, self.pieces(), on_token)]

    def evaluate(self, text_or_path, precision: str = "fp32") -> dict:
        """Loss (nats/token), bits per character and perplexity of a text (or a file or
        dataset given by path), read as one stream with the state carried throughout."""
        text = open_corpus(text_or_path) if _is_path(text_or_path) else Corpus.from_string(text_or_path)
        return self.evaluate_corpus(text, precision)

    def evaluate_corpus(self, text: Corpus, precision: str = "fp32") -> dict:
        """As `evaluate`, for a `Corpus` (a large file streams from disk)."""
        ids = encode_stream(self.tokenizer, text.pieces())
        nll, n = lm_nll(self.model, ids, self.device, precision)
        return lm_metrics(nll, n, len(text))


def _is_path(x) -> bool:
    if isinstance(x, Path):
        return True
    if "\n" in x or len(x) > 1024:
        return False
    try:
        return Path(x).exists()
    except OSError:
        return False


class Classifier:
    """A trained text classifier with its tokenizer and label names."""

    def __init__(self, model, tokenizer, run_dir=None, step=0):
        self.model, self.tokenizer = model, tokenizer
        self.run_dir, self.step = run_dir, step

    @property
    def config(self):
        return self.model.cfg

    @property
    def labels(self) -> list[str]:
        return list(self.model.cfg.labels)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def _encode(self, texts) -> list[list[int]]:
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, e.g. predict([text])")
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise DataError(f"text {i + 1} is empty; every text needs some words")
        return encode_texts(self.tokenizer, list(texts))

    def predict_proba(self, texts, progress: bool = False):
        """Probabilities, a numpy array (n, classes) with columns in `labels` order."""
        return classify(self.model, self._encode(texts), self.device, progress=progress).numpy()

    def predict(self, texts, progress: bool = False) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts, progress).argmax(-1)]

    def evaluate(self, path_or_dataset, text_column=None, label_column=None, split="test",
                 progress: bool = False) -> dict:
        """scikit-learn metrics on a labelled file, folder or Hub dataset (or a `Labelled`)."""
        data = path_or_dataset
        if not isinstance(data, Labelled):
            data = load_labelled(path_or_dataset, text_column, label_column, split)
        ids = label_ids(data, self.labels, str(path_or_dataset))
        return evaluate_classifier(self.model, self._encode(data.texts), ids, self.labels,
                                   self.device, progress=progress)


def load(run_dir, device: str = "cpu"):
    """Load a run folder: a `LanguageModel` or a `Classifier`, by the run's task."""
    model, tokenizer, step = load_pretrained(run_dir, resolve_device(device))
    if model.cfg.task == "classifier":
        return Classifier(model, tokenizer, run_dir, step)
    return LanguageModel(model, tokenizer, run_dir, step)
