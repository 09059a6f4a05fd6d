from __future__ import annotations

from engine.bundling import BundleTaskError, InstanceBundler
from harness.scenario.registry import Field, StepFailure, step


@step("bundle_instance", "BundleInstance through the scenario's object store, optionally cancelled; the result may "
                         "be registered for later VBRs.",
      fields=[Field("id", str, True, "the running instance"),
              Field("bucket", str, True, "the bucket the bundle goes to"),
              Field("prefix", str, True, "the bundle's name: PREFIX.manifest.xml and its parts"),
              Field("register_as", str, False, "register the result under this name (location `registered`)"),
              Field("cancel_after_objects", int, False, "cancel the task once this many objects are stored"),
              Field("expect_state", str, False, "the task's end state", choices=("complete", "cancelled", "failed"))],
      uses_store=True)
def bundle_instance(args, nc, ctx, where):
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


@bundle_instance.validate
def _check(args, sc, where):
    if "register_as" in args:
        sc.aliases.add(args["register_as"])
    return args
