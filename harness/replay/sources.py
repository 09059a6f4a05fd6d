"""What `replay` can be given, told apart by content: a trace (the seed's `HH:MM:SS command` listing, bare
commands, a `$ command` transcript), a real nc.log (any generation, gzip'd, or `grep` output of one), or a
document that shows commands in code blocks (the seed's wiki page)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.nclog.extract import extract, select
from harness.nclog.records import LogError, is_log, read_logs
from harness.nclog.records import read_text as read_log_text
from harness.nclog.trace import commands as log_commands
from harness.replay.document import Document, is_document, parse_document
from harness.replay.trace import TraceCommand, TraceError, parse_trace, read_text

FORMATS = ("a trace (HH:MM:SS command lines, bare commands, a '$ command' transcript)",
           "an nc.log (1.6-3.1 '[date][pid][EUCALEVEL]', 3.2-4.4 'YYYY-MM-DD hh:mm:ss LEVEL ... |')",
           "a document with commands in ``` blocks")
_ARTIFACT = re.compile(r"allocated artifact \d+\|(?P<id>\S+) size=(?P<size>\d+)")


@dataclass
class Loaded:
    kind: str                                        # trace | nc.log | document
    commands: list[TraceCommand]
    notes: list[str] = field(default_factory=list)   # helpers left out, cut commands, unmapped records
    hints: dict[str, int] = field(default_factory=dict)   # blob id -> bytes, for --complete
    document: Document | None = None
    counts: str = ""                                 # a log's record counts, one line


def load(paths: list[str], instance: str = "", since: str = "", until: str = "") -> Loaded:
    """Raises TraceError (one line naming the file and place, or the formats tried)."""
    try:
        texts = [read_log_text(p) for p in paths]
    except LogError as exc:
        raise TraceError(str(exc)) from None
    if all(is_log(t) for t in texts):
        records = read_logs(paths)
        chosen = select(records, instance, since, until)
        found = extract(chosen)
        cmds, notes = log_commands(found)
        hints = dict(found.sizes)     # by path (partition maps), then by blob id (artifact records)
        for rec in chosen:
            m = _ARTIFACT.search(rec.text)
            if m:
                hints[m.group("id")] = max(hints.get(m.group("id"), 0), int(m.group("size")))
        counts = (f"{len(records)} records, {len(chosen)} selected: {len(found.operations)} disk operations, "
                  f"{len(found.helpers)} helper program(s) not modelled, {len(found.unmapped)} unmapped, "
                  f"{found.other} about other things")
        return Loaded("nc.log", cmds, notes, hints, counts=counts)
    if len(paths) > 1:
        raise TraceError(f"{paths[1]}: several files are read together only when all are nc.log files")
    path, text = paths[0], texts[0]
    if instance or since or until:
        raise TraceError(f"{path}: --instance, --since and --until select records of an nc.log")
    if is_document(text):
        doc = parse_document(text, path)
        return Loaded("document", doc.commands, document=doc)
    text = read_text(path)      # strict: a trace that is not UTF-8 says where
    try:
        return Loaded("trace", parse_trace(text, path))
    except TraceError as exc:
        raise TraceError(f"{exc} (read as {FORMATS[0]}; it is not {FORMATS[1]} nor {FORMATS[2]})") from None
