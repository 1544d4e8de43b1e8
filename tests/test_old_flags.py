"""The flags renamed for one vocabulary across commands still work until 0.4.0: each sets
the new setting and says the new spelling in one line."""
import logging

import pytest

from textrnn import cli, settings_from
from textrnn.stages import parse_finetune

TRAIN = {"train-classifier": ["--data", "r.csv"], "train-translator": ["--data", "a.de", "a.en"],
         "train-forecaster": ["--data", "s.csv", "--target", "load"]}


def parsed(command: str, *flags) -> dict:
    args = cli.build_parser().parse_args([command, *TRAIN[command], "--out", "o", *flags])
    return {k: v for k, v in vars(args).items() if k not in ("func", "command")}


def settings(command, *flags):
    task = {"train-classifier": "classifier", "train-translator": "translator",
            "train-forecaster": "forecaster"}[command]
    given = parsed(command, *flags)
    return settings_from(task, given, cli.TASKS[task].command_defaults).data


@pytest.mark.parametrize("command, old, new, check", [
    ("train-classifier", ["--eval-data", "v.csv"], "--val-data", lambda d: d.val_data == "v.csv"),
    ("train-classifier", ["--eval-split", "dev"], "--val-split and --test-split",
     lambda d: d.val_split == d.test_split == "dev"),
    ("train-classifier", ["--keep-html"], "--no-strip-html", lambda d: d.strip_html is False),
    ("train-classifier", ["--keep-start"], "--no-keep-end", lambda d: d.keep_end is False),
    ("train-translator", ["--eval-data", "v.de", "v.en"], "--val-data",
     lambda d: d.val_data == ["v.de", "v.en"]),
    ("train-translator", ["--eval-split", "dev"], "--val-split",
     lambda d: d.val_split == "dev" and d.test_split == "test"),
    ("train-forecaster", ["--data-split", "other"], "--split", lambda d: d.split == "other"),
    ("train-forecaster", ["--split", "8640,2880,2880"], "--split-fractions 8640,2880,2880",
     lambda d: d.split_fractions == "8640,2880,2880" and d.split == "train"),
])
def test_an_old_spelling_sets_the_new_setting_and_says_so_once(command, old, new, check, caplog):
    with caplog.at_level(logging.WARNING, logger="textrnn"):
        data = settings(command, *old)
    assert check(data)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and f"{old[0]}" in lines[0] and f"is now {new}" in lines[0]
    assert "works until textrnn 0.4.0" in lines[0]


def test_the_new_spellings_say_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="textrnn"):
        data = settings("train-classifier", "--val-data", "v.csv", "--no-strip-html", "--no-keep-end")
    assert data.val_data == "v.csv" and not data.strip_html and not data.keep_end
    assert not caplog.records


def test_the_recipes_and_finetune_take_the_old_spellings_too(caplog):
    with caplog.at_level(logging.WARNING, logger="textrnn"):
        stages = parse_finetune(["--eval-data", "dev.tsv", "--keep-start", "--out", "o"])
    assert stages.classifier.data.val_data == "dev.tsv" and stages.classifier.data.keep_end is False
    assert len(caplog.records) == 2


def test_every_switch_is_a_pair():
    import argparse

    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        for action in sub._actions:
            if action.nargs == 0 and action.help != argparse.SUPPRESS and action.dest != "help":
                assert isinstance(action, argparse.BooleanOptionalAction), (name, action.option_strings)
