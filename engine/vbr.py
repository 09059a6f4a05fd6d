"""Virtual boot records: the ASCII form `type:id:size:format:guestdev:location` and the NC's validation rules.

Messages are the original's (`storage/vbr.c` parse_rec / vbr_parse); the 3.x partition rules apply.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.errors import EngineError

TYPES = ("machine", "kernel", "ramdisk", "ephemeral", "swap", "ebs", "boot")
FORMATS = ("none", "ext2", "ext3", "ntfs", "swap")
MAX_VBRS = 64
MAX_PARTITIONS = 32


class VbrError(EngineError, ValueError):
    pass


@dataclass
class Vbr:
    type_name: str
    id: str
    size: int
    format_name: str
    guest_device: str
    location: str
    # Filled in by validate(), as parse_rec fills the C struct.
    type: str = ""
    location_type: str = ""
    prepared_location: str = ""
    format: str = "none"
    bus: str = ""
    device_type: str = ""
    disk_number: int = 0
    partition_number: int = 0
    backing_path: str = field(default="", compare=False)

    @property
    def ascii(self) -> str:
        return f"{self.type_name}:{self.id}:{self.size}:{self.format_name}:{self.guest_device}:{self.location}"


def parse_ascii(spec: str) -> Vbr:
    """`vbr_add_ascii`; an empty field is rejected (the original's strtok would shift the others left)."""
    names = ("type", "id", "size", "format", "guestDeviceName", "resourceLocation")
    parts = spec.split(":", 5)
    for i, name in enumerate(names):
        if i >= len(parts) or parts[i] == "":
            raise VbrError(f"invalid '{name}' specification in VBR '{spec}'")
    if not _SIZE.fullmatch(parts[2]):
        raise VbrError(f"invalid 'size' specification in VBR '{spec}'")
    return Vbr(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5])


_SIZE = re.compile(r"-?[0-9]{1,19}")
# Ids become file and device names (`<store>/<id>-<hash>/blocks`, `euca-<user>-<instance>-<id>`): the original
# took any 4 characters; ours are letters, digits, '.', '_' and '-', and never '..'
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{3,63}")


def safe_resource_id(value: str) -> bool:
    return bool(_SAFE_ID.fullmatch(value)) and ".." not in value
MAX_SIZE = 1 << 40          # a TiB: larger is a typo or an attack, refused before anything is allocated


def validate(vbr: Vbr) -> Vbr:
    """`parse_rec`: type, location, guest device, id, format and size, in the original's order."""
    t = next((t for t in TYPES if vbr.type_name.startswith(t)), None)
    if t is None:
        raise VbrError(f"failed to parse resource type '{vbr.type_name}'")
    vbr.type = t
    loc = vbr.location
    low = loc.lower()
    if low.startswith(("http://", "https://")):
        vbr.location_type = "walrus" if "/services/walrus/" in low else "url"
        vbr.prepared_location = loc
    elif low.startswith("file:///"):
        vbr.location_type, vbr.prepared_location = "file", loc[7:]
    elif low.startswith(("walrus://", "cloud://", "sc://")):
        vbr.location_type, vbr.prepared_location = low.split(":", 1)[0], loc
    elif low.startswith("none"):
        if t not in ("ephemeral", "swap", "boot"):
            raise VbrError("resourceLocation not specified for non-ephemeral resource")
        vbr.location_type = "none"
    else:
        raise VbrError(f"failed to parse resource location '{loc}'")
    _parse_device(vbr)
    if len(vbr.id) < 4:
        raise VbrError(f"failed to parse VBR resource ID '{vbr.id}' (use 'none' when no ID)")
    if not safe_resource_id(vbr.id):
        raise VbrError(f"invalid VBR resource ID '{vbr.id}': 4 to 64 letters, digits, '.', '_' and '-'")
    if vbr.size > MAX_SIZE or vbr.size < -1:
        raise VbrError(f"invalid size '{vbr.size}' in VBR: -1 or 0 to {MAX_SIZE} bytes")
    fmt = next((f for f in FORMATS if vbr.format_name.startswith(f)), None)
    if fmt is None:
        raise VbrError(f"failed to parse resource format '{vbr.format_name}'")
    vbr.format = fmt
    if t in ("ephemeral", "swap", "boot"):
        if vbr.size < 1:
            raise VbrError(f"invalid size '{vbr.size}' for ephemeral resource '{vbr.location}'")
    elif fmt != "none":
        raise VbrError(f"invalid format '{vbr.format_name}' for non-ephemeral resource '{vbr.location}'")
    return vbr


def _parse_device(vbr: Vbr) -> None:
    name = vbr.guest_device
    if name == "none":
        if vbr.type not in ("kernel", "ramdisk"):
            raise VbrError(f"guestDeviceName not specified for resource '{vbr.location}'")
        return
    if name.startswith("/dev/"):
        name = name[5:][:9]
    if len(name) < 3 or (name[0] == "x" and len(name) < 4):
        raise VbrError(f"invalid guestDeviceName '{vbr.guest_device}'")
    kinds = {"h": ("disk", "ide"), "s": ("disk", "scsi"), "f": ("floppy", "ide"), "v": ("disk", "virtio"),
             "x": ("disk", "xen")}
    if name[0] not in kinds:
        raise VbrError(f"failed to parse disk type guestDeviceName '{vbr.guest_device}'")
    vbr.device_type, vbr.bus = kinds[name[0]]
    letters = 2 if name[0] == "f" else 4 if name[0] == "x" else 3
    digits = name[letters:]
    number = 0
    if digits:
        if not digits.isdigit() or not 0 <= int(digits) <= MAX_PARTITIONS:
            raise VbrError(f"unexpected partition or disk number '{digits}' in guestDeviceName '{vbr.guest_device}'")
        number = int(digits)
    if vbr.device_type == "floppy":
        vbr.disk_number = number
        return
    if digits and number < 1:
        raise VbrError(f"unexpected partition number '{digits}' in guestDeviceName '{vbr.guest_device}'")
    vbr.partition_number = number
    if name[letters - 2] != "d" or not "a" <= name[letters - 1] <= "z":
        raise VbrError(f"failed to parse disk type guestDeviceName '{vbr.guest_device}'")
    vbr.disk_number = ord(name[letters - 1]) - ord("a")


@dataclass
class VirtualMachine:
    vbrs: list[Vbr]
    root: Vbr
    kernel: Vbr | None = None
    ramdisk: Vbr | None = None


def parse_vbrs(vbrs: list[Vbr]) -> VirtualMachine:
    """`vbr_parse` with 3.x partition rules: one EMI, no disk+partition mix, partitions 1..n without holes."""
    if len(vbrs) > MAX_VBRS:
        raise VbrError("too many entries in VBR already")
    root = kernel = ramdisk = None
    disks: dict[tuple[str, int], set[int]] = {}
    for i, vbr in enumerate(vbrs):
        try:
            validate(vbr)
        except VbrError as exc:
            raise VbrError(f"VBR {i} ({vbr.ascii}): {exc}") from None
        if vbr.type == "machine":
            if root is not None:
                raise VbrError("more than one EMI specified in the boot record")
            root = vbr
        elif vbr.type == "kernel":
            kernel = vbr
        elif vbr.type == "ramdisk":
            ramdisk = vbr
        elif vbr.type == "ebs" and root is None and vbr.disk_number == 0 and vbr.partition_number == 0:
            root = vbr
        if vbr.device_type == "disk":
            parts = disks.setdefault((vbr.bus, vbr.disk_number), set())
            if vbr.partition_number in parts:
                raise VbrError(f"duplicate guestDeviceName '{vbr.guest_device}'")
            parts.add(vbr.partition_number)
    for parts in disks.values():
        if 0 in parts and len(parts) > 1:
            raise VbrError("specifying both disk and a partition on the disk is not allowed")
        numbered = sorted(p for p in parts if p)
        if numbered and numbered != list(range(1, len(numbered) + 1)):
            raise VbrError("gaps in partition table are not allowed")
    if root is None:
        raise VbrError("no root partition or disk have been found")
    return VirtualMachine(vbrs, root, kernel, ramdisk)
