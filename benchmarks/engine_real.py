"""On a real node: cold-cache then warm-cache provisioning of the seed's instance shape (kernel 4951248 bytes,
ramdisk 4399848, a 64 MiB ext3 root, 128 MiB ephemeral, 32 MiB swap, a key injected), NC 3.3's command path
against the engine's fast path, same node, same run. Prints per launch the seconds, the commands issued and
the bytes the node's disks wrote; the last line has the warm-cache ratio (target >= 3x).

    python3 benchmarks/engine_real.py              # the UML node (nc-harness node build first)
    python3 benchmarks/engine_real.py qemu         # or any backend spec: vagrant:node1, ssh://root@host
    python3 benchmarks/engine_real.py qemu --build-workers 3   # also the fast path building 3 artifacts at once
"""
from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.backends import make_host  # noqa: E402
from harness.scenario import load  # noqa: E402
from harness.scenario.runner import run_scenario  # noqa: E402

PHYSICAL = ("ubd", "vd", "sd", "xvd", "nvme")


def disk_bytes_written(host) -> int:
    """Sectors written by the node's physical disks (/proc/diskstats field 10), in bytes."""
    total = 0
    for line in host.run(["cat", "/proc/diskstats"]).stdout.splitlines():
        fields = line.split()
        if len(fields) > 9 and fields[2].startswith(PHYSICAL) and not fields[2][-1].isdigit():
            total += int(fields[9]) * 512
    return total


def measure(host, fast: bool, tag: str, workers: int = 1) -> dict:
    sc = load(os.path.join(ROOT, "scenarios", "cold-cache.yaml"))
    run_step = next(s for s in sc.steps if s.kind == "run_instance")
    sc.steps = [s for s in sc.steps if s.kind in ("run_instance", "terminate_instance")]
    second = type(run_step)(run_step.kind, dict(run_step.args, id=run_step.args["id"] + "W"), len(sc.steps) + 1)
    sc.steps.append(second)
    sc.steps.append(type(run_step)("terminate_instance", {"id": second.args["id"]}, len(sc.steps) + 1))
    if fast:
        sc.fast_path()
    sc.node = dict(sc.node, build_workers=workers)
    marks = {}
    timed: list[tuple[str, float]] = []   # (program, seconds) of every command the node ran
    run = host.run

    def timed_run(argv, stdin=None):
        start = time.perf_counter()
        try:
            return run(argv, stdin)
        finally:   # with build workers, programs overlap: their seconds add up to more than the launch's
            timed.append((os.path.basename(argv[0]), time.perf_counter() - start))

    def on_run(result, step):   # after the harness's own state snapshot: the step alone is timed
        written = disk_bytes_written(host)
        marks[step.index] = (time.perf_counter(), written, len(timed))

    def on_step(result, step):   # the step before this one has just ended
        now, count = time.perf_counter(), len(timed)
        ends[step.index] = (now, disk_bytes_written(host), count)
    ends: dict = {}
    host.run = timed_run
    try:
        result = run_scenario(sc, host=host, on_step=on_step, on_run=on_run, isolation=tag)
    finally:
        del host.run
    if not result.ok:
        raise SystemExit(f"{'fast' if fast else 'compatible'}: {result.failure}")
    count, now = len(timed), time.perf_counter()
    end = (now, disk_bytes_written(host), count)
    out = {}
    order = [s.index for s in sc.steps]   # indices are the original scenario's: the steps' order is the list's
    for label, step in (("cold", sc.steps[0]), ("warm", second)):
        position = order.index(step.index)
        following = ends[order[position + 1]] if position + 1 < len(order) else end
        outcome = next(o for o in result.steps if o.index == step.index)
        out[label] = (following[0] - marks[step.index][0], outcome.commands[1] - outcome.commands[0],
                      following[1] - marks[step.index][1], timed[marks[step.index][2]:following[2]])
    return out


def breakdown(commands: list[tuple[str, float]], top: int = 8) -> str:
    """Where a launch's time went, by program: what the node's cost per program started makes of it."""
    by: dict[str, list] = {}
    for program, seconds in commands:
        entry = by.setdefault(program, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds
    rows = sorted(by.items(), key=lambda kv: -kv[1][1])[:top]
    return ", ".join(f"{name} {n}x {total:.1f} s" for name, (n, total) in rows)


def main(argv: list[str]) -> int:
    workers = 1
    if "--build-workers" in argv:
        i = argv.index("--build-workers")
        workers = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    host = make_host(argv[0] if argv else "uml")
    try:
        results = {"compatible": measure(host, False, "bc"), "fast": measure(host, True, "bf")}
        if workers > 1:
            results[f"fast x{workers}"] = measure(host, True, "bw", workers)
    finally:
        host.close()
    for mode, rows in results.items():
        for label, (seconds, commands, written, ran) in rows.items():
            print(f"{mode:>10} {label}-cache launch: {seconds:6.2f} s, {commands:3d} commands, "
                  f"{written / (1 << 20):7.1f} MiB written; {len(ran)} programs on the node: {breakdown(ran)}")

    def ratio(mode: str, label: str) -> float:
        return results["compatible"][label][0] / results[mode][label][0]
    line = (f"fast path: warm cache {ratio('fast', 'warm'):.1f}x faster (target >= 3), cold cache "
            f"{ratio('fast', 'cold'):.1f}x; commands per warm launch {results['compatible']['warm'][1]} -> "
            f"{results['fast']['warm'][1]}, programs {len(results['compatible']['warm'][3])} -> "
            f"{len(results['fast']['warm'][3])}")
    if workers > 1:
        mode = f"fast x{workers}"
        line += (f"; with {workers} build workers: warm {ratio(mode, 'warm'):.1f}x (target >= 3), "
                 f"cold {ratio(mode, 'cold'):.1f}x")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
