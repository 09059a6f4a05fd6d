"""The engine's URL download path against a real HTTP server on loopback."""
from engine.hashing import hexjenkins
from harness.images.http_server import manifest_for
from harness.images.staging import ImageSpec
from harness.scenario import parse
from harness.scenario.runner import run_scenario

SCENARIO = """name: url
node: {{dialect: debian12, cache_mb: 200}}
images:
  - {{id: eki-0000AAAA, size: 100000, content: pattern, serve: http}}
  - {{id: emi-0000BBBB, size: 16777216, content: ext3, serve: http{extra}}}
steps:
  - run_instance:
      id: i-1
      user: u
      {expect_error}vbrs:
        - kernel:eki-0000AAAA:-1:none:none:staged
        - machine:emi-0000BBBB:-1:none:sda1:staged
        - ephemeral0:none:4194304:ext3:sda2:none
"""


def test_url_images_download_into_the_cache_and_hash_their_manifest():
    sc = parse(SCENARIO.format(extra="", expect_error=""), "url.yaml")
    result = run_scenario(sc)
    assert result.ok, result.failure
    emi_id = "emi-0000BBBB-" + hexjenkins(manifest_for(ImageSpec("emi-0000BBBB", 16777216)))
    texts = [c.text for c in result.recorder.commands]
    assert any(f"/cache/{emi_id}/blocks" in t for t in texts)
    assert any("tune2fs /dev/mapper/euca-u-i-1-emi-0000BBBB-" in t for t in texts)


def test_a_short_download_never_leaves_a_valid_looking_cache_blob():
    # the manifest claims more bytes than the server has: the download must fail and be rolled back
    bad = ', manifest: "<manifest><image><size>20971520</size></image></manifest>"'
    sc = parse(SCENARIO.format(extra=bad, expect_error="expect_error: 'has 16777216 bytes, expected 20971520'\n      "),
               "url.yaml")
    sc.steps.append(parse("""name: x
steps:
  - expect:
      losetup -a: ""
  - expect_files:
      absent: ["{instances}/cache/emi-0000BBBB-SUFFIX", "{instances}/work/u"]
""".replace("SUFFIX", hexjenkins('<manifest><image><size>20971520</size></image></manifest>')), "x").steps[0])
    result = run_scenario(sc)
    assert result.ok, result.failure
