"""The listings a full node prints (`dmsetup table`, `losetup -a`) come from blocks that remember their text:
after any sequence of changes they must print exactly what rendering every device afresh prints."""
from __future__ import annotations

import random

import pytest

from harness.backends.sim import SimHost
from simulator import listing
from simulator.listing import BlockedListing
from simulator.tools.dmsetup import table_lines
from simulator.tools.losetup import status_line


def test_blocked_listing_keeps_order_and_texts_through_splits_and_removals(monkeypatch):
    monkeypatch.setattr(listing, "LOAD", 2)    # blocks of 2-4: every path of split and merge is taken
    rng = random.Random(7)
    blocked, oracle = BlockedListing(), {}
    for step in range(3000):
        key = rng.randrange(200)
        if key in oracle and rng.random() < 0.5:
            blocked.remove(key)
            del oracle[key]
        elif key not in oracle:
            oracle[key] = f"item{key}.{step}"
            blocked.insert(key, oracle[key])
        elif rng.random() < 0.3:
            oracle[key] += "'"
            blocked.remove(key)
            blocked.insert(key, oracle[key])
        assert len(blocked) == len(oracle)
        if step % 7 == 0:
            want = "".join(oracle[k] + "\n" for k in sorted(oracle))
            assert blocked.render("t", lambda item: item + "\n") == want
            assert list(blocked.items()) == [oracle[k] for k in sorted(oracle)]
    with pytest.raises(KeyError):
        blocked.remove(1000)


def _fresh_table(node) -> str:
    devs = node.kernel.dm.listed()
    if not devs:
        return "No devices found\n"
    return "".join(f"{d.name}: {line}\n" for d in devs for line in table_lines(d))


def _fresh_losetup(node) -> str:
    devs = node.kernel.loop.bound(node.dialect.loop_order)
    return "".join(status_line(node, d) + "\n" for d in devs)


@pytest.mark.parametrize("dialect", ["debian12", "el6"])
def test_listings_after_random_changes_match_a_fresh_rendering(dialect, monkeypatch):
    monkeypatch.setattr(listing, "LOAD", 2)
    rng = random.Random(11)
    host = SimHost(dialect=dialect)
    run = host.run_shell
    for i in range(12):
        assert run(f"truncate -s 1M /tmp/f{i}").rc == 0
    loops: dict[int, str] = {}
    names: set[str] = set()
    for _ in range(400):
        action = rng.randrange(6)
        if action == 0 and len(loops) < 10:
            i = rng.choice([i for i in range(12) if i not in loops])
            out = run(f"losetup -f --show /tmp/f{i}" if dialect == "debian12" else f"losetup -f /tmp/f{i}")
            assert out.rc == 0, out
            loops[i] = out.stdout.strip() or run(f"losetup -j /tmp/f{i}").stdout.split(":")[0]
        elif action == 1 and loops:
            i = rng.choice(sorted(loops))
            if run(f"losetup -d {loops[i]}").rc == 0:
                del loops[i]
        elif action == 2 and loops:
            name = f"dev{rng.randrange(30)}"
            dev = loops[rng.choice(sorted(loops))]
            if run(f'echo "0 {rng.randrange(1, 2048)} linear {dev} 0" | dmsetup create {name}').rc == 0:
                names.add(name)
        elif action == 3 and names:
            name = rng.choice(sorted(names))
            if run(f"dmsetup remove {name}").rc == 0:
                names.discard(name)
        elif action == 4 and names and loops:
            name = rng.choice(sorted(names))
            dev = loops[rng.choice(sorted(loops))]
            run(f'echo "0 {rng.randrange(1, 2048)} linear {dev} 0" | dmsetup reload {name}')
            if rng.random() < 0.7:
                run(f"dmsetup resume {name}")
        elif action == 5:
            i = rng.randrange(12)     # a backing file unlinked while attached: " (deleted)" on debian12
            run(f"rm -f /tmp/f{i}")
            run(f"truncate -s 1M /tmp/f{i}")
        assert run("dmsetup table").stdout == _fresh_table(host.node)
        assert run("losetup -a").stdout == _fresh_losetup(host.node)
