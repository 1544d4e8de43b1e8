"""Bad input, for every command: a non-zero exit, exactly one clear line on stderr (no
traceback), and nothing already saved is changed.

The commands run in this process, exactly as `python -m textrnn ...` (the CLI's `main`) and
`python recipes/NAME.py ...` (the script run as __main__) would, so the whole matrix stays
fast; test_cli.py runs some of them as real subprocesses.
"""
import hashlib
import json
import logging
import runpy
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textrnn import Parser, cli, commands, stages

from conftest import NEG, POS, write_csv

ROOT = Path(__file__).resolve().parent.parent
PLAY = ROOT / "data" / "tiny_play.txt"
SERIES = ROOT / "data" / "hourly_load.csv"
RECIPES = ("generate", "sentiment", "finetune", "timeseries")
PAIRS = (ROOT / "data" / "dates_test.words", ROOT / "data" / "dates_test.iso")
SMALL = ["--embed-dim", "8", "--hidden-size", "8", "--batch-size", "4", "--quiet", "--precision", "fp32"]


# ---- running a command ------------------------------------------------------------------
class _CapturingParser(Parser):
    last = None

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        _CapturingParser.last = self


def run_script(name, args):
    """`python recipes/NAME.py ARGS`, in this process: the script runs as __main__ (a
    recipe is a story to run, never a module to import)."""
    argv = sys.argv
    sys.argv = [str(ROOT / "recipes" / f"{name}.py"), *args]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        sys.argv = argv


def invoke(command, args):
    """What `python -m textrnn COMMAND ARGS` or `python recipes/COMMAND.py ARGS` does."""
    args = [str(a) for a in args]
    if command in RECIPES:
        run_script(command, args)
    else:
        cli.main([command, *args])


def one_line_error(capsys, command, *args) -> str:
    root = logging.getLogger()
    shown = logging.StreamHandler(sys.stderr)  # log lines reach the user's terminal too
    root.addHandler(shown)
    try:
        with pytest.raises(SystemExit) as exit_:
            invoke(command, args)
    finally:
        root.removeHandler(shown)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert exit_.value.code not in (0, None), err
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def digest(folder: Path) -> dict:
    """Each file's digest (the lock file holds the last writer's process id, not run data)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.name != ".lock"}


# ---- saved runs that no bad input may touch ----------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    reviews = write_csv(root / "reviews.csv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
    cli.main(["train-lm", "--data", str(PLAY), "--out", str(root / "lm"), "--max-steps", "3",
              "--bptt", "16", "--eval-every", "3", "--save-every", "3", *SMALL])
    cli.main(["train-classifier", "--data", str(reviews), "--out", str(root / "clf"),
              "--epochs", "1", "--eval-every", "2", "--save-every", "2", *SMALL])
    cli.main(["train-translator", "--data", *map(str, PAIRS), "--out", str(root / "tr"), "--max-steps", "2",
              "--tokenizer", "char", "--decoder-size", "8", *SMALL])
    runs = {"lm": root / "lm", "clf": root / "clf", "tr": root / "tr", "reviews": reviews}
    before = {k: digest(runs[k]) for k in ("lm", "clf", "tr")}
    yield runs
    assert {k: digest(runs[k]) for k in ("lm", "clf", "tr")} == before


@pytest.fixture
def lm(saved):
    return saved["lm"]


@pytest.fixture
def clf(saved):
    return saved["clf"]


# ---- files that are not usable text ------------------------------------------------------
BAD_FILES = {
    "missing": None,
    "empty": b"",
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    # Latin-1 'café', then byte 0x85, which str.splitlines() would take for a line break.
    "latin1": b"text,label\ncaf\xe9 \x85 good,pos\nbad film,neg\n" * 4,
}


def bad_file(tmp_path, kind, suffix):
    path = tmp_path / f"{kind}{suffix}"
    if BAD_FILES[kind] is not None:
        path.write_bytes(BAD_FILES[kind])
    return path


def file_commands(lm, clf, reviews, out):
    """(command, args with FILE where the bad file goes), for every flag that reads a file."""
    return [
        ("train-lm", ["--data", "FILE", "--out", out, "--max-steps", "2", *SMALL]),
        ("generate", ["--data", "FILE", "--out", out, "--max-steps", "2", *SMALL]),
        ("train-classifier", ["--data", "FILE", "--out", out, "--epochs", "1", *SMALL]),
        ("train-classifier", ["--data", reviews, "--val-data", "FILE", "--out", out, "--epochs", "1", *SMALL]),
        ("train-classifier", ["--data", reviews, "--test-data", "FILE", "--out", out, "--epochs", "1", *SMALL]),
        ("sentiment", ["--data", "FILE", "--out", out, "--epochs", "1", *SMALL]),
        ("finetune", ["--unlabeled-data", "FILE", "--out", out, "--quiet"]),
        ("finetune", ["--data", "FILE", "--out", out, "--quiet"]),
        ("evaluate", [lm, "--data", "FILE"]),
        ("evaluate", [clf, "--data", "FILE"]),
        ("predict", [clf, "--input", "FILE"]),
    ]


@pytest.mark.parametrize("kind", list(BAD_FILES))
@pytest.mark.parametrize("index", range(11))
@pytest.mark.parametrize("suffix", [".csv", ".txt"])
def test_unusable_files(capsys, tmp_path, lm, clf, saved, kind, index, suffix):
    out = tmp_path / "out"
    command, args = file_commands(lm, clf, saved["reviews"], out)[index]
    path = bad_file(tmp_path, kind, suffix)
    line = one_line_error(capsys, command, *[path if a == "FILE" else a for a in args])
    assert path.name in line or str(path) in line
    assert not out.exists()


# ---- labelled tables with the wrong shape ------------------------------------------------
TABLES = {
    "missing columns": ("review,stars\ngood,5\nbad,1\n", "columns found: review, stars"),
    "ragged rows": ("text,label\ngood film,pos\nbad film,neg,extra\nfine\n", "row"),
    "single class": ("text,label\ngood,pos\nfine,pos\ngreat,pos\n", "single class"),
    "header only": ("text,label\n", "no rows"),
    "empty texts": ("text,label\ngood,pos\n,neg\nbad,neg\n", "empty"),
}


@pytest.mark.parametrize("case", list(TABLES))
@pytest.mark.parametrize("command", ["train-classifier", "sentiment", "finetune"])
def test_malformed_training_tables(capsys, tmp_path, case, command):
    content, match = TABLES[case]
    path = tmp_path / "d.csv"
    path.write_text(content)
    budget = ["--quiet"] if command == "finetune" else ["--epochs", "1", *SMALL]
    line = one_line_error(capsys, command, "--data", path, "--out", tmp_path / "out", *budget)
    assert match in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["missing columns", "ragged rows", "header only", "empty texts"])
def test_malformed_evaluation_tables(capsys, tmp_path, clf, case):
    content, match = TABLES[case]
    (tmp_path / "d.csv").write_text(content)
    assert match in one_line_error(capsys, "evaluate", clf, "--data", tmp_path / "d.csv")


def test_a_label_absent_from_training(capsys, tmp_path, clf, saved):
    (tmp_path / "e.csv").write_text("text,label\ngood,pos\nmeh,neutral\n")
    assert "neutral" in one_line_error(capsys, "evaluate", clf, "--data", tmp_path / "e.csv")
    line = one_line_error(capsys, "train-classifier", "--data", saved["reviews"], "--val-data",
                          tmp_path / "e.csv", "--out", tmp_path / "out", "--epochs", "1", *SMALL)
    assert "neutral" in line and not (tmp_path / "out").exists()


# ---- numeric flags ----------------------------------------------------------------------
# The flags where 0 or a huge value is a meaningful setting rather than a mistake.
ZERO_OK = {"--epochs", "--max-steps", "--time-budget", "--warmup-steps", "--patience", "--clip",
           "--eval-every", "--save-every", "--tokens-per-parameter",
           "--weight-decay", "--dropout", "--embed-dropout", "--weight-drop", "--conv-kernel",
           "--head-hidden", "--seed", "--top-k", "--temperature", "--val-fraction", "--unfreeze-warmup",
           "--classifier-weight-drop", "--lm-drop-mult", "--port", "--max-waiting",
           "--label-smoothing", "--length-penalty", "--ema", "--target-vocab-size", "--eval-batch-size",
           "--unk-dropout", "--test-fraction"}
HUGE_OK = {"--epochs", "--max-steps", "--eval-every", "--save-every", "--log-every", "--patience",
           "--top-k"}


def command_cases(lm, clf, reviews, out, tr=None):
    """Every command with the arguments that make it valid (and quick to refuse a bad flag)."""
    return {
        "train-lm": ["--data", PLAY, "--out", out, "--max-steps", "2", "--quiet"],
        "train-classifier": ["--data", reviews, "--out", out, "--epochs", "1", "--quiet"],
        "sample": [lm, "--length", "5"],
        "predict": [clf, "good"],
        "evaluate": [clf, "--data", reviews],
        "generate": ["--out", out, "--max-steps", "2", "--quiet"],
        "sentiment": ["--out", out, "--epochs", "1", "--quiet"],
        "finetune": ["--out", out, "--quiet"],
        "train-forecaster": ["--data", SERIES, "--target", "load", "--out", out, "--epochs", "1", "--quiet"],
        "timeseries": ["--out", out, "--epochs", "1", "--quiet"],
        "serve": [lm, "--port", "0"],
        "train-translator": ["--data", *PAIRS, "--out", out, "--epochs", "1", "--quiet"],
        "translate": [tr, "eins"],
    }


def numeric_flags(command, monkeypatch) -> dict:
    """{flag: int | float} for every numeric option of `command`, read from its parser."""
    if command in RECIPES:  # run the script with --help and keep the parser it built
        for module in (commands, stages):  # where the recipes' parsers are made
            monkeypatch.setattr(module, "Parser", _CapturingParser)
        with pytest.raises(SystemExit):
            run_script(command, ["--help"])
        monkeypatch.undo()
        actions = _CapturingParser.last._actions
    else:
        actions = cli.build_parser()._subparsers._group_actions[0].choices[command]._actions
    return {a.option_strings[-1]: a.type for a in actions
            if a.option_strings and a.type in (int, float)}


def out_of_range(flag, kind) -> list[str]:
    values = ["-1", "nan", "1e30"] if kind is float else ["-1", str(10 ** 15)]
    if flag in HUGE_OK:
        values.remove(values[-1])
    if flag not in ZERO_OK:
        values.append("0")
    return values


@pytest.mark.parametrize("command", ["predict", "forecast"])
def test_commands_without_numeric_flags(monkeypatch, command):
    # So the next test covers every numeric flag there is.
    assert numeric_flags(command, monkeypatch) == {}


@pytest.mark.parametrize("command", ["train-lm", "train-classifier", "train-forecaster", "sample",
                                     "serve", "train-translator", "translate", "evaluate", *RECIPES])
def test_every_numeric_flag_out_of_range(capsys, monkeypatch, tmp_path, lm, clf, saved, command):
    out = tmp_path / "out"
    base = command_cases(lm, clf, saved["reviews"], out, saved["tr"])[command]
    flags = numeric_flags(command, monkeypatch)
    capsys.readouterr()  # the --help text
    tried = 0
    for flag, kind in flags.items():
        for value in out_of_range(flag, kind):
            line = one_line_error(capsys, command, *base, flag, value)
            assert flag.lstrip("-") in line, (flag, value, line)
            assert not out.exists(), (flag, value)
            tried += 1
    assert len(flags) >= (1 if command == "evaluate" else 2) and tried >= 2 * len(flags)


def test_a_number_that_is_not_a_number(capsys, tmp_path):
    line = one_line_error(capsys, "train-lm", "--out", tmp_path / "o", "--batch-size", "ten")
    assert "batch-size" in line


# ---- damaged run folders ----------------------------------------------------------------
FOLDER_FILES = ["config.json", "model.safetensors", "tokenizer.json", "manifest.json"]


def damaged_copy(src, tmp_path, name, how):
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    if how == "missing":
        (dst / name).unlink()
    else:
        data = (dst / name).read_bytes()
        (dst / name).write_bytes(data[: len(data) // 2])
    return dst


@pytest.mark.parametrize("how", ["missing", "truncated"])
@pytest.mark.parametrize("name", FOLDER_FILES[:3])
def test_a_damaged_run_folder_for_every_reading_command(capsys, tmp_path, saved, name, how):
    lm, clf = damaged_copy(saved["lm"], tmp_path, name, how), damaged_copy(saved["clf"], tmp_path, name, how)
    for command, args in [("sample", [lm, "--length", "3"]), ("evaluate", [lm, "--data", PLAY]),
                          ("predict", [clf, "good"]), ("evaluate", [clf, "--data", saved["reviews"]]),
                          ("serve", [clf, lm, "--port", "0"]),
                          ("sentiment", ["--init-from", lm, "--out", tmp_path / "o", "--epochs", "1", "--quiet"]),
                          ("finetune", ["--skip-pretrain", "--init-from", lm, "--out", tmp_path / "o", "--quiet"])]:
        assert name.split(".")[0] in one_line_error(capsys, command, *args)
    assert not (tmp_path / "o").exists()


def test_a_damaged_manifest(capsys, tmp_path, saved):
    lm = damaged_copy(saved["lm"], tmp_path, "manifest.json", "truncated")
    assert "manifest.json" in one_line_error(capsys, "sample", lm, "--length", "3")


# A missing manifest.json is allowed: the folder then loads without the file checks.
DAMAGE = [(name, how) for name in FOLDER_FILES + ["training_state.pt"] for how in ("missing", "truncated")
          if (name, how) != ("manifest.json", "missing")]


@pytest.mark.parametrize("name,how", DAMAGE)
@pytest.mark.parametrize("kind", ["lm", "clf"])
def test_resuming_a_damaged_run_folder(capsys, tmp_path, saved, kind, name, how):
    run = damaged_copy(saved[kind], tmp_path, name, how)
    before = digest(run)
    data = ["--data", PLAY] if kind == "lm" else ["--data", saved["reviews"]]
    command = "train-lm" if kind == "lm" else "train-classifier"
    line = one_line_error(capsys, command, *data, "--out", run, "--resume", "--max-steps", "6", *SMALL)
    assert name.split(".")[0] in line
    assert digest(run) == before


# The files a run only writes (its log, metrics, settings and plots): damage to them must
# not stop a resume, which rewrites them (a log line cut short counts as never written).
WRITTEN_ONLY = ["log.jsonl", "metrics.json", "training_config.json", "loss.png"]


@pytest.mark.parametrize("how", ["missing", "truncated"])
@pytest.mark.parametrize("name", WRITTEN_ONLY)
def test_resuming_with_a_written_only_file_damaged(tmp_path, saved, name, how):
    run = damaged_copy(saved["lm"], tmp_path, name, how)
    cli.main(["train-lm", "--data", str(PLAY), "--out", str(run), "--resume", "--max-steps", "6",
              "--bptt", "16", "--eval-every", "3", "--save-every", "3", *SMALL])
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps[-1] == 6 and (run / name).stat().st_size > 0


def test_a_tokenizer_from_another_run(capsys, tmp_path, saved):
    lm = damaged_copy(saved["lm"], tmp_path, "manifest.json", "missing")
    shutil.copy(saved["clf"] / "tokenizer.json", lm / "tokenizer.json")
    assert "tokenizer" in one_line_error(capsys, "sample", lm, "--length", "3")


def test_a_classifier_where_a_language_model_is_needed(capsys, tmp_path, clf):
    assert "language model" in one_line_error(capsys, "sample", clf)
    assert "language model" in one_line_error(capsys, "train-lm", "--data", PLAY, "--init-from", clf,
                                              "--out", tmp_path / "o", "--max-steps", "1", "--quiet")


# ---- the Hub, offline ---------------------------------------------------------------------
@pytest.fixture
def hub_offline(monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)


@pytest.mark.parametrize("command,args", [
    ("train-lm", ["--data", "someone/some-corpus", "--max-steps", "1"]),
    ("train-classifier", ["--data", "someone/some-reviews", "--epochs", "1"]),
    ("sentiment", ["--data", "someone/some-reviews", "--epochs", "1"]),
    ("generate", ["--data", "someone/some-corpus", "--max-steps", "1"]),
    ("finetune", ["--unlabeled-data", "someone/some-corpus"]),
])
def test_a_hub_id_when_offline(capsys, tmp_path, hub_offline, command, args):
    line = one_line_error(capsys, command, *args, "--out", tmp_path / "o", "--quiet")
    assert "cannot reach the Hugging Face Hub" in line and not (tmp_path / "o").exists()


def test_evaluating_on_a_hub_id_when_offline(capsys, clf, hub_offline):
    assert "Hugging Face Hub" in one_line_error(capsys, "evaluate", clf, "--data", "someone/some-reviews")


# ---- crafted run folders, a second writer, a resume that would change the run -------------
def crafted(src, tmp_path, how):
    """A copy of a run folder with one field crafted: a step that is not a number, weights
    of another run at a later step, a config that would need terabytes, a manifest entry."""
    from safetensors.torch import load_file, save_file

    dst = tmp_path / f"{src.name}-{how}"
    shutil.copytree(src, dst)
    weights = dst / "model.safetensors"
    if how == "step":
        save_file(load_file(str(weights)), str(weights), metadata={"step": "\u00b2"})
    elif how == "other_run":
        save_file(load_file(str(weights)), str(weights), metadata={"step": "99", "run_id": "0" * 32})
    elif how == "huge":
        cfg = json.loads((dst / "config.json").read_text())
        cfg["encoder"]["hidden_size"] = 60000
        (dst / "config.json").write_text(json.dumps(cfg))
        (dst / "manifest.json").unlink()
    else:
        manifest = json.loads((dst / "manifest.json").read_text())
        manifest["files"]["model.safetensors"]["step"] = "\u00b2"
        (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


@pytest.mark.parametrize("how", ["step", "other_run", "huge", "manifest"])
def test_a_crafted_run_folder_for_every_reading_command(capsys, tmp_path, saved, how):
    lm, clf = crafted(saved["lm"], tmp_path, how), crafted(saved["clf"], tmp_path, how)
    for command, args in [("sample", [lm, "--length", "3"]), ("evaluate", [lm, "--data", PLAY]),
                          ("predict", [clf, "good"]), ("evaluate", [clf, "--data", saved["reviews"]])]:
        one_line_error(capsys, command, *args)


@pytest.mark.parametrize("command", ["train-lm", "generate"])
def test_a_second_writer_gets_one_line(capsys, tmp_path, saved, command):
    import fcntl
    import os

    run = tmp_path / "lm"
    shutil.copytree(saved["lm"], run)
    before = digest(run)
    fd = os.open(run / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"777")
        args = ["--data", PLAY] if command == "train-lm" else []
        line = one_line_error(capsys, command, *args, "--out", run, "--resume", "--max-steps", "6", *SMALL)
    finally:
        os.close(fd)
    assert "in use by process 777" in line and digest(run) == before


@pytest.mark.parametrize("flag,value", [("--batch-size", "8"), ("--bptt", "8"), ("--seed", "5"),
                                        ("--lr", "0.1"), ("--schedule", "constant")])
def test_a_resume_that_would_change_the_run_gets_one_line(capsys, tmp_path, saved, flag, value):
    run = tmp_path / "lm"
    shutil.copytree(saved["lm"], run)
    before = digest(run)
    line = one_line_error(capsys, "train-lm", "--data", PLAY, "--out", run, "--resume",
                          "--max-steps", "6", flag, value, "--quiet")
    assert flag in line and digest(run) == before


# ---- translation ---------------------------------------------------------------------------
def test_parallel_data_that_does_not_pair_up(capsys, tmp_path, saved):
    (tmp_path / "a.txt").write_text("eins\nzwei\ndrei\n")
    (tmp_path / "b.txt").write_text("one\ntwo\n")
    (tmp_path / "c.txt").write_text("one\n\nthree\n")
    out = tmp_path / "out"
    cases = {("a.txt", "b.txt"): "3 lines", ("a.txt", "c.txt"): "1 of 3 pairs have an empty side",
             ("a.txt",): "one text file", ("a.txt", "missing.txt"): "does not exist"}
    for files, says in cases.items():
        line = one_line_error(capsys, "train-translator", "--data", *(tmp_path / f for f in files),
                              "--out", out, "--quiet")
        assert says in line, line
    assert not out.exists()
    for beam in ("0", "100000"):
        assert "beam" in one_line_error(capsys, "translate", saved["tr"], "eins", "--beam", beam)
    assert "text 1 is empty" in one_line_error(capsys, "translate", saved["tr"], " ")


def test_a_hub_dataset_without_the_named_languages(capsys, tmp_path):
    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    pq.write_table(pa.table({"translation": [{"de": "eins", "en": "one"}] * 3}),
                   hub / "data" / "train-00000-of-00001.parquet")
    line = one_line_error(capsys, "train-translator", "--data", hub, "--source-lang", "fr",
                          "--target-lang", "en", "--out", tmp_path / "o", "--quiet")
    assert "no language 'fr'" in line and "de, en" in line
    line = one_line_error(capsys, "train-translator", "--data", hub, "--out", tmp_path / "o", "--quiet")
    assert "--source-lang" in line


# ---- outputs that would damage a run, folders that are not textrnn's ----------------------------
@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "manifest.json", "training_state.pt"])
def test_an_output_path_that_is_one_of_the_run_s_own_files_is_refused(capsys, saved, name):
    tr = saved["tr"]
    for command, args in [("export", [tr, "--out", tr / name]),
                          ("translate", [tr, "eins", "--plot-attention", tr / name])]:
        line = one_line_error(capsys, command, *args)
        assert "is a file of the run" in line and name in line


def test_export_s_default_output_beside_the_weights_stays_allowed(tmp_path, saved):
    pytest.importorskip("onnxscript", reason="the export extra installs onnxscript")
    run = tmp_path / "lm"
    shutil.copytree(saved["lm"], run)
    cli.main(["export", str(run)])
    cli.main(["export", str(run)])  # and again, over its own earlier export
    assert (run / "step.onnx").stat().st_size > 0
    cli.main(["sample", str(run), "--length", "3"])  # the run still loads


def test_a_plot_path_that_is_a_symbolic_link_is_replaced_not_followed(tmp_path, saved):
    target = tmp_path / "precious.txt"
    target.write_text("not a picture")
    link = tmp_path / "attention.png"
    link.symlink_to(target)
    cli.main(["translate", str(saved["tr"]), "eins", "--plot-attention", str(link)])
    assert target.read_text() == "not a picture"
    assert not link.is_symlink() and link.read_bytes().startswith(b"\x89PNG")


def test_a_folder_holding_files_textrnn_did_not_write_is_refused_without_overwrite(capsys, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.json").write_text('{"my": "own results"}')  # a run file's name, not textrnn's
    (out / "notes.txt").write_text("my notes")
    line = one_line_error(capsys, "train-lm", "--data", PLAY, "--out", out, "--max-steps", "2", *SMALL)
    assert "holds files textrnn did not write (metrics.json, notes.txt)" in line and "--overwrite" in line
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "notes.txt"]
    assert (out / "metrics.json").read_text() == '{"my": "own results"}'


def test_overwrite_removes_only_textrnn_s_own_files(tmp_path, saved):
    run = tmp_path / "lm"
    shutil.copytree(saved["lm"], run)
    (run / "notes.txt").write_text("my notes")
    (run / "figures").mkdir()
    old_id = json.loads((run / "manifest.json").read_text())["run_id"]
    cli.main(["train-lm", "--data", str(PLAY), "--out", str(run), "--overwrite", "--max-steps", "2",
              "--bptt", "16", *SMALL])
    assert (run / "notes.txt").read_text() == "my notes" and (run / "figures").is_dir()
    assert json.loads((run / "manifest.json").read_text())["run_id"] != old_id
    mine = tmp_path / "mine"  # not a run folder: nothing in it is textrnn's, whatever its name
    mine.mkdir()
    (mine / "confusion_val.png").write_bytes(b"my own picture")  # a classifier run's plot's name
    (mine / "scaler.json").write_text('{"mine": true}')  # a forecaster run's encoding's name
    cli.main(["train-lm", "--data", str(PLAY), "--out", str(mine), "--overwrite", "--max-steps", "2",
              "--bptt", "16", "--eval-every", "1000", *SMALL])
    assert (mine / "model.safetensors").is_file()
    assert (mine / "confusion_val.png").read_bytes() == b"my own picture"
    assert (mine / "scaler.json").read_text() == '{"mine": true}'


def test_an_empty_folder_or_one_a_refused_start_left_needs_no_flag(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "tokens").mkdir()
    (out / "tokens" / "train-0123456789abcdef.bin").write_bytes(b"\0" * 8)  # a token cache
    cli.main(["train-lm", "--data", str(PLAY), "--out", str(out), "--max-steps", "2", "--bptt", "16", *SMALL])
    assert (out / "model.safetensors").is_file()


# ---- text that is not text, caps on stop strings -------------------------------------------------
@pytest.mark.parametrize("command,args", [("predict", ["CLF", "good \udcff film"]),
                                          ("sample", ["LM", "--prompt", "the \udcff", "--length", "3"]),
                                          ("translate", ["TR", "eins \udcff"])])
def test_an_argument_that_was_not_utf8_is_one_line(capsys, saved, command, args):
    runs = {"CLF": saved["clf"], "LM": saved["lm"], "TR": saved["tr"]}
    line = one_line_error(capsys, command, *[runs.get(a, a) for a in args])
    assert "lone surrogate (U+DCFF)" in line


def test_stop_strings_are_capped_in_length_and_number(capsys, lm):
    line = one_line_error(capsys, "sample", lm, "--length", "3", "--stop", "x" * 201)
    assert "201 characters" in line and "--max-stop-chars 200" in line
    line = one_line_error(capsys, "sample", lm, "--length", "3", *[a for i in range(9) for a in ("--stop", str(i))])
    assert "--stop" in line and "at most 8" in line


def test_a_file_format_a_task_does_not_read_names_the_ones_it_reads(capsys, tmp_path, clf):
    (tmp_path / "notes.txt").write_text("a note\n")
    line = one_line_error(capsys, "evaluate", clf, "--data", tmp_path / "notes.txt")
    assert ".txt is not a file type this reads" in line and ".csv" in line and "use .txt" not in line


def test_a_translator_whose_pairs_are_all_too_long_stops_before_training(capsys, tmp_path):
    line = one_line_error(capsys, "train-translator", "--data", *PAIRS, "--max-length", "3",
                          "--tokenizer", "char", "--out", tmp_path / "o", *SMALL)
    assert "none is left to train on" in line and "--max-length 3" in line
    assert not (tmp_path / "o").exists()


def test_empty_training_data_with_steps_but_no_epochs_ends_at_once(tmp_path):
    """On a step budget an empty epoch would come round for ever, so it runs in its own
    process, stopped by a timeout if it hangs."""
    import subprocess

    job = subprocess.run([sys.executable, "-m", "textrnn", "train-translator", "--data", *map(str, PAIRS),
                          "--max-length", "3", "--epochs", "0", "--max-steps", "5", "--tokenizer", "char",
                          "--out", str(tmp_path / "o"), *SMALL], capture_output=True, text=True, timeout=120)
    assert job.returncode != 0 and "none is left to train on" in job.stderr


def test_resuming_on_other_data_is_refused_and_on_a_moved_copy_goes_on(capsys, tmp_path, saved):
    run = tmp_path / "lm"
    shutil.copytree(saved["lm"], run)
    before = digest(run)
    other = tmp_path / "other.txt"
    other.write_text(PLAY.read_text() + "one more line\n")
    line = one_line_error(capsys, "train-lm", "--data", other, "--out", run, "--resume", "--max-steps", "6",
                          "--bptt", "16", *SMALL)
    assert "holds other data than the run" in line and "--resume" in line and digest(run) == before
    moved = tmp_path / "moved.txt"
    shutil.copy(PLAY, moved)  # the same data elsewhere: what it holds counts, not where it is
    cli.main(["train-lm", "--data", str(moved), "--out", str(run), "--resume", "--max-steps", "6",
              "--bptt", "16", "--eval-every", "3", "--save-every", "3", *SMALL])
    assert json.loads((run / "log.jsonl").read_text().splitlines()[-1])["step"] == 6


# ---- speech: clips that cannot be read or aligned --------------------------------------------
def speech_table(tmp_path, clip: bytes | None, text="call one two") -> Path:
    """A table of the bundled sample's first 6 clips, its third replaced by `clip` (None:
    a file that does not exist) with the transcript `text`."""
    import csv
    sample = ROOT / "data" / "speech_sample"
    rows = list(csv.reader(open(sample / "train.csv")))[1:7]
    rows = [(str(sample / p), t) for p, t in rows]
    bad = tmp_path / "bad.wav"
    if clip is not None:
        bad.write_bytes(clip)
    rows[2] = (str(bad), text)
    with open(tmp_path / "clips.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "text"), *rows])
    return tmp_path / "clips.csv"


def _wav(seconds=1.0, amplitude=0.5, rate=8000) -> bytes:
    import numpy as np
    from textrnn.data.audio import wav_bytes
    t = np.arange(int(rate * seconds)) / rate
    return wav_bytes((amplitude * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate)


def _zero_rate() -> bytes:
    data = bytearray(_wav())
    data[24:28] = (0).to_bytes(4, "little")
    return bytes(data)


SPEECH_CASES = {
    "missing": (None, "call one", [], "no audio file"),
    "not audio": (b"RIFF\x00\x00\x00\x00WAVEfmt nonsense", "call one", [], "is not audio this can read"),
    "silent": (_wav(amplitude=0.0), "call one", [], "is silent"),
    "zero rate": (_zero_rate(), "call one", [], "bad.wav"),
    "too long": (_wav(seconds=3.0), "call one", ["--max-audio-seconds", "2"], "longer than --max-audio-seconds"),
    "no frames for it": (_wav(seconds=0.3), "one two three four five six seven", [], "needs"),
    "empty transcript": (_wav(), " ", [], "empty transcript"),
}


@pytest.mark.parametrize("case", list(SPEECH_CASES))
def test_bad_speech_training_data(capsys, tmp_path, case):
    clip, text, extra, match = SPEECH_CASES[case]
    line = one_line_error(capsys, "train-speech", "--data", speech_table(tmp_path, clip, text),
                          "--out", tmp_path / "run", "--max-steps", "1", *extra, *SMALL)
    assert match in line, line
    assert not (tmp_path / "run" / "config.json").exists()


def test_transcribing_a_file_that_is_not_audio(capsys, tmp_path):
    from textrnn import cli as c
    table = speech_table(tmp_path, _wav())
    c.main(["train-speech", "--data", str(table), "--out", str(tmp_path / "asr"), "--max-steps", "1",
            "--conv-channels", "4", *SMALL])
    (tmp_path / "notes.txt").write_text("not audio at all\n")
    line = one_line_error(capsys, "transcribe", tmp_path / "asr", tmp_path / "notes.txt")
    assert "notes.txt is not audio this can read" in line
    line = one_line_error(capsys, "transcribe", tmp_path / "asr", tmp_path / "notes.txt", "--lm",
                          tmp_path / "asr", "--beam", "4")
    assert "holds a speech, not a language model" in line
