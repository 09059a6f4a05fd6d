"""An nc.log (INFO is enough) as a scenario that makes the engine do what the log shows: each instance's
launch (its VBRs from `VBR[n] ...` records, or its partitions from `creating partition of size N bytes and
type T in prt-...`, its images from the blobs it copies), its terminate, and what the scenario format cannot
say (reboots, bundling, hypervisor events, errors the NC logged) listed in the file's header."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.nclog.records import Record

_USER_PATH = re.compile(r"/work/(?P<user>[A-Za-z0-9_.-]+)/(?P<inst>i-[0-9A-Za-z]+)")
_USER_BLOB = re.compile(r"to blob (?P<user>[A-Za-z0-9_.-]+)/(?P<inst>i-[0-9A-Za-z]+)/")
_PARTITION = re.compile(r"creating partition of size (?P<size>\d+) bytes and type (?P<fmt>\w+) in (?P<id>prt-\S+)")
_IMAGE_ID = re.compile(r"\b(?P<kind>e[kmr]i)-(?P<hex>[0-9A-Fa-f]{8})\b")
_VBR = re.compile(r"VBR\[\d+\] type=(?P<type>\S+) id=(?P<id>\S+) dev=(?P<dev>\S+) size=(?P<size>-?\d+) "
                  r"format=(?P<format>\S+)")
_LAUNCH = re.compile(r"(running instance|doRunInstance\(\) invoked|creating partition of size|copying/cloning blob|"
                     r"VBR\[\d+\]|retrieving images for instance)")
_TERMINATE = re.compile(r"(termination requested|cleaning up state for instance|instance terminated|"
                        r"forgetting about instance|doTerminateInstance)")
_INSTANCE_IN_TEXT = re.compile(r"\b(i-[0-9A-Fa-f]{8})\b")
_DOMAIN_GONE = re.compile(r"hypervisor reported previously running domain as (Shutdown|Crashed|Shutoff)|"
                          r"hypervisor failed to find domain, assuming it was shut off|"
                          r"domain (?:has )?(?:shut ?down|crashed)", re.I)
# a partition artifact (DEBUG): its id says the size in MB and the format, its record the exact bytes
_PRT_ARTIFACT = re.compile(r"allocated artifact \d+\|prt-\d+(?P<fmt>[a-z0-9]+)-[0-9a-f]{8} size=(?P<size>\d+)")
_ARTIFACT = re.compile(r"allocated artifact \d+\|(?P<kind>e[kmr]i)-(?P<hex>[0-9A-Fa-f]{8})\S* size=(?P<size>\d+)")
UNSAID = ("rebooting", "bundling", "bundled domain", "prodigal domain", "hypervisor reported", "migration",
          "failed to remove", "libvirt", "cancelled instance startup", "timed out")
ROOT_BYTES = 64 << 20            # a machine image whose size the log does not give: a small ext3 root


@dataclass
class Instance:
    id: str
    user: str = ""
    launched: str = ""                               # origin of the first launch record
    terminated: str = ""
    order: tuple[int, int] = (0, 0)                  # record indexes of its launch and terminate records
    vbrs: list[dict] = field(default_factory=list)   # from VBR[n] records (DEBUG)
    partitions: list[tuple[int, str]] = field(default_factory=list)   # (bytes, format) from INFO records
    images: dict[str, str] = field(default_factory=dict)              # eki/eri/emi -> id
    unsaid: list[str] = field(default_factory=list)
    domain_gone: int = -1                            # record index of a hypervisor event: its domain is gone
    sizes: dict[str, int] = field(default_factory=dict)   # image id -> bytes (art_alloc records, DEBUG)


def instances_of(records: list[Record], only: str = "") -> list[Instance]:
    found: dict[str, Instance] = {}
    for index, rec in enumerate(records):
        ids = [rec.instance] if rec.instance else _INSTANCE_IN_TEXT.findall(rec.text)[:1]
        if not ids or (only and ids[0] != only):
            continue
        inst = found.setdefault(ids[0], Instance(ids[0]))
        text = rec.text
        for pattern in (_USER_PATH, _USER_BLOB):
            m = pattern.search(text)
            if m and m.group("inst") == inst.id and not inst.user:
                inst.user = m.group("user")
        if _LAUNCH.search(text) and not inst.launched:
            inst.launched, inst.order = rec.origin, (index, inst.order[1])
        m = _PARTITION.search(text)
        if m and (int(m.group("size")), m.group("fmt")) not in inst.partitions:
            inst.partitions.append((int(m.group("size")), m.group("fmt")))
        m = _VBR.search(text)
        if m:
            inst.vbrs.append(m.groupdict())
        for m in _IMAGE_ID.finditer(text):
            inst.images.setdefault(m.group("kind"), f"{m.group('kind')}-{m.group('hex').upper()}")
        if _TERMINATE.search(text) and not inst.terminated:
            inst.terminated, inst.order = rec.origin, (inst.order[0], index)
        m = _PRT_ARTIFACT.search(text)
        if m and (int(m.group("size")), m.group("fmt")) not in inst.partitions:
            inst.partitions.append((int(m.group("size")), m.group("fmt")))
        m = _ARTIFACT.search(text)
        if m and int(m.group("size")) > 0:
            inst.sizes[f"{m.group('kind')}-{m.group('hex').upper()}"] = int(m.group("size"))
        if _DOMAIN_GONE.search(text) and inst.domain_gone < 0:
            inst.domain_gone = index
            continue
        if any(word in text for word in UNSAID) or rec.level in ("ERROR", "FATAL"):
            inst.unsaid.append(f"{rec.origin}: {text[:140]}")
    return list(found.values())


def _vbrs(inst: Instance) -> list[str]:
    """ASCII VBRs (type:id:size:format:device:location), staged images for what the node must download."""
    if inst.vbrs:
        out = []
        for v in inst.vbrs:
            location = "staged" if v["type"] in ("kernel", "ramdisk", "machine") else "none"
            ident = v["id"] if location == "staged" else "none"
            size = v["size"] if location == "none" else "-1"
            dev = v["dev"] if v["dev"] not in ("", "(null)") else "none"
            out.append(f"{v['type']}:{ident}:{size}:{v['format'] if location == 'none' else 'none'}:{dev}:{location}")
        return out
    eki = inst.images.get("eki", "eki-00000001")
    eri = inst.images.get("eri", "eri-00000002")
    emi = inst.images.get("emi", "emi-00000003")
    out = [f"kernel:{eki}:-1:none:none:staged", f"ramdisk:{eri}:-1:none:none:staged",
           f"machine:{emi}:-1:none:sda1:staged"]
    devices = iter(["sda2", "sda3", "sdb", "sdc"])
    for size, fmt in inst.partitions:
        kind = "swap" if fmt == "swap" else "ephemeral0"
        out.append(f"{kind}:none:{size}:{fmt}:{next(devices, 'sdd')}:none")
    return out


def build(records: list[Record], name: str, source: str, only: str = "") -> tuple[dict, list[str]]:
    """(scenario document, header lines): a run_instance for each instance the excerpt launches (or that it
    terminates without showing the launch), its terminate, then the node's invariants."""
    header = [f"Made by `nc-harness log scenario` from {source}."]
    images: dict[str, dict] = {}
    found = [i for i in instances_of(records, only) if i.launched or i.terminated]
    events: list[tuple[int, int, dict]] = []     # (record index, order within it, step), in the log's order
    for inst in found:
        user = inst.user or "UNKNOWNUSER"
        if not inst.user:
            header.append(f"{inst.id}: the log names no user for it: used {user}")
        vbrs = _vbrs(inst)
        for vbr in vbrs:
            kind, ident, *_ = vbr.split(":")
            if vbr.endswith(":staged") and ident not in images:
                root = kind == "machine"
                size = inst.sizes.get(ident) or (ROOT_BYTES if root else 4 << 20)
                images[ident] = {"id": ident, "size": size, "content": "ext3" if root else "pattern"}
                said = "its size as logged" if ident in inst.sizes else "its size is not in the log either"
                header.append(f"{ident}: its bytes are not in the log: staged {size} bytes of "
                              f"{images[ident]['content']} ({said})")
        launch = {"run_instance": {"id": inst.id, "user": user, "vbrs": vbrs}}
        if inst.launched:
            events.append((inst.order[0], 0, launch))
        else:   # it was running when the excerpt starts
            header.append(f"{inst.id}: terminated in the log, launched before it starts: launched here first")
            events.append((-1, len(events), launch))
        if inst.domain_gone >= 0:     # the hypervisor ran its domain, then lost it
            events.append((events[-1][0], events[-1][1] + 0.5, {"start_domain": {"id": inst.id}}))
            events.append((inst.domain_gone, 0, {"kill_domain": {"id": inst.id}}))
        if inst.terminated:
            events.append((inst.order[1], 1, {"terminate_instance": {"id": inst.id}}))
        header += [f"not expressed: {line}" for line in inst.unsaid]
    steps = [step for _, _, step in sorted(events, key=lambda e: (e[0], e[1]))]
    if not steps:
        raise ValueError(f"{source}: no instance launch or terminate in the selected records")
    steps.append({"check_invariants": {"terminated": [s["terminate_instance"]["id"] for s in steps
                                                      if "terminate_instance" in s]}})
    node = {"dialect": "el6", "seed": 0}
    if any("kill_domain" in step for step in steps):
        node["hypervisor"] = {}
    doc = {"name": name, "description": f"reproduction of {source}", "node": node,
           "images": list(images.values()), "steps": steps}
    return doc, header
