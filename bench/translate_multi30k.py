"""Multi30k German to English: textrnn's translator against the PyTorch seq2seq tutorial's
model, the same training time each, side by side.

    python bench/translate_multi30k.py --data-dir multi30k --budget 1800

The data: train (29,000 pairs), val (1,014) and test_2016_flickr (1,000), raw and cased
(`{train,val,test_2016_flickr}.{de,en}`). Scores are sacreBLEU and chrF on detokenised,
cased output (their signatures are printed).

  a. textrnn: `textrnn train-translator` with its defaults (BPE, 8,000 German and 4,000
     English, a bidirectional GRU encoder 2x256, a GRU decoder 512 with additive attention
     and input feeding, label smoothing 0.1, Adam 2e-3 warmed up over 200 steps then cosine-decayed to the
     end of the budget, a moving average of the weights (0.999) validated and kept, batch
     64), --time-budget seconds of training, the best validation-BLEU weights kept; test
     BLEU greedy and with beam 5, at the length penalty (0.6, 1.0 or 1.5) that the run
     chose on validation after training.
  b. the tutorial's model (PyTorch's "NLP From Scratch: Translation with a Sequence to
     Sequence Network and Attention"): an embedding and a one-way GRU encoder, a GRU
     decoder fed [embedding; Bahdanau context] with no attention mask, a linear output,
     NLLLoss with teacher forcing, Adam 1e-3; written here in plain PyTorch, trained for the
     same seconds on the same batches and the same tokenizer (a's); greedy decoding as the
     tutorial does. Its width is --tutorial-hidden (256; the tutorial's own is 128).

Also reported: training tokens/s (target tokens), and decoding speed: sentences/s of
batched beam search against one sentence at a time. Prints JSON.
"""
import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
from torch import nn

import textrnn
from textrnn.data import bucketed_batches, collate, encode_texts
from textrnn.tasks.translator import bleu_chrf, detokenize, special_ids
from textrnn.tokenizer_pair import sides

sys.path.insert(0, str(Path(__file__).parent))
from recipe_run import read_run, run_command  # noqa: E402

PAD = 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True, help="the multi30k folder")
    p.add_argument("--budget", type=float, default=1800.0, help="training seconds, each model")
    p.add_argument("--precision", default="fp32", help="textrnn's --precision (bf16 on CPUs with "
                   "bf16 arithmetic)")
    p.add_argument("--tutorial-hidden", type=int, default=256)
    p.add_argument("--decode-sample", type=int, default=100,
                   help="test sentences translated one at a time for the decoding speed")
    p.add_argument("--out", default="runs/bench-multi30k")
    p.add_argument("--skip-tutorial", action="store_true")
    p.add_argument("extra", nargs="*", help="more train-translator flags, after --")
    return p.parse_args(argv)


def files(d: Path, split: str) -> list[str]:
    return [str(d / f"{split}.de"), str(d / f"{split}.en")]


def train_textrnn(args) -> dict:
    d = Path(args.data_dir)
    cmd = ["train-translator", "--data", *files(d, "train"), "--val-data", *files(d, "val"),
           "--test-data", *files(d, "test_2016_flickr"), "--time-budget", str(args.budget),
           "--epochs", "0", "--precision", args.precision, *args.extra, "--out", args.out,
           "--overwrite", "--quiet"]
    seconds = run_command(cmd)
    run = read_run(args.out)
    test, chosen = run["metrics"]["test"], run["metrics"]["length_penalty"]
    return {"command": "textrnn " + " ".join(cmd), "total_seconds": round(seconds, 1),
            "train_seconds": run["train_seconds"], "steps": run["steps"],
            "epochs": run["log"][-1].get("epoch"), "target_tokens_per_s": run["median_tokens_per_s"],
            "val_bleu": round(run["metrics"]["val"]["bleu"], 2),
            "length_penalty": {**chosen, "val_bleu_beam_5": {a: round(b, 2) for a, b in
                                                             chosen["val_bleu_beam_5"].items()}},
            **{name: {"bleu": round(m["bleu"], 2), "chrf": round(m["chrf"], 2)} for name, m in test.items()},
            "signature": test["greedy"]["signature"]}


def decoding_speed(args, tr) -> dict:
    """Sentences/s of beam 5 over the test set as batches, and one sentence at a time."""
    src = textrnn.load_pairs(files(Path(args.data_dir), "test_2016_flickr")).sources
    t0 = time.perf_counter()
    tr.translate(src, beam=5)
    batched = len(src) / (time.perf_counter() - t0)
    some = src[: args.decode_sample]
    t0 = time.perf_counter()
    for s in some:
        tr.translate([s], beam=5)
    alone = len(some) / (time.perf_counter() - t0)
    return {"beam5_batched_sentences_per_s": round(batched, 1),
            "beam5_one_at_a_time_sentences_per_s": round(alone, 1), "batched_over_one": round(batched / alone, 2)}


# ---- the tutorial's model, in plain PyTorch ---------------------------------------------------
class Encoder(nn.Module):
    def __init__(self, vocab: int, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.gru(self.dropout(self.embedding(x)))  # (B, S, H), (1, B, H)


class Attention(nn.Module):  # Bahdanau et al. 2015, as the tutorial writes it
    def __init__(self, hidden: int):
        super().__init__()
        self.Wa, self.Ua, self.Va = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 1)

    def forward(self, query, keys):  # (B, 1, H), (B, S, H)
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys))).squeeze(2).unsqueeze(1)
        weights = torch.softmax(scores, -1)  # (B, 1, S); padding is not masked, as in the tutorial
        return torch.bmm(weights, keys), weights


class Decoder(nn.Module):
    def __init__(self, vocab: int, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.attention = Attention(hidden)
        self.gru = nn.GRU(2 * hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        self.dropout = nn.Dropout(dropout)

    def step(self, y, hidden, enc_out):  # y (B, 1)
        embedded = self.dropout(self.embedding(y))
        context, _ = self.attention(hidden.permute(1, 0, 2), enc_out)
        out, hidden = self.gru(torch.cat([embedded, context], 2), hidden)
        return torch.log_softmax(self.out(out), -1), hidden  # (B, 1, V)


def tutorial(args, translator) -> dict:
    d = Path(args.data_dir)
    train = textrnn.load_pairs(files(d, "train"))
    test = textrnn.load_pairs(files(d, "test_2016_flickr"))
    source, target, kind = sides(translator.tokenizer, translator.config.tokenizer)
    bos, eos = special_ids(target)
    src, tgt = encode_texts(source, train.sources), encode_texts(target, train.targets)
    keep = [i for i in range(len(src)) if max(len(src[i]), len(tgt[i]) + 1) <= 100]
    src, tgt = [src[i] for i in keep], [tgt[i] for i in keep]
    torch.manual_seed(0)
    H = args.tutorial_hidden
    enc, dec = Encoder(source.get_vocab_size(), H), Decoder(target.get_vocab_size(), H)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    loss_fn = nn.NLLLoss(ignore_index=PAD)
    start, tokens, epoch, steps = time.perf_counter(), 0, 0, 0
    while time.perf_counter() - start < args.budget:
        for idx in bucketed_batches([len(s) + len(t) for s, t in zip(src, tgt)], 64, seed=epoch):
            if time.perf_counter() - start >= args.budget:
                break
            x, _ = collate([src[i] for i in idx])
            y_in, _ = collate([[bos] + tgt[i] for i in idx])
            y_out, _ = collate([tgt[i] + [eos] for i in idx])
            enc_out, hidden = enc(x)
            outs = []
            for t in range(y_in.size(1)):  # teacher forcing
                out, hidden = dec.step(y_in[:, t:t + 1], hidden, enc_out)
                outs.append(out)
            loss = loss_fn(torch.cat(outs, 1).flatten(0, 1), y_out.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            tokens += int((y_out != PAD).sum())
            steps += 1
        epoch += 1
    seconds = time.perf_counter() - start
    hyps = tutorial_greedy(enc.eval(), dec.eval(), encode_texts(source, test.sources), bos, eos)
    scores = bleu_chrf([detokenize(target, h, kind) for h in hyps], test.targets)
    return {"train_seconds": round(seconds, 1), "steps": steps, "epochs": round(steps / math.ceil(len(src) / 64), 2),
            "target_tokens_per_s": round(tokens / seconds), "hidden": H,
            "greedy": {"bleu": round(scores["bleu"], 2), "chrf": round(scores["chrf"], 2)}}


@torch.no_grad()
def tutorial_greedy(enc, dec, sources, bos, eos, batch=64) -> list[list[int]]:
    out = [None] * len(sources)
    for idx in bucketed_batches([len(s) for s in sources], batch, seed=0, shuffle=False):
        x, lengths = collate([sources[i] for i in idx])
        enc_out, hidden = enc(x)
        y, rows = torch.full((len(idx), 1), bos), []
        for _ in range(int(lengths.max()) * 3 // 2 + 10):
            logp, hidden = dec.step(y, hidden, enc_out)
            y = logp.argmax(-1)  # (B, 1)
            rows.append(y)
        seqs = torch.cat(rows, 1).tolist()
        for i, s in zip(idx, seqs):
            out[i] = s[: s.index(eos)] if eos in s else s
    return out


def main():
    args = parse_args()
    random.seed(0)
    result = {"cpu": cpu(), "budget_s": args.budget, "textrnn": train_textrnn(args)}
    tr = textrnn.load(args.out)  # the trained run, read once for every score below
    result["textrnn"]["decoding"] = decoding_speed(args, tr)
    if not args.skip_tutorial:
        result["tutorial"] = tutorial(args, tr)
        result["textrnn_greedy_minus_tutorial_greedy"] = round(
            result["textrnn"]["greedy"]["bleu"] - result["tutorial"]["greedy"]["bleu"], 2)
    print(json.dumps(result, indent=1))


def cpu() -> str:
    from sample_speed import cpu_name
    return cpu_name()


if __name__ == "__main__":
    main()
