"""Bad input for tagging: every case one clear line, a non-zero exit, no traceback, and the
saved run untouched (see test_bad_input.py for the rules and helpers)."""
import json

import pytest

from textrnn import cli

from test_bad_input import PLAY, digest, one_line_error

TINY = ["--embed-dim", "8", "--hidden-size", "8", "--char-embed-dim", "4", "--char-hidden", "4",
        "--max-steps", "1", "--quiet", "--precision", "fp32"]
GOOD = "Angela B-PER\nMerkel I-PER\nspoke O\n\nParis B-LOC\nwins O\n\n"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagging")
    (root / "good.conll").write_text(GOOD * 3)
    cli.main(["train-tagger", "--data", str(root / "good.conll"), "--out", str(root / "run"), *TINY])
    lm = ["--data", str(PLAY), "--max-steps", "1", "--bptt", "8", "--embed-dim", "4", "--hidden-size", "4",
          "--batch-size", "2", "--quiet", "--precision", "fp32", "--num-layers", "1"]
    cli.main(["train-lm", *lm, "--out", str(root / "fwd")])
    cli.main(["train-lm", *lm, "--tokenizer", "word", "--vocab-size", "50", "--out", str(root / "words")])
    before = digest(root / "run")
    yield root
    assert digest(root / "run") == before


CASES = {
    "missing tag column": ("Paris B-LOC\n\n", ["--tag-column", "4"], "line 1 has 2 column(s) (0 to 1)"),
    "a word without its tag": ("Paris B-LOC\nwins\n\n", [], "line 2 has 1 column(s)"),
    "an empty file": ("", [], "holds no tagged sentences"),
    "a tag outside the scheme": ("Paris B-LOC\nwins VERB\n\n", ["--scheme", "iob2"],
                                 "line 2 has tag 'VERB', which the IOB2 scheme cannot hold"),
    "an odd tag among spans": ("Paris B-LOC\nwins O\nbig PER\n\n", [], "line 3 has tag 'PER'"),
    "a sentence over the cap": ("a O\n" * 30 + "\n", ["--max-length", "20"],
                                "sentence 1 (line 1) has 30 words, more than --max-length 20"),
    "a token column past the end": ("Paris B-LOC\n\n", ["--token-column", "3"], "--token-column 3 is not there"),
    "a CoNLL-U file's odd line": ("1\tParis\t_\tPROPN\n\n", [], "line 1 is not a CoNLL-U word line"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_training_data(capsys, tmp_path, case):
    text, flags, said = CASES[case]
    path = tmp_path / ("bad.conllu" if "CoNLL-U" in case else "bad.conll")
    path.write_text(text)
    line = one_line_error(capsys, "train-tagger", "--data", path, "--out", tmp_path / "out", *flags, *TINY)
    assert said in line
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_a_table_whose_counts_differ(capsys, tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"tokens": ["a", "b"], "tags": ["O", "O"]}\n'
                                        '{"tokens": ["Paris", "wins"], "tags": ["B-LOC"]}\n')
    line = one_line_error(capsys, "train-tagger", "--data", tmp_path / "bad.jsonl", "--out", tmp_path / "o", *TINY)
    assert "sentence 2 (row 2) has 2 words but 1 tags" in line
    line = one_line_error(capsys, "train-tagger", "--data", tmp_path / "bad.jsonl", "--label-column", "ner",
                          "--out", tmp_path / "o", *TINY)
    assert "no label column 'ner'; columns found: tokens, tags" in line
    (tmp_path / "labels.jsonl").write_text('{"text": "good film", "label": 1}\n')
    line = one_line_error(capsys, "train-tagger", "--data", tmp_path / "labels.jsonl", "--out", tmp_path / "o", *TINY)
    assert "row 1's tag column holds 1, not a list with one entry per word" in line


@pytest.mark.parametrize("which,said", [("words", "is a word-level language model"),
                                        ("backward", "reads text forwards, but it is given as the backward"),
                                        ("tagger", "holds a tagger, not a language model")])
def test_embeddings_that_cannot_serve(capsys, saved, tmp_path, which, said):
    models = {"words": [saved / "words"], "backward": [saved / "fwd", saved / "fwd"], "tagger": [saved / "run"]}
    line = one_line_error(capsys, "train-tagger", "--data", saved / "good.conll", "--out", tmp_path / "o",
                          "--embeddings", *models[which], *TINY)
    assert said in line


def test_using_a_run_badly(capsys, saved, tmp_path):
    assert "text 1 has no words to tag" in one_line_error(capsys, "tag", saved / "run", "  ")
    assert "lone surrogate" in one_line_error(capsys, "tag", saved / "run", "Paris \udc80 wins")
    (tmp_path / "pos.conll").write_text("Paris NOUN\nwins VERB\n\n")
    assert "line 1 has tag 'NOUN'" in one_line_error(capsys, "evaluate", saved / "run", "--data", tmp_path / "pos.conll")
    (tmp_path / "bad.conllu").write_text("1\tParis\n\n")
    assert "not a CoNLL-U word line" in one_line_error(capsys, "evaluate", saved / "run", "--data",
                                                       tmp_path / "bad.conllu")
    line = one_line_error(capsys, "evaluate", saved / "run", "--data", saved / "good.conll",
                          "--output", saved / "run" / "config.json")
    assert "is a file of the run" in line


def test_a_backward_model_refuses_to_continue_a_prompt(capsys, tmp_path):
    cli.main(["train-lm", "--data", str(PLAY), "--max-steps", "1", "--bptt", "8", "--embed-dim", "4",
              "--hidden-size", "4", "--batch-size", "2", "--quiet", "--reverse", "--out", str(tmp_path / "bwd")])
    assert "cannot continue a prompt" in one_line_error(capsys, "sample", tmp_path / "bwd", "--length", "3")
    # a classifier fine-tuned from it reads backwards too (ULMFiT's backward model)
    (tmp_path / "r.csv").write_text("text,label\ngood film,pos\nbad film,neg\n" * 10)
    cli.main(["train-classifier", "--data", str(tmp_path / "r.csv"), "--init-from", str(tmp_path / "bwd"),
              "--no-bidirectional", "--out", str(tmp_path / "clf"), "--max-steps", "1", "--quiet"])
    assert json.loads((tmp_path / "clf" / "config.json").read_text())["head"]["reverse"] is True
