from __future__ import annotations

import tempfile

from harness.nodes.bootcheck import BootCheckError, boot, export_instance
from harness.scenario.registry import Field, StepFailure, safe_id, step


@step("boot_check", "Read the instance's kernel, ramdisk and disk off the node and boot them under libvirt.",
      fields=[Field("id", str, True, "the running instance", safe_id),
              Field("timeout", int, False, "seconds to wait for the console lines (default 180)"),
              Field("console", list, False, "lines the console must print")])
def boot_check(args, nc, ctx, where):
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
