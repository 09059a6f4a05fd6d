"""The fast path's metadata round trips: one `stat` and one `cat` read several files, one `install` writes one
with its mode (or, where the node has busybox, one `busybox sh` each); all must give exactly what NC's
`cat`/`tee`+`chmod` give, and the simulator's tools must behave as this machine's GNU tools do."""
import shutil
import subprocess

import pytest
from engine_fixtures import recording_io

from engine.nodeio import NodeIO
from harness.backends.sim import SimHost

TRICKY = {
    "/tmp/m/sig": "line one\n/tmp/m/dm\n12\nfake record\n",   # looks like a record header
    "/tmp/m/empty": "",
    "/tmp/m/dm": "euca-a\neuca-b\n",
    "/tmp/m/bin": "\udcff\udcfe raw bytes",
}


def _node_io(fast: bool, busybox: bool = False):
    """`busybox`: the fast path may use the node's busybox (else it is told the node has none)."""
    io, _, commands = recording_io(fast=fast)
    io.busybox = None if busybox else False
    io.uses_busybox()   # the once-a-run probe, before anything is counted
    io.mkdirs("/tmp/m")
    for path, text in TRICKY.items():
        io.write(path, text)
    commands.clear()
    return io, commands


def test_read_files_is_a_stat_and_a_cat_and_reads_what_cat_reads():
    paths = list(TRICKY) + ["/tmp/m/missing", "/tmp/m"]
    slow, slow_cmds = _node_io(fast=False)
    fast, fast_cmds = _node_io(fast=True)
    expected = {p: text for p, text in TRICKY.items()}   # every regular file, the empty one too
    assert slow.read_files(paths) == expected
    assert [c[0] for c in slow_cmds] == ["test", "cat"] * len(TRICKY) + ["test", "test"]
    assert fast.read_files(paths) == expected
    assert [c[0] for c in fast_cmds] == ["stat", "cat"]
    fast_cmds.clear()
    assert fast.read_files(["/tmp/m/empty", "/tmp/m/missing"]) == {"/tmp/m/empty": ""}
    assert [c[0] for c in fast_cmds] == ["stat"]   # nothing has bytes: no cat
    fast_cmds.clear()
    stats, files = fast.stat_and_read(["/tmp/m/dm", "/tmp/m/missing"], ["/tmp/m/sig"])
    assert set(stats) == {"/tmp/m/dm"} and stats["/tmp/m/dm"][0] == len(TRICKY["/tmp/m/dm"])
    assert files == {"/tmp/m/sig": TRICKY["/tmp/m/sig"]} and len(fast_cmds) == 2


def test_with_busybox_a_read_is_one_program_and_reads_the_same():
    paths = list(TRICKY) + ["/tmp/m/missing", "/tmp/m"]
    io, cmds = _node_io(fast=True, busybox=True)
    assert io.read_files(paths) == dict(TRICKY)
    assert [c[:2] for c in cmds] == [["busybox", "sh"]]
    cmds.clear()
    stats, files = io.stat_and_read(["/tmp/m/dm", "/tmp/m/missing"], ["/tmp/m/sig", "/tmp/m/empty"])
    assert set(stats) == {"/tmp/m/dm"} and stats["/tmp/m/dm"][0] == len(TRICKY["/tmp/m/dm"])
    assert files == {"/tmp/m/sig": TRICKY["/tmp/m/sig"], "/tmp/m/empty": ""} and len(cmds) == 1


def test_with_busybox_a_link_and_a_read_are_one_program():
    io, cmds = _node_io(fast=True, busybox=True)
    made, found = io.link_and_read("me", "/tmp/m/lock.owner", ["/tmp/m/dm"], ["/tmp/m/sig"])
    assert made and found == ({"/tmp/m/dm": found[0]["/tmp/m/dm"]}, {"/tmp/m/sig": TRICKY["/tmp/m/sig"]})
    assert len(cmds) == 1 and io.readlink("/tmp/m/lock.owner") == "me"
    cmds.clear()
    assert io.link_and_read("other", "/tmp/m/lock.owner", ["/tmp/m/dm"], ["/tmp/m/sig"]) == (False, None)
    assert len(cmds) == 1 and io.readlink("/tmp/m/lock.owner") == "me"   # held: nothing read, nothing changed


def test_a_node_without_busybox_is_asked_once_and_gets_the_coreutils_path():
    host = SimHost(dialect="el6")
    commands = []
    run = host.run
    host.run = lambda argv, stdin=None: (commands.append(argv[0]), run(argv, stdin))[1]
    io = NodeIO(host)
    io.fast = True
    io.mkdirs("/tmp/m")
    io.write_with_mode("/tmp/m/a", "x", 0o660)
    io.write_with_mode("/tmp/m/b", "y", 0o660)
    assert commands == ["busybox", "mkdir", "install", "install"] and io.busybox is False
    assert io.read_files(["/tmp/m/a", "/tmp/m/b"]) == {"/tmp/m/a": "x", "/tmp/m/b": "y"}


def test_read_files_falls_back_when_the_bytes_do_not_add_up():
    fast, cmds = _node_io(fast=True)   # coreutils' stat, then cat: a file can change between them
    stat = fast.quiet

    def shrinking(argv, stdin=None, check=True):
        if argv[0] == "cat" and len(argv) > 2:   # a file rewritten between the stat and the cat
            fast.write("/tmp/m/dm", "x\n")
        return stat(argv, stdin, check)
    fast.quiet = shrinking
    assert fast.read_files(["/tmp/m/sig", "/tmp/m/dm"]) == {"/tmp/m/sig": TRICKY["/tmp/m/sig"], "/tmp/m/dm": "x\n"}


def test_write_with_mode_is_one_install_on_the_fast_path():
    for fast, busybox, count in ((False, False, 2), (True, False, 1), (True, True, 1)):
        io, cmds = _node_io(fast, busybox)
        io.write_with_mode("/tmp/m/lock", "owner/1", 0o660)
        assert len(cmds) == count
        assert io.quiet(["stat", "-c", "%a %s", "/tmp/m/lock"]).stdout == "660 7\n"
        assert io.read("/tmp/m/lock") == "owner/1"


SETUP = ("rm -rf {d} && mkdir -p {d}/sub && printf 'a\\nb' > {d}/one && : > {d}/empty && "
         "printf 'x\\n' > {d}/two && echo s > {d}/sub/deep; ")
FIND_CASES = [
    "find {d}/one {d}/missing {d}/empty {d}/two {d} -maxdepth 0 -type f -printf '%p\\n%s\\n' -exec cat {{}} \\;",
    "find {d} -maxdepth 1 -type f -name 'o*' -printf '%f|%%|\\t\\n'", "find {d} -maxdepth 0",
    "find {d} -type f -name deep", "find {d}/one -exec", "find {d}/one -maxdepth", "find {d}/one -printf",
    "find {d}/one -maxdepth x", "find {d}/one -maxdepth 0 -exec echo X {{}} Y \\;",
    "find {d}/one -maxdepth 0 -exec false \\; -printf never",
]
INSTALL_CASES = [
    "echo hello > {d}/ex && printf 'new\\n' | install -m 0660 /dev/stdin {d}/ex && stat -c '%a %s' {d}/ex "
    "&& cat {d}/ex",
    "install -m 0660 /dev/stdin {d}/nonexist/x < /dev/null", "install -m 0660 {d}/nope {d}/x2",
    "install -m 9999 /dev/stdin {d}/x3 </dev/null",
    "mkdir -p {d}/idir && echo q | install -m 0600 /dev/stdin {d}/idir && stat -c '%a %s' {d}/idir/stdin",
    "echo z > {d}/src1 && install {d}/src1 {d}/dst1 && stat -c '%a' {d}/dst1",
    "printf 'abc' | install -m 0660 /proc/self/fd/0 {d}/pfd && stat -c '%a %s' {d}/pfd && cat {d}/pfd",
]


@pytest.mark.skipif(shutil.which("find") is None or shutil.which("install") is None, reason="needs GNU tools")
@pytest.mark.parametrize("case", FIND_CASES + INSTALL_CASES)
def test_find_and_install_like_gnu(case, tmp_path):
    real_dir = str(tmp_path / "fx")
    script = SETUP + case
    real = subprocess.run(["bash", "-c", script.format(d=real_dir)], capture_output=True, text=True,
                          env={"LANG": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    sim = SimHost().node.sh(script.format(d="/tmp/fx"))
    assert (sim.rc, sim.stdout, sim.stderr) == (real.returncode, real.stdout.replace(real_dir, "/tmp/fx"),
                                                real.stderr.replace(real_dir, "/tmp/fx"))
