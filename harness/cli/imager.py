"""`nc-harness imager [backend=SPEC] [global=value...] COMMAND key=value...`: euca-imager's grammar and commands
(engine.imager) on a node. `backend=` (ours; default sim) picks the node: sim, uml, qemu, local,
ssh://user@host, vagrant:NAME. Images come from `file:///` paths on the node or http(s) URLs.

`bundle` uploads to NC_S3_ENDPOINT with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (never printed); the manifest
names the account EC2_USER_ID, wraps its key for `cloud_cert=` and is signed with `service_key=`."""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    # '+' as the option prefix: the imager's own tokens (`--work=/x`, `help`) reach it untouched
    p = sub.add_parser("imager", prefix_chars="+", add_help=False,
                       help="euca-imager: [global=value...] COMMAND key=value... (try: nc-harness imager help)")
    p.add_argument("tokens", nargs="*", metavar="TOKEN", help="euca-imager's own command line: COMMAND, then key=value "
                   "parameters (`nc-harness imager help` lists them)")
    p.set_defaults(run=run)


def run(args) -> int:
    from engine.imager.grammar import ImagerUsage
    from engine.imager.run import HelpRequested, Imager
    from engine.sources import ImageSources, NodeFileSource, UrlImageSource
    from harness.backends import make_host
    tokens = list(args.tokens)
    backend = "sim"
    for i, token in enumerate(tokens):
        if "=" not in token:
            break
        if token.lstrip("-").startswith("backend="):
            backend = tokens.pop(i).split("=", 1)[1]
            break
    if not tokens:
        tokens = ["help"]
    try:
        globals_, commands = Imager(None, None).check(tokens)   # help and a bad line never start a node
        store, spec = _bundling(globals_) if any(inv.name == "bundle" for inv, _ in commands) else (None, None)
    except HelpRequested as text:
        print(str(text), end="")
        return 0
    except ImagerUsage as exc:
        print(f"nc-harness imager: {exc}", file=sys.stderr)
        return 2
    try:
        host = make_host(backend)
    except Exception as exc:  # noqa: BLE001 - an unknown backend or a node that will not start: one line
        print(f"nc-harness imager: backend={backend}: {exc}", file=sys.stderr)
        return 2
    try:
        from engine.nodeio import NodeIO, clock_for
        clock = clock_for(host)
        io = NodeIO(host, clock=clock)
        images = ImageSources({"file": NodeFileSource(io), "url": UrlImageSource(io.clock)})
        imager = Imager(host, images, clock=clock, stderr=sys.stderr, store=store, bundle_spec=spec)
        status = imager.main(tokens)
        print(imager.output, end="")
        for error in imager.errors:
            print(f"nc-harness imager: {error}", file=sys.stderr)
        return status
    finally:
        host.close()


def _bundling(globals_: dict):
    """The object store and the bundle's keys for `bundle`, from the environment and the global parameters;
    anything missing is a usage error, found before a node starts."""
    import os

    from engine.imager.grammar import ImagerUsage
    from engine.images.bundle import BundleSpec
    from engine.images.store import BundleStore, s3_client
    endpoint = os.environ.get("NC_S3_ENDPOINT")
    if not endpoint:
        raise ImagerUsage("bundle: no object store: set NC_S3_ENDPOINT (and AWS_ACCESS_KEY_ID, "
                          "AWS_SECRET_ACCESS_KEY)")
    account = os.environ.get("EC2_USER_ID", "")
    if not account:
        raise ImagerUsage("bundle: set EC2_USER_ID (the account the manifest names)")
    for key in ("cloud_cert", "service_key"):
        if not globals_.get(key):
            raise ImagerUsage(f"bundle: global parameter {key}= is needed (a PEM file on this machine)")
        if not os.path.isfile(globals_[key]):
            raise ImagerUsage(f"global parameters: {key}: {globals_[key]}: no such file")
    spec = BundleSpec(arch="x86_64", user=account, ec2cert=globals_["cloud_cert"],
                      privatekey=globals_["service_key"])
    return BundleStore(s3_client(endpoint)), spec
