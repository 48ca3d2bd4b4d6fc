"""Browser fixtures: Debian's chromium driven by Playwright against a real gunicorn."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT
from tests.support.servers import gunicorn_server

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_line(f"Browser screenshots: {SCREENSHOTS}")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's browser with `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(database_url: str) -> Iterator[str]:
    """Base URL of a real gunicorn serving the app on a fresh database."""
    with gunicorn_server(database_url, workers=1) as base_url:
        yield base_url


@dataclass
class PageWatch:
    """What a page did that a user would not see: dialogs, script errors, fragment requests."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def fragment_requests(self, fragment: str = "/children") -> list[str]:
        return [url for url in self.requests if fragment in url]


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


def _watched_page(chromium: Any, watch: PageWatch, **context_options: Any) -> Iterator[Any]:
    context = chromium.new_context(**context_options)
    context.set_default_timeout(10_000)
    page = context.new_page()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message: Any) -> None:
        # Chromium logs every 4xx document as an error; refused forms answer 422 on purpose.
        # Failed assets are caught by on_response instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            watch.errors.append(message.text)

    def on_response(response: Any) -> None:
        asset = response.request.resource_type not in ("document", "xhr", "fetch")
        if response.status >= 500 or (asset and response.status >= 400):
            watch.errors.append(f"{response.status} for {response.url}")

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: watch.errors.append(f"page error: {error}"))
    page.on("console", on_console)
    page.on("response", on_response)
    page.on("request", lambda request: watch.requests.append(request.url))
    yield page
    context.close()


@pytest.fixture
def page(chromium: Any, watch: PageWatch) -> Iterator[Any]:
    """A fresh desktop-sized page; the test fails if a script error or console error occurs."""
    yield from _watched_page(chromium, watch, viewport={"width": 1280, "height": 900})
    assert watch.errors == []


@pytest.fixture
def phone_page(chromium: Any, watch: PageWatch) -> Iterator[Any]:
    yield from _watched_page(
        chromium, watch, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    assert watch.errors == []


@pytest.fixture
def no_js_page(chromium: Any, watch: PageWatch) -> Iterator[Any]:
    yield from _watched_page(chromium, watch, viewport={"width": 1280, "height": 900}, java_script_enabled=False)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the browser tests save screenshots for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nBrowser screenshots go to {SCREENSHOTS}")
    return SCREENSHOTS
