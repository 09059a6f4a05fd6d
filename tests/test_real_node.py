"""The real-node stage: a user-mode-linux node (kernel 6.1, Debian 12) built by `nc-harness node build`.

Skipped unless NC_REAL_NODE=1 (`.ci/run` sets it after building the node); with it set, a missing node
image is a failure, not a skip.
"""
import os

import pytest
from conftest import FIXTURES, ROOT

from harness.cli.main import main

REAL = os.environ.get("NC_REAL_NODE") == "1"
pytestmark = pytest.mark.skipif(not REAL, reason="real-node stage: NC_REAL_NODE=1 (CI sets it; needs "
                                                 "`nc-harness node build`)")
# the real kernel the differentials run on: the UML node, or the QEMU node (Debian's own 6.1 kernel) on a host
# whose CPU UML 6.1 cannot run on (`.ci/run` probes and sets NC_REAL_NODE_KIND=qemu there); what only the UML
# node can tell (its recordings, its ssh mode, its console's concurrency) is skipped then, with the reason
KIND = os.environ.get("NC_REAL_NODE_KIND", "uml")
uml_only = pytest.mark.skipif(KIND != "uml", reason="NC_REAL_NODE_KIND=qemu: the UML node cannot run on this "
                                                    "host's CPU (harness/nodes/uml.py UNSUPPORTED_CPU)")


@pytest.fixture(scope="module")
def node():
    from harness.nodes.uml import UmlNode
    with UmlNode() as n:      # NodeError here (no image) fails the stage loudly
        yield n


@uml_only
def test_node_runs_argv_with_binary_stdin_and_real_tools(node):
    rc, out, err = node.run(["dmsetup", "version"])
    assert rc == 0 and b"Driver version:    4.47.0" in out
    assert node.run(["losetup", "-a"]) == (0, b"", b"")
    assert node.run(["tee", "/tmp/b"], b"\x00\xff\n")[1] == b"\x00\xff\n"
    assert node.run(["sh", "-c", "echo e >&2; exit 7"]) == (7, b"", b"e\n")
    assert node.run(["stat", "-c", "%d", "/var/lib/eucalyptus"])[1] == b"25104\n"   # data disk: 98:16


@uml_only
def test_the_reference_transcript_replays_identically_on_our_node(node, tmp_path):
    """The oracle fixtures were recorded on such a node; our own node must reproduce them (inodes, UUIDs aside)."""
    from harness.replay.replayer import replay
    from harness.replay.trace import parse_transcript
    from hostapi import CommandResult, Host

    class Direct(Host):
        def run(self, argv, stdin=None):
            rc, out, err = node.run(list(argv), stdin)
            return CommandResult(rc, out.decode(errors="surrogateescape"), err.decode(errors="surrogateescape"))

    node.reset()
    node.run(["sh", "-c", "umount /var/lib/eucalyptus; mkdir -p /disk1/storage && rm -rf /disk1/storage/*"])
    commands = parse_transcript(open(os.path.join(FIXTURES, "uml", "transcript.txt")).read(), "transcript")
    outcome = replay(Direct(), commands, check=True)
    assert [f.describe("transcript") for f in outcome.failures] == []


def _shipped(pattern: str) -> list[str]:
    import glob
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))


def _debian12_scenarios() -> list[str]:
    from harness.scenario import load
    return [os.path.basename(p)[:-5] for p in _shipped("scenarios/*.yaml")
            if not load(os.path.join(ROOT, p)).unmet(KIND)]


def test_image_preparation_is_the_same_on_the_simulator_and_the_real_kernel(tmp_path, capsys):
    """prepare-image at 1/64 size: resize (real cp -a, mke2fs -U -L, a read-only mount of a read-only loop),
    stamp, Debian's zerofree, the imager's bundle, register, run, and the guest checks, step by step; names
    derived from the image's digest and its UUID are each backend's own."""
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from test_prepare_image import write_small
    path = write_small(str(tmp_path / "prepare-image.yaml"))
    assert main(["diff-run", path, "--backends", f"sim,{KIND}", "--ignore", "ids,uuids"]) == 0
    assert capsys.readouterr().out.startswith(f"SAME prepare-image (sim vs {KIND}")


@pytest.mark.parametrize("name", _debian12_scenarios())
def test_shipped_scenarios_are_the_same_on_the_simulator_and_the_real_kernel(name, capsys):
    """Before every step and at the end: losetup -a, dmsetup table/ls/info -c, every command's rc and stderr;
    and both runs pass. (seed-two-instances is el6: the node runs Debian 12 tools, so it is not run there.)
    boot-check's pass is the acceptance that the cold path's disk, built on the real kernel, boots to the guest
    kernel mounting its root (Debian's kernel and the node image's initrd as EKI/ERI, an ext3 EMI) under
    libvirt's qemu domain type."""
    assert main(["diff-run", os.path.join(ROOT, "scenarios", f"{name}.yaml"), "--backends", f"sim,{KIND}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"SAME {name} (sim vs {KIND}") and "commands; PASS" in out, out


@uml_only
def test_ssh_backend_through_testinfra_reproduces_our_own_recording():
    """The node in ssh mode (tap + sshd), driven by the ssh:// backend (pytest-testinfra, paramiko): the
    edge-case transcript recorded through the console replays identically over ssh."""
    import time

    from harness.backends.ssh import SshHost
    from harness.nodes.uml import UmlNode
    from harness.replay.replayer import replay
    from harness.replay.trace import parse_transcript
    with UmlNode(ssh=True) as node:
        for _ in range(40):
            try:
                host = SshHost(f"ssh://root@{node.node_ip}", node.key)
                break
            except Exception:  # noqa: BLE001 - sshd still starting
                time.sleep(0.5)
        else:
            pytest.fail("sshd on the node never answered")
        assert host.run(["tee", "/tmp/x"], "a'b $HOME\n").stdout == "a'b $HOME\n"
        commands = parse_transcript(open(os.path.join(FIXTURES, "uml-own", "edge-cases.transcript.txt")).read(),
                                    "edge-cases")
        outcome = replay(host, commands, keep_going=True, check=True)
        assert [f.describe("edge-cases") for f in outcome.failures] == []


@pytest.mark.xdist_group("node-up")      # one `current` node at a time: both kinds on one worker
@pytest.mark.parametrize("kind", [pytest.param("uml", marks=uml_only), pytest.param("qemu", marks=pytest.mark.qemu)])
def test_node_up_run_down_by_pid(kind, capsys, tmp_path):
    from harness.nodes.build import DEFAULT_DIR
    assert main(["node", "up", "--kind", kind]) == 0
    run_dir, pid = capsys.readouterr().out.split(" (pid ")
    pid = int(pid.rstrip(")\n"))
    try:
        assert main(["node", "run", "--", "sh", "-c", "echo hi; exit 5"]) == 5
        assert capsys.readouterr().out == "hi\n"
        assert main(["node", "run", "--", "uname", "-r"]) == 0
        version = open(os.path.join(DEFAULT_DIR, "kernel-version" if kind == "uml" else "qemu-kernel-version")).read()
        assert capsys.readouterr().out == version
    finally:
        assert main(["node", "down"]) == 0
    assert not os.path.exists(run_dir) and not os.path.exists(os.path.join(DEFAULT_DIR, "current"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize("trace", _shipped("scenarios/traces/*.log") + _shipped("tests/fixtures/uml-own/*.sh"))
def test_traces_replay_the_same_on_the_simulator_and_the_real_kernel(trace, capsys):
    assert main(["diff-run", os.path.join(ROOT, trace), "--backends", f"sim,{KIND}"]) == 0
    assert capsys.readouterr().out.startswith(f"SAME {os.path.basename(trace)} (sim vs {KIND}")


@pytest.mark.qemu
def test_qemu_backend_runs_a_scenario_on_debians_own_kernel(capsys):
    """The same node image under QEMU (TCG microvm) with Debian's 6.1 kernel: the cross-check of UML."""
    assert main(["diff-run", os.path.join(ROOT, "scenarios", "termination-cleanup.yaml"),
                 "--backends", "sim,qemu"]) == 0
    assert capsys.readouterr().out.startswith("SAME termination-cleanup (sim vs qemu")


@pytest.mark.qemu
def test_building_at_once_leaves_the_same_devices_on_a_real_kernel(capsys):
    """Three build workers on the QEMU node (its console serves requests in the background, so the workers'
    commands overlap there): the same devices, numbers aside, before every step as one at a time."""
    assert main(["run", os.path.join(ROOT, "scenarios", "cold-cache.yaml"), "--backend", "qemu", "--fast-path",
                 "--build-workers", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS cold-cache") and "3 build workers: same devices" in out


@uml_only
def test_concurrent_requests_overlap_on_the_node(node):
    import threading
    import time
    results = []
    threads = [threading.Thread(target=lambda: results.append(node.run(["sh", "-c", "sleep 1; echo $$"])))
               for _ in range(3)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - start < 2.5           # three one-second sleeps at once, not one after the other
    assert sorted(rc for rc, _, _ in results) == [0, 0, 0] and len({out for _, out, _ in results}) == 3


@uml_only
def test_operations_at_once_leave_the_same_device_shapes_on_a_real_kernel():
    """A concurrent scenario on the UML node, its operations on real threads at once (the node serves requests
    side by side): before every step and at the end, the same devices as the simulator's schedule left, numbers
    aside; and the operations did overlap there."""
    from harness.backends import make_host
    from harness.cli.diff_run import compare_runs
    from harness.scenario import load
    from harness.scenario.runner import run_scenario
    path = os.path.join(ROOT, "scenarios", "concurrent", "launches-and-a-terminate.yaml")
    sim = run_scenario(load(path))
    real = run_scenario(load(path), host=make_host("uml", dialect="debian12", seed=13))
    assert sim.ok and real.ok, (sim.failure, real.failure)
    assert compare_runs(sim, real, shapes=True) == []
    peaks = [int(line.split("up to ")[1].split()[0]) for line in real.log if "operations at once on the node" in line]
    assert peaks and max(peaks) >= 2, real.log[-5:]
