"""Upload memory and time of the S3 media store: ``python -m benchmarks.media_store``.

Streams files of several sizes (from disk, as the server's spooled uploads are) into a bucket of
the S3 fake (moto's server mode, started here on 127.0.0.1 in a process of its own, so that the
memory measured is this process's), and prints the peak of Python allocations during each upload
(``tracemalloc``) and the wall time. The peak should stay flat as the size grows: 8 MiB parts, at
most 4 in flight. Times are the fake's on loopback, not a real S3's.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from vidembed.stores.open import open_media_store
from vidembed.stores.s3 import S3Settings

MiB = 1024 * 1024
BUCKET = "vidembed-fake-bench"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_fake() -> tuple[subprocess.Popen[bytes], S3Settings]:
    port = _free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server, S3Settings(f"http://127.0.0.1:{port}", "fake", "fake", "us-east-1")
        time.sleep(0.05)
    server.terminate()
    raise SystemExit("the S3 fake (python -m moto.server) did not start within 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[16, 40, 80, 160])
    args = parser.parse_args()
    import boto3

    server, settings = _start_fake()
    try:
        boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            aws_access_key_id="fake",
            aws_secret_access_key="fake",
            region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)
        store = open_media_store(f"s3://{BUCKET}/bench", Path(tempfile.gettempdir()), settings)
        print(f"{'size MiB':>9} {'peak MiB':>9} {'seconds':>8}")
        with tempfile.TemporaryDirectory() as folder:
            for size in args.sizes_mib:
                path = Path(folder) / f"{size}.bin"
                path.write_bytes(b"\1" * (size * MiB))
                with open(path, "rb") as upload:
                    tracemalloc.start()
                    started = time.perf_counter()
                    store.save_upload(upload, f"t/{size}.bin", 1 << 40, "video_file")
                    elapsed = time.perf_counter() - started
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                path.unlink()
                print(f"{size:>9} {peak / MiB:>9.1f} {elapsed:>8.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
