"""Labels for the site's own emitters and for Wi-Fi traffic patterns (issue 4)."""

from __future__ import annotations

import numpy as np

from detectors.rf import detect_rf
from tests.detectors.detector_signals import add_at, band_noise_burst, noise

WIFI_FS, WIFI_FC = 25e6, 2437e6
PMR_FS = 250e3


def _fsk(duration_s: float, symbol_rate: float, deviations_hz: tuple[float, ...],
         snr_db: float, bandwidth_hz: float, rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Constant-envelope 4FSK (a DMR / TETRA-like radio burst) at `snr_db` in its band."""
    n = round(duration_s * PMR_FS)
    per = PMR_FS / symbol_rate
    freq = np.asarray(deviations_hz)[rng.integers(0, len(deviations_hz), int(n / per) + 1)]
    inst = freq[(np.arange(n) / per).astype(int)]
    x = np.exp(2j * np.pi * np.cumsum(inst) / PMR_FS)
    in_band_noise = 1e-4 * bandwidth_hz / PMR_FS
    return np.asarray(x * np.sqrt(in_band_noise * 10 ** (snr_db / 10)))


def test_tetra_slot_is_a_staff_radio() -> None:
    rng = np.random.default_rng(41)
    x = noise(50_000, rng)  # 200 ms
    for k in range(3):  # one 14.17 ms slot per 56.67 ms TDMA frame
        burst = _fsk(14.17e-3, 18e3, (-7e3, -2.3e3, 2.3e3, 7e3), 15.0, 22e3, rng)
        add_at(x, burst, int((5e-3 + k * 56.67e-3) * PMR_FS), 20e3, PMR_FS)
    dets = detect_rf(x, PMR_FS, 390e6)
    assert {d.signature for d in dets} == {"tetra"}, dets
    assert all(d.kind == "other" for d in dets)


def test_dmr_burst_is_a_staff_radio() -> None:
    rng = np.random.default_rng(42)
    x = noise(50_000, rng)
    for k in range(3):  # a 27.5 ms burst per 60 ms (two 30 ms slots, one used)
        burst = _fsk(27.5e-3, 4.8e3, (-1944.0, -648.0, 648.0, 1944.0), 15.0, 11e3, rng)
        add_at(x, burst, int((5e-3 + k * 60e-3) * PMR_FS), -30e3, PMR_FS)
    dets = detect_rf(x, PMR_FS, 450e6)
    assert {d.signature for d in dets} == {"dmr"}, dets


def test_probe_requests_are_a_handset_below_the_alert_cut() -> None:
    rng = np.random.default_rng(43)
    x = noise(500_000, rng)
    for start_s in (4e-3, 5.2e-3):  # two short probes on channel 6, a millisecond apart
        add_at(x, band_noise_burst(0.3e-3, 16.6e6, 20.0, WIFI_FS, rng),
               int(start_s * WIFI_FS), 0.0, WIFI_FS)  # fmt: skip
    dets = detect_rf(x, WIFI_FS, WIFI_FC)
    assert [(d.signature, d.kind) for d in dets] == [("wifi_probe", "handset")], dets
    assert dets[0].confidence < 0.5  # PHY shape only: needs corroboration to alert


def test_busy_channel_is_wifi_drone_video_below_the_alert_cut() -> None:
    rng = np.random.default_rng(44)
    x = noise(500_000, rng)
    t = 1e-3
    while t < 18e-3:  # back-to-back 1 ms data frames, ~40 % airtime
        add_at(x, band_noise_burst(1e-3, 16.6e6, 20.0, WIFI_FS, rng), int(t * WIFI_FS), 0.0,
               WIFI_FS)  # fmt: skip
        t += 2.5e-3
    dets = detect_rf(x, WIFI_FS, WIFI_FC)
    assert [(d.signature, d.kind) for d in dets] == [("wifi_drone", "drone")], dets
    assert dets[0].confidence < 0.5


def test_single_beacon_stays_an_access_point() -> None:
    rng = np.random.default_rng(45)
    x = noise(500_000, rng)
    add_at(x, band_noise_burst(0.4e-3, 16.6e6, 20.0, WIFI_FS, rng), 200_000, 0.0, WIFI_FS)
    dets = detect_rf(x, WIFI_FS, WIFI_FC)
    assert [(d.signature, d.kind) for d in dets] == [("wifi_ap", "other")], dets
