"""Artifact ids: Bob Jenkins' one-at-a-time hash exactly as NC's util/hash.c computes it."""
from __future__ import annotations

MASK = 0xFFFFFFFF


def jenkins(data: str | bytes) -> int:
    """One-at-a-time over the bytes, each read as a *signed* char as on x86 (bytes >= 0x80 count negative)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    h = 0
    for byte in raw:
        c = byte - 256 if byte >= 0x80 else byte
        h = (h + c) & MASK
        h = (h + (h << 10)) & MASK
        h ^= h >> 6
    h = (h + (h << 3)) & MASK
    h ^= h >> 11
    h = (h + (h << 15)) & MASK
    return h


def hexjenkins(data: str | bytes) -> str:
    return f"{jenkins(data):08x}"


def convert_id(src: str) -> str:
    """`emi-856C3CDE-...` -> `-856C3CDE`: the EMI's hex part, carried into derived ids (keyed copies, disks)."""
    if not src[:4].lower() == "emi-":
        return ""
    out = []
    for ch in src[4:]:
        if not "0" <= ch <= "z" or ch in "-./":
            break
        out.append(ch)
    return "-" + "".join(out)


MAX_ID_LEN = 47


def make_id(prefix: str, sig: str) -> str:
    return f"{prefix}-{hexjenkins(sig)}"
