"""A run directory: one folder per scenario with `result.json` (steps, commands, states) and `trace.log`;
written by `nc-harness run --run-dir` and the pytest plugin, read by `nc-harness report`."""
from __future__ import annotations

import json
import os

from harness.errors import HarnessError
from harness.report.debug_bundle import write_bundle


def save_result(result, run_dir: str, backend: str = "sim") -> str:
    sc = result.scenario
    out = os.path.join(run_dir, sc.name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "trace.log"), "w") as fh:
        fh.write(result.recorder.render())
    doc = {"name": sc.name, "path": sc.path, "ok": result.ok, "failure": result.failure, "details": result.details,
           "leaks": result.leaks, "seed": sc.seed, "dialect": sc.dialect, "backend": backend,
           "wall_seconds": round(result.wall_seconds, 4), "virtual_seconds": round(result.virtual_seconds, 6),
           "digest": result.digest(),
           "steps": [{"index": s.index, "label": s.label, "status": s.status, "message": s.message,
                      "details": s.details, "commands": list(s.commands)} for s in result.steps],
           "commands": [{"when": c.when, "text": c.text, "rc": c.rc} for c in result.recorder.commands],
           "snapshots": {str(k): v for k, v in result.snapshots.items()}}
    with open(os.path.join(out, "result.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
    if not result.ok:
        write_bundle(result, os.path.join(out, "bundle"))
    return out


class RunDirError(HarnessError, ValueError):
    pass


def load_results(run_dir: str) -> list[dict]:
    if not os.path.isdir(run_dir):
        raise RunDirError(f"{run_dir}: not a run directory")
    docs = []
    for name in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, name, "result.json")
        if os.path.exists(path):
            try:
                with open(path) as fh:
                    docs.append(json.load(fh))
            except (OSError, json.JSONDecodeError) as exc:
                raise RunDirError(f"{path}: unreadable: {exc}") from None
    if not docs:
        raise RunDirError(f"{run_dir}: no */result.json (make one with `nc-harness run --run-dir {run_dir}`)")
    return docs
