"""The one registry of scenario step kinds (hypothesis' `@rule` is the model).

Each kind is declared once, in a module of its own under `harness/scenario/steps/`: its fields and their
types, any check beyond the types, how it runs, its label in reports and pytest item ids, and its one-line
doc. Loading (`harness.scenario.loader`), running (`harness.scenario.runner`), the pytest plugin, `explore`
and the generated scenario-format reference page all read `KINDS`; adding a step kind is one new module.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.controller import SAFE_ID
from harness.errors import HarnessError


class ScenarioError(HarnessError):
    """A scenario file that cannot run: one line naming the file, the step and the field."""


class StepFailure(HarnessError):
    """A step whose check failed or whose operation went wrong; `details` are the lines a report shows under it."""

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.details = details or []


class ProcessDown(StepFailure):
    """The step's process was killed at a crash point: in a `concurrently` step its other operations die with it."""


TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a mapping"}


def check_type(value, t, where: str) -> None:
    """YAML's own types, strictly: `true` is not an integer and `12` is not a string."""
    ok = isinstance(value, t) and not (t is int and isinstance(value, bool))
    if t is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        ok = False
    if not ok:
        raise ScenarioError(f"{where}: must be {TYPE_NAMES[t]}")


# checks shared by fields of several kinds (a field names one of these as its `check`); `where` names the step
def safe_id(value: str, where: str, name: str) -> None:
    """Ids name directories and dm devices on the node (engine.controller checks them again)."""
    if not SAFE_ID.fullmatch(value) or ".." in value:
        raise ScenarioError(f"{where}: {name} {value!r}: 1 to 64 letters, digits, '.', '_' and '-'")


def argv(value: list, where: str, name: str) -> None:
    if not value or not all(isinstance(a, str) for a in value):
        raise ScenarioError(f"{where}: field '{name}': a non-empty list of strings (an argv)")


def regex(value, where: str, name: str) -> None:
    try:
        re.compile(str(value))
    except re.error as exc:
        raise ScenarioError(f"{where}: field '{name}': bad regex: {exc}") from None


def regex_list(value: list, where: str, name: str) -> None:
    for j, pattern in enumerate(value):
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise ScenarioError(f"{where}: {name}[{j}]: bad regex: {exc}") from None


def one_line(value: str, where: str, name: str) -> None:
    if any(c in value for c in "\n\r\0"):
        raise ScenarioError(f"{where}: {name}: one line, no NUL (a newline would add a second key)")


@dataclass(frozen=True)
class Field:
    name: str
    type: type
    required: bool = False
    doc: str = ""
    check: Callable[[Any, str, str], None] | None = None   # beyond the type: (value, where, name), raises
    choices: tuple = ()                                    # the values allowed, the first being the default

    def validate(self, value, where: str) -> None:
        """`where` names the step (`FILE: step 3 (expect)`)."""
        check_type(value, self.type, f"{where}: field '{self.name}'")
        if self.choices and value not in self.choices:
            raise ScenarioError(f"{where}: field '{self.name}': must be {_or(self.choices)}")
        if self.check is not None:
            self.check(value, where, self.name)


def _or(values) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


Runner = Callable[[dict, Any, Any, str], Any]        # (args, controller, ScenarioRun, where) -> controller
Validator = Callable[[dict, Any, str], dict]         # (args, scenario so far, where) -> args as the step keeps them


@dataclass
class StepKind:
    name: str
    doc: str                        # one line: what the step does or checks
    fields: tuple[Field, ...]
    run: Runner
    verb: str = ""                  # the label's first word (default: the kind's name)
    engine_operation: bool = False  # an engine call: later `expect_commands` read the commands from here on
    simulator_only: bool = False    # needs what only the simulator has (faults, holders, its hypervisor)
    names_nc_commands: bool = False  # checks NC 3.3's exact commands: left out on the engine's fast path
    uses_store: bool | Callable[[dict], bool] = False   # needs the scenario's object store (S3 and registry)
    validator: Validator | None = None
    labeller: Callable[[dict], str] | None = None

    def validate(self, fn: Validator) -> Validator:
        """Decorator: the kind's checks beyond its fields' (cross-field rules, references to the scenario)."""
        self.validator = fn
        return fn

    def label_with(self, fn: Callable[[dict], str]) -> Callable[[dict], str]:
        self.labeller = fn
        return fn

    def needs_store(self, args: dict) -> bool:
        return self.uses_store(args) if callable(self.uses_store) else self.uses_store

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def label(self, args: dict) -> str:
        """`run i-1A2B3C4D`, `terminate i-...`, `expect`: reports and pytest item ids."""
        if self.labeller is not None:
            return self.labeller(args)
        verb = self.verb or self.name
        name = args.get("id")
        return f"{verb} {name}" if name else verb

    def check(self, args, scenario, where: str) -> dict:
        """Fields, their types and checks, then the kind's own validator; returns the args the step keeps."""
        if not isinstance(args, dict):
            raise ScenarioError(f"{where}: must be a mapping")
        names = {f.name for f in self.fields}
        for key in args:
            if key not in names:
                raise ScenarioError(f"{where}: unknown field '{key}'")
        for f in self.fields:
            if f.name not in args:
                if f.required:
                    raise ScenarioError(f"{where}: field '{f.name}': required")
                continue
            f.validate(args[f.name], where)
        return self.validator(args, scenario, where) if self.validator is not None else args

    def __call__(self, **args) -> dict:
        """The YAML form of one step of this kind (explore and the sweeps write programs with it), its fields
        checked now so a program they print always loads; checks that need the whole scenario run at load."""
        names = {f.name for f in self.fields}
        for key, value in args.items():
            if key not in names:
                raise ScenarioError(f"{self.name} step: unknown field '{key}'")
            self.field(key).validate(value, f"{self.name} step")
        return {self.name: args}


KINDS: dict[str, StepKind] = {}


def step(name: str, doc: str, fields: tuple[Field, ...] | list[Field] = (), **options) -> Callable[[Runner], StepKind]:
    """Decorator registering the function as how a step kind runs: `@step("expect", "...", fields=[...])`."""
    def register(run: Runner) -> StepKind:
        if name in KINDS:
            raise ValueError(f"step kind '{name}' registered twice")
        kind = StepKind(name, doc, tuple(fields), run, **options)
        KINDS[name] = kind
        return kind
    return register
