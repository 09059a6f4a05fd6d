from __future__ import annotations

from engine.bundling import BundleTaskError, InstanceBundler
from harness.scenario.registry import Field, ScenarioError, StepFailure, step


def _part_size(value: int, where: str, name: str) -> None:
    if not 5 * 1024 * 1024 <= value <= 5 * 1024 ** 3:
        raise ScenarioError(f"{where}: field '{name}': {value} bytes: S3's parts are 5 MiB to 5 GiB")


@step("bundle_instance", "BundleInstance through the scenario's object store, optionally cancelled; the result may "
                         "be registered for later VBRs.",
      fields=[Field("id", str, True, "the running instance"),
              Field("bucket", str, True, "the bucket the bundle goes to"),
              Field("prefix", str, True, "the bundle's name: PREFIX.manifest.xml and its parts"),
              Field("register_as", str, False, "register the result under this name (location `registered`)"),
              Field("cancel_after_objects", int, False, "cancel the task once this many objects are stored"),
              Field("part_size", int, False, "upload objects of this many bytes or more as multipart uploads in "
                                             "parts this big (5 MiB at least, S3's smallest part)", _part_size),
              Field("cancel_after_parts", int, False, "cancel the task once this many multipart parts are sent "
                                                      "(with part_size): its upload must be aborted"),
              Field("expect_state", str, False, "the task's end state", choices=("complete", "cancelled", "failed"))],
      uses_store=True)
def bundle_instance(args, nc, ctx, where):
    store = ctx.ostore.store
    bundler = InstanceBundler(nc, store, ctx.ostore.spec())
    stored, parts = [], []

    def count(**_):
        stored.append(1)
        if len(stored) == args.get("cancel_after_objects"):
            bundler.cancel("bun-" + args["id"][2:])

    def count_part(**_):
        parts.append(1)
        if len(parts) == args.get("cancel_after_parts"):
            bundler.cancel("bun-" + args["id"][2:])
    events = store.s3.meta.events
    events.register("provide-client-params.s3.PutObject", count)
    events.register("provide-client-params.s3.UploadPart", count_part)
    store.part_size = args.get("part_size")
    try:
        task = bundler.bundle_instance(args["id"], args["bucket"], args["prefix"], wait=True)
    except BundleTaskError as exc:
        raise StepFailure(f"{where}: {exc}") from None
    finally:
        store.part_size = None
        events.unregister("provide-client-params.s3.PutObject", count)
        events.unregister("provide-client-params.s3.UploadPart", count_part)
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
    if "cancel_after_parts" in args and "part_size" not in args:
        raise ScenarioError(f"{where}: cancel_after_parts needs part_size (multipart uploads)")
    if "register_as" in args:
        sc.aliases.add(args["register_as"])
    return args
