"""Registered images: register / describe / deregister, kept as JSON records in a bucket of the store, and the
"decrypt and cache" a registration starts (seed 000): the bundle is downloaded, every part checked, decrypted
with the cloud's private key, unpacked, and the plain image stored in the image cache bucket, taking the image
from `pending` to `available` (or `failed`, with the reason). Ids are Eucalyptus 3.x's: `emi-`/`eki-`/`eri-`
and 8 upper-case hex digits from a CSPRNG, new on collision, any case accepted on input."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass, field

from engine.errors import EngineError

from .store import BundleStore, StoreError
from .unbundle import UnbundleError, unbundle

PREFIXES = {"machine": "emi", "kernel": "eki", "ramdisk": "eri"}


class RegistryError(EngineError):
    pass


@dataclass
class Image:
    id: str
    location: str
    owner: str
    arch: str
    image_type: str
    name: str
    state: str = "pending"
    description: str = ""
    kernel_id: str = ""
    ramdisk_id: str = ""
    size: int = 0
    digest: str = ""
    cache_key: str = ""
    reason: str = ""
    public: bool = False
    block_device_mapping: dict = field(default_factory=dict)

    def line(self) -> str:
        """euca-describe-images (3.x): IMAGE id location owner state public|private arch type kernel ramdisk
        platform rootDeviceType virtualizationType hypervisor, tab-separated, missing values empty."""
        machine = self.image_type == "machine"
        fields = ["IMAGE", self.id, self.location, self.owner, self.state, "public" if self.public else "private",
                  self.arch, self.image_type, self.kernel_id if machine else "", self.ramdisk_id if machine else "",
                  "", "instance-store" if machine else "", "paravirtual", ""]
        return "\t".join(fields)


class Registry:
    def __init__(self, store: BundleStore, cloud_key: str | None = None, bucket: str = "nc-harness-registry",
                 cache_bucket: str = "nc-harness-image-cache", rng=None):
        """`rng`: a seeded random.Random for ids (deterministic simulation); the OS's CSPRNG otherwise."""
        self.store, self.cloud_key, self.rng = store, cloud_key, rng
        self.bucket, self.cache_bucket = bucket, cache_bucket
        self.workers: list[threading.Thread] = []

    # -- records ----------------------------------------------------------------------------------
    def _key(self, image_id: str) -> str:
        return f"images/{image_id.lower()}.json"

    def _save(self, image: Image) -> None:
        self.store.ensure_bucket(self.bucket)
        self.store.s3.put_object(Bucket=self.bucket, Key=self._key(image.id),
                                 Body=json.dumps(asdict(image), sort_keys=True).encode())

    def get(self, image_id: str) -> Image:
        from botocore.exceptions import ClientError
        try:
            body = self.store.s3.get_object(Bucket=self.bucket, Key=self._key(image_id))["Body"].read()
        except ClientError:
            raise RegistryError(f"InvalidAMIID.NotFound: The image ID '{image_id}' does not exist") from None
        return Image(**json.loads(body))

    def all(self) -> list[Image]:
        from botocore.exceptions import ClientError
        try:
            pages = self.store.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="images/")
            keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        except ClientError:
            return []
        return sorted((self.get(k[len("images/"):-len(".json")]) for k in keys), key=lambda i: i.id)

    def _new_id(self, image_type: str) -> str:
        taken = {i.id.lower() for i in self.all()}
        while True:
            raw = self.rng.getrandbits(32).to_bytes(4, "big") if self.rng is not None else os.urandom(4)
            candidate = f"{PREFIXES[image_type]}-{raw.hex().upper()}"
            if candidate.lower() not in taken:
                return candidate

    # -- operations -------------------------------------------------------------------------------
    def register(self, location: str, name: str | None = None, arch: str | None = None, kernel: str | None = None,
                 ramdisk: str | None = None, description: str = "", account: str | None = None,
                 block_device_mapping: dict[str, str] | None = None) -> Image:
        try:
            m, _ = self.store.get_manifest(location)
        except StoreError as exc:
            raise RegistryError(str(exc)) from None
        if account and m.user != account.replace("-", ""):
            raise RegistryError(f"AuthFailure: Manifest is not accessible: {location}")
        image_type = m.image_type
        if (m.kernel_id or "").lower() in ("true", "yes"):
            image_type = "kernel"
        elif (m.ramdisk_id or "").lower() in ("true", "yes"):
            image_type = "ramdisk"
        if image_type not in PREFIXES:
            raise RegistryError(f"InvalidManifest: unknown image type '{image_type}'")
        kernel = kernel or (m.kernel_id if image_type == "machine" else None) or ""
        ramdisk = ramdisk or (m.ramdisk_id if image_type == "machine" else None) or ""
        if image_type == "machine":
            if not kernel:
                raise RegistryError("MissingParameter: Kernel ID must be specified")
            if not ramdisk:
                raise RegistryError("MissingParameter: Ramdisk ID must be specified")
        image = Image(id=self._new_id(image_type), location=location, owner=m.user, arch=arch or m.arch,
                      image_type=image_type, name=name or m.name, description=description, kernel_id=kernel,
                      ramdisk_id=ramdisk, size=m.size, digest=m.digest,
                      block_device_mapping=dict(block_device_mapping if block_device_mapping is not None
                                                else m.block_device_mapping))
        self._save(image)
        worker = threading.Thread(target=self._decrypt_and_cache, args=(image,), daemon=True)
        self.workers.append(worker)
        worker.start()
        return image

    def wait(self) -> None:
        for worker in self.workers:
            worker.join()
        self.workers.clear()

    def _decrypt_and_cache(self, image: Image) -> None:
        """The background half of RegisterImage. Its outcome is the image's state; when the store itself goes
        away under it (its server stopped, the endpoint unreachable) there is nowhere left to record anything,
        and the worker ends quietly rather than dying with an exception in its thread."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self._cache(image)
        except (BotoCoreError, ClientError, ConnectionError):
            image.state, image.reason = "failed", "the object store went away"

    def _cache(self, image: Image) -> None:
        work = tempfile.mkdtemp(prefix="nc-harness-cache-")
        try:
            if not self.cloud_key:
                raise RegistryError("no cloud private key to decrypt with (NC_CLOUD_PRIVATE_KEY or --cloud-key)")
            manifest = self.store.download_bundle(image.location, os.path.join(work, "bundle"))
            plain = unbundle(manifest, destination=os.path.join(work, "image"), privatekey=self.cloud_key)
            self.store.ensure_bucket(self.cache_bucket)
            image.cache_key = f"{image.id}/{image.name}"
            self.store.put_file(self.cache_bucket, image.cache_key, plain, "private")
            image.state = "available"
        except (StoreError, UnbundleError, RegistryError, OSError) as exc:
            image.state, image.reason = "failed", str(exc)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self._save(image)

    def deregister(self, image_id: str) -> Image:
        """The first call marks the image `deregistered`; a call on a deregistered or failed image removes it
        (euca-deregister: "you may need to run this twice")."""
        image = self.get(image_id)
        if image.state in ("deregistered", "failed"):
            self.store.s3.delete_object(Bucket=self.bucket, Key=self._key(image.id))
            if image.cache_key:
                self.store.s3.delete_object(Bucket=self.cache_bucket, Key=image.cache_key)
            image.state = "removed"
            return image
        image.state = "deregistered"
        self._save(image)
        return image

    def cached_image(self, location: str) -> Image:
        """The available image registered from `location` (what the node's download creator fetches)."""
        for image in self.all():
            if image.location == location and image.state == "available":
                return image
        raise RegistryError(f"no available image is registered from {location}")
