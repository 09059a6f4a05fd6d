"""Expectation files for traces: what `--then` commands must print after a replay.

```yaml
dialect: el6                  # optional, the replay's dialect
complete: true                # optional: replay with --complete (infer what the trace assumes existed)
then:
  - command: losetup -a
    ignore: [inodes]          # optional: inodes, uuids
    match: exact              # or lines
    stdout: |
      /dev/loop0: [0803]:7979030 (/disk1/...)
```
`scenarios/traces/NAME.log` with `NAME.expect.yaml` beside it is a test; `nc-harness replay --expect FILE`
checks a replay against one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.yamlfile import read_yaml


class ExpectationError(HarnessError, ValueError):
    pass


@dataclass
class ThenExpectation:
    command: str
    stdout: str
    match: str = "exact"
    ignore: list[str] = field(default_factory=list)


@dataclass
class TraceExpectation:
    path: str
    dialect: str = "debian12"
    then: list[ThenExpectation] = field(default_factory=list)
    complete: bool = False        # replay with --complete (a field log's excerpt assumes a world before it)


def load(path: str) -> TraceExpectation:
    doc = read_yaml(path, ExpectationError)
    if not isinstance(doc, dict) or not isinstance(doc.get("then"), list):
        raise ExpectationError(f"{path}: an expectation file is a mapping with a 'then' list")
    unknown = set(doc) - {"dialect", "then", "complete"}
    if unknown:
        raise ExpectationError(f"{path}: unknown field '{sorted(unknown)[0]}'")
    if not isinstance(doc.get("complete", False), bool):
        raise ExpectationError(f"{path}: complete: must be true or false")
    exp = TraceExpectation(path, str(doc.get("dialect", "debian12")), complete=doc.get("complete", False))
    if exp.dialect not in ("debian12", "el6"):
        raise ExpectationError(f"{path}: dialect: must be debian12 or el6")
    for i, item in enumerate(doc["then"]):
        where = f"{path}: then[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("command"), str) \
                or not isinstance(item.get("stdout"), str):
            raise ExpectationError(f"{where}: needs 'command' and 'stdout' strings")
        unknown = set(item) - {"command", "stdout", "match", "ignore"}
        if unknown:
            raise ExpectationError(f"{where}: unknown field '{sorted(unknown)[0]}'")
        if item.get("match", "exact") not in ("exact", "lines"):
            raise ExpectationError(f"{where}: match: must be exact or lines")
        exp.then.append(ThenExpectation(item["command"], item["stdout"], item.get("match", "exact"),
                                        list(item.get("ignore", []))))
    return exp


def check(expectation: TraceExpectation, outputs: list[str]) -> list[str]:
    """One message per `--then` command whose output differs."""
    from harness.checks.compare import compare
    problems = []
    for exp, got in zip(expectation.then, outputs):
        diff = compare(exp.stdout, got, exp.match, exp.ignore)
        if diff:
            problems.append(f"{exp.command}: {diff}")
    return problems
