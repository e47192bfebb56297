"""Receiver noise of `RfCollector.render`: white Gaussian at kTB·F, new in every frame."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from simulator.collectors import RfCollector
from simulator.demo import demo_scenario
from simulator.propagation import thermal_noise_dbm

SENSORS = ["rf-wall-n", "rf-cellblock-a"]


def _noise_frame(sensor_id: str, k: int = 3) -> tuple[NDArray[np.complex64], float]:
    """(noise-only frame, expected power in dB re full scale)."""
    sc = demo_scenario(seed=1)
    c = sc.collector(sensor_id)
    assert isinstance(c, RfCollector)
    x = np.asarray(sc.render(sensor_id, k, include_signals=False), dtype=np.complex64)
    expected_dbfs = thermal_noise_dbm(c.sample_rate_hz, c.noise_figure_db) - c.full_scale_dbm
    return x, expected_dbfs


@pytest.mark.parametrize("sensor_id", SENSORS)
def test_noise_power_is_ktbf_referred_to_full_scale(sensor_id: str) -> None:
    x, expected_dbfs = _noise_frame(sensor_id)
    assert x.dtype == np.complex64
    measured = 10 * math.log10(float(np.mean(np.abs(x.astype(np.complex128)) ** 2)))
    assert measured == pytest.approx(expected_dbfs, abs=0.2)


@pytest.mark.parametrize("sensor_id", SENSORS)
def test_noise_is_white_over_16_sub_bands(sensor_id: str) -> None:
    x, _ = _noise_frame(sensor_id)
    psd = np.abs(np.fft.fft(x.astype(np.complex128))) ** 2
    bands_db = 10 * np.log10([float(np.mean(b)) for b in np.array_split(psd, 16)])
    assert np.all(np.abs(bands_db - np.mean(bands_db)) < 0.5), bands_db


@pytest.mark.parametrize("sensor_id", SENSORS)
def test_noise_is_circular_gaussian_and_new_in_every_frame(sensor_id: str) -> None:
    x, _ = _noise_frame(sensor_id, 3)
    y, _ = _noise_frame(sensor_id, 4)
    i, q = x.real.astype(np.float64), x.imag.astype(np.float64)
    var = float(np.mean(i * i) + np.mean(q * q)) / 2
    n = len(x)
    # I and Q: equal power, uncorrelated; Gaussian kurtosis 3 each
    assert float(np.mean(i * i)) / var == pytest.approx(1.0, abs=10 / math.sqrt(n))
    assert abs(float(np.mean(i * q))) / var < 6 / math.sqrt(n)
    assert float(np.mean(i**4)) / float(np.mean(i * i)) ** 2 == pytest.approx(3.0, abs=0.05)
    # the next frame's noise is independent of this one's (not the same draw shifted)
    cross = abs(complex(np.vdot(x.astype(np.complex128), y.astype(np.complex128)))) / n
    assert cross / (2 * var) < 6 / math.sqrt(n)


def test_same_seed_same_noise() -> None:
    a, _ = _noise_frame("rf-cellblock-a")
    b, _ = _noise_frame("rf-cellblock-a")
    assert a.tobytes() == b.tobytes()
