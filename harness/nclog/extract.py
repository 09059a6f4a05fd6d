"""What the NC did to the node, from its records: commands, each with its provenance.

Whole commands where the log has them (`vrun(): [...]`, `system_output(): [...]`, ``invoking `...` ``, TRACE
`executing: ...`, `child process N executing: ...`), the euca_rootwrap/euca_mountwrap wrapper removed and
single quotes undone; the operations DEBUG logs as prose (storage/diskutil.c, blobstore.c), turned into the
commands that do them; and `bad return code from cmd '...'` as a command expected to fail. A command cut at the
exec helper's 256-byte buffer is flagged and completed from other records that name the path, never fatal.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from harness.nclog.records import Record

CUT_AT = 255          # execlp_output's `char cmd[256]`: a longer command is logged cut
WRAPPERS = ("euca_rootwrap", "euca_mountwrap")


@dataclass
class Operation:
    origin: str                  # `file:line` of the record it comes from
    time: str
    instance: str
    command: str                 # a shell line, as the node would run it
    expect_fail: bool = False    # logged as `bad return code`: the replay must see it fail too
    truncated: bool = False      # cut in the log and not completed: replayed as far as it goes
    note: str = ""               # what was assumed or completed
    prose: bool = False          # made from a description of the work, not a logged command line
    replayable: bool = True      # False: a dm device whose table the log does not show


@dataclass
class Extraction:
    operations: list[Operation] = field(default_factory=list)
    helpers: dict[str, str] = field(default_factory=dict)    # helper program -> first origin (not modelled)
    unmapped: list[Record] = field(default_factory=list)     # look like disk work, but could not be mapped
    other: int = 0                                           # records not about the node's disks
    sizes: dict[str, int] = field(default_factory=dict)      # file -> bytes a partition map says it holds


def unwrap(argv: list[str]) -> list[str]:
    """The command under euca_rootwrap (any path form: /usr/lib/..., //usr/lib/..., /opt/eucalyptus/...) and
    euca_mountwrap (which runs `mount`/`umount` with its arguments)."""
    while argv and argv[0].rsplit("/", 1)[-1] in WRAPPERS:
        argv = argv[1:]
    return argv


def _split(text: str) -> tuple[list[str], bool]:
    """shlex's split, or the words as they stand when the text is cut inside a quote."""
    try:
        return shlex.split(text), False
    except ValueError:
        try:
            return shlex.split(text + "'"), True
        except ValueError:
            return text.split(), True


def _line(argv: list[str]) -> str:
    return shlex.join(argv)


# ---- whole commands -------------------------------------------------------------------------------------------
_WHOLE = [
    re.compile(r"^(?:vrun|system_output)\(\): \[(?P<cmd>.*)\]$"),
    re.compile(r"^invoking `(?P<cmd>.*)`$"),
    re.compile(r"^(?:child process \d+ )?executing: (?P<cmd>.*)$"),
]
# older messages say what they are: `error: bad return code ...`, `ERROR: cannot ...`
_LEVEL_WORD = re.compile(r"^(?:error|warning|ERROR|WARNING|WARN): ")
_BAD_RC = re.compile(r"^bad return code from cmd '?(?P<cmd>.*?)'?$")


class _Extractor:
    def __init__(self, records: list[Record]):
        self.records = records
        self.out = Extraction()
        self.paths: set[str] = set()         # every absolute path any record names, to complete cut commands
        self.downloads: dict[str, str] = {}  # thread -> the file its download is writing

    def run(self) -> Extraction:
        for rec in self.records:
            self.paths.update(re.findall(r"(/[\w./+-]+)", rec.text))
        for rec in self.records:
            self.prose = False
            if self._whole(rec):
                continue
            self.prose = True
            if not self._prose(rec):
                if _LOOKS_LIKE_DISK.search(rec.text):
                    self.out.unmapped.append(rec)
                else:
                    self.out.other += 1
        self.out.operations = _without_echoes(self.out.operations)
        return self.out

    def _add(self, rec: Record, argv: list[str], **kw) -> None:
        argv = unwrap(argv)
        if not argv:
            return
        if argv[1:2] == ["create"] and argv[0].endswith("dmsetup") and len(argv) == 4 and \
                argv[3].startswith("/tmp/dmsetup."):
            # the blobstore hands dmsetup its table in a temp file the log never shows
            kw = dict(kw, note="table not logged", replayable=False)
            argv = argv[:3]
        self.out.operations.append(Operation(rec.origin, rec.time, rec.instance, _line(argv), prose=self.prose, **kw))

    def _whole(self, rec: Record) -> bool:
        text = _LEVEL_WORD.sub("", rec.message.strip())
        m = _BAD_RC.match(text)
        if m:
            cmd = re.sub(r"\s*2>&1$", "", m.group("cmd"))
            argv, cut = _split(cmd)
            self._add(rec, argv, expect_fail=True, truncated=cut,
                      note="; ".join(rec.continued)[:200] and f"it printed: {'; '.join(rec.continued)[:200]}")
            return True
        for pattern in _WHOLE:
            m = pattern.match(text)
            if m:
                cmd = m.group("cmd")
                argv, cut = _split(cmd)
                # the exec helper's `char cmd[256]`: a command of 255 characters was (very likely) cut there
                cut = cut or (text.startswith(("executing", "child")) and len(cmd) >= CUT_AT)
                note = ""
                if cut:
                    argv, note = self._complete(argv)
                self._add(rec, argv, truncated=cut and not note, note=note)
                return True
        return False

    def _complete(self, argv: list[str]) -> tuple[list[str], str]:
        """A command cut at the log's buffer: its last word completed from a path other records name."""
        if not argv:
            return argv, ""
        stem = argv[-1]
        whole = sorted(p for p in self.paths if p.startswith(stem) and p != stem)
        if stem.startswith("/") and whole:
            return argv[:-1] + [whole[0]], f"cut in the log; completed '{stem}' as '{whole[0]}' from other records"
        return argv, ""

    def _prose(self, rec: Record) -> bool:
        text = _LEVEL_WORD.sub("", rec.text)
        for pattern, handler in _PROSE:
            m = pattern.match(text)
            if m:
                handler(self, rec, m)
                return True
        return False

    # the operations DEBUG (and some INFO) records describe
    def _attach(self, rec, m):
        offset = m.group("offset") or "0"
        self._add(rec, ["/sbin/losetup", "-o", offset, m.group("dev"), m.group("path")])

    def _detach(self, rec, m):
        self._add(rec, ["/sbin/losetup", "-d", m.group("dev")])

    def _dd2(self, rec, m):
        self._add(rec, ["/bin/dd", f"if={m.group('src')}", f"of={m.group('dst')}", f"bs={m.group('bs')}",
                        f"count={m.group('count')}", f"seek={m.group('seek')}", f"skip={m.group('skip')}",
                        "conv=notrunc,fsync"])

    def _dd(self, rec, m):
        # diskutil_dd logs the count but not the block size, which its callers pass as 512 (the sector)
        self._add(rec, ["/bin/dd", f"if={m.group('src')}", f"of={m.group('dst')}", "bs=512",
                        f"count={m.group('count')}"], note="bs=512 assumed: diskutil_dd logs no block size")

    def _ch(self, rec, m):
        path, user, group, perms = m.group("path"), m.group("user"), m.group("group"), m.group("perms")
        if user != "*":
            self._add(rec, ["chown", user, path])
        if group != "*":
            self._add(rec, ["chown", f":{group}", path])
        if int(perms, 8) > 0:
            self._add(rec, ["chmod", f"0{perms}", path])

    def _mkdir(self, rec, m):
        self._add(rec, ["mkdir", "-p", m.group("path")])

    def _dm_remove(self, rec, m):
        self._add(rec, ["dmsetup", "remove", m.group("name")])

    def _dm_create(self, rec, m):
        # the blobstore logs the name; the table only when dmsetup fails (`{tid} input: TABLE`)
        self.out.operations.append(Operation(rec.origin, rec.time, rec.instance, f"dmsetup create {m.group('name')}",
                                             note="table not logged", prose=True, replayable=False))

    def _dm_input(self, rec, m):
        """After a failed `dmsetup create`, its table: the latest create of that name gets it."""
        for op in reversed(self.out.operations):
            if op.command.startswith("dmsetup create ") and op.note == "table not logged":
                table = m.group("table").replace("\\n", "\n").strip()
                op.command = f"echo {shlex.quote(table)} | " + op.command
                op.expect_fail, op.note, op.replayable = True, "dmsetup failed in the log", True
                return

    def _download_to(self, rec, m):
        """walrus/url downloads write a file with the NC's own I/O; the byte count comes in a later record."""
        if not m.group("path").startswith("/tmp/"):     # a manifest fetched to a temp file is no disk work
            self.downloads[rec.thread] = m.group("path")

    def _download_wrote(self, rec, m):
        path = self.downloads.pop(rec.thread, None)
        if path:
            self._add(rec, ["truncate", "-s", m.group("bytes"), path],
                      note=f"downloaded {m.group('bytes')} bytes into {path} (their content is not in the log)")

    def _map_partition(self, rec, m):
        """`mapping partition N from /dev/loopX [a-b]`: the disk takes b-a+1 sectors from that loop, so the
        file attached to it holds at least that much (what --complete sizes it by)."""
        dev, first, last = m.group("dev"), int(m.group("first")), int(m.group("last"))
        for op in reversed(self.out.operations):
            words = _split(op.command)[0]
            if words and words[0].endswith("losetup") and dev in words and "-d" not in words:
                path = words[-1]
                self.out.sizes[path] = max(self.out.sizes.get(path, 0), (last - first + 1) * 512)
                return

    def _note(self, rec, m):
        """Logged disk work that needs no command of its own (partition maps, skipped steps)."""


_PROSE = [
    (re.compile(r"^attaching file (?P<path>\S+) to (?P<dev>/dev/loop\d+) at offset (?P<offset>\d+)"),
     _Extractor._attach),
    (re.compile(r"^detaching from loop device (?P<dev>/dev/loop\d+)"), _Extractor._detach),
    (re.compile(r"^copying data from '(?P<src>[^']+)' to '(?P<dst>[^']+)' of (?P<count>\d+) blocks \(bs=(?P<bs>\d+)\), "
                r"seeking (?P<seek>\d+), skipping (?P<skip>\d+)"), _Extractor._dd2),
    (re.compile(r"^copying data from '(?P<src>[^']+)' to '(?P<dst>[^']+)' \(blocks=(?P<count>\d+)\)"), _Extractor._dd),
    (re.compile(r"^ch\(own\|mod\) '(?P<path>[^']+)' (?P<user>[^.\s]+)\.(?P<group>\S+) (?P<perms>[0-7]+)"),
     _Extractor._ch),
    (re.compile(r"^creating path (?P<path>/\S+)"), _Extractor._mkdir),
    (re.compile(r"^removing device (?P<name>\S+)"), _Extractor._dm_remove),
    (re.compile(r"^creating device (?P<name>\S+)"), _Extractor._dm_create),
    (re.compile(r"^\{\d+\} input: (?P<table>.*)"), _Extractor._dm_input),
    (re.compile(r"^writing GET\S* output (?:from \S+ )?to (?P<path>/\S+)"), _Extractor._download_to),
    (re.compile(r"^wrote (?P<bytes>\d+) byte\(s\)"), _Extractor._download_wrote),
    (re.compile(r"^VBR\[(?P<n>\d+)\] type=(?P<type>\S+) id=(?P<id>\S+) dev=(?P<dev>\S+) size=(?P<size>-?\d+) "
                r"format=(?P<format>\S+) (?P<location>\S+)"), _Extractor._note),   # `log scenario` reads these
    (re.compile(r"^mapping partition \d+ from (?P<dev>/dev/\S+) \[(?P<first>\d+)-(?P<last>\d+)\]"),
     _Extractor._map_partition),
    (re.compile(r"^(offset for the first partition|skipping |symlinked |"
                r"\{\d+\} command: |downloaded /)"), _Extractor._note),
]
# records that look like disk work (so an unmapped one is listed, not counted away)
_LOOKS_LIKE_DISK = re.compile(r"/dev/(loop|mapper)|losetup|dmsetup|\bdd\b|mkfs|mkswap|tune2fs|parted|"
                              r"\.blocks\b|/blocks\b|\bmount\b")


def _same(a: str, b: str) -> bool:
    """Two command lines that run the same thing (program paths and quoting aside)."""
    wa, wb = _split(a)[0], _split(b)[0]
    return bool(wa) and len(wa) == len(wb) and wa[0].rsplit("/", 1)[-1] == wb[0].rsplit("/", 1)[-1] and wa[1:] == wb[1:]


def _without_echoes(ops: list[Operation]) -> list[Operation]:
    """At DEBUG (4.x's `child process N executing:`) and TRACE (`executing:`), the exec helper logs the command
    a diskutil function also describes in prose: the same work twice. The logged command line is kept."""
    out: list[Operation] = []
    for i, op in enumerate(ops):
        near = ops[max(0, i - 6):i + 7]
        if op.prose and any(not o.prose and o is not op and _same(o.command, op.command) for o in near):
            continue
        if op.prose and op.command.startswith("dmsetup create ") and any(
                not o.prose and o.command.split()[-1] == op.command.split()[-1] and "dmsetup" in o.command
                for o in near):
            continue
        out.append(op)
    return out


def extract(records: list[Record]) -> Extraction:
    return _Extractor(records).run()


def select(records: list[Record], instance: str = "", since: str = "", until: str = "") -> list[Record]:
    """`--instance ID` (records naming it, or tagged with it), `--since`/`--until` (a time prefix such as
    `2013-06-11 08:52:14` or `08:52`, compared as text on the same day)."""
    out = []
    for rec in records:
        if instance and rec.instance != instance and instance not in rec.text:
            continue
        when = rec.time if len(since or until) > 8 else rec.clock
        if since and when < since:
            continue
        if until and when[:len(until)] > until:
            continue
        out.append(rec)
    return out
