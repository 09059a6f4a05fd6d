from __future__ import annotations

import re

from harness.scenario.registry import Field, StepFailure, safe_id, step
from harness.scenario.stepkit import guest_root


@step("expect_guest_file", "A file inside the instance's root filesystem (mounted read-only for the check).",
      fields=[Field("id", str, True, "the instance", safe_id),
              Field("path", str, True, "the path inside the guest"),
              Field("content", str, True, "the file's whole content (a regex with `match: regex`)"),
              Field("match", str, False, "exact (default) or regex", choices=("exact", "regex"))])
def expect_guest_file(args, nc, ctx, where):
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
        same = re.fullmatch(args["content"], out.stdout) is not None
    else:
        same = out.stdout == args["content"]
    if out.rc != 0 or not same:
        raise StepFailure(f"{where}: {args['path']} in {args['id']}'s root: "
                          + (out.stderr.strip() if out.rc else f"content {out.stdout[:60]!r}"))
    return nc
