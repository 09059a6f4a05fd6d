"""Building independent artifacts at once: how many, and on which threads.

A disk's partitions, and an instance's kernel, ramdisk and disk, do not depend on each other, so a node whose
transport runs several commands at once can build them side by side (`NodeConfig.build_workers`). Three
kinds of workers, picked by the clock the engine was given (the engine never asks which node it has):

- `Sequential`: one at a time, in order (NC 3.3's way, and the default).
- `Threads`: real threads, for wall-clock nodes; their commands really overlap where the node allows it.
- `Turns`: for the simulator's virtual clock. Each task still gets a thread, but only the one whose turn it
  is runs, and the turn passes round-robin in fork order at every command, sleep and lock wait, so a seed
  gives one order of commands, the same every run, with the interleaving a concurrent build has.

In-process locks that are held across commands (the blobstore's lock table, NC's loop_sem) wait through
`hold`/`wait` here: under `Turns` a task that blocked for real would keep the turn from the holder.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable


class Sequential:
    def __init__(self, count: int = 1):
        self.count = max(1, count)

    def run(self, tasks: list[Callable[[], object]]) -> list[tuple[bool, object]]:
        """Every task run to its end, up to `count` at once: [(True, result) or (False, exception)] in the
        tasks' order. A task that was killed (a BaseException other than Exception) still kills the caller."""
        outcomes: list = [None] * len(tasks)
        for start in range(0, len(tasks), self.count):
            self._run_wave(tasks, range(start, min(start + self.count, len(tasks))), outcomes)
        for ok, value in outcomes:
            if not ok and not isinstance(value, Exception):
                raise value
        return outcomes

    def _run_wave(self, tasks, wave: range, outcomes: list) -> None:
        for k in wave:
            _store(outcomes, k, tasks[k])

    def checkpoint(self) -> None:
        """Where a task may give way to another one (before every command it issues)."""

    @contextlib.contextmanager
    def hold(self, lock: threading.Lock):
        with lock:
            yield

    def wait(self, cond: threading.Condition, seconds: float, clock) -> None:
        """Wait on `cond` (held by the caller) for a `release` or `seconds`."""
        cond.wait(seconds)


class Threads(Sequential):
    """Up to `count` tasks on their own threads at once."""

    def _run_wave(self, tasks, wave: range, outcomes: list) -> None:
        if len(wave) < 2:
            return super()._run_wave(tasks, wave, outcomes)
        threads = [threading.Thread(target=_store, args=(outcomes, k, tasks[k]), daemon=True) for k in wave]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


class _Slot:
    """A place in the ring of turns (a task, or the thread that forked it while it waits for its tasks)."""
    __slots__ = ()


class Turns(Sequential):
    """Deterministic interleaving on the virtual clock (see the module's text)."""

    def __init__(self, count: int = 1):
        super().__init__(count)
        self._cond = threading.Condition()
        self._ring: list[_Slot] = []
        self._turn: _Slot | None = None
        self._local = threading.local()

    def _me(self) -> _Slot | None:
        return getattr(self._local, "slot", None)

    def _pass(self, me: _Slot) -> None:
        ring = self._ring
        self._turn = ring[(ring.index(me) + 1) % len(ring)]
        self._cond.notify_all()

    def _await_turn(self, me: _Slot) -> None:
        while self._turn is not me:
            self._cond.wait()

    def checkpoint(self) -> None:
        me = self._me()
        if me is None:
            return
        with self._cond:
            self._pass(me)
            self._await_turn(me)

    @contextlib.contextmanager
    def hold(self, lock: threading.Lock):
        if self._me() is None:
            with lock:
                yield
            return
        while not lock.acquire(blocking=False):
            with self._cond:
                alone = len(self._ring) == 1
            if alone:   # the holder is no task of ours: it runs without turns, so a real wait is safe
                lock.acquire()
                break
            self.checkpoint()
        try:
            yield
        finally:
            lock.release()

    def wait(self, cond: threading.Condition, seconds: float, clock) -> None:
        if self._me() is None:
            cond.wait(seconds)
            return
        cond.release()
        try:
            clock.sleep(seconds)   # the virtual clock moves on, and the turn passes (VirtualClockAdapter.sleep)
        finally:
            cond.acquire()

    def _run_wave(self, tasks, wave: range, outcomes: list) -> None:
        if len(wave) < 2:   # one task: the forker runs it itself, in its own turns
            return super()._run_wave(tasks, wave, outcomes)
        parent = self._me()
        forker = parent or _Slot()
        slots = [_Slot() for _ in wave]
        left = [len(slots)]

        def body(k: int, slot: _Slot) -> None:
            self._local.slot = slot
            with self._cond:
                self._await_turn(slot)
            try:
                _store(outcomes, k, tasks[k])
            finally:
                with self._cond:
                    i = self._ring.index(slot)
                    self._ring.pop(i)
                    left[0] -= 1
                    if left[0] == 0:
                        self._ring.insert(i, forker)   # the forker takes its tasks' place again
                    self._turn = self._ring[i % len(self._ring)]
                    self._cond.notify_all()

        with self._cond:
            if parent is not None:
                i = self._ring.index(parent)
                self._ring[i:i + 1] = slots
            else:
                self._ring.extend(slots)
            if parent is not None or self._turn is None:
                self._turn = slots[0]
            threads = [threading.Thread(target=body, args=(k, s), daemon=True) for k, s in zip(wave, slots)]
            for t in threads:
                t.start()
            self._local.slot = forker
            try:
                self._await_turn(forker)
            finally:
                self._local.slot = parent
            if parent is None:   # a thread outside the ring forked: it leaves it again
                i = self._ring.index(forker)
                self._ring.pop(i)
                self._turn = self._ring[i % len(self._ring)] if self._ring else None
                self._cond.notify_all()
        for t in threads:
            t.join()


def _store(outcomes: list, k: int, task) -> None:
    try:
        outcomes[k] = (True, task())
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, which decides
        outcomes[k] = (False, exc)
