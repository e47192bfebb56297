"""Emitter positions over scenario time: fixed points and piecewise-linear waypoint tracks."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Waypoint:
    t_s: float
    x_m: float
    y_m: float
    z_m: float


class Track:
    """Position over scenario time; held before the first and after the last waypoint."""

    def __init__(self, waypoints: Sequence[Waypoint]) -> None:
        if not waypoints:
            raise ValueError("a track needs at least one waypoint")
        times = [w.t_s for w in waypoints]
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise ValueError(f"waypoint times must increase: {times=}")
        self.waypoints = tuple(waypoints)
        self._t = np.array(times, dtype=np.float64)
        self._xyz = np.array([[w.x_m, w.y_m, w.z_m] for w in waypoints], dtype=np.float64)
        self._times = [float(t) for t in times]
        self._points = [(float(w.x_m), float(w.y_m), float(w.z_m)) for w in waypoints]

    @property
    def is_fixed(self) -> bool:
        """True when the position never changes."""
        return bool(np.all(self._xyz == self._xyz[0]))

    @property
    def max_speed_m_s(self) -> float:
        if len(self._t) < 2:
            return 0.0
        step = np.linalg.norm(np.diff(self._xyz, axis=0), axis=1) / np.diff(self._t)
        return float(np.max(step))

    def linear_piece(
        self, t_lo: float, t_hi: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """(position at t_lo, constant velocity) when no waypoint lies strictly inside
        (t_lo, t_hi), i.e. the track is one straight, uniform piece there; else None."""
        i = int(np.searchsorted(self._t, t_lo, side="right"))
        if i < len(self._t) and self._t[i] < t_hi:
            return None
        if i == 0 or i == len(self._t):
            v = np.zeros(3)
        else:
            v = (self._xyz[i] - self._xyz[i - 1]) / (self._t[i] - self._t[i - 1])
        return self.at(t_lo), v

    @classmethod
    def fixed(cls, position_m: Vec3) -> Track:
        return cls([Waypoint(0.0, *position_m)])

    def at(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """Positions (..., 3) in metres at times t_s (any shape)."""
        t = np.asarray(t_s, dtype=np.float64)
        if len(self._t) == 1:
            return np.broadcast_to(self._xyz[0], (*t.shape, 3)).copy()
        cols = [np.interp(t, self._t, self._xyz[:, i]) for i in range(3)]
        return np.stack(cols, axis=-1)

    def point(self, t_s: float) -> Vec3:
        """The position at one time (as `at`, in plain Python: no array overhead)."""
        times, pts = self._times, self._points
        if t_s <= times[0]:
            return pts[0]
        if t_s >= times[-1]:
            return pts[-1]
        i = bisect.bisect_right(times, t_s)
        a = (t_s - times[i - 1]) / (times[i] - times[i - 1])
        p, q = pts[i - 1], pts[i]
        return (p[0] + a * (q[0] - p[0]), p[1] + a * (q[1] - p[1]), p[2] + a * (q[2] - p[2]))

    def velocity(self, t_s: float) -> NDArray[np.float64]:
        dt = 1e-3
        return np.asarray((self.at(t_s + dt) - self.at(t_s - dt)) / (2 * dt), dtype=np.float64)


def as_vec3(p: Any) -> Vec3:
    return (float(p[0]), float(p[1]), float(p[2]))
