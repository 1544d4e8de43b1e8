"""Labelled examples for a classifier run: train, validation and test splits with class ids."""
from collections import Counter
from dataclasses import dataclass

from ..data import Labelled, label_ids, label_names, load_labelled
from ..errors import DataError, setting_name


@dataclass
class Splits:
    """Labelled train / validation / [test] examples with their class ids."""
    names: list[str]
    train: Labelled
    val: Labelled
    test: Labelled | None
    y_train: list[int]
    y_val: list[int]
    y_test: list[int] | None


def load_splits(data_cfg, seed: int, names: list[str] | None = None) -> Splits:
    """Read and check the labelled data: at least two classes in training, and no
    validation or test label outside `names` (those of the training data by default)."""
    load = lambda src, split: load_labelled(src, data_cfg.text_column, data_cfg.label_column,
                                            split, data_cfg.data_config)
    train = load(data_cfg.data, data_cfg.split)
    test = load(data_cfg.test_data, data_cfg.test_split) if data_cfg.test_data else None
    if test is None and data_cfg.test_fraction:  # held out first, so validation never sees it
        train, test = split_held_out(train, data_cfg.test_fraction, seed, "test")
    if data_cfg.val_data:
        val = load(data_cfg.val_data, data_cfg.val_split)
    else:
        train, val = split_held_out(train, data_cfg.val_fraction, seed)
    names = names or label_names(train)
    if len(names) < 2:
        raise DataError(f"{data_cfg.data} has a single class ({names[0]!r}); a classifier "
                        "needs examples of at least two classes")
    return Splits(names, train, val, test, label_ids(train, names, data_cfg.data),
                  label_ids(val, names, data_cfg.val_data or data_cfg.data),
                  label_ids(test, names, data_cfg.test_data) if test else None)


def split_held_out(data: Labelled, fraction: float, seed: int, part: str = "validation"):
    """(rest, held out): a stratified random `fraction` held out for validation or test
    (labelled files are often sorted by class)."""
    from sklearn.model_selection import train_test_split

    idx = list(range(len(data.texts)))
    counts = Counter(map(str, data.labels))
    stratify = [str(y) for y in data.labels] if min(counts.values()) >= 2 else None
    try:
        tr, va = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:
        short = "val" if part == "validation" else part
        raise DataError(f"cannot hold out {fraction:.0%} for {part} ({exc}); pass "
                        f"{setting_name(short + '_data')} or change {setting_name(short + '_fraction')}") from None
    pick = lambda ids: Labelled([data.texts[i] for i in ids], [data.labels[i] for i in ids], data.names)
    return pick(tr), pick(va)


def class_weights(labels: list[int], n: int):
    """Inverse-frequency weights, n_examples / (n_classes * count), so each class counts equally."""
    import torch

    counts = Counter(labels)
    return torch.tensor([len(labels) / (n * counts[c]) for c in range(n)], dtype=torch.float32)
