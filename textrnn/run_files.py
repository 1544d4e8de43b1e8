"""The names of a run folder's files, in one place: the checkpoint, the checkpointer, the
manifest, the token cache and the run guard all read them here. The file of a run's
encoding (tokenizer.json, scaler.json, ...) is its encoding's own (encodings.py), and a
task names the plots its report draws (Task.plots)."""
from pathlib import Path

CONFIG = "config.json"            # the model's architecture, task and encoding kind
WEIGHTS = "model.safetensors"     # the kept weights
STATE = "training_state.pt"       # what --resume reads
MANIFEST = "manifest.json"        # the run's id and each file's step, size and digest
LOG = "log.jsonl"                 # a record per log line and per evaluation
METRICS = "metrics.json"          # the final evaluation
SETTINGS = "training_config.json"  # the data and training settings the run was given
LOSS_PLOT = "loss.png"
CARD = "README.md"                # the model card (model_card.py), as the Hub shows it
TOKENS = "tokens"                 # the folder of the token cache (memory-mapped ids)
LOCK = ".lock"                    # held by the one process that writes the folder
EXPORTED = "step.onnx"            # `textrnn export`'s default output, beside the weights


# What a fresh run clears of an earlier run in the same folder (with the encoding files and
# the tasks' plots; the token cache is keyed by its content, so a new run may reuse it).
WRITTEN = (CONFIG, WEIGHTS, STATE, LOG, METRICS, SETTINGS, LOSS_PLOT, CARD)


def holds_run(folder) -> bool:
    """A folder where a run has begun: its manifest, config or resume state exists."""
    return any((Path(folder) / name).exists() for name in (MANIFEST, CONFIG, STATE))
