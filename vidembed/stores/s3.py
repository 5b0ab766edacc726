"""The media store on S3-compatible object storage (``--media-url s3://bucket/prefix``).

Uploads stream in parts of PART_BYTES (at most PARTS_IN_FLIGHT in flight, so memory stays bounded
whatever the file's size); a worker downloads a task's input into its scratch folder. boto3 (the
``s3`` extra) is imported when the store is opened, never by ``import vidembed``.
docs/MEDIA_STORAGE.md has the layout of keys and the measurements.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vidembed import intake
from vidembed.errors import ConfigurationError, MediaError, invalid
from vidembed.records import FileInput
from vidembed.stores.base import gone_error, key_parts, local_file

# Parts of a multipart upload: 8 MiB (S3's minimum part is 5 MiB) and at most 4 in flight, so an
# upload holds at most 32 MiB in memory whatever the file's size (boto3's default is 10 x 8 MiB).
PART_BYTES = 8 * 1024 * 1024


PARTS_IN_FLIGHT = 4


DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys a call


@dataclass(frozen=True)
class S3Settings:
    """How to reach S3: None leaves a value to boto3's own chain (~/.aws, an instance role)."""

    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    region: str | None = None


class S3MediaStore:
    """A bucket and a prefix of S3-compatible object storage, through boto3. Locations are
    ``s3://bucket/prefix/key``."""

    def __init__(self, bucket: str, prefix: str, settings: S3Settings) -> None:
        self.bucket, self.prefix = bucket, f"{prefix}/" if prefix else ""
        self._client, self._transfer = _s3_client(settings)
        self._errors = _client_errors()
        self._settings = settings
        self._check_bucket(settings)

    def _check_bucket(self, settings: S3Settings) -> None:
        where = settings.endpoint_url or "AWS S3"
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._errors.connection as exc:
            raise ConfigurationError(
                f"The media store at {where} cannot be reached ({exc}). {S3_HINT}"
            ) from None
        except self._errors.client as exc:
            code = str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket"):
                raise ConfigurationError(
                    f"The bucket {self.bucket!r} does not exist at {where}. Create it, or pass "
                    "--media-url with an existing one."
                ) from None
            raise ConfigurationError(
                f"The bucket {self.bucket!r} at {where} refused access (HTTP {code}). {S3_HINT}"
            ) from None
        except self._errors.credentials:
            raise ConfigurationError(f"No S3 credentials were found for {where}. {S3_HINT}") from None

    def _key(self, key: str) -> str:
        return self.prefix + "/".join(key_parts(key))

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _object_key(self, location: str) -> str | None:
        """The object key of one of this store's locations (another bucket's: None)."""
        head = f"s3://{self.bucket}/"
        return location[len(head) :] if location.startswith(head) else None

    def save_upload(self, upload: FileInput, key: str, max_bytes: int, parameter: str) -> int:
        if isinstance(upload, tuple):
            upload = upload[1]
        if isinstance(upload, (str, os.PathLike)):
            source = Path(upload)
            if not source.is_file():
                raise invalid(parameter, f"No such file: {source}.")
            if source.stat().st_size > max_bytes:
                raise intake._too_large(max_bytes, parameter)
            self._client.upload_file(str(source), self.bucket, self._key(key), Config=self._transfer)
            return source.stat().st_size
        if isinstance(upload, (bytes, bytearray, memoryview)):
            if len(upload) > max_bytes:
                raise intake._too_large(max_bytes, parameter)
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=bytes(upload))
            return len(upload)
        if not hasattr(upload, "read"):
            raise invalid(parameter, "Pass a path, bytes or a binary file object.")
        limited = _Limited(upload, max_bytes, parameter)
        # A failure mid-way (the limit, a broken connection) aborts the multipart upload, so
        # nothing is kept (s3transfer's cleanup; tests/contract/test_media_store.py checks the bucket).
        self._client.upload_fileobj(limited, self.bucket, self._key(key), Config=self._transfer)
        return limited.read_bytes

    def move_in(self, source: Path, key: str) -> str:
        self._client.upload_file(str(source), self.bucket, self._key(key), Config=self._transfer)
        source.unlink(missing_ok=True)
        return self.location(key)

    def local_path(self, location: str, scratch: Path) -> Path:
        object_key = self._object_key(location)
        if object_key is None:
            found = local_file(location)  # a task from before the store was S3, on its machine
            if found is None:
                raise MediaError(
                    f"The task's input ({location}) is not in this worker's media store "
                    f"(s3://{self.bucket}/{self.prefix}). Start it with the same --media-url as the "
                    "server that took the task."
                )
            return found
        scratch.mkdir(parents=True, exist_ok=True)
        target = scratch / (object_key.rsplit("/", 1)[-1] or "input")
        try:
            self._client.download_file(self.bucket, object_key, str(target), Config=self._transfer)
        except self._errors.client as exc:
            if _not_found(exc):
                raise gone_error(location) from None
            raise MediaError(f"Reading the task's input from {location} failed ({exc}).") from None
        return target

    def copy(self, location: str, key: str) -> str:
        object_key = self._object_key(location)
        if object_key is None:
            found = local_file(location)
            if found is None or not found.is_file():
                raise FileNotFoundError(location)
            self._client.upload_file(str(found), self.bucket, self._key(key), Config=self._transfer)
            return self.location(key)
        source = {"Bucket": self.bucket, "Key": object_key}
        try:  # server-side: the bytes stay in S3 (multipart copy past 5 GB)
            self._client.copy(source, self.bucket, self._key(key), Config=self._transfer)
        except self._errors.client as exc:
            if _not_found(exc):
                raise FileNotFoundError(location) from None
            raise
        return self.location(key)

    def delete_prefix(self, prefix: str) -> None:
        full = self._key(prefix) + "/"
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": k} for k in keys[start : start + DELETE_BATCH]]
            self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def size(self, key: str) -> int | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self._errors.client as exc:
            if _not_found(exc):
                return None
            raise
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def check(self) -> None:
        self._check_bucket(self._settings)


def _not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class _ClientErrors:
    client: type[Exception]
    connection: type[Exception]
    credentials: type[Exception]


def _client_errors() -> _ClientErrors:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    return _ClientErrors(ClientError, EndpointConnectionError, NoCredentialsError)


def _s3_client(settings: S3Settings) -> tuple[Any, Any]:  # boto3 ships no types: private to this module
    """A boto3 S3 client and transfer settings; ConfigurationError when the s3 extra is missing."""
    try:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config
    except ImportError:
        raise ConfigurationError(
            "--media-url s3://... needs the s3 extra: pip install 'vidembed[s3]' (boto3)."
        ) from None
    config = Config(
        connect_timeout=10,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 3},
        # S3-compatible servers (MinIO, Ceph) are addressed by path: BUCKET.host needs DNS for it.
        s3={"addressing_style": "path"} if settings.endpoint_url else None,
        # botocore 1.36+ adds CRC checksums to every upload by default; some S3-compatible
        # servers (older MinIO, Ceph RGW) refuse them. Only where S3 requires one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client = boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        region_name=settings.region,
        config=config,
    )
    transfer = TransferConfig(
        multipart_threshold=PART_BYTES,
        multipart_chunksize=PART_BYTES,
        max_concurrency=PARTS_IN_FLIGHT,
    )
    # s3transfer's own setting (boto3's constructor does not take it): parts of a stream read ahead
    transfer.max_in_memory_upload_chunks = PARTS_IN_FLIGHT
    return client, transfer


S3_HINT = (
    "Set AWS_ENDPOINT_URL (for MinIO or another S3-compatible server), AWS_ACCESS_KEY_ID, "
    "AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION, or pass --media-url with a bucket that exists."
)


class _Limited:
    """A binary stream that raises the upload's 400 once more than ``max_bytes`` were read. Reads
    fill what was asked (or end the stream): s3transfer takes a short first read for the end of
    a stream it cannot seek."""

    def __init__(self, stream: IO[bytes], max_bytes: int, parameter: str) -> None:
        self._stream, self._max, self._parameter = stream, max_bytes, parameter
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        wanted = size if size is not None and size >= 0 else self._max + 1 - self.read_bytes
        pieces: list[bytes] = []
        got = 0
        while got < wanted:
            chunk = self._stream.read(min(PART_BYTES, wanted - got))
            if isinstance(chunk, str):
                raise invalid(self._parameter, "The file must be opened in binary mode ('rb').")
            if not chunk:
                break
            pieces.append(chunk)
            got += len(chunk)
            self.read_bytes += len(chunk)
            if self.read_bytes > self._max:
                raise intake._too_large(self._max, self._parameter)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)  # one piece: no copy
