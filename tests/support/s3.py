"""A real S3-protocol server for the S3 blob store's tests: moto's standalone server, on
a free loopback port, spoken to over HTTP by boto3 exactly as a real bucket would be."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.servers import free_port

# moto accepts any credentials; boto3 insists on having some (read from the environment,
# as in production).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in a thread of this process; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str):  # noqa: ANN201 - a boto3 client
    import boto3

    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    return boto3.client("s3", endpoint_url=endpoint)


def new_bucket(endpoint: str) -> str:
    """A fresh, empty bucket: each test its own."""
    name = f"blobs-{uuid.uuid4().hex[:16]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name
