"""Per-path exclusive locks with timeouts: in-process (threads) and across processes on the node.

The original pairs an in-process rwlock with an fcntl record lock per path. fcntl cannot be held over a
run-an-argv interface, so the cross-process half is an atomically created symlink `<path>.owner` whose
target names the holder (`ln -s` fails with EEXIST while someone holds it). A process that died leaves
its links behind; a restarting node controller, alone in its stores, removes them (`clear_stale`).
The blob's `lock` file still gets `<owner>/<thread>` while open, which is what marks a blob ABANDONED.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import threading

from engine.errors import EngineError
from engine.nodeio import Clock, CommandError

POLL_SECONDS = 0.099999
OWNER_SUFFIX = ".owner"
LINK_RETRIES = 2          # a failed lock link with no holder behind it is tried this many times more
_instances = itertools.count(1)


class LockTimeout(EngineError):
    pass


# how long work that must not be dropped (cleanup: terminate, a rollback, discarding a failed artifact; a
# reference whose devices already exist) keeps retrying a lock another operation holds. NC gave up after its
# 0.5 s store timeout and left blobs, devices or references behind under contention. Five minutes: on a slow
# real node two terminates at once took turns at the work store's lock for more than one (the UML node), and
# a thread of this process that re-takes a lock at once can keep a sleeping waiter out for a long while.
CONTENTION_PATIENCE = 300.0
CONTENTION_RETRY = 0.5


def patiently(clock: Clock, call, contended: type[Exception], patience: float = CONTENTION_PATIENCE):
    """`call()`, again after CONTENTION_RETRY while it raises `contended` (a lock held elsewhere), until
    `patience` seconds have passed; then the last error is raised."""
    start = clock.now()
    while True:
        try:
            return call()
        except contended:
            if clock.now() - start >= patience:
                raise
            clock.sleep(CONTENTION_RETRY)


class LockTable:
    def __init__(self, clock: Clock, io=None):
        self.clock = clock
        self.io = io
        # this engine process's identity in its lock-owner links: the node's (real or simulated) pid and count
        self.token = io.host.process_token() if io is not None else f"{os.getpid()}.{next(_instances)}"
        if io is not None:
            io.token = self.token
        self._cond = threading.Condition()
        self._holders: dict[str, int] = {}
        self._threads: dict[int, str] = {}

    def thread_tag(self) -> str:
        """This thread as the lock files name it: `t1`, `t2`... in the order this process's threads first took
        a blob (the same order on every run under the simulator's turns), never an address or a thread id."""
        me = threading.get_ident()
        with self._cond:
            if me not in self._threads:
                self._threads[me] = f"t{len(self._threads) + 1}"
            return self._threads[me]

    def holder(self, path: str) -> int | None:
        with self._cond:
            return self._holders.get(path)

    def acquire(self, path: str, timeout: float, in_process: float | None = None, read=None):
        """timeout < 0 waits forever, 0 tries once. Held by this very thread: no wait can help, fail at once.
        `in_process`: how long to wait while another thread of this process holds it (default `timeout`).
        `read`: (stat_paths, read_paths) to read with the link that takes the lock (NodeIO.link_and_read);
        returns what was read, or None if the caller is to read it."""
        me = threading.get_ident()
        waited = 0.0
        timed_out = False
        patience = timeout if in_process is None or timeout < 0 else max(timeout, in_process)
        with self._cond:
            while path in self._holders:
                if self._holders[path] == me or (patience >= 0 and waited >= patience):
                    timed_out = True
                    break
                step = POLL_SECONDS if patience < 0 else min(POLL_SECONDS, patience - waited)
                if self.io is not None:   # under the simulator's turns, waiting gives the holder its turn
                    self.io.workers.wait(self._cond, step, self.clock)
                else:
                    self._cond.wait(step)
                waited += step
            else:
                self._holders[path] = me
        if timed_out:
            if patience > 0:   # the rest of the timeout is spent, outside the table (another task may hold it)
                self.clock.sleep(max(0.0, patience - waited))
            raise LockTimeout(path)
        try:
            return self._acquire_on_node(path, max(0.0, timeout - waited) if timeout >= 0 else timeout, read)
        except LockTimeout:
            self.release(path, on_node=False)
            raise

    def _acquire_on_node(self, path: str, timeout: float, read=None):
        if self.io is None:
            return None
        waited = 0.0
        asked: set[str] = set()   # owners whose liveness was asked once in this wait
        unowned = 0               # failed links that found no holder's link after them
        while True:
            if read is None:
                made, found = self.io.applet(["ln", "-s", self.token, path + OWNER_SUFFIX], check=False).rc == 0, None
            else:
                try:
                    made, found = self.io.link_and_read(self.token, path + OWNER_SUFFIX, *read)
                except CommandError:
                    # the link is made before the read is looked at (a link it could not make is no error): ours
                    self.release(path)
                    raise
            if made:
                return found
            if not self.io.exists(path.rsplit("/", 1)[0]):
                return None   # the directory is gone (blob deleted meanwhile): nothing to exclude
            owner = self.io.readlink(path + OWNER_SUFFIX)
            if owner is None and unowned < LINK_RETRIES:
                # no holder: the holder let go between our link and the look (a race), or the link failed for
                # itself (an I/O error); either way it is tried again at once, not counted as contention (a
                # cleanup that tries a lock once would otherwise give up on a lock nobody holds)
                unowned += 1
                continue
            if owner == self.token:
                # ours, from a release whose `rm` failed: this process holds the path in memory now, and no
                # other process takes a link that names us, so it is ours to hold again
                return None
            if owner and owner not in asked:
                asked.add(owner)
                if self.holder_dead(owner):
                    # the original's fcntl lock goes with its process; the link of a dead holder is removed, and
                    # the lock taken again at once
                    self.io.log(f"lock {path}: its holder {owner} is gone; taken over")
                    self.io.unlink(path + OWNER_SUFFIX)
                    continue
            if timeout >= 0 and waited >= timeout:
                raise LockTimeout(path)
            step = POLL_SECONDS if timeout < 0 else max(0.0, min(POLL_SECONDS, timeout - waited))
            self.clock.sleep(step)
            waited += step if step else POLL_SECONDS

    def holder_dead(self, owner: str) -> bool:
        """Is the process a lock-owner token (`PID.N`) names gone from the node? (`kill -0 PID`)"""
        pid = owner.split(".", 1)[0]
        if not pid.isdigit():
            return False
        asked = self.io.quiet(["kill", "-0", pid], check=False)
        return asked.rc != 0 and "No such process" in asked.stderr

    def release(self, path: str, on_node: bool = True) -> None:
        """Let go of `path`. Only a lock this process holds is let go of on the node: a cleanup path that never
        got the lock (it timed out, another process has it) must not remove that process's owner link."""
        with self._cond:
            held = path in self._holders
        if on_node and held and self.io is not None:
            self.io.unlink(path + OWNER_SUFFIX)   # before waiters here are woken: the node's link goes first
        with self._cond:
            self._holders.pop(path, None)
            self._cond.notify_all()

    def release_after(self, path: str, script) -> None:
        """Run `script` (engine/script.py) with this lock's release as its last step: one program on the node
        for the steps and the release. A step that fails leaves the link; it is removed then, as `release`
        would, and the step's error raised."""
        script.unlink(path + OWNER_SUFFIX)
        try:
            script.run()
        except Exception:
            self.release(path)
            raise
        self.release(path, on_node=False)

    @contextlib.contextmanager
    def try_hold(self, path: str, timeout: float):
        """Yields True while holding `path`, or False at once if it could not be had within `timeout`."""
        try:
            self.acquire(path, timeout)
        except LockTimeout:
            yield False
            return
        try:
            yield True
        finally:
            self.release(path)

    def held_paths(self) -> list[str]:
        with self._cond:
            return sorted(self._holders)

    def clear_of(self, root: str, token: str) -> list[str]:
        """Owner links under `root` held by the dead holder `token` (a killed imager whose pid file named it)."""
        if self.io is None:
            return []
        links = self.io.quiet(["find", root, "-type", "l", "-name", "*" + OWNER_SUFFIX], check=False).stdout.split()
        dead = [p for p in links if self.io.readlink(p) == token]
        self.io.unlink(*dead)
        return dead

    def clear_stale(self, root: str) -> list[str]:
        """Owner links not ours under `root`: their processes are gone (called only at start-up)."""
        if self.io is None:
            return []
        links = self.io.quiet(["find", root, "-type", "l", "-name", "*" + OWNER_SUFFIX], check=False).stdout.split()
        stale = [p for p in links if self.io.readlink(p) != self.token]
        self.io.unlink(*stale)
        return stale
