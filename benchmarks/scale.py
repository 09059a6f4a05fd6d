"""A simulated node filling up: the cost of one launch, one terminate, `dmsetup table` and `losetup -a` with
SMALL and then LARGE instances running (a listing per line it lists, each listing right after a change), the
ratio per operation (target <= 1.3: flat cost, no hidden O(n^2); beside it a bare pass over the devices listed,
whose own ratio is what the machine's caches do to a bigger heap),
and the process's peak memory at LARGE (target < 1 GiB). One run; sizes from the command line:

    python3 benchmarks/scale.py            # 100 then 1000 instances
    python3 benchmarks/scale.py 10 50      # a quick look

Every instance has the seed's shape (kernel, ramdisk, machine, ephemeral, swap: once built, 4 loops, 15 dm
devices and 6 work blobs), from small images so that memory measures the model, not image bytes."""
from __future__ import annotations

import os
import resource
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine.controller import NodeConfig, NodeController  # noqa: E402
from engine.nodeio import Recorder, VirtualClockAdapter  # noqa: E402
from engine.vbr import parse_ascii  # noqa: E402
from harness.backends.sim import SimHost  # noqa: E402
from harness.images.staging import ImageSpec, StagedImages  # noqa: E402

MB = 1 << 20
SAMPLES = 30
LISTINGS = 50
KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDscale bench@example"


def bare_pass(devices: list) -> float:
    """Seconds per device to visit every listed device object once, reading one field: the floor any listing
    pays. Its own ratio between the two sizes is how this machine's caches take a bigger heap, not our code."""
    start = time.perf_counter()
    for _ in range(LISTINGS):
        [d.minor for d in devices]
    return (time.perf_counter() - start) / LISTINGS / max(1, len(devices))


class FillingNode:
    def __init__(self):
        self.host = SimHost(dialect="debian12", seed=1)
        self.images = StagedImages([ImageSpec("eki-5CA1E001", 65536, "pattern"),
                                    ImageSpec("eri-5CA1E001", 65536, "pattern"),
                                    ImageSpec("emi-5CA1E001", 2 * MB, "ext3")])
        self.images.stage(self.host)
        loc = {i: s.location for i, s in self.images.specs.items()}
        self.vbrs = [f"kernel:eki-5CA1E001:-1:none:none:{loc['eki-5CA1E001']}",
                     f"ramdisk:eri-5CA1E001:-1:none:none:{loc['eri-5CA1E001']}",
                     f"machine:emi-5CA1E001:-1:none:sda1:{loc['emi-5CA1E001']}",
                     "ephemeral0:none:1048576:ext3:sda2:none", "swap:none:1048576:swap:sda3:none"]
        self.nc = NodeController(self.host, NodeConfig(cache_mb=1024, concurrent_disk_ops=0), self.images,
                                 clock=VirtualClockAdapter(self.host.node.clock), recorder=Recorder(), seed=1)
        self.count = 0

    def launch(self) -> str:
        self.count += 1
        inst = f"i-{self.count:08X}"
        self.nc.run_instance(inst, "AIDASCALE", [parse_ascii(v) for v in self.vbrs], key=KEY)
        return inst

    def fill_to(self, n: int) -> None:
        while len(self.nc.instances) < n:
            self.launch()

    def measure(self) -> dict[str, float]:
        """Seconds per operation, the median of SAMPLES (or LISTINGS) each timed alone: a neighbour on the VM
        slows some of them, not the code; the node is back at its size afterwards."""
        out = {}
        launched, runs = [], []
        for _ in range(SAMPLES):
            start = time.perf_counter()
            launched.append(self.launch())
            runs.append(time.perf_counter() - start)
        out["run"] = statistics.median(runs)
        terminates = []
        for inst in launched:
            start = time.perf_counter()
            self.nc.terminate_instance(inst)
            terminates.append(time.perf_counter() - start)
        out["terminate"] = statistics.median(terminates)
        kernel = self.host.node.kernel
        run = self.host.run
        self.host.run_shell("truncate -s 1M /tmp/scale-probe")

        def probe_loop() -> str:
            return run(["losetup", "-j", "/tmp/scale-probe"]).stdout.split(":")[0]
        # each listing follows a change, as in a run (a device made, or a loop attached, just before it): the
        # lists' remembered text is re-rendered where the change fell, and the rest is reused
        changes = {
            "dmsetup table": (lambda: run(["dmsetup", "create", "scale-probe", "--table", "0 8 zero"]),
                              lambda: run(["dmsetup", "remove", "scale-probe"])),
            "losetup -a": (lambda: run(["losetup", "-f", "/tmp/scale-probe"]),
                           lambda: run(["losetup", "-d", probe_loop()])),
        }
        for name, argv, devices in (("dmsetup table", ["dmsetup", "table"], kernel.dm.listed()),
                                    ("losetup -a", ["losetup", "-a"], kernel.loop.bound())):
            before, after = changes[name]
            before()
            lines = len(run(argv).stdout.splitlines())
            after()
            times = []
            for _ in range(LISTINGS):
                before()
                start = time.perf_counter()
                run(argv)
                times.append(time.perf_counter() - start)
                after()
            # a listing grows with the node by nature: its cost per line listed is what must stay flat
            out[f"{name} per line"] = statistics.median(times) / max(1, lines)
            out[f"{name} per line, bare pass"] = bare_pass(devices)
        return out

    def census(self) -> str:
        loops = len(self.host.run(["losetup", "-a"]).stdout.splitlines())
        dms = len(self.host.run(["dmsetup", "ls"]).stdout.splitlines())
        blobs = len(self.nc.work.ids()) + len(self.nc.cache.ids())
        return f"{len(self.nc.instances)} instances, {loops} loops, {dms} dm devices, {blobs} blobs"


def main(argv: list[str]) -> int:
    small, large = (int(argv[0]), int(argv[1])) if len(argv) == 2 else (100, 1000)
    node = FillingNode()
    start = time.perf_counter()
    node.fill_to(small)
    fill_small = time.perf_counter() - start
    at_small = node.measure()
    print(f"at {node.census()} (filled in {fill_small:.1f} s)")
    start = time.perf_counter()
    node.fill_to(large)
    fill_large = time.perf_counter() - start
    at_large = node.measure()
    print(f"at {node.census()} (filled in {fill_large:.1f} s more)")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ratios = {}
    for op in at_small:
        ratios[op] = at_large[op] / at_small[op]
        print(f"{op:>36}: {at_small[op] * 1e6:10.3f} us at {small}, {at_large[op] * 1e6:10.3f} us at {large}, "
              f"ratio {ratios[op]:.2f}")
    # the bare pass's own ratio is what the machine's caches do to a bigger heap: a listing that visited every
    # device would pay it; ours reuses the text of every block the change did not touch
    flat = {op: ratios[op] for op in ("run", "terminate", "dmsetup table per line", "losetup -a per line")}
    worst = max(flat, key=flat.get)
    print(f"peak RSS {peak_mib:.0f} MiB at {large} instances (target < 1024); worst ratio {flat[worst]:.2f} "
          f"({worst}; target <= 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
