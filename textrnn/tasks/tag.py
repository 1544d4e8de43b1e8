"""Sequence labelling: a tag for every word (parts of speech, named entities, chunks) by a
BiLSTM-CRF (Huang et al. 2015; Lample et al. 2016; Ma & Hovy 2016) over word embeddings,
character features and, given character language models, contextual string embeddings
(Akbik et al. 2018). Sentences in length-bucketed batches; the loss is in nats per word.

Span tags are read in any scheme (data/schemes.py) and trained in one (--train-scheme,
BIOES by default, as Lample et al. found best); a CRF never decodes a transition that
scheme forbids. The best weights are those of the best validation `score`: micro span F1,
or token accuracy for tags without spans (parts of speech).
"""
import logging
import random
from dataclasses import dataclass, replace

import torch

from ..config import ModelConfig
from ..data import EpochBatches
from ..data.bundled import SAMPLE_DATA
from ..data.schemes import SCHEMES, allowed, check_tags, convert, detect, split_tag
from ..data.tagged import Tagged, load_tagged
from ..errors import CheckpointError, ConfigError, DataError, setting_name
from ..models.tagger import CHAR_FEATURES, SequenceTagger
from ..settings import setting
from ..tokenization import UNK_ID
from ..world import current
from .base import Endpoint, SourceSettings, Task
from .classify import unknown_words
from .tag_vocab import TAGGER_VOCAB, TaggerVocab
from .tagger import (ReadTagged, TaggerEvaluation, TagRequest, TagSettings, Tagger, backward_models,
                     collate_sentences, encode_sentences, model_inputs, predict, tag_command,
                     tag_endpoint, tagging_metrics)

log = logging.getLogger("textrnn")
TRAIN_SCHEMES = ("bioes", "iob2", "keep")

# `textrnn train-tagger`: a one-layer BiLSTM over 100-wide word embeddings and a character
# BiLSTM (Lample et al. 2016's tagger; Plank et al. 2016 found one such layer enough for
# parts of speech), dropout 0.33 throughout (Dozat et al. 2017), Adam at 2e-3 decayed by a
# cosine to the end of the run (no early stop, which would cut the decay short), validation
# of a moving average of the weights (--ema), an evaluation per epoch and the best epoch
# kept. Chosen on EWT's dev set in 240 s runs (README Results): the cosine and the average
# gave 95.07% UPOS against 94.89% at a constant rate without them; 50-wide character
# features 95.10%; a second layer 94.33% and --min-frequency 1 94.85% (both worse).
COMMAND_DEFAULTS = dict(
    cell="lstm", bidirectional=True, embed_dim=100, hidden_size=200, num_layers=1, dropout=0.33,
    char_embed_dim=50, char_hidden=50, lr=2e-3, batch_size=32, epochs=40, patience=0, eval_every=0,
    save_every=0, warmup_steps=0, weight_decay=0.0, schedule="cosine", ema=0.999, clip=5.0)

# The bundled sample (data/make_tagging_sample.py): sentences whose entities only their
# context tells apart; a smaller model at a constant rate without averaging (a run of a
# thousand steps is too short for a 0.999 average), the time budget a first run can wait for.
SAMPLE = dict(COMMAND_DEFAULTS, embed_dim=64, hidden_size=96, char_embed_dim=25, char_hidden=25,
              epochs=12, patience=4, lr=3e-3,
              schedule="constant", ema=0.0, time_budget=90.0,
              data=str(SAMPLE_DATA / "tagging_sample.conll"),
              test_data=str(SAMPLE_DATA / "tagging_sample_test.conll"))


@dataclass
class TaggedDataConfig(ReadTagged, SourceSettings):
    """Where tagged sentences come from and how they are read."""
    data: str = setting("", "training sentences: a CoNLL column file (a word per line, a blank "
                        "line after each sentence), a .conllu file, a csv/tsv/jsonl/parquet table "
                        "with a list of words and a list of tags per row, or a Hub dataset id")
    val_data: str | None = setting(None, "validation sentences (default: --val-fraction of --data)")
    test_data: str | None = setting(None, "test sentences, scored after training")
    val_split: str = setting("validation", "dataset split of --val-data for Hub ids")
    test_split: str = setting("test", "dataset split of --test-data for Hub ids")
    val_fraction: float = setting(0.1, "fraction of --data held out for validation", low=0, high=1,
                                  low_open=True, high_open=True)
    scheme: str = setting("auto", "the data's tag scheme: iob1, iob2 (BIO), bioes, none (tags "
                          "without spans, e.g. parts of speech), or auto (told apart from the tags)",
                          choices=("auto",) + SCHEMES)
    train_scheme: str = setting("bioes", "the scheme spans are trained and written in (keep: the "
                                "data's own)", choices=TRAIN_SCHEMES)
    min_frequency: int = setting(2, "a word seen fewer times in training reads as <unk> (its "
                                 "characters still read as themselves)", low=1, high=10_000_000)
    unk_dropout: float = setting(0.05, "in training, each word reads as <unk> with this "
                                 "probability (word dropout), so an unseen word reads as a known "
                                 "unknown", low=0, high=1, high_open=True)
    lowercase: bool = setting(True, "word embeddings of lowercased words (the character "
                              "features still see the case)")
    max_length: int = setting(250, "the most words a sentence may have; a longer one is refused "
                              "with its line", low=1, high=100_000)
    embeddings: list = setting([], "contextual string embeddings: a character language model's "
                               "run folder (or Hub model id) that reads forwards, then optionally one trained "
                               "with --reverse", nargs="+", metavar="LM_RUN", max_items=2)


@dataclass
class TaggerHeadConfig:
    output_layer: str = setting("crf", "crf (a linear-chain CRF: Viterbi decoding, no forbidden "
                                "transitions) or softmax (each word on its own)",
                                choices=("crf", "softmax"), flag="--head")
    char_features: str = setting("lstm", "each word's characters as features: lstm (a character "
                                 "BiLSTM, Lample et al. 2016), cnn (a character CNN, Ma & Hovy "
                                 "2016) or none", choices=CHAR_FEATURES)
    char_embed_dim: int = setting(25, "character embedding width", low=1, high=4096)
    char_hidden: int = setting(25, "character BiLSTM width per direction (a CNN has twice as many "
                               "filters)", low=1, high=4096)
    fine_tune_embeddings: bool = setting(False, "train the --embeddings language models with the "
                                         "tagger (off: they stay as trained)")
    tags: list = setting([], "tag names, index = tag id", cli=False)
    scheme: str = setting("none", "the scheme of the tags", cli=False)
    char_vocab_size: int = setting(0, "characters in tagger_vocab.json", cli=False)
    embeddings: list = setting([], "the embedding language models' configs", cli=False)


@dataclass
class TaggedSplits:
    train: Tagged
    val: Tagged
    test: Tagged | None
    tags: list          # the model's tag names
    scheme: str         # the model's scheme
    language_models: list  # (encoder, tokenizer, config) of each --embeddings run
    char_vocab_size: int = 0  # set by new_encoding, for `complete`


def tag_set(tag_lists, scheme: str) -> list[str]:
    """The model's tags: O first, then each type's every prefix in `scheme` (so a B-X never
    seen in training is still a tag), or, without spans, the tags seen, sorted."""
    seen = {t for ts in tag_lists for t in ts}
    if scheme == "none":
        return sorted(seen)
    kinds = sorted({split_tag(t)[1] for t in seen} - {""})
    prefixes = {"bioes": "BIES", "iob2": "BI", "iob1": "BI"}[scheme]
    return ["O"] + [f"{p}-{k}" for k in kinds for p in prefixes]


def transitions(tags: list[str], scheme: str) -> tuple:
    """(allowed (K, K), may start (K,), may end (K,)) bool tensors for the CRF."""
    return (torch.tensor([[allowed(a, b, scheme) for b in tags] for a in tags]),
            torch.tensor([allowed(None, t, scheme) for t in tags]),
            torch.tensor([allowed(t, None, scheme) for t in tags]))


def load_language_models(paths: list[str]) -> list:
    """(encoder, tokenizer, config dict) of each --embeddings run, checked: character level,
    a language model, the first reading forwards and the second backwards."""
    from ..checkpoint import load_pretrained  # checkpoint.py reads runs through TASKS

    found = []
    for n, path in enumerate(paths):
        model, tokenizer, _ = load_pretrained(path)
        cfg = model.cfg
        if cfg.task != "lm":
            raise ConfigError(f"{setting_name('embeddings')} {path} holds a {cfg.task}, not a language "
                              "model; pass run folders of train-lm")
        if cfg.tokenizer != "char":
            raise ConfigError(f"{setting_name('embeddings')} {path} is a {cfg.tokenizer}-level language "
                              "model; contextual string embeddings need character-level ones "
                              "(train-lm --tokenizer char)")
        if cfg.head.reverse != (n == 1):
            raise ConfigError(f"{setting_name('embeddings')} {path} reads text "
                              f"{'backwards' if cfg.head.reverse else 'forwards'}, but it is given as "
                              f"the {'forward' if n == 0 else 'backward'} model; pass FORWARD_LM "
                              "then BACKWARD_LM (trained with train-lm --reverse)")
        found.append((model.encoder, tokenizer, cfg.to_dict()))
    return found


class TagTask(Task):
    """Train a tagger (parts of speech, named entities, chunks) on tagged sentences."""
    name, command, Head, Data, Loaded = ("tagger", "train-tagger", TaggerHeadConfig, TaggedDataConfig,
                                         Tagger)
    pipeline_tag = "token-classification"
    encodings = (TAGGER_VOCAB,)
    command_defaults = COMMAND_DEFAULTS
    metric, mode, sampled_eval, loss_unit = "score", "max", False, "nats per word"
    eval_batch_size = 64
    unit = "words"
    verb, verb_help, Use, Evaluation = ("tag", "tag each word of texts with a tagger run folder",
                                        TagSettings, TaggerEvaluation)
    use = staticmethod(tag_command)
    endpoint = Endpoint("tag", "tag each word of texts with a tagger: tags, confidences and "
                        "spans with their character offsets", TagRequest, tag_endpoint,
                        panel="tag_panel.js")

    @staticmethod
    def check_model(cfg: ModelConfig):
        head = cfg.head
        if head.tags and len(set(head.tags)) != len(head.tags):
            raise ConfigError("config.json's tags repeat a name; use the files saved with the run")
        if head.scheme not in SCHEMES:
            raise ConfigError(f"config.json's tag scheme {head.scheme!r} is none of {', '.join(SCHEMES)}")

    @staticmethod
    def build_model(cfg: ModelConfig):
        if not cfg.head.tags:
            raise ConfigError("a tagger needs at least one tag")
        from . import config_from_dict  # the language models' configs, read as any run's
        from ..models.encoder import RNNEncoder

        models = []
        for i, lm in enumerate(cfg.head.embeddings):
            lm_cfg = config_from_dict(lm, f"config.json (embedding model {i + 1})")
            models.append(RNNEncoder(lm_cfg.encoder, lm_cfg.vocab_size, causal=True))
        return SequenceTagger(cfg, cfg.head.char_vocab_size, transitions(cfg.head.tags, cfg.head.scheme),
                              models)

    @staticmethod
    def check_encoding(vocab: TaggerVocab, cfg: ModelConfig, path) -> None:
        if len(vocab.chars) != cfg.head.char_vocab_size or \
                len(vocab.language_models) != len(cfg.head.embeddings):
            raise CheckpointError(f"{path} does not fit config.json (characters or language "
                                  "models differ); the folder mixes files of different runs")

    @staticmethod
    def recipe_preset(given: dict) -> dict:
        """recipes/tagging.py: the bundled sample, or tagged data of your own."""
        return dict(SAMPLE if "data" not in given else COMMAND_DEFAULTS)

    @staticmethod
    def read_data(data_cfg: TaggedDataConfig, seed: int, saved=None) -> TaggedSplits:
        read = lambda src, split: load_tagged(src, data_cfg.token_column, data_cfg.tag_column,  # noqa: E731
                                              data_cfg.text_column, data_cfg.label_column, split,
                                              data_cfg.data_config, data_cfg.max_length)
        train = read(data_cfg.data, data_cfg.split)
        found = detect(train.tags) if data_cfg.scheme == "auto" else data_cfg.scheme
        if found == "none" and data_cfg.scheme == "auto" and any("O" in ts for ts in train.tags):
            # O marks words outside spans, so these are span tags with an odd one among them
            check_tags(train.tags, "iob2", data_cfg.data, train.lines)
        check_tags(train.tags, found, data_cfg.data, train.lines)
        scheme = found if found == "none" or data_cfg.train_scheme == "keep" else data_cfg.train_scheme
        if saved is not None:
            scheme = saved.head.scheme
        log.info("tags: %s scheme%s", found, f", trained as {scheme}" if scheme != found else "")
        if data_cfg.val_data:
            val = read(data_cfg.val_data, data_cfg.val_split)
        else:
            train, val = hold_out(train, data_cfg.val_fraction, seed)
        test = read(data_cfg.test_data, data_cfg.test_split) if data_cfg.test_data else None
        for part, source in ((train, data_cfg.data), (val, data_cfg.val_data or data_cfg.data),
                             (test, data_cfg.test_data)):
            if part is not None and scheme != "none":
                check_tags(part.tags, scheme, source, part.lines)
                part.tags = [convert(t, scheme) for t in part.tags]
        tags = list(saved.head.tags) if saved is not None else tag_set(train.tags, scheme)
        lms = load_language_models(data_cfg.embeddings) if data_cfg.embeddings and saved is None else []
        return TaggedSplits(train, val, test, tags, scheme, lms)

    @staticmethod
    def new_encoding(data: TaggedSplits, data_cfg: TaggedDataConfig):
        vocab = TaggerVocab.learn(data.train.sentences, data_cfg.min_frequency, data_cfg.lowercase,
                                  [tok for _, tok, _ in data.language_models])
        data.char_vocab_size = len(vocab.chars)
        return "tagger", vocab

    @staticmethod
    def complete(cfg: ModelConfig, data: TaggedSplits) -> ModelConfig:
        return replace(cfg, head=replace(cfg.head, tags=list(data.tags), scheme=data.scheme,
                                         char_vocab_size=data.char_vocab_size,
                                         embeddings=[c for _, _, c in data.language_models]))

    @staticmethod
    def start_weights(model, data: TaggedSplits) -> None:
        """The --embeddings language models' trained encoders (then let go: the model holds
        its own copy)."""
        for target, (encoder, _, _) in zip(model.strings.models if model.strings else [],
                                           data.language_models):
            target.load_state_dict(encoder.state_dict())
        data.language_models = [(None, tok, cfg) for _, tok, cfg in data.language_models]

    @classmethod
    def prepare(cls, data: TaggedSplits, vocab, data_cfg, train_cfg, run_dir, model_cfg):
        index = {t: i for i, t in enumerate(model_cfg.head.tags)}
        unseen = sorted({t for ts in data.train.tags for t in ts} - set(index))
        if unseen:  # a resumed run's tags are fixed; its data may not bring new ones
            raise DataError(f"{data_cfg.data} has tags the model does not know ({', '.join(unseen[:5])}); "
                            "pass the data it was trained on")
        words = sum(len(s) for s in data.train.sentences)
        unknown = sum(i == UNK_ID for s in data.val.sentences for i in vocab.encode_words(s))
        log.info("sentences: %d train (%d words), %d validation (%.1f%% unknown words)%s; %d tags",
                 len(data.train.sentences), words, len(data.val.sentences),
                 100 * unknown / max(1, sum(map(len, data.val.sentences))),
                 f", {len(data.test.sentences)} test" if data.test else "", len(index))
        encoded = encode_sentences(vocab, data.train.sentences, backward_models(model_cfg))
        tags = [[index[t] for t in ts] for ts in data.train.tags]
        return cls(encoded, tags, data, vocab, model_cfg.head.scheme, train_cfg.batch_size,
                   train_cfg.seed, train_cfg.eval_batch_size or cls.eval_batch_size,
                   data_cfg.unk_dropout)

    def __init__(self, encoded, tags, data: TaggedSplits, vocab, scheme: str, batch_size: int,
                 seed: int, eval_batch_size: int = 64, unk_dropout: float = 0.0):
        self.encoded, self.tags, self.data, self.vocab = encoded, tags, data, vocab
        self.scheme, self.batches = scheme, EpochBatches([len(t) for t in tags], batch_size, seed)
        self.eval_size, self.unk_dropout = eval_batch_size, unk_dropout
        self.string_cache = {}  # sentence index -> its fixed string embeddings (n, F)
        self.held_out = {}  # id of the validation or test sentences -> them encoded

    def num_batches(self, epoch: int) -> int:
        return len(self.batches(epoch))

    def batch(self, epoch: int, i: int):
        """The collated sentences (tagger.collate_sentences), then their indices (B,)."""
        idx = self.batches(epoch)[i]
        return (*collate_sentences([self.encoded[j] for j in idx], [self.tags[j] for j in idx]),
                torch.tensor(idx))

    @staticmethod
    def tokens(batch) -> int:
        return int(batch[1].sum())

    def weight(self, batch) -> float:
        """A batch's weight in the global mean loss: its words."""
        return float(batch[1].sum())

    def loss(self, model, batch, carry, device):
        *batch, idx = batch
        words, lengths, chars, strings, tags = model_inputs(batch, device)
        net = getattr(model, "module", model)  # the model itself under DDP
        if net.strings is not None and not net.strings.fine_tune:
            strings = self.fixed_strings(net.strings, idx.tolist(), strings, lengths, words.shape[1])
        if self.unk_dropout:
            words = unknown_words(words, lengths, UNK_ID, self.unk_dropout)
        return model(words, lengths, chars, strings, tags=tags), None

    @torch.no_grad()
    def fixed_strings(self, strings, idx: list[int], inputs, lengths, width: int):
        """Fixed language models give a training sentence the same vectors every epoch, so
        each sentence's are computed the first time it comes, then read from memory (flair's
        embedding storage): (B, T, F) on the batch's device. The memory: 4 bytes x F per
        training word in each process (EWT's 205k words with two 512-wide models: 0.8 GB)."""
        missing = [b for b, i in enumerate(idx) if i not in self.string_cache]
        if missing:
            rows = torch.tensor(missing, device=lengths.device)
            found = strings([(ids[rows], at[rows]) for ids, at in inputs])  # (M, T, F)
            for b, vectors in zip(missing, found):
                self.string_cache[idx[b]] = vectors[:int(lengths[b])].float().cpu()
        out = torch.zeros(len(idx), width, strings.output_size)
        for b, i in enumerate(idx):
            out[b, :int(lengths[b])] = self.string_cache[i]
        return out.to(lengths.device)

    def scores(self, model, part: Tagged, device, precision) -> dict:
        if id(part) not in self.held_out:  # encoded once, read at every evaluation
            self.held_out[id(part)] = encode_sentences(self.vocab, part.sentences,
                                                       backward_models(model.cfg))
        found = predict(model, self.vocab, part.sentences, device, precision, self.eval_size,
                        world=current(), encoded=self.held_out[id(part)])
        names = model.cfg.head.tags
        return tagging_metrics(part.tags, [[names[i] for i in ids] for ids, _ in found], self.scheme)

    def evaluate(self, model, device, precision, final=False):
        return self.scores(model, self.data.val, device, precision)

    def report(self, model, metrics, folder, device, precision) -> dict:
        """The kept model's scores on the test sentences, if given."""
        if self.data.test is None:
            return {}
        return {"test": self.scores(model, self.data.test, device, precision)}


def hold_out(data: Tagged, fraction: float, seed: int) -> tuple[Tagged, Tagged]:
    """(rest, held out): a random `fraction` of the sentences for validation."""
    order = list(range(len(data.sentences)))
    random.Random(seed).shuffle(order)
    n = max(1, int(len(order) * fraction))
    if n >= len(order):
        raise ConfigError(f"{len(order)} sentence(s) leave none to train on; pass "
                          f"{setting_name('val_data')} or more sentences")
    return data.subset(sorted(order[n:])), data.subset(sorted(order[:n]))


__all__ = ["TagTask", "Tagger", "TaggedDataConfig", "TaggerHeadConfig"]
