"""A page of another site cannot write to the API through a visitor's browser.

The attacker's page is served from 127.0.0.2, the app (a real gunicorn) from 127.0.0.1:
different IP addresses are different sites to the browser, so Chromium marks the
requests `Sec-Fetch-Site: cross-site` and sends `Origin: http://127.0.0.2:…`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.browser

ATTACK = """<!doctype html>
<html><body>
<form id="upload" method="post" enctype="multipart/form-data" action="{api}/artifacts/$upload">
  <input type="file" name="file">
</form>
<script>
  const csv = () => new File(["a,b\\n1,2\\n"], "planted.csv", {{type: "text/csv"}});
  async function attack() {{
    const body = new FormData();
    body.append("file", csv());
    await fetch("{api}/artifacts/$upload", {{method: "POST", mode: "no-cors", body}});
    await fetch("{api}/artifacts", {{
      method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
      body: JSON.stringify({{data: {{planted: true}}}}),
    }});
    const files = new DataTransfer();
    files.items.add(csv());
    const form = document.getElementById("upload");
    form.elements.file.files = files.files;
    form.submit();  // a plain form post: a navigation, no CORS at all
  }}
</script>
</body></html>
"""


@pytest.fixture
def attacker_site(tmp_path: Path, live_server: str) -> Iterator[str]:
    """Base URL of another site (127.0.0.2) serving a page that attacks `live_server`."""
    (tmp_path / "attack.html").write_text(ATTACK.format(api=f"{live_server}/api/v1"))
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.2", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


def test_a_cross_site_page_cannot_create_artifacts(chromium, live_server, attacker_site):
    context = chromium.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    answers: list[tuple[str, str, int]] = []
    page.on("response", lambda r: answers.append((r.request.method, r.url, r.status)) if "/api/" in r.url else None)
    try:
        page.goto(f"{attacker_site}/attack.html")
        with page.expect_navigation(url=f"{live_server}/api/v1/artifacts/$upload"):
            page.evaluate("attack()")
        refused = page.content()
    finally:
        context.close()

    writes = [(method, status) for method, _, status in answers if method == "POST"]
    assert writes == [("POST", 403)] * 3, answers  # each reached the app and was refused
    assert "urn:artifact-store:error:cross-site" in refused
    listing = requests.get(f"{live_server}/api/v1/artifacts", timeout=5).json()
    assert listing["total"] == 0 and listing["items"] == []


def test_the_apps_own_pages_still_upload(chromium, live_server, tmp_path):
    """The control: the same browser, from the app's own origin, may write."""
    context = chromium.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/artifacts/upload")
        csv = tmp_path / "own.csv"
        csv.write_text("a,b\n1,2\n")
        page.set_input_files("input[type=file]", str(csv))
        with page.expect_navigation():
            page.locator("form button[type=submit], form input[type=submit]").first.click()
        status = page.evaluate(
            "fetch('/api/v1/artifacts', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            " body: JSON.stringify({data: {name: 'same origin'}})}).then(r => r.status)"
        )
    finally:
        context.close()
    assert status == 201
    assert requests.get(f"{live_server}/api/v1/artifacts", timeout=5).json()["total"] == 2
