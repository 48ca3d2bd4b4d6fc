"""Slow and stalled clients against a real gunicorn (gunicorn.conf.py's worker): they cost a
connection or a thread, never a whole worker, and the ones that stall are cut off."""

from __future__ import annotations

import http.client
import io
import json
import select
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.servers import gunicorn_server

pytestmark = pytest.mark.slow

STALLED = 16


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def stall(base: str, head: bytes) -> socket.socket:
    """A connection that sends `head` and then nothing, held open."""
    sock = socket.create_connection(("127.0.0.1", port_of(base)))
    sock.sendall(head)
    return sock


def timed_get(url: str) -> tuple[int, float]:
    started = time.monotonic()
    response = requests.get(url, timeout=5)
    return response.status_code, time.monotonic() - started


def test_stalled_heads_leave_health_and_reads_answering(database_url):
    with gunicorn_server(database_url, workers=2) as base:
        created = requests.post(f"{base}/api/v1/artifacts", json={"data": {"name": "root"}}, timeout=5)
        assert created.status_code == 201
        artifact = created.json()["id"]
        # Half a request each: the request line and part of the headers, then silence.
        half = b"GET /api/v1/artifacts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Stalled: "
        sockets = [stall(base, half) for _ in range(STALLED)]
        try:
            time.sleep(1)  # every stalled socket accepted and read by now
            for _ in range(3):
                for path in ("/health", "/api/v1/artifacts", f"/api/v1/artifacts/{artifact}", "/"):
                    status, seconds = timed_get(base + path)
                    assert status == 200, path
                    assert seconds < 1, f"{path} took {seconds:.2f} s behind {STALLED} stalled sockets"
            with requests.Session() as session:  # kept-alive connections: each next head is read the same way
                for _ in range(5):
                    started = time.monotonic()
                    assert session.get(f"{base}/api/v1/artifacts/{artifact}", timeout=5).status_code == 200
                    assert time.monotonic() - started < 1
        finally:
            for sock in sockets:
                sock.close()


def test_a_stalled_head_is_answered_408_after_the_header_timeout(tmp_path):
    with gunicorn_server(f"sqlite:///{tmp_path / 'test.sqlite'}", env={"GUNICORN_HEADER_TIMEOUT": "2"}) as base:
        sock = stall(base, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(10)
        started = time.monotonic()
        answer = sock.recv(4096)
        waited = time.monotonic() - started
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert 1 <= waited < 5  # the deadline is checked about once a second
        # A client that keeps sending, a byte at a time, is cut off as well: the limit is
        # on the whole head, not on each read.
        sock = stall(base, b"G")
        sock.settimeout(10)
        started, answer = time.monotonic(), b""
        for byte in b"ET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: 0123456789":
            if select.select([sock], [], [], 0.1)[0]:  # answered: stop before a send meets a closed socket
                break
            sock.sendall(bytes([byte]))
        answer = sock.recv(4096)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert time.monotonic() - started < 5


def test_a_stalled_body_is_refused_after_the_body_timeout(database_url):
    """A body is read by a thread: each stalled one holds a thread (not the worker) until the
    body timeout; the worker's other threads keep answering."""
    with gunicorn_server(database_url, env={"GUNICORN_BODY_TIMEOUT": "2", "GUNICORN_THREADS": "8"}) as base:
        head = (
            b"POST /api/v1/artifacts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        sockets = [stall(base, head + b'{"data": {"name": "never fin') for _ in range(6)]  # < 8 threads
        time.sleep(0.5)
        try:
            status, seconds = timed_get(f"{base}/health")  # meanwhile, the others are answered
            assert status == 200 and seconds < 1
            for sock in sockets:
                sock.settimeout(10)
                assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")  # the body is incomplete
        finally:
            for sock in sockets:
                sock.close()
        listed = requests.get(f"{base}/api/v1/artifacts", timeout=5).json()
        assert listed["items"] == []  # nothing half-sent was stored


def trickle(body: bytes, bytes_per_second: int, chunk: int = 1024) -> Iterator[bytes]:
    """`body` in chunks, at about `bytes_per_second`."""
    started = time.monotonic()
    for offset in range(0, len(body), chunk):
        due = started + offset / bytes_per_second
        time.sleep(max(0.0, due - time.monotonic()))
        yield body[offset : offset + chunk]


def multipart(field: str, file_name: str, content: bytes, boundary: str = "trickle-boundary") -> tuple[bytes, str]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{file_name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_a_1_mb_upload_at_10_kb_per_second_succeeds(database_url):
    """About 100 s: longer than GUNICORN_TIMEOUT (60 s), which killed such uploads with a 500."""
    rows = io.StringIO()
    rows.write("id,name,value\n")
    number = 0
    while rows.tell() < 1_000_000:
        rows.write(f"{number},row {number},{number * 0.5}\n")
        number += 1
    body, content_type = multipart("file", "trickled.csv", rows.getvalue().encode())
    with gunicorn_server(database_url, workers=2) as base:
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", port_of(base), timeout=200)
        connection.putrequest("POST", "/api/v1/artifacts/$upload")
        connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        for chunk in trickle(body, 10_000):
            connection.send(chunk)
        response = connection.getresponse()
        created = json.loads(response.read())
        took = time.monotonic() - started
        connection.close()
        assert response.status == 201, created
        assert created["data"]["frame"]["row_count"] == number
        assert took > 90  # it really trickled, past the worker timeout
        frame = requests.get(f"{base}/api/v1/artifacts/{created['id']}/frame/rows?size=1", timeout=5).json()
        assert frame["total"] == number
