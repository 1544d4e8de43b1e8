"""Next-token prediction: a text stream in B contiguous columns, read in truncated-BPTT
windows with the hidden state carried from one window to the next."""
import logging
from pathlib import Path
from dataclasses import dataclass, replace

import torch

from ..config import ModelConfig
from ..data import Corpus, batchify, encode_cached, encode_stream, num_windows, open_corpus, window
from ..device import autocast
from ..errors import ConfigError, DataError
from ..generation import SamplingConfig, sample
from ..metrics import lm_metrics
from ..models import RNNLanguageModel, detach_state
from ..parallel import World, current
from ..settings import setting
from ..tokenization import KINDS, UNK_ID, decode, encode, train_tokenizer
from ..transfer import continue_config, extend_tokenizer, resize_vocab, with_config
from .base import LoadedRun, SourceSettings

log = logging.getLogger("textrnn")


@dataclass
class DataConfig(SourceSettings):
    """Where the text comes from and how it is tokenized."""
    data: str | list = setting("", "training text: a .txt file, a folder of .txt files, a "
                               "csv/tsv/jsonl/parquet file, or a Hugging Face Hub dataset id; "
                               "several are read one after another", nargs="+", metavar="SOURCE")
    val_data: str | None = setting(None, "validation text (default: the tail of --data)")
    val_fraction: float = setting(0.1, "fraction of --data held out for validation, from its end",
                                  low=0, high=1, low_open=True, high_open=True)
    tokenizer: str | None = setting(None, "char (default) for a new model; --init-from reuses "
                                    "its own", choices=KINDS)
    vocab_size: int = setting(10000, "word/bpe vocabulary size", low=3, high=10_000_000)
    # Both stored in the tokenizer, so whatever reuses it (sampling, a classifier) reads
    # text the same way.
    lowercase: bool = setting(False, "a new tokenizer lowercases all text", flag="--lowercase")
    strip_html: bool = setting(False, "a new tokenizer reads <br /> markup (as in IMDb "
                               "reviews) as a space", flag="--strip-html")
    extend_vocab: bool = setting(False, "with --init-from: add the new text's unseen tokens "
                                 "(mean-initialised)", flag="--extend-vocab")


@dataclass
class LMHeadConfig:
    """y_t = V h_t + c over the vocabulary, or an adaptive softmax."""
    tie_weights: bool = setting(False, "share input and output embeddings (Press & Wolf 2017)")
    adaptive_cutoffs: list = setting([], "adaptive softmax: token ids where tail clusters start, "
                                     "e.g. 2000 8000 for a word vocabulary (faster training; "
                                     "none: full softmax)", nargs="*", metavar="ID", type=int,
                                     low=1, high=10_000_000)

    def tail_cutoffs(self, vocab_size: int) -> list[int]:
        """The cutoffs inside a vocabulary: a small one, known only once its tokenizer is
        trained, may leave fewer clusters, or none."""
        return [c for c in self.adaptive_cutoffs if c < vocab_size]


@dataclass
class Text:
    """Training and validation text, read piece by piece (a large file streams from disk)."""
    train: object
    val: object


@torch.no_grad()
def lm_nll(model, ids, device, precision="fp32", batch_size=1, bptt=1024, world=World()):
    """Summed next-token NLL over a stream, read as `batch_size` columns with the state
    carried across windows. batch_size=1 reads the text exactly once, as one stream.
    Under torchrun each rank reads its block of the columns and the sums are added up."""
    was_training = model.training
    model.eval()
    stream = batchify(ids, batch_size)[world.share(batch_size)]  # (B / ranks, N)
    total, count, state = 0.0, 0, None
    for i in range(num_windows(stream, bptt) if len(stream) else 0):
        x, y = (t.to(device) for t in window(stream, i, bptt))
        with autocast(device, precision):
            nll, state = model(x, state, targets=y, reduction="sum")
        total += nll.item()
        count += y.numel()
    model.train(was_training)
    total, count = world.sum([total, count]).tolist()
    return total, int(count)


class LanguageModel(LoadedRun):
    """A trained next-token model with its tokenizer: generate text, score text."""
    noun = "language model"

    def __init__(self, model, tokenizer, run_dir=None, step=0):
        super().__init__(model, tokenizer, run_dir, step)
        self._pieces = None

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
                 greedy: bool = False, stop=(), on_token=None, weights: str = "fp32",
                 beam: int = 1, engine: str = "torch") -> list[str]:
        """`num_samples` texts, each the prompt followed by its continuation.

        temperature 0 or greedy=True picks the most likely token; `stop` strings end a
        sample (cut before the stop string); `on_token(text)` streams sample 0 as it grows;
        `weights` "bf16" or "int8" samples faster on a CPU from smaller weights, and
        `engine` "onnxruntime" with int8 faster still; `beam` > 1 returns the likeliest
        continuation a beam search of that width finds.
        """
        cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                             top_p=top_p, greedy=greedy, num_samples=num_samples, seed=seed,
                             stop=list(stop), prompt=prompt, weights=weights, beam=beam,
                             engine=engine)
        return self.sample(cfg, on_token)

    def sample(self, cfg: SamplingConfig, on_token=None) -> list[str]:
        """As `generate`, with the settings (the prompt among them) in one object."""
        ids = self.encode_prompt(cfg.validate().prompt)
        return [cfg.prompt + c for c in sample(self.model, ids, cfg, self.pieces(), on_token)]

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

    def evaluate_source(self, source, text_column=None, label_column=None, split="test",
                        progress=False) -> dict:
        """`textrnn evaluate`: the loss, bits per character and perplexity of a source."""
        return self.evaluate_corpus(open_corpus(source, text_column, split))

    @staticmethod
    def describe(metrics: dict) -> str:
        return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


def _is_path(x) -> bool:
    if isinstance(x, Path):
        return True
    if "\n" in x or len(x) > 1024:
        return False
    try:
        return Path(x).exists()
    except OSError:
        return False


class LMTask:
    name, command, Head, Data, Loaded = "lm", "train-lm", LMHeadConfig, DataConfig, LanguageModel
    command_defaults, encoder_flags_skip = {}, ("bidirectional",)
    metric, mode, sampled_eval, loss_unit = "loss", "min", True, "nats per token"

    @staticmethod
    def check_model(cfg: ModelConfig):
        enc, head = cfg.encoder, cfg.head
        if enc.bidirectional:
            raise ConfigError("a language model cannot be bidirectional; drop --bidirectional")
        if head.tie_weights and enc.embed_dim != enc.hidden_size:
            # The head reads the last hidden state, so tying needs equal widths.
            raise ConfigError(f"--tie-weights needs --embed-dim equal to --hidden-size "
                              f"(got {enc.embed_dim} and {enc.hidden_size})")
        cuts = head.adaptive_cutoffs
        if any(a >= b for a, b in zip(cuts, cuts[1:])):
            raise ConfigError(f"--adaptive-cutoffs must increase, got {cuts}")

    @staticmethod
    def build_model(cfg: ModelConfig):
        return RNNLanguageModel(cfg)

    @staticmethod
    def read_data(data_cfg: DataConfig, seed: int, saved=None) -> Text:
        src = (data_cfg.text_column, data_cfg.split, data_cfg.data_config)
        train = open_corpus(data_cfg.data, *src)
        if data_cfg.val_data:
            return Text(train, open_corpus(data_cfg.val_data, *src))
        return Text(*train.split_tail(data_cfg.val_fraction))

    @staticmethod
    def new_tokenizer(text: Text, data_cfg: DataConfig):
        kind = data_cfg.tokenizer or "char"
        return kind, train_tokenizer(kind, text.train.pieces(), data_cfg.vocab_size,
                                     lowercase=data_cfg.lowercase, strip_html=data_cfg.strip_html)

    @staticmethod
    def complete(cfg: ModelConfig, text: Text) -> ModelConfig:
        return replace(cfg, head=replace(cfg.head, adaptive_cutoffs=cfg.head.tail_cutoffs(cfg.vocab_size)))

    @staticmethod
    def from_language_model(lm, tokenizer, text: Text, data_cfg: DataConfig, model_cfg: ModelConfig):
        """Continue an LM on new text: its architecture and vocabulary (grown by the new
        text's tokens with --extend-vocab, else those read as <unk>); this run's dropouts."""
        if data_cfg.extend_vocab:
            tokenizer = extend_tokenizer(tokenizer, text.train.pieces(), data_cfg.vocab_size)
            lm = resize_vocab(lm, tokenizer.get_vocab_size())
        cfg = continue_config(lm.cfg, model_cfg)
        return with_config(lm, cfg), tokenizer

    @classmethod
    def prepare(cls, text: Text, tokenizer, data_cfg: DataConfig, train_cfg, run_dir, model_cfg):
        train_ids = encode_cached(tokenizer, text.train, run_dir, "train")
        val_ids = encode_cached(tokenizer, text.val, run_dir, "val")
        need = train_cfg.batch_size * (train_cfg.bptt + 1)
        if len(train_ids) < need:
            raise DataError(f"the training text has {len(train_ids)} tokens, fewer than one batch "
                            f"of windows needs ({train_cfg.batch_size} x {train_cfg.bptt + 1} = "
                            f"{need}); add text or lower --batch-size / --bptt")
        if len(val_ids) < 2:
            raise DataError("the validation text has fewer than 2 tokens; raise --val-fraction or "
                            "pass a longer --val-data")
        log.info("text: %d characters (%d tokens) for training, %d for validation",
                 len(text.train), len(train_ids), len(text.val))
        return cls(train_ids, val_ids, len(text.val), train_cfg.batch_size, train_cfg.bptt)

    def __init__(self, train_ids, val_ids, val_chars: int, batch_size: int, bptt: int,
                 eval_batch_size: int = 16, eval_tokens: int = 1 << 18):
        self.stream = batchify(train_ids, batch_size)  # (B, N)
        self.bptt = bptt
        self.val_ids, self.val_chars = val_ids, val_chars
        # Periodic evaluations read at most this many validation tokens (about 20 s for a
        # 30k-word model on a CPU): a 10% split of a large corpus would otherwise cost
        # minutes each time. Only the final evaluation reads all of it.
        self.eval_tokens = eval_tokens
        # Validation as several columns is much faster than one stream; the final report
        # reads it as one stream.
        self.eval_batch_size = eval_batch_size

    def num_batches(self, epoch: int) -> int:
        return num_windows(self.stream, self.bptt)

    def batch(self, epoch: int, i: int):
        return window(self.stream, i, self.bptt)  # inputs, targets: (B, T) each

    @staticmethod
    def tokens(batch) -> int:
        return batch[0].numel()

    def loss(self, model, batch, carry, device):
        x, y = (t.to(device, non_blocking=True) for t in batch)
        loss, state = model(x, carry, targets=y)
        return loss, detach_state(state)

    def evaluate(self, model, device, precision, final=False):
        ids = self.val_ids if final else self.val_ids[: self.eval_tokens]
        bs = 1 if final else max(1, min(self.eval_batch_size, len(ids) // (self.bptt + 1)))
        nll, n = lm_nll(model, ids, device, precision, batch_size=bs,
                        bptt=1024 if final else self.bptt, world=current())
        # Columns drop the tail that does not fill a row: scale chars to the tokens read.
        chars = self.val_chars * n / max(len(self.val_ids) - 1, 1)
        return lm_metrics(nll, n, round(chars))

    def report(self, model, metrics, folder, device, precision) -> dict:
        return {}
