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
import time
from collections.abc import Callable


class Sequential:
    def __init__(self, count: int = 1):
        self.count = max(1, count)

    def run(self, tasks: list[Callable[[], object]], count: int | None = None,
            names: list[str] | None = None) -> list[tuple[bool, object]]:
        """Every task run to its end, up to `count` (default: this worker set's) at once: [(True, result) or
        (False, exception)] in the tasks' order. A task that was killed (a BaseException other than Exception)
        still kills the caller. `names`: the tasks' names for a schedule (one wave only)."""
        outcomes: list = [None] * len(tasks)
        count = max(1, count or self.count)
        for start in range(0, len(tasks), count):
            self._run_wave(tasks, range(start, min(start + count, len(tasks))), outcomes, names)
        for ok, value in outcomes:
            if not ok and not isinstance(value, Exception):
                raise value
        return outcomes

    def _run_wave(self, tasks, wave: range, outcomes: list, names: list[str] | None = None) -> None:
        for k in wave:
            _store(outcomes, k, tasks[k])

    def checkpoint(self, command: str = "", why: str = "command") -> None:
        """Where a task may give way to another one (before every command it issues)."""

    def wait_for(self, done, poll: float = 0.01) -> None:
        """Wait until `done()`: another thread's work (a build a terminate waits for) has ended."""
        while not done():
            time.sleep(poll)

    @contextlib.contextmanager
    def hold(self, lock: threading.Lock):
        with lock:
            yield

    def wait(self, cond: threading.Condition, seconds: float, clock) -> None:
        """Wait on `cond` (held by the caller) for a `release` or `seconds`."""
        cond.wait(seconds)


class Threads(Sequential):
    """Up to `count` tasks on their own threads at once."""

    def _run_wave(self, tasks, wave: range, outcomes: list, names: list[str] | None = None) -> None:
        if len(wave) < 2:
            return super()._run_wave(tasks, wave, outcomes)
        threads = [threading.Thread(target=_store, args=(outcomes, k, tasks[k]), daemon=True) for k in wave]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


class _Slot:
    """A place in the ring of turns (a task, or the thread that forked it while it waits for its tasks).
    `name`: the task's name for a schedule (`op2`, `op2/1` for its first build worker); `next`: the command it
    waits to run; `blocked`: a predicate it waits for (another operation's end), None while it can run;
    `why`: what its last checkpoint was (`command`, or `wait` while it polls for a lock or sleeps)."""
    __slots__ = ("name", "next", "blocked", "why", "wake")

    def __init__(self, name: str = ""):
        self.name, self.next, self.blocked, self.why, self.wake = name, "", None, "command", None


class Deadlock(RuntimeError):
    """Every task waits for another one and none can run: a schedule (or the engine) that cannot go on."""


class Turns(Sequential):
    """Deterministic interleaving on the virtual clock (see the module's text). Without a `policy` the turn
    goes round the ring; a policy (harness/concurrency) picks the next task at every checkpoint instead, from
    those that can run, and may hold some (a pinned race): `eligible(slot)`, `choose(me, position, ring,
    candidates)`, `started(slots, parent)`, `ran_command(slot, command)`, `finished(slot)` and `stuck(slots)`."""

    def __init__(self, count: int = 1, policy=None):
        super().__init__(count)
        self._cond = threading.Condition()
        self._ring: list[_Slot] = []
        self._turn: _Slot | None = None
        self._local = threading.local()
        self.policy = policy
        self.virtual = None      # the simulator's clock, once a task sleeps under a policy (sleep_until)
        self.deadlock = ""
        if policy is not None:
            policy.turns = self

    def _me(self) -> _Slot | None:
        return getattr(self._local, "slot", None)

    def _can_run(self, slot: _Slot) -> bool:
        if slot.blocked is not None and not slot.blocked():
            return False
        return self.policy is None or self.policy.eligible(slot)

    def _next_after(self, position: int, me: _Slot | None = None) -> _Slot:
        """Who gets the turn when `me`, at `position`, passes it (None: the task there left the ring)."""
        ring = self._ring
        if self.policy is None and not any(s.blocked for s in ring):
            return ring[position % len(ring)]   # round the ring: the order every recording was made with
        candidates = [s for s in ring if self._can_run(s)]
        if not candidates:
            # every task waits: a hold in seconds may end first, else the clock moves on to the first sleeper's
            # wake-up (commands take no virtual time; only sleeps and lock polls do)
            wake = min((s.wake for s in ring if s.wake is not None), default=None)
            if self.policy is not None and self.policy.stuck([s for s in ring if s.blocked is None], wake):
                candidates = [s for s in ring if self._can_run(s)]
            if not candidates and wake is not None and self.virtual is not None:
                self.virtual.advance(max(0.0, wake - self.virtual.now))
                candidates = [s for s in ring if self._can_run(s)]
        if not candidates:
            raise Deadlock("every task waits for another one: " + ", ".join(s.name or "?" for s in ring))
        if self.policy is not None:
            return self.policy.choose(me, position, ring, candidates)
        for k in range(len(ring)):
            slot = ring[(position + k) % len(ring)]
            if slot in candidates:
                return slot
        return candidates[0]

    def _pass(self, me: _Slot) -> None:
        ring = self._ring
        i = ring.index(me)
        if self.policy is None and not any(s.blocked for s in ring):
            self._turn = ring[(i + 1) % len(ring)]
        else:
            self._turn = self._next_after(i, me)
        self._cond.notify_all()

    def _await_turn(self, me: _Slot) -> None:
        while self._turn is not me:
            self._cond.wait()

    def checkpoint(self, command: str = "", why: str = "command") -> None:
        """Before a command (`command`: its text, which a pinned race may wait for) or while waiting (`why`
        `wait`: a lock poll or a sleep, which a policy lets the others run past)."""
        me = self._me()
        if me is None:
            return
        with self._cond:
            me.next, me.why = command, why
            self._pass(me)
            self._await_turn(me)
            me.why = "command"
            if self.policy is not None and why == "command":
                self.policy.ran_command(me, command)

    def sleep_until(self, virtual, seconds: float) -> bool:
        """Under a policy, a sleeping task (a lock poll, a retry's pause) is not runnable until its wake-up, and
        the virtual clock moves only when no task can run: a lock holder the schedule starves does not see time
        race past its waiters' timeouts. False when this is no task of a policy (the caller sleeps as before)."""
        me = self._me()
        if me is None or self.policy is None:
            return False
        self.virtual = virtual
        with self._cond:
            me.wake = virtual.now + seconds
            me.why = "wait"
            # the clock moved on by a difference of two large floats may land a hair short of the wake-up
            me.blocked = lambda: virtual.now >= me.wake - 1e-6
            try:
                while True:
                    self._pass(me)
                    self._await_turn(me)
                    if virtual.now >= me.wake - 1e-6:
                        return True
            finally:
                me.blocked, me.wake, me.why = None, None, "command"

    def wait_for(self, done) -> None:
        """Wait until `done()` (another task's work ends) without keeping the turn from it."""
        me = self._me()
        if me is None or done():
            return super().wait_for(done)
        with self._cond:
            me.blocked = done
            try:
                while True:
                    self._pass(me)   # no task at all can run: Deadlock, raised here in the one waiting
                    self._await_turn(me)
                    if done():
                        return
                    if self.deadlock:
                        raise Deadlock(self.deadlock)
            finally:
                me.blocked = None

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
            self.checkpoint(why="wait")
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

    def _run_wave(self, tasks, wave: range, outcomes: list, names: list[str] | None = None) -> None:
        if len(wave) < 2:   # one task: the forker runs it itself, in its own turns
            return super()._run_wave(tasks, wave, outcomes)
        parent = self._me()
        forker = parent or _Slot()
        prefix = f"{parent.name}/" if parent is not None and parent.name else ""
        slots = [_Slot(names[k] if names else f"{prefix}{k + 1}") for k in wave]
        left = [len(slots)]

        def body(k: int, slot: _Slot) -> None:
            self._local.slot = slot
            with self._cond:
                self._await_turn(slot)
            try:
                _store(outcomes, k, tasks[k])
            finally:
                with self._cond:
                    if self.policy is not None:
                        self.policy.finished(slot)
                    i = self._ring.index(slot)
                    self._ring.pop(i)
                    left[0] -= 1
                    if left[0] == 0:
                        self._ring.insert(i, forker)   # the forker takes its tasks' place again
                    try:
                        self._turn = self._next_after(i)
                    except Deadlock as exc:   # the rest wait for what will never come: the first one learns it
                        self.deadlock = str(exc)
                        self._turn = self._ring[0]
                    self._cond.notify_all()

        with self._cond:
            if parent is not None:
                i = self._ring.index(parent)
                self._ring[i:i + 1] = slots
            else:
                self._ring.extend(slots)
            if self.policy is not None:
                self.policy.started(slots, parent)
            if parent is not None or self._turn is None:
                self._turn = slots[0] if self.policy is None else self._next_after(self._ring.index(slots[0]))
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
