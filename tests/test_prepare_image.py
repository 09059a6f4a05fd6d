"""scenarios/prepare-image.yaml (resize 1 GB -> 4 GB, stamp, zerofree, imager bundle, register, run, check) on
every commit, at a sixty-fourth of its size: 16 MiB -> 64 MiB. The full-size run takes minutes and runs with
NC_SLOW_SCENARIOS=1 (CI's slow stage)."""
import os

from harness.scenario import load
from harness.scenario.runner import run_scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCALE = [("size: 1073741824", "size: 16777216"), ("--size, 4G", "--size, 64M"),
         ("size: 4294967296", "size: 67108864"), ("63 8388608 linear", "63 131072 linear"),
         ("8388671 16384 linear", "131135 16384 linear"), ("0 8388608 linear 253:1", "0 131072 linear 253:1"),
         ("cache_mb: 10240", "cache_mb: 1024"), ("requires: [long-run]\n", "")]


def write_small(path: str) -> str:
    text = open(os.path.join(ROOT, "scenarios", "prepare-image.yaml")).read()
    for full, small in SCALE:
        assert full in text, full
        text = text.replace(full, small)
    with open(path, "w") as fh:
        fh.write(text)
    return path


def test_prepare_image_at_a_sixty_fourth_of_its_size(tmp_path):
    result = run_scenario(load(write_small(str(tmp_path / "prepare-image-small.yaml"))))
    assert result.ok, result.failure


def test_a_failed_image_tool_leaves_no_loop_mount_or_half_made_image(tmp_path):
    from harness.sweeps.faults import sweep_faults
    # resize's truncate, mke2fs, cp and final detach (retried), stamp's mkdir, zerofree itself
    report = sweep_faults(write_small(str(tmp_path / "small.yaml")), only=[1, 4, 7, 11, 15, 18])
    assert [p.outcome for p in report.points] == ["clean"] * 6, [p.detail for p in report.points]
    assert [p.detail.endswith("failed cleanly") for p in report.points] == [True, True, True, False, True, True]


if __name__ == "__main__":   # .ci/run: the small scenario as a file, for a full fault sweep
    import sys
    print(write_small(sys.argv[1]))
