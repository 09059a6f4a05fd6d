"""Drive a user-mode-linux node (and, through `QemuNode`, a QEMU one): boot it, run argv lists in it, reset it,
stop it by PID.

Requests go through a directory shared with the guest (hostfs on /xchg): `N.argv` (NUL-separated, run as is,
never parsed by a shell) and `N.in`; the guest writes `N.out`, `N.err`, `N.rc` and says `__REALNODE_DONE__ N`
on the console. Binary data and long lines never pass through the tty. A request sent while another is still
running, or from a thread other than the main one, is sent as `N&`, which the guest serves in the background,
so requests from several threads (the engine's build workers) run at once; one thread's requests still run one
after the other, as it waits for each.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness.errors import HarnessError
from harness.nodes.build import DEFAULT_DIR

READY, DONE = "__REALNODE_READY__", "__REALNODE_DONE__"
# Everything a scenario may leave behind; the data disk itself is kept (booting costs ~5 s, resetting ~0.5 s).
RESET = ("for m in $(awk '$3 == \"/tmp\" || $2 ~ /^\\/tmp\\/euca-mount-/ {print $2}' /proc/mounts); "
         "do umount $m; done; "
         "dmsetup remove_all --force >/dev/null 2>&1; losetup -D; udevadm settle; "
         # loop devices created on demand (losetup /dev/loop20 ...) outlive their detach: reloading the
         # module brings the node back to loop0-7, so a trace sees the same /dev on every run
         "modprobe -r loop 2>/dev/null && modprobe loop; udevadm settle; "
         "umount /var/lib/eucalyptus /var/lib/nc-harness 2>/dev/null; rm -rf /disk1/eucalyptus /disk1/nc-harness "
         "/var/lib/eucalyptus /var/lib/nc-harness /tmp/euca-*; "
         "mkdir -p /disk1/eucalyptus /disk1/nc-harness /var/lib/eucalyptus /var/lib/nc-harness && "
         "mount --bind /disk1/eucalyptus /var/lib/eucalyptus && mount --bind /disk1/nc-harness /var/lib/nc-harness")


class NodeError(HarnessError):
    pass


class UmlNode:
    def __init__(self, directory: str = DEFAULT_DIR, mem: str = "768M", boot_timeout: float = 90.0,
                 command_timeout: float = 600.0, ssh: bool = False, tap: str = "rntap0",
                 host_ip: str = "10.0.3.1", node_ip: str = "10.0.3.2"):
        self.directory, self.mem = directory, mem
        self.ssh, self.tap, self.host_ip, self.node_ip = ssh, tap, host_ip, node_ip
        self.key = ""
        self.boot_timeout, self.command_timeout = boot_timeout, command_timeout
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None
        self._console_in = None
        self._log_offset = 0
        self.run_dir = ""
        self.counter = 0
        self.console: list[str] = []
        self.lock = threading.Lock()          # request numbers and the console's input
        self._reading = threading.Lock()      # one thread at a time reads the console's output ...
        self._done: set[int] = set()          # ... and notes every request it sees finished
        self._running = 0                     # requests sent and not yet answered

    # -- life cycle -------------------------------------------------------------------------------
    REQUIRED = ("linux.uml", "rootfs.img", ".done-image")
    BOOT_ATTEMPTS = 2

    def check_built(self) -> None:
        for name in self.REQUIRED:
            if not os.path.exists(os.path.join(self.directory, name)):
                raise NodeError(f"no node image in {self.directory} (missing {name}): "
                                f"run `nc-harness node build --dir {self.directory}`")

    def start(self) -> UmlNode:
        self.check_built()
        for attempt in range(1, self.BOOT_ATTEMPTS + 1):   # a boot that hangs is retried
            try:
                self._boot()
                return self
            except NodeError:
                self.stop()
                if attempt == self.BOOT_ATTEMPTS:
                    raise
        return self

    def _boot(self) -> None:
        self.run_dir = tempfile.mkdtemp(prefix="nc-harness-uml-")
        xchg = os.path.join(self.run_dir, "xchg")
        os.makedirs(xchg)
        disk = os.path.join(self.run_dir, "disk1.img")
        with open(disk, "wb") as fh:
            fh.truncate(8 * 1024 ** 3)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "disk1", disk], check=True, capture_output=True)
        argv = self.launch_argv(xchg, disk)
        # The console reads a FIFO and writes a log file, so `nc-harness node up` can leave the node running
        # and later processes can drive it by its run directory.
        fifo, log = os.path.join(self.run_dir, "console.in"), os.path.join(self.run_dir, "console.log")
        os.mkfifo(fifo)
        self._console_in = open(fifo, "r+b", buffering=0)
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=self._console_in, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=self.run_dir)
        self.pid = self.proc.pid
        with open(os.path.join(self.run_dir, "pid"), "w") as fh:
            fh.write(f"{self.pid}\n")
        self._log_offset = 0
        self._wait_for(lambda line: line == READY, self.boot_timeout, "boot")
        rc, _, err = self.run(["bash", "-c", RESET])
        if rc != 0:
            raise NodeError(f"node set-up failed: {err.strip()}")

    def launch_argv(self, xchg: str, disk: str) -> list[str]:
        extra = self._ssh_setup(xchg) if self.ssh else []
        return [os.path.join(self.directory, "linux.uml"), f"mem={self.mem}", *extra,
                f"ubd0={self.run_dir}/root.cow,{self.directory}/rootfs.img", f"ubd1={disk}", "root=/dev/ubda", "rw",
                "quiet", "init=/usr/local/sbin/realnode-run", f"realnode.share={xchg}", "con0=fd:0,fd:1", "con=null"]

    def _ssh_setup(self, xchg: str) -> list[str]:
        """A host tap device and a key pair: the node configures its NIC and starts sshd (ssh mode)."""
        self.key = os.path.join(self.run_dir, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key], check=True)
        with open(self.key + ".pub") as src, open(os.path.join(xchg, "authorized_keys"), "w") as dst:
            dst.write(src.read())
        subprocess.run(["ip", "link", "del", self.tap], capture_output=True)
        for argv in (["ip", "tuntap", "add", "dev", self.tap, "mode", "tap"],
                     ["ip", "addr", "add", f"{self.host_ip}/24", "dev", self.tap],
                     ["ip", "link", "set", self.tap, "up"]):
            proc = subprocess.run(argv, capture_output=True, text=True)
            if proc.returncode != 0:
                raise NodeError(f"ssh mode needs a tap device: {' '.join(argv)}: {proc.stderr.strip()}")
        return [f"vec0:transport=tap,ifname={self.tap}", f"realnode.ip={self.node_ip}/24"]

    def _new_lines(self) -> list[str]:
        with open(os.path.join(self.run_dir, "console.log"), "rb") as fh:
            fh.seek(self._log_offset)
            data = fh.read()
        cut = data.rfind(b"\n") + 1
        self._log_offset += cut
        lines = [raw.decode("utf-8", "replace").strip("\r") for raw in data[:cut].split(b"\n")[:-1]]
        self.console.extend(lines)
        return lines

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and _exists(self.pid)

    def _wait_for(self, match, timeout: float, what: str) -> None:
        self._poll(lambda: any(match(line) for line in self._new_lines()), timeout, what)

    def _poll(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while not ready():
            if not self.alive():
                if any(FP_REGS_FAILED in line for line in self.console):
                    raise NodeError(f"node exited during {what}: {UNSUPPORTED_CPU}")
                raise NodeError(f"node exited during {what}; console: " + " | ".join(self.console[-5:]))
            if time.monotonic() > deadline:
                raise NodeError(f"node did not finish {what} within {timeout:.0f} s; console: "
                                + " | ".join(self.console[-5:]))
            time.sleep(delay)
            delay = min(delay * 1.5, 0.005)

    def stop(self) -> None:
        """By PID only: SIGTERM to UML's main process takes its helpers down; SIGKILL the group if it lingers."""
        pid, self.pid = self.pid, None
        if pid is not None and (self.proc is None or self.proc.poll() is None):
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(150):
                    if self.proc is not None and self.proc.poll() is not None:
                        break
                    if self.proc is None and not _exists(pid):
                        break
                    time.sleep(0.1)
                else:
                    os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        if self._console_in is not None:
            self._console_in.close()
            self._console_in = None
        if self.ssh:
            subprocess.run(["ip", "link", "del", self.tap], capture_output=True)
        if self.run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = ""

    @classmethod
    def attach(cls, run_dir: str, directory: str = DEFAULT_DIR):
        """A node another process started (`nc-harness node up`), found by its run directory and PID."""
        node = cls(directory)
        node.run_dir = run_dir
        try:
            node.pid = int(open(os.path.join(run_dir, "pid")).read())
        except (OSError, ValueError):
            raise NodeError(f"{run_dir}: not a running node (no pid file)") from None
        if not node.alive():
            raise NodeError(f"{run_dir}: node process {node.pid} is not running")
        node._console_in = open(os.path.join(run_dir, "console.in"), "r+b", buffering=0)
        node._log_offset = os.path.getsize(os.path.join(run_dir, "console.log"))
        node.counter = int(time.time() * 1000) % 1_000_000_000   # request numbers unique across attachments
        return node

    def detach(self) -> None:
        if self._console_in is not None:
            self._console_in.close()
            self._console_in = None

    def reset(self) -> None:
        rc, _, err = self.run(["bash", "-c", RESET])
        if rc != 0:
            raise NodeError(f"node reset failed: {err.strip()}")

    # -- commands ---------------------------------------------------------------------------------
    def run(self, argv: list[str], stdin: bytes | str | None = None) -> tuple[int, bytes, bytes]:
        if not self.alive():
            raise NodeError("the node is not running")
        with self.lock:
            self.counter += 1
            n = self.counter
            base = os.path.join(self.run_dir, "xchg", str(n))
            with open(base + ".argv", "wb") as fh:
                fh.write(b"".join(a.encode("utf-8", "surrogateescape") + b"\0" for a in argv))
            data = stdin.encode("utf-8", "surrogateescape") if isinstance(stdin, str) else (stdin or b"")
            with open(base + ".in", "wb") as fh:
                fh.write(data)
            # from the main thread and alone, a request runs in the guest's own shell (a background subshell
            # is one more fork, 30-45 ms on UML); beside another one, or from a worker thread, in the background
            background = self._running or threading.current_thread() is not threading.main_thread()
            self._console_in.write(f"{n}{'&' if background else ''}\n".encode())
            self._running += 1
        try:
            self._wait_done(n, f"command {argv[0]}")
        finally:
            with self.lock:
                self._running -= 1
        out = {}
        for suffix in ("out", "err", "rc"):
            with open(f"{base}.{suffix}", "rb") as fh:
                out[suffix] = fh.read()
        for suffix in ("argv", "in", "out", "err", "rc"):
            os.unlink(f"{base}.{suffix}")
        return int(out["rc"].strip() or b"255"), out["out"], out["err"]

    def _wait_done(self, n: int, what: str) -> None:
        """Until the guest says request `n` is done. Whichever waiting thread reads the console notes every
        `DONE` it finds, for all of them."""
        prefix = DONE + " "

        def done() -> bool:
            if self._reading.acquire(blocking=False):
                try:
                    for line in self._new_lines():
                        if line.startswith(prefix) and line[len(prefix):].isdigit():
                            self._done.add(int(line[len(prefix):]))
                finally:
                    self._reading.release()
            if n in self._done:
                self._done.discard(n)
                return True
            return False
        self._poll(done, self.command_timeout, what)

    def __enter__(self) -> UmlNode:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# UML 6.1 hands the host its FPU state in a fixed-size XSAVE buffer; a host whose CPU has a larger one (AMX
# tiles: seen on a Sapphire Rapids guest) refuses it with EFAULT, and the node's init dies at its first signal.
# Debian's UML 7.2 (sid) boots there, but against a newer glibc than Debian 12's: not adopted (see real-nodes.md)
FP_REGS_FAILED = "ptrace set fp regs failed"
UNSUPPORTED_CPU = (f"UML 6.1 cannot run on this host's CPU ('{FP_REGS_FAILED}': its XSAVE area, AMX tiles, "
                   "is larger than UML 6.1 hands the host); use the QEMU node (--kind qemu, --backend qemu)")


def _exists(pid: int) -> bool:
    try:   # reap it first if it is our own child (a node started by `node up` in this very process)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
