"""Sample CSV data for DataFrame artifacts, and the files that must be refused.

The service tests (tests/test_frames.py), the API, the pages and the browser tests all
upload these, so each surface is checked against the same frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from webapp.frames import ArtifactFrame

SAMPLE_ROWS = 120
SAMPLE_DTYPES = {
    "id": "int64",
    "score": "float64",
    "city": "str",
    "day": "datetime64[ms]",
    "seen_at": "datetime64[ms]",
    "flag": "bool",
}

# Files that must be refused, each with words its message must contain.
BAD_FILES = {
    "empty": (b"", "empty"),
    "blank lines only": (b"\n\n\r\n", "empty"),
    "header only": (b"name,score\n", "header row but no data rows"),
    "short row": (b"a,b,c\n1,2,3\n4,5\n", "Expected 3 columns, got 2"),
    "long row": (b"a,b\n1,2\n3,4,5\n", "Expected 2 columns, got 3"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary data"),
    "nul bytes": (b"a,b\n1,\x002\n", "binary data"),
    "undecodable": (b"name,city\nx,\x81\x8d\x90\n", "neither UTF-8 nor Latin-1"),
    "utf-16": ("name,city\nx,Zürich\n".encode("utf-16"), "UTF-16"),
}


def sample_frame(rows: int = SAMPLE_ROWS) -> pd.DataFrame:
    """Mixed columns as a user's CSV holds them: ints, floats with gaps, text that needs
    quoting, dates, timestamps and booleans."""
    rng = np.random.default_rng(7)
    score = rng.normal(size=rows).round(6)
    score[::9] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "score": score,
            "city": rng.choice(["Zürich", "New York, NY", 'Say "hi"', "São Paulo", "line\nbreak"], rows),
            "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), unit="D"),
            "seen_at": pd.Timestamp("2024-01-01 08:00") + pd.to_timedelta(rng.integers(0, 10**8, rows), unit="s"),
            "flag": rng.random(rows) < 0.5,
        }
    )


def sample_csv(rows: int = SAMPLE_ROWS, **to_csv: Any) -> bytes:
    frame = sample_frame(rows)
    frame["day"] = frame["day"].dt.strftime("%Y-%m-%d")
    return frame.to_csv(index=False, **to_csv).encode(to_csv.pop("encoding", "utf-8"))


def expected_frame(rows: int = SAMPLE_ROWS) -> pd.DataFrame:
    """sample_frame() with the dtypes an upload of sample_csv() records."""
    return sample_frame(rows).astype(SAMPLE_DTYPES)


def frame_count(session: Any) -> int:
    return session.scalar(select(func.count()).select_from(ArtifactFrame))
