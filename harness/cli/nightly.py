"""`nc-harness nightly`: the scenario suite on real nodes, one pytest-xdist worker per node. Either N nodes
Vagrant/libvirt brings up here (python-vagrant; `--nc-backend vagrant:node{worker}`), destroyed per `--keep`
(destroying is idempotent); or `--inventory FILE`, nodes that already run anywhere (ssh targets on a fleet of
KVM hosts, harness.fleet.inventory). JUnit for the whole run, and one file per node beside it."""
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
    p.add_argument("--inventory", metavar="FILE",
                   help="run on these nodes instead (YAML `nodes:` list of ssh://USER@HOST[:PORT] or vagrant:NAME, "
                        "with an optional `identity` key file and `name` each, or {libvirt: URI, nodes: N}: N nodes "
                        "brought up there with the Vagrantfile): one worker per node")
    p.set_defaults(run=run)


def _bring_up(hvs) -> tuple[list, str]:
    """Vagrant up each libvirt entry's nodes on its hypervisor: (the Vagrant handles up, an error or "")."""
    if not hvs:
        return [], ""
    try:
        import vagrant
    except ImportError:
        return [], "python-vagrant is missing (pip install -e '.[realnode]')"
    from harness.backends.vagrant import PROJECT_DIR
    up = []
    for hv in hvs:
        v = vagrant.Vagrant(root=PROJECT_DIR, env=dict(os.environ, **hv.vagrant_env(PROJECT_DIR)),
                            quiet_stdout=False, quiet_stderr=False)
        print(f"nightly: bringing up {hv.nodes} node(s) on {hv.uri} ({hv.name}-node1..{hv.nodes})", flush=True)
        up.append(v)
        try:
            v.up(provider="libvirt")
        except subprocess.CalledProcessError as exc:
            return up, f"vagrant up on {hv.uri} failed (rc {exc.returncode})"
    return up, ""


def _let_go(up: list, keep: str, failed: bool) -> str:
    if keep == "always" or (keep == "failed" and failed):
        return "kept (vagrant destroy -f removes them)"
    return "; ".join(_destroy(v) for v in up)


def run_inventory(args) -> int:
    from harness.fleet.inventory import InventoryError, hypervisors, load_inventory
    from harness.fleet.junit import split_by_node
    try:
        nodes = load_inventory(args.inventory)
    except InventoryError as exc:
        print(f"nc-harness nightly: {exc}", file=sys.stderr)
        return 2
    start = time.monotonic()
    up, error = _bring_up(hypervisors(nodes))
    if error:
        print(f"nc-harness nightly: {error}; nodes {_let_go(up, args.keep, True) if up else 'none'}",
              file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.junit)), exist_ok=True)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.paths, "-n", str(len(nodes)),
            "--nc-inventory", os.path.abspath(args.inventory), f"--junitxml={args.junit}"]
    print(f"nightly: {len(nodes)} node(s) of {args.inventory}: {', '.join(n.name for n in nodes)}; "
          f"{' '.join(argv[1:])}", flush=True)
    rc = subprocess.run(argv, cwd=os.getcwd()).returncode
    files = split_by_node(args.junit, {n.target: n.name for n in nodes}) if os.path.exists(args.junit) else {}
    for name, path in files.items():
        print(f"nightly: {name}: JUnit {path}", flush=True)
    fate = f"; nodes {_let_go(up, args.keep, rc != 0)}" if up else ""
    print(f"nightly: {'FAILED' if rc else 'passed'} (pytest rc {rc}); JUnit {args.junit}{fate}; "
          f"{time.monotonic() - start:.0f} s in all", flush=True)
    return 1 if rc else 0


def _destroy(v) -> str:
    try:
        v.destroy()
        return "destroyed"
    except subprocess.CalledProcessError as exc:
        return f"destroy failed (rc {exc.returncode}); remove them with `vagrant destroy -f`"


def run(args) -> int:
    if args.inventory:
        return run_inventory(args)
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
    fate = _let_go([v], args.keep, failed)
    print(f"nightly: {'FAILED' if failed else 'passed'} (pytest rc {rc}); JUnit {args.junit}; nodes {fate}; "
          f"{time.monotonic() - start:.0f} s in all", flush=True)
    return 1 if failed else 0
