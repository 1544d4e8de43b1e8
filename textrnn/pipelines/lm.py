"""A language-model run: text -> tokenizer -> token stream -> model -> the training loop."""
import logging
from dataclasses import asdict, dataclass, replace

from ..checkpoint import write_json
from ..config import ModelConfig
from ..data.ids import encode_cached
from ..data.sources import open_corpus
from ..errors import DataError
from ..models import build_model
from ..tasks import LMTask
from ..tokenization import train_tokenizer
from ..training import Trainer, TrainConfig
from ..transfer import continue_config, extend_tokenizer, load_language_model, resize_vocab, with_config
from .common import RUN_SETTINGS, check_data_settings, saved_run, start_run

log = logging.getLogger("textrnn")


@dataclass
class DataConfig:
    """Where the text comes from and how it is tokenized."""
    data: str | list[str] = ""       # one source, or several read one after another
    val_data: str | None = None
    val_fraction: float = 0.1
    text_column: str | None = None
    split: str = "train"
    data_config: str | None = None
    tokenizer: str | None = None     # char for a new model; that of --init-from when continuing
    vocab_size: int = 10000
    lowercase: bool = False          # both stored in the tokenizer, so whatever reuses it
    strip_html: bool = False         # (sampling, a classifier) reads text the same way

    def validate(self) -> "DataConfig":
        check_data_settings(self.data, self.val_data is not None, self.val_fraction,
                            self.vocab_size, "--val-data")
        return self


def check_lm_run(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """Check every setting of a language-model run before minutes of loading and
    tokenizing (the real vocabulary size is known only after the tokenizer is trained)."""
    data_cfg.validate()
    replace(model_cfg, task="lm", vocab_size=max(model_cfg.vocab_size, 1)).validate()
    train_cfg.validate()


def train_language_model(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                         out, resume=False, overwrite=False, show_progress=True,
                         init_from=None, extend_vocab=False) -> dict:
    """Train (or resume) a language model into run folder `out`; returns the result of
    `Trainer.fit()` plus "run_dir".

    `init_from` starts from another LM run's weights and tokenizer (its architecture
    wins); with `extend_vocab`, tokens of the new text it lacks get new rows initialised
    to the mean embedding, otherwise they read as <unk>.
    """
    check_lm_run(data_cfg, model_cfg, train_cfg)
    device, precision, run_dir = start_run(train_cfg, out, resume, overwrite)
    saved = saved_run(run_dir) if resume else None

    # Corpora, not strings: a large text file streams from disk, piece by piece.
    train_text = open_corpus(data_cfg.data, data_cfg.text_column, data_cfg.split, data_cfg.data_config)
    if data_cfg.val_data:
        val_text = open_corpus(data_cfg.val_data, data_cfg.text_column, data_cfg.split,
                               data_cfg.data_config)
    else:
        train_text, val_text = train_text.split_tail(data_cfg.val_fraction)

    model = None
    if saved:  # the saved model and vocabulary win: ids and shapes must not change
        model_cfg, tokenizer = saved
    elif init_from:
        model, tokenizer = load_language_model(init_from, data_cfg.tokenizer)
        if extend_vocab:
            tokenizer = extend_tokenizer(tokenizer, train_text.pieces(), data_cfg.vocab_size)
            model = resize_vocab(model, tokenizer.get_vocab_size())
        # The weights fix the architecture; dropouts and the like come from this run.
        model_cfg = continue_config(model.cfg, model_cfg, task="lm")
        model = with_config(model, model_cfg)
    else:
        kind = data_cfg.tokenizer or "char"
        tokenizer = train_tokenizer(kind, train_text.pieces(), data_cfg.vocab_size,
                                    lowercase=data_cfg.lowercase, strip_html=data_cfg.strip_html)
        model_cfg = ModelConfig(**{**asdict(model_cfg), "task": "lm", "tokenizer": kind,
                                   "vocab_size": tokenizer.get_vocab_size()})
        model_cfg.adaptive_cutoffs = model_cfg.tail_cutoffs()
    train_ids = encode_cached(tokenizer, train_text, run_dir, "train")
    val_ids = encode_cached(tokenizer, val_text, run_dir, "val")
    need = train_cfg.batch_size * (train_cfg.bptt + 1)
    if len(train_ids) < need:
        raise DataError(f"the training text has {len(train_ids)} tokens, fewer than one batch "
                        f"of windows needs ({train_cfg.batch_size} x {train_cfg.bptt + 1} = {need}); "
                        "add text or lower --batch-size / --bptt")
    if len(val_ids) < 2:
        raise DataError("the validation text has fewer than 2 tokens; raise --val-fraction or "
                        "pass a longer --val-data")
    log.info("text: %d characters (%d tokens) for training, %d for validation", len(train_text),
             len(train_ids), len(val_text))
    val_chars = len(val_text)
    train_text = val_text = None  # only the ids are needed from here on: free any text held

    model = model or build_model(model_cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model: %s, %d parameters, vocabulary %d, device %s, %s", model_cfg.cell,
             n_params, model_cfg.vocab_size, device, precision)
    model.to(device)
    task = LMTask(train_ids, val_ids, val_chars, train_cfg.batch_size, train_cfg.bptt)
    trainer = Trainer(model, task, train_cfg, run_dir, tokenizer, device, precision,
                      resume=resume, show_progress=show_progress)
    write_json(run_dir / RUN_SETTINGS, {"data": asdict(data_cfg), "training": asdict(train_cfg)})
    result = trainer.fit()
    result["run_dir"] = str(run_dir)
    return result
