"""ULMFiT in three stages (Howard & Ruder 2018), as settings: pretrain a language model on
unlabelled text, fine-tune it on the task's own text, then train a classifier on top.
recipes/finetune.py runs them; every setting is checked before stage 1 starts."""
from dataclasses import dataclass
from pathlib import Path

from .commands import Parser, RunOptions, RunSettings, settings_from
from .config import EncoderConfig
from .data.bundled import SAMPLE_DATA, timestamped
from .errors import ConfigError, setting_name
from .settings import add_flags, check, resolve, setting
from .tasks import ClassifierHeadConfig, DataConfig, LabelledDataConfig, LMHeadConfig, get_task
from .tasks.labelled_splits import load_splits
from .training import TrainConfig

# AWD-LSTM's regularisation (Merity et al. 2017), scaled for a CPU budget: locked dropout,
# embedding dropout and DropConnect on the hidden-to-hidden weights, with tied weights.
# --lm-drop-mult scales all three, as fastai's drop_mult does. A model that reads its corpus
# fewer than about two times underfits, and dropout then only slows learning (the paper
# "Drop Dropout on Single-Epoch Language Model Pretraining" finds the same for transformers;
# README's Results measure it on IMDb).
LM_DROPOUTS = {"dropout": 0.25, "embed_dropout": 0.05, "weight_drop": 0.2}
MAX_DROP_MULT = 1 / max(LM_DROPOUTS.values())  # keeps every dropout below 1
# The language models validate on 2% of their text: plenty of tokens on a real corpus,
# and the final full read of a 10% split would cost minutes of the budget.
LM_VAL_FRACTION = 0.02

# The shared flags' defaults here. An adaptive softmax (Grave et al. 2017) makes a step
# over a word vocabulary about 2.3x cheaper (bench/adaptive_softmax.py), so pretraining
# reads more text in its budget.
# With no data given: the 602 hand-written reviews, a fifth held out for the test report,
# and for pretraining the play and the texts (not the labels) of the 20,000 generated
# reviews, so the language model has read review language before it sees a label.
FINETUNE_DEFAULTS = dict(
    data=str(SAMPLE_DATA / "sentiment_sample.csv"), test_fraction=0.2, tokenizer="word",
    vocab_size=30000, adaptive_cutoffs=[2000, 8000], embed_dim=400, hidden_size=400, num_layers=3,
    batch_size=32, bptt=70, unfreeze_warmup=0.5, device="auto", precision="auto")
# Given --data (a real corpus, IMDb's size): the settings of the best measured run that fits
# 90 minutes of 2 CPU cores (README's Results: 91.87% on IMDb's test set in 5,316 s). A
# 16,000-word vocabulary, no dropout in the language models (they read their text fewer
# than two times), ULMFiT's BatchNorm head at a 3e-3 peak, most of the time in pretraining
# and in the classifier. Pretraining reads the labelled texts unless --unlabeled-data says
# otherwise; the from-scratch comparison is bench/ulmfit_quality.py's, not the recipe's.
FINETUNE_CORPUS = dict(pretrain_budget=3200.0, lm_budget=150.0, classifier_budget=1750.0,
                       vocab_size=16000, batch_size=64, head_hidden=50, classifier_lr=3e-3,
                       lm_drop_mult=0.0, test_fraction=0.0, baseline=False)
# The from-scratch baseline: recipes/sentiment.py's BiLSTM (the classifier's recipe preset
# for the bundled reviews) on the finetune run's own splits, given more epochs and patience
# for a few hundred examples.
SCRATCH_DATA_KEYS = ("data", "val_fraction", "fit_to_size")  # the splits and sizing stay the run's
SCRATCH_CHANGES = dict(epochs=30, patience=5, schedule="constant", tokenizer="word", vocab_size=20000)
SHARED = {LabelledDataConfig: ("data", "val_data", "val_fraction", "test_data", "test_fraction", "text_column",
                               "label_column", "val_split", "test_split", "max_length", "keep_end"),
          DataConfig: ("tokenizer", "vocab_size"), LMHeadConfig: ("adaptive_cutoffs",),
          EncoderConfig: ("embed_dim", "hidden_size", "num_layers"),
          ClassifierHeadConfig: ("head_hidden",),
          TrainConfig: ("batch_size", "bptt", "unfreeze_warmup", "device", "precision", "seed"),
          RunOptions: ("out", "overwrite", "init_from", "quiet", "debug")}


@dataclass
class FinetuneConfig:
    """The settings of the three stages that no single training command has."""
    unlabeled_data: list = setting([str(SAMPLE_DATA / "tiny_play.txt"),
                                    str(SAMPLE_DATA / "sentiment_reviews.csv")], "text for pretraining: "
                                   ".txt, folder, table or Hub id; several are read one after "
                                   "another", nargs="+", metavar="SOURCE")
    pretrain_budget: float = setting(90.0, "seconds for stage 1", low=0, low_open=True, high=1e9)
    lm_budget: float = setting(45.0, "seconds for stage 2", low=0, low_open=True, high=1e9)
    classifier_budget: float = setting(60.0, "seconds for stage 3", low=0, low_open=True, high=1e9)
    # ULMFiT's BatchNorm + ReLU head (--head-hidden 50) makes the frozen-encoder epoch useful,
    # but at the 4e-3 peak it lets the gradient norm explode when the top recurrent layer is
    # unfrozen (3e-3 stays stable); README's Results compare the two.
    classifier_lr: float = setting(4e-3, "stage 3's peak learning rate", low=0, low_open=True, high=1)
    classifier_weight_drop: float = setting(0.0, "DropConnect on the classifier's hidden-to-hidden "
                                            "weights (ULMFiT: 0.25)", low=0, high=1, high_open=True)
    lm_drop_mult: float = setting(1.0, "scales the language models' dropouts (fastai's drop_mult; "
                                  "0: none, for a corpus read fewer than about two times)",
                                  low=0, high=MAX_DROP_MULT, high_open=True)
    # The classifier reuses the LM's tokenizer, so the LM reads text the way a classifier
    # should: lowercased, with IMDb-style <br /> markup read as a space.
    lowercase: bool = setting(True, "the tokenizer lowercases all text")
    strip_html: bool = setting(True, "the tokenizer reads <br /> markup as a space")
    skip_pretrain: bool = setting(False, "start from --init-from (and, with --both-directions, "
                                  "--backward-init-from)")
    both_directions: bool = setting(False, "run the three stages twice, reading forwards and "
                                    "backwards (train-lm --reverse), then average the two "
                                    "classifiers (ULMFiT's forward + backward ensemble)")
    backward_init_from: str | None = setting(None, "with --skip-pretrain --both-directions: the "
                                             "backward language model run to start from",
                                             metavar="LM_DIR")
    baseline: bool = setting(True, "also train a classifier from scratch on the same splits "
                             "(recipes/sentiment.py's BiLSTM) and compare their test accuracy")


@dataclass
class Direction:
    """The three stages that read text one way: forwards, or backwards (a backward language
    model, then a classifier that reads each text last token first)."""
    name: str
    pretrain: RunSettings | None  # None: the run starts from --init-from's language model
    task_lm: RunSettings
    classifier: RunSettings


@dataclass
class Stages:
    directions: list  # of Direction: forwards, then backwards with --both-directions
    scratch: RunSettings | None  # the from-scratch baseline, or None
    skip_pretrain: bool
    out: Path
    overwrite: bool  # replace the runs already in `out`

    @property
    def pretrain(self) -> RunSettings:
        return self.forward.pretrain

    @property
    def task_lm(self) -> RunSettings:
        return self.forward.task_lm

    @property
    def classifier(self) -> RunSettings:
        return self.forward.classifier

    @property
    def forward(self) -> Direction:
        return self.directions[0]

    def held_out(self, split: str):
        """The classifiers' labelled test (or validation) examples, as they were split."""
        data = load_splits(self.classifier.data, self.classifier.training.seed)
        return data.test if split == "test" else data.val

    def check(self) -> None:
        """Bad settings or labelled data fail now, not after an hour of pretraining."""
        every = [s for d in self.directions for s in (d.pretrain, d.task_lm, d.classifier)]
        for stage in (*every, self.scratch):
            if stage is not None:
                stage.check()
        if self.out.is_file() or (self.out.is_dir() and any(self.out.iterdir()) and not self.overwrite):
            raise ConfigError(f"{setting_name('out', self.out)} already holds files; pass "
                              f"{setting_name('overwrite', True)} to replace its runs, or choose "
                              "another folder")
        load_splits(self.classifier.data, self.classifier.training.seed)  # last: it takes longest


def parse_finetune(argv=None, description: str = "") -> Stages:
    parser = Parser(description=description)
    add_flags(parser, FinetuneConfig, "stages")
    for cls, names in SHARED.items():
        add_flags(parser, cls, cls.__name__, FINETUNE_DEFAULTS, only=names)
    given = vars(parser.parse_args(argv))
    if given.get("skip_pretrain") and not given.get("init_from"):
        parser.error("--skip-pretrain needs --init-from LM_DIR")
    if given.get("skip_pretrain") and given.get("both_directions") and not given.get("backward_init_from"):
        parser.error("--skip-pretrain --both-directions needs --backward-init-from LM_DIR (a "
                     "language model trained with train-lm --reverse)")
    corpus = dict(FINETUNE_CORPUS, unlabeled_data=[given["data"]]) if "data" in given else {}
    try:
        return stages({**FINETUNE_DEFAULTS, **corpus, "out": timestamped("finetune"), **given})
    except ConfigError as exc:
        parser.error(exc.for_command_line())


def stages(values: dict) -> Stages:
    """The settings of the three stages, each a whole run's, from one set of flag values."""
    cfg = check(resolve(FinetuneConfig, values))
    out = Path(values["out"])
    directions = [direction("forward", values, cfg, out, False)]
    if cfg.both_directions:
        directions.append(direction("backward", values, cfg, out / "backward", True))
    preset = {k: v for k, v in get_task("classifier").recipe_preset({}).items()
              if k not in SCRATCH_DATA_KEYS}
    scratch = settings_from("classifier", {**values, **EACH_STAGE, **preset, **SCRATCH_CHANGES,
                                           "init_from": None,
                                           "out": str(out / "scratch")}) if cfg.baseline else None
    return Stages(directions, scratch, cfg.skip_pretrain, out, bool(values.get("overwrite")))


EACH_STAGE = dict(eval_every=200, save_every=200, overwrite=True)  # each in its own sub-folder


def direction(name: str, values: dict, cfg: FinetuneConfig, out: Path, reverse: bool) -> Direction:
    """The three stages reading one way, their run folders under `out`."""
    # The language models never score --test-data: it is the classifier's labelled test
    # set, and each of stages 1 and 2 would read it (IMDb's: 32 M characters) as one stream
    # for a perplexity the recipe does not use.
    lm_settings = dict(cell="lstm", tie_weights=values["embed_dim"] == values["hidden_size"],
                       reverse=reverse, test_data=None,
                       **{k: p * cfg.lm_drop_mult for k, p in LM_DROPOUTS.items()})
    start = cfg.backward_init_from if reverse else values.get("init_from")
    pretrain = None if cfg.skip_pretrain else settings_from("lm", {
        **values, **lm_settings, **EACH_STAGE, "init_from": None, "lr": 3e-3, "data": cfg.unlabeled_data,
        "lowercase": cfg.lowercase, "strip_html": cfg.strip_html, "val_fraction": LM_VAL_FRACTION,
        "time_budget": cfg.pretrain_budget, "out": str(out / "lm")})
    # Stage 2 reads the task's own text (labels unused), growing the vocabulary for the
    # task's words, with discriminative rates and the slanted triangular schedule.
    task_lm = settings_from("lm", {**values, **lm_settings, **EACH_STAGE, "lr": 2e-3, "schedule": "stlr",
                                   "tokenizer": None,  # the pretrained LM's, whatever its kind
                                   "discriminative_lr": 2.6, "extend_vocab": True, "init_from": start,
                                   "val_fraction": LM_VAL_FRACTION, "time_budget": cfg.lm_budget,
                                   "out": str(out / "lm_task")})
    # Stage 3: the fine-tuned encoder, concat pooling, gradual unfreezing. Its own data
    # settings (eval-data, max-length, ...) come with `values`; its tokenizer is the LM's,
    # and a backward LM's classifier reads backwards as the LM did.
    classifier = settings_from("classifier", {
        **values, **EACH_STAGE, "tokenizer": None, "pooling": "concat", "dropout": 0.3,
        "bidirectional": False, "weight_drop": cfg.classifier_weight_drop, "lr": cfg.classifier_lr,
        "schedule": "stlr", "discriminative_lr": 2.6, "gradual_unfreezing": True,
        "weight_decay": 0.0, "time_budget": cfg.classifier_budget, "out": str(out / "classifier")})
    return Direction(name, pretrain, task_lm, classifier)
