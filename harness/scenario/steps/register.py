from __future__ import annotations

from harness.images.objectstore import ObjectStoreError
from harness.scenario.registry import Field, ScenarioError, StepFailure, step


@step("register", "RegisterImage for an uploaded bundle; `as` names it for later VBRs (location `registered`).",
      fields=[Field("manifest", str, True, "BUCKET/NAME.manifest.xml in the scenario's object store"),
              Field("as", str, True, "the scenario's name for the registered image"),
              Field("kernel", str, False, "an image registered earlier in the scenario"),
              Field("ramdisk", str, False, "an image registered earlier in the scenario")],
      uses_store=True)
def register(args, nc, ctx, where):
    ids = {}
    for key in ("kernel", "ramdisk"):
        if args.get(key):
            ids[key] = ctx.ostore.registered[args[key]].id
    try:
        image_ = ctx.ostore.register(args["as"], args["manifest"], ids.get("kernel"), ids.get("ramdisk"))
    except ObjectStoreError as exc:
        raise StepFailure(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a store or registry refusal (no such manifest...): one line
        raise StepFailure(f"{where}: registering {args['manifest']}: {exc}") from None
    ctx.result.log.append(f"IMAGE\t{image_.id}\t{args['manifest']}\t{args['as']}")
    return nc


@register.validate
def _check(args, sc, where):
    for key in ("kernel", "ramdisk"):
        name = args.get(key)
        if name and name not in sc.aliases and not any(s.id == name and s.publish for s in sc.images):
            raise ScenarioError(f"{where}: {key}: '{name}' is neither a published image nor registered by an "
                                "earlier step")
    sc.aliases.add(args["as"])
    return args
