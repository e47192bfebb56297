"""Measurement helpers for the simulator tests (plain numpy: tests never import detectors/)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.collectors import RfCollector, SensorSpec


def wide_collector(
    position: tuple[float, float, float] = (0.0, 0.0, 0.0),
    *,
    center_freq_hz: float = 2440e6,
    sample_rate_hz: float = 100e6,
    snapshot_s: float = 10e-3,
    full_scale_dbm: float = -20.0,
) -> RfCollector:
    return RfCollector(
        SensorSpec("rf-test", "rf", "iq", position, "test"),
        center_freq_hz=center_freq_hz,
        sample_rate_hz=sample_rate_hz,
        snapshot_s=snapshot_s,
        period_s=snapshot_s,
        full_scale_dbm=full_scale_dbm,
    )


def runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, stop) index pairs of consecutive True runs."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def occupied_bandwidth_hz(
    x: NDArray[np.complex64], sample_rate_hz: float, fraction: float = 0.99
) -> tuple[float, float]:
    """(99 % occupied bandwidth, power-weighted centre) of a segment, in Hz re baseband."""
    n = 1 << int(np.ceil(np.log2(len(x))))
    spec = np.abs(np.fft.fftshift(np.fft.fft(x * np.hanning(len(x)), n))) ** 2
    f = np.fft.fftshift(np.fft.fftfreq(n, 1.0 / sample_rate_hz))
    c = np.cumsum(spec) / np.sum(spec)
    lo = f[np.searchsorted(c, (1 - fraction) / 2)]
    hi = f[np.searchsorted(c, 1 - (1 - fraction) / 2)]
    centre = float(np.sum(f * spec) / np.sum(spec))
    return float(hi - lo), centre


def power_dbm(x: NDArray[np.complex64], full_scale_dbm: float) -> float:
    return float(full_scale_dbm + 10 * np.log10(np.mean(np.abs(x) ** 2)))
