"""Kim's (2014) CNN-rand, the sentence classifier a recurrent one must beat on small sets,
written in plain PyTorch as the paper describes it.

Words get 300-dimensional vectors drawn at random and trained (no pretrained embeddings);
convolutions of widths 3, 4 and 5 with 100 feature maps each, ReLU, max over time; dropout
0.5 on the pooled 300 features; a softmax layer whose weight rows are rescaled to an L2 norm
of at most 3 after every update; Adadelta (rho 0.95) on mini-batches of 50; 25 epochs with
the epoch of best validation accuracy kept (the paper's early stopping on a dev set). Words
not seen in training read as one untrained zero vector, as padding does.
"""
import re
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

WIDTHS, MAPS, DIM, DROPOUT, MAX_NORM = (3, 4, 5), 100, 300, 0.5, 3.0
BATCH, EPOCHS = 50, 25
TOKEN = re.compile(r"[\w']+|[^\w\s]")


def words(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class CNNRand(nn.Module):
    def __init__(self, vocab: int, classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, DIM, padding_idx=0)
        nn.init.uniform_(self.embed.weight, -0.25, 0.25)  # the paper's code: U[-0.25, 0.25]
        with torch.no_grad():
            self.embed.weight[0].zero_()
        self.convs = nn.ModuleList(nn.Conv1d(DIM, MAPS, w) for w in WIDTHS)
        self.drop = nn.Dropout(DROPOUT)
        self.out = nn.Linear(MAPS * len(WIDTHS), classes)

    def forward(self, ids):  # (B, T) -> (B, classes)
        x = self.embed(ids).transpose(1, 2)  # (B, DIM, T)
        pooled = [torch.relu(conv(x)).amax(dim=2) for conv in self.convs]  # each (B, MAPS)
        return self.out(self.drop(torch.cat(pooled, dim=1)))

    @torch.no_grad()
    def constrain(self):
        """Rescale each class's weight row to an L2 norm of at most MAX_NORM (Hinton et al. 2012)."""
        norms = self.out.weight.norm(dim=1, keepdim=True).clamp(min=MAX_NORM)
        self.out.weight.mul_(MAX_NORM / norms)


def encode(texts, vocab: dict) -> list[list[int]]:
    return [[vocab.get(w, 0) for w in words(t)] for t in texts]


def batch_ids(seqs) -> torch.Tensor:
    """(B, T) ids, padded with 0 to the longest, and at least as long as the widest filter."""
    ids = pad_sequence([torch.tensor(s, dtype=torch.long) for s in seqs], batch_first=True)
    return nn.functional.pad(ids, (0, max(WIDTHS) - ids.size(1))) if ids.size(1) < max(WIDTHS) else ids


@torch.no_grad()
def accuracy(model, seqs, labels) -> float:
    model.eval()
    right = 0
    for i in range(0, len(seqs), 500):
        pred = model(batch_ids(seqs[i:i + 500])).argmax(1)
        right += int((pred == torch.tensor(labels[i:i + 500])).sum())
    return right / len(seqs)


def train_cnn_rand(train, val, test, classes: int, seed: int, time_budget: float) -> dict:
    """Train on `train` ((texts, labels)), keep the epoch of best `val` accuracy, report it on
    `test`. Stops early when `time_budget` seconds have passed."""
    torch.manual_seed(seed)
    vocab = {}
    for t in train[0]:
        for w in words(t):
            vocab.setdefault(w, len(vocab) + 1)  # 0 is padding and unseen words
    x_train, x_val, x_test = (encode(t, vocab) for t in (train[0], val[0], test[0]))
    y_train = torch.tensor(train[1])
    model = CNNRand(len(vocab) + 1, classes)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    start, best, epochs = time.perf_counter(), (-1.0, None), 0
    g = torch.Generator().manual_seed(seed)
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x_train), generator=g).tolist()
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            loss = nn.functional.cross_entropy(model(batch_ids([x_train[j] for j in idx])), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.constrain()
        epochs = epoch + 1
        val_acc = accuracy(model, x_val, val[1])
        if val_acc > best[0]:
            best = (val_acc, {k: v.clone() for k, v in model.state_dict().items()})
        if time.perf_counter() - start > time_budget:
            break
    model.load_state_dict(best[1])
    return {"val_accuracy": round(best[0], 4), "accuracy": round(accuracy(model, x_test, test[1]), 4),
            "epochs": epochs, "vocabulary": len(vocab), "seconds": round(time.perf_counter() - start, 1)}
