"""The simulator's busybox (simulator/tools/busybox.py, simulator/ash.py) against the real busybox-static binary:
the same commands in the same tree give the same exit status, stdout and stderr, byte for byte."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from simulator.node import Node

CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", os.path.expanduser("~/.cache/nc-harness/nodes/rootfs/bin/busybox"))


def _version(path: str) -> str:
    return subprocess.run([path], capture_output=True, text=True).stdout.split("\n", 1)[0]


# the texts modelled are 1.35's (Debian 12's busybox and busybox-static, and our nodes' image)
REAL = next((p for p in CANDIDATES if os.path.exists(p) and "BusyBox v1.35." in _version(p)), None)

ROOT = "/tmp/nc-harness-busybox-check"
# (argv after `busybox`, stdin): the applets and script shapes the engine's fast path sends, and their failures
CASES = [
    (["rm", "-f", f"{ROOT}/nodir/x"], None),
    (["rm", "-f", f"{ROOT}/d"], None),
    (["rm", f"{ROOT}/nofile"], None),
    (["rm", "-f", f"{ROOT}/l", f"{ROOT}/nofile"], None),
    (["ln", "-s", "x", f"{ROOT}/f"], None),
    (["ln", "-s", "token", f"{ROOT}/f.owner"], None),
    (["ln", "-sfn", "x", f"{ROOT}/d/y"], None),
    (["ln", "-s", "x", f"{ROOT}/nodir/y"], None),
    (["cat", f"{ROOT}/nofile"], None),
    (["cat", f"{ROOT}/d"], None),
    (["cat", f"{ROOT}/f", f"{ROOT}/nofile", f"{ROOT}/f"], None),
    (["stat", "-c", "%s %f %n", f"{ROOT}/f", f"{ROOT}/nofile", f"{ROOT}/l"], None),
    (["chmod", "0660", f"{ROOT}/nofile"], None),
    (["chmod", "0660", f"{ROOT}/f"], None),
    (["tee", f"{ROOT}/nodir/x"], "data\n"),
    (["tee", f"{ROOT}/d"], "data\n"),
    (["tee", f"{ROOT}/new"], "data\n"),
    (["truncate", "-s", "5", f"{ROOT}/nodir/x"], None),
    (["truncate", "-s", "4096", f"{ROOT}/sparse"], None),
    (["mkdir", "-p", f"{ROOT}/f/x/y"], None),
    (["mkdir", "-p", f"{ROOT}/d/x/y/z"], None),
    (["mkdir", f"{ROOT}/d"], None),
    (["rmdir", f"{ROOT}/d"], None),
    (["rmdir", f"{ROOT}/f"], None),
    (["rmdir", f"{ROOT}/nodir"], None),
    (["chown", "root", f"{ROOT}/f"], None),
    (["chown", "root", f"{ROOT}/nofile"], None),
    (["chown", "nosuchuser", f"{ROOT}/f"], None),
    (["readlink", f"{ROOT}/l"], None),
    (["readlink", f"{ROOT}/f"], None),
    (["sh", "-c", 'tee "${1}" >/dev/null && chmod 0660 "${1}" || exit 10', "sh", f"{ROOT}/w"], "a\nb\n"),
    (["sh", "-c", 'tee "${1}" >/dev/null && chmod 0660 "${1}" || exit 10; rm -f "${2}"', "sh",
      f"{ROOT}/nodir/w", f"{ROOT}/f"], "text"),
    (["sh", "-c", 'ln -s t "${1}" || exit 10; stat -c "%s %f %n" "${2}" "${3}"; echo :; cat "${2}" "${3}" 2>/dev/null',
      "sh", f"{ROOT}/f.owner", f"{ROOT}/f", f"{ROOT}/nofile"], None),
    (["sh", "-c", 'ln -s t "${1}" || exit 10; stat -c "%s %f %n" "${2}"', "sh", f"{ROOT}/f", f"{ROOT}/f"], None),
    (["sh", "-c", 'mkdir -p "${1}" && tee "${2}" >/dev/null && chmod 0600 "${2}" && cat "${2}"', "sh", f"{ROOT}/nd",
      f"{ROOT}/nd/k"], "key text\n"),
    (["sh", "-c", 'echo x > "${1}"', "sh", f"{ROOT}/nodir/x"], None),
    (["sh", "-c", 'echo x > "${1}"', "sh", f"{ROOT}/d"], None),
    (["sh", "-c", 'nosuchprogram "$@"; exit 7', "sh", "a"], None),
    (["sh", "-c", 'echo "$#" "${2}" "$@"', "sh", "a", "b c", "d"], None),
    (["sh", "-c", 'false || exit 12; rm -f "${1}"', "sh", f"{ROOT}/f"], None),
    (["sh", "-c", 'true && rm "${1}" || exit 13', "sh", f"{ROOT}/nofile"], None),
]


def _tree_on_host() -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(f"{ROOT}/d")
    with open(f"{ROOT}/f", "w") as fh:
        fh.write("hi\n")
    os.symlink("f", f"{ROOT}/l")


def _tree_in_simulator(node: Node) -> None:
    for argv in (["mkdir", "-p", f"{ROOT}/d"], ["ln", "-s", "f", f"{ROOT}/l"]):
        assert node.run(argv).rc == 0
    assert node.run(["tee", f"{ROOT}/f"], "hi\n").rc == 0


def _masked(text: str) -> str:
    return re.sub(r"\b81[0-9a-f]{2}\b", "81xx", text)   # a new file's mode follows the umask of whoever made it


@pytest.mark.skipif(REAL is None, reason="no busybox 1.35 here (apt-get install busybox-static)")
@pytest.mark.parametrize("argv,stdin", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_simulated_busybox_says_what_the_real_one_says(argv, stdin):
    _tree_on_host()
    try:
        real = subprocess.run([REAL, *argv], input=stdin or "", capture_output=True, text=True)
        node = Node()
        _tree_in_simulator(node)
        sim = node.run(["busybox", *argv], stdin)
        assert (sim.rc, _masked(sim.stdout), sim.stderr) == (real.returncode, _masked(real.stdout), real.stderr)
        # and the tree is left the same: which names exist, and the files' bytes
        for name in ("f", "w", "new", "sparse", "d/y", "f.owner", "l"):
            path = f"{ROOT}/{name}"
            host_has = os.path.lexists(path)
            sim_has = node.run(["test", "-L" if os.path.islink(path) else "-e", path]).rc == 0
            assert sim_has == host_has, name
            if host_has and os.path.isfile(path) and not os.path.islink(path):
                with open(path) as fh:
                    assert node.run(["cat", path]).stdout == fh.read(), name
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)


def test_a_node_without_busybox_says_so_as_bash_does():
    node = Node("el6")
    result = node.run(["busybox", "true"])
    assert (result.rc, result.stderr) == (127, "bash: line 1: busybox: command not found\n")


def test_an_applet_in_a_script_is_a_command_faults_can_name():
    from simulator.faults import Fault
    node = Node()
    node.faults.add(Fault(r"^chmod 0660 /tmp/w$"))
    result = node.run(["busybox", "sh", "-c", 'tee "${1}" >/dev/null && chmod 0660 "${1}" || exit 10; rm -f "${1}"',
                       "sh", "/tmp/w"], "x")
    assert result.rc == 10
    assert node.run(["cat", "/tmp/w"]).stdout == "x"   # written, not chmodded, and the script stopped there
