"""Settings that fit a kind of data, by flag name. A run's settings are resolved once, in
order: each field's default, the command's defaults, the preset, then what the user typed."""
import time
from pathlib import Path

# Sample data for the recipes' default runs; present in a source checkout.
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "data"

# `textrnn train-classifier`: a word-level BiLSTM with max pooling, a strong sentence-
# classification baseline (Conneau et al. 2017 found max pooling over BiLSTM states the best
# of their encoders). Adam at a constant 1e-3 and an evaluation per epoch, the best epoch
# kept (these data overfit within a few epochs), stopping after 3 epochs without gain;
# clipping at a norm of 5 only guards against explosions (typical norms here are 0.5-3).
CLASSIFIER_COMMAND_DEFAULTS = dict(
    embed_dim=300, hidden_size=256, num_layers=1, bidirectional=True, pooling="max", dropout=0.5,
    lr=1e-3, batch_size=64, epochs=8, patience=3, eval_every=0, save_every=0, warmup_steps=0,
    weight_decay=0.0, schedule="constant", clip=5.0)

# The bundled play is ~65k characters: a mid-sized model, strong dropout, and a short
# time budget; the best validation checkpoint is kept, so overfitting late costs nothing.
LM_SAMPLE = dict(hidden_size=384, embed_dim=64, num_layers=2, dropout=0.3, batch_size=32,
                 bptt=128, lr=3e-3, warmup_steps=50, time_budget=100.0, eval_every=100,
                 save_every=200, precision="auto", data=str(SAMPLE_DATA / "tiny_play.txt"))

# A corpus of a megabyte or more (e.g. Tiny Shakespeare): a 2x768 LSTM sized so that a
# 15-minute budget on 2 modern CPU cores covers ~14 passes over 1 MB, bf16 autocast where
# the hardware has it, and a cosine schedule driven by wall time so the learning rate has
# decayed exactly when the budget ends.
LM_LARGE = dict(hidden_size=768, embed_dim=128, num_layers=2, dropout=0.3, batch_size=64,
                bptt=128, lr=3e-3, warmup_steps=200, time_budget=900.0, eval_every=250,
                save_every=250, precision="auto")

# `textrnn train-forecaster`: SegRNN as its code trains it on ETT at lookback 96 (Lin et
# al. 2023): one GRU layer of 512 over 24-row segments, dropout 0.5, each window centred on
# its last row and not rescaled, MSE, Adam at 1e-3 decayed x0.9 per epoch after the third,
# batch 256, 30 epochs, the best validation epoch kept, stopping after 10 without gain.
# (RevIN's mean and spread with MAE gave 0.371 on ETTh1 at horizon 96; this gives 0.364.)
FORECASTER_COMMAND_DEFAULTS = dict(
    cell="gru", hidden_size=512, num_layers=1, dropout=0.5, lr=1e-3, batch_size=256, epochs=30,
    patience=10, eval_every=0, save_every=0, warmup_steps=0, weight_decay=0.0,
    schedule="decay", clip=0.0, loss="mse", revin_last=True, revin_scale=False)

# Fewer training examples than SMALL_DATA (SST-2's 6,920 sentences, say): the BiLSTM above
# overfits them within four or five epochs while its validation accuracy, a point or two
# noisy per epoch, still climbs for several more, so 8 epochs and a patience of 3-6 stop it
# before its best. A narrower model (128 for 300 and 256), whole words dropped from the
# embedding (Gal & Ghahramani 2016), words seen once read as <unk> (an embedding learnt
# from one sentence is noise, and the model learns to read the words it never saw), and a
# run ended by patience rather than an epoch count.
# The commands and recipes apply these where the user typed no value (see `fit_to_size`).
SMALL_DATA = 20_000
CLASSIFIER_SMALL_DATA = dict(embed_dim=128, hidden_size=128, embed_dropout=0.2, min_frequency=2,
                             epochs=50, patience=10)


def fit_classifier_to_size(examples: int) -> dict:
    """The classifier settings for this many training examples (CLASSIFIER_SMALL_DATA below
    SMALL_DATA; none above)."""
    return dict(CLASSIFIER_SMALL_DATA) if examples < SMALL_DATA else {}


# 4,000 generated reviews (data/make_sentiment_reviews.py): a small BiLSTM, an evaluation
# per epoch, stopping after 3 without gain; the best validation epoch is kept. Its sizes
# are chosen for these data, so the small-data settings stay off.
CLASSIFIER_SAMPLE = dict(embed_dim=64, hidden_size=64, num_layers=1, bidirectional=True,
                         pooling="max", dropout=0.3, lr=3e-3, batch_size=32, epochs=20,
                         patience=3, eval_every=0, save_every=0, warmup_steps=20,
                         val_fraction=0.2, fit_to_size=False,
                         data=str(SAMPLE_DATA / "sentiment_reviews.csv"))

# A real corpus (SST-2, IMDb): the command's BiLSTM, stopping after six epochs without gain.
CLASSIFIER_LARGE = dict(CLASSIFIER_COMMAND_DEFAULTS, patience=6, precision="auto")

# --init-from LM_RUN: ULMFiT's fine-tuning (Howard & Ruder 2018): the LM's unidirectional
# encoder, concat pooling, discriminative learning rates (/2.6 per layer group down), a
# slanted triangular schedule and gradual unfreezing. Each can be switched off by its flag;
# --head-hidden 50 adds ULMFiT's BatchNorm + ReLU head (with --lr 3e-3: see finetune.py).
ULMFIT_CLASSIFIER = dict(bidirectional=False, pooling="concat", discriminative_lr=2.6,
                         gradual_unfreezing=True, schedule="stlr", lr=4e-3, dropout=0.3,
                         fit_to_size=False)


def lm_recipe(given: dict) -> dict:
    """recipes/generate.py: the bundled play, or a corpus of your own. A length the user
    gave (--epochs, --max-steps) replaces the preset's time budget."""
    preset = dict(LM_SAMPLE if "data" not in given else LM_LARGE, out=_timestamped("generate"))
    if ("epochs" in given or "max_steps" in given) and "time_budget" not in given:
        del preset["time_budget"]
    return preset


def classifier_recipe(given: dict) -> dict:
    """recipes/sentiment.py: the bundled reviews, or a real corpus; ULMFiT with --init-from."""
    preset = dict(CLASSIFIER_SAMPLE if "data" not in given else CLASSIFIER_LARGE,
                  out=_timestamped("sentiment"))
    return dict(preset, **ULMFIT_CLASSIFIER) if "init_from" in given else preset


# The founding document's Keras regressor on the bundled hourly series: SimpleRNN(50,
# return_sequences=True) -> SimpleRNN(50) -> Dense(1), Adam, mean squared error, batch 32;
# two days of lookback, the next hour out.
TIMESERIES_SAMPLE = dict(model="stacked", cell="rnn", hidden_size=50, num_layers=2, dropout=0.0,
                         revin=False, loss="mse", lookback=48, horizon=1, batch_size=32, lr=1e-3,
                         epochs=20, patience=0, schedule="constant", warmup_steps=0, clip=0.0,
                         weight_decay=0.0, eval_every=0, save_every=0, target=["load"],
                         data=str(SAMPLE_DATA / "hourly_load.csv"))


def timeseries_recipe(given: dict) -> dict:
    """recipes/timeseries.py: the founding document's model on the bundled series, or
    SegRNN (train-forecaster's defaults) on a series of your own."""
    preset = TIMESERIES_SAMPLE if "data" not in given else FORECASTER_COMMAND_DEFAULTS
    return dict(preset, out=_timestamped("timeseries"))


# The bundled dates (data/make_dates.py): dates in words to ISO digits, a character at a
# time; a small bidirectional GRU encoder and a GRU decoder with additive attention.
TRANSLATOR_SAMPLE = dict(tokenizer="char", cell="gru", embed_dim=64, hidden_size=128, num_layers=1,
                         decoder_size=256, dropout=0.1, label_smoothing=0.0, lr=3e-3, batch_size=64,
                         epochs=30, patience=3, eval_every=0, save_every=0, warmup_steps=0,
                         weight_decay=0.0, schedule="constant", clip=1.0, time_budget=240.0,
                         data=[str(SAMPLE_DATA / f"dates_train.{s}") for s in ("words", "iso")],
                         test_data=[str(SAMPLE_DATA / f"dates_test.{s}") for s in ("words", "iso")])


def translator_recipe(given: dict) -> dict:
    """recipes/translate.py: the bundled dates, or parallel text of your own."""
    from .tasks.translate import TRANSLATOR_COMMAND_DEFAULTS

    preset = TRANSLATOR_SAMPLE if "data" not in given else TRANSLATOR_COMMAND_DEFAULTS
    return dict(preset, out=_timestamped("translate"))


def _timestamped(name: str) -> str:
    return f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}"
