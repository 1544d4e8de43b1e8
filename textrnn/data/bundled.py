"""The sample data the recipes train on by default: the data/ folder of a source checkout."""
import time
from pathlib import Path

SAMPLE_DATA = Path(__file__).resolve().parent.parent.parent / "data"


def timestamped(name: str) -> str:
    """A fresh run folder for a recipe's run: runs/NAME-YYYYmmdd-HHMMSS."""
    return f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}"
