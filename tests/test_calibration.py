"""Calibrated probabilities, forward and backward classifiers, and their ensemble."""
import json
from dataclasses import replace

import pytest
import torch

import textrnn
from textrnn import ConfigError, build_model, cli, train_tokenizer
from textrnn.calibration import (brier_score, calibration_metrics, expected_calibration_error,
                                 fit_temperature, nll, with_temperature)
from textrnn.data import collate
from textrnn.tasks import config_from_dict
from textrnn.tasks.classify import Classifier
from textrnn.transfer import classifier_from_lm

from conftest import model_config, save_play_lm


def config(task, head=None, **encoder):
    """A ModelConfig in today's layout (encoder and head apart)."""
    return config_from_dict({"task": task, "encoder": encoder, "head": head or {}})


# ---- the measures, by hand ------------------------------------------------------------------
def test_ece_and_brier_match_hand_computed_values():
    proba = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    y = torch.tensor([0, 1, 1, 1])
    # bins of width 1/15: 0.9 -> (0.867, 0.933], 0.8 -> (0.733, 0.8], 0.7 -> (0.667, 0.733],
    # 0.6 -> (0.533, 0.6]; one example each, so each bin's gap is |right - confidence|
    ece = (abs(1 - 0.9) + abs(0 - 0.8) + abs(1 - 0.7) + abs(1 - 0.6)) / 4
    assert expected_calibration_error(proba, y) == pytest.approx(ece)
    brier = (2 * 0.1 ** 2 + 2 * 0.8 ** 2 + 2 * 0.3 ** 2 + 2 * 0.4 ** 2) / 4
    assert brier_score(proba, y) == pytest.approx(brier)
    # two examples in one bin: the gap of their mean, not the mean of their gaps
    same_bin = torch.tensor([[0.95, 0.05], [0.95, 0.05]])
    assert expected_calibration_error(same_bin, torch.tensor([0, 1])) == pytest.approx(abs(0.5 - 0.95))
    assert calibration_metrics(proba, y)["nll"] == pytest.approx(
        -(torch.log(torch.tensor([0.9, 0.2, 0.7, 0.6]))).mean().item())


def test_a_perfectly_calibrated_set_has_zero_ece():
    # in the 0.75 bin, three of four right
    proba = torch.tensor([[0.75, 0.25]] * 4)
    assert expected_calibration_error(proba, torch.tensor([0, 0, 0, 1])) == pytest.approx(0.0)


def test_temperature_scaling_mends_an_overconfident_model_without_changing_a_prediction():
    g = torch.Generator().manual_seed(0)
    n, c = 2000, 4
    y = torch.randint(0, c, (n,), generator=g)
    # a model right 70% of the time that says so with ~99% confidence: logits far too large
    pred = torch.where(torch.rand(n, generator=g) < 0.7, y, torch.randint(0, c, (n,), generator=g))
    logits = torch.randn(n, c, generator=g) + 6.0 * torch.nn.functional.one_hot(pred, c)
    logp = torch.log_softmax(logits * 3, -1)
    t = fit_temperature(logp, y)
    assert t > 1.5  # softened
    assert nll(logp / t, y) < nll(logp, y) - 0.5
    assert torch.equal(with_temperature(logp, t).argmax(-1), logp.argmax(-1))
    before, after = (expected_calibration_error(with_temperature(logp, x), y) for x in (1.0, t))
    assert after < before / 3
    # the fitted T is the NLL's minimum: a step either way is worse
    assert nll(logp / t, y) <= min(nll(logp / (t * 1.05), y), nll(logp / (t / 1.05), y))


# ---- a backward classifier -------------------------------------------------------------------
def test_a_backward_lm_gives_a_classifier_that_reads_each_text_backwards():
    torch.manual_seed(0)
    lm = build_model(replace(config("lm", {"reverse": True}, embed_dim=16, hidden_size=16,
                                    num_layers=2, dropout=0.0), vocab_size=30)).eval()
    clf = classifier_from_lm(lm, model_config("classifier", pooling="concat", dropout=0.0),
                             ["neg", "pos"]).eval()
    assert clf.cfg.head.reverse
    forward = build_model(replace(clf.cfg, head=replace(clf.cfg.head, reverse=False))).eval()
    forward.load_state_dict(clf.state_dict())  # the same weights, reading forwards
    seqs = [[5, 6, 7], [3, 4, 5, 6, 7, 8, 9], [2, 9]]
    ids, lengths = collate(seqs)
    together = clf(ids, lengths)
    for i, s in enumerate(seqs):
        # in a padded batch, the classifier equals its forward twin given the reversed text
        torch.testing.assert_close(together[i], forward(torch.tensor([s[::-1]]), torch.tensor([len(s)]))[0],
                                   atol=1e-5, rtol=1e-4)
    # right after initialisation the encoder is the LM's, reading the reversed ids
    alone = torch.tensor([seqs[1]])
    torch.testing.assert_close(clf.encoder(alone.flip(1))[0], lm.encoder(alone.flip(1))[0], rtol=0, atol=0)


# ---- the ensemble ----------------------------------------------------------------------------
TEXTS = ["a great film", "a dull film", "i loved it", "boring and long"]


def classifier(seed, labels=("neg", "pos"), tokenizer=None, temperature=1.0):
    tok = tokenizer or train_tokenizer("word", TEXTS * 3, 50)
    torch.manual_seed(seed)
    cfg = config("classifier", {"labels": list(labels), "temperature": temperature}, embed_dim=8,
                 hidden_size=8, num_layers=1, dropout=0.0)
    return Classifier(build_model(replace(cfg, vocab_size=tok.get_vocab_size())).eval(), tok)


def test_the_ensembles_probabilities_are_the_mean_of_its_members():
    a, b = classifier(0, temperature=1.7), classifier(1)
    both = a.ensemble(b)
    mean = (a.predict_proba(TEXTS) + b.predict_proba(TEXTS)) / 2
    assert both.predict_proba(TEXTS) == pytest.approx(mean, abs=1e-6)
    raw = (a.predict_proba(TEXTS, calibrated=False) + b.predict_proba(TEXTS, calibrated=False)) / 2
    assert both.predict_proba(TEXTS, calibrated=False) == pytest.approx(raw, abs=1e-6)
    assert not a.predict_proba(TEXTS) == pytest.approx(a.predict_proba(TEXTS, calibrated=False), abs=1e-3)
    assert both.predict(TEXTS) == [both.labels[i] for i in mean.argmax(-1)]


def test_an_ensemble_of_other_labels_or_another_tokenizer_is_refused_in_one_line():
    a = classifier(0)
    with pytest.raises(ConfigError, match="labels") as err:
        a.ensemble(classifier(1, labels=("bad", "good")))
    assert "\n" not in str(err.value)
    other_tok = train_tokenizer("word", ["entirely different words here"] * 3, 50)
    with pytest.raises(ConfigError, match="another tokenizer"):
        a.ensemble(classifier(1, tokenizer=other_tok))


# ---- end to end: a run calibrates, evaluate and predict say so --------------------------------
@pytest.fixture
def clf_run(tmp_path, reviews):
    args = ["train-classifier", "--data", reviews, "--val-fraction", "0.25", "--embed-dim", "16",
            "--hidden-size", "16", "--epochs", "6", "--batch-size", "8", "--lr", "1e-2",
            "--no-fit-to-size", "--quiet", "--seed", "0", "--out", tmp_path / "clf"]
    cli.main(list(map(str, args)))
    return tmp_path / "clf"


def test_a_trained_classifier_keeps_its_fitted_temperature_and_reports_calibration(clf_run):
    metrics = json.loads((clf_run / "metrics.json").read_text())
    config = json.loads((clf_run / "config.json").read_text())
    cal = metrics["calibration"]
    assert config["head"]["temperature"] == cal["temperature"] != 1.0
    assert cal["val"]["after"]["nll"] <= cal["val"]["before"]["nll"]
    assert {"ece", "brier", "nll"} <= set(cal["val"]["before"])
    assert (clf_run / "reliability_val.png").stat().st_size > 0
    clf = textrnn.load(clf_run)
    assert clf.temperature == cal["temperature"]
    calibrated, raw = clf.predict_proba(TEXTS), clf.predict_proba(TEXTS, calibrated=False)
    assert (calibrated.argmax(-1) == raw.argmax(-1)).all()
    assert calibrated == pytest.approx(with_temperature(torch.log(torch.tensor(raw)), clf.temperature).numpy(),
                                       abs=1e-5)


def test_evaluate_and_predict_take_an_ensemble_and_raw_probabilities(clf_run, tmp_path, reviews, capsys):
    plot = tmp_path / "reliability.png"
    cli.main(["evaluate", str(clf_run), "--data", str(reviews), "--json", "--reliability-plot", str(plot)])
    alone = json.loads(capsys.readouterr().out)
    assert {"ece", "brier", "loss", "accuracy"} <= set(alone) and alone["calibrated"]
    assert plot.stat().st_size > 0
    # an ensemble of a run with itself: the same probabilities, so the same scores
    cli.main(["evaluate", str(clf_run), "--data", str(reviews), "--json", "--ensemble", str(clf_run),
              "--reliability-plot", ""])
    pair = json.loads(capsys.readouterr().out)
    assert pair["accuracy"] == alone["accuracy"] and pair["loss"] == pytest.approx(alone["loss"], rel=1e-6)
    cli.main(["predict", str(clf_run), "i loved it", "--json", "--no-temperature"])
    raw = json.loads(capsys.readouterr().out)
    assert raw["probabilities"]["positive"] == pytest.approx(
        float(textrnn.load(clf_run).predict_proba(["i loved it"], calibrated=False)[0, 1]), abs=1e-6)


def test_an_ensemble_with_a_run_of_another_task_is_one_line(clf_run, tmp_path, capsys):
    lm = save_play_lm(tmp_path / "lm")
    with pytest.raises(SystemExit) as exc:
        cli.main(["predict", str(clf_run), "i loved it", "--ensemble", str(lm)])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a classifier" in err[0]


def test_no_calibrate_keeps_raw_probabilities(tmp_path, reviews):
    args = ["train-classifier", "--data", reviews, "--val-fraction", "0.25", "--embed-dim", "8",
            "--hidden-size", "8", "--epochs", "1", "--batch-size", "8", "--no-fit-to-size", "--quiet",
            "--no-calibrate", "--out", tmp_path / "raw"]
    cli.main(list(map(str, args)))
    assert textrnn.load(tmp_path / "raw").temperature == 1.0
    cal = json.loads((tmp_path / "raw" / "metrics.json").read_text())["calibration"]
    assert cal["temperature"] == 1.0 and cal["val"]["before"] == cal["val"]["after"]


# ---- the finetune recipe's directions and real-corpus preset --------------------------------
def test_both_directions_add_a_backward_pipeline_and_data_switches_to_the_corpus_preset(tmp_path):
    from textrnn.stages import FINETUNE_CORPUS, parse_finetune

    one = parse_finetune(["--out", str(tmp_path / "a")])
    assert [d.name for d in one.directions] == ["forward"] and one.scratch is not None
    assert one.pretrain.training.time_budget == 90.0  # the bundled samples' preset
    both = parse_finetune(["--both-directions", "--out", str(tmp_path / "b")])
    fwd, bwd = both.directions
    assert not fwd.pretrain.model.head.reverse and bwd.pretrain.model.head.reverse
    assert bwd.task_lm.model.head.reverse
    assert bwd.classifier.run.out == str(tmp_path / "b" / "backward" / "classifier")
    real = parse_finetune(["--data", "train.parquet", "--out", str(tmp_path / "c")])
    assert real.pretrain.training.time_budget == FINETUNE_CORPUS["pretrain_budget"]
    assert real.pretrain.data.data == ["train.parquet"] and real.scratch is None
    assert real.classifier.model.head.head_hidden == 50
    tested = parse_finetune(["--data", "t.csv", "--test-data", "test.csv", "--out", str(tmp_path / "e")])
    assert tested.classifier.data.test_data == "test.csv"  # only the classifier reads the test set
    assert tested.pretrain.data.test_data is None and tested.task_lm.data.test_data is None
    typed = parse_finetune(["--data", "t.csv", "--pretrain-budget", "60", "--out", str(tmp_path / "d")])
    assert typed.pretrain.training.time_budget == 60.0


def test_skipping_pretraining_both_ways_needs_a_backward_model(capsys):
    from textrnn.stages import parse_finetune

    with pytest.raises(SystemExit):
        parse_finetune(["--skip-pretrain", "--init-from", "lm", "--both-directions"])
    assert "--backward-init-from" in capsys.readouterr().err
