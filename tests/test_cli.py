"""End to end: the recipe and the `textrnn` command as a user runs them, on tiny settings."""
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_sample_command_batches_and_stops(trained):
    out, _ = trained
    res = textrnn("sample", out, "--length", "80", "--seed", "2", "--num-samples", "3",
                  "--stop", "\n\n")
    assert res.returncode == 0, res.stderr
    samples = res.stdout.split("----- sample ")[1:]
    assert len(samples) == 3 and all("\n\n" not in s.split("-----\n", 1)[1].rstrip("\n") for s in samples)


def test_resume_continues_a_finished_run_to_a_higher_limit(trained, tmp_path):
    out, _ = trained
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in out.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    res = textrnn("train-lm", "--data", ROOT / "data/tiny_play.txt", "--out", copy, "--resume",
                  "--max-steps", "30", *TINY)
    assert res.returncode == 0, res.stderr
    assert '"step": 30' in (copy / "log.jsonl").read_text()


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
                                        ("--top-p", "1.5"), ("--length", "0"), ("--top-k", "-1")])
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
