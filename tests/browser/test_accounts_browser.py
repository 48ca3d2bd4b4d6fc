"""Accounts in Chromium against a real gunicorn, closed by default: the set-up link from the
server's log makes the admin, who makes a viewer; tokens, a forbidden page, signing out."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.servers import gunicorn_server

pytestmark = pytest.mark.browser
PASSWORD = "a long password"


@pytest.fixture
def closed_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, set-up link path) of a gunicorn with AUTH_ANONYMOUS=none and no account."""
    log = tmp_path / "gunicorn.log"
    with gunicorn_server(database_url, workers=2, env={"AUTH_ANONYMOUS": "none", "METRICS_ANONYMOUS": "0"}, log=log) as base:
        deadline = time.monotonic() + 10
        while not (links := re.findall(r"(/setup\?token=[\w-]+)", log.read_text())) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(set(links)) == 1, log.read_text()  # printed once, by the master, not by each worker
        yield base, links[0]


def sign_in(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_set_up_sign_in_token_forbidden_page_and_sign_out(page, closed_server):
    base, link = closed_server
    page.goto(f"{base}/")
    assert "/login?next=/" in page.url  # nothing without an account
    assert requests.get(f"{base}/api/v1/artifacts", timeout=10).status_code == 401

    page.goto(base + link)
    page.fill("#name", "root")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.locator(".current-user").inner_text() == "root"
    page.goto(base + link)
    assert "not valid" in page.locator("main").inner_text()  # the link worked once

    page.goto(f"{base}/admin/users")
    page.fill("#new-name", "vic")
    page.fill("#new-password", PASSWORD)
    page.select_option("#new-role", "viewer")
    page.click("text=Create user")
    assert page.locator("#user-vic").is_visible()
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login"))

    sign_in(page, base, "vic")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/account")
    page.fill("#token-name", "script")
    page.select_option("#token-scope", "read")
    page.click("text=Create token")
    secret = page.locator("#new-token-secret").inner_text()
    page.reload()
    assert page.locator("#new-token-secret").count() == 0  # shown once
    headers = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{base}/api/v1/artifacts", headers=headers, timeout=10).status_code == 200
    assert requests.post(f"{base}/api/v1/artifacts", json={"data": {}}, headers=headers, timeout=10).status_code == 403

    response = page.goto(f"{base}/admin/users")
    assert response.status == 403 and "Forbidden" in page.locator("main").inner_text()
    page.goto(f"{base}/")
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login"))
    page.goto(f"{base}/account")
    assert "/login?next=/account" in page.url
