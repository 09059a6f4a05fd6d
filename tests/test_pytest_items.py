"""Sweep points and explore schedules as pytest items: `pytest --nc-sweep` gives what `nc-harness sweep` gives,
one item per point, with pytest-xdist spreading them; `pytest --nc-explore N` runs N schedules, one item each."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from conftest import ROOT

SCENARIO = os.path.join(ROOT, "scenarios", "regressions", "e06-losetup-find-race.yaml")


def _pytest(tmp_path, *args) -> tuple[subprocess.CompletedProcess, ET.Element]:
    junit = tmp_path / "junit.xml"
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                          f"--junitxml={junit}", "--rootdir", ROOT, *args], capture_output=True, text=True,
                         cwd=ROOT, timeout=900)
    return out, ET.parse(junit).getroot()


def test_nc_sweep_items_are_the_points_of_nc_harness_sweep(tmp_path):
    from harness.sweeps.kinds import KINDS, SweepOptions
    out, junit = _pytest(tmp_path, "--nc-sweep=fault,crash-reboot", SCENARIO)
    assert out.returncode == 0, out.stdout[-2000:]
    cases = list(junit.iter("testcase"))
    names = {c.get("name").rsplit("::", 1)[-1] for c in cases}
    lines = []
    for kind in ("fault", "crash-reboot"):
        report = KINDS[kind].run(SCENARIO, False, 2, SweepOptions())
        lines.append(f"{report.scenario} [nc {kind}]: {report.line()}")
        for point in report.points:     # one item per point, named by it
            assert (f"k{point.k}+reboot" if kind == "crash-reboot" else f"k{point.k}") in names
    assert len(cases) == sum(int(line.split("points: ")[1].split(",")[0]) for line in lines)
    for line in lines:                  # the summary says what nc-harness sweep says
        assert line in out.stdout, out.stdout[-2000:]


def test_nc_explore_items_are_schedules(tmp_path):
    path = os.path.join(ROOT, "scenarios", "concurrent", "launches-and-a-terminate.yaml")
    out, junit = _pytest(tmp_path, "--nc-explore=6", path)
    assert out.returncode == 0, out.stdout[-2000:]
    assert sorted(c.get("name").rsplit("::", 1)[-1] for c in junit.iter("testcase")) == \
        sorted(f"seed {i}" for i in range(6))
