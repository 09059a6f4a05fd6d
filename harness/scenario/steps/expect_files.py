from __future__ import annotations

from harness.scenario.registry import Field, StepFailure, step


@step("expect_files", "Files on the node exist, do not, or hold exactly a text; `{instances}` is the instances "
                      "directory.",
      fields=[Field("present", list, False, "paths that must exist"),
              Field("absent", list, False, "paths that must not exist"),
              Field("contains", dict, False, "path: the file's whole content")])
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
