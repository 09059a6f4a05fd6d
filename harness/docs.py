"""The generated reference pages of the docs site (docs/hooks.py calls these at `mkdocs build`): the scenario
step kinds from their registry and the command line from its parsers, so neither page can drift from the code."""
from __future__ import annotations

import argparse

from harness.scenario.registry import TYPE_NAMES


def steps_reference() -> str:
    from harness.scenario.steps import KINDS
    out = ["# Scenario steps", "",
           "Generated from the step registry (`harness/scenario/steps/`, one module per kind). A scenario's `steps:`",
           "is a list of one-key mappings, `- KIND: {FIELD: VALUE, ...}`; unknown fields, missing required fields and",
           "values of the wrong type are refused when the file loads, before anything runs.", ""]
    for name in sorted(KINDS):
        kind = KINDS[name]
        out += [f"## `{name}`", "", kind.doc, ""]
        marks = []
        if kind.engine_operation:
            marks.append("an engine operation: later `expect_commands` steps read the commands from here on")
        if kind.simulator_only:
            marks.append("simulator only: on a real node the step fails, naming the capability it lacks")
        if kind.names_nc_commands:
            marks.append("checks NC 3.3's exact commands: left out on the engine's fast path")
        out += [f"*{m}.*" for m in marks] + ([""] if marks else [])
        if kind.fields:
            out += ["| field | type | required | meaning |", "|---|---|---|---|"]
            for f in kind.fields:
                choices = f" (one of {', '.join(f'`{c}`' for c in f.choices)})" if f.choices else ""
                doc = (f.doc + choices).replace("|", "\\|")
                out.append(f"| `{f.name}` | {TYPE_NAMES[f.type]} | {'yes' if f.required else 'no'} | {doc} |")
        else:
            out.append("No fields: `- " + name + ": {}`.")
        out.append("")
    return "\n".join(out)


def _actions(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _verb_section(name: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    out = [f"{'#' * level} `{name}`", "", (parser.description or "").strip(), "", "```", parser.format_usage().strip(),
           "```", ""]
    rows = _actions(parser)
    if rows:
        out += ["| argument | help |", "|---|---|"]
        for a in rows:
            flag = ", ".join(a.option_strings) or a.metavar or a.dest
            text = (a.help or "").replace("%(default)s", str(a.default)).replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{flag}` | {text} |")
        out.append("")
    for sub, subparser in _subparsers(parser).items():
        out += _verb_section(f"{name} {sub}", subparser, min(level + 1, 4))
    return out


def cli_reference() -> str:
    from harness.cli.main import build_parser
    parser = build_parser()
    out = ["# Command line", "",
           "Generated from `nc-harness`'s argument parsers. Every verb exits 0 on success, 1 when what it checked "
           "failed, 2 on a usage error or bad input (one line naming the file and place), 3 when the object store "
           "cannot be reached, 130 when interrupted, 141 when its output was closed (`| head`), and 70 on an "
           "internal error (a bug: one line, never a traceback).", ""]
    for name, sub in _subparsers(parser).items():
        out += _verb_section(f"nc-harness {name}", sub, 2)
    return "\n".join(out)
