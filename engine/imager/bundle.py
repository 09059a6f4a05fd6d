"""The imager's `bundle` command (4.x `cmd_bundle.c` ran euca-bundle-upload, and euca-delete-bundle for
`clean=yes`): a disk on the node read through the host interface, bundled as euca-bundle-image does (tar, gzip,
AES-128-CBC, parts, a signed manifest) and uploaded to an S3 bucket with the images code; objects already stored
are deleted again when the upload fails, and with `clean=yes` the whole bundle is deleted in the imager's
cleanup, after every command has run."""
from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile

from engine.diskutil import dm_table_bytes
from engine.errors import EngineError
from engine.images.bundle import BundleError, BundleSpec, bundle_stream
from engine.images.store import BundleStore, StoreError
from engine.nodeio import NodeIO
from engine.sources import read_chunks

BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{2,62}$")
PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BundleCommandError(EngineError):
    pass


def disk_size(io: NodeIO, path: str) -> int:
    """Bytes of a device-mapper device (its table's length) or a regular file on the node."""
    if path.startswith("/dev/mapper/"):
        table = io.quiet(["/sbin/dmsetup", "table", path[len("/dev/mapper/"):]], check=False)
        if table.rc != 0:
            raise BundleCommandError(f"bundle: in: {path}: {table.stderr.strip() or 'no such device'}")
        return dm_table_bytes(table.stdout)
    if io.quiet(["test", "-f", path], check=False).rc != 0:
        raise BundleCommandError(f"bundle: in: {path}: not a regular file or a /dev/mapper device on the node")
    return io.stat([path])[path][0]


def bundle_and_upload(io: NodeIO, store: BundleStore, spec: BundleSpec, disk: str, bucket: str,
                      prefix: str) -> str:
    """Returns the manifest's location (`bucket/prefix.manifest.xml`)."""
    size = disk_size(io, disk)
    scratch = tempfile.mkdtemp(prefix="nc-harness-imager-bundle-")
    stored: list[str] = []
    try:
        manifest, _ = bundle_stream(read_chunks(io.quiet, disk, size), size, scratch,
                                    dataclasses.replace(spec, prefix=prefix), prefix, disk)
        return store.upload_bundle(manifest, bucket, on_put=stored.append).location
    except (BundleError, StoreError) as exc:
        for key in stored:
            try:
                store.s3.delete_object(Bucket=bucket, Key=key)
            except Exception:  # noqa: BLE001 - best effort; the upload's own error is the one reported
                pass
        raise BundleCommandError(f"bundle: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def delete_bundle(store: BundleStore, location: str) -> None:
    try:
        store.delete_bundle(location)
    except StoreError as exc:
        raise BundleCommandError(f"bundle: clean: {exc}") from None
