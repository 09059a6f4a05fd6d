"""scenarios/prepare-image.yaml (resize 1 GB -> 4 GB, stamp, zerofree, imager bundle, register, run, check) on
every commit, at a sixty-fourth of its size: 16 MiB -> 64 MiB. The full-size run takes minutes and runs with
NC_SLOW_SCENARIOS=1 (CI's slow stage)."""
import os

from harness.runner import run_scenario
from harness.scenario import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCALE = [("size: 1073741824", "size: 16777216"), ("--size, 4G", "--size, 64M"),
         ("size: 4294967296", "size: 67108864"), ("63 8388608 linear", "63 131072 linear"),
         ("8388671 16384 linear", "131135 16384 linear"), ("0 8388608 linear 253:1", "0 131072 linear 253:1"),
         ("cache_mb: 10240", "cache_mb: 1024"), ("requires: [long-run]\n", "")]


def test_prepare_image_at_a_sixty_fourth_of_its_size(tmp_path):
    text = open(os.path.join(ROOT, "scenarios", "prepare-image.yaml")).read()
    for full, small in SCALE:
        assert full in text, full
        text = text.replace(full, small)
    path = tmp_path / "prepare-image-small.yaml"
    path.write_text(text)
    result = run_scenario(load(str(path)))
    assert result.ok, result.failure
