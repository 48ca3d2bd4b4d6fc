"""Reading pages the way a browser would: parsed HTML, visible text, form values."""

from __future__ import annotations

from typing import Any

from bs4 import BeautifulSoup


def html(response: Any) -> BeautifulSoup:
    assert response.mimetype == "text/html"
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def texts(elements: Any) -> list[str]:
    return [" ".join(e.get_text(" ", strip=True).split()) for e in elements]


def textarea_value(element: Any) -> str:
    """What a browser submits for a <textarea>: its text without the newline after the start tag."""
    text = element.get_text().replace("\r\n", "\n")
    return text.removeprefix("\n")
