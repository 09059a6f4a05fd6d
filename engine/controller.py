"""The node controller's disk side: run, terminate and restart, over one host.

Instance records live beside the instance's work blobs as `<work>/<user>/<instance>/instance.xml`,
which is what lets a restarted controller adopt running instances and clean up after dead builds.
"""
from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from .artifacts import ImageSource, alloc_tree
from .blobstore.blob import close_blob, delete_blob, delete_blob_state, open_blob, purge_lru
from .blobstore.locks import CONTENTION_PATIENCE, CONTENTION_RETRY, LockTable, LockTimeout, patiently
from .blobstore.store import BlobError, Blobstore, LockContention, lines_of
from .errors import OperationFailed, RecoveredWithProblems
from .implement import BuildContext, implement, safe_point
from .nodeio import Clock, NodeIO, Recorder
from .recovery import fsck, sweep_orphans
from .vbr import Vbr, parse_vbrs

# cleanup (terminate, a failed launch's rollback, the purge) waits out a lock another operation holds: contention
# is never a reason to leave blobs behind (blobstore/locks.py)
CLEANUP_PATIENCE, CLEANUP_RETRY = CONTENTION_PATIENCE, CONTENTION_RETRY
# `virsh destroy` tries, and the wait between them (virtual seconds on the simulator)
DESTROY_ATTEMPTS, DESTROY_WAIT = 3, 1.0
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")   # instance and user ids: directory and dm names


@dataclass
class NodeConfig:
    instances_path: str = "/var/lib/eucalyptus/instances"
    cache_mb: int = 20480        # below 10 MB: no cache at all
    work_mb: int = 0             # 0: unlimited
    concurrent_disk_ops: int = 4
    inject_keys: bool = True
    cache_snapshots: bool = True
    dm_prefix: str = "euca-"     # device-mapper names of clones; `euca-zero` is shared whatever the prefix
    # instances run as libvirt domains named by instance id: terminate destroys the domain first, and a restart
    # adopts only instances whose domain still runs (`virsh list --name`)
    hypervisor: bool = False
    # opt in to fewer and cheaper commands for the same devices and bytes (`losetup -f --show`, `cp` for
    # whole-file copies); the default stays NC 3.3's exact command path
    fast_path: bool = False
    # build up to this many independent artifacts at once (an instance's kernel, ramdisk and disk; a disk's
    # partitions); 1 is NC 3.3's one after the other (engine/workers.py)
    build_workers: int = 1


@dataclass
class Instance:
    id: str
    user: str
    state: str = "staging"
    vbrs: list[str] = field(default_factory=list)
    backing: dict[str, str] = field(default_factory=dict)   # guest device -> link path
    built: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def to_xml(self) -> str:
        vbrs = "".join(f"<vbr>{escape(v)}</vbr>" for v in self.vbrs)
        return f'<instance id="{self.id}" user="{self.user}" state="{self.state}">{vbrs}</instance>\n'

    @classmethod
    def from_xml(cls, text: str) -> Instance | None:
        m = re.match(r'<instance id="([^"]+)" user="([^"]+)" state="([^"]+)">', text)
        return cls(m.group(1), m.group(2), m.group(3)) if m else None


class NodeController:
    def __init__(self, host, config: NodeConfig, images: ImageSource, clock: Clock | None = None,
                 recorder: Recorder | None = None, seed: int = 0, log=None):
        self.config = config
        self.images = images
        self.io = NodeIO(host, recorder, clock, log)
        self.io.fast = config.fast_path
        self.io.workers = self.io.clock.workers(config.build_workers)
        self.locks = LockTable(self.io.clock, self.io)
        self.rng = random.Random(seed)
        self.instances: dict[str, Instance] = {}
        self._lock = threading.Lock()
        self._disk_sem = threading.BoundedSemaphore(config.concurrent_disk_ops) if config.concurrent_disk_ops else None
        registry: dict = {}
        base = config.instances_path.rstrip("/")
        snapshot = "dm" if config.cache_snapshots else "none"
        try:
            self.work = Blobstore.open(self.io, self.locks, f"{base}/work", config.work_mb * 2048, "none",
                                       "files", snapshot, registry, seed=seed)
            self.cache = None
            if config.cache_mb >= 10:
                self.cache = Blobstore.open(self.io, self.locks, f"{base}/cache", config.cache_mb * 2048, "lru",
                                            "directory", snapshot, registry, seed=seed)
        except BlobError as exc:   # a store of another node, or of other settings: NC does not start
            raise OperationFailed(f"cannot start: {exc}") from None
        for store in (self.work, self.cache):
            if store is not None:
                store.dm_prefix = config.dm_prefix

    # helpers ----------------------------------------------------------------------------------
    def token(self, n: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        with self._lock:
            return "".join(self.rng.choice(alphabet) for _ in range(n))

    def instance_dir(self, user: str, instance_id: str) -> str:
        return f"{self.work.path}/{user}/{instance_id}"

    def _save(self, inst: Instance) -> None:
        self.work.write_file(f"{self.instance_dir(inst.user, inst.id)}/instance.xml", inst.to_xml())

    @staticmethod
    def _check_ids(*ids: str) -> None:
        for value in ids:
            if not SAFE_ID.match(value or ""):
                raise OperationFailed(f"invalid id '{value}': letters, digits, '.', '_' and '-' only")

    # operations -------------------------------------------------------------------------------
    def run_instance(self, instance_id: str, user: str, vbrs: list[Vbr], key: str | None = None,
                     pinned: dict[str, str] | None = None) -> Instance:
        """Build the instance's disk; on failure remove exactly what this attempt created."""
        self._check_ids(instance_id, user)
        with self._lock:
            if instance_id in self.instances:
                raise OperationFailed(f"instance {instance_id} already exists on this node")
            inst = Instance(instance_id, user, vbrs=[v.ascii for v in vbrs])
            self.instances[instance_id] = inst
        try:
            vm = parse_vbrs(vbrs)
            tree = alloc_tree(vm, instance_id, self.images, key if self.config.inject_keys else None, pinned)
        except Exception as exc:  # noqa: BLE001 - bad VBRs and unreachable manifests alike: one clear error
            del self.instances[instance_id]
            raise OperationFailed(f"{instance_id}: {exc}") from None
        ctx = BuildContext(self.io, self.work, self.cache, f"{user}/{instance_id}", self.images, self.token,
                           self.config.inject_keys, abort=lambda: inst.state == "teardown")
        try:
            try:
                self.work.make_dirs(self.instance_dir(user, instance_id))
                self._save(inst)
                if self._disk_sem:
                    with self.io.workers.hold(self._disk_sem):
                        implement(ctx, tree)
                else:
                    implement(ctx, tree)
                safe_point(ctx)
                inst.backing = self._link_backing(inst, tree)
                if inst.state != "teardown":        # a terminate that came during the build tears it down next
                    inst.state = "running"
                self._save(inst)
            except Exception as exc:  # any failure of the launch is rolled back the same way:
                # its directory, its record and its links too (a failed mkdir or record write used to leave the
                # instance in the table for good, and a failed link its whole disk)
                self._rollback(inst, ctx)
                raise OperationFailed(f"{instance_id}: {exc}") from exc
            return inst
        finally:
            inst.built.set()

    def _link_backing(self, inst: Instance, tree) -> dict[str, str]:
        """link-to-<guest device> beside the work blobs, as update_vbr_with_backing_info leaves them."""
        out = {}
        blob_ids = [f"{inst.user}/{inst.id}/{art.id}" for art in tree.deps]
        # on the fast path every `dm` record in one read and every link in one script
        records = self.io.read_files([self.work.path_of(b, "dm") for b in blob_ids]) if self.io.fast else None
        script = self.io.script()
        for art, blob_id in zip(tree.deps, blob_ids):
            vbr = art.vbr
            name = vbr.guest_device if vbr is not None and vbr.guest_device != "none" else (
                vbr.type if vbr is not None else "sda")
            target = self.work.path_of(blob_id, "blocks")
            dm = (self.work.read_lines(blob_id, "dm") if records is None else
                  lines_of(records.get(self.work.path_of(blob_id, "dm"))))
            if dm and not art.must_be_file:
                target = f"/dev/mapper/{dm[-1]}"
            link = f"{self.instance_dir(inst.user, inst.id)}/link-to-{name}"
            if records is None:
                self.io.symlink(target, link)
            else:
                script.symlink(target, link)
            out[name] = link
        script.run()
        return out

    def _rollback(self, inst: Instance, ctx: BuildContext) -> None:
        self._destroy_backing(inst)
        for store, blob_id in reversed(ctx.created):
            if store is self.work:
                continue
            # a cache blob this attempt made: gone unless another launch maps it meanwhile. Its lock may be held
            # a while (that launch reading it, fsck looking at it): waited for, not given up on
            lock = store.path_of(blob_id, "lock")
            try:
                store.locks.acquire(lock, CLEANUP_PATIENCE)
            except LockTimeout:
                self.io.log(f"rollback: {blob_id} stayed locked for {CLEANUP_PATIENCE:g} s; fsck will look at it")
                continue
            try:
                if self.io.exists(store.path_of(blob_id, "blocks")) and not store.read_lines(blob_id, "refs"):
                    delete_blob_state(store, blob_id)
            finally:
                store.locks.release(lock)
        self.io.rmdir(f"{self.work.path}/{inst.user}")   # only if this attempt left it empty
        self.instances.pop(inst.id, None)

    def terminate_instance(self, instance_id: str) -> None:
        inst = self.instances.get(instance_id)
        if inst is None:
            raise OperationFailed(f"instance {instance_id} is not running on this node")
        building = inst.state == "staging"
        inst.state = "teardown"
        if building:
            # the build is still running: its downloads bail out at their next chunk and its own rollback
            # removes what it made; if it finished first, the teardown below removes the rest
            self.io.workers.wait_for(inst.built.is_set)
            if self.instances.get(instance_id) is not inst:
                return
        try:
            self._save(inst)
            if self.config.hypervisor and not self._destroy_domain(instance_id):
                raise OperationFailed(f"{instance_id}: its domain could not be stopped")
            left = self._destroy_backing(inst, strict=True)
        except OperationFailed:
            raise
        except Exception as exc:  # a failed command of the teardown: the instance stays listed
            raise OperationFailed(f"{instance_id}: terminate failed: {exc}") from exc
        if left:
            # still listed, in teardown: a second terminate (or the next restart's fsck) finishes it
            raise OperationFailed(f"{instance_id}: {left} work blob(s) could not be removed")
        del self.instances[instance_id]

    def _destroy_domain(self, instance_id: str) -> bool:
        """`virsh destroy`, tried DESTROY_ATTEMPTS times: libvirt refuses while another call holds the domain's
        job lock (a busy monitor), and that passes. False: the domain still runs. A domain already gone is
        fine (libvirt: "failed to get domain"), as is one defined but not running."""
        for _ in range(DESTROY_ATTEMPTS):
            result = self.io.cmd(["virsh", "destroy", instance_id], check=False)
            if result.rc == 0 or "failed to get domain" in result.stderr or "domain is not running" in result.stderr:
                return True
            self.io.clock.sleep(DESTROY_WAIT)
        return False

    def _destroy_backing(self, inst: Instance, strict: bool = False) -> int:
        """destroy_instance_backing: delete the instance's work blobs by regex, then its other files."""
        path = self.instance_dir(inst.user, inst.id)
        if not self.io.is_dir(path):
            return 0
        left = self.delete_regex(self.work, f"{re.escape(inst.user)}/{re.escape(inst.id)}/.*",
                                 under=f"{inst.user}/{inst.id}")
        if not left:
            for name in self.io.listdir(path):
                self.io.quiet(["rm", "-rf", f"{path}/{name}"], check=False)
            if not self.io.rmdir(path) and strict:
                # a file that would not go: the directory stays, and so does the instance
                raise OperationFailed(f"{inst.id}: its directory {path} could not be removed")
        return left

    def _remove_unrecorded_instance_dirs(self, known, recorded: set[str]) -> None:
        """An instance directory with no instance.xml: a launch killed before its record was written, or a
        terminate killed after removing it. Its blobs went with fsck (they belong to no known instance); the
        links and the directory go here. `recorded`: the directories the restart found an instance.xml in."""
        for user in self.io.listdir(self.work.path):
            user_dir = f"{self.work.path}/{user}"
            if user.startswith(".") or not self.io.is_dir(user_dir):
                continue
            for instance_id in self.io.listdir(user_dir):
                path = f"{user_dir}/{instance_id}"
                if (user, instance_id) in known or path in recorded or not self.io.is_dir(path):
                    continue
                self._destroy_backing(Instance(instance_id, user))

    def delete_regex(self, store: Blobstore, pattern: str, under: str = "") -> int:
        """blobstore_delete_regex: passes until nothing more can go; mapped blobs wait for their users.
        Opening a blob re-attaches a loop if it has none, as the original's open does. A blob whose lock (or the
        store's) another operation holds is tried again until CLEANUP_PATIENCE has passed: under contention the
        original's single pass gave up, and a terminate failed with its blobs left behind."""
        regex = re.compile(pattern)
        start = self.io.clock.now()
        while True:
            deleted, left, contended = 0, 0, 0
            for blob_id in store.ids(under):
                if not regex.fullmatch(blob_id):
                    continue
                outcome = self._delete_one(store, blob_id)
                deleted += outcome == "deleted"
                left += outcome != "deleted"
                contended += outcome == "contended"
            if deleted:
                # progress: the patience is for contention that never ends, not for the deleting itself (on a
                # slow real node a terminate's commands alone can take longer than CLEANUP_PATIENCE)
                start = self.io.clock.now()
                continue
            if not contended or self.io.clock.now() - start >= CLEANUP_PATIENCE:
                return left
            self.io.clock.sleep(CLEANUP_RETRY)

    def _delete_one(self, store: Blobstore, blob_id: str) -> str:
        """deleted, contended (a lock held elsewhere: try again), or left (in use, or failed)."""
        try:
            bb = open_blob(store, blob_id, timeout=0.05)
        except LockContention:
            return "contended"
        except BlobError as exc:
            self.io.log(f"{blob_id} left: {exc}")
            return "left"
        try:
            referenced = bool(store.read_lines(blob_id, "refs"))
        except Exception as exc:  # noqa: BLE001 - unreadable: counted as left, and closed like the rest
            self.io.log(f"could not read {blob_id}'s refs: {exc}")
            referenced = True
        if referenced:
            self.io.log(f"{blob_id} left: other blobs map it")
            close_blob(bb)
            return "left"
        try:
            delete_blob(bb)
            return "deleted"
        except Exception as exc:  # noqa: BLE001 - keep going; report the count
            self.io.log(f"could not delete {blob_id}: {exc}")
            close_blob(bb)
            return "contended" if isinstance(exc, LockContention) else "left"

    def purge_cache(self, free_mb: int | None = None) -> int:
        """The cache's LRU purge on its own, beside whatever else runs (NC purges when an image needs room; the
        periodic check and an operator make room ahead): unused blobs go, least recently modified first, until
        `free_mb` are free, or every unused one with None. Returns the MB freed."""
        if self.cache is None or not self.cache.limit_blocks:
            return 0
        store = self.cache

        def purge() -> int:
            with store.locked():
                free = store.limit_blocks - store.used_blocks(store.scan())
                wanted = store.limit_blocks if free_mb is None else free_mb * 2048 - free
                return purge_lru(store, wanted) if wanted > 0 else 0
        try:   # a launch creating a blob in the cache holds its lock: the purge waits its turn
            freed = patiently(self.io.clock, purge, LockContention, CLEANUP_PATIENCE)
        except LockContention as exc:
            raise OperationFailed(f"purge: {exc}") from None
        self.io.log(f"purge {store.path}: freed {freed // 2048} MB")
        return freed // 2048

    def check_stores(self) -> list[str]:
        """The periodic check of a running node controller: fsck of both stores, as at start-up, but nothing of
        a launch or terminate under way is stale (their instances are in this process's table)."""
        def stale(blob_id: str) -> bool:
            parts = blob_id.split("/")
            inst = self.instances.get(parts[1]) if len(parts) >= 3 else None
            return inst is None or inst.user != parts[0]

        deleted = fsck(self.work, stale)
        if self.cache is not None:
            deleted += fsck(self.cache)
        return deleted

    def _backing_alive(self, inst: Instance) -> bool:
        path = self.instance_dir(inst.user, inst.id)
        links = [n for n in self.io.listdir(path) if n.startswith("link-to-")]
        return bool(links) and all(self.io.exists(f"{path}/{n}") for n in links)

    def _running_domains(self) -> set[str] | None:
        """None without a hypervisor to ask; an instance whose domain died while we were down is not adopted."""
        if not self.config.hypervisor:
            return None
        listing = self.io.cmd(["virsh", "list", "--name"], check=False)
        if listing.rc != 0:
            raise OperationFailed(f"cannot list the hypervisor's domains: {listing.stderr.strip()}")
        return {line.strip() for line in listing.stdout.splitlines() if line.strip()}

    def restart(self) -> list[str]:
        """What a freshly started NC does: adopt running instances, clean dead ones, fsck both stores,
        then remove devices and loops named like ours that no blob claims. Raises RecoveredWithProblems, after
        all of that, if a terminate it was to finish could not stop its domain (the instance stays listed)."""
        for store in (self.work, self.cache):
            if store is not None:
                self.locks.clear_stale(store.path)
        for line in self.io.quiet(["mount"], check=False).stdout.splitlines():
            parts = line.split(" on ", 1)
            if len(parts) == 2 and parts[1].startswith("/tmp/euca-mount-"):
                mnt = parts[1].split(" ", 1)[0]
                self.io.cmd(["umount", mnt], check=False)
                self.io.rmdir(mnt)
        stores = [s for s in (self.work, self.cache) if s is not None]
        # devices no metadata names (a crash between a kernel change and its metadata write) sit on top of
        # the blobs' own devices and would keep fsck from removing those: they go first
        removed = sweep_orphans(stores, self.config.dm_prefix)
        domains = self._running_domains()
        known: dict[tuple[str, str], Instance] = {}
        for xml_path in self.io.find(self.work.path, "instance.xml"):
            inst = Instance.from_xml(self.io.read(xml_path) or "")
            if inst is not None and inst.state == "running" and self._backing_alive(inst) and (
                    domains is None or inst.id in domains):
                known[(inst.user, inst.id)] = inst
                self.instances[inst.id] = inst

        def stale(blob_id: str) -> bool:
            parts = blob_id.split("/")
            return len(parts) < 3 or (parts[0], parts[1]) not in known

        for user, instance_id in known:
            # a bundling task dies with the process that ran it: its clone of the root is garbage now
            self.io.quiet(["rm", "-rf", f"{self.instance_dir(user, instance_id)}/bundle"], check=False)
        deleted = fsck(self.work, stale)
        recorded, unstopped = set(), []
        for xml_path in self.io.find(self.work.path, "instance.xml"):
            recorded.add(xml_path.rsplit("/", 1)[0])
            inst = Instance.from_xml(self.io.read(xml_path) or "")
            if inst is not None and (inst.user, inst.id) not in known:
                if inst.state == "teardown" and domains is not None and inst.id in domains:
                    # a terminate killed between recording it and stopping the domain: finish it; a domain that
                    # will not stop keeps its disks, so the instance stays listed, in teardown, for a terminate
                    if not self._destroy_domain(inst.id):
                        self.instances[inst.id] = inst
                        unstopped.append(inst.id)
                        continue
                self._destroy_backing(inst)
        self._remove_unrecorded_instance_dirs(known, recorded)
        if self.cache is not None:
            deleted += fsck(self.cache)
        removed += deleted + sweep_orphans(stores, self.config.dm_prefix)
        if unstopped:
            # everything else is recovered and the controller serves; the caller (an operator) must know that
            # these domains still run on disks nothing else may touch until a terminate finishes them
            raise RecoveredWithProblems(f"restart: the domain of {', '.join(unstopped)} could not be stopped; "
                                        "listed in teardown for a terminate to finish")
        return removed
