"""What each scenario step does. A step either returns the (possibly new) controller or raises StepFailure."""
from __future__ import annotations

import copy
import re

from engine.controller import EngineError, NodeController

from . import state as node_state
from .compare import first_difference, mask
from .scenario import Step


class StepFailure(Exception):
    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.details = details or []


def run_step(step: Step, nc: NodeController, ctx) -> NodeController:
    """`ctx` is the ScenarioRun: host, recorder, images, server, controller factory, command mark."""
    where = f"step {step.index} ({step.label})"
    handler = HANDLERS[step.kind]
    if step.kind in ("run_instance", "terminate_instance", "restart_node"):
        ctx.mark = len(ctx.recorder.commands)
    return handler(step.args, nc, ctx, where)


def _engine(args, nc, ctx, where, call) -> NodeController:
    from simulator.faults import CrashPoint
    if ctx.crashed:
        raise StepFailure(f"{where}: the engine is down (killed at '{ctx.crashed}'); add a restart_node step")
    try:
        call()
    except CrashPoint as exc:
        ctx.crashed = str(exc) or "a crash point"
        return nc
    except EngineError as exc:
        if "expect_error" in args and args["expect_error"] in str(exc):
            return nc
        raise StepFailure(f"{where}: {exc}") from None
    if "expect_error" in args:
        raise StepFailure(f"{where}: succeeded, expected an error containing '{args['expect_error']}'")
    return nc


def run_instance(args, nc, ctx, where):
    vbrs = []
    for vbr in args["vbrs"]:
        vbr = copy.deepcopy(vbr)
        if ctx.server is not None:
            vbr.location = ctx.server.url(vbr.location)
        if vbr.location == "registered":   # a published image or a bundle_instance result, by its scenario name
            image = ctx.ostore.registered[vbr.id]
            vbr.id, vbr.location = image.id, f"walrus://{image.location}"
        vbrs.append(vbr)
    return _engine(args, nc, ctx, where,
                   lambda: nc.run_instance(args["id"], args["user"], vbrs, args.get("key"), args.get("pinned")))


def terminate_instance(args, nc, ctx, where):
    return _engine(args, nc, ctx, where, lambda: nc.terminate_instance(args["id"]))


def restart_node(args, nc, ctx, where):
    if args.get("reboot"):
        reboot = getattr(ctx.host, "reboot", None)
        if reboot is None:
            raise StepFailure(f"{where}: this backend cannot reboot")
        reboot()
    fresh = ctx.new_controller()
    try:
        fresh.restart()
    except Exception as exc:  # noqa: BLE001 - a recovery that fails is this step's failure, not the harness's
        raise StepFailure(f"{where}: recovery failed: {exc}") from None
    ctx.crashed = ""
    return fresh


def inject_fault(args, nc, ctx, where):
    from simulator.faults import Fault
    node = getattr(ctx.host, "node", None)
    if node is None:
        raise StepFailure(f"{where}: fault injection needs the simulator backend")
    node.faults.add(Fault(args["match"], nth=args.get("nth", 1), times=args.get("times", 1),
                          crash=args.get("crash", False), after=args.get("after", False),
                          run_first=args.get("run_first")))
    return nc


def hold_device(args, nc, ctx, where):
    node = getattr(ctx.host, "node", None)
    if node is None:
        raise StepFailure(f"{where}: holding a device open needs the simulator backend")
    inst = nc.instances.get(args["id"])
    if inst is None:
        raise StepFailure(f"{where}: no instance {args['id']} on this node")
    target = _linked_device(nc, ctx, inst, args["link"], where)
    try:
        node.hold_device(target, args["seconds"])
    except Exception as exc:  # noqa: BLE001 - FsError: not a block device
        raise StepFailure(f"{where}: {target}: cannot hold it open: {exc}") from None
    return nc


def _linked_device(nc, ctx, inst, guest_device: str, where: str) -> str:
    """The device behind the instance's link-to-<guest device>, as the hypervisor would open it."""
    link = f"{nc.instance_dir(inst.user, inst.id)}/link-to-{guest_device}"
    target = ctx.host.run(["readlink", "-f", link])
    if target.rc != 0 or not target.stdout.strip():
        raise StepFailure(f"{where}: {link}: no such link")
    return target.stdout.strip()


def _sim_hypervisor(ctx, where):
    node = getattr(ctx.host, "node", None)
    if node is None or node.hypervisor is None:
        raise StepFailure(f"{where}: needs the simulator's hypervisor (node: hypervisor: {{}})")
    return node.hypervisor


def start_domain(args, nc, ctx, where):
    hv = _sim_hypervisor(ctx, where)
    inst = nc.instances.get(args["id"])
    if inst is None or inst.state != "running":
        raise StepFailure(f"{where}: no running instance {args['id']} on this node")
    disk = _linked_device(nc, ctx, inst, "sda", where)
    try:
        hv.start(inst.id, [disk])
    except Exception as exc:  # noqa: BLE001 - already running, or no disk
        raise StepFailure(f"{where}: {exc}") from None
    return nc


def kill_domain(args, nc, ctx, where):
    if not _sim_hypervisor(ctx, where).stop(args["id"]):
        raise StepFailure(f"{where}: no domain {args['id']} is running")
    return nc


def node_command(args, nc, ctx, where):
    result = ctx.host.run([str(a) for a in args["argv"]], args.get("stdin"))
    if result.rc != args.get("expect_rc", 0):
        raise StepFailure(f"{where}: {' '.join(map(str, args['argv']))}: exit {result.rc}, expected "
                          f"{args.get('expect_rc', 0)}: {(result.stderr or result.stdout).strip()[:200]}")
    return nc


def imager(args, nc, ctx, where):
    """The imager on this run's node, images and clock; its commands join the run's recorded trace."""
    from engine.imager.run import Imager

    from simulator.faults import CrashPoint

    from .runner import clock_for
    if ctx.crashed:
        raise StepFailure(f"{where}: the node's programs are down (killed at '{ctx.crashed}'); add a restart_node step")
    ostore = ctx.ostore
    tool = Imager(ctx.host, ctx.images, clock=clock_for(ctx.host), recorder=ctx.recorder,
                  log=ctx.result.log.append, seed=ctx.scenario.seed,
                  fast_path=ctx.scenario.node.get("fast_path", False),
                  store=ostore.store if ostore else None, bundle_spec=ostore.spec() if ostore else None)
    try:
        rc = tool.main(args["args"])
    except CrashPoint as exc:        # the imager killed mid-run: it leaves what a SIGKILL leaves
        ctx.crashed = str(exc) or "a crash point"
        return nc
    ctx.result.log.extend(line for line in tool.output.splitlines() if line)
    check_exit(args, rc, "; ".join(tool.errors), where)
    return nc


def check_exit(args, rc: int, errors: str, where: str) -> None:
    """A tool step's `expect_rc` (default 0) and `expect_error` (a part of its error text)."""
    if rc != args.get("expect_rc", 0):
        raise StepFailure(f"{where}: exit {rc}, expected {args.get('expect_rc', 0)}"
                          + (f": {errors}" if errors else ""))
    if "expect_error" in args and args["expect_error"] not in errors:
        raise StepFailure(f"{where}: expected an error containing '{args['expect_error']}', got: {errors or 'none'}")


def check_invariants(args, nc, ctx, where):
    from .invariants import check
    problems = check(ctx.host, nc, set(args.get("terminated", [])))
    if problems:
        raise StepFailure(f"{where}: {problems[0]}", problems)
    return nc


def expect_instances(args, nc, ctx, where):
    running = sorted(i.id for i in nc.instances.values() if i.state == "running")
    if running != sorted(args["running"]):
        raise StepFailure(f"{where}: running instances {running}, expected {sorted(args['running'])}")
    return nc


def bundle_instance(args, nc, ctx, where):
    """BundleInstance through the scenario's object store; optionally cancelled after N stored objects, and the
    result registered under `register_as` (kernel and ramdisk from the instance)."""
    from engine.bundling import BundleTaskError, InstanceBundler
    bundler = InstanceBundler(nc, ctx.ostore.store, ctx.ostore.spec())
    stored = []

    def count(**_):
        stored.append(1)
        if len(stored) == args.get("cancel_after_objects"):
            bundler.cancel("bun-" + args["id"][2:])
    events = ctx.ostore.store.s3.meta.events
    events.register("provide-client-params.s3.PutObject", count)
    try:
        task = bundler.bundle_instance(args["id"], args["bucket"], args["prefix"], wait=True)
    except BundleTaskError as exc:
        raise StepFailure(f"{where}: {exc}") from None
    finally:
        events.unregister("provide-client-params.s3.PutObject", count)
    if nc.io.killed is not None:          # the engine died in the bundling thread
        ctx.crashed = str(nc.io.killed) or "a crash point"
        return nc
    ctx.result.log.append(task.line())
    if task.state != args.get("expect_state", "complete"):
        raise StepFailure(f"{where}: bundle task {task.state}, expected {args.get('expect_state', 'complete')}"
                          + (f": {task.error}" if task.error else ""))
    if args.get("register_as") and task.state == "complete":
        ids = {v.split(":")[0]: v.split(":")[1] for v in nc.instances[args["id"]].vbrs}
        ctx.ostore.register(args["register_as"], f"{args['bucket']}/{args['prefix']}.manifest.xml",
                            ids.get("kernel"), ids.get("ramdisk"))
    return nc


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


def expect_guest_file(args, nc, ctx, where):
    """Mount the instance's root (its emi work copy) read-only, compare one file, unmount."""
    host = ctx.host
    root = guest_root(host, args["id"], where)
    mnt = f"/tmp/nc-harness-guest-{args['id']}"
    host.run(["mkdir", "-p", mnt])
    mounted = host.run(["mount", "-o", "ro", root, mnt])
    if mounted.rc != 0:
        host.run(["rmdir", mnt])
        raise StepFailure(f"{where}: cannot mount {root}: {mounted.stderr.strip()}")
    try:
        out = host.run(["cat", mnt + "/" + args["path"].lstrip("/")])
    finally:
        host.run(["umount", mnt])
        host.run(["rmdir", mnt])
    if args.get("match") == "regex":
        import re
        same = re.fullmatch(args["content"], out.stdout) is not None
    else:
        same = out.stdout == args["content"]
    if out.rc != 0 or not same:
        raise StepFailure(f"{where}: {args['path']} in {args['id']}'s root: "
                          + (out.stderr.strip() if out.rc else f"content {out.stdout[:60]!r}"))
    return nc


def boot_check(args, nc, ctx, where):
    """The instance's kernel, ramdisk and disk, read off the node, booted under libvirt (harness.bootcheck)."""
    import tempfile

    from .bootcheck import BootCheckError, boot, export_instance
    inst = nc.instances.get(args["id"])
    if inst is None:
        raise StepFailure(f"{where}: no running instance {args['id']}")
    with tempfile.TemporaryDirectory(prefix="nc-harness-boot-") as work:
        try:
            artifacts = export_instance(ctx.host, nc.instance_dir(inst.user, inst.id), work)
            result = boot(f"nc-harness-{inst.id}", artifacts, work, args.get("console"), args.get("timeout", 180))
        except BootCheckError as exc:
            raise StepFailure(f"{where}: {exc}") from None
    ctx.result.log.append(f"boot check {inst.id}: {result.line()}")
    if not result.ok:
        raise StepFailure(f"{where}: {result.line()}", result.console.splitlines()[-40:])
    return nc


def isolate(text: str, ctx) -> str:
    """An expectation written for a lone node, read for an isolated run (own dm prefix and directory)."""
    if not ctx.isolation:
        return text
    path = ctx.scenario.node.get("instances_path", "/var/lib/eucalyptus/instances")
    text = re.sub(r"\beuca-(?!zero\b)", f"euca-{ctx.isolation}-", text)
    return text.replace(path + "/", f"{path}-{ctx.isolation}/")


def expect(args, nc, ctx, where):
    ignore = tuple(args.get("ignore", []))
    args = {k: isolate(v, ctx) if k in node_state.STATE_FILES else v for k, v in args.items()}
    actual_outputs = {cmd: ctx.host.canonical(ctx.host.run(cmd.split()).stdout) for cmd in node_state.STATE_FILES}
    for command in ("losetup -a", "dmsetup table", "dmsetup ls"):
        if command not in args:
            continue
        problem = compare(args[command], actual_outputs[command], args.get("match", "exact"), list(ignore))
        if not problem:
            continue
        details = device_diff(command, args[command], actual_outputs, ignore)
        raise StepFailure(f"{where}: {command}: {details[0] if details else problem}", details)
    return nc


def device_diff(command: str, expected_text: str, actual_outputs: dict, ignore: tuple) -> list[str]:
    """Per-device differences; empty when the listings only differ in order or spacing."""
    try:
        expected = node_state.from_outputs({command: expected_text, "dmsetup ls": actual_outputs["dmsetup ls"]})
        actual = node_state.from_outputs(actual_outputs)
    except node_state.StateError:
        return []
    expected.numbers = {**actual.numbers, **expected.numbers}
    return node_state.diff(expected, actual, ignore)


def expect_files(args, nc, ctx, where):
    base = nc.config.instances_path.rstrip("/")
    host = ctx.host
    for path in args.get("present", []):
        if host.run(["test", "-e", path.replace("{instances}", base)]).rc != 0:
            raise StepFailure(f"{where}: missing file {path}")
    for path in args.get("absent", []):
        if host.run(["test", "-e", path.replace("{instances}", base)]).rc == 0:
            raise StepFailure(f"{where}: file should not exist: {path}")
    for path, text in (args.get("contains") or {}).items():
        out = host.run(["cat", path.replace("{instances}", base)])
        if out.rc != 0 or out.stdout != text:
            raise StepFailure(f"{where}: {path}: content differs (got {out.stdout[:60]!r})")
    return nc


def expect_commands(args, nc, ctx, where):
    issued = [c.text for c in ctx.recorder.commands[ctx.mark:]]
    args = {"present": [isolate(p, ctx) for p in args.get("present", [])],
            "absent": [isolate(p, ctx) for p in args.get("absent", [])],
            "count": {isolate(p, ctx): n for p, n in (args.get("count") or {}).items()},
            "order": [isolate(p, ctx) for p in args.get("order", [])]}
    for pattern in args.get("present", []):
        if not any(re.search(pattern, c) for c in issued):
            raise StepFailure(f"{where}: no command matches '{pattern}'")
    for pattern in args.get("absent", []):
        hit = next((c for c in issued if re.search(pattern, c)), None)
        if hit:
            raise StepFailure(f"{where}: unexpected command matching '{pattern}': {hit}")
    position = -1
    for pattern in args.get("order", []):
        hit = next((i for i, c in enumerate(issued) if i > position and re.search(pattern, c)), None)
        if hit is None:
            after = f" after command {position + 1}" if position >= 0 else ""
            raise StepFailure(f"{where}: order: no command matches '{pattern}'{after}")
        position = hit
    for pattern, n in (args.get("count") or {}).items():
        got = sum(bool(re.search(pattern, c)) for c in issued)
        if got != n:
            raise StepFailure(f"{where}: {got} commands match '{pattern}', expected {n}")
    return nc


HANDLERS = {"run_instance": run_instance, "terminate_instance": terminate_instance, "restart_node": restart_node,
            "expect": expect, "expect_files": expect_files, "expect_commands": expect_commands,
            "inject_fault": inject_fault, "check_invariants": check_invariants, "boot_check": boot_check,
            "expect_instances": expect_instances, "node_command": node_command,
            "hold_device": hold_device, "start_domain": start_domain, "kill_domain": kill_domain,
            "bundle_instance": bundle_instance, "expect_guest_file": expect_guest_file, "imager": imager}


def _image_steps() -> None:
    from . import image_steps
    HANDLERS.update(image=image_steps.image, register=image_steps.register,
                    expect_guest_fs=image_steps.expect_guest_fs)


_image_steps()


def compare(expected: str, actual: str, match: str = "exact", ignore: list[str] | None = None) -> str:
    """'' when equal; else the first difference in words."""
    ignore = ignore or []
    exp, act = mask(expected, tuple(ignore)), mask(actual, tuple(ignore))
    if match == "contains":
        act_lines = {line.rstrip() for line in act.splitlines()}
        missing = [line.rstrip() for line in exp.splitlines() if line.strip() and line.rstrip() not in act_lines]
        return f"missing line '{missing[0]}' ({len(missing)} missing)" if missing else ""
    if match == "lines":
        exp_lines = [line.rstrip() for line in exp.splitlines() if line.strip()]
        act_lines = [line.rstrip() for line in act.splitlines() if line.strip()]
        missing = sorted(set(exp_lines) - set(act_lines))
        extra = sorted(set(act_lines) - set(exp_lines))
        if missing:
            return f"missing line '{missing[0]}' ({len(missing)} missing, {len(extra)} extra)"
        if extra:
            return f"unexpected line '{extra[0]}' ({len(extra)} extra)"
        if len(exp_lines) != len(act_lines):
            return f"{len(act_lines)} lines, expected {len(exp_lines)}"
        return ""
    return "" if exp == act else first_difference(exp, act)
