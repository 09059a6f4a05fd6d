"""One seeded RNG and a virtual clock: the only sources of variation in a simulated node."""
from __future__ import annotations

import random
import uuid

# 2026-11-22 00:22:00 UTC: a fixed epoch so listings with dates are reproducible.
DEFAULT_EPOCH = 1795306920.0


class VirtualClock:
    """Time that only moves when the simulator says so, kept in whole nanoseconds so that the same advances
    always give the same instant (a float sum would depend on how the advances were grouped)."""

    def __init__(self, start: float = DEFAULT_EPOCH):
        self.ns = round(start * 1_000_000_000)

    @property
    def now(self) -> float:
        return self.ns / 1_000_000_000

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("virtual time cannot go backwards")
        self.ns += round(seconds * 1_000_000_000)


class SeededRandom:
    """Every random choice of the node (UUIDs, inode numbers, temp names) comes from here."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._rng = random.Random(seed)

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)

    def randbytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)

    def randint(self, lo: int, hi: int) -> int:
        return self._rng.randint(lo, hi)

    def token(self, n: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(self._rng.choice(alphabet) for _ in range(n))
