"""Length-bucketed batches against random batches padded to their longest review.

    python bench/bucketing_speed.py --data IMDB/train.parquet --test-data IMDB/test.parquet

Both runs train the same BiLSTM classifier (same seed, same examples, same epochs and
batch size) in one process, then score the same test reviews the same way:
- bucketed: textrnn's `ClassifierTask`, batches of reviews of similar length;
- padded: random batches, each padded to its longest review.
Both pass the true lengths, so padding never changes a prediction and the accuracies
should agree; what differs is how much padding the RNN runs over. Reviews are kept whole
by default (--max-length 0), as in "pad to the longest review"; pass --max-length 400 for
the recipe's cut. Throughput counts real (non-padding) tokens per second of training.
One JSON object is printed; the figure to read is the speed ratio at equal accuracy.
"""
import argparse
import json
import random
import tempfile

import torch

import textrnn
from textrnn.data import encode_texts, label_ids, label_names, load_labelled
from textrnn import ClassifierTask


class PaddedTask(ClassifierTask):
    """Random batches, each padded to its longest review."""

    def batches(self, epoch):
        if self._epoch != epoch:
            order = list(range(len(self.seqs)))
            random.Random(self.seed * 1000 + epoch).shuffle(order)
            self._epoch = epoch
            self._batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        return self._batches


def padding_share(task, epochs) -> float:
    """Fraction of the RNN's time steps spent on padding over the run's batches."""
    real = padded = 0
    for epoch in range(epochs):
        for idx in task.batches(epoch):
            lengths = [len(task.seqs[j]) for j in idx]
            real, padded = real + sum(lengths), padded + max(lengths) * len(lengths)
    return 1 - real / padded


def run(task_cls, seqs, y, test_seqs, y_test, names, cfg_model, args, **kw):
    torch.manual_seed(args.seed)
    model = textrnn.build_model(cfg_model)
    task = task_cls(seqs, y, test_seqs, y_test, names, args.batch_size, args.seed, **kw)
    train_cfg = textrnn.TrainConfig(batch_size=args.batch_size, lr=1e-3, epochs=args.epochs, eval_every=10**9,
                                    save_every=10**9, log_every=10, warmup_steps=20,
                                    weight_decay=0.0, device="cpu", precision=args.precision,
                                    seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tok = textrnn.train_tokenizer("char", ["ab"])  # the folder needs some tokenizer.json
        trainer = textrnn.Trainer(model, task, train_cfg, tmp, tok, torch.device("cpu"),
                                  args.precision, show_progress=False)
        trainer.fit()
        accuracy = task.evaluate(model, torch.device("cpu"), args.precision)["accuracy"]
    real_tokens = sum(len(s) for s in seqs) * args.epochs
    elapsed = trainer.state.elapsed
    return {"accuracy": round(accuracy, 4), "train_seconds": round(elapsed, 1),
            "real_tokens_per_s": round(real_tokens / elapsed),
            "padding_share": round(padding_share(task, args.epochs), 3)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--test-data", required=True)
    p.add_argument("--train-examples", type=int, default=6000)
    p.add_argument("--test-examples", type=int, default=3000)
    p.add_argument("--max-length", type=int, default=0, help="tokens kept per review; 0 keeps all")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="bf16")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    def subset(data, n):
        idx = random.Random(args.seed).sample(range(len(data.texts)), min(n, len(data.texts)))
        return textrnn.data.Labelled([data.texts[i] for i in idx], [data.labels[i] for i in idx], data.names)

    train = subset(load_labelled(args.data), args.train_examples)
    test = subset(load_labelled(args.test_data), args.test_examples)
    names = label_names(train)
    tok = textrnn.train_tokenizer("word", train.texts, 20000, lowercase=True, strip_html=True,
                                  max_length=args.max_length, leading_space=True)
    seqs, test_seqs = encode_texts(tok, train.texts), encode_texts(tok, test.texts)
    y, y_test = label_ids(train, names), label_ids(test, names)
    cfg = textrnn.ModelConfig(task="classifier", vocab_size=tok.get_vocab_size(),
                              encoder=textrnn.EncoderConfig(embed_dim=300, hidden_size=256, num_layers=1,
                                                            bidirectional=True, dropout=0.5),
                              head=textrnn.ClassifierHeadConfig(pooling="max", labels=names))
    bucketed = run(ClassifierTask, seqs, y, test_seqs, y_test, names, cfg, args)
    padded = run(PaddedTask, seqs, y, test_seqs, y_test, names, cfg, args)
    print(json.dumps({"benchmark": "bucketing_speed", "settings": vars(args),
                      "mean_tokens_per_review": round(sum(map(len, seqs)) / len(seqs), 1),
                      "bucketed": bucketed, "padded_to_longest": padded,
                      "speed_ratio": round(bucketed["real_tokens_per_s"] / padded["real_tokens_per_s"], 2),
                      "accuracy_difference": round(bucketed["accuracy"] - padded["accuracy"], 4)},
                     indent=1))


if __name__ == "__main__":
    main()
