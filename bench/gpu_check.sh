#!/usr/bin/env bash
# A short end-to-end check on a CUDA machine: training in fp32 and bf16, resume, sampling,
# a classifier, a forecaster, data-parallel runs on every GPU (torchrun, NCCL), and the
# training-speed comparisons. Writes logs under ${OUT:-runs/gpu-check}.
#   bash bench/gpu_check.sh
set -uo pipefail
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
py() { python3 "$@"; }
status=0
step() { echo "=== $*"; }
check() { if [ "$1" -ne 0 ]; then echo "FAILED: $2"; status=1; else echo "ok: $2"; fi; }

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
py -c "import torch, tokenizers, safetensors, sklearn; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

for prec in fp32 bf16; do
  step "train-lm cuda $prec"
  py -m textrnn train-lm --data data/tiny_play.txt --out "$OUT/lm-$prec" --overwrite --device cuda \
     --precision $prec --max-steps 300 --eval-every 100 --save-every 100 --quiet
  check $? "train-lm cuda $prec"
done

step "resume on cuda: 150 + 150 steps equals 300 straight"
py -m textrnn train-lm --data data/tiny_play.txt --out "$OUT/resume-a" --overwrite --device cuda \
   --max-steps 300 --eval-every 150 --save-every 150 --quiet --dropout 0.2 > /dev/null
python3 - "$OUT" <<'PY'
import sys, signal, textrnn, torch
from textrnn.training import run
out = sys.argv[1]
orig = run.Trainer
class Stop(orig):
    def train_step(self, batch, scale=1.0):
        r = super().train_step(batch, scale)
        if self.state.step == 150:
            signal.raise_signal(signal.SIGINT)
        return r
run.Trainer = Stop
d = textrnn.DataConfig(data="data/tiny_play.txt")
m = textrnn.ModelConfig(encoder=textrnn.EncoderConfig(dropout=0.2))
t = textrnn.TrainConfig(max_steps=300, eval_every=150, save_every=150, device="cuda")
print(textrnn.train("lm", d, m, t, f"{out}/resume-b", overwrite=True, show_progress=False)["status"])
run.Trainer = orig
textrnn.train("lm", d, m, t, f"{out}/resume-b", resume=True, show_progress=False)
from textrnn.checkpoint import load_training_state
a = load_training_state(f"{out}/resume-a")["model"]; b = load_training_state(f"{out}/resume-b")["model"]
diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
print("max weight difference after resume on cuda:", diff)
PY
check $? "resume on cuda"

step "sample on cuda"
py -m textrnn sample "$OUT/lm-bf16" --device cuda --prompt "ZOE:" --length 200 --seed 1 --num-samples 2 --top-k 40
check $? "sample on cuda"
py -m textrnn sample "$OUT/lm-bf16" --device cuda --prompt "ZOE:" --length 200 --seed 1 \
  --num-samples 64 --weights bf16 --no-stream > /dev/null
check $? "64 samples with bf16 weights on cuda (the batch path timed on the GPU)"
py -m textrnn sample "$OUT/lm-bf16" --device cuda --weights int8 --length 5 2>&1 | grep -q "CPU only"
check $? "int8 weights on cuda refused in one line"

step "classifier on cuda (bf16)"
py recipes/sentiment.py --out "$OUT/clf" --overwrite --device cuda --precision bf16 --quiet \
   --test-data data/sentiment_sample.csv | tail -25
check $? "classifier on cuda"

step "forecaster on cuda (bf16): recipe, then forecast from the run folder"
py recipes/timeseries.py --out "$OUT/forecast" --overwrite --device cuda --precision bf16 --quiet | tail -8
check $? "timeseries recipe on cuda"
py -m textrnn forecast "$OUT/forecast" --data data/hourly_load.csv --device cuda > /dev/null
check $? "forecast on cuda"

GPUS=$(py -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -gt 1 ]; then
  step "torchrun: $GPUS processes on $GPUS GPUs (NCCL), a language model and a classifier"
  py -m torch.distributed.run --standalone --nproc-per-node "$GPUS" -m textrnn train-lm \
     --data data/tiny_play.txt --out "$OUT/ddp-lm" --overwrite --device cuda --precision bf16 \
     --batch-size $(( 16 * GPUS )) --max-steps 200 --eval-every 100 --save-every 100 --quiet | tail -2
  check $? "torchrun train-lm cuda"
  py -m torch.distributed.run --standalone --nproc-per-node "$GPUS" recipes/sentiment.py \
     --out "$OUT/ddp-clf" --overwrite --device cuda --batch-size $(( 16 * GPUS )) --quiet | tail -3
  check $? "torchrun sentiment recipe cuda"
  step "data-parallel speed: 1 GPU against $GPUS"
  py bench/ddp_speed.py --data data/tiny_play.txt --device cuda --procs "$GPUS" --precision bf16 --rounds 2
  check $? "ddp_speed cuda"
else
  echo "one GPU: the NCCL data-parallel checks need two or more (NCCL runs one process per GPU); skipped"
fi

step "training speed on cuda"
py bench/train_speed.py --device cuda --precision fp32,bf16 --steps 60 --rounds 3
check $? "train_speed cuda"
exit $status
