import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from textrnn import (ConfigError, DataError, LabelledDataConfig, TrainConfig, build_model, load,
                     prepare_run, settings_from, train)
from textrnn.checkpoint import load_training_state
from textrnn.tasks.classify import COMMAND_DEFAULTS as CLASSIFIER_COMMAND_DEFAULTS
from textrnn.tasks.classify import SMALL_DATA, SMALL_DATA_SETTINGS as CLASSIFIER_SMALL_DATA
from textrnn.tasks.classify import fit_classifier_to_size
from textrnn.tokenization import UNK_ID, encode
from textrnn.data import Labelled, bucketed_batches, collate, label_ids, label_names, load_labelled

from conftest import NEG, POS, make_hub_layout, model_config, write_csv

def tiny_classifier(labels=("neg", "pos"), cell="lstm", bidirectional=True, pooling="max", **kw):
    cfg = model_config("classifier", vocab_size=30, cell=cell, embed_dim=8, hidden_size=12,
                      num_layers=2, bidirectional=bidirectional, pooling=pooling, dropout=0.0,
                      labels=list(labels), **kw)
    return build_model(cfg).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "elman"])
@pytest.mark.parametrize("pooling,bidirectional", [("last", False), ("last", True), ("mean", True),
                                                   ("max", True), ("concat", True),
                                                   ("attention", False)])
def test_padding_does_not_change_a_prediction(cell, pooling, bidirectional):
    model = tiny_classifier(cell=cell, pooling=pooling, bidirectional=bidirectional)
    seqs = [[5, 6, 7], [3, 4, 5, 6, 7, 8, 9, 10, 11], [2, 9]]
    batch_ids, batch_len = collate(seqs)
    together = model(batch_ids, batch_len)
    for i, s in enumerate(seqs):
        alone = model(torch.tensor([s]), torch.tensor([len(s)]))
        torch.testing.assert_close(together[i], alone[0], atol=1e-5, rtol=1e-4)


def test_padding_does_not_change_a_crnn_prediction():
    model = tiny_classifier(conv_kernel=3)
    seqs = [[5, 6, 7, 8], [3, 4, 5, 6, 7, 8, 9, 10, 11]]
    ids, lengths = collate(seqs)
    torch.testing.assert_close(model(ids, lengths)[0], model(torch.tensor([seqs[0]]), torch.tensor([4]))[0],
                               atol=1e-5, rtol=1e-4)


def test_bucketing_keeps_every_example_exactly_once_per_epoch():
    rng = random.Random(1)
    lengths = [rng.randint(1, 50) for _ in range(1003)]
    for seed in (0, 1):
        batches = bucketed_batches(lengths, 16, seed)
        assert sorted(i for b in batches for i in b) == list(range(1003))
        assert all(len(b) <= 16 for b in batches)
    assert bucketed_batches(lengths, 16, 0) == bucketed_batches(lengths, 16, 0)
    assert bucketed_batches(lengths, 16, 0) != bucketed_batches(lengths, 16, 1)


def test_bucketing_reduces_padding():
    rng = random.Random(2)
    lengths = [rng.randint(1, 400) for _ in range(2000)]
    padded = lambda batches: sum(len(b) * max(lengths[i] for i in b) for b in batches)
    shuffled = list(range(2000))
    random.Random(0).shuffle(shuffled)
    plain = [shuffled[i:i + 32] for i in range(0, 2000, 32)]
    assert padded(bucketed_batches(lengths, 32, 0)) < 0.6 * padded(plain)


def fit(tmp_path, data, name="run", epochs=30, every=10, dropout=0.0, **data_kw):
    data_cfg = LabelledDataConfig(data=str(data), val_fraction=0.25, **data_kw)
    model_cfg = model_config("classifier", embed_dim=16, hidden_size=16, num_layers=1,
                             bidirectional=True, pooling="max", dropout=dropout)
    train_cfg = TrainConfig(batch_size=8, lr=1e-2, epochs=epochs, eval_every=every, save_every=every,
                            warmup_steps=0, device="cpu", seed=0)
    return train("classifier", data_cfg, model_cfg, train_cfg, tmp_path / name, show_progress=False)


def test_every_zero_evaluates_and_saves_at_each_epoch_end(tmp_path, reviews):
    fit(tmp_path, reviews, epochs=3, every=0)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in log if "val" in r]
    batches = 5  # 48 rows, a quarter held out: 36 in batches of 8
    assert steps[:3] == [batches, 2 * batches, 3 * batches]
    state = load_training_state(tmp_path / "run")
    assert (state["step"], state["epoch"]) == (3 * batches, 3)


def test_classifier_learns_a_small_set_and_string_labels_round_trip(tmp_path, reviews):
    result = fit(tmp_path, reviews, test_data=str(reviews))
    assert result["test"]["accuracy"] >= 0.95  # the training rows themselves: it must fit them
    clf = load(result["run_dir"])
    assert clf.labels == ["negative", "positive"]
    assert clf.predict(["i loved it", "i hated it"]) == ["positive", "negative"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"val", "test"} <= set(metrics) and "roc_auc" in metrics["test"]
    assert (tmp_path / "run" / "confusion_test.png").exists()


@pytest.mark.parametrize("keep_end,kept", [(True, "▁loved ▁it"), (False, "▁i ▁loved")])
def test_a_long_text_keeps_its_end_unless_told_otherwise(tmp_path, reviews, keep_end, kept):
    result = fit(tmp_path, reviews, epochs=1, max_length=2, keep_end=keep_end)
    assert " ".join(load(result["run_dir"]).tokenizer.encode("i loved it").tokens) == kept


def test_integer_labels_and_three_classes(tmp_path):
    rows = [(t, 2) for t in POS] + [(t, 0) for t in NEG] + [(f"it was {w} ok", 1) for w in
                                                            ["quite", "just", "sort of", "fairly", "mostly", "kind of", "somewhat", "so so"]]
    path = write_csv(tmp_path / "three.csv", rows * 3)
    result = fit(tmp_path, path, epochs=3)
    clf = load(result["run_dir"])
    assert clf.labels == ["0", "1", "2"]
    assert clf.predict_proba(["great film", "dull film"]).shape == (2, 3)
    assert set(clf.evaluate(path)) >= {"accuracy", "macro_f1"}


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet", "folders", "hub"])
def test_each_labelled_format_loads(tmp_path, fmt):
    rows = [("good film", "pos"), ("bad film", "neg")]
    if fmt == "csv":
        path = write_csv(tmp_path / "d.csv", rows)
    elif fmt == "tsv":
        path = tmp_path / "d.tsv"
        path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    elif fmt == "jsonl":
        path = tmp_path / "d.jsonl"
        path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    elif fmt == "parquet":
        path = tmp_path / "d.parquet"
        pq.write_table(pa.table({"review": [t for t, _ in rows], "sentiment": [y for _, y in rows]}), path)
    elif fmt == "folders":
        path = tmp_path / "d"
        for i, (t, y) in enumerate(rows):
            (path / y).mkdir(parents=True)
            (path / y / f"{i}.txt").write_text(t)
    else:
        path = tmp_path / "hub"
        make_hub_layout(path)
        data = load_labelled(path, "content", "label", split="test")
        assert data.texts == ["held out"] and data.labels == [0]
        return
    data = load_labelled(path)
    assert sorted(zip(data.texts, data.labels)) == sorted(rows)
    assert label_names(data) == ["neg", "pos"]


def test_missing_label_column_lists_columns(tmp_path):
    path = write_csv(tmp_path / "d.csv", [("good", "x")], header="text,stars")
    with pytest.raises(DataError, match="columns found: text, stars"):
        load_labelled(path, label_column="label")


@pytest.mark.parametrize("rows,match", [([("good film", "pos")] * 5, "single class"),
                                        ([("good film", "pos"), ("", "neg")], "empty")])
def test_unusable_training_data_is_refused(tmp_path, rows, match):
    path = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(DataError, match=match):
        fit(tmp_path, path, epochs=1)


def test_file_with_no_rows_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n")
    with pytest.raises(DataError):
        load_labelled(path)


def test_eval_label_the_model_never_saw_is_refused(tmp_path, reviews):
    result = fit(tmp_path, reviews, epochs=1)
    other = write_csv(tmp_path / "other.csv", [("fine", "neutral"), ("good", "positive")])
    with pytest.raises(DataError, match="never saw"):
        load(result["run_dir"]).evaluate(other)


def test_resume_finishes_with_the_same_weights(tmp_path, reviews):
    from test_training import interrupt_at
    from textrnn.checkpoint import load_training_state
    from textrnn.training import run

    fit(tmp_path, reviews, name="a", epochs=2, dropout=0.3)  # dropout: the RNG must be restored too
    original = run.Trainer

    class Interrupted(original):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            interrupt_at(self, 5)
    run.Trainer = Interrupted
    try:
        assert fit(tmp_path, reviews, name="b", epochs=2, dropout=0.3)["status"] == "interrupted"
    finally:
        run.Trainer = original
    data_cfg = LabelledDataConfig(data=str(reviews), val_fraction=0.25)
    model_cfg = model_config("classifier", embed_dim=16, hidden_size=16, num_layers=1,
                             bidirectional=True, pooling="max", dropout=0.3)
    train_cfg = TrainConfig(batch_size=8, lr=1e-2, epochs=2, eval_every=10, save_every=10,
                            warmup_steps=0, device="cpu", seed=0)
    train("classifier", data_cfg, model_cfg, train_cfg, tmp_path / "b", resume=True, show_progress=False)
    a, b = load_training_state(tmp_path / "a")["model"], load_training_state(tmp_path / "b")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_predicting_an_empty_text_is_refused(tmp_path, reviews):
    clf = load(fit(tmp_path, reviews, epochs=1)["run_dir"])
    with pytest.raises(DataError, match="empty"):
        clf.predict(["fine", "  "])


def test_bidirectional_language_model_is_refused():
    with pytest.raises(ConfigError):
        build_model(model_config(vocab_size=10, bidirectional=True))


def make_hub_classlabel_layout(root, test_labels=(-1, -1)):
    """A Hub-layout folder whose label column is a ClassLabel (declared in the card, as
    GLUE's are), with a test split marked unlabelled by -1, as the Hub's SST-2 test is."""
    (root / "data").mkdir(parents=True)
    pq.write_table(pa.table({"sentence": ["great fun", "dull film", "loved it"], "label": [1, 0, 1]}),
                   root / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.table({"sentence": ["a film", "a story"][:len(test_labels)], "label": list(test_labels)}),
                   root / "data" / "test-00000-of-00001.parquet")
    (root / "README.md").write_text(
        "---\ndataset_info:\n  features:\n  - name: sentence\n    dtype: string\n  - name: label\n"
        "    dtype:\n      class_label:\n        names:\n          '0': negative\n          '1': positive\n"
        "configs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n"
        "  - split: test\n    path: data/test-*\n---\n")
    return root


def test_a_hub_split_without_labels_is_refused_by_name(tmp_path):
    hub = make_hub_classlabel_layout(tmp_path / "sst2")
    assert load_labelled(hub, split="train").labels == [1, 0, 1]
    with pytest.raises(DataError, match=r"sst2: row 1 .*this split has no labels \(-1\); pass a labelled"):
        load_labelled(hub, split="test")
    with pytest.raises(DataError, match=r"mixed: row 2 has no label \(-1\)"):
        load_labelled(make_hub_classlabel_layout(tmp_path / "mixed", (1, -1)), split="test")


@pytest.mark.parametrize("names", [["negative", "positive"], ["positive", "negative"]])
def test_a_minus_one_class_label_never_becomes_a_class_id(names):
    # Neither id -1 (a crash later) nor, through negative indexing, the last class.
    data = Labelled(["a film", "a story"], [1, -1], ["negative", "positive"])
    with pytest.raises(DataError, match=r"held-out: row 2 has no label \(-1\)"):
        label_ids(data, names, "held-out")


def test_evaluating_an_unlabelled_hub_split_is_refused(tmp_path, reviews):
    clf = load(fit(tmp_path, reviews, epochs=1)["run_dir"])  # knows negative, positive
    hub = make_hub_classlabel_layout(tmp_path / "sst2")
    with pytest.raises(DataError, match=r"no labels \(-1\)"):
        clf.evaluate(hub, split="test")


def test_a_csv_whose_labels_are_all_minus_one_is_refused(tmp_path):
    path = write_csv(tmp_path / "test.csv", [("a film", -1), ("a story", -1)])
    with pytest.raises(DataError, match=r"test.csv: row 1 .*this split has no labels \(-1\)"):
        load_labelled(path)
    # Where -1 sits beside other values it is a class of its own (-1/+1 data).
    signed = load_labelled(write_csv(tmp_path / "signed.csv", [("bad", -1), ("good", 1)]))
    assert label_names(signed) == ["-1", "1"]


# ---- settings fitted to the data's size -------------------------------------------------
def prepared(reviews, tmp_path, *typed, name="r"):
    """A classifier run prepared as `textrnn train-classifier` prepares it, `typed` the flags."""
    given = dict(data=str(reviews), out=str(tmp_path / name), quiet=True)
    flags = iter(typed)
    for flag, value in zip(flags, flags):
        given[flag.lstrip("-").replace("-", "_")] = value
    run = settings_from("classifier", given, CLASSIFIER_COMMAND_DEFAULTS).prepare()
    run.lock.release()
    return run


def test_a_small_set_gets_the_small_data_settings_except_those_typed(tmp_path):
    rows = [(t, "pos") for t in POS] + [(t, "neg") for t in NEG]
    rows = rows * 2 + [("a uniquely dull tale", "neg")]
    train_file = write_csv(tmp_path / "train.csv", rows)
    val_file = write_csv(tmp_path / "val.csv", rows[:len(POS) + len(NEG)])
    run = prepared(train_file, tmp_path, "--hidden-size", 12, "--patience", 4, "--val-data", val_file)
    enc = run.model.cfg.encoder
    assert (enc.hidden_size, run.train_cfg.patience) == (12, 4)  # typed: kept
    small = CLASSIFIER_SMALL_DATA
    assert (enc.embed_dropout, run.train_cfg.lr) == (small["embed_dropout"], small["lr"])
    assert run.train_cfg.epochs == small["epochs"] and run.data_cfg.min_frequency == 2
    # A word the training texts hold once reads as <unk>; one they hold twice has its id.
    unique, twice = encode(run.tokenizer, "uniquely moving")
    assert unique == UNK_ID and twice != UNK_ID


def test_the_size_rule_can_be_switched_off_and_leaves_large_sets_and_the_python_api_alone(tmp_path, reviews):
    off = prepared(reviews, tmp_path, "--fit-to-size", False, name="off")  # --no-fit-to-size
    assert off.model.cfg.encoder.embed_dim == CLASSIFIER_COMMAND_DEFAULTS["embed_dim"]
    assert off.train_cfg.epochs == CLASSIFIER_COMMAND_DEFAULTS["epochs"]
    assert fit_classifier_to_size(SMALL_DATA) == {} and fit_classifier_to_size(SMALL_DATA - 1)
    api = prepare_run("classifier", LabelledDataConfig(data=str(reviews)),
                      model_config("classifier", embed_dim=20, hidden_size=8),
                      TrainConfig(epochs=2), tmp_path / "api")  # no typed flags: all as given
    api.lock.release()
    assert api.model.cfg.encoder.embed_dim == 20 and api.train_cfg.epochs == 2


# ---- what a user sees: explanation spans, a byte-order mark, many classes ---------------------------
def test_explanation_spans_point_at_visible_text_not_stripped_markup():
    from conftest import CLASSIFIER_RUN
    from textrnn.tasks.explain import contributions

    clf = load(CLASSIFIER_RUN)  # its tokenizer reads <br /> as a space
    text = "a dull<br />nasty film <br /><br/> i hated it<br>"
    tokens = contributions(clf, text, max_tokens=40)["tokens"]
    words = [t["text"].strip() for t in tokens if t["text"].strip()]  # a word's span may hold its space
    assert words == ["a", "dull", "nasty", "film", "i", "hated", "it"]
    for t in tokens:
        assert t["text"] == text[t["start"]:t["end"]] and "<" not in t["text"] and ">" not in t["text"]


def test_a_byte_order_mark_at_the_start_of_an_input_file_changes_no_prediction(tmp_path, capsys):
    from conftest import CLASSIFIER_RUN
    from textrnn import cli

    (tmp_path / "plain.txt").write_text("i hated it\na great film\n", encoding="utf-8")
    (tmp_path / "excel.txt").write_text("i hated it\na great film\n", encoding="utf-8-sig")
    outputs = []
    for name in ("plain.txt", "excel.txt"):
        cli.main(["predict", str(CLASSIFIER_RUN), "--input", str(tmp_path / name), "--json"])
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and "\ufeff" not in outputs[1]


def many_classes(tmp_path, n=35):
    """A table of `n` classes, each a word of its own."""
    rows = [(f"w{i} w{i} film", f"c{i}") for i in range(n)] * 6
    return write_csv(tmp_path / "many.csv", rows)


def test_the_confusion_plot_of_many_classes_draws_the_most_confused_only(tmp_path, monkeypatch):
    from textrnn import plots

    drawn = []
    monkeypatch.setattr(plots, "_draw_heatmap", lambda matrix, names, *a: drawn.append(len(names)))
    matrix = [[5 if i == j else 0 for j in range(150)] for i in range(150)]
    for k in range(40):  # 40 classes confused with their neighbour, the rest never
        matrix[k][k + 1] = 1 + k % 3
    plots.plot_confusion_matrix(matrix, [f"c{i}" for i in range(150)], tmp_path / "c.png")
    assert drawn == [plots.MOST_CLASSES]
    keep = plots.confused_classes(matrix)
    assert len(keep) == plots.MOST_CLASSES and set(keep) <= set(range(41))


def test_metrics_are_written_before_plots_and_a_failing_plot_ends_nothing(tmp_path, monkeypatch, caplog):
    from textrnn.training import checkpointer

    def out_of_memory(*args, **kwargs):
        raise MemoryError("a 150-class heatmap")

    monkeypatch.setattr(checkpointer, "plot_confusion_matrix", out_of_memory)
    result = train("classifier", LabelledDataConfig(data=str(many_classes(tmp_path)), val_fraction=0.25),
                   model_config("classifier", embed_dim=8, hidden_size=8),
                   TrainConfig(epochs=1, batch_size=16, eval_every=0, save_every=0, seed=0),
                   tmp_path / "run", show_progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert result["status"] == "done" and len(metrics["val"]["confusion_matrix"]) == 35
    assert "confusion_val.png" in caplog.text and not (tmp_path / "run" / "confusion_val.png").exists()
