"""`nc-harness`: one module per verb; this file only dispatches."""
from __future__ import annotations

import argparse
import sys

from harness.cli import diff as diff_verb
from harness.cli import diff_run as diff_run_verb
from harness.cli import explore as explore_verb
from harness.cli import image as image_verb
from harness.cli import imager as imager_verb
from harness.cli import list as list_verb
from harness.cli import nightly as nightly_verb
from harness.cli import node as node_verb
from harness.cli import record as record_verb
from harness.cli import replay as replay_verb
from harness.cli import report as report_verb
from harness.cli import run as run_verb
from harness.cli import sweep as sweep_verb
from harness.errors import HarnessError


class UsageError(HarnessError):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="nc-harness", description="Eucalyptus NC disk construction: engine, simulator, harness")
    sub = parser.add_subparsers(dest="verb", parser_class=Parser)
    run_verb.add_parser(sub)
    replay_verb.add_parser(sub)
    record_verb.add_parser(sub)
    diff_verb.add_parser(sub)
    list_verb.add_parser(sub)
    explore_verb.add_parser(sub)
    report_verb.add_parser(sub)
    node_verb.add_parser(sub)
    diff_run_verb.add_parser(sub)
    nightly_verb.add_parser(sub)
    image_verb.add_parser(sub)
    imager_verb.add_parser(sub)
    sweep_verb.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"nc-harness: {exc}", file=sys.stderr)
        return 2
    if not args.verb:
        parser.print_help()
        print("nc-harness: a verb is needed (see above)", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback
        print(f"nc-harness: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
