"""Per-sensor state for detectors that look across frames: bounded and thread-safe.

Keyed by e.g. (site, sensor_id): at most `max_sensors` states (the least recently used
dropped) and none idle longer than `idle_s` (by `clock`, monotonic seconds). The map's
lock guards the map only; each state guards its own frames.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SensorStates(Generic[T]):
    """States made by `factory` on first use, most recently used last."""

    def __init__(
        self,
        factory: Callable[[], T],
        max_sensors: int,
        idle_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._max_sensors = max_sensors
        self._idle_s = idle_s
        self.clock = clock
        self._lock = threading.Lock()
        self._states: OrderedDict[Hashable, tuple[T, float]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()

    def get(self, key: Hashable) -> T | None:
        """The state of `key`, if there is one (not marked used)."""
        with self._lock:
            entry = self._states.get(key)
        return None if entry is None else entry[0]

    def use(self, key: Hashable) -> T:
        """The state of `key` (made on first use), marked used now; the oldest states
        beyond `max_sensors` and those idle longer than `idle_s` are dropped."""
        now = self.clock()
        with self._lock:
            entry = self._states.pop(key, None)
            state = self._factory() if entry is None else entry[0]
            self._states[key] = (state, now)
            while len(self._states) > self._max_sensors:
                self._states.popitem(last=False)
            while self._states:
                oldest_key, (_, last_used) = next(iter(self._states.items()))
                if now - last_used <= self._idle_s:
                    break
                del self._states[oldest_key]
            return state
