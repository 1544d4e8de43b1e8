"""Speech to text on the Free Spoken Digit Dataset: single digits, leave one speaker out,
and connected digits with and without a digit-string language model.

    python bench/speech_fsdd.py --recordings fsdd/recordings --parts digits connected
    python bench/speech_fsdd.py --recordings fsdd/recordings --parts loso --loso-budget 150

Recordings are {digit}_{speaker}_{index}.wav (8 kHz); the standard split is index 0-4 test,
5-49 train. Transcripts are digit words ("seven three one"), scored after lower-casing and
stripping punctuation on both sides.

- digits: `textrnn train-speech`'s defaults on the standard split for --digits-budget
  seconds; accuracy (a clip is right when its transcript is exactly the digit's word), WER,
  greedy and by a beam with the grammar's LM (below) fused in, and the real-time factor
  (processing seconds per audio second) at batch 1 and batch 32.
- loso: train on three speakers (all their recordings), test on the fourth, each in turn.
- connected: clips of 1 to 7 digits made here with a fixed seed by joining recordings of one
  speaker with random pauses (0.05-0.4 s) and gains (0.5-1.5): training strings from
  training recordings only, --connected-test test strings from test recordings only. The
  strings follow a stated grammar: one or two digits, a three-digit area code (first digit
  2-9), a four-digit date (MMDD: a real month and day) or a seven-digit phone number (first
  digit 2-9), each shape equally likely. Trained for --connected-budget seconds; WER greedy,
  by a beam of --beam, and by that beam with a character LM trained here on 20,000 strings
  of the grammar (its budget --lm-budget) fused in.

`--cell` and `--block` pick the encoder (e.g. --cell minlstm --block residual); time is
shortened 2 times, not 4 (`--time-stride`), since FSDD's shortest clips (0.14 s) give too
few frames at 4 for "three". Prints JSON.
"""
import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPEAKERS = ("george", "jackson", "nicolas", "yweweler")
DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def recordings(folder: Path) -> list[dict]:
    out = []
    for f in sorted(folder.glob("*.wav")):
        digit, speaker, index = f.stem.split("_")
        out.append({"path": str(f), "digit": int(digit), "speaker": speaker, "index": int(index)})
    return out


def write_table(path: Path, rows) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("path", "text"), *rows])
    return path


def digit_string(rng: random.Random) -> list[int]:
    """One string of the grammar (see the module's docstring)."""
    shape = rng.choice(["short", "area", "date", "phone"])
    if shape == "short":
        return [rng.randrange(10) for _ in range(rng.randint(1, 2))]
    if shape == "area":
        return [rng.randint(2, 9)] + [rng.randrange(10) for _ in range(2)]
    if shape == "date":
        month = rng.randint(1, 12)
        day = rng.randint(1, DAYS[month - 1])
        return [month // 10, month % 10, day // 10, day % 10]
    return [rng.randint(2, 9)] + [rng.randrange(10) for _ in range(6)]


def join_clips(parts: list[str], rng: random.Random) -> np.ndarray:
    import soundfile
    pieces = [np.zeros(int(8000 * rng.uniform(0.05, 0.2)), np.float32)]
    for p in parts:
        x, rate = soundfile.read(p, dtype="float32")
        assert rate == 8000
        pieces += [x * rng.uniform(0.5, 1.5), np.zeros(int(8000 * rng.uniform(0.05, 0.4)), np.float32)]
    return np.clip(np.concatenate(pieces), -1, 1)


def connected_set(recs, indices, count: int, rng: random.Random, folder: Path, name: str) -> Path:
    """`count` joined clips, each one speaker's recordings of a grammar string's digits."""
    import soundfile
    pool = {}
    for r in recs:
        if r["index"] in indices:
            pool.setdefault((r["speaker"], r["digit"]), []).append(r["path"])
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        speaker, digits = rng.choice(SPEAKERS), digit_string(rng)
        audio = join_clips([rng.choice(pool[speaker, d]) for d in digits], rng)
        path = folder / f"{name}_{i:05d}.wav"
        soundfile.write(path, audio, 8000, subtype="PCM_16")
        rows.append((str(path), " ".join(WORDS[d] for d in digits)))
    return write_table(folder / f"{name}.csv", rows)


def textrnn(*args) -> float:
    t0 = time.perf_counter()
    job = subprocess.run([sys.executable, "-m", "textrnn", *map(str, args)], capture_output=True, text=True)
    if job.returncode != 0:
        sys.exit(f"textrnn {args[0]} failed: {job.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - t0


def train(table, out, budget, args, val=None, test=None) -> dict:
    extra = ["--cell", args.cell, "--block", args.block, "--precision", args.precision,
             "--time-stride", args.time_stride, "--ema", args.ema,
             "--speed-perturb" if args.speed_perturb else "--no-speed-perturb"]
    if val:
        extra += ["--val-data", val]
    if test:
        extra += ["--test-data", test]
    seconds = textrnn("train-speech", "--data", table, "--time-budget", budget, "--out", out,
                      "--overwrite", "--quiet", "--epochs", 0, *extra)
    log = [json.loads(line) for line in (Path(out) / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "tokens_per_s" in r]
    return {"wall_seconds": round(seconds, 1), "steps": steps[-1]["step"],
            "epochs": steps[-1]["epoch"] + 1,
            "median_frames_per_s": sorted(r["tokens_per_s"] for r in steps)[len(steps) // 2],
            "metrics": json.loads((Path(out) / "metrics.json").read_text())}


def scored(run, table, **decoding) -> dict:
    import textrnn as tr
    model = tr.load(run)
    data = tr.load_transcribed(table)
    clips = [data.clips[i] for i in range(len(data))]
    t0 = time.perf_counter()
    heard = [h["text"] for h in model.transcribe(clips, **decoding)]
    seconds = time.perf_counter() - t0
    from textrnn.tasks.transcriber import scores
    result = scores(data.texts, heard, examples=3)
    exact = sum(h.split() == t.split() for h, t in zip(heard, data.texts))
    return {"wer": round(result["wer"], 4), "cer": round(result["cer"], 4),
            "exact": round(exact / len(heard), 4), "clips": len(heard),
            "decode_seconds": round(seconds, 1), "examples": result["examples"]}


def real_time_factor(run, table) -> dict:
    """Processing seconds per audio second (greedy), at batch 1 and batch 32, 64 clips."""
    import soundfile
    import textrnn as tr
    model = tr.load(run)
    data = tr.load_transcribed(table)
    clips = [data.clips[i] for i in range(min(64, len(data)))]
    audio = sum(soundfile.info(c.path).duration for c in clips)
    out = {}
    for batch in (1, 32):
        model.transcribe(clips[:batch], batch_size=batch)  # warm up
        t0 = time.perf_counter()
        model.transcribe(clips, batch_size=batch)
        rtf = (time.perf_counter() - t0) / audio
        out[f"batch_{batch}"] = {"rtf": round(rtf, 4), "x_real_time": round(1 / rtf, 1)}
    return out


def digits_part(recs, args, tmp: Path) -> dict:
    row = lambda r: (r["path"], WORDS[r["digit"]])  # noqa: E731
    train_t = write_table(tmp / "train.csv", [row(r) for r in recs if r["index"] >= 5])
    test_t = write_table(tmp / "test.csv", [row(r) for r in recs if r["index"] < 5])
    run = f"{args.out}-digits"
    result = train(train_t, run, args.digits_budget, args)
    lm = lm_part(args, tmp)
    return {"train": {k: v for k, v in result.items() if k != "metrics"},
            "lm_wall_seconds": round(args.lm_seconds, 1),
            "validation": result["metrics"]["val"], "test": scored(run, test_t),
            f"test_beam_{args.beam}_lm": scored(run, test_t, beam=args.beam, lm=lm,
                                                lm_weight=args.lm_weight, word_bonus=args.word_bonus),
            "real_time_factor": real_time_factor(run, test_t)}


def loso_part(recs, args, tmp: Path) -> dict:
    out = {}
    for held in SPEAKERS:
        row = lambda r: (r["path"], WORDS[r["digit"]])  # noqa: E731
        train_t = write_table(tmp / f"loso-{held}-train.csv", [row(r) for r in recs if r["speaker"] != held])
        test_t = write_table(tmp / f"loso-{held}-test.csv", [row(r) for r in recs if r["speaker"] == held])
        run = f"{args.out}-loso-{held}"
        result = train(train_t, run, args.loso_budget, args)
        out[held] = {"steps": result["steps"], **scored(run, test_t)}
    out["mean_exact"] = round(sum(v["exact"] for v in out.values()) / len(SPEAKERS), 4)
    return out


def lm_part(args, tmp: Path) -> str:
    """A character LM of the grammar's strings (trained once, for every part that fuses it;
    its wall seconds in args.lm_seconds)."""
    run = f"{args.out}-digit-lm"
    if (tmp / "strings.txt").exists():
        return run
    rng = random.Random(7)
    lines = [" ".join(WORDS[d] for d in digit_string(rng)) for _ in range(20_000)]
    (tmp / "strings.txt").write_text("\n".join(lines) + "\n")
    args.lm_seconds = textrnn("train-lm", "--data", tmp / "strings.txt", "--tokenizer", "char", "--hidden-size", 256,
            "--num-layers", 2, "--embed-dim", 32, "--dropout", 0.1, "--time-budget", args.lm_budget,
            "--out", run, "--overwrite", "--quiet", "--precision", args.precision)
    return run


def connected_part(recs, args, tmp: Path) -> dict:
    rng = random.Random(2026)
    train_t = connected_set(recs, range(5, 50), args.connected_train, rng, tmp / "connected", "train")
    val_t = connected_set(recs, range(5, 50), 200, rng, tmp / "connected", "val")
    test_t = connected_set(recs, range(0, 5), args.connected_test, rng, tmp / "connected", "test")
    run = f"{args.out}-connected"
    result = train(train_t, run, args.connected_budget, args, val=val_t)
    lm = lm_part(args, tmp)
    return {"train": {k: v for k, v in result.items() if k != "metrics"},
            "validation": result["metrics"]["val"],
            "greedy": scored(run, test_t),
            f"beam_{args.beam}": scored(run, test_t, beam=args.beam),
            f"beam_{args.beam}_lm": scored(run, test_t, beam=args.beam, lm=lm, lm_weight=args.lm_weight,
                                            word_bonus=args.word_bonus),
            "lm": json.loads((Path(lm) / "metrics.json").read_text())["val"],
            "real_time_factor": real_time_factor(run, test_t)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recordings", required=True, type=Path)
    p.add_argument("--parts", nargs="+", choices=("digits", "loso", "connected"), default=["digits", "connected"])
    p.add_argument("--digits-budget", type=float, default=600.0)
    p.add_argument("--loso-budget", type=float, default=150.0)
    p.add_argument("--connected-budget", type=float, default=1200.0)
    p.add_argument("--connected-train", type=int, default=6000)
    p.add_argument("--connected-test", type=int, default=1000)
    p.add_argument("--lm-budget", type=float, default=90.0)
    p.add_argument("--beam", type=int, default=16)
    p.add_argument("--lm-weight", type=float, default=0.5)
    p.add_argument("--word-bonus", type=float, default=0.0)
    p.add_argument("--cell", default="lstm")
    p.add_argument("--block", default="plain")
    p.add_argument("--time-stride", type=int, default=2,
                   help="2: FSDD's shortest clips (0.14 s) hold too few frames for 'three' at 4")
    p.add_argument("--precision", default="auto")
    p.add_argument("--ema", type=float, default=0.0, help="train-speech's --ema (0: none)")
    p.add_argument("--speed-perturb", action="store_true", help="train-speech's --speed-perturb")
    p.add_argument("--out", default="runs/bench-fsdd")
    args = p.parse_args()
    recs = recordings(args.recordings)
    result = {"benchmark": "speech_fsdd", "cell": args.cell, "block": args.block, "ema": args.ema,
              "speed_perturb": args.speed_perturb, "recordings": len(recs)}
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.parts:
            result[part] = {"digits": digits_part, "loso": loso_part,
                            "connected": connected_part}[part](recs, args, Path(tmp))
            print(json.dumps({part: result[part]}), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
