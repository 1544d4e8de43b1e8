"""Data-parallel training under torchrun, on CPU with gloo: 2 processes with a global
batch give the weights of 1 process with that batch, resume exactly, report the figures
`textrnn evaluate` gives, fail together on one rank's bad input, and run across two
simulated machines."""
import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from conftest import NEG, POS, make_text, write_csv
from test_forecast import write_series
from test_streaming import make_shards
from textrnn.world import World
from textrnn.training.distributed import shard

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
NO_DROPOUT = ["--dropout", "0", "--embed-dropout", "0", "--weight-drop", "0"]


def textrnn_cmd(args, launcher=("--standalone", "--nproc-per-node", "2")):
    prefix = [sys.executable, "-m", "torch.distributed.run", *launcher] if launcher else [sys.executable]
    return [*prefix, "-m", "textrnn", *map(str, args)]


TORCHRUN = ("--standalone", "--nproc-per-node", "2")


def run(args, launcher=TORCHRUN, timeout=240):
    job = subprocess.run(textrnn_cmd(args, launcher), capture_output=True, text=True,
                         timeout=timeout, env=ENV)
    if job.returncode != 0 and "(SIGABRT)" in job.stderr:
        # A C++ abort inside torch (seen at exit before textrnn freed its DDP wrapper ahead
        # of the process group); Python code cannot raise SIGABRT, so such a launch is
        # tried once more, from scratch
        again = args if "--resume" in args else [*args, "--overwrite"]
        job = subprocess.run(textrnn_cmd(again, launcher), capture_output=True, text=True,
                             timeout=timeout, env=ENV)
    return job


def two_and_one(args, out) -> tuple:
    """`args` on two processes into out/"two" and, meanwhile, in this process into
    out/"one" (as `python -m textrnn` runs it, without a second start-up)."""
    from textrnn import cli
    with ThreadPoolExecutor(1) as pool:
        two = pool.submit(run, [*args, "--out", out / "two"])
        threads, out_, err = torch.get_num_threads(), io.StringIO(), io.StringIO()
        torch.set_num_threads(1)  # as the launched processes' OMP_NUM_THREADS
        try:
            with contextlib.redirect_stdout(out_), contextlib.redirect_stderr(err):
                cli.main([str(a) for a in [*args, "--out", out / "one"]])
            code = 0
        except SystemExit as e:
            code = e.code or 1
        finally:
            torch.set_num_threads(threads)
        return two.result(), subprocess.CompletedProcess("in process", code, out_.getvalue(), err.getvalue())


def worker_lines(stderr: str) -> str:
    """What the processes wrote, without torchrun's own warnings and report."""
    return "\n".join(line for line in stderr.splitlines()
                     if not line.startswith(("W1", "E1", "I1")))[-6000:]


def one_process(args):
    return run(args, launcher=None)


def weights(run_dir) -> dict:
    return torch.load(run_dir / "training_state.pt", weights_only=True)["model"]


def assert_same_weights(a, b, atol=1e-5):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=atol, rtol=1e-4), k


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("error:", "textrnn: error"))]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp-data")
    (root / "train.txt").write_text(make_text(300, seed=1))
    (root / "val.txt").write_text(make_text(40, seed=2))
    rows = [(t, "positive") for t in POS] + [(t, "negative") for t in NEG]
    write_csv(root / "train.csv", rows * 4)
    write_csv(root / "val.csv", rows)
    write_series(root / "series.csv", n=300)
    return root


def lm_args(data, out, *extra):
    out = [] if out is None else ["--out", out]
    return ["train-lm", "--data", data / "train.txt", "--val-data", data / "val.txt",
            "--hidden-size", 32, "--num-layers", 2, "--batch-size", 8, "--bptt", 16,
            "--max-steps", 12, "--eval-every", 6, "--save-every", 6, "--quiet", *out, *extra]


@pytest.fixture(scope="module")
def lm_runs(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp-lm")
    two, one = two_and_one(lm_args(data, None, *NO_DROPOUT), root)
    assert two.returncode == 0 and one.returncode == 0, worker_lines(two.stderr + one.stderr)
    return root


def test_shares_cover_a_batch_and_the_scaled_losses_average_to_its_mean():
    for size in range(1, 6):
        for n in range(1, 10):
            values = torch.randn(n)
            parts = [shard((values,), World(r, size), lambda b: b[0].shape[0]) for r in range(size)]
            taken = torch.cat([p[0][0] for p in parts if p[1] > 0])
            assert torch.equal(taken, values)  # every example once, in order
            mean = sum(p[0][0].mean() * p[1] for p in parts) / size  # what DDP's average descends
            assert torch.isclose(mean, values.mean(), atol=1e-6)


def test_language_model_on_two_processes_matches_one(lm_runs, data):
    assert_same_weights(lm_runs / "one", lm_runs / "two")
    val = json.loads((lm_runs / "two" / "metrics.json").read_text())["val"]
    alone = json.loads((lm_runs / "one" / "metrics.json").read_text())["val"]
    assert val["loss"] == pytest.approx(alone["loss"], rel=1e-5)
    scored = one_process(["evaluate", lm_runs / "two", "--data", data / "val.txt", "--json"])
    assert json.loads(scored.stdout)["loss"] == pytest.approx(val["loss"], rel=1e-6)
    # rank 0 alone writes and prints: one report, one log line per step
    steps = [json.loads(line)["step"] for line in (lm_runs / "two" / "log.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == sorted(set(steps))


@pytest.mark.parametrize("cell", ["mingru", "mlstm"])
def test_a_parallel_cell_in_residual_blocks_on_two_processes_matches_one(data, tmp_path, cell):
    extra = ["--cell", cell, "--block", "residual", "--heads", 2, *NO_DROPOUT]
    two, one = two_and_one(lm_args(data, None, *extra), tmp_path)
    assert two.returncode == 0 and one.returncode == 0, worker_lines(two.stderr + one.stderr)
    assert_same_weights(tmp_path / "one", tmp_path / "two")


def test_classifier_with_unfreezing_and_batchnorm_on_two_processes_matches_one(data, tmp_path, capsys):
    args = ["train-classifier", "--data", data / "train.csv", "--val-data", data / "val.csv",
            "--hidden-size", 16, "--num-layers", 2, "--head-hidden", 8, "--gradual-unfreezing",
            "--discriminative-lr", 2.6, "--batch-size", 16, "--epochs", 4, "--eval-every", 0,
            "--save-every", 0, "--quiet", *NO_DROPOUT]  # 4 epochs: every layer group unfreezes
    two, one = two_and_one(args, tmp_path)
    assert two.returncode == 0 and one.returncode == 0, worker_lines(two.stderr + one.stderr)
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    saved = json.loads((tmp_path / "two" / "metrics.json").read_text())
    val, calibrated = saved["val"], saved["calibration"]["val"]["after"]
    scored = [evaluated(capsys, ["evaluate", tmp_path / "two", "--data", data / "val.csv", "--json",
                                 "--reliability-plot", tmp_path / "r.png", *flag])
              for flag in ([], ["--no-temperature"])]
    assert scored[0]["accuracy"] == scored[1]["accuracy"] == val["accuracy"]
    assert scored[1]["loss"] == pytest.approx(val["loss"], rel=1e-5)  # raw, as training measured it
    assert scored[0]["loss"] == pytest.approx(calibrated["nll"], rel=1e-5)
    assert two.stdout.count("confusion matrix") == one.stdout.count("confusion matrix")


def evaluated(capsys, args) -> dict:
    """`textrnn evaluate ... --json` in this process (as `python -m textrnn` runs it): its JSON."""
    from textrnn import cli
    capsys.readouterr()
    cli.main([str(a) for a in args])
    return json.loads(capsys.readouterr().out)


def test_forecaster_on_two_processes_matches_one(data, tmp_path):
    args = ["train-forecaster", "--data", data / "series.csv", "--target", "load", "--lookback", 24,
            "--horizon", 12, "--seg-len", 12, "--hidden-size", 16, "--batch-size", 16,
            "--max-steps", 10, "--eval-every", 5, "--save-every", 5, "--dropout", 0, "--quiet"]
    two, one = two_and_one(args, tmp_path)
    assert two.returncode == 0 and one.returncode == 0, worker_lines(two.stderr + one.stderr)
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    m2, m1 = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("two", "one"))
    assert m2["val"]["mse"] == pytest.approx(m1["val"]["mse"], rel=1e-5)
    assert m2["test"]["mse"] == pytest.approx(m1["test"]["mse"], rel=1e-5)


def test_two_processes_stopped_by_sigterm_resume_exactly(data, tmp_path):
    # dropout on: each rank's own random stream must come back
    args = lambda out: lm_args(data, out, "--max-steps", 150, "--log-every", 2, "--save-every", 50,
                               "--hidden-size", 96)
    straight = run(args(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr[-2000:]
    stopped = subprocess.Popen(textrnn_cmd(args(tmp_path / "stopped")), env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "stopped" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and log.read_text().count("\n") >= 3):
        time.sleep(0.05)
    stopped.send_signal(signal.SIGTERM)
    _, err = stopped.communicate(timeout=120)
    state = torch.load(tmp_path / "stopped" / "training_state.pt", weights_only=True)
    assert 0 < state["step"] < 150, err[-2000:]
    assert state["world_size"] == 2 and len(state["ranks"]) == 2
    resumed = run([*args(tmp_path / "stopped"), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_weights(tmp_path / "straight", tmp_path / "stopped", atol=1e-6)


def test_two_processes_stream_their_own_shards_and_resume_exactly(tmp_path):
    hub = make_shards(tmp_path / "hub")
    args = lambda out, steps: ["train-lm", "--data", hub, "--streaming", "--val-data", hub,  # noqa: E731
                               "--hidden-size", 16, "--batch-size", 4, "--bptt", 16, "--max-steps",
                               steps, "--eval-every", 4, "--save-every", 4, "--schedule", "constant",
                               "--warmup-steps", 0, "--quiet", "--out", out]
    for job in (run(args(tmp_path / "straight", 8)), run(args(tmp_path / "resumed", 4)),
                run([*args(tmp_path / "resumed", 8), "--resume"])):
        assert job.returncode == 0, worker_lines(job.stderr)
    state = torch.load(tmp_path / "straight" / "training_state.pt", weights_only=True)
    rows = [[r.tolist() for r in rank["data"]["rows"]] for rank in state["ranks"]]
    # the same shards would have given both the same rows in the same order
    assert rows[0] != rows[1] and all(rank["data"]["windows"] == 8 for rank in state["ranks"])
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed", atol=0)


def train_in_script(tmp_path, setup: str):
    """Run a script under torchrun (2 processes) that trains a language model with the
    settings `given` that `setup` defines; returns the finished job and its seconds."""
    script = tmp_path / "job.py"
    script.write_text("import os, textrnn\n" + setup + "textrnn.run_guarded(lambda: textrnn.settings_from("
                      "'lm', given).prepare().fit(show_progress=False))\n")
    t0 = time.time()
    job = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node", "2", script], capture_output=True, text=True,
                         timeout=120, env=ENV)
    return job, time.time() - t0


def test_a_bad_input_on_one_rank_ends_both_with_one_line(data, tmp_path):
    job, seconds = train_in_script(tmp_path, f"""
good, bad = {str(data / 'train.txt')!r}, {str(tmp_path / 'missing.txt')!r}
given = {{"data": [good if os.environ["RANK"] == "0" else bad], "out": {str(tmp_path / 'out')!r},
         "max_steps": 3, "hidden_size": 16, "batch_size": 4, "bptt": 8}}
""")
    assert job.returncode != 0 and seconds < 60
    lines = errors(job.stderr)
    assert len(lines) == 1 and "rank 1" in lines[0] and "missing.txt" in lines[0], job.stderr[-2000:]
    assert not (tmp_path / "out" / "config.json").exists()


def test_a_crashed_rank_ends_the_job_with_one_line_from_rank_0(data, tmp_path):
    job, seconds = train_in_script(tmp_path, f"""
from textrnn.training import loop
inner = loop.Trainer.train_step
def train_step(self, batch, scale=1.0):
    if os.environ["RANK"] == "1" and self.state.step == 3:
        os._exit(3)  # the process vanishes mid-training, as a crash or a lost machine does
    return inner(self, batch, scale)
loop.Trainer.train_step = train_step
given = {{"data": [{str(data / 'train.txt')!r}], "out": {str(tmp_path / 'out')!r},
         "max_steps": 50, "hidden_size": 16, "batch_size": 4, "bptt": 8, "save_every": 2}}
""")
    assert job.returncode != 0 and seconds < 60
    lines = errors(job.stderr)
    assert len(lines) <= 1 and "[rank0]: Traceback" not in job.stderr, job.stderr[-3000:]
    if lines:  # rank 0 may be stopped by torchrun before it notices the lost peer
        assert "another process of this torchrun job failed" in lines[0]
    state = torch.load(tmp_path / "out" / "training_state.pt", weights_only=True)
    assert state["step"] == 2  # the last checkpoint before the crash is intact


def test_divergence_under_two_processes_ends_with_one_line(data, tmp_path):
    job = run(lm_args(data, tmp_path / "out", "--cell", "rnn", "--activation", "relu", "--optimizer",
                      "sgd", "--lr", 10, "--clip", 0, "--weight-decay", 0, "--warmup-steps", 0,
                      "--max-steps", 500, "--save-every", 1, "--eval-every", 1000))
    lines = errors(job.stderr)
    assert job.returncode != 0 and len(lines) == 1 and "lower --lr" in lines[0], job.stderr[-2000:]


def test_a_batch_that_does_not_divide_among_the_processes_is_refused(data, tmp_path):
    job = run(lm_args(data, tmp_path / "out", "--batch-size", 7))
    assert job.returncode != 0
    lines = errors(job.stderr)
    assert len(lines) == 1 and "--batch-size 7" in lines[0] and "multiple of 2" in lines[0]


def test_resuming_with_another_number_of_processes_is_refused(lm_runs, data, tmp_path):
    shutil.copytree(lm_runs / "two", tmp_path / "run")
    before = (tmp_path / "run" / "training_state.pt").read_bytes()
    job = one_process(lm_args(data, tmp_path / "run", "--resume", "--max-steps", 20))
    lines = errors(job.stderr)
    assert job.returncode != 0 and len(lines) == 1 and "trained by 2 process" in lines[0]
    assert (tmp_path / "run" / "training_state.pt").read_bytes() == before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_simulated_machines_match_one_machine(lm_runs, data, tmp_path):
    launcher = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", "textrnn-test"]
    nodes = [subprocess.Popen(textrnn_cmd(lm_args(data, tmp_path / "run", *NO_DROPOUT),
                                          [*launcher, "--node-rank", str(i)]),
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [n.communicate(timeout=240) for n in nodes]
    assert all(n.returncode == 0 for n in nodes), outs[0][1][-2000:] + outs[1][1][-2000:]
    assert_same_weights(lm_runs / "two", tmp_path / "run", atol=1e-6)


@pytest.mark.parametrize("setting,values,flag", [("lr", (0.003, 0.01), "--lr"),
                                                 ("max_steps", (3, 5), "--max-steps")])
def test_ranks_started_with_different_settings_stop_at_once_naming_the_flag(data, tmp_path, setting,
                                                                         values, flag):
    job, seconds = train_in_script(tmp_path, f"""
given = {{"data": [{str(data / 'train.txt')!r}], "out": {str(tmp_path / 'out')!r}, "max_steps": 3,
         "hidden_size": 16, "batch_size": 4, "bptt": 8, "dist_timeout": 20,
         {setting!r}: {values!r}[int(os.environ["RANK"])]}}
""")
    lines = errors(job.stderr)
    assert job.returncode != 0 and seconds < 60, job.stderr[-2000:]
    assert len(lines) == 1 and f"rank 1 was started with {flag} {values[1]}" in lines[0], job.stderr[-2000:]
    assert f"rank 0 with {flag} {values[0]}" in lines[0] and not (tmp_path / "out" / "config.json").exists()


def test_ranks_given_different_data_under_one_path_name_the_file(data, tmp_path):
    job, _ = train_in_script(tmp_path, f"""
import pathlib
mine = pathlib.Path({str(tmp_path)!r}) / ("data-" + os.environ["RANK"]) / "train.txt"
mine.parent.mkdir()
mine.write_text(open({str(data / 'train.txt')!r}).read() + ("" if os.environ["RANK"] == "0" else "one more line\\n"))
os.chdir(mine.parent)  # the same relative path on each rank, as on two machines
given = {{"data": ["train.txt"], "out": {str(tmp_path / 'out')!r}, "max_steps": 3, "hidden_size": 16,
         "batch_size": 4, "bptt": 8, "dist_timeout": 20}}
""")
    lines = errors(job.stderr)
    assert job.returncode != 0 and len(lines) == 1, job.stderr[-2000:]
    assert "--data train.txt holds different data on rank 1" in lines[0] and "bytes" in lines[0]


def test_rank_0_s_end_of_run_report_may_outlast_the_collective_timeout(data, tmp_path):
    job, _ = train_in_script(tmp_path, f"""
import time
from textrnn.tasks.lm import LMTask
report = LMTask.report
def slow_report(self, *args):
    if os.environ["RANK"] == "0":
        time.sleep(5)  # a translator's beam searches over its validation and test sets
    return report(self, *args)
LMTask.report = slow_report
given = {{"data": [{str(data / 'train.txt')!r}], "out": {str(tmp_path / 'out')!r}, "max_steps": 3,
         "hidden_size": 16, "batch_size": 4, "bptt": 8, "dist_timeout": 2}}
""")
    assert job.returncode == 0, worker_lines(job.stderr)
    assert (tmp_path / "out" / "metrics.json").is_file()


def test_size_auto_under_two_processes_trains_rank_0_s_choice_on_both(data, tmp_path):
    # No width typed, so the run is sized; every rank builds the size rank 0 timed (ranks
    # that chose apart would hold differently shaped weights, which DDP refuses).
    job = run(["train-lm", "--data", data / "train.txt", "--val-data", data / "val.txt",
               "--num-layers", 2, "--batch-size", 8, "--bptt", 16, "--size", "auto",
               "--size-steps", 10, "--time-budget", 4, "--eval-every", 10, "--quiet",
               "--out", tmp_path / "run"])
    assert job.returncode == 0, worker_lines(job.stderr)
    sizing = json.loads((tmp_path / "run" / "metrics.json").read_text())["sizing"]
    timed = {t["size"]: t for t in sizing["timed"]}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["encoder"]["hidden_size"] == timed[sizing["chosen"]]["hidden_size"]
    recorded = json.loads((tmp_path / "run" / "training_config.json").read_text())
    assert recorded["sizing"] == sizing
    assert job.stderr.count("size auto:") <= 1  # rank 0 alone timed and said so


def test_tagger_with_string_embeddings_on_two_processes_matches_one(data, tmp_path):
    from test_tagging import small_conll
    lm = ["train-lm", "--data", data / "train.txt", "--hidden-size", 8, "--embed-dim", 4, "--num-layers", 1,
          "--batch-size", 4, "--bptt", 16, "--max-steps", 2, "--quiet", "--out", tmp_path / "fwd"]
    assert one_process(lm).returncode == 0
    small_conll(tmp_path / "train.conll", 48)
    args = ["train-tagger", "--data", tmp_path / "train.conll", "--embeddings", tmp_path / "fwd",
            "--embed-dim", 8, "--hidden-size", 8, "--char-hidden", 4, "--batch-size", 16, "--max-steps", 6,
            "--eval-every", 3, "--save-every", 3, "--unk-dropout", 0, "--quiet", *NO_DROPOUT]
    two, one = two_and_one(args, tmp_path)
    assert two.returncode == 0 and one.returncode == 0, worker_lines(two.stderr + one.stderr)
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    m2, m1 = (json.loads((tmp_path / d / "metrics.json").read_text())["val"] for d in ("two", "one"))
    assert m2["accuracy"] == m1["accuracy"] and m2["words"] == m1["words"]


def test_speech_recogniser_on_two_processes_matches_one(tmp_path):
    from test_speech import SAMPLE
    rows = list(csv.DictReader(open(SAMPLE / "train.csv")))[:32]
    with open(tmp_path / "train.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "text")] + [(str(SAMPLE / r["path"]), r["text"]) for r in rows])
    args = ["train-speech", "--data", tmp_path / "train.csv", "--val-fraction", 0.25, "--hidden-size", 16,
            "--embed-dim", 16, "--num-layers", 1, "--conv-channels", 4, "--batch-size", 8, "--max-steps", 4,
            "--eval-every", 2, "--save-every", 2, "--freq-masks", 0, "--time-masks", 0, "--quiet",
            "--dropout", 0]  # no SpecAugment: one process draws the masks of both ranks' clips
    two, one = two_and_one(args, tmp_path)
    assert two.returncode == 0 and one.returncode == 0, worker_lines(two.stderr + one.stderr)
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    m2, m1 = (json.loads((tmp_path / d / "metrics.json").read_text())["val"] for d in ("two", "one"))
    assert m2["cer"] == m1["cer"] and m2["clips"] == m1["clips"] == 8


# `accelerate launch --cpu` starts one process (several only through MPI); on CPUs its
# multi-process launcher is the torchrun one it wraps: --multi_gpu with no GPU starts
# --num_processes processes that rendezvous as torchrun's do, and gloo joins them.
ACCELERATE = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--main_process_port", "0", "--mixed_precision", "no", "--dynamo_backend", "no"]
ENV_NAMES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


def launched_env(tmp_path, launcher) -> list[dict]:
    """The variables textrnn reads (world.py and torch's env:// rendezvous), as each of
    the 2 processes of `launcher` sees them, by rank."""
    out = tmp_path / f"env-{launcher[1]}"
    out.mkdir()
    script = tmp_path / "env.py"
    script.write_text("import json, os, sys\nnames = " f"{ENV_NAMES!r} + ('MASTER_ADDR', 'MASTER_PORT')\n"
                      "seen = {k: os.environ.get(k) for k in names}\n"
                      "open(os.path.join(sys.argv[1], seen['RANK'] + '.json'), 'w').write(json.dumps(seen))\n")
    job = subprocess.run([sys.executable, *launcher, str(script), str(out)], capture_output=True, text=True,
                         timeout=120, env=ENV)
    assert job.returncode == 0, job.stderr[-2000:]
    seen = [json.loads(p.read_text()) for p in out.glob("*.json")]
    return sorted(seen, key=lambda e: e["RANK"])


def test_accelerate_launch_sets_torchruns_variables_and_trains_the_same_weights(lm_runs, data, tmp_path):
    pytest.importorskip("accelerate")
    torchrun = launched_env(tmp_path, ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"])
    accelerate = launched_env(tmp_path, ACCELERATE)
    assert [{k: e[k] for k in ENV_NAMES} for e in accelerate] == [{k: e[k] for k in ENV_NAMES} for e in torchrun]
    assert [e["RANK"] for e in accelerate] == ["0", "1"] and accelerate[0]["MASTER_PORT"]
    # the rendezvous (env://) on this machine: torchrun says localhost, accelerate 127.0.0.1
    assert {socket.gethostbyname(e["MASTER_ADDR"]) for e in accelerate + torchrun} == {"127.0.0.1"}
    job = subprocess.run([sys.executable, *ACCELERATE, "-m", "textrnn",
                          *map(str, lm_args(data, tmp_path / "accelerate", *NO_DROPOUT))],
                         capture_output=True, text=True, timeout=240, env=ENV)
    assert job.returncode == 0, worker_lines(job.stderr)
    assert_same_weights(lm_runs / "one", tmp_path / "accelerate")
