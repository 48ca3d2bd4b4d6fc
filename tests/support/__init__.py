"""What several test modules share: servers, problem assertions, HTML, sample frames, trees.

Test modules import from here and never from each other or from conftest.py
(tests/test_test_layout.py checks it), so each can be read and run alone.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the repository's root
