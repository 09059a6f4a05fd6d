"""A small simulated node with staged images, for engine tests (sizes kept small so tests stay fast)."""
from engine.controller import NodeConfig, NodeController
from engine.nodeio import Recorder, VirtualClockAdapter
from engine.vbr import parse_ascii
from harness.backends.sim import SimHost
from harness.images.staging import ImageSpec, StagedImages

MB = 2**20
USER = "U1"
KEY = "ssh-rsa AAAAtestkey user@test"


def images():
    return StagedImages([ImageSpec("eki-11111111", 100000, "pattern"), ImageSpec("eri-22222222", 60000, "pattern"),
                         ImageSpec("emi-33333333", 20 * MB, "ext3"), ImageSpec("emi-44444444", 20 * MB, "ext3")])


def vbrs(imgs, emi="emi-33333333", eph=8 * MB, swap=4 * MB):
    loc = {i: s.location for i, s in imgs.specs.items()}
    return [parse_ascii(v) for v in (f"kernel:eki-11111111:-1:none:none:{loc['eki-11111111']}",
                                     f"ramdisk:eri-22222222:-1:none:none:{loc['eri-22222222']}",
                                     f"machine:{emi}:-1:none:sda1:{loc[emi]}",
                                     f"ephemeral0:none:{eph}:ext3:sda2:none", f"swap:none:{swap}:swap:sda3:none")]


class Node:
    def __init__(self, cache_mb=200, work_mb=0, seed=0, fast_path=False):
        self.host = SimHost(dialect="debian12", seed=seed)
        self.images = images()
        self.images.stage(self.host)
        self.recorder = Recorder()
        self.config = NodeConfig(instances_path="/var/lib/eucalyptus/instances", cache_mb=cache_mb, work_mb=work_mb,
                                 fast_path=fast_path)
        self.nc = self.controller()

    def controller(self):
        return NodeController(self.host, self.config, self.images, clock=VirtualClockAdapter(self.host.node.clock),
                              recorder=self.recorder)

    def sh(self, line):
        return self.host.run(["sh", "-c", line]).stdout

    def state(self):
        """Everything a leak could hide in: loops, dm tables, mounts, and every file under the instances path."""
        return {"losetup": self.sh("losetup -a"), "dm": sorted(self.sh("dmsetup table").splitlines()),
                "mounts": self.sh("mount"), "files": self.sh("find /var/lib/eucalyptus/instances /tmp")}

    def commands_since(self, n):
        return [c.text for c in self.recorder.commands[n:]]

    def run(self, inst, **kw):
        key = kw.pop("key", KEY)
        return self.nc.run_instance(inst, USER, vbrs(self.images, **kw), key=key)


def recording_io(dialect: str = "debian12", fast: bool = True):
    """A NodeIO on a simulated node, and every argv the node was sent: (io, host, sent)."""
    from engine.nodeio import NodeIO
    host = SimHost(dialect=dialect)
    sent: list[list[str]] = []
    run = host.run

    def recording(argv, stdin=None):
        sent.append(list(argv))
        return run(argv, stdin)
    host.run = recording
    io = NodeIO(host)
    io.fast = fast
    return io, host, sent
