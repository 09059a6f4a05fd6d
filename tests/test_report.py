"""Run directories, the HTML report (rendered by a real headless Chromium), progress and determinism checks."""
import json
import os
import shutil
import subprocess

import pytest
from conftest import ROOT

from harness.cli.main import main
from harness.cli.run import first_divergence
from harness.report.html import device_tree, phase_of

SCENARIOS = os.path.join(ROOT, "scenarios")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    broken = out / "broken.yaml"
    text = open(os.path.join(SCENARIOS, "cold-cache.yaml")).read().replace("mkpart primary  131135s", "mkpart XX")
    broken.write_text(text.replace("name: cold-cache", "name: broken-cold-cache"))
    assert main(["run", os.path.join(SCENARIOS, "warm-cache.yaml"), str(broken), "--run-dir", str(out)]) == 1
    return out


def test_run_dir_holds_results_traces_and_a_bundle_for_the_failure(run_dir):
    doc = json.load(open(run_dir / "warm-cache" / "result.json"))
    assert doc["ok"] and len(doc["commands"]) == 174 and doc["steps"][0]["label"] == "run i-1A2B3C4D"
    bad = json.load(open(run_dir / "broken-cold-cache" / "result.json"))
    assert not bad["ok"] and "no command matches" in bad["failure"]
    bundle = run_dir / "broken-cold-cache" / "bundle"
    for name in ("scenario.yaml", "trace.log", "engine.log", "summary.json", "state-before.yaml", "state-after.yaml"):
        assert (bundle / name).exists(), name


def test_report_renders_in_headless_chromium(run_dir):
    assert main(["report", str(run_dir), "--html"]) == 0
    page = run_dir / "report.html"
    text = page.read_text()
    assert "<script" not in text and "http" not in text.split("<body>")[1].split("digest")[0]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "nc-harness: 1/2 scenarios passed" in dom
    assert dom.count("<svg class=\"timeline\"") == 2 and "class=\"tree\"" in dom
    assert "euca-zero" in dom and "partitions: euca-AIDAEXAMPLEUSER01-i-1A2B3C4D-dsk-5E1D77A0-" in dom
    shot = run_dir / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1000,800", page.as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 10000


def test_report_bad_run_dir(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--html"]) == 2
    assert "no */result.json" in capsys.readouterr().err


def test_phase_classes_and_device_tree():
    assert phase_of("/bin/dd if=a of=b bs=16 count=1 seek=0 skip=0 conv=notrunc,fsync")[0] == "copy"
    assert phase_of("/sbin/parted --script /dev/mapper/x mklabel msdos")[0] == "parted"
    tree = device_tree({"dmsetup table": "d: 0 63 linear 253:0 0\ns: 0 63 snapshot 7:0 7:1 N 1\n"
                                         "dp1: 0 10 linear 253:1 63\n",
                        "dmsetup ls": "s\t(253:0)\nd\t(253:1)\ndp1\t(253:2)\n"})
    assert tree.index(">d<") < tree.index(">s<") < tree.index("/dev/loop0") and "partitions: dp1" in tree


def test_progress_and_determinism_check(capsys):
    assert main(["run", os.path.join(SCENARIOS, "cold-cache.yaml"), "--progress", "--determinism-check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS cold-cache (8 steps, 90 commands) digest ") and out.rstrip().endswith("twice")
    assert first_divergence(["a", "b"], ["a", "c"]) == "event 2 differs: 'b' then 'c'"
    assert first_divergence(["a"], ["a", "b"]) == "1 events, then 2"
