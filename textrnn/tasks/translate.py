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
from ..data import bucketed_batches, collate, encode_texts
from ..data.parallel import Pairs, load_pairs
from ..device import autocast
from ..errors import ConfigError
from ..models.attention import KINDS as ATTENTIONS
from ..models.seq2seq import Seq2Seq
from ..parallel import current
from ..settings import setting
from ..tokenization import KINDS, PAD_ID, train_tokenizer
from ..tokenizer_pair import TokenizerPair, sides
from .base import SourceSettings
from .translator import BOS, EOS, Translator, bleu_chrf, detokenize, special_ids, translate_ids

log = logging.getLogger("textrnn")

# Measured on Multi30k in 30 minutes (README): a rate that decays to the end of the run
# (by epochs or by --time-budget) and validation of a moving average of the weights took
# test BLEU from 31.3 to 33.7 greedy against a constant rate. Then one vocabulary per
# language, the target's 4,000 (a joint 8,000 gave English 4,380 entries and an output
# layer twice the size), and a peak rate of 2e-3: 10 epochs instead of 6, validation BLEU
# 31.7 -> 34.3 greedy; dropout 0.2 rather than 0.3 then gave 36.1. A slower moving
# average (0.999, about two epochs, rather than 0.998) took test beam 5 from 37.4 to 38.2.
TRANSLATOR_COMMAND_DEFAULTS = dict(
    cell="gru", embed_dim=256, hidden_size=256, num_layers=1, dropout=0.2, lr=2e-3, batch_size=64,
    epochs=10, patience=3, eval_every=0, save_every=0, warmup_steps=200, weight_decay=0.0,
    schedule="cosine", clip=1.0, ema=0.999, separate_vocab=True, vocab_size=8000, target_vocab=4000)
REPORT_BEAM = 5  # the test report gives greedy and beam-5 scores
# Wu et al. (2016)'s length penalty alpha, chosen among these on validation after training
# (beam 5) and saved with the model. Measured on Multi30k: 0.6, their own choice, gave
# translations 5% short of the references; 1.5 gained 1.0 BLEU on test.
LENGTH_PENALTIES = (0.6, 1.0, 1.5)


@dataclass
class ParallelDataConfig(SourceSettings):
    """Where sentence pairs come from and how they are tokenized."""
    data: list = setting([], "training pairs: two text files (source, then target), a "
                         "csv/tsv/jsonl/parquet table, or a Hub dataset id", nargs="+")
    eval_data: list = setting([], "validation pairs, as --data (default: --val-fraction of --data)",
                              nargs="+")
    test_data: list = setting([], "test pairs, scored after training", nargs="+")
    val_fraction: float = setting(0.05, "fraction of --data held out for validation", low=0, high=1,
                                  low_open=True, high_open=True)
    source_column: str | None = setting(None, "a table's source column")
    target_column: str | None = setting(None, "a table's target column")
    source_lang: str | None = setting(None, "source language of a Hub dataset's translation dicts")
    target_lang: str | None = setting(None, "target language of a Hub dataset's translation dicts")
    eval_split: str = setting("validation", "split of --eval-data for Hub ids")
    test_split: str = setting("test", "split of --test-data for Hub ids")
    tokenizer: str = setting("bpe", "kind of tokenizer", choices=KINDS)
    separate_vocab: bool = setting(False, "one tokenizer per language, the source's of --vocab-size, "
                                   "the target's of --target-vocab-size; or one joint vocabulary "
                                   "for both (--no-separate-vocab)")
    vocab_size: int = setting(8000, "word/bpe vocabulary size", low=5, high=10_000_000)
    # A smaller target vocabulary makes the output layer, the decoder's largest product,
    # cheaper: on Multi30k a joint 8,000 gives English only 4,380 of its entries.
    target_vocab: int = setting(0, "the target side's word/bpe vocabulary size under --separate-vocab "
                                "(0: --vocab-size; a joint vocabulary has --vocab-size only)",
                                low=0, high=10_000_000, flag="--target-vocab-size", metavar="N")
    min_frequency: int = setting(2, "a word or merge seen fewer times is not learnt", low=1,
                                 high=10_000_000)
    lowercase: bool = setting(False, "lowercase both sides", flag="--lowercase")
    max_length: int = setting(100, "pairs with more tokens on a side are left out of training "
                              "(and counted in the log); a longer source is cut when translated",
                              low=1, high=100000)

    def pairs(self, which: str) -> Pairs:
        paths = {"train": self.data, "eval": self.eval_data, "test": self.test_data}[which]
        split = {"train": self.split, "eval": self.eval_split, "test": self.test_split}[which]
        return load_pairs(paths, self.source_column, self.target_column, self.source_lang,
                          self.target_lang, split, self.data_config)


@dataclass
class TranslatorHeadConfig:
    attention: str = setting("bahdanau", "attention scores: bahdanau (additive), general or dot "
                             "(Luong)", choices=ATTENTIONS)
    decoder_size: int = setting(512, "decoder state width", low=1, high=1 << 16)
    decoder_layers: int = setting(1, "stacked decoder cells", low=1, high=16)
    input_feeding: bool = setting(True, "do not feed each step's attentional vector to the next "
                                  "(Luong et al. 2015's input feeding is on by default)",
                                  flag="--no-input-feeding")
    tie_embeddings: bool = setting(False, "the output layer shares the decoder's embedding",
                                   flag="--tie-embeddings")
    label_smoothing: float = setting(0.1, "label smoothing of the training loss", low=0, high=1,
                                     high_open=True)
    length_penalty: float = setting(0.6, "beam search's length penalty alpha (Wu et al. 2016): "
                                    "the one of LENGTH_PENALTIES that scored best on validation",
                                    low=0, high=10, cli=False)
    target_vocab_size: int = setting(0, "the target side's vocabulary under --separate-vocab "
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
    target_vocab: int = 0  # the target side's own vocabulary size (new_tokenizer; 0: joint)


class TranslateTask:
    name, command, Head, Data, Loaded = ("translator", "train-translator", TranslatorHeadConfig,
                                         ParallelDataConfig, Translator)
    command_defaults, encoder_flags_skip = TRANSLATOR_COMMAND_DEFAULTS, ("bidirectional",)
    metric, mode, sampled_eval, loss_unit = "bleu", "max", False, "nats per target token"
    reads_pairs = True  # its tokenizer may be a TokenizerPair (--separate-vocab)

    @staticmethod
    def check_model(cfg: ModelConfig):
        enc, head = cfg.encoder, cfg.head
        if enc.cell in ("rnn", "elman") and enc.activation == "sigmoid":
            raise ConfigError("a translator's decoder has no sigmoid cell; use tanh or relu")
        if head.attention == "dot" and head.decoder_size != 2 * enc.hidden_size:
            raise ConfigError(f"dot attention needs --decoder-size equal to twice --hidden-size "
                              f"(the encoder reads both ways): {2 * enc.hidden_size}, got "
                              f"{head.decoder_size}; or use --attention general")
        if (cfg.tokenizer == "pair") != bool(head.target_vocab_size):
            raise ConfigError("config.json's tokenizer and target_vocab_size disagree: a translator's "
                              "target side has a vocabulary of its own exactly when its tokenizer "
                              "is a pair; use the files saved with the run")

    @staticmethod
    def build_model(cfg: ModelConfig):
        return Seq2Seq(cfg)

    @staticmethod
    def read_data(data_cfg: ParallelDataConfig, seed: int, saved=None) -> Parallel:
        train = data_cfg.pairs("train")
        if data_cfg.eval_data:
            val = data_cfg.pairs("eval")
        else:
            order = list(range(len(train)))
            random.Random(seed).shuffle(order)
            n = max(1, int(len(train) * data_cfg.val_fraction))
            if n >= len(train):
                raise ConfigError(f"{len(train)} pairs leave none to train on; pass --eval-data")
            train, val = train.subset(sorted(order[n:])), train.subset(sorted(order[:n]))
        return Parallel(train, val, data_cfg.pairs("test") if data_cfg.test_data else None, data_cfg)

    @staticmethod
    def new_tokenizer(data: Parallel, data_cfg: ParallelDataConfig):
        # Words and merges as "▁word", the first of a sentence too (a decoder that may put
        # any word first needs one token per word, not two); translator.detokenize drops the
        # one space this puts before a translation. Characters need no such thing.
        def learn(texts, size=data_cfg.vocab_size):
            tok = train_tokenizer(data_cfg.tokenizer, texts, size, data_cfg.min_frequency,
                                  lowercase=data_cfg.lowercase, leading_space=data_cfg.tokenizer != "char")
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
        raise ConfigError("a translator cannot start from a language model yet; leave out --init-from")

    @classmethod
    def prepare(cls, data: Parallel, tokenizer, data_cfg, train_cfg, run_dir, model_cfg):
        source, target, kind = sides(tokenizer, model_cfg.tokenizer)
        bos, eos = special_ids(target)
        if bos is None or eos is None:
            raise ConfigError("this tokenizer has no <s> and </s>; it was not made for translation")
        src, tgt = encode_texts(source, data.train.sources), encode_texts(target, data.train.targets)
        keep = [i for i in range(len(src)) if max(len(src[i]), len(tgt[i]) + 1) <= data_cfg.max_length]
        log.info("pairs: %d train (%d longer than %d tokens left out), %d validation%s", len(keep),
                 len(src) - len(keep), data_cfg.max_length, len(data.val),
                 f", {len(data.test)} test" if data.test else "")
        return cls([src[i] for i in keep], [tgt[i] for i in keep], data.val, data.test, (source, target),
                   kind, train_cfg.batch_size, train_cfg.seed, (bos, eos))

    def __init__(self, src, tgt, val: Pairs, test, tokenizers, kind: str, batch_size: int, seed: int,
                 specials):
        """`tokenizers`: (source side's, target side's), the same one twice when joint;
        `kind`: the target side's."""
        self.src, self.tgt, self.val, self.test = src, tgt, val, test
        (self.source_tok, self.target_tok), self.kind = tokenizers, kind
        self.batch_size, self.seed, (self.bos, self.eos) = batch_size, seed, specials
        self.val_src = encode_texts(self.source_tok, val.sources)
        self.val_tgt = encode_texts(self.target_tok, val.targets)
        self._epoch, self._batches = None, None

    def batches(self, epoch: int):
        if self._epoch != epoch:  # a fresh order each epoch, fixed by (seed, epoch)
            self._epoch = epoch
            lengths = [len(s) + len(t) for s, t in zip(self.src, self.tgt)]
            self._batches = bucketed_batches(lengths, self.batch_size, self.seed * 1000 + epoch)
        return self._batches

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
        model.eval()
        for idx in bucketed_batches([len(s) for s in self.val_src], 128, seed=0, shuffle=False):
            batch = self.collate([self.val_src[i] for i in idx], [self.val_tgt[i] for i in idx])
            n = self.tokens(batch)
            with autocast(device, precision):
                total += float(self.loss(model, batch, None, device)[0]) * n
            count += n
        return total / max(count, 1)

    def evaluate(self, model, device, precision, final=False):
        """Validation loss (teacher-forced) and BLEU and chrF of greedy translations."""
        was_training = model.training
        loss = self.val_loss(model, device, precision)
        hyps = self.detokenized(translate_ids(model, self.val_src, self.bos, self.eos))
        model.train(was_training)
        return {"loss": loss, **bleu_chrf(hyps, self.val.targets), "sentences": len(hyps)}

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
        src = encode_texts(self.source_tok, self.test.sources)
        test = {}
        for name, beam in (("greedy", 1), (f"beam_{REPORT_BEAM}", REPORT_BEAM)):
            hyps = self.detokenized(translate_ids(model, src, self.bos, self.eos, beam, alpha))
            test[name] = {**bleu_chrf(hyps, self.test.targets), "sentences": len(hyps), "beam": beam,
                          **({"length_penalty": alpha} if beam > 1 else {})}
        return {**chosen, "test": test}

    def choose_length_penalty(self, model) -> tuple[float, dict]:
        """The alpha of LENGTH_PENALTIES whose beam search scores the best validation BLEU
        (the first of equals), and each one's BLEU."""
        on_val = {}
        for alpha in LENGTH_PENALTIES:
            ids = translate_ids(model, self.val_src, self.bos, self.eos, REPORT_BEAM, alpha)
            on_val[str(alpha)] = bleu_chrf(self.detokenized(ids), self.val.targets)["bleu"]
        best = max(LENGTH_PENALTIES, key=lambda a: on_val[str(a)])
        return best, on_val

    def detokenized(self, ids: list[list[int]]) -> list[str]:
        return [detokenize(self.target_tok, s, self.kind) for s in ids]
