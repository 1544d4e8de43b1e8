"""End to end: the recipe and the `textrnn` command as a user runs them, on tiny settings."""
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from textrnn import load

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--hidden-size", "32", "--embed-dim", "16", "--batch-size", "8", "--bptt", "32",
        "--eval-every", "10", "--save-every", "10", "--precision", "fp32", "--quiet"]


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def textrnn(*args):
    return run("-m", "textrnn", *args)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "play"
    res = run("recipes/generate.py", "--out", out, "--max-steps", "20", "--length", "40",
              "--num-samples", "2", "--prompt", "ZOE:", *TINY)
    assert res.returncode == 0, res.stderr
    return out, res


def test_recipe_trains_saves_and_prints_samples(trained):
    out, res = trained
    assert "validation:" in res.stdout and res.stdout.count("----- sample") == 2
    assert {"config.json", "model.safetensors", "tokenizer.json", "training_state.pt",
            "metrics.json", "log.jsonl", "loss.png"} <= {p.name for p in out.iterdir()}


def test_sample_command_is_reproducible_with_a_seed(trained):
    out, _ = trained
    args = ["sample", out, "--prompt", "ZOE:", "--length", "60", "--seed", "1", "--top-k", "40",
            "--top-p", "0.95", "--temperature", "0.8"]
    a, b = textrnn(*args), textrnn(*args)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout.startswith("ZOE:") and len(a.stdout) > 40


@pytest.mark.parametrize("weights", ["bf16", "int8"])
def test_sample_command_samples_with_smaller_weights(trained, weights):
    out, _ = trained
    args = ["sample", out, "--prompt", "ZOE:", "--length", "40", "--seed", "1", "--weights", weights]
    a, b = textrnn(*args), textrnn(*args)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout.startswith("ZOE:") and len(a.stdout) > 40


def test_sample_command_batches_and_stops(trained):
    out, _ = trained
    res = textrnn("sample", out, "--length", "80", "--seed", "2", "--num-samples", "3",
                  "--stop", "\n\n")
    assert res.returncode == 0, res.stderr
    samples = res.stdout.split("----- sample ")[1:]
    assert len(samples) == 3 and all("\n\n" not in s.split("-----\n", 1)[1].rstrip("\n") for s in samples)


def test_streamed_sample_stops_where_the_returned_text_does(trained):
    out, _ = trained
    args = ["sample", out, "--prompt", "ZOE:", "--length", "80", "--seed", "3"]
    full = textrnn(*args, "--no-stream")
    assert full.returncode == 0, full.stderr
    continuation = full.stdout[len("ZOE:"):-1]
    stop = continuation[30:32]  # two characters, two tokens: it straddles them
    cut = continuation[: continuation.find(stop)]
    streamed = textrnn(*args, "--stop", stop)
    returned = textrnn(*args, "--stop", stop, "--no-stream")
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout == returned.stdout == "ZOE:" + cut + "\n"


def test_resume_continues_a_finished_run_to_a_higher_limit(trained, tmp_path):
    out, _ = trained
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in out.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    before = (copy / "log.jsonl").read_text().splitlines()
    res = textrnn("train-lm", "--data", ROOT / "data/tiny_play.txt", "--out", copy, "--resume",
                  "--max-steps", "30", *TINY)
    assert res.returncode == 0, res.stderr
    after = (copy / "log.jsonl").read_text().splitlines()
    # The first run's records stay as they were (a restart from scratch would rewrite them,
    # its timings differing), and the run went on from step 20 to 30.
    kept = [line for line in before if json.loads(line)["step"] <= 20]
    assert after[: len(kept)] == kept and json.loads(after[-1])["step"] == 30
    assert min(json.loads(line)["step"] for line in after[len(kept):]) > 20


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def assert_one_line_error(res):
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_training_over_an_existing_run_is_refused_and_changes_nothing(trained):
    out, _ = trained
    before = _digest(out)
    res = textrnn("train-lm", "--data", ROOT / "data/tiny_play.txt", "--out", out, "--max-steps", "5", *TINY)
    assert "--resume" in assert_one_line_error(res)
    assert _digest(out) == before


def test_train_lm_reads_several_sources_with_a_lowercasing_tokenizer(tmp_path):
    second = tmp_path / "more.txt"
    second.write_text("ZEPPELINS drift over the Harbour.\n" * 30)
    out = tmp_path / "run"
    res = textrnn("train-lm", "--data", ROOT / "data/tiny_play.txt", second, "--tokenizer", "word",
                  "--lowercase", "--out", out, "--max-steps", "2", *TINY)
    assert res.returncode == 0, res.stderr
    vocab = [t for t in json.loads((out / "tokenizer.json").read_text())["model"]["vocab"] if t[0] != "<"]
    assert "▁harbour" in vocab and all(t == t.lower() for t in vocab)


@pytest.mark.parametrize("content,match", [
    (None, "does not exist"), (b"", "no text"), (b" \n \n", "no text"),
    (b"caf\xe9 \x85 latin-1", "UTF-8"), (b"\x00\x00\x89PNG", "binary"), (b"too short\n", "fewer than one batch"),
])
def test_bad_corpus_gives_one_line(tmp_path, content, match):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    res = textrnn("train-lm", "--data", path, "--out", tmp_path / "run", "--max-steps", "2", *TINY)
    assert match in assert_one_line_error(res)


@pytest.mark.parametrize("flag,value", [("--lr", "-1"), ("--lr", "nan"), ("--batch-size", "0"),
                                        ("--bptt", "-3"), ("--time-budget", "-5"),
                                        ("--val-fraction", "1.5"), ("--hidden-size", "0"),
                                        ("--dropout", "1"), ("--clip", "-1"), ("--lr", "1e30"),
                                        ("--batch-size", "abc")])
def test_out_of_range_training_flags_give_one_line(tmp_path, flag, value):
    res = textrnn("train-lm", "--data", ROOT / "data/tiny_play.txt", "--out", tmp_path / "r",
                  "--max-steps", "2", *TINY, flag, value)
    assert_one_line_error(res)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag,value", [("--temperature", "-1"), ("--top-p", "0"),
                                        ("--top-p", "1.5"), ("--length", "0"), ("--top-k", "-1"),
                                        ("--weights", "int4")])
def test_bad_sampling_flags_give_one_line(trained, flag, value):
    out, _ = trained
    assert_one_line_error(textrnn("sample", out, flag, value))


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json"])
def test_damaged_run_folder_gives_one_line(trained, tmp_path, name):
    out, _ = trained
    for p in out.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / name).write_bytes((tmp_path / name).read_bytes()[:40])
    assert_one_line_error(textrnn("sample", tmp_path, "--length", "5"))


def test_unseen_prompt_characters_still_sample(trained):
    out, _ = trained
    res = textrnn("sample", out, "--prompt", "Жж", "--length", "10", "--seed", "0")
    assert res.returncode == 0 and res.stdout.startswith("Жж") and "never saw" in res.stderr


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "sentiment"
    res = run("recipes/sentiment.py", "--out", out, "--epochs", "2", "--embed-dim", "16",
              "--hidden-size", "16", "--quiet", "--precision", "fp32",
              "--test-data", ROOT / "data/sentiment_sample.csv")
    assert res.returncode == 0, res.stderr
    return out, res


def test_sentiment_recipe_prints_the_report_and_saves(classifier_run):
    out, res = classifier_run
    assert "precision" in res.stdout and "confusion matrix" in res.stdout and "--- test ---" in res.stdout
    metrics = __import__("json").loads((out / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "roc_auc", "confusion_matrix"} <= set(metrics["test"])


def test_predict_prints_label_and_probability(classifier_run, tmp_path):
    out, _ = classifier_run
    res = textrnn("predict", out, "what a great film", "dull and far too long")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2 and all(l.split("\t")[0] in ("positive", "negative") for l in lines)
    assert all(0.5 <= float(l.split("\t")[1]) <= 1 for l in lines)
    # The printed label is the model's argmax, its probability the model's own (to 4 places).
    clf = load(out)
    texts = ["what a great film", "dull and far too long"]
    for line, text, p in zip(lines, texts, clf.predict_proba(texts)):
        label, prob, shown = line.split("\t")
        assert shown == text and label == clf.labels[p.argmax()]
        assert abs(float(prob) - p.max()) <= 0.5e-4 + 1e-6
    # Only "\n" ends a text: U+0085 (NEL), which str.splitlines() breaks at, stays inside.
    (tmp_path / "in.txt").write_text("great\u0085fun\n\nawful\r\n", encoding="utf-8", newline="")
    res = textrnn("predict", out, "--input", tmp_path / "in.txt", "--json")
    rows = [__import__("json").loads(l) for l in res.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["great\u0085fun", "awful"]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in rows)


def test_evaluate_prints_the_report(classifier_run, tmp_path):
    out, _ = classifier_run
    res = run("-m", "textrnn", "evaluate", out, "--data", ROOT / "data/sentiment_sample.csv", "--json",
              cwd=tmp_path)  # its reliability diagram goes to the working folder, not the repository
    assert res.returncode == 0, res.stderr
    assert {"accuracy", "macro_f1"} <= set(__import__("json").loads(res.stdout))
    assert (tmp_path / "reliability.png").stat().st_size > 0


def test_predict_with_a_language_model_folder_gives_one_line(trained):
    out, _ = trained
    assert "language model" in assert_one_line_error(textrnn("predict", out, "hello"))


@pytest.mark.parametrize("rows,flags,match", [
    ("text,stars\ngood,1\nbad,0\n", [], "label"),
    ("text,label\ngood,pos\nfine,pos\n", [], "single class"),
    ("text,label\n", [], "no rows"),
    ("text,label\ngood,pos\n,neg\nbad,neg\n", [], "empty"),
])
def test_bad_labelled_data_gives_one_line(tmp_path, rows, flags, match):
    (tmp_path / "d.csv").write_text(rows)
    res = textrnn("train-classifier", "--data", tmp_path / "d.csv", "--out", tmp_path / "r",
                  "--epochs", "1", "--quiet", *flags)
    assert match in assert_one_line_error(res)


def test_eval_label_never_seen_gives_one_line(classifier_run, tmp_path):
    out, _ = classifier_run
    (tmp_path / "e.csv").write_text("text,label\ngood,positive\nmeh,neutral\n")
    assert "never saw" in assert_one_line_error(textrnn("evaluate", out, "--data", tmp_path / "e.csv"))


def test_evaluate_a_language_model_reports_bpc(trained):
    out, _ = trained
    res = textrnn("evaluate", out, "--data", ROOT / "data/tiny_play.txt", "--json")
    assert res.returncode == 0, res.stderr
    m = __import__("json").loads(res.stdout)
    assert m["chars"] == len((ROOT / "data/tiny_play.txt").read_text(encoding="utf-8")) and m["bpc"] > 0


def test_finetune_recipe_runs_three_stages(tmp_path):
    res = run("recipes/finetune.py", "--out", tmp_path / "ulmfit", "--pretrain-budget", "1",
              "--lm-budget", "1", "--classifier-budget", "2", "--embed-dim", "16",
              "--hidden-size", "16", "--num-layers", "2", "--batch-size", "8", "--bptt", "16",
              "--vocab-size", "2000", "--precision", "fp32", "--quiet",
              "--classifier-weight-drop", "0.25", "--max-length", "50", "--lm-drop-mult", "0.5")
    assert res.returncode == 0, res.stderr
    for stage in ("lm", "lm_task", "classifier", "scratch"):
        assert (tmp_path / "ulmfit" / stage / "model.safetensors").exists()
    assert "confusion matrix" in res.stdout and "--- test ---" in res.stdout  # a fifth held out
    compared = re.search(r"test accuracy: ULMFiT ([\d.]+), from scratch ([\d.]+)", res.stdout)
    ulmfit, scratch = (json.loads((tmp_path / "ulmfit" / s / "metrics.json").read_text())["test"]["accuracy"]
                       for s in ("classifier", "scratch"))
    assert compared and (float(compared[1]), float(compared[2])) == (round(ulmfit, 4), round(scratch, 4))
    clf = tmp_path / "ulmfit" / "classifier"
    assert json.loads((clf / "config.json").read_text())["encoder"]["weight_drop"] == 0.25
    for lm in ("lm", "lm_task"):  # AWD-LSTM's dropouts, halved
        lm_cfg = json.loads((tmp_path / "ulmfit" / lm / "config.json").read_text())["encoder"]
        assert (lm_cfg["dropout"], lm_cfg["embed_dropout"], lm_cfg["weight_drop"]) == (0.125, 0.025, 0.1)
    truncation = json.loads((clf / "tokenizer.json").read_text())["truncation"]
    assert (truncation["max_length"], truncation["direction"]) == (50, "Left")


def test_finetune_recipe_refuses_a_classifier_as_language_model(classifier_run, tmp_path):
    out, _ = classifier_run
    res = run("recipes/finetune.py", "--skip-pretrain", "--init-from", out, "--out", tmp_path / "x",
              "--quiet")
    assert "not a language model" in assert_one_line_error(res)


def test_every_recipe_writes_to_a_fresh_time_stamped_folder():
    """A recipe run twice with no --out never meets its earlier run's folder."""
    import textrnn
    from textrnn.stages import parse_finetune

    stamped = r"runs/{}-\d{{8}}-\d{{6}}"
    for task, recipe in [("lm", "generate"), ("classifier", "sentiment"),
                         ("forecaster", "timeseries"), ("translator", "translate")]:
        out = textrnn.presets.for_recipe(task, recipe)({})["out"]
        assert re.fullmatch(stamped.format(recipe), out)
    stages = parse_finetune([])
    assert re.fullmatch(stamped.format("finetune"), str(stages.out))
    assert stages.scratch.run.out == str(stages.out / "scratch")


def test_a_sized_recipe_run_says_what_it_chose_and_warns_in_flags_when_too_short(tmp_path):
    out = tmp_path / "sized"
    untyped_width = TINY[2:]  # TINY without --hidden-size: a typed width is not sized
    assert TINY[:2] == ["--hidden-size", "32"]
    res = run("recipes/generate.py", "--out", out, "--time-budget", "2", "--size-steps", "100000",
              "--length", "20", "--num-samples", "1", *untyped_width)
    assert res.returncode == 0, res.stderr
    # too slow for 100,000 steps: the smallest is chosen, and nothing larger is timed
    assert re.search(r"size auto: small \(hidden 128\): [\d.]+ s/step here.*timed small [\d.]+ s$",
                     res.stderr, re.M)
    short = [line for line in res.stderr.splitlines() if "barely trained" in line]
    assert len(short) == 1 and "--time-budget" in short[0] and "time_budget" not in short[0]
    sizing = json.loads((out / "metrics.json").read_text())["sizing"]
    assert sizing["chosen"] == "small" and sizing["steps_wanted"] == 100000
    config = json.loads((out / "config.json").read_text())["encoder"]
    assert (config["hidden_size"], config["dropout"]) == (128, 0.1)  # the size's own dropout
