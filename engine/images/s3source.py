"""The download creator's source for `walrus://BUCKET/KEY.manifest.xml` VBRs (NC 3.x's OBJECT_STORAGE kind):
the id hashes the full manifest text fetched from the store, the size is the manifest's first `<size>`, and the
bytes are the decrypted image the registry cached, streamed to the node through boto3."""
from __future__ import annotations

from engine.artifacts import ImageDescription
from engine.sources import CHUNK, DownloadError, manifest_description, write_chunks

from .registry import Registry, RegistryError
from .store import StoreError

MANIFEST_MAX = 2_000_000
TRIES, FIRST_BACKOFF = 3, 1.0


class S3ImageSource:
    def __init__(self, registry: Registry):
        self.registry = registry

    @staticmethod
    def location(vbr) -> str:
        loc = vbr.prepared_location
        return loc.split("://", 1)[1] if "://" in loc else loc

    def describe(self, vbr) -> ImageDescription:
        try:
            _, text = self.registry.store.get_manifest(self.location(vbr))
        except StoreError as exc:
            raise DownloadError(str(exc)) from None
        return manifest_description(text, vbr.location, MANIFEST_MAX)

    def fetch(self, io, vbr, dest_path: str, abort=None) -> int:
        """Streamed into the blob; a transfer that breaks off is started again (each chunk lands at its own
        offset, so a retry overwrites what the failed attempt wrote), TRIES times with doubling back-off."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            image = self.registry.cached_image(self.location(vbr))
        except RegistryError as exc:
            raise DownloadError(str(exc)) from None
        delay = FIRST_BACKOFF
        for attempt in range(1, TRIES + 1):
            try:
                body = self.registry.store.s3.get_object(Bucket=self.registry.cache_bucket,
                                                         Key=image.cache_key)["Body"]
                return write_chunks(io, body.iter_chunks(CHUNK), dest_path, abort)
            except (ClientError, BotoCoreError) as exc:
                if attempt == TRIES or isinstance(exc, ClientError):
                    raise DownloadError(f"{vbr.location}: {exc}") from None
                io.log(f"download of {vbr.location} broke off ({exc}); attempt {attempt + 1} of {TRIES}")
                io.clock.sleep(delay)
                delay *= 2
        raise DownloadError(f"{vbr.location}: no attempts made")
