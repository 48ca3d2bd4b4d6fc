"""FrameCache: each worker's memory of loaded tables and sort orders."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class FrameCache:
    """Loaded tables and sort orders, least recently used first out, within `max_bytes`.

    Frames never change once stored, and their keys name the content (artifact id and
    SHA-256, or the inline data's update time), so nothing needs invalidating.
    """

    def __init__(self, max_bytes: int = 192 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T], size_of: Callable[[T], int]) -> T:
        """The cached value for `key`, or `load()`'s result, cached when it fits."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = load()  # outside the lock: loading a big frame takes a while
        self.put(key, value, size_of(value))
        return value

    def peek(self, key: Hashable) -> Any | None:
        """The cached value for `key`, or None: never loads it."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        with self._lock:
            if key in self._items:
                self._size -= self._items.pop(key)[1]
            if size > self.max_bytes:
                return
            self._items[key] = (value, size)
            self._size += size
            self._shrink(self.max_bytes)

    def make_room(self, size: int) -> None:
        """Drop the least recently used entries until `size` more bytes fit the budget."""
        with self._lock:
            self._shrink(self.max_bytes - size)

    def _shrink(self, limit: int) -> None:
        while self._items and self._size > limit:
            _, (_, evicted) = self._items.popitem(last=False)
            self._size -= evicted

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        return self._size
