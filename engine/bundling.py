"""BundleInstance for Linux instance-store instances, as NC 3.x does it (seed 004, `clone_bundling_backing`):
the root's keyed work copy (the DM snapshot whose blob id holds `emi-`) is dd-copied into
`<instance>/bundle/<prefix>` while the instance's own devices stay as they are; the copy is bundled (signed with
the node's key, wrapped for the cloud cert) and uploaded to BUCKET/PREFIX (ACL: see InstanceBundler); the
bundle directory is removed at the end whatever happened. On failure or cancel, what was uploaded is deleted.

Task states are the API's: pending → bundling → storing → complete, or failed, or cancelling → cancelled;
progress is the share of the root read so far. `describe()` lines are euca-describe-bundle-tasks'."""
from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field

from engine.errors import EngineError

from .diskutil import dd_copy, dm_table_bytes
from .images.bundle import BundleSpec, bundle_stream
from .images.store import BundleStore
from .nodeio import NodeIO
from .sources import read_chunks

S3_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,254}$", re.I)   # never a leading "-" (an option) or "."


class BundleTaskError(EngineError):
    pass


class Cancelled(EngineError):
    pass


@dataclass
class BundleTask:
    bundle_id: str
    instance_id: str
    bucket: str
    prefix: str
    start: float
    state: str = "pending"
    progress: int = 0
    update: float = 0.0
    error: str = ""
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    def line(self) -> str:
        stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))  # noqa: E731
        return "\t".join(["BUNDLE", self.bundle_id, self.instance_id, self.bucket, self.prefix, stamp(self.start),
                          stamp(self.update or self.start), self.state, f"{self.progress}%",
                          f"{self.bucket}/{self.prefix}.manifest.xml"])


class InstanceBundler:
    def __init__(self, nc, store: BundleStore, spec: BundleSpec, acl: str = "aws-exec-read"):
        """`spec`: arch, account, the cloud cert to wrap for, the node's cert and key to sign with. `acl`: the NC
        asks for `ec2-bundle-read`, a canned ACL only EC2's and Eucalyptus' stores know (moto, MinIO and S3
        itself refuse it), so the default is `aws-exec-read`, which grants the cloud the same read."""
        self.nc, self.store, self.spec, self.acl = nc, store, spec, acl
        self.tasks: dict[str, BundleTask] = {}
        self._lock = threading.Lock()

    @property
    def io(self) -> NodeIO:
        return self.nc.io

    def bundle_instance(self, instance_id: str, bucket: str, prefix: str, wait: bool = False) -> BundleTask:
        inst = self.nc.instances.get(instance_id)
        if inst is None or inst.state != "running":
            raise BundleTaskError(f"InvalidState: instance {instance_id} is not running")
        for name, value in (("bucket", bucket), ("prefix", prefix)):
            if not S3_NAME.match(value):
                raise BundleTaskError(f"InvalidParameterValue: {name} '{value}' is not 3-255 of a-z 0-9 . - _")
        with self._lock:
            for task in self.tasks.values():
                if task.instance_id == instance_id and task.state in ("pending", "bundling", "storing", "cancelling"):
                    raise BundleTaskError(f"BundlingInProgress: {task.bundle_id} is bundling {instance_id}")
            task = BundleTask("bun-" + instance_id[2:], instance_id, bucket, prefix, self.nc.io.clock.now())
            self.tasks[task.bundle_id] = task
        task.thread = threading.Thread(target=self._run_or_die, args=(task, inst), daemon=True)
        task.thread.start()
        if wait:
            task.thread.join()
        return task

    def cancel(self, bundle_id: str) -> BundleTask:
        task = self.tasks.get(bundle_id)
        if task is None:
            raise BundleTaskError(f"InvalidBundleID.NotFound: {bundle_id}")
        if task.state in ("pending", "bundling", "storing"):
            task.state = "cancelling"
            task.cancel.set()
        return task

    def describe(self, ids: list[str] | None = None) -> list[BundleTask]:
        return [t for i, t in sorted(self.tasks.items()) if not ids or i in ids]

    # -- the work ----------------------------------------------------------------------------------
    def _set(self, task: BundleTask, state: str | None = None, progress: int | None = None) -> None:
        if task.cancel.is_set() and state not in ("cancelled", "failed"):
            raise Cancelled()
        if state:
            task.state = state
        if progress is not None:
            task.progress = progress
        task.update = self.nc.io.clock.now()

    def _root_device(self, inst) -> tuple[str, int]:
        """clone_bundling_backing's source: the first work blob of the instance whose id holds `emi-` and that
        is a DM snapshot (the keyed work copy of the root), as its device."""
        directory = self.nc.instance_dir(inst.user, inst.id)
        for name in sorted(self.io.listdir(directory)):
            if "emi-" in name and name.endswith(".dm"):
                blob_id = f"{inst.user}/{inst.id}/{name[:-3]}"
                dm = self.nc.work.read_lines(blob_id, "dm")
                if dm:
                    table = self.io.quiet(["dmsetup", "table", dm[-1]]).stdout
                    return f"/dev/mapper/{dm[-1]}", dm_table_bytes(table)
        raise BundleTaskError(f"{inst.id}: no DM-snapshot work copy of an emi- root to bundle")

    def _run_or_die(self, task: BundleTask, inst) -> None:
        try:
            self._run(task, inst)
        except BaseException:
            if self.nc.io.killed is None:
                raise
            # the engine was killed (a crash point): its threads end with it, mid-task, and say nothing

    def _run(self, task: BundleTask, inst) -> None:
        bundle_dir = f"{self.nc.instance_dir(inst.user, inst.id)}/bundle"
        clone = f"{bundle_dir}/{task.prefix}"
        scratch = tempfile.mkdtemp(prefix="nc-harness-bundle-")
        uploaded: list[str] = []
        try:
            self._set(task, "bundling", 0)
            device, size = self._root_device(inst)
            self.nc.work.make_dirs(bundle_dir)
            self.io.make_sparse(clone, size)
            self.nc.work.restrict(clone)     # the guest's whole root filesystem
            dd_copy(self.io, device, clone, size)
            # the clone read back through the host interface; each chunk is a chance to cancel
            chunks = read_chunks(self.io.quiet, clone, size,
                                 lambda i, n: self._set(task, progress=i * 100 // n))
            manifest, _ = bundle_stream(chunks, size, scratch,
                                        BundleSpec(**{**self.spec.__dict__, "prefix": task.prefix}), task.prefix,
                                        clone)
            self._set(task, "storing")
            self.store.upload_bundle(manifest, task.bucket, acl=self.acl,
                                     on_put=lambda key: (uploaded.append(key), self._set(task)),
                                     on_progress=lambda part: self._set(task))
            self._set(task, "complete", 100)
        except Cancelled:
            self._discard(task, uploaded)
            task.state = "cancelled"
        except Exception as exc:  # noqa: BLE001 - any failure (node, bundling, store): the same cleanup
            self._discard(task, uploaded)
            task.state, task.error = "failed", str(exc)
        finally:
            self.io.quiet(["rm", "-rf", bundle_dir], check=False)
            shutil.rmtree(scratch, ignore_errors=True)
            task.update = self.nc.io.clock.now()

    def _discard(self, task: BundleTask, uploaded: list[str]) -> None:
        for key in uploaded:
            try:
                self.store.s3.delete_object(Bucket=task.bucket, Key=key)
            except Exception:  # noqa: BLE001 - best effort: the task's own error is what gets reported
                pass


def create_image(bundler: InstanceBundler, registry, instance_id: str, name: str, description: str = "",
                 block_device_mapping: dict[str, str] | None = None, no_reboot: bool = True,
                 bucket: str = "nc-harness-images"):
    """CreateImage for an instance-store instance (seed 004's optional path): bundle the root, then register it
    with the name, description and block-device mappings given, the kernel and ramdisk taken from the instance.
    Seed 004 has CreateImage terminate the instance when NoReboot is false; an instance-store root is gone once
    its instance terminates, so the bundle is taken first and the instance terminated after it.
    Returns the new image (pending until its decrypt-and-cache finishes) and the bundle task."""
    inst = bundler.nc.instances.get(instance_id)
    if inst is None or inst.state != "running":
        raise BundleTaskError(f"InvalidState: instance {instance_id} is not running")
    if not re.match(r"^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$", name):
        raise BundleTaskError(f"InvalidAMIName.Malformed: '{name}'")
    ids = {v.split(":")[0]: v.split(":")[1] for v in inst.vbrs}
    prefix = re.sub(r"[^a-z0-9._-]", "-", name.lower())
    task = bundler.bundle_instance(instance_id, bucket, prefix, wait=True)
    if task.state != "complete":
        raise BundleTaskError(f"CreateImage {instance_id}: bundling {task.state}: {task.error}")
    image = registry.register(f"{bucket}/{prefix}.manifest.xml", name=name, kernel=ids.get("kernel"),
                              ramdisk=ids.get("ramdisk"), description=description,
                              block_device_mapping=block_device_mapping)
    if not no_reboot:
        bundler.nc.terminate_instance(instance_id)
    return image, task
