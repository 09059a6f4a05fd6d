"""`image resize` (seed 002's procedure) and the tools it needs from the simulator: GNU cp's tree copy and mknod,
checked against the real cp on this machine, and the resize itself on the simulator and with real tools on this
machine's loop devices."""
import os
import shutil
import subprocess
import uuid

import pytest

from engine.imager.mounts import ImageToolError
from engine.imager.resize import parse_size, read_superblock, resize
from engine.nodeio import NodeIO, VirtualClockAdapter
from harness.backends.sim import SimHost

TOOLS = "/usr/sbin:/sbin:/usr/bin:/bin"


def _real(argv, cwd):
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={"PATH": TOOLS, "LC_ALL": "C"})
    return proc.returncode, proc.stderr


# cp and mknod: the simulator's against the real tools ------------------------------------------------
CP_CASES = [
    ["cp"],
    ["cp", "x"],
    ["cp", "nosuch", "y"],
    ["cp", "d", "e"],
    ["cp", "f", "g", "h"],
    ["cp", "f", "f2", "f3"],
    ["cp", "-a", "d", "f"],
    ["cp", "-a", "d", "d/sub"],
    ["cp", "-y", "f", "g"],
    ["cp", "--bogus", "f", "g"],
    ["mknod"],
    ["mknod", "pp", "p"],
    ["mknod", "c1", "c"],
    ["mknod", "x", "q", "1", "2"],
    ["mknod", "nodir/x", "p"],
    ["mv"],
    ["mv", "f"],
    ["mv", "nosuch", "y"],
]


@pytest.mark.parametrize("argv", CP_CASES, ids=[" ".join(a) for a in CP_CASES])
def test_cp_and_mknod_fail_as_the_real_tools_do(tmp_path, argv):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "f").write_text("f\n")
    (tmp_path / "f2").write_text("f\n")
    os.mkfifo(tmp_path / "pp")
    sim = SimHost(dialect="debian12")
    for setup in (["mkdir", "-p", "/w/d/sub"], ["tee", "/w/f"], ["tee", "/w/f2"], ["mknod", "/w/pp", "p"]):
        assert sim.run(setup, "f\n").rc == 0
    sim.node.cwd = "/w"
    got = sim.run(argv)
    assert (got.rc, got.stderr) == _real(argv, tmp_path)


def _tree(run, root="R"):
    """A small root filesystem with every kind of entry `cp -a` has to carry."""
    for argv, stdin in (
            (["mkdir", "-p", "R/etc/ssh", "R/dev", "R/tmp", "R/usr/bin", "R/home/user"], None),
            (["chmod", "1777", "R/tmp"], None), (["chmod", "0700", "R/home/user"], None),
            (["tee", "R/etc/fstab"], "LABEL=/ / ext3 defaults 1 1\n"),
            (["chown", "500:500", "R/home/user"], None),
            (["tee", "R/home/user/notes"], "mine\n"), (["chown", "500:500", "R/home/user/notes"], None),
            (["tee", "R/usr/bin/tool"], "#!/bin/sh\n"), (["chmod", "4755", "R/usr/bin/tool"], None),
            (["ln", "R/usr/bin/tool", "R/usr/bin/tool-again"], None),
            (["ln", "-s", "usr/bin", "R/bin"], None),
            (["mknod", "R/dev/null", "c", "1", "3"], None), (["mknod", "R/dev/loop9", "b", "7", "9"], None),
            (["mknod", "R/dev/initctl", "p"], None),
            (["dd", "if=/dev/zero", "of=R/sparse", "bs=1", "count=1", "seek=3000000", "status=none"], None)):
        argv = [a.replace("R/", root + "/", 1) if a.startswith(("R/", "of=R/")) else a for a in argv]
        result = run(argv, stdin)
        assert result[0] == 0, (argv, result)


def _listing(run, root):
    """Every entry under root: type and mode string, owner, group, link count, and per kind the size (regular
    files), device numbers (devices) or target (symlinks). Not inode numbers or directory sizes, which differ
    between filesystems."""
    out = []
    for path in sorted(run(["find", root], None)[1].split()):
        mode, uid, gid, nlink, size, major, minor = run(["stat", "-c", "%A %u %g %h %s %t %T", path], None)[1].split()
        extra = {"-": size, "b": f"{major}:{minor}", "c": f"{major}:{minor}",
                 "l": run(["readlink", path], None)[1].strip()}.get(mode[0], "")
        out.append((path[len(root):] or "/", mode, uid, gid, "" if mode[0] == "d" else nlink, extra))
    return out


def _mtimes(run, root):
    paths = [p for p in sorted(run(["find", root], None)[1].split()) if not run(["test", "-L", p], None)[0] == 0]
    return [run(["stat", "-c", "%Y", p], None)[1].strip() for p in paths]


def test_cp_a_copies_a_tree_as_the_real_cp_does(tmp_path):
    def real_run(argv, stdin):
        proc = subprocess.run(argv, cwd=tmp_path, input=stdin, capture_output=True, text=True,
                              env={"PATH": TOOLS, "LC_ALL": "C"})
        return proc.returncode, proc.stdout, proc.stderr

    sim = SimHost(dialect="debian12")
    sim.run(["mkdir", "/w"])
    sim.node.cwd = "/w"

    def sim_run(argv, stdin):
        result = sim.run(argv, stdin)
        return result.rc, result.stdout, result.stderr

    listings = []
    for run in (real_run, sim_run):
        _tree(run)
        assert run(["cp", "-a", "R/.", "C/"], None) == (0, "", "")          # C made as R's copy
        assert run(["mkdir", "D"], None)[0] == 0
        assert run(["cp", "-a", "R/.", "D/"], None) == (0, "", "")          # R's entries into D
        assert run(["cp", "-r", "R/bin", "S"], None)[0] == 0                 # -R copies a symlink as one
        assert run(["readlink", "S"], None)[1] == "usr/bin\n"
        listings.append((_listing(run, "R"), _listing(run, "C"), _listing(run, "D")))
        assert _mtimes(run, "R") == _mtimes(run, "C")
        assert _mtimes(run, "R")[1:] == _mtimes(run, "D")[1:]
    assert listings[0][0] == listings[0][1] == listings[0][2]
    assert listings[1] == listings[0]


# resize on the simulator ---------------------------------------------------------------------------
@pytest.fixture
def sim():
    host = SimHost(dialect="debian12", seed=5)
    io = NodeIO(host, clock=VirtualClockAdapter(host.node.clock))

    def run(*argv, stdin=None):
        return host.run(list(argv), stdin)
    run("mkdir", "-p", "/images", "/mnt/r")
    run("truncate", "-s", "1G", "/images/root.img")
    assert run("mke2fs", "-q", "-F", "-t", "ext3", "-L", "/", "/images/root.img").rc == 0
    loop = run("losetup", "-f", "--show", "/images/root.img").stdout.strip()
    run("mount", loop, "/mnt/r")
    host.node.cwd = "/mnt"
    _tree(lambda argv, stdin: _triple(host.run(argv, stdin)), "r")
    run("umount", "/mnt/r")
    run("losetup", "-d", loop)
    run("cp", "/images/root.img", "/images/root.orig")
    return host, io, run


def _triple(result):
    return result.rc, result.stdout, result.stderr


def _state(run):
    return run("losetup", "-a").stdout, run("mount").stdout, run("dmsetup", "table").stdout


def test_resize_grows_1g_to_4g_with_the_tree_label_and_uuid_and_leaves_the_old_image_alone(sim):
    host, io, run = sim
    before = _state(run)
    old = read_superblock(io, "/images/root.img")
    done = resize(io, "/images/root.img", parse_size("4G"), "/images/new_root.img", lambda n: "t" * n)
    assert done.line().startswith("/images/root.img: ext3, 1073741824 bytes, ")
    assert done.line().endswith(" -> /images/new_root.img: 4294967296 bytes")
    assert _state(run) == before                                  # no loop, mount or dm device left
    assert run("cmp", "/images/root.img", "/images/root.orig").rc == 0
    new = read_superblock(io, "/images/new_root.img")
    assert (new.blocks * new.block_size, new.kind, new.label, new.uuid) == (4 << 30, "ext3", "/", old.uuid)
    listings = []
    for image in ("/images/root.img", "/images/new_root.img"):
        loop = run("losetup", "-f", "--show", "-r", image).stdout.strip()
        run("mount", "-o", "ro", loop, "/mnt/r")
        listings.append(_listing(lambda argv, stdin: _triple(host.run(argv, stdin)), "/mnt/r"))
        run("umount", "/mnt/r")
        run("losetup", "-d", loop)
    # the same entries, kinds, modes (set-uid and sticky too), owners, sizes, device numbers, link counts and
    # symlink targets; only inode numbers may differ, and stat -c above does not print them
    assert listings[1] == listings[0]
    assert ("/dev/loop9", "brw-r--r--", "0", "0", "1", "7:9") in listings[1]
    assert ("/usr/bin/tool", "-rwsr-xr-x", "0", "0", "2", "10") in listings[1]


def test_resize_refuses_a_size_below_the_blocks_in_use_and_changes_nothing(sim):
    host, io, run = sim
    before = _state(run), run("find", "/images").stdout
    with pytest.raises(ImageToolError, match=r"/images/root.img: \d+ bytes in use; --size 1048576 bytes cannot"):
        resize(io, "/images/root.img", parse_size("1M"), "/images/small.img", lambda n: "t" * n)
    assert (_state(run), run("find", "/images").stdout) == before


def test_resize_that_runs_out_of_space_while_copying_removes_the_new_image_and_detaches_everything(sim):
    host, io, run = sim
    # few inodes and no journal: the old filesystem spends almost nothing on metadata, a new default one more
    run("truncate", "-s", "64M", "/images/data.img")
    assert run("mke2fs", "-q", "-F", "-t", "ext2", "-N", "128", "/images/data.img").rc == 0
    loop = run("losetup", "-f", "--show", "/images/data.img").stdout.strip()
    run("mount", loop, "/mnt/r")
    assert run("dd", "if=/dev/zero", "of=/mnt/r/filler", "bs=1M", "count=40", "status=none").rc == 0
    run("umount", "/mnt/r")
    run("losetup", "-d", loop)
    used = read_superblock(io, "/images/data.img").used_bytes
    before = _state(run)
    with pytest.raises(ImageToolError, match=r"/images/new.img: out of space copying the tree \(cp: error writing "
                                             r"'/tmp/nc-harness-new-tttttt/\./filler': No space left on device\)"):
        resize(io, "/images/data.img", used + (256 << 10), "/images/new.img", lambda n: "t" * n)
    assert _state(run) == before
    assert run("test", "-e", "/images/new.img").rc == 1
    assert run("find", "/tmp").stdout == "/tmp\n"


def test_resize_refuses_what_it_cannot_copy_safely(sim):
    host, io, run = sim
    run("truncate", "-s", "8M", "/images/blank.img")
    with pytest.raises(ImageToolError, match="/images/blank.img: not an ext2/ext3 filesystem image"):
        resize(io, "/images/blank.img", 16 << 20, "/images/x.img", str)
    run("mkfs.ext4", "-q", "-F", "/images/blank.img")
    assert run("truncate", "-s", "0", "/images/x.img").rc == 0
    with pytest.raises(ImageToolError, match="/images/x.img: exists; resize never overwrites"):
        resize(io, "/images/root.img", 4 << 30, "/images/x.img", str)
    loop = run("losetup", "-f", "--show", "/images/root.img").stdout.strip()
    with pytest.raises(ImageToolError, match=f"/images/root.img: attached to {loop}; unmount and detach"):
        resize(io, "/images/root.img", 4 << 30, "/images/y.img", str)
    run("losetup", "-d", loop)
    with pytest.raises(ImageToolError, match="no such image file"):
        resize(io, "/images/none.img", 4 << 30, "/images/y.img", str)
    run("truncate", "-s", "16M", "/images/tiny.img")
    run("mke2fs", "-q", "-F", "-t", "ext2", "/images/tiny.img")
    with pytest.raises(ImageToolError, match="--size 4194304 bytes: the new image must be 8 MiB at least"):
        resize(io, "/images/tiny.img", 4 << 20, "/images/y.img", str)
    assert run("test", "-e", "/images/y.img").rc == 1


@pytest.mark.parametrize("text", ["4Q", "", "G", "-1G", "1.5G", "0"])
def test_bad_sizes_are_one_line_errors(text):
    with pytest.raises(ImageToolError, match=f"--size '{text}': a number of bytes"):
        parse_size(text)


def test_resize_on_the_command_line(capsys):
    from harness.cli.main import main
    assert main(["image", "resize", "/nowhere.img", "--size", "4G", "--backend", "sim"]) == 1
    assert capsys.readouterr().err == "nc-harness image resize: /nowhere.img: no such image file on the node\n"
    assert main(["image", "resize", "/nowhere.img", "--size", "4Q", "--backend", "sim"]) == 2
    assert capsys.readouterr().err == ("nc-harness image resize: --size '4Q': a number of bytes, optionally "
                                       "followed by K, M, G or T (powers of 1024)\n")


# resize with the real tools on this machine -------------------------------------------------------------
def _have_loops() -> bool:
    return os.geteuid() == 0 and os.path.exists("/dev/loop-control") and shutil.which("mke2fs", path=TOOLS)


@pytest.mark.skipif(not _have_loops(), reason="needs root, loop devices and e2fsprogs on this machine")
def test_resize_with_the_real_tools_on_this_machine(tmp_path, capsys):
    from harness.cli.main import main
    image = str(tmp_path / "root.img")
    subprocess.run(["truncate", "-s", "64M", image], check=True)
    fixed = str(uuid.UUID(int=7))
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext3", "-L", "/", "-U", fixed, image], check=True,
                   env={"PATH": TOOLS})
    mnt = tmp_path / "m"
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop", image, str(mnt)], check=True)
    try:
        os.chdir(mnt)
        os.makedirs("etc")
        open("etc/fstab", "w").write("LABEL=/ / ext3 defaults 1 1\n")
        os.symlink("etc/fstab", "fstab")
        os.mkfifo("fifo")
        os.link("etc/fstab", "hard")
        os.chown("etc", 500, 500)
    finally:
        os.chdir(tmp_path)
        subprocess.run(["umount", str(mnt)], check=True)
    original = open(image, "rb").read()
    loops_before = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert main(["image", "resize", image, "--size", "128M"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{image}: ext3, 67108864 bytes, ") and out.endswith(f"{tmp_path}/new_root.img: "
                                                                             "134217728 bytes\n")
    assert open(image, "rb").read() == original
    assert subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout == loops_before
    new = str(tmp_path / "new_root.img")
    fsck = subprocess.run(["e2fsck", "-fn", new], capture_output=True, text=True, env={"PATH": TOOLS})
    assert fsck.returncode == 0, fsck.stdout
    info = subprocess.run(["dumpe2fs", "-h", new], capture_output=True, text=True, env={"PATH": TOOLS}).stdout
    assert "Filesystem volume name:   /\n" in info and f"Filesystem UUID:          {fixed}\n" in info
    listing = subprocess.run(["debugfs", "-R", "ls -l /", new], capture_output=True, text=True,
                             env={"PATH": TOOLS}).stdout
    for name in ("etc", "fstab", "fifo", "hard", "lost+found"):
        assert f" {name}" in listing
    stat = subprocess.run(["debugfs", "-R", "stat /etc", new], capture_output=True, text=True,
                          env={"PATH": TOOLS}).stdout
    assert "User:   500   Group:   500" in stat
