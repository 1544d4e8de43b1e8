"""A new task touches no core file: a toy task, written entirely here with an encoding of its
own, registers itself in textrnn.TASKS and then trains through the `textrnn` command, is
scored by `evaluate`, used by its own verb, saved and loaded through the run folder, resumed
exactly, listed and answered by the server, and drawn on the page by the generic form."""
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import textrnn
from textrnn import cli
from textrnn import EncoderConfig, ModelConfig, RNNEncoder, TrainConfig, setting
from textrnn.checkpoint import load_training_state
from textrnn.models import evaluating

from conftest import live

ROOT = Path(__file__).resolve().parent.parent
TOY = "high_sum"


@dataclass
class DigitsData(textrnn.SourceSettings):
    data: str = setting("digits", "name of the generated set")
    examples: int = setting(400, "sequences to generate", low=10)
    length: int = setting(4, "digits per sequence", low=1)


@dataclass
class HighSumHead:
    bias: bool = setting(True, "a bias in the output layer")


def high(digits: str) -> bool:
    """The toy task's label: is the sum of the digits above half its largest possible value?"""
    return sum(map(int, digits)) > 4.5 * len(digits)


class DigitCodec:
    """The toy task's own encoding: a digit's id is the digit plus 2 (0 and 1 stay <pad>, <unk>)."""

    def encode(self, text: str) -> list[int]:
        return [int(c) + 2 for c in text]

    def get_vocab_size(self) -> int:
        return 12

    def to_str(self, pretty: bool = True) -> str:
        return json.dumps({"digits": "0123456789", "first_id": 2})

    @classmethod
    def from_file(cls, path):
        if json.loads(Path(path).read_text())["first_id"] != 2:
            raise textrnn.CheckpointError(f"{path} is not a digit codec")
        return cls()


DIGITS = textrnn.Encoding("digits.json", ("digits",), DigitCodec.from_file)


class HighSumModel(nn.Module):
    """digit ids (B, T) -> logits (B, 2): is the sum of the digits high?"""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = RNNEncoder(cfg.encoder, cfg.vocab_size, causal=True)
        self.out = nn.Linear(self.encoder.output_size, 2, bias=cfg.head.bias)

    def forward(self, ids, targets=None):
        h, _ = self.encoder(ids)  # (B, T, H)
        logits = self.out(h[:, -1])  # (B, 2)
        return logits if targets is None else F.cross_entropy(logits, targets)


class HighSum(textrnn.LoadedRun):
    """What textrnn.load returns for this task."""
    noun = "digit judge"

    def predict(self, texts: list[str]) -> list[bool]:
        ids = torch.tensor([self.tokenizer.encode(t) for t in texts])
        with torch.no_grad():
            return (self.model.eval()(ids).argmax(-1) == 1).tolist()

    def evaluate_source(self, sources, settings, progress=False, batch_size=None) -> dict:
        texts = [line for s in sources for line in Path(s).read_text().split()]
        right = [p == high(t) for p, t in zip(self.predict(texts), texts)]
        return {"accuracy": sum(right) / len(right), "examples": len(right)}


@dataclass
class JudgeSettings:
    texts: list = setting([], "digit strings", positional=True, nargs="*")
    shout: bool = setting(False, "upper case")


@dataclass
class JudgeEvaluation:
    split: str = setting("test", "unused")


@dataclass
class JudgeRequest:
    texts: list[str] = setting([], "digit strings", required=True)


def judge(run, settings, write, progress):
    for text, is_high in zip(settings.texts, run.predict(settings.texts)):
        verdict = "high" if is_high else "low"
        write(f"{text}\t{verdict.upper() if settings.shout else verdict}\n")


def judge_endpoint(server, name, run, body):
    server.cap_texts(body.texts)
    return {"model": name, "high": run.predict(body.texts)}


class HighSumTask(textrnn.Task):
    """Judge whether the digits of a string add up to a high sum."""
    name, command, Head, Data, Loaded = TOY, "train-high-sum", HighSumHead, DigitsData, HighSum
    encodings = (DIGITS,)
    encoder_flags_skip = ("bidirectional",)
    metric, mode, loss_unit = "accuracy", "max", "nats per example"
    verb, verb_help, Use, Evaluation = "judge", "judge digit strings", JudgeSettings, JudgeEvaluation
    use = staticmethod(judge)
    endpoint = textrnn.Endpoint("judge", "judge digit strings", JudgeRequest, judge_endpoint)

    @staticmethod
    def build_model(cfg):
        return HighSumModel(cfg)

    @staticmethod
    def read_data(data_cfg, seed, saved=None):
        rng = random.Random(seed)
        texts = ["".join(rng.choice("0123456789") for _ in range(data_cfg.length))
                 for _ in range(data_cfg.examples)]
        return texts[: len(texts) * 3 // 4], texts[len(texts) * 3 // 4:]

    @staticmethod
    def new_encoding(data, data_cfg):
        return "digits", DigitCodec()

    @classmethod
    def prepare(cls, data, codec, data_cfg, train_cfg, run_dir, model_cfg):
        def tensors(texts):
            ids = torch.tensor([codec.encode(t) for t in texts])  # (N, T)
            return ids, torch.tensor([high(t) for t in texts]).long()
        return cls(*tensors(data[0]), *tensors(data[1]), train_cfg.batch_size, train_cfg.seed)

    def __init__(self, x, y, x_val, y_val, batch_size, seed):
        self.x, self.y, self.x_val, self.y_val = x, y, x_val, y_val
        self.batch_size, self.seed = batch_size, seed

    def num_batches(self, epoch):
        return len(self.x) // self.batch_size

    def batch(self, epoch, i):
        order = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(self.seed + epoch))
        idx = order[i * self.batch_size:(i + 1) * self.batch_size]
        return self.x[idx], self.y[idx]

    def tokens(self, batch):
        return batch[0].numel()

    def loss(self, model, batch, carry, device):
        x, y = batch
        return model(x.to(device), targets=y.to(device)), None

    @torch.no_grad()
    def evaluate(self, model, device, precision, final=False):
        with evaluating(model):
            logits = model(self.x_val.to(device))
        return {"accuracy": float((logits.argmax(-1).cpu() == self.y_val).float().mean()),
                "loss": float(F.cross_entropy(logits.cpu(), self.y_val))}


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(textrnn.TASKS, TOY, HighSumTask)


def config():
    return ModelConfig(task=TOY, encoder=EncoderConfig(cell="gru", embed_dim=8, hidden_size=32,
                                                       num_layers=1, dropout=0.0),
                       head=HighSumHead())


def settings(max_steps):
    return TrainConfig(batch_size=16, lr=1e-2, max_steps=max_steps, eval_every=25, save_every=25,
                       warmup_steps=0, schedule="constant", device="cpu", seed=0)


TRAIN = ["--cell", "gru", "--embed-dim", "8", "--hidden-size", "32", "--num-layers", "1",
         "--dropout", "0", "--batch-size", "16", "--lr", "0.01", "--eval-every", "25",
         "--save-every", "25", "--warmup-steps", "0", "--schedule", "constant", "--device", "cpu",
         "--seed", "0", "--quiet"]


def test_a_task_defined_outside_the_core_trains_saves_loads_and_resumes(registered, tmp_path):
    result = textrnn.train(TOY, DigitsData(), config(), settings(400), tmp_path / "straight")
    assert result["status"] == "done" and result["metrics"]["accuracy"] > 0.9  # it learnt the rule

    loaded = textrnn.load(tmp_path / "straight")
    assert isinstance(loaded, HighSum) and loaded.model.cfg.head == HighSumHead()
    assert (tmp_path / "straight" / "digits.json").is_file()  # its own encoding, in its own file
    assert not (tmp_path / "straight" / "tokenizer.json").exists()
    # The folder holds the kept model: it scores the validation set as the run reported.
    val = HighSumTask.read_data(DigitsData(), seed=0)[1]
    right = [p == (high(t)) for p, t in zip(loaded.predict(val), val)]
    assert sum(right) / len(right) == pytest.approx(result["metrics"]["accuracy"])

    # Half the steps, then --resume to the same limit: the same weights as one straight run.
    textrnn.train(TOY, DigitsData(), config(), settings(200), tmp_path / "resumed")
    textrnn.train(TOY, DigitsData(), config(), settings(400), tmp_path / "resumed", resume=True)
    straight = load_training_state(tmp_path / "straight")["model"]
    resumed = load_training_state(tmp_path / "resumed")["model"]
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_the_command_line_trains_scores_and_uses_a_task_it_was_never_told_of(registered, tmp_path, capsys):
    run = tmp_path / "cli"
    cli.main(["train-high-sum", "--out", str(run), "--max-steps", "300", *TRAIN])
    trained = capsys.readouterr().out
    assert "run folder:" in trained and "accuracy" in trained

    held_out = tmp_path / "held_out.txt"
    texts = HighSumTask.read_data(DigitsData(), seed=7)[1]
    held_out.write_text("\n".join(texts) + "\n")
    cli.main(["evaluate", str(run), "--data", str(held_out), "--json"])
    scores = json.loads(capsys.readouterr().out)
    assert scores["examples"] == len(texts) and scores["accuracy"] > 0.85

    cli.main(["judge", str(run), "9999", "0000", "--shout"])
    assert capsys.readouterr().out == "9999\tHIGH\n0000\tLOW\n"
    with pytest.raises(SystemExit) as ended:  # a flag the task's evaluation lacks: one line
        cli.main(["evaluate", str(run), "--data", str(held_out), "--label-column", "y"])
    assert ended.value.code == 2
    assert "--label-column does not apply to a digit judge" in capsys.readouterr().err


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One trained run of the toy task, for the tests that serve it."""
    textrnn.TASKS[TOY] = HighSumTask
    try:
        folder = tmp_path_factory.mktemp("toy") / "served"
        textrnn.train(TOY, DigitsData(), config(), settings(300), folder)
    finally:
        del textrnn.TASKS[TOY]
    return folder


def test_the_server_lists_answers_and_draws_a_task_it_was_never_told_of(registered, served):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from textrnn.serve import create_app

    with TestClient(create_app([served]), base_url="http://localhost") as client:
        models = client.get("/v1/models").json()["models"]
        assert [(m["task"], m["endpoint"], m["panel"]) for m in models] == [(TOY, "/v1/judge", None)]
        assert models[0]["inputs"] == [{"name": "texts", "kind": "texts", "default": [],
                                        "help": "digit strings", "required": True}]
        answer = client.post("/v1/judge", json={"texts": ["9999", "0000"]})
        assert answer.status_code == 200 and answer.json() == {"model": "served", "high": [True, False]}
        refused = client.post("/v1/judge", json={"texts": ["9"], "colour": "red"})
        assert refused.status_code == 422 and "colour: unknown key" in refused.json()["error"]
        # The page has no panel of this task's own, so it draws the generic form from `inputs`.
        assert client.get(f"/panels/{TOY}.js").status_code == 404
        assert "genericPanel" in client.get("/static/app.js").text


def test_no_file_of_the_package_names_the_toy_task():
    for path in (ROOT / "textrnn").rglob("*"):
        if path.suffix in (".py", ".js", ".html"):
            text = path.read_text()
            assert TOY not in text and "HighSum" not in text and "digits.json" not in text, path


def test_an_unregistered_task_is_refused(tmp_path):
    with pytest.raises(textrnn.ConfigError, match="unknown task 'high_sum'"):
        textrnn.train(TOY, DigitsData(), config(), settings(10), tmp_path / "run")


def test_the_generic_form_answers_in_a_real_browser(registered, served):
    from test_serve_live import _browser, _wait

    browser = _browser()  # skips where no Chromium is installed
    try:
        with live(served) as url:
            browser.get(url + "/")
            _wait(browser, "document.getElementById('input-texts') !== null", 20)
            browser.find_element("id", "input-texts").send_keys("9999\n0000")
            browser.find_element("css selector", "button.send").click()
            _wait(browser, "document.querySelector('pre.answer').textContent.length > 0", 20)
            answer = json.loads(browser.find_element("css selector", "pre.answer").text)
            assert answer == {"model": "served", "high": [True, False]}
    finally:
        browser.quit()
