"""The ``linmeta`` argument parser as rendered in the docs (``docs/cli.rst``).

sphinx-argparse reads descriptions and epilogs as reStructuredText, but the parser's texts are
written for a terminal: ``|x|`` would be a substitution reference and an indented continuation line
of an example an error.  :func:`build_parser` returns :func:`linmeta.cli.build_parser`'s parser with
every ``examples:`` and ``exit status:`` epilog turned into a literal block and ``|`` escaped in its
description; the terminal help is unchanged.
"""
import argparse

from linmeta.cli import build_parser as _build_parser


def _rst(parser):
    if parser.description:
        parser.description = parser.description.replace("|", r"\|")
    if parser.epilog:  # "examples:" and "exit status:" blocks become literal blocks
        head, _, rest = parser.epilog.partition("\n")
        if head in ("examples:", "exit status:"):
            parser.epilog = f"{head}:\n\n{rest}"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _rst(sub)


def build_parser():
    """``linmeta.cli.build_parser()`` with reStructuredText-safe descriptions and epilogs."""
    parser = _build_parser()
    _rst(parser)
    return parser
