"""`nc-harness nightly`: the scenario suite on Vagrant/libvirt nodes. Brings N nodes up (python-vagrant), runs
the suite across them with pytest-xdist (one worker per node, `--nc-backend vagrant:node{worker}`), writes JUnit,
and destroys the nodes per `--keep` (destroying is idempotent)."""
from __future__ import annotations

import os
import subprocess
import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("nightly", help="run the scenario suite on N Vagrant/libvirt nodes in parallel")
    p.add_argument("paths", nargs="*", default=["scenarios"], metavar="PATH",
                   help="scenario files or directories (default scenarios)")
    p.add_argument("--nodes", type=int, default=int(os.environ.get("NC_NODES", "2")),
                   help="how many nodes, one pytest-xdist worker each (default 2, or NC_NODES)")
    p.add_argument("--keep", choices=("never", "failed", "always"), default="never",
                   help="keep the nodes after the run: never (default), only when something failed, always")
    p.add_argument("--junit", default="runs/nightly-junit.xml", help="JUnit XML report (default %(default)s)")
    p.add_argument("--box", help="Vagrant box (default: the Vagrantfile's, nc-harness-node)")
    p.add_argument("--driver", choices=("kvm", "qemu"), help="libvirt driver (default: kvm where /dev/kvm works)")
    p.set_defaults(run=run)


def _destroy(v) -> str:
    try:
        v.destroy()
        return "destroyed"
    except subprocess.CalledProcessError as exc:
        return f"destroy failed (rc {exc.returncode}); remove them with `vagrant destroy -f`"


def run(args) -> int:
    if args.nodes < 1:
        print("nc-harness nightly: --nodes must be at least 1", file=sys.stderr)
        return 2
    try:
        import vagrant
    except ImportError:
        print("nc-harness nightly: python-vagrant is missing (pip install -e '.[realnode]')", file=sys.stderr)
        return 2
    from harness.backends.vagrant import PROJECT_DIR
    env = dict(os.environ, NC_NODES=str(args.nodes), VAGRANT_DEFAULT_PROVIDER="libvirt")
    if args.box:
        env["NC_BOX"] = args.box
    if args.driver:
        env["NC_LIBVIRT_DRIVER"] = args.driver
    v = vagrant.Vagrant(root=PROJECT_DIR, env=env, quiet_stdout=False, quiet_stderr=False)
    start = time.monotonic()
    print(f"nightly: bringing up {args.nodes} node(s) from {PROJECT_DIR}/Vagrantfile", flush=True)
    try:
        v.up(provider="libvirt")
    except subprocess.CalledProcessError as exc:
        fate = _destroy(v) if args.keep != "always" else "kept"
        print(f"nc-harness nightly: vagrant up failed (rc {exc.returncode}); nodes {fate}", file=sys.stderr)
        return 2
    up = time.monotonic() - start
    os.makedirs(os.path.dirname(os.path.abspath(args.junit)), exist_ok=True)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.paths,
            "-n", str(args.nodes), "--nc-backend", "vagrant:node{worker}", f"--junitxml={args.junit}"]
    print(f"nightly: nodes up in {up:.0f} s; {' '.join(argv[1:])}", flush=True)
    rc = subprocess.run(argv, env=env, cwd=os.getcwd()).returncode
    failed = rc != 0
    if args.keep == "always" or (args.keep == "failed" and failed):
        fate = "kept (vagrant destroy -f removes them)"
    else:
        fate = _destroy(v)
    print(f"nightly: {'FAILED' if failed else 'passed'} (pytest rc {rc}); JUnit {args.junit}; nodes {fate}; "
          f"{time.monotonic() - start:.0f} s in all", flush=True)
    return 1 if failed else 0
