"""Run folders written by textrnn 0.2.0 (tests/fixtures/v0_2_0), one per task, still load,
give the recorded outputs, and resume as 0.2.0 resumed them."""
import json
import shlex
import shutil
import sys
from pathlib import Path

import pytest

import textrnn
from textrnn import cli

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "v0_2_0"
sys.path.insert(0, str(FIXTURES))
import record  # noqa: E402  (the recorder: what each run is asked, in one place)

EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
KINDS = ("lm", "lm_conv", "classifier", "forecaster", "translator")


def close(got, want, path="outputs"):
    """Numbers within 1e-6 of the recorded ones; everything else equal."""
    if isinstance(want, float) or isinstance(got, float):
        assert got == pytest.approx(want, abs=1e-6, rel=1e-6), path
    elif isinstance(want, dict):
        assert set(got) == set(want), path
        for k in want:
            close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            close(g, w, f"{path}[{i}]")
    else:
        assert got == want, path


def outputs(kind, run_dir):
    return json.loads(json.dumps(record.OUTPUTS[kind](run_dir)))


@pytest.fixture(autouse=True)
def _repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the recorded data paths are relative to it


@pytest.mark.parametrize("kind", KINDS)
def test_a_0_2_run_folder_gives_the_recorded_outputs(kind):
    close(outputs(kind, FIXTURES / kind), EXPECTED[kind]["outputs"])


def resume_in_process(kind: str, copy: Path) -> None:
    """The recorded resume command, run through the CLI's entry function."""
    command = EXPECTED["commands"]["resume"][kind].split("&& ", 1)[1].replace("$COPY", str(copy))
    args = shlex.split(command)
    assert args[:3] == ["python", "-m", "textrnn"]
    try:
        cli.main(args[3:])
    except SystemExit as exc:  # an error ends the command; success returns
        pytest.fail(f"{command} exited with {exc.code}")


@pytest.mark.parametrize("kind", KINDS)
def test_a_0_2_run_folder_resumes_as_it_did(kind, tmp_path):
    copy = tmp_path / kind
    shutil.copytree(FIXTURES / kind, copy)
    resume_in_process(kind, copy)
    close(outputs(kind, copy), EXPECTED[kind]["resumed"], "resumed")
    close(json.loads(json.dumps(record.last_weights(kind, copy))), EXPECTED[kind]["resumed_state"],
          "resumed_state")


def test_the_0_2_fixtures_are_left_as_written():
    before = {p: p.read_bytes() for p in FIXTURES.glob("*/*") if p.is_file()}
    for kind in KINDS:
        textrnn.load(FIXTURES / kind)
    assert before == {p: p.read_bytes() for p in FIXTURES.glob("*/*") if p.is_file()}
    assert not list(FIXTURES.glob("*/.lock"))
