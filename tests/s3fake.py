"""The S3 fake: moto's S3 server mode (what s3fs's own tests use), on 127.0.0.1 on a free port.

It is a fake, not S3 or MinIO: it speaks S3's HTTP API (path-style buckets, multipart uploads,
server-side copy) and keeps the objects in memory. It runs as a process of its own (as a real
server would), so that memory measured in the tests is vidembed's. One server per test session
(``s3_fake_server``); each test gets a bucket of its own (``s3_fake``), named
``vidembed-fake-<hex>`` and emptied afterwards. Fixtures come in through ``from tests.s3fake
import ...`` in a test module.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from vidembed.stores.s3 import S3Settings

FAKE_KEYS = ("fake-access-key", "fake-secret-key")  # moto takes any keys
FAKE_REGION = "us-east-1"
START_SECONDS = 30.0  # moto's server starts in about 1.5 s here


@dataclass(frozen=True)
class S3Fake:
    """One test's bucket on the fake server: the settings to reach it, its name and a client."""

    settings: S3Settings
    bucket: str
    client: Any  # a boto3 S3 client (boto3 has no types)

    @property
    def media_url(self) -> str:
        """``--media-url`` of the bucket, under the prefix ``media`` (so prefixes are exercised)."""
        return f"s3://{self.bucket}/media"

    def env(self) -> dict[str, str]:
        """The variables that point a ``vidembed serve`` process at this bucket."""
        assert self.settings.endpoint_url and self.settings.access_key_id and self.settings.secret_access_key
        return {
            "VIDEMBED_MEDIA_URL": self.media_url,
            "AWS_ENDPOINT_URL": self.settings.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.settings.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.settings.secret_access_key,
            "AWS_DEFAULT_REGION": self.settings.region or FAKE_REGION,
        }

    def keys(self) -> list[str]:
        """Every object key in the bucket, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def open_uploads(self) -> list[str]:
        """Keys of multipart uploads begun and neither completed nor aborted."""
        found = self.client.list_multipart_uploads(Bucket=self.bucket)
        return [upload["Key"] for upload in found.get("Uploads", [])]

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())


def fake_client(settings: S3Settings) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        region_name=settings.region,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the S3 fake exited with {server.returncode} before listening")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the S3 fake did not listen on 127.0.0.1:{port} within {START_SECONDS:g} s")


@pytest.fixture(scope="session")
def s3_fake_server() -> Iterator[S3Settings]:
    """moto's server on 127.0.0.1, a free port, in a process of its own; the settings to reach it."""
    port = _free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, server)
        yield S3Settings(f"http://127.0.0.1:{port}", *FAKE_KEYS, region=FAKE_REGION)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_fake(s3_fake_server: S3Settings) -> Iterator[S3Fake]:
    """A new, empty bucket on the fake server, emptied and removed after the test."""
    client = fake_client(s3_fake_server)
    bucket = f"vidembed-fake-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket)
    fake = S3Fake(s3_fake_server, bucket, client)
    try:
        yield fake
    finally:
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for key in fake.keys():
            client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)
