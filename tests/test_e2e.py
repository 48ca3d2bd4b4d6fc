"""The spec's cURL flow against a real `gunicorn wsgi:app`, over real HTTP."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess

import pytest
import requests

from tests.support.docs import doc_block
from tests.support.servers import gunicorn_server

pytestmark = pytest.mark.slow  # every test here talks to a real gunicorn


@pytest.fixture
def server(database_url):
    with gunicorn_server(database_url, workers=2) as base:
        yield base


def test_spec_curl_flow(server, database_url):
    api = f"{server}/api/v1/artifacts"
    root = requests.post(api, json={"data": {"experiment": "test"}}, timeout=10)
    assert root.status_code == 201
    assert root.headers["Location"] == f"{api}/{root.json()['id']}"
    root_id = root.json()["id"]

    child = requests.post(api, json={"parent_id": root_id, "data": {"model": "trained"}}, timeout=10)
    assert child.status_code == 201 and child.json()["level"] == 1
    child_id = child.json()["id"]

    tree = requests.post(f"{api}/$tree", json={"root_id": root_id}, timeout=10)
    assert tree.status_code == 200
    assert tree.json()["children"][0]["id"] == child_id

    listing = requests.get(api, params={"page": 1, "size": 50}, timeout=10).json()
    assert listing["total"] == 2

    refused = requests.delete(f"{api}/{root_id}", timeout=10)
    assert refused.status_code == 409
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert requests.delete(f"{api}/{child_id}", timeout=10).status_code == 204
    assert requests.delete(f"{api}/{root_id}", timeout=10).status_code == 204
    assert requests.get(f"{api}/{root_id}", timeout=10).status_code == 404

    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:  # the spec's `sqlite3 data.db "SELECT COUNT(*) ..."`
            assert connection.execute("SELECT COUNT(*) FROM artifacts").fetchone() == (0,)


SPEC_CURL_FLOW = r"""
# Create root artifact
ROOT_ID=$(curl -s -X POST http://localhost:8000/api/v1/artifacts \
  -H "Content-Type: application/json" \
  -d '{"data": {"experiment": "test"}}' | jq -r '.id')

# Create child artifact
CHILD_ID=$(curl -s -X POST http://localhost:8000/api/v1/artifacts \
  -H "Content-Type: application/json" \
  -d '{
    "parent_id": "'$ROOT_ID'",
    "data": {"model": "trained"}
  }' | jq -r '.id')

# Get tree
curl -X POST http://localhost:8000/api/v1/artifacts/\$tree \
  -H "Content-Type: application/json" \
  -d '{"root_id": "'$ROOT_ID'"}' | jq
"""


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="apt-get install curl jq")
def test_spec_curl_commands_verbatim(server):
    """The spec's shell snippet, word for word, pointed at our gunicorn."""
    script = SPEC_CURL_FLOW.replace("http://localhost:8000", server)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    tree = json.loads(result.stdout)
    assert tree["level"] == 0 and tree["data"] == {"experiment": "test"}
    assert [(c["level"], c["data"]) for c in tree["children"]] == [(1, {"model": "trained"})]


@pytest.mark.skipif(not shutil.which("curl"), reason="apt-get install curl")
def test_docs_if_match_commands_refuse_a_stale_write(server):
    """docs/api.md's If-Match commands, as written, pointed at our gunicorn."""
    api = f"{server}/api/v1/artifacts"
    child_id = requests.post(api, json={"data": {"model": "trained"}}, timeout=10).json()["id"]
    script = doc_block("docs/api.md", '-H "If-Match: $ETAG"').replace("http://localhost:8000", server)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "CHILD_ID": child_id},
    )
    assert result.returncode == 0, result.stderr
    decoder, answers, rest = json.JSONDecoder(), [], result.stdout.strip()
    while rest:
        answer, end = decoder.raw_decode(rest)
        answers.append(answer)
        rest = rest[end:].strip()
    updated, refused = answers
    assert updated["data"] == {"model": "tuned"}
    assert (refused["status"], refused["type"]) == (412, "urn:artifact-store:error:changed")
    assert requests.get(f"{api}/{child_id}", timeout=10).json()["data"] == {"model": "tuned"}
