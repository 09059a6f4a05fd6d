"""The engine's fast path (NodeConfig.fast_path): fewer and cheaper commands, the same devices and bytes."""
import hashlib
import os

import pytest
from conftest import ROOT

from harness.backends.sim import SimHost
from harness.scenario import load
from harness.scenario.runner import run_scenario, snapshot

SCENARIOS = ["cold-cache", "warm-cache", "termination-cleanup", "seed-two-instances"]


def _run(name: str, fast: bool):
    sc = load(os.path.join(ROOT, "scenarios", f"{name}.yaml"))
    if fast:
        sc.fast_path()
    else:
        sc.steps = [s for s in sc.steps if s.kind != "expect_commands"]
    host = SimHost(dialect=sc.dialect, seed=sc.seed)
    states, kernels = [], []

    def on_step(result, step):
        states.append(snapshot(host))
        work = sc.node.get("instances_path", "/var/lib/eucalyptus/instances") + "/work"
        links = host.run(["find", work, "-name", "link-to-kernel"]).stdout.split()
        contents = [host.run(["cat", link]).stdout.encode("utf-8", "surrogateescape") for link in links]
        kernels.append(sorted(hashlib.sha1(c, usedforsecurity=False).hexdigest() for c in contents))
    result = run_scenario(sc, host=host, on_step=on_step)
    assert result.ok, result.failure
    return result, states, kernels


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_fast_path_builds_the_same_devices_and_bytes_with_fewer_commands(name):
    slow, slow_states, slow_kernels = _run(name, fast=False)
    fast, fast_states, fast_kernels = _run(name, fast=True)
    assert fast_states == slow_states                  # losetup -a, dmsetup table/ls/info before every step
    assert fast_kernels == slow_kernels and any(fast_kernels)
    fast_commands = [c.text for c in fast.recorder.commands]
    assert len(fast_commands) < len(slow.recorder.commands)
    assert not any(" bs=16 " in c or " bs=8 " in c for c in fast_commands)
    assert not any(c == "/sbin/losetup -f" for c in fast_commands)
    assert any(c.startswith("/bin/cp --reflink=auto --sparse=always ") for c in fast_commands)
    # a disk's snapshot and linear devices come from one dmsetup command, not one each (el6's lvm2 refuses
    # --concise once, and the engine makes them one by one from then on)
    creates = [c for c in fast_commands if "/sbin/dmsetup create" in c]
    slow_creates = [c for c in slow.recorder.commands if "/sbin/dmsetup create" in c.text]
    if load(os.path.join(ROOT, "scenarios", f"{name}.yaml")).dialect == "el6":
        assert sum("--concise" in c for c in creates) == 1 and len(creates) == len(slow_creates) + 1
    else:
        assert creates and all("--concise" in c or "euca-zero" in c for c in creates)
        assert len(creates) < len(slow_creates)


def test_scenarios_that_name_nc_commands_are_skipped_on_the_fast_path(capsys):
    from harness.cli.main import main
    assert main(["run", os.path.join(ROOT, "scenarios", "regressions", "e06-losetup-find-race.yaml"),
                 "--fast-path"]) == 0
    assert "SKIP e06-losetup-find-race: its faults name NC 3.3's exact commands" in capsys.readouterr().out


def test_the_simulated_cp_takes_gnu_copy_options_and_refuses_unknown_ones():
    from simulator.node import Node
    node = Node()
    node.run(["truncate", "-s", "1M", "/tmp/a"])
    assert node.run(["cp", "--reflink=auto", "--sparse=always", "/tmp/a", "/tmp/b"]).rc == 0
    assert node.run(["cp", "--reflink=always", "/tmp/a", "/tmp/c"]).stderr == \
        "cp: failed to clone '/tmp/c' from '/tmp/a': Operation not supported\n"
    assert node.run(["cp", "--sparse=sometimes", "/tmp/a", "/tmp/c"]).stderr == \
        "cp: invalid argument 'sometimes' for '--sparse'\n"
    assert node.run(["cp", "--frobnicate", "/tmp/a", "/tmp/c"]).stderr.startswith(
        "cp: unrecognized option '--frobnicate'\n")


def _io(dialect: str):
    from engine.nodeio import NodeIO, VirtualClockAdapter
    host = SimHost(dialect=dialect)
    host.run(["truncate", "-s", "1M", "/tmp/a"])
    host.run(["losetup", "/dev/loop0", "/tmp/a"])
    io = NodeIO(host, clock=VirtualClockAdapter(host.node.clock))
    io.fast = True
    return host, io


GOOD_AND_BAD = [("t-back", "0 1024 linear /dev/loop0 0"),
                ("t-snap", "0 1024 snapshot /dev/mapper/euca-none /dev/mapper/t-back n 16"),
                ("t", "0 1024 linear /dev/mapper/t-back 0")]


def test_batched_creation_reports_what_it_made_before_a_failure():
    from engine import diskutil
    from engine.errors import CommandError
    host, io = _io("debian12")
    created = []
    with pytest.raises(CommandError) as failed:
        diskutil.dm_create_all(io, GOOD_AND_BAD, created)
    assert failed.value.stderr.startswith("device-mapper: reload ioctl on t-snap (253:1) failed: ")
    # lvm2 made t-back, removed the t-snap it could not load, never reached t
    assert created == ["t-back"]
    assert host.run(["dmsetup", "ls"]).stdout == "t-back\t(253:0)\n"


def test_batched_creation_falls_back_to_one_command_each_where_dmsetup_has_no_concise():
    from engine import diskutil
    host, io = _io("el6")
    created = []
    diskutil.dm_create_all(io, [GOOD_AND_BAD[0], GOOD_AND_BAD[2]], created)
    assert created == ["t-back", "t"] and io.dm_concise is False
    assert sorted(host.run(["dmsetup", "ls"]).stdout.split()) == ["(253:0)", "(253:1)", "t", "t-back"]
    texts = [c.text for c in io.recorder.commands]
    assert sum("--concise" in t for t in texts) == 1 and texts[-2:] == [
        'echo "0 1024 linear /dev/loop0 0" | /sbin/dmsetup create t-back',
        'echo "0 1024 linear /dev/mapper/t-back 0" | /sbin/dmsetup create t']
