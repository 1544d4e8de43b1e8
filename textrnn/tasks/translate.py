"""Translation: an RNN encoder-decoder with attention (models/seq2seq.py), trained with
teacher forcing on sentence pairs in length-bucketed batches; validation BLEU (greedy)
keeps the best weights. One tokenizer covers both languages (a joint vocabulary), or
with --separate-vocab each language has its own (tokenizer_pair.py); <s> and </s> start
and end every target sentence."""
import logging
import random
from dataclasses import dataclass, replace

import torch

from ..config import ModelConfig
from ..data import EpochBatches, bucketed_batches, collate, encode_texts
from ..data.bundled import SAMPLE_DATA
from ..data.sentence_pairs import Pairs, load_pairs
from ..device import autocast
from ..encodings import TOKENIZER, TOKENIZER_PAIR
from ..errors import CheckpointError, ConfigError, DataError, setting_name
from ..models import evaluating
from ..models.attention import KINDS as ATTENTIONS
from ..models.cells import check_activation
from ..models.seq2seq import Seq2Seq
from ..settings import OldFlag, setting
from ..tokenization import KINDS, PAD_ID, tokenizer_kind, train_tokenizer
from ..tokenizer_pair import TokenizerPair, sides
from ..world import current
from .base import Endpoint, Task
from .translator import (BOS, EOS, TranslateRequest, TranslateSettings, Translator,
                         TranslatorEvaluation, bleu_chrf, cut_to, detokenize, special_ids,
                         translate_command, translate_endpoint, translate_ids)

log = logging.getLogger("textrnn")

# The command's defaults, each from measurement on Multi30k in 30 minutes (README's Results
# give the figures): a rate that decays to the end of the run and validation of a moving
# average of the weights (--ema); one vocabulary per language, the target's smaller (the
# output layer, the decoder's largest product, is then cheaper); the rate and dropout
# that scored best.
COMMAND_DEFAULTS = dict(
    cell="gru", embed_dim=256, hidden_size=256, num_layers=1, dropout=0.2, lr=2e-3, batch_size=64,
    epochs=10, patience=3, eval_every=0, save_every=0, warmup_steps=200, weight_decay=0.0,
    schedule="cosine", clip=1.0, ema=0.999, separate_vocab=True, vocab_size=8000, target_vocab=4000)
REPORT_BEAM = 5  # the test report gives greedy and beam-5 scores
# Wu et al. (2016)'s length penalty alpha, chosen among these on validation after training
# (beam 5) and saved with the model: the best alpha depends on the data (their own choice,
# 0.6, gave translations 5% short of Multi30k's references).
LENGTH_PENALTIES = (0.6, 1.0, 1.5)

# The bundled dates (data/make_dates.py): dates in words to ISO digits, a character at a
# time; a small bidirectional GRU encoder and a GRU decoder with additive attention.
SAMPLE = dict(tokenizer="char", cell="gru", embed_dim=64, hidden_size=128, num_layers=1,
              decoder_size=256, dropout=0.1, label_smoothing=0.0, lr=3e-3, batch_size=64,
              epochs=30, patience=3, eval_every=0, save_every=0, warmup_steps=0,
              weight_decay=0.0, schedule="constant", clip=1.0, time_budget=240.0,
              data=[str(SAMPLE_DATA / f"dates_train.{s}") for s in ("words", "iso")],
              test_data=[str(SAMPLE_DATA / f"dates_test.{s}") for s in ("words", "iso")])


@dataclass
class ParallelDataConfig:
    """Where sentence pairs come from and how they are tokenized."""
    data: list = setting([], "training pairs: two text files (source, then target), a "
                         "csv/tsv/jsonl/parquet table, or a Hub dataset id", nargs="+")
    val_data: list = setting([], "validation pairs, as --data (default: --val-fraction of --data)",
                             nargs="+")
    test_data: list = setting([], "test pairs, scored after training", nargs="+")
    val_fraction: float = setting(0.05, "fraction of --data held out for validation", low=0, high=1,
                                  low_open=True, high_open=True)
    source_column: str | None = setting(None, "a table's source column")
    target_column: str | None = setting(None, "a table's target column")
    source_lang: str | None = setting(None, "source language of a Hub dataset's translation dicts")
    target_lang: str | None = setting(None, "target language of a Hub dataset's translation dicts")
    split: str = setting("train", "dataset split of --data for Hub ids")
    val_split: str = setting("validation", "dataset split of --val-data for Hub ids")
    test_split: str = setting("test", "dataset split of --test-data for Hub ids")
    data_config: str | None = setting(None, "dataset configuration name for Hub ids")
    tokenizer: str = setting("bpe", "kind of tokenizer", choices=KINDS)
    separate_vocab: bool = setting(False, "one tokenizer per language, the source's of --vocab-size, "
                                   "the target's of --target-vocab-size (off: one joint vocabulary)")
    vocab_size: int = setting(8000, "word/bpe vocabulary size", low=5, high=10_000_000)
    target_vocab: int = setting(0, "the target side's word/bpe vocabulary size under --separate-vocab "
                                "(0: --vocab-size; a joint vocabulary has --vocab-size only)",
                                low=0, high=10_000_000, flag="--target-vocab-size", metavar="N")
    min_frequency: int = setting(2, "a word or merge seen fewer times is not learnt", low=1,
                                 high=10_000_000)
    lowercase: bool = setting(False, "lowercase both sides")
    max_length: int = setting(100, "pairs with more tokens on a side are left out of training "
                              "(and counted in the log); a longer source is cut when translated",
                              low=1, high=100000)

    OLD_FLAGS = {"--eval-data": OldFlag(("val_data",), "--val-data"),
                 "--eval-split": OldFlag(("val_split",), "--val-split")}

    def pairs(self, which: str) -> Pairs:
        paths = {"train": self.data, "val": self.val_data, "test": self.test_data}[which]
        split = {"train": self.split, "val": self.val_split, "test": self.test_split}[which]
        return load_pairs(paths, self.source_column, self.target_column, self.source_lang,
                          self.target_lang, split, self.data_config)


@dataclass
class TranslatorHeadConfig:
    attention: str = setting("bahdanau", "attention scores: bahdanau (additive), general or dot "
                             "(Luong)", choices=ATTENTIONS)
    decoder_size: int = setting(512, "decoder state width", low=1, high=1 << 16)
    decoder_layers: int = setting(1, "stacked decoder cells", low=1, high=16)
    input_feeding: bool = setting(True, "feed each step's attentional vector to the next "
                                  "(Luong et al. 2015)")
    tie_embeddings: bool = setting(False, "the output layer shares the decoder's embedding")
    label_smoothing: float = setting(0.1, "label smoothing of the training loss", low=0, high=1,
                                     high_open=True)
    length_penalty: float = setting(0.6, "beam search's length penalty alpha (Wu et al. 2016): "
                                    "the one of LENGTH_PENALTIES that scored best on validation",
                                    low=0, high=10, cli=False)
    target_vocab_size: int = setting(0, "the target side's vocabulary with a vocabulary per language "
                                     "(0: the joint one)", low=0, high=10_000_000, cli=False)
    max_length: int = setting(100, "the data's --max-length, kept for translating", cli=False)
    source_lang: str | None = setting(None, "the source language's name, if known", cli=False)
    target_lang: str | None = setting(None, "the target language's name, if known", cli=False)


@dataclass
class Parallel:
    train: Pairs
    val: Pairs
    test: Pairs | None
    settings: ParallelDataConfig  # what the model keeps of them: max length, languages
    target_vocab: int = 0  # the target side's own vocabulary size (new_encoding; 0: joint)


class TranslateTask(Task):
    """Train a translator (an encoder-decoder with attention) on sentence pairs."""
    name, command, Head, Data, Loaded = ("translator", "train-translator", TranslatorHeadConfig,
                                         ParallelDataConfig, Translator)
    pipeline_tag = "translation"
    encodings = (TOKENIZER, TOKENIZER_PAIR)  # one joint tokenizer, or one per language
    command_defaults, encoder_flags_skip = COMMAND_DEFAULTS, ("bidirectional",)
    metric, mode, sampled_eval, loss_unit = "bleu", "max", False, "nats per target token"
    eval_batch_size = 64
    verb, verb_help, Use, Evaluation = ("translate", "translate texts with a translator run folder",
                                        TranslateSettings, TranslatorEvaluation)
    use = staticmethod(translate_command)
    endpoint = Endpoint("translate", "translate texts with a translator, optionally with the "
                        "attention map of the first text's greedy translation", TranslateRequest,
                        translate_endpoint, panel="translate_panel.js")

    @staticmethod
    def check_model(cfg: ModelConfig):
        enc, head = cfg.encoder, cfg.head
        check_activation(enc.cell, enc.activation, decoder=True)
        if head.attention == "dot" and head.decoder_size != 2 * enc.hidden_size:
            raise ConfigError(f"dot attention needs {setting_name('decoder_size')} equal to twice "
                              f"{setting_name('hidden_size')} (the encoder reads both ways): "
                              f"{2 * enc.hidden_size}, got {head.decoder_size}; or use "
                              f"{setting_name('attention', 'general')}")
        if (cfg.tokenizer == "pair") != bool(head.target_vocab_size):
            raise ConfigError("config.json's tokenizer and target_vocab_size disagree: a translator's "
                              "target side has a vocabulary of its own exactly when its tokenizer "
                              "is a pair; use the files saved with the run")

    @staticmethod
    def build_model(cfg: ModelConfig):
        return Seq2Seq(cfg)

    @staticmethod
    def check_encoding(encoding, cfg: ModelConfig, path) -> None:
        if isinstance(encoding, TokenizerPair) and encoding.target.get_vocab_size() != cfg.head.target_vocab_size:
            raise CheckpointError(f"{path}'s target side has {encoding.target.get_vocab_size()} "
                                  f"entries but the model expects {cfg.head.target_vocab_size}; the "
                                  "folder mixes files of different runs")

    @staticmethod
    def recipe_preset(given: dict) -> dict:
        """recipes/translate.py: the bundled dates, or parallel text of your own."""
        return dict(SAMPLE if "data" not in given else COMMAND_DEFAULTS)

    @staticmethod
    def read_data(data_cfg: ParallelDataConfig, seed: int, saved=None) -> Parallel:
        train = data_cfg.pairs("train")
        if data_cfg.val_data:
            val = data_cfg.pairs("val")
        else:
            order = list(range(len(train)))
            random.Random(seed).shuffle(order)
            n = max(1, int(len(train) * data_cfg.val_fraction))
            if n >= len(train):
                raise ConfigError(f"{len(train)} pairs leave none to train on; pass {setting_name('val_data')}")
            train, val = train.subset(sorted(order[n:])), train.subset(sorted(order[:n]))
        return Parallel(train, val, data_cfg.pairs("test") if data_cfg.test_data else None, data_cfg)

    @staticmethod
    def new_encoding(data: Parallel, data_cfg: ParallelDataConfig):
        # A kind whose tokens carry a word's leading space ("▁word") reads every sentence as
        # if after a space, so its first word is the usual token too (a decoder that may put
        # any word first needs one token per word, not two); translator.detokenize drops the
        # one space this puts before a translation.
        def learn(texts, size=data_cfg.vocab_size):
            tok = train_tokenizer(data_cfg.tokenizer, texts, size, data_cfg.min_frequency,
                                  lowercase=data_cfg.lowercase,
                                  leading_space=tokenizer_kind(data_cfg.tokenizer).marks_spaces)
            tok.add_special_tokens([BOS, EOS])
            return tok

        if not data_cfg.separate_vocab:
            return data_cfg.tokenizer, learn(data.train.sources + data.train.targets)
        kind = data_cfg.tokenizer
        target = learn(data.train.targets, data_cfg.target_vocab or data_cfg.vocab_size)
        pair = TokenizerPair(learn(data.train.sources), target, kind, kind)
        data.target_vocab = pair.target.get_vocab_size()  # for `complete`: the decoder's size
        return "pair", pair

    @staticmethod
    def complete(cfg: ModelConfig, data: Parallel) -> ModelConfig:
        d = data.settings
        return replace(cfg, head=replace(cfg.head, max_length=d.max_length, source_lang=d.source_lang,
                                         target_lang=d.target_lang, target_vocab_size=data.target_vocab))

    @staticmethod
    def from_language_model(lm, tokenizer, data, data_cfg, model_cfg):
        raise ConfigError(f"a translator cannot start from a language model yet; leave out "
                          f"{setting_name('init_from')}")

    @classmethod
    def prepare(cls, data: Parallel, tokenizer, data_cfg, train_cfg, run_dir, model_cfg):
        source, target, kind = sides(tokenizer, model_cfg.tokenizer)
        bos, eos = special_ids(target)
        if bos is None or eos is None:
            raise ConfigError("this tokenizer has no <s> and </s>; it was not made for translation")
        src, tgt = encode_texts(source, data.train.sources), encode_texts(target, data.train.targets)
        keep = [i for i in range(len(src)) if max(len(src[i]), len(tgt[i]) + 1) <= data_cfg.max_length]
        if not keep:
            raise DataError(f"all {len(src):,} training pairs have more than "
                            f"{setting_name('max_length', data_cfg.max_length)} tokens on a side, so "
                            "none is left to train on; raise it, or pass shorter pairs")
        log.info("pairs: %d train (%d longer than %d tokens left out), %d validation%s", len(keep),
                 len(src) - len(keep), data_cfg.max_length, len(data.val),
                 f", {len(data.test)} test" if data.test else "")
        return cls([src[i] for i in keep], [tgt[i] for i in keep], data.val, data.test, (source, target),
                   kind, train_cfg.batch_size, train_cfg.seed, (bos, eos),
                   train_cfg.eval_batch_size or cls.eval_batch_size, data_cfg.max_length)

    def __init__(self, src, tgt, val: Pairs, test, tokenizers, kind: str, batch_size: int, seed: int,
                 specials, eval_batch_size: int = 64, max_length: int = 100):
        """`tokenizers`: (source side's, target side's), the same one twice when joint;
        `kind`: the target side's."""
        self.src, self.tgt, self.val, self.test = src, tgt, val, test
        (self.source_tok, self.target_tok), self.kind = tokenizers, kind
        self.bos, self.eos = specials
        self.eval_size, self.max_length = eval_batch_size, max_length
        self.batches = EpochBatches([len(s) + len(t) for s, t in zip(src, tgt)], batch_size, seed)
        # Evaluation reads what training could: sources of at most max_length tokens (as a
        # translation cuts them), targets of at most max_length with </s> for the loss (the
        # references themselves stay whole for BLEU).
        self.val_src = self.capped(encode_texts(self.source_tok, val.sources), max_length, "validation")
        self.val_tgt = [t[:max_length - 1] for t in encode_texts(self.target_tok, val.targets)]

    @staticmethod
    def capped(sources: list[list[int]], most: int, split: str) -> list[list[int]]:
        """Sources cut to `most` tokens, saying how many were."""
        kept, cut = cut_to(sources, most)
        if cut:
            log.info("%s: %d of %d sources have more than %d tokens (--max-length); each is cut "
                     "there", split, cut, len(sources), most)
        return kept

    def num_batches(self, epoch: int) -> int:
        return len(self.batches(epoch))

    def batch(self, epoch: int, i: int):
        idx = self.batches(epoch)[i]
        return self.collate([self.src[j] for j in idx], [self.tgt[j] for j in idx])

    def collate(self, sources, targets):
        """(src (B, S), lengths (B,), decoder inputs <s> y (B, T + 1), targets y </s> (B, T + 1))."""
        src, lengths = collate(sources)
        tgt_in, _ = collate([[self.bos] + t for t in targets])
        out, _ = collate([t + [self.eos] for t in targets])
        return src, lengths, tgt_in, out

    @staticmethod
    def tokens(batch) -> int:
        return int((batch[3] != PAD_ID).sum())

    def weight(self, batch) -> float:
        """A batch's weight in the global mean loss: its target tokens."""
        return float((batch[3] != PAD_ID).sum())

    def loss(self, model, batch, carry, device):
        src, lengths, tgt_in, out = (t.to(device, non_blocking=True) for t in batch)
        return model(src, lengths, tgt_in, targets=out), None

    @torch.no_grad()
    def val_loss(self, model, device, precision) -> float:
        total, count = 0.0, 0
        with evaluating(model):
            for idx in bucketed_batches([len(s) for s in self.val_src], self.eval_size, seed=0,
                                        shuffle=False):
                batch = self.collate([self.val_src[i] for i in idx], [self.val_tgt[i] for i in idx])
                n = self.tokens(batch)
                with autocast(device, precision):
                    total += float(self.loss(model, batch, None, device)[0]) * n
                count += n
        return total / max(count, 1)

    def evaluate(self, model, device, precision, final=False):
        """Validation loss (teacher-forced) and BLEU and chrF of greedy translations."""
        loss = self.val_loss(model, device, precision)
        hyps = self.detokenized(self.translated(model, self.val_src))
        return {"loss": loss, **bleu_chrf(hyps, self.val.targets), "sentences": len(hyps)}

    def translated(self, model, sources, beam: int = 1, alpha: float = 0.6) -> list[list[int]]:
        return translate_ids(model, sources, self.bos, self.eos, beam, alpha, batch_size=self.eval_size)

    def report(self, model, metrics, folder, device, precision) -> dict:
        """The kept model's length penalty, chosen on validation and saved with it; then its
        test scores, greedy and with beam search, if test pairs were given."""
        if current().rank != 0:
            return {}
        alpha, on_val = self.choose_length_penalty(model)
        model.cfg = replace(model.cfg, head=replace(model.cfg.head, length_penalty=alpha))
        folder.save_kept(model)
        chosen = {"length_penalty": {"chosen": alpha, f"val_bleu_beam_{REPORT_BEAM}": on_val}}
        if self.test is None:
            return chosen
        src = self.capped(encode_texts(self.source_tok, self.test.sources), self.max_length, "test")
        test = {}
        for name, beam in (("greedy", 1), (f"beam_{REPORT_BEAM}", REPORT_BEAM)):
            hyps = self.detokenized(self.translated(model, src, beam, alpha))
            test[name] = {**bleu_chrf(hyps, self.test.targets), "sentences": len(hyps), "beam": beam,
                          **({"length_penalty": alpha} if beam > 1 else {})}
        return {**chosen, "test": test}

    def choose_length_penalty(self, model) -> tuple[float, dict]:
        """The alpha of LENGTH_PENALTIES whose beam search scores the best validation BLEU
        (the first of equals), and each one's BLEU."""
        on_val = {}
        for alpha in LENGTH_PENALTIES:
            ids = self.translated(model, self.val_src, REPORT_BEAM, alpha)
            on_val[str(alpha)] = bleu_chrf(self.detokenized(ids), self.val.targets)["bleu"]
        best = max(LENGTH_PENALTIES, key=lambda a: on_val[str(a)])
        return best, on_val

    def detokenized(self, ids: list[list[int]]) -> list[str]:
        return [detokenize(self.target_tok, s, self.kind) for s in ids]
