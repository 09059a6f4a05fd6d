"""blockblob_clone and blockblob_copy: the exact dm tables and dd commands NC builds a disk with."""
from __future__ import annotations

from dataclasses import dataclass

from engine import diskutil

from .blob import Blockblob
from .locks import patiently
from .store import BlobCode, BlobError, LockContention

MIN_BLOCKS_SNAPSHOT = 32
ZERO_NAME = "euca-zero"
ZERO_TABLE = "0 2199023255552 zero"


@dataclass
class MapEntry:
    relation: str                 # "copy", "map" or "snapshot"
    source: Blockblob | str       # an open blob, a device path, or "zero"
    first_block_src: int
    first_block_dst: int
    len_blocks: int


def ensure_zero(io) -> None:
    """`euca-zero` (2^41 sectors of zeros) is created on first need and never removed by the NC."""
    if not io.exists(f"/dev/mapper/{ZERO_NAME}"):
        diskutil.dm_create(io, ZERO_NAME, ZERO_TABLE)


def snapshot_chunk(len_blocks: int) -> int:
    chunk = 16
    while chunk > 1 and len_blocks % chunk:
        chunk //= 2
    return chunk


def clone(dest: Blockblob, entries: list[MapEntry]) -> None:
    """Build dest's device stack from map entries; on failure remove whatever devices were created."""
    store, io = dest.store, dest.store.io
    for e in entries:
        if e.relation != "copy" and store.snapshot != "dm":
            raise BlobError(BlobCode.INVAL, "map and snapshot need a blobstore with device-mapper snapshots")
        if isinstance(e.source, Blockblob):
            if e.source.size_bytes // 512 < e.first_block_src + e.len_blocks:
                raise BlobError(BlobCode.INVAL, "one of the source blockblobs is too small for the map")
            if e.relation == "snapshot" and e.len_blocks < MIN_BLOCKS_SNAPSHOT:
                raise BlobError(BlobCode.INVAL, f"snapshot of a blob needs at least {MIN_BLOCKS_SNAPSHOT} blocks")
        if dest.size_bytes // 512 < e.first_block_dst + e.len_blocks:
            raise BlobError(BlobCode.INVAL, "the destination blockblob is too small for the map")
    base = dest.dm_base
    devices: list[tuple[str, str]] = []
    main: list[tuple[int, str]] = []
    for i, e in enumerate(entries):
        if e.source == "zero":
            ensure_zero(io)
            source_dev = f"/dev/mapper/{ZERO_NAME}"
        elif isinstance(e.source, Blockblob):
            source_dev = e.source.device
        else:
            source_dev = e.source
        if e.relation == "copy":
            diskutil.dd_copy(io, source_dev, dest.loop, e.len_blocks * 512, e.first_block_src * 512,
                             e.first_block_dst * 512)
            main.append((e.first_block_dst,
                         f"{e.first_block_dst} {e.len_blocks} linear {dest.loop} {e.first_block_dst}"))
            continue
        src_offset = e.first_block_src
        if e.relation == "snapshot":
            back = f"{base}-p{i}-back"
            devices.append((back, f"0 {e.len_blocks} linear {dest.loop} {e.first_block_dst}"))
            origin = source_dev
            if e.first_block_src > 0 and e.source != "zero":
                real = f"{base}-p{i}-real"
                devices.append((real, f"0 {e.len_blocks} linear {source_dev} {e.first_block_src}"))
                origin = f"/dev/mapper/{real}"
            snap = f"{base}-p{i}-snap"
            devices.append((snap, f"0 {e.len_blocks} snapshot {origin} /dev/mapper/{back} n "
                                  f"{snapshot_chunk(e.len_blocks)}"))
            source_dev, src_offset = f"/dev/mapper/{snap}", 0
        if source_dev.startswith("e"):
            source_dev = f"/dev/mapper/{source_dev}"
        main.append((e.first_block_dst, f"{e.first_block_dst} {e.len_blocks} linear {source_dev} {src_offset}"))
    if not devices and all(e.relation == "copy" for e in entries):
        return
    main.sort(key=lambda item: item[0])
    devices.append((base, "\n".join(line for _, line in main)))
    created: list[str] = []
    names = [name for name, _ in devices]
    try:
        diskutil.dm_create_all(io, devices, created)
        # the record names the devices for every later teardown: without it they would outlive the blob
        store.write_lines(dest.id, "dm", names)
    except Exception:
        _remove_devices(io, created)
        raise
    dest.dm = names
    referenced: list[Blockblob] = []
    try:
        for e in entries:
            if isinstance(e.source, Blockblob) and e.relation != "copy":
                src = e.source
                referenced.append(src)   # before the write: one that failed half-way may have landed
                # the devices over src exist already: the reference must be written, however long another
                # operation holds src's store (without it, src looks unused and a purge deletes it under us)
                patiently(io.clock, lambda src=src, e=e: _reference(
                    store, dest, src, f"{src.store.path} {src.id} {e.relation} {e.first_block_dst} {e.len_blocks}"),
                    LockContention)
    except Exception:
        # a reference whose `deps` line was not written is one the dest's teardown cannot find: taken back here
        for src in referenced:
            try:
                src.store.remove_entry(src.id, "refs", f"{store.path} {dest.id}")
            except Exception:  # noqa: BLE001 - best effort; fsck drops references to missing blobs
                pass
        raise


def _reference(store, dest: Blockblob, src: Blockblob, dep: str) -> None:
    """The source's `refs` gets us under its store's lock, then our `deps` gets the source. On the fast path
    both files are read as the lock is taken and both written with its release: two programs, not five."""
    ref = f"{store.path} {dest.id}"
    if not store.io.fast:
        with src.store.locked() as script:
            src.store.add_entry(src.id, "refs", ref, script)
        store.add_entry(dest.id, "deps", dep)
        return
    wanted = [src.store.path_of(src.id, "refs"), store.path_of(dest.id, "deps")]
    with src.store.locked(read=wanted) as (script, files):
        src.store.add_entry(src.id, "refs", ref, script, files)
        store.add_entry(dest.id, "deps", dep, script, files)


def _remove_devices(io, created: list[str]) -> None:
    for name in reversed(created):
        try:
            diskutil.dm_remove(io, name)
        except Exception:  # noqa: BLE001 - best effort; fsck finds the rest by name
            pass


def clone_whole(dest: Blockblob, source: Blockblob) -> None:
    """dest becomes a snapshot of all of source (a copy where the store has no dm snapshots)."""
    relation = "snapshot" if dest.store.snapshot == "dm" else "copy"
    clone(dest, [MapEntry(relation, source, 0, 0, (source.size_bytes + 511) // 512)])


def copy(src: Blockblob, dst: Blockblob, must_be_file: bool) -> None:
    """blockblob_copy of the whole source: devices for dm clones, `blocks` files otherwise."""
    src_path = src.device if src.dm and not must_be_file else src.blocks_path
    dst_path = dst.device if dst.dm and not must_be_file else dst.blocks_path
    diskutil.dd_copy(io_of(src), src_path, dst_path, src.size_bytes)


def io_of(bb: Blockblob):
    return bb.store.io
