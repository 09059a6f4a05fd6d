"""The object-store side of a scenario: an S3 endpoint (our loopback server, or NC_S3_ENDPOINT), the store, a
registry with seeded ids, the scenario's published images (bundled from the bytes staged on the node, uploaded,
registered and decrypted into the image cache before the steps run), and BundleInstance with the node's keys.

Everything random is drawn from one random.Random(seed): AES keys and IVs, RSA padding, image ids. So a seeded
scenario gives the same manifests, hence the same artifact ids and device names, on every run."""
from __future__ import annotations

import os
import random
import shutil
import tempfile

from engine.images.bundle import BundleSpec, bundle_stream
from engine.images.registry import Registry
from engine.images.store import BundleStore, s3_client
from engine.sources import read_chunks
from harness.errors import HarnessError

KEYS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scenarios", "keys")
ACCOUNT = "123456789012"


class ObjectStoreError(HarnessError):
    pass


class ObjectStoreRun:
    def __init__(self, seed: int):
        self.rng = random.Random(f"objectstore-{seed}")
        self.server = None
        self.store: BundleStore | None = None
        self.registry: Registry | None = None
        self.registered: dict = {}          # scenario name (image id or register_as) -> registry Image

    def key(self, name: str) -> str:
        return os.path.join(KEYS, name)

    def start(self) -> ObjectStoreRun:
        endpoint = os.environ.get("NC_S3_ENDPOINT")
        if not endpoint:
            from harness.images.s3server import S3Server
            endpoint = S3Server.shared().endpoint
        self.store = BundleStore(s3_client(endpoint))
        self.registry = Registry(self.store, self.key("cloud-pk.pem"), rng=self.rng)
        return self

    def stop(self) -> None:
        if self.registry is not None:   # its background decrypts finish against a store that is still there
            self.registry.wait()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def spec(self, **kw) -> BundleSpec:
        return BundleSpec(arch="x86_64", user=ACCOUNT, ec2cert=self.key("cloud-cert.pem"),
                          cert=self.key("cloud-cert.pem"), privatekey=self.key("node-pk.pem"), rng=self.rng, **kw)

    def publish(self, host, spec) -> None:
        """A staged image, read off the node, bundled, uploaded to its bucket and registered (waits until
        available)."""
        kind = spec.id.split("-")[0]
        extra = {"kernel": "true"} if kind == "eki" else {"ramdisk": "true"} if kind == "eri" else {}
        chunks = read_chunks(host.run, spec.staged_path, spec.size)
        work = tempfile.mkdtemp(prefix="nc-harness-publish-")
        try:
            manifest, _ = bundle_stream(chunks, spec.size, work, self.spec(**extra), f"{spec.id}.img")
            location = self.store.upload_bundle(manifest, spec.publish["bucket"]).location
        finally:
            shutil.rmtree(work, ignore_errors=True)
        kernel = self.registered[spec.publish["kernel"]].id if spec.publish.get("kernel") else None
        ramdisk = self.registered[spec.publish["ramdisk"]].id if spec.publish.get("ramdisk") else None
        self.register(spec.id, location, kernel, ramdisk)

    def register(self, name: str, location: str, kernel: str | None, ramdisk: str | None):
        image = self.registry.register(location, kernel=kernel, ramdisk=ramdisk)
        self.registry.wait()
        image = self.registry.get(image.id)
        if image.state != "available":
            raise ObjectStoreError(f"registering {location}: {image.state}: {image.reason}")
        self.registered[name] = image
        return image
