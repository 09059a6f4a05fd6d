"""Reading logged command traces (the NC log format, full-date stamps, bare lines) and transcripts."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.errors import HarnessError
from simulator.shell import ShellSyntaxError, tokenize

# a comment line that annotates the next command of a plain trace (`nc-harness log trace` writes them)
ANNOTATION = re.compile(r"# \((from|expect failure|inferred)(?: (.+))?\)")
_STAMP = re.compile(r"^(?:\d{4}-\d\d-\d\d[ T])?\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\s+(?=\S)")


class TraceError(HarnessError):
    """A malformed trace; str() is the one-line message naming file and line."""


@dataclass
class TraceCommand:
    lineno: int
    text: str
    stamp: str = ""
    expected: Expectation | None = None
    stdin: str | None = None     # a transcript's `# (stdin) ...` line: what the command was fed
    step: str = ""               # the latest `# (step ...)` marker: which scenario step issued it
    origin: str = ""             # `# (from FILE:LINE)`: where a log said it (replay names this place)
    expect_fail: bool = False    # `# (expect failure)`: the log saw it fail, so must the replay
    inferred: bool = False       # `# (inferred)`: made up by --complete for what the excerpt assumes


@dataclass
class Expectation:
    rc: int | None = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    stdout_unterminated: bool = False

    @property
    def stdout_text(self) -> str:
        text = "".join(line + "\n" for line in self.stdout)
        return text[:-1] if self.stdout_unterminated and text else text

    @property
    def stderr_text(self) -> str:
        return "".join(line + "\n" for line in self.stderr)


def read_text(path: str) -> str:
    try:
        raw = open(path, "rb").read()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise TraceError(f"{path}:{line}: not valid UTF-8 text (byte 0x{raw[exc.start]:02x})") from None


def parse_trace(text: str, name: str = "<trace>") -> list[TraceCommand]:
    if any(line.startswith("$ ") for line in text.splitlines()):
        return parse_transcript(text, name)
    commands: list[TraceCommand] = []
    pending: TraceCommand | None = None
    continued = False
    in_fence = False
    marks: dict = {}    # annotations for the next command: `# (from F:L)`, `# (expect failure)`, `# (inferred)`

    def finish():
        nonlocal pending
        if pending is not None:
            _check_syntax(pending, name)
            commands.append(pending)
            pending = None

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
            continue
        if continued and pending is not None:
            pending.text += "\n" + line
            continued = line.endswith("\\") and not line.endswith("\\\\")
            continue
        if not stripped or (stripped.startswith("#") and not line.startswith(" ")):
            finish()
            mark = ANNOTATION.fullmatch(stripped)
            if mark:
                key = "origin" if mark.group(1) == "from" else mark.group(1).replace(" ", "_")
                marks[key] = mark.group(2) or True
            continue
        if pending is not None and stripped[0] in '|"' and line[0] in ' \t"|':
            pending.text += " " + stripped
            continued = line.endswith("\\")
            continue
        finish()
        m = _STAMP.match(line)
        stamp = ""
        if m:
            stamp = line[:m.end()].strip()
            line = line[m.end():]
        elif line[0] in " \t":
            raise TraceError(f"{name}:{lineno}: indented line does not continue a command")
        pending = TraceCommand(lineno, line.strip() if not line.rstrip().endswith("\\") else line.lstrip(), stamp,
                               origin=marks.get("origin", ""), expect_fail=bool(marks.get("expect_failure")),
                               inferred=bool(marks.get("inferred")))
        marks = {}
        continued = line.endswith("\\")
    if continued:
        raise TraceError(f"{name}:{pending.lineno}: command ends with a line continuation")
    finish()
    return commands


def _check_syntax(cmd: TraceCommand, name: str) -> None:
    if len(cmd.text) > 1_000_000:
        raise TraceError(f"{name}:{cmd.lineno}: command longer than 1000000 characters")
    if "\0" in cmd.text:
        raise TraceError(f"{name}:{cmd.lineno}: NUL byte in the command")
    unsupported = _unsupported(cmd.text)
    if unsupported:
        raise TraceError(f"{name}:{cmd.lineno}: {unsupported} are not supported in a replayed trace")
    try:
        tokens = tokenize(cmd.text)
    except ShellSyntaxError as exc:
        raise TraceError(f"{name}:{cmd.lineno}: {exc}") from None
    problem = _grammar(tokens)
    if problem:
        raise TraceError(f"{name}:{cmd.lineno}: {problem}")


def _unsupported(text: str) -> str:
    """Shell the simulator's shell does not expand, so a replay would run something else than the node did:
    expansions, subshells, here-documents, globs, background jobs. Quoted text is data."""
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            i += 1
        elif quote == '"' and c == '"':
            quote = ""
        elif c == "`" or (c == "$" and i + 1 < len(text) and (text[i + 1].isalpha() or text[i + 1] in "_{(")):
            return "variables and command substitutions"
        elif quote:
            pass
        elif c in "'\"":
            quote = c
        elif c in "()":
            return "subshells"
        elif text.startswith("<<", i):
            return "here-documents"
        elif c in "*?[" and (i == 0 or text[i - 1] != "="):
            return "globs"
        elif c == "&" and not text.startswith("&&", i) and not (i and text[i - 1] in ">&"):
            return "background jobs"
        i += 1
    return ""


def _grammar(tokens: list) -> str:
    """What bash says of operators with nothing to join (`ls |`, `; ls`, `ls ;;`, `ls >`)."""
    from simulator.shell import Op
    joiners = ("|", "&&", "||", ";")
    previous = None
    for tok in tokens:
        if isinstance(tok, Op) and tok.text in joiners and (previous is None or isinstance(previous, Op)):
            return f"syntax error near unexpected token `{tok.text}'"
        previous = tok
    if isinstance(previous, Op) and previous.text in ("|", "&&", "||"):
        return "syntax error: unexpected end of file"
    if isinstance(previous, Op) and previous.text in (">", ">>", "<", "2>"):
        return "syntax error near unexpected token `newline'"
    return ""


def parse_transcript(text: str, name: str = "<transcript>") -> list[TraceCommand]:
    """`$ command` lines, each followed by its stdout, `[stderr] ` lines and `# rc=N`."""
    commands: list[TraceCommand] = []
    current: TraceCommand | None = None
    step = ""
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("# (step ") and line.endswith(")"):
            step = line[3:-1]
            continue
        if line.startswith("$ "):
            current = TraceCommand(lineno, line[2:], "", Expectation(), step=step)
            _check_syntax(current, name)
            commands.append(current)
            continue
        if current is None or current.expected.rc is not None:
            continue
        if line.startswith(STDIN_PREFIX) and not current.expected.stdout and current.stdin is None:
            current.stdin = unescape_printf_b(line[len(STDIN_PREFIX):])
            continue
        m = re.fullmatch(r"# rc=(-?\d+)", line)
        if m:
            current.expected.rc = int(m.group(1))
        elif line.startswith("[stderr] ") or line == "[stderr]":
            current.expected.stderr.append(line[9:])
        elif line == NO_NEWLINE:
            current.expected.stdout_unterminated = True
        elif line.startswith("# ("):
            continue
        else:
            current.expected.stdout.append(line)
    for cmd in commands:
        if cmd.expected.rc is None:
            raise TraceError(f"{name}:{cmd.lineno}: command has no '# rc=N' line")
    return commands


NO_NEWLINE = "# (no newline at end of stdout)"
STDIN_PREFIX = "# (stdin) "


def escape_printf_b(text: str) -> str:
    """One line, printf %b style: backslash escapes, raw bytes (surrogate-escaped) as \\0ooo."""
    out = []
    for ch in text:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        else:
            raw = bytes([o - 0xDC00]) if 0xDC80 <= o <= 0xDCFF else ch.encode("utf-8")
            out.extend(f"\\0{b:03o}" for b in raw)
    return "".join(out)


def unescape_printf_b(text: str) -> str:
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "n":
                out += b"\n"
                i += 2
                continue
            if nxt == "\\":
                out += b"\\"
                i += 2
                continue
            if nxt == "0" and i + 4 < len(text) + 1:
                out.append(int(text[i + 2:i + 5], 8) & 0xFF)
                i += 5
                continue
        out += text[i].encode("utf-8")
        i += 1
    return out.decode("utf-8", "surrogateescape")


def format_transcript_entry(command: str, rc: int, stdout: str, stderr: str, stdin: str | None = None) -> str:
    out = f"$ {command}\n" + (f"{STDIN_PREFIX}{escape_printf_b(stdin)}\n" if stdin is not None else "") + stdout
    if stdout and not stdout.endswith("\n"):
        out += "\n" + NO_NEWLINE + "\n"
    out += "".join(f"[stderr] {line}\n" for line in stderr.splitlines())
    return out + f"# rc={rc}\n\n"
