"""Everything the engine does to a node goes through here, as argv lists on the one host interface.

Two kinds of call: `cmd` is an external command the original NC runs (logged and recorded in the
seed's format); `file_*` helpers are plain file I/O the original does with syscalls (never recorded).
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .workers import Sequential, Threads, Turns


class HostLike(Protocol):
    def run(self, argv: list[str], stdin: str | None = None): ...


# how the read tools report a path that is not there (coreutils and findutils: `cat: X: No such file or
# directory`, `stat: cannot statx 'X': ...`, `find: 'X': ...`, `ls: cannot access 'X': ...`)
ABSENT = ("No such file or directory", "Not a directory")


class CommandError(Exception):
    def __init__(self, rendered: str, rc: int, stderr: str):
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
        super().__init__(f"'{rendered}' failed (rc={rc}): {detail}")
        self.rendered, self.rc, self.stderr = rendered, rc, stderr

    def __reduce__(self):   # its own arguments, not the message: a sweep's worker process sends it back
        return (CommandError, (self.rendered, self.rc, self.stderr))


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
        self.virtual.advance(seconds)
        if self.turns is not None:
            self.turns.checkpoint()   # a sleeping task gives its turn away, as it gives the CPU away

    def workers(self, count: int) -> Sequential:
        """On virtual time, tasks take turns: the same seed gives the same interleaving (engine/workers.py)."""
        if count <= 1:
            return Sequential()
        self.turns = Turns(count)
        return self.turns


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
    def __init__(self, host: HostLike, recorder: Recorder | None = None, clock: Clock | None = None,
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
        # one command at a time unless the transport says it takes several at once (its `concurrent`)
        self._lock = contextlib.nullcontext() if getattr(host, "concurrent", False) else threading.Lock()
        self._count_lock = threading.Lock()

    def _run(self, argv: list[str], stdin: str | None):
        if self.killed is not None:
            raise self.killed
        self.workers.checkpoint()
        if self.killed is not None:   # another task's command was a crash point while this one waited its turn
            raise self.killed
        self.recorder.issued.append(" ".join(argv))
        with self._lock:
            try:
                return self.host.run(list(argv), stdin)
            except Exception:
                raise
            except BaseException as exc:
                # killed (a crash point, like SIGKILL): `finally` blocks unwinding the dead engine must not
                # reach the node, as nothing of a killed process does
                self.killed = exc
                raise

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

    # plain file I/O ---------------------------------------------------------------------------
    def read_cmd(self, argv: list[str], absent: tuple[str, ...] = ABSENT):
        """A command that only reads; it raises when it failed for another reason than the one `absent` names
        (its error lines end so): taking an I/O error for 'not there' would have the engine act on metadata it
        never read."""
        result = self.quiet(argv, check=False)
        if result.rc != 0 and any(line.strip() and not line.endswith(absent) for line in result.stderr.splitlines()):
            raise CommandError(" ".join(argv), result.rc, result.stderr)
        return result

    def read(self, path: str) -> str | None:
        """Whole-file read; a missing or empty file is None, as the blobstore treats it."""
        result = self.read_cmd(["cat", path])
        return result.stdout if result.rc == 0 and result.stdout else None

    def read_files(self, paths: list[str]) -> dict[str, str]:
        """The regular files among `paths` that exist, with their contents (empty ones too)."""
        return self.stat_and_read([], paths)[1]

    def stat_and_read(self, stat_paths: list[str], read_paths: list[str]):
        """`stat(stat_paths)` and `read_files(read_paths)` together. On the fast path one `stat` gives every
        path's type, size and mtime and one `cat` (none if nothing has bytes) the contents, split by those
        sizes: two programs however many files, where a remote node pays for every program it starts.
        Otherwise, or when the bytes do not add up (a file changed between the two), NC's way: `stat`, then a
        `test -f` and a `cat` per file."""
        paths = stat_paths + read_paths
        if self.fast and read_paths and all(p.startswith("/") and "\n" not in p for p in paths):
            found = self._stat_and_read_batched(stat_paths, read_paths)
            if found is not None:
                return found
        files = {}
        for p in read_paths:
            if self.quiet(["test", "-f", p], check=False).rc == 0:
                files[p] = self.read_cmd(["cat", p]).stdout
        return self.stat(stat_paths), files

    def _stat_and_read_batched(self, stat_paths: list[str], read_paths: list[str]):
        listed = self.read_cmd(["stat", "-c", "%s %f %.9Y %n", *stat_paths, *read_paths]).stdout
        stats: dict[str, tuple[int, float]] = {}
        sizes: dict[str, int] = {}
        for line in listed.splitlines():
            size, mode, mtime, name = line.split(" ", 3)
            if name in stat_paths:
                stats[name] = (int(size), float(mtime))
            if name in read_paths and int(mode, 16) & 0o170000 == 0o100000:
                sizes[name] = int(size)
        nonempty = [p for p in read_paths if sizes.get(p)]
        data = b""
        if nonempty:
            data = self.read_cmd(["cat", *nonempty]).stdout.encode("utf-8", "surrogateescape")
        if len(data) != sum(sizes[p] for p in nonempty):
            return None
        files, pos = {}, 0
        for p in read_paths:
            if p in sizes:
                files[p] = data[pos:pos + sizes[p]].decode("utf-8", "surrogateescape")
                pos += sizes[p]
        return stats, files

    def write(self, path: str, text: str) -> None:
        self.quiet(["tee", path], text)

    def write_with_mode(self, path: str, text: str, mode: int) -> None:
        """A file written and given its mode: NC's write then chmod, or on the fast path one `install` (which
        rewrites an existing file in place)."""
        if self.fast:
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
        result = self.read_cmd(["readlink", path])
        return result.stdout.rstrip("\n") if result.rc == 0 else None

    def stat(self, paths: list[str]) -> dict[str, tuple[int, float]]:
        """size and mtime of each existing path, in one command."""
        if not paths:
            return {}
        result = self.read_cmd(["stat", "-c", "%s %.9Y %n", *paths])
        out = {}
        for line in result.stdout.splitlines():
            size, mtime, name = line.split(" ", 2)
            out[name] = (int(size), float(mtime))
        return out

    def find(self, root: str, name: str) -> list[str]:
        result = self.read_cmd(["find", root, "-type", "f", "-name", name])
        return sorted(result.stdout.splitlines())

    def listdir(self, path: str) -> list[str]:
        result = self.read_cmd(["ls", "-1", "-A", path])
        return sorted(n for n in result.stdout.splitlines() if n not in (".", ".."))

    def mkdirs(self, path: str) -> None:
        self.quiet(["mkdir", "-p", path])

    def make_sparse(self, path: str, size: int) -> None:
        self.quiet(["truncate", "-s", str(size), path])

    def unlink(self, *paths: str) -> None:
        if paths:
            self.quiet(["rm", "-f", *paths], check=False)

    def rmdir(self, path: str) -> bool:
        return self.quiet(["rmdir", path], check=False).rc == 0

    def symlink(self, target: str, link: str) -> None:
        self.quiet(["ln", "-sfn", target, link])
