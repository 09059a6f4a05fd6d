"""Bundling and unbundling a 1 GiB image, half of it sparse, against the shell pipeline that makes the same
format (`tar | tee >(sha1sum) | gzip | openssl enc -aes-128-cbc | split`, and back), on this machine in
this run. Each job runs as a child process, so its peak RSS is its own (gzip's included, for ours).

    python3 benchmarks/bundle.py           # 1 GiB
    python3 benchmarks/bundle.py 256       # MiB, for a quick look

Last line: the throughput ratios (pipeline time / ours: >= 1.0 means ours is at least as fast) and our peak
RSS (target < 100 MB)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

MB = 1 << 20
KEY, IV = "00112233445566778899aabbccddeeff", "0f0e0d0c0b0a09080706050403020100"
PART = 10 * MB

OURS_BUNDLE = """
import sys
sys.path.insert(0, {root!r})
from engine.images.bundle import BundleSpec, bundle_image
spec = BundleSpec(arch="x86_64", user="1", ec2cert={cert!r}, enc_key={key!r}, enc_iv={iv!r})
bundle_image({image!r}, {out!r}, spec)
"""
OURS_UNBUNDLE = """
import sys
sys.path.insert(0, {root!r})
from engine.images.unbundle import unbundle
unbundle({manifest!r}, destination={dest!r}, enc_key={key!r}, enc_iv={iv!r})
"""


def make_image(path: str, size: int) -> None:
    """Dense random first half, a hole for the second."""
    with open(path, "wb") as fh:
        block = os.urandom(MB)
        for i in range(size // 2 // MB):
            fh.write(block[i % 7:] + block[:i % 7])
        fh.truncate(size)


def timed(argv: list[str]) -> tuple[float, float]:
    """Seconds and the child's peak RSS in MiB (RUSAGE_CHILDREN is the largest waited-for descendant so far,
    so the jobs run smallest-first is not needed: each is measured in a fresh grandchild)."""
    wrapper = ("import resource, subprocess, sys, time\n"
               "t = time.perf_counter(); rc = subprocess.call(sys.argv[1:]); t = time.perf_counter() - t\n"
               "print(t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); sys.exit(rc)\n")
    out = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{argv[:3]}...: exit {out.returncode}: {out.stderr.strip()[-300:]}")
    seconds, rss = out.stdout.split()[-2:]
    return float(seconds), float(rss)


def main(argv: list[str]) -> int:
    import pathlib

    from rsa_keys import keypair
    size = (int(argv[0]) if argv else 1024) * MB
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/var/tmp")) as tmp:
        _, cert = keypair(pathlib.Path(tmp), "cloud")
        image = os.path.join(tmp, "disk.img")
        make_image(image, size)
        ours_out, pipe_out = os.path.join(tmp, "ours"), os.path.join(tmp, "pipe")
        os.makedirs(pipe_out)
        shell = ("set -o pipefail; tar -cf - -C {dir} disk.img | tee >(sha1sum > {out}/digest) | gzip -c | "
                 "openssl enc -e -aes-128-cbc -K {key} -iv {iv} | split -b {part} -d -a 2 - {out}/disk.img.part.")
        pipeline = ["bash", "-c", shell.format(dir=tmp, out=pipe_out, key=KEY, iv=IV, part=PART)]
        ours = [sys.executable, "-c", OURS_BUNDLE.format(root=ROOT, cert=cert, key=KEY, iv=IV, image=image,
                                                         out=ours_out)]
        results = {"bundle pipeline": timed(pipeline), "bundle ours": timed(ours)}
        os.unlink(image)
        back_pipe, back_ours = os.path.join(tmp, "back-pipe"), os.path.join(tmp, "back-ours")
        os.makedirs(back_pipe)
        unshell = (f"set -o pipefail; cat {pipe_out}/disk.img.part.* | openssl enc -d -aes-128-cbc -K {KEY} "
                   f"-iv {IV} | gunzip -c | tar -xf - -C {back_pipe}")
        results["unbundle pipeline"] = timed(["bash", "-c", unshell])
        results["unbundle ours"] = timed([sys.executable, "-c", OURS_UNBUNDLE.format(
            root=ROOT, manifest=os.path.join(ours_out, "disk.img.manifest.xml"), dest=back_ours, key=KEY, iv=IV)])
        assert os.path.getsize(os.path.join(back_ours, "disk.img")) == size
    for name, (seconds, rss) in results.items():
        print(f"{name:>18}: {seconds:6.1f} s, {size / MB / seconds:6.1f} MiB/s, peak RSS {rss:6.1f} MiB")
    b = results["bundle pipeline"][0] / results["bundle ours"][0]
    u = results["unbundle pipeline"][0] / results["unbundle ours"][0]
    rss = max(results["bundle ours"][1], results["unbundle ours"][1])
    print(f"{size // MB} MiB half sparse: throughput ratio bundle {b:.2f}, unbundle {u:.2f} (pipeline time / ours; "
          f"target >= 1.0); our peak RSS {rss:.0f} MiB (target < 100)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
