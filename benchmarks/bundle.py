"""Bundling cost in one run: Python's peak memory stays flat as the image grows (streaming), and what a
sparse image costs against a dense one of the same size. Prints ratios; no targets are asserted here."""
from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from engine.images.bundle import BundleSpec, bundle_image  # noqa: E402
from rsa_keys import keypair  # noqa: E402

MB = 1 << 20


def run(path: str, out: str, cert: str) -> tuple[float, int]:
    spec = BundleSpec(arch="x86_64", user="1", ec2cert=cert, enc_key="00" * 16, enc_iv="11" * 16)
    tracemalloc.start()
    start = time.perf_counter()
    bundle_image(path, out, spec)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak


def main() -> None:
    import pathlib
    with tempfile.TemporaryDirectory() as tmp:
        _, cert = keypair(pathlib.Path(tmp), "cloud")
        results = {}
        for name, size, dense in (("sparse-64M", 64 * MB, False), ("sparse-512M", 512 * MB, False),
                                  ("dense-64M", 64 * MB, True)):
            path = os.path.join(tmp, name)
            with open(path, "wb") as fh:
                if dense:
                    for _ in range(size // MB):
                        fh.write(os.urandom(MB))
                else:
                    fh.truncate(size)
            results[name] = run(path, os.path.join(tmp, f"{name}.out"), cert)
            os.unlink(path)
            print(f"{name}: {results[name][0]:.2f} s, Python peak memory {results[name][1] / MB:.1f} MiB")
        small, big = results["sparse-64M"], results["sparse-512M"]
        print(f"peak memory, 512 MiB image / 64 MiB image: {big[1] / small[1]:.2f}x (1.0 = flat; 8.0 = grows "
              f"with the image)")
        print(f"time, sparse 64 MiB / dense 64 MiB: {small[0] / results['dense-64M'][0]:.2f}x")
        print(f"time per GiB of sparse image: {big[0] * 2:.1f} s (holes are read and compressed, not skipped)")


if __name__ == "__main__":
    main()
