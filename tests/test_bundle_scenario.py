"""The bundle-instance scenario's own machinery: checks that can fail, and bad input named in one line."""
import os
import re

import pytest
from conftest import ROOT

from harness.scenario import ScenarioError, parse
from harness.scenario.runner import run_scenario

PATH = os.path.join(ROOT, "scenarios", "bundle-instance.yaml")


def test_a_wrong_key_in_the_second_root_fails_the_scenario():
    text = open(PATH).read().replace('content: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDbundler first@example"',
                                     'content: "ssh-rsa someone-else"')
    result = run_scenario(parse(text, PATH))
    assert not result.ok
    assert "/root/.ssh/authorized_keys in i-B0000012's root: content 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDbundler" \
        in result.failure


def test_a_cancel_that_completes_fails_the_expected_state():
    text = open(PATH).read().replace("cancel_after_objects: 1,", "cancel_after_objects: 99,")
    result = run_scenario(parse(text, PATH))
    assert not result.ok and "bundle task complete, expected cancelled" in result.failure


@pytest.mark.parametrize("old,new,error", [
    ("publish: {bucket: images/kernels}", "publish: {bucket: images/kernels, color: red}",
     "images[0].publish: a mapping with 'bucket'"),
    ("kernel: eki-B0000001, ramdisk: eri-B0000002}", "kernel: eki-B0000001}",
     "images[2].publish: a machine image needs 'kernel' and 'ramdisk'"),
    ("machine:emi-BUNDLED:-1:none:sda1:registered", "machine:emi-NOWHERE:-1:none:sda1:registered",
     "'emi-NOWHERE' is neither a published image nor an earlier register_as"),
    ("expect_state: cancelled}", "expect_state: maybe}", "field 'expect_state': must be complete, cancelled or failed"),
])
def test_bad_object_store_fields_are_one_line(old, new, error):
    text = open(PATH).read()
    assert old in text
    with pytest.raises(ScenarioError, match=re.escape(error)) as exc:
        parse(text.replace(old, new), PATH)
    assert "\n" not in str(exc.value) and str(exc.value).startswith(PATH)
