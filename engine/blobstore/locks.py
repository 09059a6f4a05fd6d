"""Per-path exclusive locks with timeouts, shared by every blobstore of one node-controller process.

The original takes an in-process rwlock plus an fcntl record lock per path; over the host interface we
keep the in-process half and mark holders in the blob's `lock` file (`<pid>/<tid>`), which is what makes
a blob look ABANDONED to a later process after a crash.
"""
from __future__ import annotations

import threading

from ..nodeio import Clock

POLL_SECONDS = 0.099999


class LockTimeout(Exception):
    pass


class LockTable:
    def __init__(self, clock: Clock):
        self.clock = clock
        self._cond = threading.Condition()
        self._holders: dict[str, int] = {}

    def holder(self, path: str) -> int | None:
        with self._cond:
            return self._holders.get(path)

    def acquire(self, path: str, timeout: float) -> None:
        """timeout < 0 waits forever, 0 tries once. Held by this very thread: no wait can help, fail at once."""
        me = threading.get_ident()
        waited = 0.0
        with self._cond:
            while path in self._holders:
                if self._holders[path] == me or (timeout >= 0 and waited >= timeout):
                    if timeout > 0:
                        self.clock.sleep(max(0.0, timeout - waited))
                    raise LockTimeout(path)
                step = POLL_SECONDS if timeout < 0 else min(POLL_SECONDS, timeout - waited)
                self._cond.wait(step)
                waited += step
            self._holders[path] = me

    def release(self, path: str) -> None:
        with self._cond:
            self._holders.pop(path, None)
            self._cond.notify_all()

    def held_paths(self) -> list[str]:
        with self._cond:
            return sorted(self._holders)
