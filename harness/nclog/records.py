"""nc.log lines into records. Three generations of line prefix (util/log.c of each release):

- 1.6-3.1: `[Wed Nov  2 18:32:12 2011][001660][EUCAINFO  ] message`
- 3.1-4.4: `2013-06-11 08:52:13 DEBUG 000018352 diskutil_loop            | message` (the configured level's
  prefix spec: `%T %L %t9 %m-24 |` at DEBUG and TRACE, `%T %L %t9 %m-24 %F-33 |` at EXTREME, `%T %L |` at
  INFO and above; an early 3.x form printed `PID:TID`, an operator may set a custom prefix): a timestamp, a
  level right-aligned in five columns, any fields, then ` | `
- from 4.1 an optional correlation id `[0a26cd99-1db3] ` after the prefix, then usually `[i-9290fc99] `.

A message may go on over following lines: a record whose message starts with blanks, from the same thread and
function as the one before it, continues it (diskutil's `attaching file X` / `to /dev/loopN at offset 0`);
a line without any prefix (a failed command's output) belongs to the record before it. `grep` output
(`nc.log:123:...` or `nc.log:...`) is read as the lines it quotes.
"""
from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass, field

from harness.errors import HarnessError

LEVELS = {"EXTRE": "EXTREME", "TRACE": "TRACE", "DBUG3": "DEBUG", "DBUG2": "DEBUG", "DEBUG": "DEBUG",
          "INFO": "INFO", "WARN": "WARN", "ERROR": "ERROR", "FATAL": "FATAL"}
_OLD = re.compile(r"^\[(?P<ts>\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]\[(?P<pid>\d+)\]\[EUCA(?P<level>[A-Z]+\d?) *\] ?"
                  r"(?P<msg>.*)$")
_NEW = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(?P<level>EXTRE|TRACE|DBUG\d|DEBUG|INFO|WARN|ERROR|FATAL)"
                  r"(?P<fields>(?: [^|]*)?) \| ?(?P<msg>.*)$")
_CORR = re.compile(r"^\[(?P<corr>[0-9a-f]{8}-[0-9a-f]{4})\] ")
_INSTANCE = re.compile(r"^\[(?P<id>i-[0-9A-Za-z]{8,17})\] ")
# 3.0-3.1 put the pthread id in the message itself: `{1076873536} attaching file X`, `{1076873536}    to ...`
_PTHREAD = re.compile(r"^\{(?P<tid>\d+)\} ?")
# grep's own prefix: `FILE:LINE:` (grep -n, or several files) or `FILE:` before a log line
_GREP = re.compile(r"^(?P<file>[^\s:\[]+):(?:(?P<line>\d+):)?(?=\[\w{3} |\d{4}-\d\d-\d\d )")
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


class LogError(HarnessError):
    """A file that cannot be read as a log; one line naming it."""


@dataclass
class Record:
    origin: str                 # `file:line` of its first line
    time: str                   # `YYYY-MM-DD HH:MM:SS` (both generations)
    level: str
    message: str
    thread: str = ""            # the pid (1.x-3.0) or thread id
    function: str = ""          # 3.2 and later at DEBUG and below
    instance: str = ""
    correlation: str = ""
    continued: list[str] = field(default_factory=list)   # continuation lines, blanks stripped
    generation: str = ""        # "bracketed" or "dated"
    pthread: str = ""           # 3.0-3.1's `{tid}` message prefix

    @property
    def text(self) -> str:
        """The whole message, continuations joined by a space."""
        return " ".join([self.message.strip(), *self.continued]).strip()

    @property
    def clock(self) -> str:
        return self.time[11:]


def _old_time(stamp: str) -> str:
    """`Wed Nov  2 18:32:12 2011` as `2011-11-02 18:32:12`."""
    _, month, day, clock, year = stamp.split()
    return f"{year}-{MONTHS.get(month, 1):02d}-{int(day):02d} {clock}"


def parse_line(line: str, origin: str) -> Record | None:
    """One prefixed log line, or None when the line has no log prefix."""
    m = _NEW.match(line)
    if m:
        fields = m.group("fields").split()
        thread = next((f for f in fields if re.fullmatch(r"\d+(?::\d+)?", f)), "")
        function = next((f for f in fields if not re.fullmatch(r"\d+(?::\d+)?", f) and ".c:" not in f), "")
        rec = Record(origin, m.group("ts"), LEVELS[m.group("level")], m.group("msg"), thread, function,
                     generation="dated")
    else:
        m = _OLD.match(line)
        if not m:
            return None
        level = LEVELS.get(m.group("level")[:5], m.group("level"))
        rec = Record(origin, _old_time(m.group("ts")), level, m.group("msg"), m.group("pid"), generation="bracketed")
    msg = rec.message
    c = _CORR.match(msg)
    if c:
        rec.correlation, msg = c.group("corr"), msg[c.end():]
    i = _INSTANCE.match(msg)
    if i:
        rec.instance, msg = i.group("id"), msg[i.end():]
    t = _PTHREAD.match(msg)
    if t:
        rec.pthread, msg = t.group("tid"), msg[t.end():]
    rec.message = msg
    return rec


def is_log(text: str) -> bool:
    """Whether a text is an nc.log (or grep of one): most of its first non-blank lines have a log prefix."""
    lines = [line for line in text.splitlines()[:200] if line.strip() and not line.startswith("#")]
    if not lines:
        return False
    hits = sum(1 for line in lines if parse_line(_strip_grep(line)[0], "") is not None)
    return hits >= max(1, len(lines) // 2)


def _strip_grep(line: str) -> tuple[str, str | None]:
    """The log line grep quotes, and where grep says it is (`nc.log:123`, or `nc.log` without -n)."""
    m = _GREP.match(line)
    if m:
        if m.group("file").isdigit() and not m.group("line"):   # `grep -n` over one file: the line alone
            return line[m.end():], m.group("file")
        return line[m.end():], m.group("file") + (f":{m.group('line')}" if m.group("line") else "")
    return line, None


def read_records(text: str, name: str) -> list[Record]:
    """Every record of one file's text, continuations attached."""
    records: list[Record] = []
    last_by_thread: dict[str, Record] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line, quoted_from = _strip_grep(raw.rstrip("\r"))
        if quoted_from and quoted_from.isdigit():
            origin = f"{name}:{quoted_from}"              # the line in the file grep read
        else:
            origin = quoted_from if quoted_from and ":" in quoted_from else f"{name}:{lineno}"
        rec = parse_line(line, origin)
        if rec is None:
            if records and line.strip() and not line.startswith("# source:"):
                records[-1].continued.append(line.strip())   # a failed command's output, a wrapped message
            continue
        previous = last_by_thread.get(rec.thread + "/" + rec.pthread)
        if (previous is not None and rec.message[:1] in (" ", "\t") and not rec.instance
                and rec.function == previous.function):
            previous.continued.append(rec.message.strip())
            continue
        records.append(rec)
        last_by_thread[rec.thread + "/" + rec.pthread] = rec
    return records


def _rotation_key(path: str) -> tuple:
    """nc.log.9.gz ... nc.log.1, nc.log: oldest first (log.c renames nc.log to nc.log.0, .0 to .1...)."""
    base = os.path.basename(path)
    if base.endswith(".gz"):
        base = base[:-3]
    m = re.search(r"\.(\d+)$", base)
    return (base[:m.start()] if m else base, -int(m.group(1)) if m else 1)


def read_text(path: str) -> str:
    try:
        raw = open(path, "rb").read()
    except OSError as exc:
        raise LogError(f"{path}: cannot read: {exc.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise LogError(f"{path}: a damaged gzip file: {exc}") from None
    return raw.decode("utf-8", "replace")


def read_logs(paths: list[str]) -> list[Record]:
    """Records of several files (a rotated set, in any order, gzip'd or not), oldest file first."""
    records: list[Record] = []
    for path in sorted(paths, key=_rotation_key) if len(paths) > 1 else paths:
        records += read_records(read_text(path), path)
    return records
