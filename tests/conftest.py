import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


import pytest  # noqa: E402 - after the path set-up above


@pytest.fixture(scope="module")
def server():
    """The project's loopback S3 server (moto), fresh for each test module."""
    from harness.images.s3server import S3Server
    with S3Server() as s:
        yield s


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Throw-away RSA pairs: user, cloud, other (tests/rsa_keys.py)."""
    from rsa_keys import key_set
    return key_set(tmp_path_factory.mktemp("keys"))
collect_ignore_glob = ["bad_inputs/*"]   # the corpus is read by test_bad_inputs.py, not collected as scenarios
