from __future__ import annotations

import copy

from engine.vbr import VbrError, parse_vbrs
from harness.scenario.registry import Field, ScenarioError, one_line, safe_id, step
from harness.scenario.stepkit import engine_call
from harness.scenario.vbrs import resolve_vbr


@step("run_instance", "Launch an instance through the engine (NC's RunInstance): its disk built from `vbrs`.",
      fields=[Field("id", str, True, "the instance id (`i-...`)", safe_id),
              Field("user", str, True, "the owner: the instance directory is `INSTANCES/USER/ID`", safe_id),
              Field("vbrs", list, True, "VBRs, each ASCII (`type:id:size:format:device:location`) or a mapping; "
                                        "location `staged` names an image under `images`, `registered` one "
                                        "published or registered by an earlier step"),
              Field("key", str, False, "the SSH public key injected into the root filesystem", one_line),
              Field("pinned", dict, False, "hold the names the engine draws: `keyed` and/or `disk` tokens"),
              Field("expect_error", str, False, "the launch must fail with an error containing this")],
      verb="run", engine_operation=True)
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
    return engine_call(args, nc, ctx, where,
                       lambda: nc.run_instance(args["id"], args["user"], vbrs, args.get("key"), args.get("pinned")))


@run_instance.validate
def _check(args, sc, where):
    args = dict(args, vbrs=[resolve_vbr(v, sc, f"{where}: vbrs[{j}]") for j, v in enumerate(args["vbrs"])])
    if "expect_error" not in args:
        try:
            checked = copy.deepcopy(args["vbrs"])
            for v in checked:   # resolved when the step runs; any store location checks the rest
                if v.location == "registered":
                    v.location = "walrus://bucket/image.manifest.xml"
            parse_vbrs(checked)
        except VbrError as exc:
            raise ScenarioError(f"{where}: vbrs: {exc}") from None
    if set(args.get("pinned") or {}) - {"keyed", "disk"}:
        raise ScenarioError(f"{where}: field 'pinned': only 'keyed' and 'disk' can be pinned")
    return args
