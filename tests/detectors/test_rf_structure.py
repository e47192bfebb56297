"""RF structure rules: splatter, bursts cut by the snapshot edge, overlaid emitters, and the
frame structure that OcuSync video and LTE need (analytic signals, no simulator)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.burst_types import Burst
from detectors.rf import RfDetection, detect_rf
from detectors.rf_labels import DEFAULT_RULES, fragment_labels
from detectors.splatter import SplatterConfig, is_by_product
from tests.detectors.detector_signals import (
    add_at,
    band_noise_burst,
    gmsk_burst,
    gsm_call,
    lora_packet,
    noise,
)

WIFI_FS, WIFI_FC = 25e6, 2437e6


def _signatures(dets: list[RfDetection]) -> list[str]:
    return sorted(d.signature for d in dets)


def _burst(
    t_start_s: float, duration_s: float, freq_hz: float, bandwidth_hz: float, power_db: float
) -> Burst:
    return Burst(
        t_start_s, duration_s, freq_hz, bandwidth_hz, power_db + 60.0, power_db, power_db, 1
    )


@pytest.mark.parametrize("snr_db", [70.0, 80.0])
def test_very_strong_gsm_train_has_no_fragments(snr_db: float) -> None:
    """Switching transients and spectral skirts of a 70-80 dB burst (aliased round the
    2 MHz span) are by-products, not unknown bursts or LTE."""
    rng = np.random.default_rng(30)
    x = gsm_call(100_000, 2e6, bursts=10, snr_db=snr_db, offset_hz=500e3, rng=rng)
    dets = detect_rf(x, 2e6, 897.5e6)
    assert _signatures(dets) == ["gsm_uplink"], dets
    assert dets[0].burst_count == 10


def test_gsm_burst_cut_by_the_frame_edge_joins_the_call() -> None:
    rng = np.random.default_rng(31)
    fs, n = 2e6, 100_000
    x = gsm_call(n, fs, bursts=10, snr_db=20.0, offset_hz=300e3, rng=rng, first_s=4.2e-3)
    # the burst of frame -1 is cut by the snapshot start: only its last ~190 µs are seen
    tail = gmsk_burst(577e-6, 20.0, fs, rng)[-round(190e-6 * fs) :]
    add_at(x, tail, 0, 300e3, fs)
    dets = detect_rf(x, fs, 897.5e6)
    assert _signatures(dets) == ["gsm_uplink"], dets
    assert dets[0].burst_count == 11
    assert dets[0].t_start_s == 0.0


def test_lone_cut_burst_is_not_an_unknown_burst() -> None:
    """A 4 MHz x 5 ms block is `unknown_burst` when seen whole (test_rf), but cut by the
    snapshot end it is only a lower bound on a duration no label takes: dropped."""
    rng = np.random.default_rng(32)
    x = noise(500_000, rng)
    add_at(x, band_noise_burst(5e-3, 4e6, 10.0, WIFI_FS, rng), 500_000 - 50_000, 3e6, WIFI_FS)
    assert detect_rf(x, WIFI_FS, WIFI_FC) == []


def test_single_short_10mhz_block_is_not_ocusync() -> None:
    rng = np.random.default_rng(33)
    x = noise(500_000, rng)
    add_at(x, band_noise_burst(1.5e-3, 9.5e6, 15.0, WIFI_FS, rng), 150_000, -5e6, WIFI_FS)
    dets = detect_rf(x, WIFI_FS, WIFI_FC)
    assert all(d.signature != "dji_ocusync_video" and d.kind != "drone" for d in dets), dets


def test_continuous_10mhz_video_is_ocusync() -> None:
    rng = np.random.default_rng(34)
    x = noise(500_000, rng)
    add_at(x, band_noise_burst(8e-3, 9e6, 10.0, WIFI_FS, rng), 150_000, -5e6, WIFI_FS)
    dets = detect_rf(x, WIFI_FS, WIFI_FC)
    assert _signatures(dets) == ["dji_ocusync_video"], dets


def test_long_wifi_frame_is_wifi_not_video() -> None:
    """An 802.11 PPDU lasts up to 5.484 ms: a 3.5 ms 16.6 MHz frame on channel 6 is Wi-Fi."""
    rng = np.random.default_rng(35)
    x = noise(500_000, rng)
    add_at(x, band_noise_burst(3.5e-3, 16.6e6, 25.0, WIFI_FS, rng), 150_000, 0.0, WIFI_FS)
    dets = detect_rf(x, WIFI_FS, WIFI_FC)
    assert _signatures(dets) == ["wifi_ap"], dets


@pytest.mark.parametrize("elrs_snr_db", [40.0, 50.0])
def test_wifi_frame_over_elrs_chirp_is_wifi_and_elrs(elrs_snr_db: float) -> None:
    """A 0.4 ms Wi-Fi frame overlapping part of a much stronger LoRa packet inside its band
    joins it into one hot region; the region is split into the two emitters."""
    rng = np.random.default_rng(36)
    x = noise(500_000, rng)
    channels = [2444.4e6, 2444.4e6, 2436.4e6, 2436.4e6]
    for i, f in enumerate(channels):
        packet = lora_packet(1.507e-3, 812.5e3, 6, elrs_snr_db, WIFI_FS, rng)
        add_at(x, packet, int((2e-3 + i * 4e-3) * WIFI_FS), f - WIFI_FC, WIFI_FS)
    wifi = band_noise_burst(0.4e-3, 16.6e6, 25.0, WIFI_FS, rng)
    add_at(x, wifi, int(2.9e-3 * WIFI_FS), 0.0, WIFI_FS)  # over the end of packet 0
    dets = detect_rf(x, WIFI_FS, WIFI_FC)
    assert _signatures(dets) == ["elrs_2g4", "wifi_ap"], dets
    by_sig = {d.signature: d for d in dets}
    assert by_sig["elrs_2g4"].burst_count == 4
    assert by_sig["wifi_ap"].freq_hz == pytest.approx(WIFI_FC, abs=1e6)


def test_lte_needs_whole_subframes() -> None:
    rng = np.random.default_rng(37)
    fs, fc = 5e6, 1747.5e6
    x = noise(250_000, rng)
    add_at(x, band_noise_burst(2e-3, 900e3, 12.0, fs, rng), 50_000, -1.2e6, fs)  # 5 PRB x 2 ms
    dets = detect_rf(x, fs, fc)
    assert _signatures(dets) == ["lte_uplink"], dets

    x = noise(250_000, rng)
    add_at(x, band_noise_burst(0.8e-3, 300e3, 12.0, fs, rng), 50_000, -1.2e6, fs)
    dets = detect_rf(x, fs, fc)
    assert all(d.kind != "handset" for d in dets), dets


def test_weak_lone_burst_stays_below_the_alert_cut() -> None:
    rng = np.random.default_rng(38)
    x = noise(500_000, rng)
    add_at(
        x, band_noise_burst(643e-6, 8.95e6, 3.0, WIFI_FS, rng), 120_000, 2444.5e6 - WIFI_FC, WIFI_FS
    )
    dets = detect_rf(x, WIFI_FS, WIFI_FC)
    assert _signatures(dets) == ["dji_droneid"]
    assert dets[0].confidence < 0.5


def test_strong_gsm_train_keeps_its_confidence() -> None:
    rng = np.random.default_rng(39)
    x = gsm_call(100_000, 2e6, bursts=10, snr_db=30.0, offset_hz=300e3, rng=rng)
    dets = detect_rf(x, 2e6, 897.5e6)
    assert dets[0].confidence > 0.9


@pytest.mark.parametrize(
    ("weak", "expected"),
    [
        (_burst(1.0e-3, 0.1e-3, -1.4e6, 300e3, -70.0), True),  # transient at the ramp, 60 dB down
        (_burst(0.9e-3, 0.7e-3, -1.4e6, 200e3, -75.0), True),  # skirt over the whole burst
        (_burst(1.2e-3, 0.3e-3, 50e3, 600e3, -40.0), True),  # shoulders, centred on it
        (_burst(1.0e-3, 0.1e-3, -1.4e6, 300e3, -30.0), False),  # 20 dB down: another emitter
        (_burst(3.0e-3, 0.5e-3, -1.4e6, 300e3, -75.0), False),  # not while it is on
    ],
)
def test_by_product_rule(weak: Burst, expected: bool) -> None:
    strong = _burst(1.0e-3, 0.577e-3, 0.0, 270e3, -10.0)
    assert is_by_product(weak, strong, 32e-6, SplatterConfig()) is expected
    assert not is_by_product(strong, weak, 32e-6, SplatterConfig())


def test_fragment_labels() -> None:
    # 192 µs of a GSM burst cut by the edge: may be GSM (or LTE), never too short for them
    cut = fragment_labels(898.0e6, 270e3, 192e-6, DEFAULT_RULES, cut=True)
    assert [c.signature for c in cut][:1] == ["gsm_uplink"]
    # a 96 µs piece seen whole is shorter than a GSM burst: a GSM fragment candidate
    short = fragment_labels(898.0e6, 270e3, 96e-6, DEFAULT_RULES, cut=False)
    assert "gsm_uplink" in [c.signature for c in short]
    # 13 ms: longer than any GSM burst; only LTE (back-to-back subframes) can run that long
    long = fragment_labels(898.0e6, 270e3, 13e-3, DEFAULT_RULES, cut=True)
    assert [c.signature for c in long] == ["lte_uplink"]
