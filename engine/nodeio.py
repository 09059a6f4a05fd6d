"""Everything the engine does to a node goes through here, as argv lists on the one host interface.

Two kinds of call: `cmd` is an external command the original NC runs (logged and recorded in the
seed's format); `file_*` helpers are plain file I/O the original does with syscalls (never recorded).
"""
from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hostapi import Capability, Host

from .errors import CommandError
from .script import NodeScript
from .workers import Sequential, Threads, Turns

BUSYBOX_PROBE = 'printf %s "${1}" | tee /dev/null && stat -c "%s %f %Y %n" /dev/null'
LINK_STATUS = 9          # a script's `ln -s` that could not make its link
LINK_EXISTS = "exists"

# how the read tools report a path that is not there (coreutils and findutils: `cat: X: No such file or
# directory`, `stat: cannot statx 'X': ...`, `find: 'X': ...`, `ls: cannot access 'X': ...`)
ABSENT = ("No such file or directory", "Not a directory")


class Clock:
    """Wall time by default; the simulator's runner passes its virtual clock so runs stay deterministic."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def workers(self, count: int) -> Sequential:
        """What builds independent artifacts at once: real threads on a wall clock."""
        return Threads(count) if count > 1 else Sequential()


class VirtualClockAdapter(Clock):
    def __init__(self, virtual):
        self.virtual = virtual
        self.turns: Turns | None = None

    def now(self) -> float:
        return self.virtual.now

    def sleep(self, seconds: float) -> None:
        if self.turns is not None and self.turns.sleep_until(self.virtual, seconds):
            return
        self.virtual.advance(seconds)
        if self.turns is not None:
            self.turns.checkpoint(why="wait")   # a sleeping task gives its turn away, as it gives the CPU away

    def workers(self, count: int) -> Sequential:
        """On virtual time, tasks take turns: the same seed gives the same interleaving (engine/workers.py)."""
        if count <= 1:
            return Sequential()
        self.turns = Turns(count)
        return self.turns


def clock_for(host: Host) -> Clock:
    """The host's virtual clock where it has one (the simulator: runs stay deterministic), else wall time."""
    return VirtualClockAdapter(host.virtual_clock()) if host.has(Capability.VIRTUAL_CLOCK) else Clock()


@dataclass
class RecordedCommand:
    when: float
    text: str
    rc: int
    stderr: str = ""


@dataclass
class Recorder:
    """The commands the engine issued, rendered as NC 3.3 logs them."""
    commands: list[RecordedCommand] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)   # every argv the engine ran, its own file I/O included

    def add(self, when: float, text: str, rc: int, stderr: str = "") -> None:
        self.commands.append(RecordedCommand(when, text, rc, stderr))

    def render(self) -> str:
        return "".join(f"{time.strftime('%H:%M:%S', time.gmtime(c.when))} {c.text}\n" for c in self.commands)


def render_argv(argv: list[str], stdin: str | None = None) -> str:
    """How the NC's log shows a command; dmsetup tables arrive on stdin as `echo "TABLE" | ...`."""
    text = " ".join(argv)
    if stdin is not None:
        table = stdin.rstrip("\n")
        if "\n" in table:
            return 'echo -e "' + table.replace("\n", "\\n") + '" | ' + text
        return f'echo "{table}" | {text}'
    return text


class NodeIO:
    def __init__(self, host: Host, recorder: Recorder | None = None, clock: Clock | None = None,
                 log: Callable[[str], None] | None = None):
        self.host = host
        self.recorder = recorder if recorder is not None else Recorder()
        self.clock = clock or Clock()
        self.log = log or (lambda msg: None)
        self.commands_issued = 0
        self.killed: BaseException | None = None
        self.fast = False        # NodeConfig.fast_path: fewer, cheaper commands for the same devices and bytes
        self.dm_concise = True   # until the node's dmsetup says it has no `create --concise`
        self.workers: Sequential = Sequential()   # NodeConfig.build_workers: see engine/workers.py
        self.busybox: bool | None = None   # on the fast path: does the node have busybox (None: not asked yet)
        # one command at a time unless the transport says it takes several at once
        self._lock = (contextlib.nullcontext() if host is not None and host.has(Capability.CONCURRENT)
                      else threading.Lock())
        self._count_lock = threading.Lock()
        # NC's loop_sem: `losetup -f` then attach is not atomic, so every attach in this process is serialized
        # (one per engine process: another process on the node, the imager, has its own)
        self.loop_sem = threading.Lock()
        self._node_name: str | None = None
        self.token = ""   # this engine process's lock-owner token (LockTable sets it)

    def _run(self, argv: list[str], stdin: str | None, issued: list[str] | None = None):
        """`issued`: the programs this argv runs as the sweeps should see them (a busybox script's steps)."""
        if self.killed is not None:
            raise self.killed
        self.workers.checkpoint(" ".join(argv))
        if self.killed is not None:   # another task's command was a crash point while this one waited its turn
            raise self.killed
        self.recorder.issued.extend(issued if issued is not None else [" ".join(argv)])
        with self._lock:
            try:
                return self.host.run(list(argv), stdin)
            except Exception:
                raise
            except BaseException as exc:
                # killed (a crash point, like SIGKILL): `finally` blocks unwinding the dead engine must not
                # reach the node, as nothing of a killed process does; the node no longer has the process
                self.killed = exc
                if self.token and self.host is not None:
                    self.host.end_process(self.token)
                raise

    def node_name(self) -> str:
        """The node's host name (`uname -n`), once per engine process: what a blobstore is claimed by, so two
        nodes never share one. "" where it cannot be told."""
        if self._node_name is None:
            found = self.quiet(["uname", "-n"], check=False)
            self._node_name = found.stdout.strip() if found.rc == 0 else ""
        return self._node_name

    def cmd(self, argv: list[str], stdin: str | None = None, render: str | None = None, check: bool = True):
        text = render or render_argv(argv, stdin)
        when = self.clock.now()
        result = self._run(argv, stdin)
        with self._count_lock:
            self.commands_issued += 1
        self.recorder.add(when, text, result.rc, result.stderr)
        self.log(f"{text} -> rc={result.rc}")
        if check and result.rc != 0:
            raise CommandError(text, result.rc, result.stderr + result.stdout)
        return result

    def quiet(self, argv: list[str], stdin: str | None = None, check: bool = True):
        result = self._run(argv, stdin)
        if check and result.rc != 0:
            raise CommandError(" ".join(argv), result.rc, result.stderr)
        return result

    # busybox on the fast path (engine/script.py) -------------------------------------------------------------
    def uses_busybox(self) -> bool:
        if not self.fast or self.busybox is False:
            return False
        if self.busybox is None:
            self.busybox = self._busybox_works()
        return self.busybox

    def _busybox_works(self) -> bool:
        """Asked once a run: is busybox there, and do its `sh`, `printf`, `tee` and `stat -c` do what the
        scripts need? A build without them (trimmed, or old, as some distributions ship) leaves the fast path
        to the installed programs rather than failing a launch on a script's output."""
        result = self._run(["busybox", "sh", "-c", BUSYBOX_PROBE, "sh", "ok"], None)
        return result.rc == 0 and re.fullmatch(r"ok0 [0-9a-f]+ \d+ /dev/null\n", result.stdout) is not None

    def run_busybox(self, argv: list[str], stdin: str | None, issued: list[str]):
        """`busybox ARGV`, once `uses_busybox()` has said yes."""
        return self._run(["busybox", *argv], stdin, issued)

    def applet(self, argv: list[str], stdin: str | None = None, check: bool = True):
        """A small file program: busybox's applet of that name on the fast path where the node has it (one
        static binary, no dynamic linking: a third of the start-up), else the installed program."""
        if not self.uses_busybox():
            return self.quiet(argv, stdin, check)
        result = self.run_busybox(argv, stdin, [" ".join(argv)])
        if check and result.rc != 0:
            raise CommandError(" ".join(argv), result.rc, result.stderr)
        return result

    def script(self) -> NodeScript:
        """Steps to run as one program on the fast path (see engine/script.py)."""
        return NodeScript(self)

    # plain file I/O ---------------------------------------------------------------------------
    def read_cmd(self, argv: list[str], absent: tuple[str, ...] = ABSENT, applet: bool = False):
        """A command that only reads; it raises when it failed for another reason than the one `absent` names
        (its error lines end so): taking an I/O error for 'not there' would have the engine act on metadata it
        never read. `applet`: busybox's, where the fast path has it (its texts end the same way)."""
        result = self.applet(argv, check=False) if applet else self.quiet(argv, check=False)
        self._check_read(" ".join(argv), result, absent)
        return result

    @staticmethod
    def _check_read(rendered: str, result, absent: tuple[str, ...]) -> None:
        if result.rc != 0 and any(line.strip() and not line.endswith(absent) for line in result.stderr.splitlines()):
            raise CommandError(rendered, result.rc, result.stderr)

    def read(self, path: str) -> str | None:
        """Whole-file read; a missing or empty file is None, as the blobstore treats it."""
        result = self.read_cmd(["cat", path], applet=True)
        return result.stdout if result.rc == 0 and result.stdout else None

    def read_files(self, paths: list[str]) -> dict[str, str]:
        """The regular files among `paths` that exist, with their contents (empty ones too)."""
        return self.stat_and_read([], paths)[1]

    def stat_and_read(self, stat_paths: list[str], read_paths: list[str]):
        """`stat(stat_paths)` and `read_files(read_paths)` together. On the fast path one `stat` gives every
        path's type, size and mtime and one `cat` (none if nothing has bytes) the contents, split by those
        sizes: two programs however many files, where a remote node pays for every program it starts (one
        `busybox sh` where the node has busybox, see `_stat_and_read_script`). Otherwise, or when the bytes
        do not add up (a file changed between the two), NC's way: `stat`, then a `test -f` and a `cat` per
        file."""
        if self.fast and self._batchable(stat_paths, read_paths):
            found = self._stat_and_read_batched(stat_paths, read_paths)
            if found is not None:
                return found
        files = {}
        for p in read_paths:
            if self.quiet(["test", "-f", p], check=False).rc == 0:
                files[p] = self.read_cmd(["cat", p]).stdout
        return self.stat(stat_paths), files

    def _stat_and_read_batched(self, stat_paths: list[str], read_paths: list[str]):
        if self.uses_busybox():
            return self._stat_and_read_script(stat_paths, read_paths)
        listed = self.read_cmd(["stat", "-c", "%s %f %.9Y %n", *stat_paths, *read_paths]).stdout
        sizes = self._regular_sizes(listed, read_paths)
        nonempty = [p for p in read_paths if sizes.get(p)]
        data = self.read_cmd(["cat", *nonempty]).stdout.encode("utf-8", "surrogateescape") if nonempty else b""
        return self._split_read(listed, sizes, data, stat_paths, read_paths)

    def link_and_read(self, target: str, link: str, stat_paths: list[str], read_paths: list[str]):
        """`ln -s TARGET LINK` (a lock's atomic step) and, if it made the link, `stat_and_read`: in one program
        where busybox is. (made, (stats, files)), or (made, None) when the caller is to read."""
        if self.uses_busybox() and self._batchable(stat_paths, read_paths):
            found = self._stat_and_read_script(stat_paths, read_paths, link=(target, link))
            return (False, None) if found == LINK_EXISTS else (True, found)
        return self.applet(["ln", "-s", target, link], check=False).rc == 0, None

    @staticmethod
    def _batchable(stat_paths: list[str], read_paths: list[str]) -> bool:
        return bool(read_paths) and all(p.startswith("/") and "\n" not in p for p in stat_paths + read_paths)

    def _stat_and_read_script(self, stat_paths: list[str], read_paths: list[str], link: tuple[str, str] = ()):
        """Both in one `busybox sh`: the files' bytes first (errors dropped: the stat names what is missing),
        then a line `:` after a newline, then the stat, whose status and errors are the script's. busybox's
        stat gives whole seconds for `%Y`: these mtimes only ever say whether a blob is there and in use; the
        LRU order comes from `stat()`, which keeps coreutils' nanoseconds. `link`:
        (target, name) of an `ln -s` to make first; LINK_EXISTS if it could not be made (nothing read)."""
        lead = len(link)
        n_stat, paths = len(stat_paths), stat_paths + read_paths
        refs = " ".join(f'"${{{lead + i + 1}}}"' for i in range(len(paths)))
        reads = " ".join(f'"${{{lead + n_stat + i + 1}}}"' for i in range(len(read_paths)))
        script = f'cat {reads} 2>/dev/null; echo; echo :; stat -c "%s %f %Y %n" {refs}'
        issued = [" ".join(["cat", *read_paths]), " ".join(["stat", "-c", "%s %f %Y %n", *paths])]
        if link:
            script = f'ln -s "${{1}}" "${{2}}" || exit {LINK_STATUS}; ' + script
            issued.insert(0, f"ln -s {link[0]} {link[1]}")
        result = self.run_busybox(["sh", "-c", script, "sh", *link, *paths], None, issued)
        if link and result.rc == LINK_STATUS:
            return LINK_EXISTS
        self._check_read(issued[-1], result, ABSENT)
        data, sep, listed = result.stdout.rpartition("\n:\n")
        if not sep:
            raise CommandError(issued[-1], result.rc, result.stderr + "no separator in the script's output")
        data_bytes = data.encode("utf-8", "surrogateescape")
        return self._split_read(listed, self._regular_sizes(listed, read_paths), data_bytes,
                                stat_paths, read_paths)

    @staticmethod
    def _regular_sizes(listed: str, read_paths: list[str]) -> dict[str, int]:
        sizes = {}
        for line in listed.splitlines():
            size, mode, _, name = line.split(" ", 3)
            if name in read_paths and int(mode, 16) & 0o170000 == 0o100000:
                sizes[name] = int(size)
        return sizes

    @staticmethod
    def _split_read(listed: str, sizes: dict[str, int], data: bytes, stat_paths: list[str], read_paths: list[str]):
        """The stat lines and the files' bytes, split by the sizes stat gave (`_regular_sizes`); None when they do
        not add up."""
        stats: dict[str, tuple[int, float]] = {}
        for line in listed.splitlines():
            size, _, mtime, name = line.split(" ", 3)
            if name in stat_paths:
                stats[name] = (int(size), float(mtime))
        if len(data) != sum(sizes.values()):
            return None
        files, pos = {}, 0
        for p in read_paths:
            if p in sizes:
                files[p] = data[pos:pos + sizes[p]].decode("utf-8", "surrogateescape")
                pos += sizes[p]
        return stats, files

    def write(self, path: str, text: str) -> None:
        self.applet(["tee", path], text)

    def write_with_mode(self, path: str, text: str, mode: int) -> None:
        """A file written and given its mode: NC's write then chmod, or on the fast path one `install` (which
        rewrites an existing file in place)."""
        if self.uses_busybox():
            self.script().write(path, text, mode).run()   # back here, without busybox, if the node has none
        elif self.fast:
            # /proc/self/fd/0, not /dev/stdin: a minimal node (our QEMU one) has no /dev/stdin link
            self.quiet(["install", "-m", f"0{mode:o}", "/proc/self/fd/0", path], text)
        else:
            self.quiet(["tee", path], text)
            self.quiet(["chmod", f"0{mode:o}", path])

    def exists(self, path: str) -> bool:
        return self.quiet(["test", "-e", path], check=False).rc == 0

    def is_link(self, path: str) -> bool:
        return self.quiet(["test", "-L", path], check=False).rc == 0

    def is_dir(self, path: str) -> bool:
        return self.quiet(["test", "-d", path], check=False).rc == 0

    def is_block(self, path: str) -> bool:
        return self.quiet(["test", "-b", path], check=False).rc == 0

    def readlink(self, path: str) -> str | None:
        result = self.read_cmd(["readlink", path], applet=True)
        return result.stdout.rstrip("\n") if result.rc == 0 else None

    def stat(self, paths: list[str]) -> dict[str, tuple[int, float]]:
        """size and mtime of each existing path, in one command."""
        return {name: (int(size), float(mtime)) for name, (size, mtime) in self.stat_fields(paths, "%s %.9Y").items()}

    def stat_fields(self, paths: list[str], fmt: str) -> dict[str, list[str]]:
        """`stat -c 'FMT %n'` of each existing path, in one command: path -> FMT's space-separated fields."""
        if not paths:
            return {}
        width = len(fmt.split())
        result = self.read_cmd(["stat", "-c", f"{fmt} %n", *paths])
        out = {}
        for line in result.stdout.splitlines():
            *fields, name = line.split(" ", width)
            out[name] = fields
        return out

    def find(self, root: str, name: str) -> list[str]:
        result = self.read_cmd(["find", root, "-type", "f", "-name", name])
        return sorted(result.stdout.splitlines())

    def listdir(self, path: str) -> list[str]:
        result = self.read_cmd(["ls", "-1", "-A", path])
        return sorted(n for n in result.stdout.splitlines() if n not in (".", ".."))

    def mkdirs(self, path: str) -> None:
        self.applet(["mkdir", "-p", path])

    def make_sparse(self, path: str, size: int) -> None:
        self.applet(["truncate", "-s", str(size), path])

    def chmod(self, mode: int, *paths: str) -> None:
        self.applet(["chmod", f"0{mode:o}", *paths])

    def unlink(self, *paths: str) -> None:
        if paths:
            self.applet(["rm", "-f", *paths], check=False)

    def rmdir(self, path: str) -> bool:
        return self.applet(["rmdir", path], check=False).rc == 0

    def symlink(self, target: str, link: str) -> None:
        self.applet(["ln", "-sfn", target, link])
