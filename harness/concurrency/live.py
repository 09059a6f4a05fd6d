"""Concurrent operations on a real node: real threads, at once; a pinned race held by polling.

The same schedule object as on the simulator decides only whether a task may run the command it reached
(its holds); which task runs when is the kernel's business. A hold that waits longer than `PATIENCE` seconds of
wall time is let go (and reported), so a race written for the simulator never hangs a real run.
"""
from __future__ import annotations

import threading
import time

from engine.workers import Threads

PATIENCE = 120.0
POLL = 0.02


class _Task:
    __slots__ = ("name", "next", "blocked", "why")

    def __init__(self, name: str):
        self.name, self.next, self.blocked, self.why = name, "", None, "command"


class LiveTurns(Threads):
    def __init__(self, count: int, schedule):
        super().__init__(count)
        self.schedule = schedule
        self._ring: list[_Task] = []      # the schedule's `waits` condition reads the tasks from here
        self._local = threading.local()
        self._lock = threading.Lock()
        self._busy: set[str] = set()   # tasks between two of their checkpoints: running a command, or about to
        self.peak = 0                  # the most that were at once: evidence the operations really overlapped
        schedule.turns = self

    def run(self, tasks, count=None, names=None):
        if names is None or getattr(self._local, "task", None) is not None:
            return super().run(tasks, count)   # a build's own workers: plain threads
        slots = [_Task(n) for n in names]
        self._ring.extend(slots)
        self.schedule.started(slots, None)

        def wrap(task, slot):
            def body():
                self._local.task = slot
                try:
                    return task()
                finally:
                    with self._lock:
                        self._busy.discard(slot.name)
                        self.schedule.finished(slot)
            return body
        return super().run([wrap(t, s) for t, s in zip(tasks, slots)], count)

    def checkpoint(self, command: str = "", why: str = "command") -> None:
        me = getattr(self._local, "task", None)
        if me is None:
            return
        me.next, me.why = command, why
        deadline = time.monotonic() + PATIENCE
        while True:
            with self._lock:
                if self.schedule.eligible(me):
                    break
                if time.monotonic() > deadline:
                    self.schedule.stuck([me])
                    break
            time.sleep(POLL)
        me.why = "command"
        with self._lock:
            if why == "command":
                self.schedule.ran_command(me, command)
                self._busy.add(me.name)
                self.peak = max(self.peak, len(self._busy))
            else:
                self._busy.discard(me.name)

    def sleep_until(self, virtual, seconds: float) -> bool:
        return False   # real nodes sleep for real

    def wait_for(self, done, poll: float = 0.01) -> None:
        me = getattr(self._local, "task", None)
        if me is not None:
            me.blocked = done
        try:
            super().wait_for(done, poll)
        finally:
            if me is not None:
                me.blocked = None
