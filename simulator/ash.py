"""busybox's `sh -c SCRIPT [NAME ARGS...]`: and-or lists, pipes, `>`/`2>` redirects, positional parameters,
the builtins `exit`, `true`, `false`, `:`, `echo` and `printf %s`, one stdin that the first command reading
it consumes, and commands run as busybox applets first. This is the shape of the scripts the engine's fast path
sends (engine/script.py), with texts measured on busybox 1.35: `NAME: line 0: can't create X: nonexistent
directory`, `NAME: line 0: X: not found`.
"""
from __future__ import annotations

import errno

from . import shell
from .fs.base import FsError
from .tools.base import Result
from .tools.endpoint import open_endpoint


class _Exit(Exception):
    def __init__(self, rc: int):
        self.rc = rc


def main(node, argv: list[str], stdin: str | None, applets: dict) -> Result:
    """`applets`: the busybox binary's own table (its commands run before any program of the same name)."""
    """argv: ["sh", "-c", SCRIPT, NAME, ARGS...]; NAME ($0, "sh" if absent) prefixes the shell's messages."""
    if len(argv) < 3 or argv[1] != "-c":
        return Result(2, "", "sh: only 'sh -c SCRIPT' is modelled\n")
    name = argv[3] if len(argv) > 3 else argv[0]
    params = [name] + argv[4:]
    try:
        items = shell.parse(argv[2], params)
    except shell.ShellSyntaxError as exc:
        return Result(2, "", f"{name}: line 0: syntax error: {exc}\n")
    out, err = [], []
    rc = 0
    feed = [stdin]   # one stdin for the whole script: the first command that reads it consumes it
    try:
        for connector, pipeline in items:
            if (connector == "&&" and rc != 0) or (connector == "||" and rc == 0):
                continue
            data = None
            for index, command in enumerate(pipeline):
                if index == 0:
                    data = feed[0]
                    if _reads_stdin(command):
                        feed[0] = None
                result = _command(node, name, command, data, rc, applets)
                data = result.stdout
                err.append(result.stderr)
            out.append(data or "")
            rc = result.rc
    except _Exit as done:
        return Result(done.rc, "".join(out), "".join(err))
    return Result(rc, "".join(out), "".join(err))


def _reads_stdin(command: shell.Command) -> bool:
    """The commands scripts send that read their stdin: `tee`, and `cat` without files."""
    argv = command.argv
    return bool(argv) and (argv[0] == "tee" or (argv[0] == "cat" and len(argv) == 1)) and \
        not any(op == "<" for op, _ in command.redirects)


def _command(node, name: str, command: shell.Command, stdin: str | None, last_rc: int, applets: dict) -> Result:
    targets = []
    for op, target in command.redirects:
        if op in (">", "2>"):
            try:   # opened (and truncated) before the command runs, as the shell does
                ep = open_endpoint(node, target, write=True, create=True)
                ep.truncate(0)
            except FsError as exc:
                why = "nonexistent directory" if exc.errno == errno.ENOENT else exc.strerror
                return Result(1, "", f"{name}: line 0: can't create {target}: {why}\n")
            targets.append((op, ep))
        elif op == "2>&1":
            targets.append((op, None))
    result = _execute(node, name, command.argv, stdin, last_rc, applets)
    for op, ep in targets:
        if op == "2>&1":
            result = Result(result.rc, result.stdout + result.stderr, "")
            continue
        data = result.stderr if op == "2>" else result.stdout
        ep.write(0, data.encode(errors="surrogateescape"))
        result = Result(result.rc, result.stdout, "") if op == "2>" else Result(result.rc, "", result.stderr)
    return result


def _execute(node, name: str, argv: list[str], stdin: str | None, last_rc: int, applets: dict) -> Result:
    if not argv:
        return Result()
    word = argv[0]
    if word == "exit":
        raise _Exit(int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else last_rc)
    if word in ("true", ":"):
        return Result()
    if word == "false":
        return Result(1)
    if word == "echo":
        return Result(0, " ".join(argv[1:]) + "\n")
    if word == "printf":
        if argv[1:2] != ["%s"]:
            return Result(1, "", f"{name}: only printf %s is modelled\n")
        return Result(0, "".join(argv[2:]))   # %s takes each argument as it is: no escapes, no % in them
    if "/" not in word and word not in applets and word not in node.tools:
        return Result(127, "", f"{name}: line 0: {word}: not found\n")
    return node.run(argv, stdin, applets=applets)
