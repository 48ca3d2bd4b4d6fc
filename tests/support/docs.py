"""The examples in README.md and docs/, as tests run them."""

from __future__ import annotations

from tests.support import ROOT


def doc_block(document: str, containing: str, language: str = "bash") -> str:
    """The one ```language block of `document` (a path from the repository root) that contains
    `containing`: tests run the docs' examples as written, so the docs stay true."""
    text = (ROOT / document).read_text()
    blocks = [block.split("```", 1)[0] for block in text.split(f"```{language}\n")[1:]]
    (block,) = [block for block in blocks if containing in block]
    return block
