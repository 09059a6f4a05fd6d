"""`replay --complete`: the world before a trace's first command, inferred from the trace itself.

A log starts in the middle of a node's life: its first `losetup` attaches a file nothing in it created, a
`dmsetup remove` names a device made before it, a `tune2fs` expects a filesystem in a cache blob downloaded
days ago. Walking the commands in order with a small model of what exists (directories, files and their
sizes, loops, dm devices, mounts), every object a command needs and nothing earlier made is created by an
inferred command placed just before it (so loop and dm numbers come out as the node's did: NC makes
`euca-zero` when a disk first needs it). Sizes come from the records themselves: dd's block size, count,
seek and skip, dm tables' sector counts over a loop, the blobstore's artifact sizes, download byte counts.
What cannot be inferred is assumed, and the assumption said.
"""
from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from harness.replay.commandline import dd_operands, echoed_table, losetup_attach, pipelines, size_bytes, targets
from harness.replay.trace import TraceCommand

ZERO_SECTORS = 2199023255552     # NC's euca-zero: 1 PiB of zeros
DEFAULT_BYTES = 1 << 20          # a file whose size nothing tells
KEY_TEXT = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 nc-harness-inferred-key"
_BLOB_ID = re.compile(r"(?:emi|eki|eri|prt|dsk)-[0-9A-Za-z]+-[0-9a-f]{8}")
FS_TOOLS = {"tune2fs", "e2fsck", "fsck.ext3", "fsck.ext2", "resize2fs", "dumpe2fs"}


@dataclass
class Completion:
    commands: list[TraceCommand]                        # the trace with the inferred commands in place
    notes: list[str] = field(default_factory=list)      # what was assumed, each naming the line that needed it

    @property
    def inferred(self) -> list[TraceCommand]:
        return [c for c in self.commands if c.inferred]


class _World:
    def __init__(self, hints: dict[str, int]):
        self.hints = hints                     # blob id or path -> bytes (artifact records, partition maps)
        self.dirs: set[str] = {"/", "/tmp", "/dev", "/var", "/var/tmp", "/root"}
        self.files: dict[str, int] = {}        # path -> size known to be needed or made
        self.loops: dict[str, str] = {}        # /dev/loopN -> backing file
        self.dm: dict[str, str] = {}           # name -> table text
        self.sizes: dict[str, int] = {}        # file -> bytes its users need (first pass)
        self.fs_wanted: set[str] = set()       # files that must hold an ext filesystem


class Completer:
    def __init__(self, commands: list[TraceCommand], hints: dict[str, int] | None = None):
        self.commands = commands
        # each command's pipelines, parsed once for the three walks over the trace
        self.parsed = [(cmd, pipelines(cmd)) for cmd in commands]
        self.w = _World(hints or {})
        self.out: list[TraceCommand] = []
        self.notes: list[str] = []

    # ---- pass 1: what each file must hold, from every use of it in the whole trace --------------------------
    def _measure(self) -> None:
        loops: dict[str, str] = {}
        for _cmd, parsed in self.parsed:
            for pipeline in parsed:
                for argv in pipeline:
                    tool = posixpath.basename(argv[0]) if argv else ""
                    if tool == "dd":
                        o = dd_operands(argv)
                        bs, count = size_bytes(o.get("bs", "512")), int(o.get("count", "0") or 0)
                        if "if" in o and count:
                            self._need_size(o["if"], (int(o.get("skip", "0")) + count) * bs)
                        if "of" in o and count:
                            self._need_size(o["of"], (int(o.get("seek", "0")) + count) * bs)
                    elif tool == "losetup":
                        dev, path, offset = losetup_attach(argv)
                        if dev and path:
                            loops[dev] = path
                            self._need_size(path, offset)
                        elif "-d" in argv:
                            loops.pop(argv[-1], None)
                    elif tool == "truncate" and "-s" in argv:
                        path = argv[-1]
                        self._need_size(path, size_bytes(argv[argv.index("-s") + 1]))
                table = echoed_table(pipeline)
                if table:
                    for _start, length, target, args in targets(table):
                        for dev in args:
                            if dev in loops:
                                offset = int(args[-1]) if target == "linear" and args[-1].isdigit() else 0
                                self._need_size(loops[dev], (offset + length) * 512)

    def _need_size(self, path: str, size: int) -> None:
        self.w.sizes[path] = max(self.w.sizes.get(path, 0), size)

    def _size_for(self, path: str, line: TraceCommand) -> int:
        size = max(self.w.sizes.get(path, 0), self.w.hints.get(path, 0))
        blob = _BLOB_ID.search(path)
        if blob and self.w.hints.get(blob.group(0), 0) > size:
            size = self.w.hints[blob.group(0)]
        if size <= 0:
            self._note(line, f"{path}: size not in the log; assumed {DEFAULT_BYTES} bytes")
            size = DEFAULT_BYTES
        return size

    # ---- pass 2: walk in order, creating what is missing just before it is needed -----------------------------
    def run(self) -> Completion:
        self._measure()
        self._plan_filesystems()
        for cmd, parsed in self.parsed:
            for pipeline in parsed:
                table = echoed_table(pipeline)
                for argv in pipeline:
                    if argv:
                        self._needs(cmd, argv, table)
                for argv in pipeline:
                    if argv:
                        self._makes(argv, table)
            self.out.append(cmd)
        return Completion(self.out, self.notes)

    def _infer(self, line: TraceCommand, text: str) -> None:
        self.out.append(TraceCommand(0, text, inferred=True, origin=line.origin))

    def _note(self, line: TraceCommand, text: str) -> None:
        where = line.origin or f"line {line.lineno}"
        self.notes.append(f"{where}: {text}")

    def _dir(self, line: TraceCommand, path: str) -> None:
        if path and path not in self.w.dirs:
            self._infer(line, f"mkdir -p {shlex.quote(path)}")
            while path and path not in self.w.dirs:
                self.w.dirs.add(path)
                path = posixpath.dirname(path)

    def _file(self, line: TraceCommand, path: str, content: str = "") -> None:
        if not path.startswith("/") or path.startswith(("/dev/", "/proc/", "/sys/")) or path in self.w.files:
            return
        self._dir(line, posixpath.dirname(path))
        if content:
            self._infer(line, f"echo {shlex.quote(content)} > {shlex.quote(path)}")
            self._note(line, f"{path}: its content is not in the log; assumed a placeholder SSH key")
            self.w.files[path] = len(content) + 1
            return
        size = self._size_for(path, line)
        self._infer(line, f"truncate -s {size} {shlex.quote(path)}")
        if path in self.w.fs_wanted:
            self._infer(line, f"mkfs.ext3 -q -F {shlex.quote(path)}")
            self._note(line, f"{path}: a later command reads a filesystem from it: made an empty ext3 one")
        self.w.files[path] = size

    def _loop(self, line: TraceCommand, dev: str) -> None:
        if dev in self.w.loops:
            return
        backing = f"/var/tmp/nc-harness-inferred/{posixpath.basename(dev)}.img"
        self._file(line, backing)
        self._infer(line, f"losetup {dev} {backing}")
        self._note(line, f"{dev}: attached before the log starts, to a file it does not name: used {backing}")
        self.w.loops[dev] = backing

    def _mapper(self, line: TraceCommand, name: str, length: int = 0) -> None:
        if name in self.w.dm:
            return
        sectors = ZERO_SECTORS if name == "euca-zero" else max(length, 8)
        table = f"0 {sectors} zero"
        # before the clone's first device: the blobstore has the devices a clone uses before it makes the
        # clone's `-pN-back`, so their dm minors come first
        at = len(self.out)
        base = _clone_base(line.text)
        while base and at > 0 and _clone_base(self.out[at - 1].text) == base:
            at -= 1
        self.out.insert(at, TraceCommand(0, f"echo {shlex.quote(table)} | dmsetup create {name}", inferred=True,
                                         origin=line.origin))
        if name != "euca-zero":
            self._note(line, f"{name}: used, but its table is not in the log: assumed '{table}'")
        self.w.dm[name] = table

    def _needs(self, line: TraceCommand, argv: list[str], table: str) -> None:
        tool = posixpath.basename(argv[0])
        args = argv[1:]
        if tool == "losetup":
            dev, path, _ = losetup_attach(argv)
            if path:
                self._file(line, path)
            elif "-d" in args and args[-1].startswith("/dev/loop"):
                self._loop(line, args[-1])
        elif tool == "dd":
            o = dd_operands(argv)
            if "if" in o:
                self._device_or_file(line, o["if"])
            if "of" in o:
                self._dir(line, posixpath.dirname(o["of"])) if not o["of"].startswith("/dev/") else None
        elif tool == "dmsetup" and args[:1] == ["create"]:
            for start, length, _kind, targs in targets(table):
                for dev in targs:
                    self._device_or_file(line, dev, start + length)
        elif tool == "dmsetup" and args[:1] == ["remove"] and len(args) > 1:
            self._mapper(line, args[-1])
        elif tool in ("chown", "chmod", "chgrp"):
            path = args[-1] if args else ""
            if path.startswith("/") and path not in self.w.files and path not in self.w.dirs:
                if re.search(r"(blocks|\.img|\.blocks)$", path):
                    self._file(line, path)
                else:
                    self._dir(line, path)
        elif tool == "cp":
            paths = [a for a in args if not a.startswith("-")]
            if len(paths) >= 2:
                src = paths[0]
                key = "key" in src or "euca-temp" in src or "sckey" in src
                if src not in self.w.files and src.startswith("/"):
                    self._file(line, src, KEY_TEXT if key else "")
                self._dir(line, posixpath.dirname(paths[-1]))
        elif tool == "mount":
            paths = [a for a in args if a.startswith("/")]
            if len(paths) >= 2:
                self._device_or_file(line, paths[0])
                self._dir(line, paths[-1])
        elif tool in FS_TOOLS or tool.startswith(("mkfs", "mkswap")) or tool in ("parted", "kpartx"):
            for a in args:
                if a.startswith("/"):
                    self._device_or_file(line, a)
        elif tool == "truncate":
            self._dir(line, posixpath.dirname(args[-1])) if args else None

    def _device_or_file(self, line: TraceCommand, path: str, length: int = 0) -> None:
        if path.startswith("/dev/loop"):
            self._loop(line, path)
        elif path.startswith("/dev/mapper/"):
            self._mapper(line, path[len("/dev/mapper/"):], length)
        elif path.startswith("/") and not path.startswith(("/dev/", "/proc/")):
            self._file(line, path)

    def _makes(self, argv: list[str], table: str) -> None:
        tool = posixpath.basename(argv[0])
        args = argv[1:]
        if tool == "mkdir":
            for a in args:
                if a.startswith("/"):
                    self.w.dirs.add(a)
                    self.w.dirs.update(_parents(a))
        elif tool == "losetup":
            dev, path, _ = losetup_attach(argv)
            if dev and path:
                self.w.loops[dev] = path
            elif "-d" in args:
                self.w.loops.pop(args[-1], None)
        elif tool == "dmsetup" and args[:1] == ["create"] and len(args) > 1:
            self.w.dm[args[1]] = table
        elif tool == "dmsetup" and args[:1] == ["remove"]:
            self.w.dm.pop(args[-1], None)
        elif tool in ("truncate", "touch") and args:
            self.w.files[args[-1]] = self.w.sizes.get(args[-1], 0)
        elif tool == "dd":
            o = dd_operands(argv)
            if "of" in o and not o["of"].startswith("/dev/"):
                self.w.files.setdefault(o["of"], 0)
        elif tool == "cp":
            paths = [a for a in args if not a.startswith("-")]
            if len(paths) >= 2:
                self.w.files.setdefault(paths[-1], 0)

    def _plan_filesystems(self) -> None:
        """Files a later `tune2fs`/`mount`/`e2fsck` reads a filesystem from: the device's data traced back
        through dm tables and loops to the file that holds it, then through copies to the first one."""
        loops: dict[str, str] = {}
        dm: dict[str, str] = {}
        copies: dict[str, str] = {}
        for _cmd, parsed in self.parsed:
            for pipeline in parsed:
                table = echoed_table(pipeline)
                for argv in pipeline:
                    tool = posixpath.basename(argv[0]) if argv else ""
                    args = argv[1:]
                    if tool == "losetup":
                        dev, path, _ = losetup_attach(argv)
                        if dev and path:
                            loops[dev] = path
                    elif tool == "dmsetup" and args[:1] == ["create"] and len(args) > 1:
                        dm[args[1]] = table
                    elif tool == "dd":
                        o = dd_operands(argv)
                        if "if" in o and "of" in o:
                            copies[o["of"]] = o["if"]
                    elif tool in FS_TOOLS or (tool == "mount" and len([a for a in args if a.startswith("/")]) >= 2):
                        dev = next((a for a in args if a.startswith("/")), "")
                        path = _data_file(dev, loops, dm)
                        while path in copies:
                            path = copies[path]
                        if path:
                            self.w.fs_wanted.add(path)


def _data_file(dev: str, loops: dict[str, str], dm: dict[str, str], depth: int = 0) -> str:
    """The file whose bytes a device shows at its start: a loop's backing file, or through a dm table's first
    target (a snapshot's origin, a linear map's device) down to one."""
    if depth > 16:
        return ""
    if dev in loops:
        return loops[dev]
    if dev.startswith("/dev/mapper/"):
        found = list(targets(dm.get(dev[len("/dev/mapper/"):], "")))
        if found:
            _, _, _kind, args = found[0]
            if args:
                return _data_file(args[0], loops, dm, depth + 1)
    return dev if dev.startswith("/") and not dev.startswith("/dev/") else ""


_CLONE_DEVICE = re.compile(r"dmsetup create (\S+?)-p\d+-(?:back|snap|real)\s*$")


def _clone_base(text: str) -> str:
    """The blob whose clone devices (`NAME-pN-back`, `-pN-snap`) a `dmsetup create` makes, or ''."""
    m = _CLONE_DEVICE.search(text)
    return m.group(1) if m else ""


def _parents(path: str) -> set[str]:
    out = set()
    while path not in ("/", ""):
        path = posixpath.dirname(path)
        out.add(path)
    return out


def complete(commands: list[TraceCommand], hints: dict[str, int] | None = None) -> Completion:
    return Completer(commands, hints).run()
