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
    (lambda t: t + "  - expect_commands: {present: ['(']}\n",
     "f.yaml: step 2 (expect_commands): present[0]: bad regex"),
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
    assert out.startswith("FAIL t: step 2 (expect): losetup -a: /dev/loop0: unexpected (on /var/lib/eucalyptus/")


def test_whole_suite_passes():
    assert main(["run", os.path.join(ROOT, "scenarios")]) == 0


def test_restart_with_reboot_step(tmp_path, capsys):
    sc = tmp_path / "r.yaml"
    sc.write_text(GOOD + "  - restart_node: {reboot: true}\n  - expect:\n      losetup -a: \"\"\n"
                  "      dmsetup table: \"No devices found\\n\"\n"
                  "  - expect_files: {absent: ['{instances}/work/u/i-1']}\n")
    assert main(["run", str(sc)]) == 0, capsys.readouterr().out


def test_a_broken_expectation_names_the_device_and_field(tmp_path, capsys):
    text = open(os.path.join(ROOT, "scenarios", "seed-two-instances.yaml")).read()
    name = "euca-ZV3GM6S3NMA1RQRNXZREK-i-CA6D42F3-emi-856C3CDE-dc63aa25-p0-snap"
    broken = text.replace(f"{name}: 0 2867200 snapshot 7:0 253:0 N 16", f"{name}: 0 2867200 snapshot 7:2 253:0 N 16")
    assert broken != text
    sc = tmp_path / "broken.yaml"
    sc.write_text(broken)
    assert main(["run", str(sc)]) == 1
    out = capsys.readouterr().out
    assert ("euca-ZV3GM6S3NMA1RQRNXZREK-i-CA6D42F3-emi-856C3CDE-dc63aa25-p0-snap: target 0 (0 2867200 snapshot): "
            "origin: expected 7:2 (/dev/loop2), got 7:0 (/dev/loop0)") in out


def _dirty_host():
    from harness.backends.sim import SimHost
    host = SimHost()
    host.run(["sh", "-c", "mkdir -p /var/lib/eucalyptus/instances/work/u/i-9 && "
                          "truncate -s 1M /var/lib/eucalyptus/instances/work/u/i-9/x.blocks && "
                          "losetup -f /var/lib/eucalyptus/instances/work/u/i-9/x.blocks && "
                          "echo '0 8 zero' | dmsetup create euca-u-i-9-orphan"])
    return host


def test_leak_check_lists_what_nothing_claims():
    from harness.scenario.runner import run_scenario
    result = run_scenario(parse(GOOD, "f.yaml"), host=_dirty_host())
    assert not result.ok
    assert result.leaks == ["dm device euca-u-i-9-orphan",
                            "loop /dev/loop0 on /var/lib/eucalyptus/instances/work/u/i-9/x.blocks",
                            "work files of u/i-9"]
    assert result.failure == "leak check: 3 leaked: dm device euca-u-i-9-orphan"
    allowed = parse(GOOD + "leaks_allowed: ['i-9']\n", "f.yaml")
    assert run_scenario(allowed, host=_dirty_host()).ok


def test_isolated_run_uses_its_own_prefix_and_directory():
    from harness.backends.sim import SimHost
    from harness.scenario import load
    from harness.scenario.runner import run_scenario
    host = SimHost(dialect="debian12", seed=7)
    result = run_scenario(load(os.path.join(ROOT, "scenarios", "termination-cleanup.yaml")), host=host,
                          isolation="gw1")
    assert result.ok, result.failure
    texts = [c.text for c in result.recorder.commands]
    assert any("dmsetup create euca-gw1-AIDAEXAMPLEUSER01-i-1A2B3C4D-" in t for t in texts)
    assert any("/var/lib/eucalyptus/instances-gw1/cache/" in t for t in texts)
    assert not any("dmsetup create euca-AIDA" in t for t in texts)


def test_local_backend_refuses_without_device_mapper(capsys):
    from harness.backends.local import LocalHost
    problem = LocalHost.missing_feature()
    if not problem:
        pytest.skip("this machine's kernel has device-mapper: nothing to refuse")
    assert main(["run", os.path.join(ROOT, "scenarios", "cold-cache.yaml"), "--backend", "local"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nc-harness run: backend local: ") and err.count("\n") == 1


def test_cache_and_work_sizes_up_to_what_nc_accepts():
    """NC reads NC_CACHE_SIZE/NC_WORK_SIZE as C ints of MB: a 64 TiB cache and an 8 PiB-ish work limit load,
    and the store arithmetic (blocks of 512 bytes) holds at those sizes."""
    from harness.scenario.runner import run_scenario
    text = open(os.path.join(ROOT, "scenarios", "cold-cache.yaml")).read()
    big = text.replace("cache_mb: 1024", f"cache_mb: {64 << 20}\n  work_mb: {2**31 - 1}")
    sc = parse(big, "big.yaml")
    result = run_scenario(sc)
    assert result.ok, result.failure
    assert result.controller.cache.limit_blocks == (64 << 20) * 2048
    assert result.controller.work.limit_blocks == (2**31 - 1) * 2048
    with pytest.raises(ScenarioError, match=r"node.cache_mb: 2147483648 is not within 0..2147483647"):
        parse(text.replace("cache_mb: 1024", "cache_mb: 2147483648"), "f.yaml")
