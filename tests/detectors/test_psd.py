"""Swept-PSD detector."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.psd import PsdConfig, detect_psd


def _noise_dbm(
    rng: np.random.Generator, shape: tuple[int, int], floor_dbm: float = -100.0
) -> np.ndarray:
    return (floor_dbm + 10 * np.log10(rng.exponential(size=shape))).astype(np.float32)


def test_noise_alone() -> None:
    rng = np.random.default_rng(30)
    found = []
    for _ in range(50):
        found += detect_psd(_noise_dbm(rng, (10, 2048)), 2.4e9, 50e3, 10.0)
    assert found == []


def test_downlink_carrier_and_wifi() -> None:
    rng = np.random.default_rng(31)
    s = _noise_dbm(rng, (8, 4000))
    start, bin_hz = 920e6, 25e3
    s[:, 1000:1200] = -70.0  # 5 MHz at 945-950 MHz: downlink
    dets = detect_psd(s, start, bin_hz, 4.0)
    assert [d.signature for d in dets] == ["cellular_downlink"]
    assert dets[0].freq_hz == pytest.approx(947.5e6, abs=100e3)
    assert dets[0].bandwidth_hz == pytest.approx(5e6, rel=0.05)
    assert dets[0].t_end_s == pytest.approx(2.0)

    s = _noise_dbm(rng, (4, 2000), -95.0)
    start, bin_hz = 2400e6, 50e3
    s[1:3, 580:910] = -60.0  # 16.5 MHz around 2437 MHz
    dets = detect_psd(s, start, bin_hz, 4.0, config=PsdConfig(averages=1))
    assert [d.signature for d in dets] == ["wifi_ap"]
    assert dets[0].burst_count == 2
