"""Sweep points branched off one run: the scenario runs once, and at each point's command the process forks. The
child makes that command fail (or kills the engine after it) and runs on to the point's outcome; the parent goes
on, unfaulted, to the next point. A point costs what follows its command, never the run up to it.

Fork rather than snapshot and restore: a point falls in the middle of a step, deep in the engine's call stack,
and a fork copies that stack together with the simulated node and the engine's memory, copy-on-write. Each point
is found as a fresh run would find it: the nth command its regex matches, counted over every command the node
runs from where the fresh run's fault would be installed. So a branch is the very run the point's own program
would be, from the same state, and its outcome is the same.

Forking needs a process of one thread: a scenario that runs threads (a `concurrently` step, build workers, an
object store, served images) is not branched; the caller re-runs its points from the start instead."""
from __future__ import annotations

import os
import pickle
import re
import selectors
import threading
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Point:
    key: object            # the caller's name for the point (k, or (k, reboot))
    pattern: str           # the regex the point's fault matches, over the command line
    nth: int               # at its nth match
    word: str              # the first word of the lines it can match (argv[0]): only those are searched


@dataclass
class _Group:
    rx: re.Pattern
    seen: int = 0
    by_nth: dict = field(default_factory=lambda: defaultdict(list))


class Brancher:
    """Counts the matches of every point's pattern over the commands the node runs (as the point's own fault would)
    and forks at each point's nth. In the child, `on_branch(point)` installs what the point does; then the run goes
    on. At most `jobs` children run at once: the parent waits for one to end before forking another."""

    def __init__(self, points: list[Point], jobs: int, on_branch, track: list[tuple[str, str]] = ()):
        """`track`: (pattern, word) of regexes whose matches are counted too (`seen_before`), without points."""
        self.jobs = max(1, jobs)
        self.on_branch = on_branch
        self.groups: dict[str, list[_Group]] = defaultdict(list)
        self.by_pattern: dict[str, _Group] = {}
        for pattern, word, point in [(p.pattern, p.word, p) for p in points] + [(*t, None) for t in track]:
            if pattern not in self.by_pattern:
                self.by_pattern[pattern] = _Group(re.compile(pattern))
                self.groups[word].append(self.by_pattern[pattern])
            if point is not None:
                self.by_pattern[pattern].by_nth[point.nth].append(point)
        self._line_hits: set[str] = set()   # the patterns the command being looked at matched
        self.child: Point | None = None
        self.results: dict = {}
        self.unbranched: list[Point] = []     # points met while other threads ran: the caller re-runs them
        self._live: dict[int, tuple[Point, int, bytearray]] = {}
        self._out = -1

    def observe(self, argv: list[str]) -> None:
        """The node's observer: called with every command before any fault is looked at."""
        groups = self.groups.get(argv[0])
        if not groups:
            return
        line = " ".join(argv)
        due = []
        self._line_hits = set()
        for group in groups:     # every count first: a branch reads them (seen_before) as of this command
            if group.rx.search(line):
                group.seen += 1
                self._line_hits.add(group.rx.pattern)
                due += group.by_nth.pop(group.seen, ())
        for point in due:
            if self._fork(point):
                return          # the child: this command is its point's; it forks no further

    def seen_before(self, pattern: str) -> int:
        """How many commands before the one being looked at matched `pattern` (a tracked or a point's regex)."""
        group = self.by_pattern[pattern]
        return group.seen - (pattern in self._line_hits)

    def _fork(self, point: Point) -> bool:
        if threading.active_count() > 1:
            # another thread would not exist in the child, and a lock it held would stay held there for ever
            self.unbranched.append(point)
            return False
        while len(self._live) >= self.jobs:
            self._reap_one()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            for _, fd, _ in self._live.values():
                os.close(fd)
            self._live.clear()
            self.child, self._out = point, write
            self.on_branch(point)
            self.groups.clear()
            return True
        os.close(write)
        self._live[pid] = (point, read, bytearray())
        return False

    def _reap_one(self) -> None:
        """Read the children's results until one has ended, and take it in."""
        with selectors.DefaultSelector() as sel:
            for pid, (_, fd, _) in self._live.items():
                sel.register(fd, selectors.EVENT_READ, pid)
            while True:
                for key, _ in sel.select():
                    point, fd, buf = self._live[key.data]
                    chunk = os.read(fd, 1 << 16)
                    if chunk:
                        buf += chunk
                        continue
                    os.close(fd)
                    _, status = os.waitpid(key.data, 0)
                    del self._live[key.data]
                    try:
                        self.results[point.key] = pickle.loads(bytes(buf))
                    except Exception:  # noqa: BLE001 - a child that died before answering is that point's outcome
                        self.results[point.key] = BranchDied(os.waitstatus_to_exitcode(status))
                    return

    def finish(self, outcome) -> None:
        send_and_exit(self._out, outcome)

    def wait_all(self) -> None:
        while self._live:
            self._reap_one()


@dataclass
class BranchDied:
    status: int


def send_and_exit(fd: int, value) -> None:
    """A forked child's end: `value` pickled to the parent, then exit at once (no cleanup of the parent's that it
    inherited may run: pytest's, the parent's open files, atexit handlers)."""
    try:
        view = memoryview(pickle.dumps(value))
        while view:
            view = view[os.write(fd, view):]
    finally:
        os._exit(0)


def isolated(call, *args):
    """`call(*args)` in a forked child (which has one thread, whatever this process has); its result, or the
    exception it raised, comes back pickled."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            result = (True, call(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
            result = (False, exc)
        send_and_exit(write, result)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    if not chunks:
        raise RuntimeError(f"the forked process of {call.__name__} died")
    ok, value = pickle.loads(b"".join(chunks))
    if not ok:
        raise value
    return value


def branch(run_base, points: list[Point], jobs: int, on_branch, judge, track: list = ()) -> Brancher:
    """Run `run_base(brancher)` (the scenario, with `brancher.observe` as its node's observer) once. In each child,
    `judge(point, result_or_exception)` makes the point's outcome. Returns the brancher: `results` by point key,
    `unbranched` the points to re-run. A child never returns from here."""
    brancher = Brancher(points, jobs, on_branch, track)
    try:
        result = run_base(brancher)
    except BaseException as exc:
        if brancher.child is None:
            brancher.wait_all()
            raise
        result = exc
    if brancher.child is not None:
        try:
            outcome = judge(brancher.child, result)
        except BaseException as exc:  # noqa: BLE001 - the judge's own failure is the point's outcome
            outcome = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
        brancher.finish(outcome)
    brancher.wait_all()
    return brancher


def forkable(scenario) -> bool:
    """A scenario whose run is one thread: no concurrent operations, one build worker, no object store (its S3
    server and background decrypts are threads), no served images (an HTTP server thread)."""
    return (not any(step.kind == "concurrently" for step in scenario.steps)
            and scenario.node.get("build_workers", 1) == 1 and not scenario.uses_store
            and not any(spec.served for spec in scenario.images))


class BranchDecided(BaseException):
    """Raised in a branch whose state, at a step's start, is the unbranched run's there: the rest of the run would
    go as that run went, so the branch has nothing left to show. (Not an Exception: no step may catch it.)"""


def run_fingerprint(run, skip_faults: tuple = (), explain: bool = False) -> str:
    """The state a scenario run would go on from, at a step's start: each node's (simulator/fingerprint.py) and
    each engine's memory (its instances, the locks it holds, what it learned about the node, its random state)."""
    from simulator.fingerprint import node_fingerprint
    hosts = [run.host] + [h for h in run.nodes.values() if h is not run.host]
    parts = [node_fingerprint(h.node, skip_faults, explain) for h in hosts]
    controllers = [run.result.controller] + [c for c in run.controllers.values() if c is not run.result.controller]
    for nc in controllers:
        if nc is None:
            parts.append("no engine")
            continue
        io, stores = nc.io, [s for s in (nc.cache, nc.work) if s is not None]
        parts.append(repr((
            sorted((i.id, i.user, i.state, tuple(i.vbrs), sorted(i.backing.items())) for i in nc.instances.values()),
            sorted(nc.locks.held_paths()), nc.locks.token, io.busybox, io.dm_concise, io._node_name,
            [(s.path, s._canonical) for s in stores], nc.rng.getstate())))
    parts.append(repr((run.crashed, sorted(run.node_crashed.items()))))
    return "\n".join(parts)
