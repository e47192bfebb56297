"""Receiver impairments must not turn into threat detections (issue 4, robustness).

Each test feeds frames a real SDR produces when something is off: an ADC clipping on a
strong neighbour, a DC spike and LO leakage, IQ gain/phase imbalance (a mirror image of
a strong signal), a frequency offset, an AGC gain step, and frames whose level jumps from
one to the next (a tracked floor would be wrong). What may come out is a not-a-threat
label, an `unknown_burst`, or a threat-class detection below stage 2's 0.5 alert cut;
never a confident drone or handset.
"""

from __future__ import annotations

import numpy as np
import pytest

from detectors.rf import RfDetection, detect_rf
from tests.detectors.detector_signals import add_at, band_noise_burst, gsm_call, noise

RATE = 25e6
N = 500_000  # 20 ms at 25 MS/s
ALERT_CUT = 0.5


def _threats(dets: list[RfDetection]) -> list[RfDetection]:
    return [d for d in dets if d.kind in ("drone", "handset") and d.confidence >= ALERT_CUT]


def _wifi_ap(rng: np.random.Generator, snr_db: float, offset_hz: float = 0.0) -> np.ndarray:
    """Noise plus beacon-like 20 MHz OFDM frames (not a threat) every 2 ms."""
    x = noise(N, rng)
    for start in range(20_000, N - 10_000, 50_000):
        add_at(x, band_noise_burst(300e-6, 18e6, snr_db, RATE, rng), start, offset_hz, RATE)
    return x


@pytest.mark.parametrize("seed", range(3))
def test_clipped_strong_neighbour_is_not_a_threat(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = _wifi_ap(rng, snr_db=70.0) * 20.0  # drives the ADC hard into clipping
    clipped = (np.clip(x.real, -1, 1) + 1j * np.clip(x.imag, -1, 1)).astype(np.complex64)
    assert np.mean(np.abs(clipped.real) >= 1.0) > 1e-3  # it really clips
    assert _threats(detect_rf(clipped, RATE, 2437e6)) == []


@pytest.mark.parametrize("seed", range(3))
def test_dc_spike_and_lo_leakage_are_not_threats(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = noise(N, rng) + np.complex64(0.05 + 0.03j)  # DC offset 27 dB over the noise
    t = np.arange(N) / RATE
    x += (0.01 * np.exp(2j * np.pi * 1e3 * t)).astype(np.complex64)  # LO leakage near DC
    assert _threats(detect_rf(x.astype(np.complex64), RATE, 2437e6)) == []


@pytest.mark.parametrize("seed", range(3))
def test_iq_imbalance_image_of_a_wifi_ap_is_not_a_threat(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = _wifi_ap(rng, snr_db=40.0, offset_hz=6e6)
    g, phi = 1.05, np.deg2rad(3.0)  # 0.4 dB gain and 3 degree phase imbalance
    i, q = x.real, x.imag
    y = (i + 1j * g * (q * np.cos(phi) + i * np.sin(phi))).astype(np.complex64)
    assert _threats(detect_rf(y, RATE, 2437e6)) == []


@pytest.mark.parametrize("offset_hz", [-40e3, 25e3, 60e3])
def test_frequency_offset_keeps_a_gsm_call_a_gsm_call(offset_hz: float) -> None:
    rng = np.random.default_rng(4)
    x = gsm_call(100_000, 2e6, bursts=10, snr_db=15.0, offset_hz=300e3 + offset_hz, rng=rng)
    dets = detect_rf(x, 2e6, 897.5e6)
    assert [d.signature for d in dets] == ["gsm_uplink"]


@pytest.mark.parametrize("step_db", [-10.0, 6.0, 20.0])
def test_gain_step_in_noise_is_not_a_threat(step_db: float) -> None:
    rng = np.random.default_rng(5)
    x = noise(N, rng)
    x[N // 3 :] *= np.complex64(10 ** (step_db / 20.0))  # the AGC moves mid-frame
    assert _threats(detect_rf(x, RATE, 2437e6)) == []


def test_frames_at_jumping_levels_are_judged_on_their_own() -> None:
    """No floor history to get wrong: each frame's floor is its own, so a frame 30 dB
    louder or quieter than the last is still only noise."""
    rng = np.random.default_rng(6)
    for level in (1e-6, 1e-2, 1e-5, 1e-3):
        x = noise(N, rng, noise_power=level)
        assert _threats(detect_rf(x, RATE, 2437e6)) == []
        assert _threats(detect_rf(noise(100_000, rng, level), 2e6, 897.5e6)) == []


def test_noise_alone_gives_no_confident_threat_in_many_frames() -> None:
    """200 noise-only frames (4 s of 25 MS/s snapshots, 1 s of 2 MS/s GSM snapshots)."""
    rng = np.random.default_rng(7)
    found = []
    for _ in range(100):
        found += _threats(detect_rf(noise(200_000, rng), RATE, 2437e6))
        found += _threats(detect_rf(noise(20_000, rng), 2e6, 897.5e6))
    assert found == []
