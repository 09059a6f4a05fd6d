from __future__ import annotations

from harness.scenario.registry import Field, StepFailure, step
from harness.scenario.stepkit import engine_call


def _non_negative(value: int, where: str, name: str) -> None:
    if value < 0:
        from harness.scenario.registry import ScenarioError
        raise ScenarioError(f"{where}: field '{name}': must not be negative")


@step("purge_cache", "The node controller's cache purge on its own (LRU, least recently modified first): unused "
                     "blobs go, never one that is open, mapped or held by another process.",
      fields=[Field("free_mb", int, False, "purge until this many MB are free (default: every unused blob)",
                    _non_negative),
              Field("expect_freed_mb", int, False, "the MB it must free, exactly")],
      verb="purge", engine_operation=True)
def purge_cache(args, nc, ctx, where):
    freed = []
    nc = engine_call(args, nc, ctx, where, lambda: freed.append(nc.purge_cache(args.get("free_mb"))))
    if freed and "expect_freed_mb" in args and freed[0] != args["expect_freed_mb"]:
        raise StepFailure(f"{where}: freed {freed[0]} MB, expected {args['expect_freed_mb']}")
    return nc
