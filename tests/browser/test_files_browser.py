"""Files in Debian's chromium against a real gunicorn: an upload with its progress bar, then
an image preview, on the artifact's page."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.support.files import png

pytestmark = pytest.mark.browser

# Records what the upload form shows, as it changes: the status line and the progress bar.
WATCH_UPLOAD = """() => {
  window.uploadSeen = [];
  const form = document.querySelector("[data-files-upload]");
  const progress = form.querySelector("progress");
  const status = form.querySelector(".upload-status");
  new MutationObserver(() => window.uploadSeen.push({status: status.textContent, shown: !progress.hidden,
                                                     value: progress.value}))
    .observe(form, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def test_upload_with_progress_then_preview_an_image(page: Any, live_server: str, tmp_path: Path, screenshots: Path) -> None:
    artifact = requests.post(f"{live_server}/api/v1/artifacts", json={"data": {"name": "resnet"}}, timeout=10).json()
    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(24 * 1024 * 1024))
    picture = tmp_path / "chart.png"
    picture.write_bytes(png(64, 32, (30, 120, 200)))

    page.goto(f"{live_server}/artifacts/{artifact['id']}")
    files = page.locator("#files")
    expect(files).to_contain_text("No files yet.")
    # Sending slowly: the bar has time to move (Chromium's own network throttling).
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 8 * 1024 * 1024})
    page.evaluate(WATCH_UPLOAD)
    files.get_by_label("File to upload").set_input_files(str(weights))
    files.get_by_role("button", name="Upload", exact=True).click()
    row = page.locator("#files tr", has_text="weights.bin")
    expect(row).to_contain_text("24.0 MiB", timeout=60_000)
    expect(row).to_contain_text(hashlib.sha256(weights.read_bytes()).hexdigest()[:12])
    seen = page.evaluate("window.uploadSeen")
    assert any(entry["shown"] for entry in seen), seen  # the bar was shown while sending
    values = [entry["value"] for entry in seen if entry["status"].endswith("of 24.0 MiB")]
    assert values and values[-1] == 100, seen
    assert any(0 < value < 100 for value in values), seen  # and moved on the way, not just at the end
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

    # The section was swapped in place (no reload): a second upload works the same way.
    page.locator("#files").get_by_label("File to upload").set_input_files(str(picture))
    page.locator("#files").get_by_role("button", name="Upload", exact=True).click()
    image_row = page.locator("#files tr", has_text="chart.png")
    expect(image_row).to_contain_text("image/png")
    image_row.get_by_role("button", name="Preview").click()
    image = page.locator("#files-preview img")
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('#files-preview img')?.complete")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 32]  # really decoded
    page.locator("#files").screenshot(path=str(screenshots / "files.png"))

    stored = requests.get(f"{live_server}/api/v1/artifacts/{artifact['id']}/files/weights.bin", timeout=30)
    assert stored.content == weights.read_bytes()
