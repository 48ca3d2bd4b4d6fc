"""Tables: CSV files and DataFrames held by artifacts, stored beside them as Parquet.

    from webapp.store import open_store
    store = open_store("sqlite:///instance/artifacts.db")
    artifact = store.frames.create_from_csv(open("sales.csv", "rb"), "sales.csv")
"""

from .cache import FrameCache
from .models import ArtifactFrame
from .repository import FrameRepository
from .service import FrameService
from .tables import (
    CSVSource,
    CSVTooLargeError,
    FrameNotFoundError,
    FramePage,
    InvalidCSVError,
    LoadedFrame,
    TableTooLargeError,
    clean_file_name,
    csv_chunks,
    json_chunks,
    parse_csv,
    profile,
    rows_of,
    to_pandas,
)

__all__ = [
    "ArtifactFrame",
    "CSVSource",
    "CSVTooLargeError",
    "FrameCache",
    "FrameNotFoundError",
    "FramePage",
    "FrameRepository",
    "FrameService",
    "InvalidCSVError",
    "LoadedFrame",
    "TableTooLargeError",
    "clean_file_name",
    "csv_chunks",
    "json_chunks",
    "parse_csv",
    "profile",
    "rows_of",
    "to_pandas",
]
