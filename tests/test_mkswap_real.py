"""mkswap on the simulator against this machine's util-linux 2.38 mkswap, on swap files: sizes in
size_to_human_string's units, -U, and the warnings about permissions, holes and old signatures."""
import shutil
import subprocess

import pytest

from simulator.node import Node

pytestmark = pytest.mark.skipif(shutil.which("mkswap") is None, reason="needs the real mkswap to compare with")

UUID = "11111111-2222-3333-4444-555555555555"
SCRIPTS = [f"truncate -s {size} {{f}} && mkswap -U {UUID} {{f}}"
           for size in ("40K", "44K", "1M", "1500K", "2M", "7M", "10M", "100M", "1G", "3G")] + [
    f"truncate -s 1M {{f}} && chmod 600 {{f}} && mkswap -L sw -U {UUID} {{f}}",
    "truncate -s 1M {f} && mkswap -U bad {f}", "mkswap -U bad {f}.missing",
    f"truncate -s 1M {{f}} && chmod 600 {{f}} && mkswap -U {UUID} {{f}} && mkswap -U {UUID} {{f}}",
    f"truncate -s 16M {{f}} && mkfs.ext3 -q -F {{f}} && chmod 600 {{f}} && mkswap -U {UUID} {{f}}",
]


def _util_linux() -> str:
    proc = subprocess.run(["mkswap", "--version"], capture_output=True, text=True)
    return proc.stdout


@pytest.mark.skipif("2.38" not in _util_linux(), reason="the texts are util-linux 2.38's")
@pytest.mark.parametrize("script", SCRIPTS)
def test_mkswap_on_files_like_util_linux(script, tmp_path):
    path = str(tmp_path / "s.img")
    real = subprocess.run(["bash", "-c", script.format(f=path)], capture_output=True, text=True)
    node = Node(dialect="debian12")
    sim = node.sh(script.format(f="/tmp/s.img"))
    assert (sim.rc, sim.stdout, sim.stderr) == (real.returncode, real.stdout, real.stderr.replace(path, "/tmp/s.img"))
