"""Issue 3: the scenario format (schema errors name file, step and field) and `nc-harness run`."""
import os

import pytest
from conftest import ROOT

from harness.cli.main import main
from harness.scenario import ScenarioError, parse

GOOD = """name: t
node: {dialect: debian12, cache_mb: 100}
images:
  - {id: emi-12345678, size: 1048576, content: ext3}
steps:
  - run_instance:
      id: i-1
      user: u
      vbrs: [machine:emi-12345678:-1:none:sda1:staged]
"""


@pytest.mark.parametrize("mutate,message", [
    (lambda t: t.replace("name: t\n", ""), "f.yaml: field 'name': required"),
    (lambda t: t + "  - reboot_everything: {}\n", "f.yaml: step 2: unknown step 'reboot_everything'"),
    (lambda t: t.replace("      user: u\n", ""), "f.yaml: step 1 (run_instance): field 'user': required"),
    (lambda t: t.replace("user: u", "user: 5"), "f.yaml: step 1 (run_instance): field 'user': must be a string"),
    (lambda t: t.replace("sda1:staged", "sda1:nowhere"),
     "f.yaml: step 1 (run_instance): vbrs: VBR 0 (machine:emi-12345678:-1:none:sda1:nowhere): failed to parse"),
    (lambda t: t.replace("emi-12345678:-1", "emi-99999999:-1"), "vbrs[0]: no image 'emi-99999999'"),
    (lambda t: t.replace("content: ext3", "content: ntfs"), "f.yaml: images[0].content: must be one of"),
    (lambda t: t.replace("dialect: debian12", "dialect: sles"), "f.yaml: node.dialect: must be debian12 or el6"),
    (lambda t: t.replace("steps:", "steps: [\n"), "f.yaml:7:3: YAML error:"),
    (lambda t: t + "  - expect: {match: lines}\n", "f.yaml: step 2 (expect): needs one of"),
    (lambda t: t + "  - expect_commands: {present: ['(']}\n", "f.yaml: step 2 (expect_commands): present[0]: bad regex"),
])
def test_bad_scenarios_get_one_line_errors(mutate, message):
    with pytest.raises(ScenarioError) as exc:
        parse(mutate(GOOD), "f.yaml")
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_good_scenario_parses():
    sc = parse(GOOD, "f.yaml")
    assert sc.steps[0].args["vbrs"][0].location == "file:///var/lib/nc-harness/images/emi-12345678.img"


def test_run_cli_bad_file_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("user: u", "user: [1]"))
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.yaml: step 1 (run_instance): field 'user'" in err
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2


def test_run_cli_reports_failure_with_first_difference(tmp_path, capsys):
    sc = tmp_path / "s.yaml"
    sc.write_text(GOOD + "  - expect:\n      losetup -a: \"\"\n")
    assert main(["run", str(sc)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL t: step 2 (expect): losetup -a: line 1: expected '<end>', got '/dev/loop")


def test_whole_suite_passes():
    assert main(["run", os.path.join(ROOT, "scenarios")]) == 0


def test_restart_with_reboot_step(tmp_path, capsys):
    sc = tmp_path / "r.yaml"
    sc.write_text(GOOD + "  - restart_node: {reboot: true}\n  - expect:\n      losetup -a: \"\"\n"
                  "      dmsetup table: \"No devices found\\n\"\n"
                  "  - expect_files: {absent: ['{instances}/work/u/i-1']}\n")
    assert main(["run", str(sc)]) == 0, capsys.readouterr().out
