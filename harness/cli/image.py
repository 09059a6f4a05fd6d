"""`nc-harness image bundle|unbundle|upload|download|delete|register|describe|deregister|serve`: euca2ools'
bundle-image, unbundle, upload-bundle, download-bundle, delete-bundle, register, describe-images and deregister,
with their flag names; `serve` runs the
project's loopback S3 server. The S3 endpoint comes from --endpoint or NC_S3_ENDPOINT, credentials from
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (never printed)."""
from __future__ import annotations

import os
import sys

from harness.errors import HarnessError


def _env_key():
    return os.environ.get("EC2_PRIVATE_KEY") or os.environ.get("EUCA_PRIVATE_KEY")


class ImageUsage(HarnessError):
    """A command line the image verbs refuse before touching anything: exit 2, as every verb's usage errors."""


def _size(text: str) -> int:
    """euca2ools' --part-size: bytes, or k/m/g/t (powers of 1024)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = text.strip().lower()
    mult = units.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in units else text
    if not digits.isdigit() or int(digits) == 0:
        raise ImageUsage(f"argument --part-size: invalid size '{text}'")
    return int(digits) * mult


def _mappings(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, text.split(",")):
        virtual, eq, device = item.partition("=")
        if not eq or not virtual or not device:
            raise ImageUsage(f"argument -B/--block-device-mappings: '{item}' is not VIRTUAL=DEVICE")
        out[virtual] = device
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("image", help="bundle and unbundle images (euca2ools' formats and flags)")
    verbs = p.add_subparsers(dest="image_verb", required=True)
    b = verbs.add_parser("bundle", help="euca-bundle-image: tar, gzip, AES-128-CBC, parts and a signed manifest")
    b.add_argument("-i", "--image", required=True, help="the image file to bundle")
    b.add_argument("-r", "--arch", required=True, help="its architecture: i386, x86_64 or armhf")
    b.add_argument("-u", "--user", default=os.environ.get("EC2_USER_ID", ""), help="account id (default $EC2_USER_ID)")
    b.add_argument("-c", "--cert", default=os.environ.get("EC2_CERT") or os.environ.get("EUCA_CERT"),
                   help="the user's certificate, PEM (default $EC2_CERT)")
    b.add_argument("-k", "--privatekey", default=_env_key(), help="the user's private key, PEM: signs the manifest "
                   "(default $EC2_PRIVATE_KEY)")
    b.add_argument("--ec2cert", default=os.environ.get("EUCALYPTUS_CERT"),
                   help="the cloud's certificate, PEM: the key and IV are also encrypted to it "
                        "(default $EUCALYPTUS_CERT)")
    b.add_argument("-d", "--destination", help="directory for the manifest and parts (default: a temporary one)")
    b.add_argument("-p", "--prefix", default="", help="the bundle's name (default: the image file's)")
    b.add_argument("--kernel", help="the kernel image id the manifest names")
    b.add_argument("--ramdisk", help="the ramdisk image id the manifest names")
    b.add_argument("-B", "--block-device-mappings", default="", help="VIRTUAL=DEVICE,... mappings for the manifest")
    b.add_argument("--productcodes", default="", help="comma-separated product codes for the manifest")
    b.add_argument("--image-type", choices=("machine", "kernel", "ramdisk"), default="machine",
                   help="what the image is (default machine)")
    b.add_argument("--image-size", type=int, help="the size the manifest states (default: the file's)")
    b.add_argument("--part-size", default="10m", help="size of each part, e.g. 10m (default, as euca2ools)")
    b.add_argument("--enc-key", help="a fixed AES key, 32 hex digits (tests; default: random)")
    b.add_argument("--enc-iv", help="a fixed AES IV, 32 hex digits (tests; default: random)")
    u = verbs.add_parser("unbundle", help="euca-unbundle: check the parts, decrypt, check digest and size")
    u.add_argument("-m", "--manifest", required=True, help="the bundle's manifest file")
    u.add_argument("-s", "--source", help="directory holding the parts (default: the manifest's)")
    u.add_argument("-d", "--destination", default=".", help="where the image is written (default .)")
    u.add_argument("-k", "--privatekey", default=_env_key(), help="a private key the key and IV were encrypted to "
                   "(default $EC2_PRIVATE_KEY)")
    u.add_argument("--enc-key", help="the AES key, 32 hex digits, instead of a private key")
    u.add_argument("--enc-iv", help="the AES IV, 32 hex digits, with --enc-key")
    u.add_argument("-c", "--cert", help="verify the manifest's signature with this user certificate")
    up = verbs.add_parser("upload", help="euca-upload-bundle: parts in index order, then the manifest")
    up.add_argument("-b", "--bucket", required=True, help="BUCKET[/PREFIX]")
    up.add_argument("-m", "--manifest", required=True, help="the bundle's manifest; its parts beside it")
    up.add_argument("-d", "--directory", help="where the parts are (default: beside the manifest)")
    up.add_argument("--acl", default="aws-exec-read", help="canned ACL of the uploaded objects (default aws-exec-read)")
    up.add_argument("--location", help="the bucket's location constraint when it is created")
    up.add_argument("--skipmanifest", action="store_true", help="upload the parts only")
    dl = verbs.add_parser("download", help="euca-download-bundle: manifest and parts, every part's SHA-1 checked")
    dl.add_argument("-b", "--bucket", required=True, help="BUCKET[/PREFIX]")
    dl.add_argument("-m", "--manifest", help="manifest key name (NAME.manifest.xml)")
    dl.add_argument("-p", "--prefix", help="NAME: the manifest is NAME.manifest.xml")
    dl.add_argument("-d", "--directory", default=".", help="where the manifest and parts go (default .)")
    de = verbs.add_parser("delete", help="euca-delete-bundle: every part, then the manifest")
    de.add_argument("-b", "--bucket", required=True, help="BUCKET[/PREFIX]")
    de.add_argument("-m", "--manifest", help="the bundle's manifest file, naming its parts")
    de.add_argument("-p", "--prefix", help="or the bundle's name in the bucket")
    de.add_argument("--clear", action="store_true", help="then delete the bucket")
    rg = verbs.add_parser("register", help="euca-register: a bundle in the store becomes an emi/eki/eri; the "
                          "machine waits while it is decrypted into the image cache")
    rg.add_argument("location", metavar="MANIFEST", help="BUCKET/PREFIX/NAME.manifest.xml, as upload prints it")
    rg.add_argument("-n", "--name", help="the image's name (default: the manifest's)")
    rg.add_argument("-d", "--description", default="", help="free text")
    rg.add_argument("-a", "--arch", help="architecture (default: the manifest's)")
    rg.add_argument("--kernel", help="the registered kernel image id (eki-...)")
    rg.add_argument("--ramdisk", help="the registered ramdisk image id (eri-...)")
    rg.add_argument("--cloud-key", default=os.environ.get("NC_CLOUD_PRIVATE_KEY"),
                    help="the cloud's private key, to decrypt the bundle into the cache (NC_CLOUD_PRIVATE_KEY)")
    rg.add_argument("--account", default=os.environ.get("EC2_USER_ID"), help="must own the manifest's image/user")
    ds = verbs.add_parser("describe", help="euca-describe-images: one tab-separated IMAGE line per image")
    ds.add_argument("ids", nargs="*", metavar="ID", help="image ids (default: every registered image)")
    dr = verbs.add_parser("deregister", help="euca-deregister (a second call removes the record)")
    dr.add_argument("id", metavar="ID", help="the image id to deregister")
    sv = verbs.add_parser("serve", help="run the loopback S3 server (moto) until interrupted")
    sv.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free one)")
    from harness.cli import image_prep
    image_prep.add_parsers(verbs)
    for v in (up, dl, de, rg, ds, dr):
        v.add_argument("--endpoint", help="S3 endpoint URL (default NC_S3_ENDPOINT)")
    p.set_defaults(run=run)


def _location(args) -> str:
    name = args.manifest or (f"{args.prefix}.manifest.xml" if args.prefix else None)
    if not name:
        raise ValueError("one of -m/--manifest or -p/--prefix is required")
    return f"{args.bucket.strip('/')}/{name}"


def _store(args):
    from engine.images.store import BundleStore, StoreError, s3_client
    endpoint = args.endpoint or os.environ.get("NC_S3_ENDPOINT")
    if not endpoint:
        raise StoreError("no S3 endpoint: give --endpoint or set NC_S3_ENDPOINT (`nc-harness image serve` runs one)")
    return BundleStore(s3_client(endpoint))


def _registry(args, store) -> int:
    from engine.images.registry import Registry
    registry = Registry(store, getattr(args, "cloud_key", None))
    if args.image_verb == "register":
        image = registry.register(args.location, args.name, args.arch, args.kernel, args.ramdisk, args.description,
                                  args.account)
        print(f"IMAGE\t{image.id}", flush=True)
        registry.wait()
        image = registry.get(image.id)
        if image.state != "available":
            raise ValueError(f"{image.id} is {image.state}: {image.reason}")
        return 0
    if args.image_verb == "deregister":
        print(f"IMAGE\t{registry.deregister(args.id).id}")
        return 0
    wanted = {i.lower() for i in args.ids}
    images = [i for i in registry.all() if not wanted or i.id.lower() in wanted]
    missing = wanted - {i.id.lower() for i in images}
    if missing:
        raise ValueError(f"InvalidAMIID.NotFound: The image ID '{sorted(missing)[0]}' does not exist")
    for image in images:
        print(image.line())
    return 0


def _transfer(args) -> int:
    if args.image_verb == "serve":
        import time

        from harness.images.s3server import S3Server
        with S3Server(args.port) as server:
            print(f"S3 endpoint {server.endpoint}; it takes any credentials:\n"
                  f"export NC_S3_ENDPOINT={server.endpoint} AWS_ACCESS_KEY_ID=nc-harness "
                  f"AWS_SECRET_ACCESS_KEY=nc-harness-secret", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return 0
    store = _store(args)
    if args.image_verb in ("register", "describe", "deregister"):
        return _registry(args, store)
    if args.image_verb == "upload":
        done = store.upload_bundle(args.manifest, args.bucket, args.directory, args.acl, args.location,
                                   args.skipmanifest)
        print(f"Uploaded {done.location}")
    elif args.image_verb == "download":
        path = store.download_bundle(_location(args), args.directory)
        print(f"Wrote {path}")
    else:
        for key in store.delete_bundle(_location(args), args.clear):
            print(f"Deleted {args.bucket.split('/')[0]}/{key}")
    return 0


def run(args) -> int:
    from engine.images.bundle import BundleError, BundleSpec, bundle_image
    from engine.images.crypto import BundleCryptoError
    from engine.images.registry import RegistryError
    from engine.images.store import StoreError
    from engine.images.unbundle import UnbundleError, unbundle
    prog = f"nc-harness image {args.image_verb}"
    if args.image_verb in ("resize", "stamp", "zerofree"):
        from harness.cli import image_prep
        return image_prep.run(args)
    try:
        if args.image_verb in ("upload", "download", "delete", "serve", "register", "describe", "deregister"):
            return _transfer(args)
        if args.image_verb == "bundle":
            if not args.ec2cert:
                raise ImageUsage("missing cloud certificate; please supply one with --ec2cert")
            spec = BundleSpec(arch=args.arch, user=args.user, ec2cert=args.ec2cert, prefix=args.prefix,
                              cert=args.cert, privatekey=args.privatekey, image_type=args.image_type,
                              kernel=args.kernel, ramdisk=args.ramdisk,
                              block_device_mapping=_mappings(args.block_device_mappings),
                              product_codes=[c for c in args.productcodes.split(",") if c],
                              part_size=_size(args.part_size), enc_key=args.enc_key, enc_iv=args.enc_iv)
            if not os.path.isfile(args.image):
                raise ImageUsage(f"{args.image}: no such file")
            destination = args.destination
            if destination is None:
                import tempfile
                destination = tempfile.mkdtemp(prefix="bundle-", dir=os.environ.get("TMPDIR", "/var/tmp"))
            path, _ = bundle_image(args.image, destination, spec, args.image_size)
            print(f"Wrote manifest {path}")
            return 0
        path = unbundle(args.manifest, args.source, args.destination, args.privatekey, args.enc_key, args.enc_iv,
                        args.cert)
        print(f"Wrote {path}")
        return 0
    except ImageUsage as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (BundleError, BundleCryptoError, UnbundleError, StoreError, RegistryError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
