"""The bit of POSIX shell that logged traces use: quotes, pipes, `;`, `&&`, `||`, redirects, env prefixes."""
from __future__ import annotations

import errno
import re
from dataclasses import dataclass, field

from simulator.errors import SimulatorError

from .fs.base import FsError
from .tools.base import Result


class ShellSyntaxError(SimulatorError):
    pass


@dataclass
class Word:
    text: str


@dataclass
class Op:
    text: str


# one match per token piece: separators, a line continuation, operators (longest first), runs of ordinary
# characters, whole quoted strings, a backslash escape; anything else is one character (see tokenize)
_PIECE = re.compile(r"(?P<space>[ \t]+)|(?P<cont>\\\n)|(?P<op>2>&1|&&|\|\||>>|2>|[;|><\n])"
                    r"|(?P<plain>[^\s'\"\\#<>|&;()]+)|'(?P<sq>[^']*)'"
                    r'|"(?P<dq>[^"\\]*(?:\\[\s\S][^"\\]*)*)"|\\(?P<esc>[\s\S])')
_PLAIN = re.compile(r"[^\s'\"\\#<>|&;()]+")
_DQ_ESCAPE = re.compile(r'\\([\\"$`\n])')


def _dq_escape(m: re.Match) -> str:
    return "" if m.group(1) == "\n" else m.group(1)


_NEEDS_LEXER = re.compile(r"['\"\\#<>|&;()\n\r\x0b\x0c]")


_PARAM = re.compile(r"\$(?:\{(\d+|[@#])\}|(\d|[@#]))")


def _expand(text: str, params: list[str]) -> str:
    """`$N`, `${N}`, `$#` and `$@` (joined by spaces) of a `sh -c SCRIPT NAME ARGS...`: params[0] is NAME."""
    def one(m: re.Match) -> str:
        key = m.group(1) or m.group(2)
        if key == "#":
            return str(len(params) - 1)
        if key == "@":
            return " ".join(params[1:])
        return params[int(key)] if int(key) < len(params) else ""
    return _PARAM.sub(one, text)


def tokenize(source: str, params: list[str] | None = None) -> list:
    """`params`: expand positional parameters in unquoted and double-quoted text (busybox's `sh -c`); a word
    that is exactly `"$@"` becomes one word per argument."""
    if params is None and _NEEDS_LEXER.search(source) is None:   # most logged lines: plain words
        return [Word(w) for w in source.replace("\t", " ").split(" ") if w]
    tokens: list = []
    i, n = 0, len(source)
    current: list[str] | None = None
    match = _PIECE.match
    while i < n:
        m = match(source, i)
        if m is None:
            c = source[i]
            if c == "#" and current is None:
                end = source.find("\n", i)
                i = n if end < 0 else end
                continue
            if c == "'":
                raise ShellSyntaxError("unexpected EOF while looking for matching `''")
            if c == '"':
                raise ShellSyntaxError('unexpected EOF while looking for matching `"\'')
            if current is None:
                current = []
            current.append(c)   # `(`, `)`, a lone `&`, \r, a backslash at the very end: part of the word
            i += 1
            continue
        kind = m.lastgroup
        if kind == "op":
            op = m.group("op")
            if op[0] == "2" and current is not None:   # `2>` is an operator only at a word's start
                m = _PLAIN.match(source, i)
                kind = "plain"
            else:
                if current is not None:
                    tokens.append(Word("".join(current)))
                    current = None
                tokens.append(Op(op))
                i = m.end()
                continue
        i = m.end()
        if kind == "space":
            if current is not None:
                tokens.append(Word("".join(current)))
                current = None
            continue
        if kind == "cont":   # a backslash-newline joins lines
            continue
        if params is not None and kind == "dq" and m.group("dq") == "$@" and current is None \
                and (i >= n or source[i] in " \t\n;&|<>"):
            tokens.extend(Word(arg) for arg in params[1:])
            continue
        if current is None:
            current = []
        if kind == "dq":
            text = m.group("dq")
            text = _DQ_ESCAPE.sub(_dq_escape, text) if "\\" in text else text
            current.append(text if params is None else _expand(text, params))
        elif kind == "plain" and params is not None:
            current.append(_expand(m.group(0), params))
        else:
            current.append(m.group(0) if kind == "plain" else m.group(kind))
    if current is not None:
        tokens.append(Word("".join(current)))
    return tokens


@dataclass
class Command:
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    redirects: list[tuple[str, str]] = field(default_factory=list)


def parse(source: str, params: list[str] | None = None) -> list[tuple[str, list[Command]]]:
    """[(connector, pipeline)] where connector is ';', '&&' or '||' joining it to the previous one."""
    # plain words: one command, maybe after VAR=value prefixes
    if params is None and _NEEDS_LEXER.search(source) is None:
        words = [w for w in source.replace("\t", " ").split(" ") if w]   # str.split() would split at \x1c too
        if not words:
            return []
        cmd = Command(words)
        while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
            key, value = words.pop(0).split("=", 1)
            cmd.env[key] = value
        return [(";", [cmd])]
    tokens = tokenize(source, params)
    items: list[tuple[str, list[Command]]] = []
    pipeline: list[Command] = []
    cmd = Command()
    connector = ";"
    i = 0

    def end_command():
        nonlocal cmd
        if not cmd.argv and not cmd.env and not cmd.redirects:
            raise ShellSyntaxError("syntax error near unexpected token")
        pipeline.append(cmd)
        cmd = Command()

    while i < len(tokens):
        tok = tokens[i]
        if isinstance(tok, Word):
            if not cmd.argv and "=" in tok.text and tok.text.split("=", 1)[0].isidentifier():
                key, value = tok.text.split("=", 1)
                cmd.env[key] = value
            else:
                cmd.argv.append(tok.text)
            i += 1
            continue
        op = tok.text
        if op in (">", ">>", "2>", "<"):
            if i + 1 >= len(tokens) or not isinstance(tokens[i + 1], Word):
                raise ShellSyntaxError(f"syntax error near unexpected token `{op}'")
            cmd.redirects.append((op, tokens[i + 1].text))
            i += 2
            continue
        if op == "2>&1":
            cmd.redirects.append((op, ""))
            i += 1
            continue
        if op == "|":
            end_command()
            i += 1
            continue
        if op in (";", "&&", "||", "\n"):
            if cmd.argv or cmd.env or cmd.redirects:
                end_command()
            if pipeline:
                items.append((connector, pipeline))
                pipeline = []
            elif op in ("&&", "||"):
                raise ShellSyntaxError(f"syntax error near unexpected token `{op}'")
            connector = ";" if op == "\n" else op
            i += 1
            continue
    if cmd.argv or cmd.env or cmd.redirects:
        end_command()
    elif pipeline:
        raise ShellSyntaxError("syntax error: unexpected end of file")
    if pipeline:
        items.append((connector, pipeline))
    return items


def run(node, source: str, stdin: str | None = None) -> Result:
    try:
        items = parse(source)
    except ShellSyntaxError as exc:
        return Result(2, "", f"bash: -c: line 1: {exc}\n")
    if len(items) == 1 and len(items[0][1]) == 1:   # one command, as most logged lines are
        command = items[0][1][0]
        if not command.env and not command.redirects and command.argv:
            return node.run(command.argv, stdin)
    out, err = [], []
    rc = 0
    for connector, pipeline in items:
        if connector == "&&" and rc != 0:
            continue
        if connector == "||" and rc == 0:
            continue
        data = stdin
        result = Result()
        for index, command in enumerate(pipeline):
            last = index == len(pipeline) - 1
            result = _run_command(node, command, data)
            if not last:
                data = result.stdout
                err.append(result.stderr)
        out.append(result.stdout)
        err.append(result.stderr)
        rc = result.rc
    return Result(rc, "".join(out), "".join(err))


def _write_redirect(node, target: str, data: bytes, append: bool) -> None:
    """`>`/`>>` through the same endpoints tools use, so /dev/null and devices behave as in bash."""
    from .tools.endpoint import open_endpoint
    ep = open_endpoint(node, target, write=True, create=True)
    if not append:
        ep.truncate(0)
    ep.write(ep.size or 0 if append else 0, data)


def _read_redirect(node, target: str) -> str:
    """`<`: a file's bytes, nothing from /dev/null; an endless device (/dev/zero) cannot be read whole."""
    from .tools.endpoint import open_endpoint
    ep = open_endpoint(node, target)
    if ep.kind == "file" and ep.fs.getattr(ep.ino).is_dir:
        raise FsError(errno.EISDIR)
    size = ep.size
    if size is None:
        raise ValueError("endless input is not modelled")
    return ep.read(0, size).decode(errors="surrogateescape")


def _run_command(node, command: Command, stdin: str | None) -> Result:
    if not command.env:
        return _run_redirected(node, command, stdin)
    saved_env = dict(node.env)
    node.env.update(command.env)
    try:
        return _run_redirected(node, command, stdin)
    finally:
        node.env = saved_env


def _run_redirected(node, command: Command, stdin: str | None) -> Result:
    for op, target in command.redirects:
        if op == "<":
            try:
                stdin = _read_redirect(node, target)
            except Exception as exc:  # noqa: BLE001 - the shell reports any open failure the same way
                return Result(1, "", f"bash: line 1: {target}: {getattr(exc, 'strerror', exc)}\n")
    result = node.run(command.argv, stdin) if command.argv else Result()
    for op, target in command.redirects:
        if op in (">", ">>", "2>"):
            data = result.stderr if op == "2>" else result.stdout
            try:
                _write_redirect(node, target, data.encode(errors="surrogateescape"), append=op == ">>")
            except Exception as exc:  # noqa: BLE001
                return Result(1, "", f"bash: line 1: {target}: {getattr(exc, 'strerror', exc)}\n")
            result = Result(result.rc, result.stdout, "") if op == "2>" else Result(result.rc, "", result.stderr)
        elif op == "2>&1":
            result = Result(result.rc, result.stdout + result.stderr, "")
    return result
