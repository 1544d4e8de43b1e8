"""Build-time hook: the command-line reference is generated from the `textrnn` parsers, so it
never drifts from the code."""
import argparse
import os

MARK = "<!-- the commands' --help, generated -->"


def cli_reference() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width: fix it
    from textrnn.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    parts = ["```text", parser.format_help().rstrip(), "```"]
    for name, command in sub.choices.items():
        parts += [f"## textrnn {name}", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if MARK in markdown:
        return markdown.replace(MARK, cli_reference())
    return markdown
