"""`nc-harness`: one module per verb; this file only dispatches."""
from __future__ import annotations

import argparse
import os
import sys

from harness.cli import diff as diff_verb
from harness.cli import diff_run as diff_run_verb
from harness.cli import explore as explore_verb
from harness.cli import image as image_verb
from harness.cli import imager as imager_verb
from harness.cli import list as list_verb
from harness.cli import log as log_verb
from harness.cli import nightly as nightly_verb
from harness.cli import node as node_verb
from harness.cli import record as record_verb
from harness.cli import replay as replay_verb
from harness.cli import report as report_verb
from harness.cli import run as run_verb
from harness.cli import sweep as sweep_verb
from harness.errors import HarnessError

# exit statuses every verb shares (the CLI reference page lists them)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERNAL, EXIT_PIPE = 0, 1, 2, 3, 70, 141
# botocore's and urllib3's ways of saying the endpoint is not there, by name (neither is imported at start-up)
UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
               "ConnectionRefusedError")


class UsageError(HarnessError):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    # no abbreviations: `--=x` among the imager's tokens must not read as a prefix of --help or --version
    parser = Parser(prog="nc-harness", description="Eucalyptus NC disk construction: engine, simulator, harness",
                    allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"nc-harness {_version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="verb", parser_class=Parser)
    run_verb.add_parser(sub)
    replay_verb.add_parser(sub)
    log_verb.add_parser(sub)
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
    _describe(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("nc-harness")
    except PackageNotFoundError:   # a checkout that was not installed
        return "0+unknown"


def _describe(sub) -> None:
    """A verb's (and sub-verb's) one-line help is also its description: `nc-harness VERB --help` says what it is."""
    for choice in sub._choices_actions:
        parser = sub.choices[choice.dest]
        parser.description = parser.description or choice.help
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _describe(action)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"nc-harness: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.verb:
        parser.print_help()
        print("nc-harness: a verb is needed (see above)", file=sys.stderr)
        return EXIT_USAGE
    try:
        rc = args.run(args)
        sys.stdout.flush()   # here, where a closed pipe is caught, not at exit
        return rc
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`nc-harness diff ... | head`): nothing more to say to it, and no traceback
        # when Python flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    except HarnessError as exc:
        print(f"nc-harness {args.verb}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback
        if type(exc).__name__ in UNREACHABLE:   # an unreachable service is not the harness's bug
            print(f"nc-harness {args.verb}: cannot reach the object store: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        print(f"nc-harness: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
