"""euca-imager's main(): validate every command, write `<work>/imager.pid`, run the commands in order over one
artifact tree and two blobstores (work: files, no revocation; cache: directory, LRU, fscked first), clean up,
empty and delete the work store, and exit with the tree's result (eucalyptus-nc.md 7)."""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from engine import diskutil
from engine.blobstore.blob import close_blob
from engine.blobstore.locks import LockTable
from engine.blobstore.store import Blobstore
from engine.errors import EngineError
from engine.implement import BuildContext, implement
from engine.nodeio import NodeIO
from engine.recovery import fsck, sweep_orphans
from engine.vbr import VbrError, parse_ascii, parse_vbrs

from . import pidfile
from .bundle import BUCKET, PREFIX, BundleCommandError, bundle_and_upload, delete_bundle
from .grammar import ImagerUsage, Invocation, Param, check_params, describe, split
from .tree import boot_vbr, prepare_tree

GLOBALS = [
    Param("debug", "log every step to stderr", kind="bool", default="no"),
    Param("work", "work directory on the node, emptied and removed (if made here) at the end",
          default="/var/tmp/euca-imager"),
    Param("work_size", "limit of the work store (dd suffixes: b=512, k, m, g, w=4)", kind="size"),
    Param("cache", "cache directory on the node; prepared disks stay there", default="/var/tmp/euca-imager-cache.d"),
    Param("cache_size", "limit of the cache store, LRU beyond it (dd suffixes)", kind="size"),
    Param("purge_cache", "delete the cache store at the end", kind="bool", default="no"),
    Param("cloud_cert", "bundle: the cloud's certificate, the bundle key is wrapped for it (a file here)"),
    Param("service_key", "bundle: the private key the manifest is signed with (a file here)"),
]

COMMANDS: dict[str, tuple[str, list[Param]]] = {
    "fsck": ("open and check both stores (with purge_cache=yes: empty the cache)", []),
    "prepare": ("build a disk from VBRs in the cache (or, with work=yes, the work store)", [
        Param("vbr", "an ASCII VBR (type:id:size:format:device:location)", mandatory=True, repeatable=True),
        Param("boot", "add a 100 MiB ext3 boot partition with the kernel, ramdisk and GRUB config", kind="bool",
              default="no"),
        Param("cache", "accepted, as the original does, and unused", kind="bool", default="yes"),
        Param("id", "a name for the log"),
        Param("key", "an SSH public key, or a file on the node holding one, for root"),
        Param("out", "the resulting disk's id (default: dsk-<hash>)"),
        Param("work", "keep results in the work store (gone at exit unless a later command uses them)",
              kind="bool", default="no"),
        Param("action", "download: fill the cache only; convert: build from the cache, downloading nothing",
              kind="choice", choices=("download", "convert")),
    ]),
    "bundle": ("bundle a disk (tar, gzip, AES-128-CBC, parts, signed manifest) and upload it to an S3 bucket", [
        Param("bucket", "the bucket to upload to (3-63 of a-z 0-9 . - _)", mandatory=True),
        Param("in", "the disk: a /dev/mapper device or a file on the node (default: the disk the previous "
                    "command prepared)"),
        Param("prefix", "the bundle's name (default: the prepared disk's id, or the file name of in=)"),
        Param("arch", "the manifest's architecture", kind="choice", choices=("x86_64", "i386"), default="x86_64"),
        Param("kernel", "an eki- id the manifest names"),
        Param("ramdisk", "an eri- id the manifest names"),
        Param("clean", "delete the uploaded bundle again in the imager's cleanup", kind="bool", default="no"),
    ]),
    "extract": ("copy partition N of a disk out to a file on the node", [
        Param("in", "the disk (a path on the node; default: the disk the previous command prepared)"),
        Param("out", "the file to write; must not exist", mandatory=True),
        Param("partition", "which partition (1-based, as in the partition table)", kind="int", default="1"),
    ]),
}


class ImagerError(EngineError):
    pass


@dataclass
class Result:
    """What a command hands the next one: a disk (device path and, while the run lasts, its open blob)."""
    device: str
    artifact: object = None


def help_text(command: str | None = None) -> str:
    if command is None:
        lines = ["usage: nc-harness imager [global=value...] COMMAND [key=value...] [COMMAND [key=value...]]...",
                 "", "global parameters:", describe(GLOBALS).rstrip("\n"), "", "commands:"]
        lines += [f"  {name:<10} {text}" for name, (text, _) in COMMANDS.items()]
        lines += ["  help       this text; `help COMMAND`: its parameters (* = mandatory)", ""]
        return "\n".join(lines)
    if command not in COMMANDS:
        raise ImagerUsage(f"help: unknown command '{command}' (one of {', '.join(COMMANDS)})")
    text, params = COMMANDS[command]
    return f"{command}: {text}\n" + (describe(params) if params else "  (no parameters)\n")


class Imager:
    def __init__(self, host, images, clock=None, recorder=None, log=None, seed: int = 0, fast_path: bool = False,
                 stderr=None, store=None, bundle_spec=None):
        """`stderr`: where `debug=yes` progress goes (the CLI passes sys.stderr); errors collect in `errors`.
        `store` (a BundleStore) and `bundle_spec` (account, certificates, signing key) serve `bundle`."""
        self.io = NodeIO(host, recorder, clock, log)
        self.io.fast = fast_path
        self.images = images
        self.rng = random.Random(seed)
        self.debug = False
        self.stderr = stderr
        self.errors: list[str] = []
        self.output = ""
        self.store, self.bundle_spec = store, bundle_spec
        self.to_clean: list[str] = []        # bundles uploaded with clean=yes, deleted in the cleanup

    def token(self, n: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def check(self, argv: list[str]) -> tuple[dict, list[tuple[Invocation, dict]]]:
        """Everything about the command line, before the node is touched: raises HelpRequested for `help`
        anywhere, ImagerUsage for a bad line; returns the global values and each command's."""
        line = split(argv)
        for i, inv in enumerate(line.commands):
            if inv.name == "help":
                following = line.commands[i + 1].name if i + 1 < len(line.commands) else None
                raise HelpRequested(help_text(following))
        globals_ = check_params("global parameters", line.globals, GLOBALS)
        if not line.commands:
            raise ImagerUsage("no command given (try: help)")
        commands = []
        for inv in line.commands:
            if inv.name not in COMMANDS:
                raise ImagerUsage(f"argument {inv.position} '{inv.name}': unknown command (one of "
                                  f"{', '.join(COMMANDS)}, help)")
            values = check_params(f"{inv.name} (argument {inv.position})", inv.params, COMMANDS[inv.name][1])
            if inv.name == "prepare":
                try:
                    vbrs = [parse_ascii(text) for text in values["vbr"]]
                    vm = parse_vbrs(vbrs + ([boot_vbr(vbrs)] if values["boot"] else []))
                    if values["boot"] and (vm.kernel is None or vm.ramdisk is None):
                        raise VbrError("boot=yes needs a kernel and a ramdisk VBR")
                except VbrError as exc:
                    raise ImagerUsage(f"{inv.name} (argument {inv.position}): vbr: {exc}") from None
            if inv.name == "bundle":
                where = f"bundle (argument {inv.position})"
                if not BUCKET.match(values["bucket"]):
                    raise ImagerUsage(f"{where}: bucket: '{values['bucket']}' is not 3-63 of a-z 0-9 . - _")
                if values["prefix"] is not None and not PREFIX.match(values["prefix"]):
                    raise ImagerUsage(f"{where}: prefix: '{values['prefix']}' is not a plain name (A-Z a-z 0-9 . - _)")
            commands.append((inv, values))
        for path_key in ("work", "cache"):
            if not str(globals_[path_key]).startswith("/"):
                raise ImagerUsage(f"global parameters: {path_key}: '{globals_[path_key]}' must be an absolute path")
        return globals_, commands

    def main(self, argv: list[str]) -> int:
        """euca-imager's exit status: 0; 1 when a command failed (after the cleanup); 2 for a bad command line
        (nothing done). `help`'s text goes to `output`, error lines to `errors`."""
        try:
            return self.run(argv)
        except HelpRequested as text:
            self.output = str(text)
            return 0
        except ImagerUsage as exc:
            self.errors.append(str(exc))
            return 2
        except ImagerError as exc:
            self.errors.append(str(exc))
            return 1

    def run(self, argv: list[str]) -> int:
        """0 when every command succeeded; raises ImagerUsage (nothing done) or returns 1 after cleaning up."""
        globals_, commands = self.check(argv)
        self.debug = bool(globals_["debug"])
        io = self.io
        work_path, cache_path = str(globals_["work"]).rstrip("/"), str(globals_["cache"]).rstrip("/")
        made_work = not io.is_dir(work_path)
        io.mkdirs(work_path)
        pid_file = f"{work_path}/imager.pid"
        locks = LockTable(io.clock, io)
        run_token = locks.token
        try:
            made_work, dead = pidfile.claim(io, pid_file, work_path, made_work, run_token)
        except pidfile.PidFileBusy as exc:
            raise ImagerError(str(exc)) from None
        registry: dict = {}
        work = cache = None
        results: list[Result] = []
        status = 0
        try:
            if dead is not None:      # the blob locks a killed imager left behind in both stores
                for root in (f"{work_path}/blobs", cache_path):
                    if io.is_dir(root):
                        locks.clear_of(root, dead)
            work = Blobstore.open(io, locks, f"{work_path}/blobs", (globals_["work_size"] or 0) // 512, "none",
                                  "files", "dm", registry, owner="imager")
            cache = Blobstore.open(io, locks, cache_path, (globals_["cache_size"] or 0) // 512, "lru",
                                   "directory", "dm", registry, owner="imager")
            if dead is not None:
                # devices the killed run made but never recorded (killed between the two) sit on its blobs'
                # devices and would keep fsck from removing those; as NC's restart does, they go first
                sweep_orphans([work, cache])
            fsck(cache)
            for inv, values in commands:
                self.say(f"{inv.name}: starting")
                made = getattr(self, f"cmd_{inv.name}")(values, results[-1] if results else None, work, cache)
                if made is not None:
                    results.append(made)
                self.say(f"{inv.name}: done")
        except (ImagerError, VbrError, BundleCommandError) as exc:
            self.fail(str(exc))
            status = 1
        except Exception as exc:  # noqa: BLE001 - the tree's result is the exit status; the error is one line
            self.fail(f"{type(exc).__name__}: {exc}")
            status = 1
        finally:
            try:
                for location in self.to_clean:
                    try:
                        delete_bundle(self.store, location)
                    except BundleCommandError as exc:
                        self.fail(str(exc))
                        status = 1
                for result in results:
                    bb = getattr(result.artifact, "bb", None)
                    if bb is not None:
                        close_blob(bb)
                if work is not None:
                    # the original's examiner says "delete" for every blob: the work store leaves nothing behind
                    fsck(work, examiner=lambda _id: True)
                    self._drop_store(work)
                if cache is not None and globals_["purge_cache"]:
                    fsck(cache, examiner=lambda _id: True)
                    self._drop_store(cache)
                # last (the original removes it before the purge): a run killed in any of the above leaves the file
                # that lets the next run take its locks and devices over
                io.unlink(pid_file)
                if made_work:
                    io.rmdir(work_path)
            finally:
                # last, even when a crash point kills the cleanup above: from here this run is a dead process
                pidfile.release(run_token)
        return status

    def _drop_store(self, store: Blobstore) -> None:
        if not store.ids():
            self.io.quiet(["rm", "-rf", store.path], check=False)

    def say(self, text: str) -> None:
        if self.debug:
            self.io.log(text)
            if self.stderr is not None:
                print(f"imager: {text}", file=self.stderr)

    def fail(self, text: str) -> None:
        self.io.log(f"error: {text}")
        self.errors.append(text)

    # commands -----------------------------------------------------------------------------------
    def cmd_fsck(self, values, previous, work, cache):
        return None        # opening both stores (done for every run) is the whole of it

    def cmd_prepare(self, values, previous, work, cache):
        key = values["key"]
        if key and not key.startswith(("ssh-", "ecdsa-", "sk-")):
            text = self.io.read(key)
            if not text:
                raise ImagerError(f"prepare: key: {key}: no such file on the node, or empty")
            key = text.strip()
        vbrs = [parse_ascii(v) for v in values["vbr"]]
        disk = prepare_tree(vbrs, self.images, values["boot"], key, values["out"], values["work"])
        ctx = BuildContext(self.io, work, cache, "", self.images, self.token)
        action = values["action"]
        if action == "download":
            for art in disk.walk():
                if art.creator == "download":
                    implement(ctx, art)
                    close_blob(art.bb)
                    art.bb = None
            return None
        if action == "convert":
            ctx.images = _NoDownloads(self.images)
        implement(ctx, disk)
        return Result(disk.bb.device, disk)

    def cmd_bundle(self, values, previous, work, cache):
        if self.store is None or self.bundle_spec is None:
            raise ImagerError("bundle: no object store (set NC_S3_ENDPOINT, and cloud_cert/service_key)")
        disk = values["in"] or (previous.device if previous is not None else None)
        if not disk:
            raise ImagerError("bundle: in: no disk given and no earlier command prepared one")
        made_here = not values["in"] and getattr(previous.artifact, "id", None)
        prefix = values["prefix"] or made_here or disk.rsplit("/", 1)[-1]
        spec = dataclasses.replace(self.bundle_spec, arch=values["arch"], kernel=values["kernel"],
                                   ramdisk=values["ramdisk"])
        location = bundle_and_upload(self.io, self.store, spec, disk, values["bucket"], prefix)
        self.output += f"{location}\n"
        if values["clean"]:
            self.to_clean.append(location)
        return None

    def cmd_extract(self, values, previous, work, cache):
        source = values["in"] or (previous.device if previous is not None else None)
        if not source:
            raise ImagerError("extract: in: no disk given and no earlier command prepared one")
        out = values["out"]
        if self.io.exists(out):
            raise ImagerError(f"extract: out: {out} exists")
        number = values["partition"]
        listing = self.io.cmd(["/sbin/parted", "--script", source, "unit", "s", "print"], check=False)
        if listing.rc != 0:
            raise ImagerError(f"extract: {source}: no partition table ({listing.stderr.strip()})")
        for line in listing.stdout.splitlines():
            fields = line.split()
            if fields and fields[0] == str(number) and len(fields) >= 4:
                start, size = int(fields[1].rstrip("s")), int(fields[3].rstrip("s"))
                break
        else:
            raise ImagerError(f"extract: {source} has no partition {number}")
        # copied under OUT.partial and renamed when whole: a failed or killed extract never leaves a file at OUT
        # that looks like the partition (a killed one's .partial is replaced by the next)
        partial = f"{out}.partial"
        self.io.unlink(partial)
        try:
            diskutil.dd_copy(self.io, source, partial, size * 512, start * 512, 0)
            self.io.cmd(["/bin/mv", partial, out])
        except Exception:
            self.io.unlink(partial)
            raise
        return None


class HelpRequested(EngineError):
    """`help` and `help COMMAND`: the text to print, exit 0."""


class _NoDownloads:
    """action=convert: images are described (their ids) but must already be in the cache."""

    def __init__(self, images):
        self.images = images

    def describe(self, vbr):
        return self.images.describe(vbr)

    def fetch(self, io, vbr, dest, abort=None):
        raise ImagerError(f"prepare: action=convert: {vbr.id} is not in the cache")
