"""What several step kinds share when they run: the engine call with `expect_error`, a tool's exit check, the
device behind an instance's link, the guest's root device, and reading an expectation for an isolated run."""
from __future__ import annotations

import re

from engine.errors import OperationFailed
from harness.checks import state as node_state
from harness.scenario.registry import Field, ProcessDown, StepFailure
from hostapi import Capability, Unsupported
from simulator.faults import CrashPoint


def engine_call(args, nc, ctx, where, call):
    """An engine operation: a crash point takes the engine down, an expected error is a pass."""
    if ctx.crashed:
        raise ProcessDown(f"{where}: the engine is down (killed at '{ctx.crashed}'); add a restart_node step")
    try:
        call()
    except CrashPoint as exc:
        ctx.crashed = str(exc) or "a crash point"
        return nc
    except OperationFailed as exc:
        if "expect_error" in args and args["expect_error"] in str(exc):
            return nc
        raise StepFailure(f"{where}: {exc}") from None
    if "expect_error" in args:
        raise StepFailure(f"{where}: succeeded, expected an error containing '{args['expect_error']}'")
    return nc


def require(ctx, capability: Capability, where: str, what: str) -> None:
    """A step that needs what only some backends have fails as a step, in one line."""
    try:
        ctx.host.require(capability, what)
    except Unsupported as exc:
        raise StepFailure(f"{where}: {exc}") from None


# the fields of a step that runs a tool and checks how it ended (check_exit reads them)
TOOL_EXIT = (Field("expect_rc", int, False, "its exit status (default 0)"),
             Field("expect_error", str, False, "a part of its error text"))


def check_exit(args, rc: int, errors: str, where: str) -> None:
    """A tool step's `expect_rc` (default 0) and `expect_error` (a part of its error text)."""
    if rc != args.get("expect_rc", 0):
        raise StepFailure(f"{where}: exit {rc}, expected {args.get('expect_rc', 0)}"
                          + (f": {errors}" if errors else ""))
    if "expect_error" in args and args["expect_error"] not in errors:
        raise StepFailure(f"{where}: expected an error containing '{args['expect_error']}', got: {errors or 'none'}")


def linked_device(nc, ctx, inst, guest_device: str, where: str) -> str:
    """The device behind the instance's link-to-<guest device>, as the hypervisor would open it."""
    link = f"{nc.instance_dir(inst.user, inst.id)}/link-to-{guest_device}"
    target = ctx.host.run(["readlink", "-f", link])
    if target.rc != 0 or not target.stdout.strip():
        raise StepFailure(f"{where}: {link}: no such link")
    return target.stdout.strip()


def sim_hypervisor(ctx, where):
    require(ctx, Capability.HYPERVISOR, where, "a domain")
    hv = ctx.host.hypervisor()
    if hv is None:
        raise StepFailure(f"{where}: needs the simulator's hypervisor (node: hypervisor: {{}})")
    return hv


def guest_root(host, instance_id: str, where: str) -> str:
    """The device of the instance's root filesystem: partition 1 of its disk (libparted's NAME1 or NAMEp1), as
    the guest sees it. Not the emi work copy under it: the disk's table claims that one, and a real kernel
    refuses to mount a claimed device (EBUSY); without a disk, the emi work copy itself."""
    names = [line.split()[0] for line in host.run(["dmsetup", "ls"]).stdout.splitlines() if line.strip()]
    disks = [n for n in names if f"-{instance_id}-dsk-" in n and "-p0-" not in n]
    for disk in sorted(disks, key=len):
        for child in (disk + "p1", disk + "1"):
            if child in names:
                return f"/dev/mapper/{child}"
    roots = [n for n in names if f"-{instance_id}-emi-" in n and "-p0-" not in n]
    if not roots:
        raise StepFailure(f"{where}: no root device of {instance_id}")
    return f"/dev/mapper/{roots[0]}"


def isolate(text: str, ctx) -> str:
    """An expectation written for a lone node, read for an isolated run (own dm prefix and directory)."""
    if not ctx.isolation:
        return text
    path = ctx.scenario.node.get("instances_path", "/var/lib/eucalyptus/instances")
    text = re.sub(r"\beuca-(?!zero\b)", f"euca-{ctx.isolation}-", text)
    return text.replace(path + "/", f"{path}-{ctx.isolation}/")


def device_diff(command: str, expected_text: str, actual_outputs: dict, ignore: tuple) -> list[str]:
    """Per-device differences; empty when the listings only differ in order or spacing."""
    try:
        expected = node_state.from_outputs({command: expected_text, "dmsetup ls": actual_outputs["dmsetup ls"]})
        actual = node_state.from_outputs(actual_outputs)
    except node_state.StateError:
        return []
    expected.numbers = {**actual.numbers, **expected.numbers}
    return node_state.diff(expected, actual, ignore)
