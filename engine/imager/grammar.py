"""euca-imager's command line: `[global=value...] COMMAND key=value... [COMMAND key=value...]...`.

Tokens without `=` are commands, tokens with one are parameters of the command before them (global parameters
before the first command); a key may carry one or two leading dashes. At most 32 commands of 32 parameters."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.errors import EngineError

MAX_REQS = 32
MAX_PARAMS = 32


class ImagerUsage(EngineError, ValueError):
    """Bad command line: nothing has run and nothing has changed."""


@dataclass(frozen=True)
class Param:
    name: str
    help: str
    mandatory: bool = False
    repeatable: bool = False
    kind: str = "text"          # text | bool | size | int | choice
    choices: tuple[str, ...] = ()
    default: str | None = None


@dataclass
class Invocation:
    name: str
    params: list[tuple[str, str]] = field(default_factory=list)   # (key, value) in command-line order
    position: int = 0           # 1-based index of the command's token, for error messages

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.params:
            if k == key:
                return v
        return default

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.params if k == key]


@dataclass
class CommandLine:
    globals: list[tuple[str, str]]
    commands: list[Invocation]


def split(argv: list[str]) -> CommandLine:
    """The original's tokenizer (imager.c main()), with its messages, each naming the token."""
    globals_: list[tuple[str, str]] = []
    commands: list[Invocation] = []
    for i, token in enumerate(argv, 1):
        if "=" not in token:
            if len(commands) + 1 > MAX_REQS:
                raise ImagerUsage(f"argument {i} '{token}': too many commands (max is {MAX_REQS})")
            commands.append(Invocation(token, position=i))
            continue
        key, value = token.split("=", 1)
        if not value:
            raise ImagerUsage(f"argument {i} '{token}': parameters must have non-empty values")
        for _ in range(2):
            if key.startswith("-"):
                key = key[1:]
        if not key:
            raise ImagerUsage(f"argument {i} '{token}': parameters must have non-empty names")
        if not commands:
            globals_.append((key, value))
            continue
        if len(commands[-1].params) + 1 > MAX_PARAMS:
            raise ImagerUsage(f"argument {i} '{token}': too many parameters for '{commands[-1].name}' "
                              f"(max is {MAX_PARAMS})")
        commands[-1].params.append((key, value))
    return CommandLine(globals_, commands)


_SIZE = re.compile(r"^(\d{1,19})([bkmgwBKMGW]?)$")
_SUFFIX = {"": 1, "b": 512, "k": 1024, "m": 1 << 20, "g": 1 << 30, "w": 4}


def parse_size(text: str, what: str) -> int:
    """dd's suffixes: b=512, k, m, g (powers of 1024), w=sizeof(int)."""
    m = _SIZE.match(text)
    if not m:
        raise ImagerUsage(f"{what}: '{text}' is not a size (a number with an optional b, k, m, g or w suffix)")
    return int(m.group(1)) * _SUFFIX[m.group(2).lower()]


_TRUE = ("yes", "y", "true", "t", "on", "1")
_FALSE = ("no", "n", "false", "f", "off", "0")


def parse_bool(text: str, what: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ImagerUsage(f"{what}: '{text}' is not yes or no")


def check_params(where: str, given: list[tuple[str, str]], params: list[Param]) -> dict[str, object]:
    """Every key known, every mandatory one present, repeats only where allowed, values of the right kind.
    Returns key -> value (a list for repeatable keys), defaults filled in."""
    known = {p.name: p for p in params}
    out: dict[str, object] = {}
    for key, value in given:
        param = known.get(key)
        if param is None:
            raise ImagerUsage(f"{where}: unknown parameter '{key}' (known: {', '.join(known) or 'none'})")
        what = f"{where}: {key}"
        if param.kind == "bool":
            parsed: object = parse_bool(value, what)
        elif param.kind == "size":
            parsed = parse_size(value, what)
        elif param.kind == "int":
            if not value.isdigit() or len(value) > 9:
                raise ImagerUsage(f"{what}: '{value}' is not a number")
            parsed = int(value)
        elif param.kind == "choice":
            if value not in param.choices:
                raise ImagerUsage(f"{what}: '{value}' is not one of {', '.join(param.choices)}")
            parsed = value
        else:
            parsed = value
        if param.repeatable:
            out.setdefault(key, []).append(parsed)
        elif key in out:
            raise ImagerUsage(f"{what}: given twice")
        else:
            out[key] = parsed
    for param in params:
        if param.name in out:
            continue
        if param.mandatory:
            raise ImagerUsage(f"{where}: missing mandatory parameter '{param.name}'")
        if param.repeatable:
            out[param.name] = []
        elif param.default is not None:
            out[param.name] = check_params(where, [(param.name, param.default)], [param])[param.name]
        else:
            out[param.name] = None
    return out


def describe(params: list[Param]) -> str:
    """`help COMMAND`: one line per parameter, mandatory ones marked with '*'."""
    lines = []
    for p in params:
        mark = "*" if p.mandatory else " "
        extra = f" (default: {p.default})" if p.default is not None else ""
        extra += " (repeatable)" if p.repeatable else ""
        lines.append(f"  {mark} {p.name:<12} {p.help}{extra}")
    return "\n".join(lines) + ("\n" if lines else "")
