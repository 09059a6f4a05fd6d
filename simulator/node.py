"""A simulated node: kernel + tools + shell behind one call, run(argv, stdin) -> Result."""
from __future__ import annotations

import stat as st

from . import shell
from .determinism import SeededRandom, VirtualClock
from .dialect import get_dialect
from .faults import FaultPlan
from .fs.base import FsError
from .kernel import Kernel
from .tools import load_all
from .tools.base import Abort, Result, not_found

SHELLS = {"sh", "bash", "dash"}
PER_COMMAND_SECONDS = 0.001


class Node:
    def __init__(self, dialect: str = "debian12", seed: int = 0, host_dev: tuple[int, int] | None = None,
                 first_ino: int = 131073, clock: VirtualClock | None = None, name: str = ""):
        """`clock`: one virtual clock for several nodes of a scenario (shared storage keeps one time); `name`:
        the node's identity among them (its /etc/machine-id is drawn from it and the seed)."""
        self.dialect = get_dialect(dialect)
        self.seed = seed
        self.clock = clock or VirtualClock()
        self.shared: list[tuple[str, object]] = []   # (path, filesystem) other nodes mount too
        self.rng = SeededRandom(seed)
        self.kernel = Kernel(self.dialect, self.clock, self.rng,
                             host_dev or ((8, 3) if dialect == "el6" else (98, 16)), first_ino)
        self.tools = load_all()
        self.cwd = "/root"
        self.env: dict[str, str] = {"LANG": "C.UTF-8"}
        self.commands_run = 0
        self.faults = FaultPlan()
        self.timed_holds: list[tuple[float, object, str]] = []
        self.hypervisor = None                 # enable_hypervisor(): a libvirt beside the kernel
        self.hypervisor_release_delay = 0.0    # seconds a destroyed domain keeps its disks open
        dev = self.kernel.vfs.walk("/dev")
        dev.fs.mknod(dev.ino, "null", st.S_IFCHR | 0o666, (1, 3))
        dev.fs.mknod(dev.ino, "zero", st.S_IFCHR | 0o666, (1, 5))
        dev.fs.mknod(dev.ino, "random", st.S_IFCHR | 0o666, (1, 8))
        dev.fs.mknod(dev.ino, "urandom", st.S_IFCHR | 0o666, (1, 9))
        self.kernel.vfs.mkdir_p("/var/tmp")
        for sticky in ("/tmp", "/var/tmp"):   # world-writable with the sticky bit, as on every distribution
            loc = self.kernel.vfs.walk(sticky)
            loc.fs.setattr(loc.ino, mode=0o1777)
        mapper = self.kernel.vfs.walk("/dev/mapper")
        mapper.fs.mknod(mapper.ino, "control", st.S_IFCHR | 0o600, (10, 236))
        self.name = name or "node"   # its host name (`uname -n`): what tells one node from another
        self.processes: set[int] = set()   # live engine processes the harness started here (kill -0 asks)

    def share(self, path: str, fs) -> None:
        """Mount `fs`, a filesystem other nodes mount too, at `path` (an NFS export: the same files, the same
        inode numbers, seen by several kernels). Mounted again after a reboot, as fstab would."""
        self.shared.append((path, fs))
        self._mount_shared(path, fs)

    def _mount_shared(self, path: str, fs) -> None:
        from .vfs import Mount
        vfs = self.kernel.vfs
        vfs.mkdir_p(path)
        vfs.add_mount(Mount(f"storage:{path}", vfs.canonical(path), fs, vfs.walk(path), "nfs4", "rw,relatime",
                            None))

    def reboot(self) -> None:
        """Power-cycle: kernel state is lost, files on the host disk are kept."""
        self.clock.advance(60)
        self.timed_holds.clear()
        if self.hypervisor is not None:
            self.hypervisor.reboot()
        self.kernel = self.kernel.reboot()
        for path, fs in self.shared:
            self._mount_shared(path, fs)

    def enable_hypervisor(self, release_delay: float = 0.0) -> None:
        from .hypervisor import Hypervisor
        self.hypervisor = Hypervisor(self)
        self.hypervisor_release_delay = release_delay

    def hold_device(self, path: str, seconds: float, holder: str = "qemu-kvm") -> None:
        """Another program keeps `path` open for `seconds` of virtual time (a hypervisor that reported its domain
        shut off before closing the disk): removing the device is busy until then."""
        dev = self.kernel.device_at(path)
        dev.hold(holder)
        self.release(dev, holder, after=seconds)

    def release(self, dev, holder: str, after: float = 0.0) -> None:
        """`holder` closes `dev`, now or `after` seconds of virtual time from now."""
        if after:
            self.timed_holds.append((self.clock.now + after, dev, holder))
            return
        dev.release(holder)
        self.kernel.released(dev)

    def _expire_holds(self) -> None:
        now = self.clock.now
        for entry in [h for h in self.timed_holds if h[0] <= now]:
            self.timed_holds.remove(entry)
            self.release(entry[1], entry[2])

    def set_loop_count(self, count: int) -> None:
        """Boot with `count` loop devices (nothing may be attached yet): el6 nodes have a fixed pool."""
        if self.kernel.loop.bound():
            raise ValueError("loop devices are attached: set the loop count before anything runs")
        self.kernel.loop_count = count
        self.kernel = self.kernel.reboot()
        for path, fs in self.shared:
            self._mount_shared(path, fs)

    def abspath(self, path: str) -> str:
        return path if path.startswith("/") else self.cwd.rstrip("/") + "/" + path

    def run(self, argv: list[str], stdin: str | None = None, applets: dict | None = None) -> Result:
        """Run one command; the only way anything reaches the simulated kernel. `applets`: a multi-call
        binary's own programs (busybox's), which a bare name runs before any installed tool."""
        if not argv:
            return Result(0)
        if self.timed_holds:
            self._expire_holds()
        if self.faults.observer is not None:
            self.faults.observer(argv)
        injected, fault = self.faults.before(argv) if self.faults.faults else (None, None)
        if injected is not None:
            return injected
        if fault is not None and fault.run_first:
            self._dispatch(list(fault.run_first), None)     # the racing program's command, not the caller's
        result = self._dispatch(argv, stdin, applets)
        if fault is not None and fault.crash:
            from .faults import CrashPoint
            raise CrashPoint(" ".join(argv))
        return result

    def _dispatch(self, argv: list[str], stdin: str | None, applets: dict | None = None) -> Result:
        name = argv[0].rsplit("/", 1)[-1]
        self.commands_run += 1
        for mount in self.kernel.vfs.mounts:   # the kernel's timers fire between commands, on virtual time
            mount.fs.tick()
        if name not in SHELLS and name not in ("sleep", "busybox"):   # time is charged to the programs a line runs
            self.clock.advance(PER_COMMAND_SECONDS)
        if name in SHELLS:
            if len(argv) >= 3 and argv[1] == "-c":
                return shell.run(self, argv[2], stdin)
            return shell.run(self, stdin or "")
        if name == "env":
            return self._env(argv, stdin)
        if name == "cd":
            return self._cd(argv)
        handler = applets.get(name) if applets is not None and "/" not in argv[0] else None
        if handler is None:
            handler = self.tools.get(name)
        if handler is None:
            return not_found(argv[0])
        try:
            return handler(self, argv, stdin)
        except Abort as exc:
            return Result(exc.rc, exc.stdout, exc.stderr)
        except FsError as exc:
            return Result(1, "", f"{name}: {exc.strerror}\n")

    def sh(self, line: str, stdin: str | None = None) -> Result:
        return self.run(["sh", "-c", line], stdin)

    def _cd(self, argv) -> Result:
        """The shell builtin: only the working directory of this node's shell changes."""
        target = self.abspath(argv[1]) if len(argv) > 1 else "/root"
        try:
            if not self.kernel.vfs.stat(target).is_dir:
                return Result(1, "", f"bash: cd: {argv[1]}: Not a directory\n")
            self.cwd = self.kernel.vfs.canonical(target)
        except FsError as exc:
            return Result(1, "", f"bash: cd: {argv[1]}: {exc.strerror}\n")
        return Result(0)

    def _env(self, argv, stdin):
        args = argv[1:]
        saved = dict(self.env)
        while args and "=" in args[0]:
            key, value = args.pop(0).split("=", 1)
            self.env[key] = value
        try:
            return self.run(args, stdin)
        finally:
            self.env = saved
