"""Schedules: which of several concurrent operations runs the next command (engine.workers.Turns asks).

On the simulator every operation of a `concurrently` step is a task of one `Turns`; at each checkpoint (before a
command, or while a task waits for a lock or sleeps) the schedule picks the next task from those that can run.

- `DefaultOrder`: no preemption. The running task keeps going until it waits, sleeps or ends; then the next
  one round the ring. Any schedule is this order plus a list of `switches`: `[decision, task]` pairs, where a
  decision is a checkpoint at which two or more tasks could run, counted from 1. A saved failing schedule is
  written as its switches and replays exactly (`concurrently.schedule.switches`).
- `PctSchedule`: randomized with at most K preemptions in the manner of PCT (Burckhardt et al., ASPLOS 2010):
  every task draws a random priority, the highest one that can run runs, and at K change points drawn over the
  expected number of decisions the running task drops below all others. Seeded: a seed is one schedule.

A pinned race (`hold`) keeps a task from running the command it reached while its condition is unmet: another
operation has run a command matching a regex, has finished, or waits (for a lock, a sleep or another
operation). A hold that nothing could ever release (every other task waits for the held one) is let go, and the
step reports it.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field


@dataclass
class Hold:
    operation: str            # the held operation's name
    at: re.Pattern            # the command it stops before
    other: str = ""           # the operation whose progress releases it
    reaches: re.Pattern | None = None
    seconds: float = 0.0      # or: held this long on the virtual clock (a slow lock holder)
    after: bool = False       # held at the command after the matching one (just past taking a lock)
    armed: bool = False       # (after) the matching command has run
    since: float | None = None
    finishes: bool = False
    waits: bool = False
    released: bool = False
    forced: bool = False      # let go because nothing else could run

    def describe(self) -> str:
        where = f"{'after' if self.after else 'at'} /{self.at.pattern}/"
        if self.seconds:
            return f"'{self.operation}' held {where} for {self.seconds:g} s"
        until = (f"'{self.other}' runs /{self.reaches.pattern}/" if self.reaches is not None else
                 f"'{self.other}' finishes" if self.finishes else f"'{self.other}' waits")
        return f"'{self.operation}' held {where} until {until}"


@dataclass
class Decision:
    index: int
    candidates: list[str]     # names of the tasks that could run
    chosen: str
    default: str              # what DefaultOrder would have chosen
    running: str              # the task that was running and could have gone on ("" if it waits or ended)


def operation_of(name: str) -> str:
    """`op2/1` (a build worker of op2) belongs to `op2`."""
    return name.split("/", 1)[0]


@dataclass
class Schedule:
    """The Turns policy: eligibility (holds), the choice, and a record of every decision."""
    holds: list[Hold] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    ran: dict[str, list[str]] = field(default_factory=dict)    # operation -> commands it ran
    done: set[str] = field(default_factory=set)                 # finished operations
    trace: list[tuple[str, str]] = field(default_factory=list)  # (task, command), in the order they ran
    turns: object = None
    now: object = None                                          # the clock's now(), for holds in seconds
    advance: object = None                                      # moves the virtual clock on (nothing runs)

    # -- what Turns calls --------------------------------------------------------------------------
    def started(self, slots, parent) -> None:
        for slot in slots:
            self.ran.setdefault(operation_of(slot.name), [])

    def ran_command(self, slot, command: str) -> None:
        op = operation_of(slot.name)
        self.ran.setdefault(op, []).append(command)
        self.trace.append((slot.name, command))
        for hold in self.holds:
            if hold.after and hold.operation == op and not hold.armed and hold.at.search(command):
                hold.armed = True

    def finished(self, slot) -> None:
        if "/" not in slot.name:
            self.done.add(slot.name)

    def eligible(self, slot) -> bool:
        op = operation_of(slot.name)
        for hold in self.holds:
            if hold.operation != op or hold.released or slot.why != "command":
                continue
            if not (hold.armed if hold.after else hold.at.search(slot.next)):
                continue
            if self._met(hold):
                hold.released = True
                continue
            return False
        return True

    def stuck(self, runnable, wake: float | None = None) -> bool:
        """No task may run; `wake`: when the first sleeper wakes (None: none sleeps). A hold in seconds that ends
        first is released, the clock moved on to its end; with no such hold and no sleeper, every hold on a task
        that could run is let go, and reported. True when something was released."""
        names = {operation_of(s.name) for s in runnable}
        pending = [h for h in self.holds if not h.released and h.operation in names]
        timed = [h for h in pending if h.seconds and h.since is not None]
        now = self.now() if self.now is not None else 0.0
        if timed:
            first = min(timed, key=lambda h: h.since + h.seconds)
            end = first.since + first.seconds
            if wake is not None and wake < end:
                return False
            if end > now and self.advance is not None:
                self.advance(end - now)
            first.released = True
            return True
        if wake is not None or not pending:
            return False
        for hold in pending:
            hold.released, hold.forced = True, not hold.seconds
        return True

    def choose(self, me, position: int, ring, candidates):
        default = self._default(me, position, ring, candidates)
        if len(candidates) < 2:
            return default
        index = len(self.decisions) + 1
        chosen = self.pick(index, me, default, candidates)
        running = me is not None and me in candidates and me.why == "command"
        self.decisions.append(Decision(index, [s.name for s in candidates], chosen.name, default.name,
                                       me.name if running else ""))
        return chosen

    # -- what a schedule decides ---------------------------------------------------------------------
    def pick(self, index: int, me, default, candidates):
        return default

    @staticmethod
    def _default(me, position: int, ring, candidates):
        if me is not None and me in candidates and (me.why == "command" or len(candidates) == 1):
            return me
        start = position + 1 if me is not None and me in ring else position
        for k in range(len(ring)):
            slot = ring[(start + k) % len(ring)]
            if slot in candidates:
                return slot
        return candidates[0]

    def _met(self, hold: Hold) -> bool:
        if hold.seconds:
            now = self.now() if self.now is not None else 0.0
            if hold.since is None:
                hold.since = now
            return now - hold.since >= hold.seconds
        if hold.finishes:
            return hold.other in self.done
        if hold.reaches is not None:
            return any(hold.reaches.search(c) for c in self.ran.get(hold.other, []))
        if hold.other in self.done:
            return True
        slots = [s for s in getattr(self.turns, "_ring", []) if operation_of(s.name) == hold.other]
        return bool(slots) and all(s.blocked is not None or s.why == "wait" for s in slots)

    # -- reports --------------------------------------------------------------------------------------
    def switches(self) -> list[list]:
        """This run as DefaultOrder plus switches: replays it exactly."""
        return [[d.index, d.chosen] for d in self.decisions if d.chosen != d.default]

    def forced_holds(self, dead: set[str] = frozenset()) -> list[str]:
        """Holds let go because nothing else could run; `dead`: operations killed with their process (a crash
        point), whose holds, and holds waiting on them, could not be kept."""
        return [h.describe() for h in self.holds if h.forced and not {h.operation, h.other} & dead]

    def unreleased_holds(self, dead: set[str] = frozenset()) -> list[str]:
        return [h.describe() for h in self.holds if not h.released and not {h.operation, h.other} & dead]


class DefaultOrder(Schedule):
    """No preemption, plus the given switches (decision index -> task name)."""

    def __init__(self, switches: list | None = None, holds: list[Hold] | None = None):
        super().__init__(holds=list(holds or []))
        self.forced = {int(i): str(name) for i, name in (switches or [])}

    def pick(self, index: int, me, default, candidates):
        name = self.forced.get(index)
        return next((s for s in candidates if s.name == name), default)


class PctSchedule(Schedule):
    """PCT: random priorities, `preemptions` change points over `horizon` decisions."""

    def __init__(self, seed: int, preemptions: int = 2, horizon: int = 200, holds: list[Hold] | None = None):
        super().__init__(holds=list(holds or []))
        self.rng = random.Random(seed)
        self.priority: dict[str, float] = {}
        self.change_points = set(self.rng.sample(range(1, max(horizon, preemptions) + 1), preemptions))
        self.lowered = 0

    def started(self, slots, parent) -> None:
        super().started(slots, parent)
        for slot in slots:
            self.priority[slot.name] = 1.0 + self.rng.random()

    def pick(self, index: int, me, default, candidates):
        if index in self.change_points and me is not None and me.name in self.priority:
            self.lowered += 1
            self.priority[me.name] = -float(self.lowered)   # below every task's, and below earlier lowered ones
        if me is not None and me.why == "wait":
            return default   # a task that waits lets the next one run: no decision of the schedule's
        return max(candidates, key=lambda s: (self.priority.get(s.name, 0.0), s.name))
