"""Bundles in an S3 bucket through boto3, as euca-upload-bundle / euca-download-bundle / euca-delete-bundle do:
the bucket created when missing, parts in manifest index order then the manifest last, canned ACL
`aws-exec-read` by default, every response ETag checked against the bytes sent (MD5, or the multipart form
for parts above the multipart threshold), retries by botocore's standard mode, and a failed multipart upload
aborted so nothing is left behind. Downloads check every part's SHA-1 from the manifest."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from engine.errors import EngineError

from .manifest import Manifest, ManifestError, parse

MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
ACLS = ("aws-exec-read", "public-read", "ec2-bundle-read", "private")


class StoreError(EngineError):
    pass


def s3_client(endpoint: str | None = None, access_key: str | None = None, secret_key: str | None = None,
              region: str = "us-east-1", attempts: int = 5):
    """Any S3 endpoint by configuration (NC_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); path-style
    URLs and signature v4, retries in botocore's standard mode (throttling, 5xx, timeouts; 5 attempts)."""
    import boto3
    from botocore.config import Config
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key)
    if session.get_credentials() is None:
        raise StoreError("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the loopback server "
                         "of `nc-harness image serve` accepts any)")
    return session.client("s3", endpoint_url=endpoint or os.environ.get("NC_S3_ENDPOINT") or None,
                          region_name=region,
                          # checksums only where the operation requires them: botocore >= 1.36 adds CRC32s to
                          # every upload by default, which S3-compatible stores of NC's era (Walrus) do not know,
                          # and which cost a pass over every byte of a bundle part
                          config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                        retries={"mode": "standard", "max_attempts": attempts},
                                        request_checksum_calculation="when_required",
                                        response_checksum_validation="when_required"))


def split_location(location: str) -> tuple[str, str]:
    """`bucket/key...` (euca2ools' ImageLocation) into bucket and key; leading slashes stripped."""
    bucket, _, key = location.lstrip("/").partition("/")
    if len(bucket) < 2 or not key:
        raise StoreError(f"Invalid image location: {location}")
    return bucket, key


def multipart_etag(path: str, chunk: int) -> str:
    digests = []
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            digests.append(hashlib.md5(data).digest())   # noqa: S324 - S3's ETag scheme, not security
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'  # noqa: S324


def plain_etag(path: str) -> str:
    md5 = hashlib.md5()   # noqa: S324 - S3's ETag scheme
    with open(path, "rb") as fh:
        while data := fh.read(1 << 20):
            md5.update(data)
    return f'"{md5.hexdigest()}"'


@dataclass
class Uploaded:
    location: str
    keys: list[str]


class BundleStore:
    def __init__(self, client, part_size: int | None = None):
        """`part_size`: objects at least this big go up as multipart uploads of parts this big (S3's
        smallest is 5 MiB); by default 64 MiB and up, in 16 MiB parts."""
        self.s3 = client
        self.part_size = part_size

    def _client_error(self, exc, what: str) -> StoreError:
        err = getattr(exc, "response", {}).get("Error", {})
        return StoreError(f"{what}: {err.get('Code', type(exc).__name__)}: {err.get('Message', str(exc))}")

    def ensure_bucket(self, bucket: str, location: str | None = None) -> None:
        from botocore.exceptions import ClientError
        try:
            self.s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchBucket", "404"):
                raise self._client_error(exc, f"bucket {bucket}") from None
        try:
            kw = {"CreateBucketConfiguration": {"LocationConstraint": location}} if location else {}
            self.s3.create_bucket(Bucket=bucket, **kw)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise self._client_error(exc, f"creating bucket {bucket}") from None

    def put_file(self, bucket: str, key: str, path: str, acl: str, progress=None) -> None:
        """`progress(part_number)`: called before each part of a multipart upload is sent; an exception it raises
        (a cancel) ends the upload there, and s3transfer aborts it on S3, so no unfinished upload is left. (Raised
        before the request rather than inside its body, botocore does not take it for a network error to retry.)"""
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError
        size = os.path.getsize(path)
        threshold, chunk = (self.part_size, self.part_size) if self.part_size else (MULTIPART_THRESHOLD,
                                                                                    MULTIPART_CHUNK)
        try:
            if size < threshold:
                with open(path, "rb") as fh:
                    etag = self.s3.put_object(Bucket=bucket, Key=key, Body=fh, ACL=acl)["ETag"]
                expected = plain_etag(path)
            else:
                # s3transfer aborts its multipart upload when a part fails, so none is left orphaned
                # with a part size of our own (a scenario's), parts go one at a time: which part a cancel comes
                # after is then the same every run
                config = TransferConfig(multipart_threshold=threshold, multipart_chunksize=chunk,
                                        **({"max_concurrency": 1} if self.part_size else {}))
                before_part = (lambda params, **_: progress(params.get("PartNumber", 0))) if progress else None
                if before_part is not None:
                    self.s3.meta.events.register("before-call.s3.UploadPart", before_part)
                try:
                    self.s3.upload_file(path, bucket, key, ExtraArgs={"ACL": acl}, Config=config)
                finally:
                    if before_part is not None:
                        self.s3.meta.events.unregister("before-call.s3.UploadPart", before_part)
                etag = self.s3.head_object(Bucket=bucket, Key=key)["ETag"]
                expected = multipart_etag(path, chunk)
        except (ClientError, BotoCoreError) as exc:
            raise self._client_error(exc, f"uploading {bucket}/{key}") from None
        if etag != expected:
            raise StoreError(f"{bucket}/{key}: upload was corrupted during transit (ETag {etag}, expected {expected})")

    def upload_bundle(self, manifest_path: str, bucket_prefix: str, part_dir: str | None = None,
                      acl: str = "aws-exec-read", location: str | None = None, skip_manifest: bool = False,
                      on_put=None, on_progress=None) -> Uploaded:
        """`on_put(key)` is called after each object is stored (BundleInstance tracks and may cancel there), and
        `on_progress(part_number)` before each part of a multipart upload (put_file)."""
        if acl not in ACLS:
            raise StoreError(f"argument --acl: invalid choice: '{acl}' (choose from {', '.join(ACLS)})")
        m = _read(manifest_path)
        part_dir = part_dir or os.path.dirname(os.path.abspath(manifest_path))
        files = [os.path.join(part_dir, p.filename) for p in m.parts]
        for path in files:
            if not os.path.isfile(path):
                raise StoreError(f"no such part: '{path}'")
        bucket, _, prefix = bucket_prefix.strip("/").partition("/")
        if len(bucket) < 3:
            raise StoreError(f"bucket name '{bucket}' is too short (3 characters at least)")
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        self.ensure_bucket(bucket, location)
        keys = []
        for path in files + ([] if skip_manifest else [manifest_path]):
            key = prefix + os.path.basename(path)
            self.put_file(bucket, key, path, acl, on_progress)
            keys.append(key)
            if on_put is not None:
                on_put(key)
        return Uploaded(f"{bucket}/{prefix}{os.path.basename(manifest_path)}", keys)

    def get_manifest(self, location: str) -> tuple[Manifest, str]:
        from botocore.exceptions import BotoCoreError, ClientError
        bucket, key = split_location(location)
        try:
            text = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except (ClientError, BotoCoreError) as exc:
            raise self._client_error(exc, f"reading {location}") from None
        except UnicodeDecodeError:
            raise StoreError(f"{location}: manifest is not text") from None
        try:
            return parse(text, location), text
        except ManifestError as exc:
            raise StoreError(str(exc)) from None

    def download_bundle(self, location: str, destination: str) -> str:
        """Manifest and parts into `destination`, every part's SHA-1 checked; returns the manifest path."""
        from botocore.exceptions import BotoCoreError, ClientError
        m, text = self.get_manifest(location)
        bucket, key = split_location(location)
        prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        os.makedirs(destination, exist_ok=True)
        done = []
        try:
            for part in m.parts:
                path = os.path.join(destination, part.filename)
                sha1 = hashlib.sha1(usedforsecurity=False)
                try:
                    body = self.s3.get_object(Bucket=bucket, Key=prefix + part.filename)["Body"]
                    with open(path, "wb") as fh:
                        done.append(path)
                        for chunk in body.iter_chunks(1 << 20):
                            sha1.update(chunk)
                            fh.write(chunk)
                except (ClientError, BotoCoreError) as exc:
                    raise self._client_error(exc, f"downloading {bucket}/{prefix}{part.filename}") from None
                if sha1.hexdigest() != part.digest:
                    raise StoreError(f"downloaded file '{path}' appears to be corrupt (expected SHA1: {part.digest}, "
                                     f"actual: {sha1.hexdigest()})")
            manifest_path = os.path.join(destination, os.path.basename(key))
            with open(manifest_path, "w", encoding="utf-8") as fh:
                fh.write(text)
            return manifest_path
        except BaseException:
            for path in done:
                if os.path.exists(path):
                    os.unlink(path)
            raise

    def delete_bundle(self, location: str, clear: bool = False) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError
        m, _ = self.get_manifest(location)
        bucket, key = split_location(location)
        prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        keys = [prefix + p.filename for p in m.parts] + [key]
        try:
            for k in keys:
                self.s3.delete_object(Bucket=bucket, Key=k)
            if clear:
                self.s3.delete_bucket(Bucket=bucket)
        except (ClientError, BotoCoreError) as exc:
            raise self._client_error(exc, f"deleting from {bucket}") from None
        return keys


def _read(path: str) -> Manifest:
    """The local manifest, read and checked as unbundle reads it; its errors as the store's."""
    from .unbundle import UnbundleError, read_manifest
    try:
        return read_manifest(path)[0]
    except UnbundleError as exc:
        raise StoreError(str(exc)) from None
