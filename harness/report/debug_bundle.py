"""The debug bundle written when a scenario fails: enough to reproduce and read it without rerunning."""
from __future__ import annotations

import json
import os
import shutil

import yaml


def write_bundle(result, directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    sc = result.scenario
    if sc.path and os.path.exists(sc.path):
        shutil.copy(sc.path, os.path.join(directory, "scenario.yaml"))
    with open(os.path.join(directory, "trace.log"), "w") as fh:
        fh.write(result.recorder.render())
    with open(os.path.join(directory, "engine.log"), "w") as fh:
        fh.write("".join(line + "\n" for line in result.log))
    summary = {"scenario": sc.name, "seed": sc.seed, "dialect": sc.dialect, "failure": result.failure,
               "details": result.details, "leaks": result.leaks,
               "steps": [{"index": s.index, "label": s.label, "status": s.status, "message": s.message}
                         for s in result.steps]}
    with open(os.path.join(directory, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    for name, state in (("before", result.state_before), ("after", result.state_after)):
        if state:
            with open(os.path.join(directory, f"state-{name}.yaml"), "w") as fh:
                yaml.safe_dump(state, fh, default_style="|")
    return directory
