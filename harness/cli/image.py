"""`nc-harness image bundle|unbundle`: euca-bundle-image and euca-unbundle, with euca2ools' flag names."""
from __future__ import annotations

import os
import sys


def _size(text: str) -> int:
    """euca2ools' --part-size: bytes, or k/m/g/t (powers of 1024)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = text.strip().lower()
    mult = units.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in units else text
    if not digits.isdigit() or int(digits) == 0:
        raise ValueError(f"argument --part-size: invalid size '{text}'")
    return int(digits) * mult


def _mappings(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, text.split(",")):
        virtual, eq, device = item.partition("=")
        if not eq or not virtual or not device:
            raise ValueError(f"argument -B/--block-device-mappings: '{item}' is not VIRTUAL=DEVICE")
        out[virtual] = device
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("image", help="bundle and unbundle images (euca2ools' formats and flags)")
    verbs = p.add_subparsers(dest="image_verb", required=True)
    b = verbs.add_parser("bundle", help="euca-bundle-image: tar, gzip, AES-128-CBC, parts and a signed manifest")
    b.add_argument("-i", "--image", required=True)
    b.add_argument("-r", "--arch", required=True)
    b.add_argument("-u", "--user", default=os.environ.get("EC2_USER_ID", ""))
    b.add_argument("-c", "--cert", default=os.environ.get("EC2_CERT") or os.environ.get("EUCA_CERT"))
    b.add_argument("-k", "--privatekey", default=os.environ.get("EC2_PRIVATE_KEY") or os.environ.get("EUCA_PRIVATE_KEY"))
    b.add_argument("--ec2cert", default=os.environ.get("EUCALYPTUS_CERT"))
    b.add_argument("-d", "--destination")
    b.add_argument("-p", "--prefix", default="")
    b.add_argument("--kernel")
    b.add_argument("--ramdisk")
    b.add_argument("-B", "--block-device-mappings", default="")
    b.add_argument("--productcodes", default="")
    b.add_argument("--image-type", choices=("machine", "kernel", "ramdisk"), default="machine")
    b.add_argument("--image-size", type=int)
    b.add_argument("--part-size", default="10m")
    b.add_argument("--enc-key")
    b.add_argument("--enc-iv")
    u = verbs.add_parser("unbundle", help="euca-unbundle: check the parts, decrypt, check digest and size")
    u.add_argument("-m", "--manifest", required=True)
    u.add_argument("-s", "--source")
    u.add_argument("-d", "--destination", default=".")
    u.add_argument("-k", "--privatekey", default=os.environ.get("EC2_PRIVATE_KEY") or os.environ.get("EUCA_PRIVATE_KEY"))
    u.add_argument("--enc-key")
    u.add_argument("--enc-iv")
    u.add_argument("-c", "--cert", help="verify the manifest's signature with this user certificate")
    p.set_defaults(run=run)


def run(args) -> int:
    from engine.images.bundle import BundleError, BundleSpec, bundle_image
    from engine.images.crypto import BundleCryptoError
    from engine.images.unbundle import UnbundleError, unbundle
    prog = f"nc-harness image {args.image_verb}"
    try:
        if args.image_verb == "bundle":
            if not args.ec2cert:
                raise BundleError("missing cloud certificate; please supply one with --ec2cert")
            spec = BundleSpec(arch=args.arch, user=args.user, ec2cert=args.ec2cert, prefix=args.prefix,
                              cert=args.cert, privatekey=args.privatekey, image_type=args.image_type,
                              kernel=args.kernel, ramdisk=args.ramdisk,
                              block_device_mapping=_mappings(args.block_device_mappings),
                              product_codes=[c for c in args.productcodes.split(",") if c],
                              part_size=_size(args.part_size), enc_key=args.enc_key, enc_iv=args.enc_iv)
            if not os.path.isfile(args.image):
                raise BundleError(f"{args.image}: no such file")
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
    except (BundleError, BundleCryptoError, UnbundleError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
