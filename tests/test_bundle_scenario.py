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


MULTIPART = os.path.join(ROOT, "scenarios", "bundle-cancel-multipart.yaml")


def test_a_cancel_during_a_multipart_upload_leaves_nothing_on_either_engine_path():
    from harness.scenario import load
    assert run_scenario(load(MULTIPART)).ok
    assert run_scenario(load(MULTIPART).fast_path()).ok


def test_the_bucket_oracle_sees_an_unfinished_multipart_upload(monkeypatch):
    """The oracle can fail: planted, the store never receives s3transfer's abort of the cancelled upload."""
    from botocore.client import BaseClient
    real = BaseClient._make_api_call

    def no_abort(self, operation, params):
        return {} if operation == "AbortMultipartUpload" else real(self, operation, params)
    monkeypatch.setattr(BaseClient, "_make_api_call", no_abort)
    result = run_scenario(parse(open(MULTIPART).read(), MULTIPART))
    assert not result.ok and "1 unfinished multipart upload(s) (cancelled.part.00), expected 0" in result.failure, \
        result.failure


@pytest.mark.parametrize("old,new,error", [
    ("part_size: 5242880, cancel_after_parts: 1,", "part_size: 1024, cancel_after_parts: 1,",
     "field 'part_size': 1024 bytes: S3's parts are 5 MiB to 5 GiB"),
    ("part_size: 5242880, cancel_after_parts: 1,", "cancel_after_parts: 1,", "cancel_after_parts needs part_size"),
    ("objects: [], multipart_uploads: 0", "objects: [1], multipart_uploads: 0", "a list of object keys"),
])
def test_bad_multipart_fields_are_one_line(old, new, error):
    text = open(MULTIPART).read()
    assert old in text
    with pytest.raises(ScenarioError) as exc:
        parse(text.replace(old, new), MULTIPART)
    assert error in str(exc.value), str(exc.value)
