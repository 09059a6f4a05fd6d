"""Images a scenario provides: staged on the node as plain files, described to the engine, fetched by `cp`.

The content is made on the node itself (truncate, mkfs, a loop mount to plant files or symlinks), so the
same scenario stages identically on the simulator and on a real node. Staging is setup, not engine work:
none of it is recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.artifacts import ImageDescription
from engine.nodeio import NodeIO
from harness.errors import HarnessError

STAGE_DIR = "/var/lib/nc-harness/images"


class StagingError(HarnessError):
    pass


@dataclass
class ImageSpec:
    id: str
    size: int
    content: str = "zeros"                 # zeros | ext3 | ext2 | pattern | file | ext3-image
    manifest: str | None = None            # the text the id hashes
    digest: str | None = None              # pinned hash when the manifest is unknown
    files: dict[str, str] = field(default_factory=dict)      # path in image -> content
    symlinks: dict[str, str] = field(default_factory=dict)   # path in image -> target
    served: bool = False                   # served over HTTP from this machine instead of staged on the node
    source: str | None = None              # content 'file': this file of the harness machine, as is
    publish: dict | None = None            # {bucket, kernel, ramdisk}: also bundled, uploaded and registered

    @property
    def staged_path(self) -> str:
        return f"{STAGE_DIR}/{self.id}.img"

    @property
    def location(self) -> str:
        if self.served:
            return f"http://nc-harness.images/{self.id}.img"
        return f"file://{self.staged_path}"


def reproducible_ext3(spec: ImageSpec) -> bytes:
    """An ext3 filesystem made on this machine by the real mke2fs with a UUID and hash seed derived from the image
    id and a fixed clock (E2FSPROGS_FAKE_TIME): the same bytes on every backend and every run, where a node's own
    mkfs would differ in UUIDs and times (and hence in every manifest digest built from them)."""
    import os
    import shutil
    import subprocess
    import tempfile
    import uuid
    if shutil.which("mke2fs") is None:
        raise StagingError(f"image {spec.id}: content ext3-image needs mke2fs here (apt-get install e2fsprogs)")
    fixed = str(uuid.uuid5(uuid.NAMESPACE_URL, f"nc-harness:{spec.id}"))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fs.img")
        with open(path, "wb") as fh:
            fh.truncate(spec.size)
        proc = subprocess.run(["mke2fs", "-q", "-F", "-t", "ext3", "-U", fixed, "-E", f"hash_seed={fixed}", path],
                              capture_output=True, text=True, env=dict(os.environ, E2FSPROGS_FAKE_TIME="1700000000"))
        if proc.returncode != 0:
            raise StagingError(f"image {spec.id}: mke2fs: {proc.stderr.strip()}")
        with open(path, "rb") as fh:
            return fh.read()


class StagedImages:
    def __init__(self, specs: list[ImageSpec]):
        self.specs = {s.id: s for s in specs}

    def spec_for(self, vbr) -> ImageSpec:
        spec = self.specs.get(vbr.id)
        if spec is None or vbr.prepared_location != spec.staged_path:
            raise StagingError(f"no staged image for {vbr.id} at {vbr.location}")
        return spec

    def describe(self, vbr) -> ImageDescription:
        spec = self.spec_for(vbr)
        manifest = spec.manifest or f"image={spec.id} size={spec.size}\n"
        return ImageDescription(manifest, spec.size, spec.digest)

    def fetch(self, io: NodeIO, vbr, dest_path: str, abort=None) -> None:
        """One `cp` (NC's own copy of a staged file): nothing to abandon half-way, so `abort` is not asked."""
        io.cmd(["/bin/cp", self.spec_for(vbr).staged_path, dest_path])

    def stage(self, host) -> None:
        """Create each image file on the node (idempotent per node)."""
        def run(*argv, stdin=None):
            result = host.run(list(argv), stdin)
            if result.rc != 0:
                raise StagingError(f"staging: {' '.join(argv)}: {result.stderr.strip()}")
            return result

        run("mkdir", "-p", STAGE_DIR)
        for spec in self.specs.values():
            path = spec.staged_path
            run("rm", "-f", path)
            if spec.content == "file":
                self._copy_in(run, spec)
                continue
            if spec.content == "ext3-image":
                self._copy_in(run, spec, reproducible_ext3(spec))
                continue
            run("truncate", "-s", str(spec.size), path)
            if spec.content in ("ext2", "ext3"):
                run(f"mkfs.{spec.content}", "-q", "-F", path)
            elif spec.content == "pattern":
                text = f"{spec.id} " * 64
                run("dd", f"of={path}", "conv=notrunc", "status=none", stdin=text[:4096])
            if spec.files or spec.symlinks:
                self._plant(run, spec)

    @staticmethod
    def _copy_in(run, spec: ImageSpec, data: bytes | None = None) -> None:
        """A real kernel or initrd from this machine (or bytes made here): they go to the node through the host
        interface."""
        if data is None:
            try:
                with open(spec.source, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise StagingError(f"image {spec.id}: source {spec.source}: {exc.strerror}") from None
        spec.size = len(data)
        run("dd", f"of={spec.staged_path}", "bs=1M", "status=none", stdin=data.decode("utf-8", "surrogateescape"))

    @staticmethod
    def _plant(run, spec: ImageSpec) -> None:
        mnt = f"{STAGE_DIR}/mnt-{spec.id}"
        run("mkdir", "-p", mnt)
        loop = run("losetup", "-f", "--show", spec.staged_path).stdout.strip()
        run("mount", loop, mnt)
        try:
            for path, target in sorted(spec.symlinks.items()):
                parent = path.rstrip("/").rsplit("/", 1)[0]
                if parent:
                    run("mkdir", "-p", mnt + "/" + parent.lstrip("/"))
                run("ln", "-s", target, mnt + "/" + path.lstrip("/"))
            for path, content in sorted(spec.files.items()):
                parent = path.rstrip("/").rsplit("/", 1)[0]
                if parent:
                    run("mkdir", "-p", mnt + "/" + parent.lstrip("/"))
                run("tee", mnt + "/" + path.lstrip("/"), stdin=content)
        finally:
            run("umount", mnt)
            run("losetup", "-d", loop)
            run("rmdir", mnt)
