"""The imager (engine.imager): euca-imager's grammar, its run protocol (pid file, stores, cleanup, exit status)
and its commands on the simulated node."""
import re

import pytest

from engine.imager.grammar import ImagerUsage, Param, check_params, parse_size, split
from engine.imager.run import HelpRequested, Imager, help_text
from engine.nodeio import VirtualClockAdapter
from harness.backends.sim import SimHost
from harness.images.staging import ImageSpec, StagedImages

KERNEL, RAMDISK, ROOT = "eki-1A2B3C4D", "eri-5E6F7A8B", "emi-0C0FFEE1"
CACHE, WORK = "cache=/var/lib/imager/cache", "work=/var/lib/imager/work"


# grammar ---------------------------------------------------------------------------------------
def test_tokens_without_equals_are_commands_and_keys_lose_up_to_two_dashes():
    line = split(["debug=yes", "--work=/w", "prepare", "vbr=a", "-boot=yes", "--key=k", "extract", "out=/o"])
    assert line.globals == [("debug", "yes"), ("work", "/w")]
    assert [(c.name, c.params) for c in line.commands] == [
        ("prepare", [("vbr", "a"), ("boot", "yes"), ("key", "k")]), ("extract", [("out", "/o")])]
    assert split(["prepare", "---x=1"]).commands[0].params == [("-x", "1")]


@pytest.mark.parametrize("argv,message", [
    (["prepare", "vbr="], "argument 2 'vbr=': parameters must have non-empty values"),
    (["prepare", "--=x"], "argument 2 '--=x': parameters must have non-empty names"),
    (["fsck"] * 33, "argument 33 'fsck': too many commands (max is 32)"),
    (["prepare"] + [f"vbr={i}" for i in range(33)], "too many parameters for 'prepare' (max is 32)"),
])
def test_the_original_grammar_errors_name_the_token(argv, message):
    with pytest.raises(ImagerUsage, match=message.replace("(", r"\(").replace(")", r"\)")):
        split(argv)


def test_sizes_take_dd_suffixes():
    assert [parse_size(t, "x") for t in ("7", "2b", "3k", "1m", "2g", "5w", "1M")] == \
        [7, 1024, 3072, 1 << 20, 2 << 30, 20, 1 << 20]
    for bad in ("", "1t", "k", "-1", "1.5m"):
        with pytest.raises(ImagerUsage, match="is not a size"):
            parse_size(bad, "work_size")


def test_parameters_are_checked_before_anything_runs():
    params = [Param("in", "x", mandatory=True), Param("n", "x", kind="int", default="1"),
              Param("v", "x", repeatable=True), Param("b", "x", kind="bool", default="no")]
    assert check_params("c", [("in", "a"), ("v", "1"), ("v", "2")], params) == \
        {"in": "a", "n": 1, "v": ["1", "2"], "b": False}
    for given, message in (([], "missing mandatory parameter 'in'"),
                           ([("in", "a"), ("zz", "1")], "unknown parameter 'zz'"),
                           ([("in", "a"), ("in", "b")], "in: given twice"),
                           ([("in", "a"), ("b", "maybe")], "not yes or no"),
                           ([("in", "a"), ("n", "x")], "'x' is not a number")):
        with pytest.raises(ImagerUsage, match=message):
            check_params("c", given, params)


def test_help_lists_commands_and_marks_mandatory_parameters():
    text = help_text()
    for name in ("fsck", "prepare", "extract", "help"):
        assert f"\n  {name:<10} " in text
    assert "  * vbr " in help_text("prepare") and "    boot " in help_text("prepare")
    assert "  * out " in help_text("extract")
    with pytest.raises(HelpRequested, match=r"^prepare: "):
        Imager(None, None).run(["debug=yes", "help", "prepare"])


def test_a_bad_command_line_touches_nothing_on_the_node(capsys):
    from harness.cli.main import main
    for argv, needle in ((["imager", "prepare", "vbr=machine:emi-1:1:none:sda1:none"], "vbr: "),
                         (["imager", "work=relative", "fsck"], "must be an absolute path"),
                         (["imager", "frobnicate"], "unknown command"),
                         (["imager", "backend=nowhere", "fsck"], "unknown backend")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and needle in err, err


# runs on the simulated node ----------------------------------------------------------------------
class Node:
    def __init__(self):
        self.host = SimHost(dialect="debian12", seed=3)
        self.images = StagedImages([ImageSpec(KERNEL, 4951248, "pattern"), ImageSpec(RAMDISK, 4399848, "pattern"),
                                    ImageSpec(ROOT, 64 << 20, "ext3")])
        self.images.stage(self.host)
        self.vbrs = [f"vbr=machine:{ROOT}:-1:none:sda1:file:///var/lib/nc-harness/images/{ROOT}.img",
                     f"vbr=kernel:{KERNEL}:-1:none:none:file:///var/lib/nc-harness/images/{KERNEL}.img",
                     f"vbr=ramdisk:{RAMDISK}:-1:none:none:file:///var/lib/nc-harness/images/{RAMDISK}.img"]

    def imager(self, *argv, images=None):
        """The CLI's image sources: file:///paths on the node (engine.sources.NodeFileSource)."""
        from engine.nodeio import NodeIO
        from engine.sources import ImageSources, NodeFileSource
        clock = VirtualClockAdapter(self.host.node.clock)
        images = images or ImageSources({"file": NodeFileSource(NodeIO(self.host, clock=clock))})
        tool = Imager(self.host, images, clock=clock, seed=1)
        return tool.run(list(argv)), tool

    def run(self, *argv):
        result = self.host.run(list(argv))
        return result

    def read_in_fs(self, device: str, path: str) -> bytes:
        self.run("mkdir", "-p", "/mnt/check")
        assert self.run("mount", "-o", "ro", device, "/mnt/check").rc == 0
        try:
            return self.run("cat", f"/mnt/check/{path}").stdout.encode("utf-8", "surrogateescape")
        finally:
            self.run("umount", "/mnt/check")


@pytest.fixture
def node():
    return Node()


def test_prepare_boot_lays_out_the_boot_partition_first_and_installs_kernel_ramdisk_and_grub(node):
    rc, tool = node.imager(CACHE, WORK, "prepare", "boot=yes", "out=dsk-test", *node.vbrs)
    assert rc == 0, tool.errors
    disk = "/dev/mapper/euca-dsk-test"
    table = node.run("/sbin/parted", "--script", disk, "unit", "s", "print").stdout
    rows = [line.split()[:4] for line in table.splitlines() if line[:2].strip().isdigit()]
    assert rows == [["1", "204863s", "335934s", "131072s"], ["2", "63s", "204862s", "204800s"]]
    boot = f"{disk}2"          # libparted: NAMEpN only after a digit
    kernel = node.run("cat", f"/var/lib/nc-harness/images/{KERNEL}.img").stdout.encode("utf-8", "surrogateescape")
    assert node.read_in_fs(boot, "boot/euca-vmlinuz") == kernel
    assert len(node.read_in_fs(boot, "boot/euca-initrd")) == 4399848
    cfg = node.read_in_fs(boot, "boot/grub/grub.cfg").decode()
    assert "set root='(hd0,2)'" in cfg and "linux /boot/euca-vmlinuz root=/dev/sda1 ro" in cfg
    assert b"root (hd0,1)\n" in node.read_in_fs(boot, "boot/grub/menu.lst")
    # the imager's own state is gone: pid file, work store, work directory
    assert node.run("test", "-e", "/var/lib/imager/work").rc == 1


def test_key_goes_into_the_root_and_the_id_hashes_the_tree_without_out(node):
    key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDimager op@example"
    rc, tool = node.imager(CACHE, WORK, "prepare", f"key={key}", node.vbrs[0])
    assert rc == 0, tool.errors
    names = node.run("dmsetup", "ls").stdout
    listed = [line.split()[0] for line in names.splitlines()]
    disk = min((n for n in listed if n.startswith("euca-dsk-")), key=len)
    root = next(n for n in listed if n.startswith(disk) and n[len(disk):] in ("1", "p1"))
    assert node.read_in_fs(f"/dev/mapper/{root}", "root/.ssh/authorized_keys").decode() == key


def test_the_pid_file_is_there_while_it_runs_and_a_second_imager_is_refused(node):
    seen = []

    class Watching:
        def describe(self, vbr):
            return node.images.describe(vbr)

        def fetch(self, io, vbr, dest, abort=None):
            seen.append(node.run("cat", "/var/lib/imager/work/imager.pid").stdout.strip())
            return node.images.fetch(io, vbr, dest, abort)

    assert node.imager(CACHE, WORK, "prepare", node.vbrs[0], images=Watching())[0] == 0
    import os
    import socket
    pid, host, run, made = seen[0].split()
    # the pid the run's lock-owner token names: the simulated node's own process id, never the harness's
    assert (pid, host, made) == (run.split(".")[0], socket.gethostname(), "made") and int(pid) != os.getpid()
    assert node.run("test", "-e", "/var/lib/imager/work").rc == 1        # made here, so removed at the end
    from engine.imager.run import ImagerError
    node.run("mkdir", "-p", "/var/lib/imager/work")
    for text, message in (
            ("", "exists and is not an imager's"),
            ("1234\n", "exists and is not an imager's"),
            (f"1 {host} run1 made\n", "imager pid 1 is using /var/lib/imager/work"),       # init: alive
            ("4321 elsewhere run2 made\n", "an imager on elsewhere (pid 4321) uses"),
            (f"{pid} {host} {run} made\n", None)):   # a run of this process no longer in progress: dead
        node.host.run(["tee", "/var/lib/imager/work/imager.pid"], text)
        if message is None:
            assert node.imager(CACHE, WORK, "fsck")[0] == 0
            # the dead run had made the work directory: its successor removes it, pid file and all
            assert node.run("test", "-e", "/var/lib/imager/work").rc == 1
        else:
            with pytest.raises(ImagerError, match=re.escape(message)):
                node.imager(CACHE, WORK, "fsck")


def test_a_failing_command_exits_1_and_leaves_only_finished_cache_blobs(node):
    before = node.run("losetup", "-a").stdout
    bad = f"vbr=kernel:{KERNEL}:-1:none:none:file:///nowhere/{KERNEL}.img"
    rc, tool = node.imager(CACHE, WORK, "prepare", node.vbrs[0], bad)
    assert rc == 1 and "no such regular file" in tool.errors[0]
    assert node.run("test", "-e", "/var/lib/imager/work").rc == 1
    assert node.run("dmsetup", "ls").stdout == "No devices found\n"
    assert node.run("losetup", "-a").stdout == before


def test_action_download_fills_the_cache_and_convert_downloads_nothing(node):
    rc, tool = node.imager(CACHE, WORK, "prepare", "action=convert", node.vbrs[0])
    assert rc == 1 and "action=convert" in tool.errors[0]
    rc, tool = node.imager(CACHE, WORK, "prepare", "action=download", node.vbrs[0])
    assert rc == 0, tool.errors
    assert node.run("dmsetup", "ls").stdout == "No devices found\n"       # no disk yet
    assert any(line.startswith(f"/var/lib/imager/cache/{ROOT}-") for line in
               node.run("find", "/var/lib/imager/cache", "-name", "blocks").stdout.replace("/blocks", "").split())
    rc, tool = node.imager(CACHE, WORK, "prepare", "action=convert", "out=dsk-conv", node.vbrs[0])
    assert rc == 0, tool.errors
    assert "euca-dsk-conv" in node.run("dmsetup", "ls").stdout


def test_extract_copies_a_partition_out_and_refuses_to_overwrite(node):
    node.run("mkdir", "-p", "/var/tmp")
    rc, tool = node.imager(CACHE, WORK, "prepare", "out=dsk-x", node.vbrs[0], "extract", "out=/var/tmp/root.img")
    assert rc == 0, tool.errors
    assert node.run("cmp", "/var/tmp/root.img", f"/var/lib/nc-harness/images/{ROOT}.img").rc == 0
    rc, tool = node.imager(CACHE, WORK, "extract", "in=/dev/mapper/euca-dsk-x", "out=/var/tmp/root.img")
    assert rc == 1 and tool.errors == ["extract: out: /var/tmp/root.img exists"]
    rc, tool = node.imager(CACHE, WORK, "extract", "in=/dev/mapper/euca-dsk-x", "out=/var/tmp/p9", "partition=9")
    assert rc == 1 and "has no partition 9" in tool.errors[0]
    rc, tool = node.imager(CACHE, WORK, "purge_cache=yes", "fsck")
    assert rc == 0 and node.run("losetup", "-a").stdout == ""


def test_the_cache_limit_is_the_original_lru_store(node):
    rc, tool = node.imager(CACHE, WORK, "cache_size=10m", "prepare", node.vbrs[0])
    # the 64 MiB root does not fit a 10 MiB cache: it is built in the work store and gone at exit (euca-zero,
    # which NC never removes, stays)
    assert rc == 0, tool.errors
    assert node.run("dmsetup", "ls").stdout == "euca-zero\t(253:0)\n"
    assert node.run("losetup", "-a").stdout == ""


# image preparation tools -------------------------------------------------------------------------
def _io(node):
    from engine.nodeio import NodeIO
    return NodeIO(node.host, clock=VirtualClockAdapter(node.host.node.clock))


def test_stamp_writes_the_starter_images_fields_inside_the_image(node):
    from engine.imager.stamp import stamp
    io = _io(node)
    image = f"/var/lib/nc-harness/images/{ROOT}.img"
    text = stamp(io, image, "euca-debian-emi", "2011.08.15", "x86_64", "debian-based", lambda n: "t" * n)
    now = io.clock.now()
    import hashlib
    import time
    digest = hashlib.md5(f"{int(now)}\n".encode(), usedforsecurity=False).hexdigest()
    assert text == ("image_name=euca-debian-emi\nimage_version=2011.08.15\nimage_arch=x86_64\n"
                    f"image_file={ROOT}.img\nimage_stamp={digest[:4]}-{digest[4:8]}\n"
                    f"image_date={time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}\nrecipe_name=debian-based\n")
    assert node.read_in_fs(image, "etc/image-id").decode() == text
    # nothing of the tool's is left on the node
    assert node.run("losetup", "-a").stdout == "" and "nc-harness-image" not in node.run("ls", "/tmp").stdout


def test_stamp_follows_no_symlink_out_of_the_image_and_refuses_bad_fields(node):
    from engine.imager.mounts import ImageToolError
    from engine.imager.stamp import stamp
    images = StagedImages([ImageSpec("emi-5EED0001", 8 << 20, "ext3",
                                     symlinks={"etc/image-id": "/../../../../outside-id"})])
    images.stage(node.host)
    image = "/var/lib/nc-harness/images/emi-5EED0001.img"
    io = _io(node)
    stamp(io, image, "n", "1", "x86_64", "r", lambda n: "s" * n)
    assert node.run("test", "-e", "/outside-id").rc == 1            # the node's / untouched
    assert b"image_name=n\n" in node.read_in_fs(image, "outside-id")   # the link, read inside the guest
    for bad in ("two words", "new\nline", ""):
        with pytest.raises(ImageToolError, match="--name"):
            stamp(io, image, bad, "1", "x86_64", "r", lambda n: "s" * n)
    with pytest.raises(ImageToolError, match="cannot mount"):
        node.run("truncate", "-s", "1M", "/tmp/blank.img")
        stamp(io, "/tmp/blank.img", "n", "1", "x86_64", "r", lambda n: "b" * n)
    assert node.run("losetup", "-a").stdout == ""


def test_stamp_on_the_command_line_says_one_line_when_the_image_is_missing(capsys):
    from harness.cli.main import main
    assert main(["image", "stamp", "/nowhere.img", "--name", "n", "--version", "1", "--arch", "x86_64",
                 "--recipe", "r", "--backend", "sim"]) == 1
    assert capsys.readouterr().err == "nc-harness image stamp: /nowhere.img: no such image file on the node\n"


def _ext3_with_garbage_in_free_blocks(path: str) -> bytes:
    """A real mke2fs over a file full of 0xA5: every free block holds data zerofree must clear."""
    import subprocess
    with open(path, "wb") as fh:
        fh.write(b"\xa5" * (8 << 20))
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext3", "-E", "nodiscard", path], check=True,
                   env={"E2FSPROGS_FAKE_TIME": "1700000000", "PATH": "/usr/sbin:/sbin:/usr/bin:/bin"})
    with open(path, "rb") as fh:
        return fh.read()


@pytest.mark.skipif(not __import__("shutil").which("zerofree", path="/usr/sbin:/sbin:/usr/bin:/bin"),
                    reason="needs the real zerofree (apt-get install zerofree; .ci/run installs it)")
def test_the_simulated_zerofree_writes_the_same_bytes_as_the_real_one(tmp_path):
    import subprocess
    path = str(tmp_path / "fs.img")
    before = _ext3_with_garbage_in_free_blocks(path)
    subprocess.run(["zerofree", path], check=True, env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin"})
    real = open(path, "rb").read()
    assert real != before
    host = SimHost()
    host.run(["dd", "of=/tmp/fs.img", "bs=1M", "status=none"], before.decode("utf-8", "surrogateescape"))
    result = host.run(["zerofree", "/tmp/fs.img"])
    assert (result.rc, result.stdout, result.stderr) == (0, "", "")
    simulated = host.run(["cat", "/tmp/fs.img"]).stdout.encode("utf-8", "surrogateescape")
    assert simulated == real


def test_the_simulated_zerofree_refuses_as_the_real_one_does():
    host = SimHost()
    host.run(["truncate", "-s", "8M", "/tmp/blank.img"])
    for argv, err in ((["zerofree"], "usage: zerofree [-n] [-v] [-f fillval] filesystem\n"),
                      (["zerofree", "/tmp/blank.img"], "zerofree: failed to open filesystem /tmp/blank.img\n"),
                      (["zerofree", "/nonexist"], "zerofree: failed to open filesystem /nonexist\n")):
        result = host.run(argv)
        assert (result.rc, result.stderr) == (1, err)


def test_zerofree_on_an_image_with_deleted_data_shrinks_its_gzip_and_keeps_its_files(node):
    from engine.imager.zerofree import zero_free
    image = f"/var/lib/nc-harness/images/{ROOT}.img"
    node.run("mkdir", "-p", "/mnt/w")
    loop = node.run("losetup", "-f", "--show", image).stdout.strip()
    node.run("mount", loop, "/mnt/w")
    import random
    junk = random.Random(1).randbytes(2 << 20).decode("utf-8", "surrogateescape")
    assert node.host.run(["dd", "of=/mnt/w/junk", "bs=1M", "status=none"], junk).rc == 0
    node.host.run(["tee", "/mnt/w/keep"], "kept\n")
    node.run("rm", "/mnt/w/junk")
    node.run("umount", "/mnt/w")
    node.run("losetup", "-d", loop)
    before, after = zero_free(_io(node), image)
    assert after < before / 2, (before, after)
    assert node.read_in_fs(image, "keep") == b"kept\n"


def test_zerofree_on_the_command_line(capsys):
    from harness.cli.main import main
    assert main(["image", "zerofree", "/nowhere.img", "--backend", "sim"]) == 1
    assert capsys.readouterr().err == "nc-harness image zerofree: /nowhere.img: no such image file on the node\n"


def test_a_restarting_node_controller_leaves_the_imagers_devices_alone(tmp_path):
    """Both name their devices euca-...: NC's orphan sweep takes only devices resting on its own stores (the
    crash sweep found it removing a prepared disk of the imager's cache)."""
    from harness.scenario import load
    from harness.scenario.runner import run_scenario
    path = tmp_path / "both.yaml"
    path.write_text(f"""name: both
images:
  - {{id: {ROOT}, size: 16777216, content: ext3}}
steps:
  - imager:
      args: [cache=/var/lib/imager/cache, work=/var/lib/imager/work, prepare, out=dsk-kept,
             "vbr=machine:{ROOT}:-1:none:sda1:staged"]
  - restart_node: {{}}
  - expect:
      match: contains
      dmsetup table: |
        euca-dsk-kept: 0 63 linear 253:2 0
  - imager:
      args: [cache=/var/lib/imager/cache, work=/var/lib/imager/work, purge_cache=yes, fsck]
""")
    result = run_scenario(load(str(path)))
    assert result.ok, result.failure
