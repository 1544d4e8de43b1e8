"""A new task touches no core file: a toy task, written entirely here, registers itself in
textrnn.TASKS and then trains through the one Trainer, saves and loads through the run
folder, and resumes exactly."""
import random
from dataclasses import dataclass

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import textrnn
from textrnn import EncoderConfig, ModelConfig, RNNEncoder, TrainConfig, setting
from textrnn.checkpoint import load_training_state


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


class HighSum:
    """What textrnn.load returns for this task."""

    def __init__(self, model, tokenizer, run_dir=None, step=0):
        self.model, self.tokenizer, self.step = model, tokenizer, step

    def predict(self, texts: list[str]) -> list[bool]:
        ids = torch.tensor([self.tokenizer.encode(t).ids for t in texts])
        with torch.no_grad():
            return (self.model.eval()(ids).argmax(-1) == 1).tolist()


class HighSumTask:
    name, command, Head, Data, Loaded = "high_sum", "train-high-sum", HighSumHead, DigitsData, HighSum
    command_defaults, encoder_flags_skip = {}, ("bidirectional",)
    metric, mode, sampled_eval, loss_unit = "accuracy", "max", False, "nats per example"

    @staticmethod
    def check_model(cfg):
        pass

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
    def new_tokenizer(data, data_cfg):
        return "char", textrnn.train_tokenizer("char", ["0123456789"])

    @staticmethod
    def complete(cfg, data):
        return cfg

    @staticmethod
    def from_language_model(lm, tokenizer, data, data_cfg, model_cfg):
        raise textrnn.ConfigError("high_sum starts from scratch")

    @classmethod
    def prepare(cls, data, tokenizer, data_cfg, train_cfg, run_dir, model_cfg):
        def tensors(texts):
            ids = torch.tensor([tokenizer.encode(t).ids for t in texts])  # (N, T)
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
        was_training = model.training
        logits = model.eval()(self.x_val.to(device))
        model.train(was_training)
        return {"accuracy": float((logits.argmax(-1).cpu() == self.y_val).float().mean()),
                "loss": float(F.cross_entropy(logits.cpu(), self.y_val))}

    def report(self, model, metrics, folder, device, precision):
        return {}


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(textrnn.TASKS, "high_sum", HighSumTask)


def config():
    return ModelConfig(task="high_sum", encoder=EncoderConfig(cell="gru", embed_dim=8, hidden_size=32,
                                                              num_layers=1, dropout=0.0),
                       head=HighSumHead())


def settings(max_steps):
    return TrainConfig(batch_size=16, lr=1e-2, max_steps=max_steps, eval_every=25, save_every=25,
                       warmup_steps=0, schedule="constant", device="cpu", seed=0)


def test_a_task_defined_outside_the_core_trains_saves_loads_and_resumes(registered, tmp_path):
    result = textrnn.train("high_sum", DigitsData(), config(), settings(400), tmp_path / "straight")
    assert result["status"] == "done" and result["metrics"]["accuracy"] > 0.9  # it learnt the rule

    loaded = textrnn.load(tmp_path / "straight")
    assert isinstance(loaded, HighSum) and loaded.model.cfg.head == HighSumHead()
    # The folder holds the kept model: it scores the validation set as the run reported.
    val = HighSumTask.read_data(DigitsData(), seed=0)[1]
    right = [p == (high(t)) for p, t in zip(loaded.predict(val), val)]
    assert sum(right) / len(right) == pytest.approx(result["metrics"]["accuracy"])

    # Half the steps, then --resume to the same limit: the same weights as one straight run.
    textrnn.train("high_sum", DigitsData(), config(), settings(200), tmp_path / "resumed")
    textrnn.train("high_sum", DigitsData(), config(), settings(400), tmp_path / "resumed", resume=True)
    straight = load_training_state(tmp_path / "straight")["model"]
    resumed = load_training_state(tmp_path / "resumed")["model"]
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_an_unregistered_task_is_refused(tmp_path):
    with pytest.raises(textrnn.ConfigError, match="unknown task 'high_sum'"):
        textrnn.train("high_sum", DigitsData(), config(), settings(10), tmp_path / "run")
