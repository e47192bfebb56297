"""RF burst detector: analytic bursts, labels, robustness and the real GSM capture."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.bursts import BurstConfig, find_bursts
from detectors.floor import time_floor
from detectors.rf import RfConfig, RfDetection, detect_rf
from detectors.spectra import choose_nfft, spectrogram
from sensor_hub.settings import FusionSettings
from tests.conftest import SHARED_DATA
from tests.detectors.detector_signals import (
    add_at,
    band_noise_burst,
    gsm_call,
    lora_packet,
    noise,
)

GSM_CAPTURE = SHARED_DATA / "rf" / "gsm-uplink" / "iq-ul-4bursts.sigmf-meta"


def _signatures(dets: list[RfDetection]) -> list[str]:
    return [d.signature for d in dets]


@pytest.mark.parametrize(
    ("rate", "duration_s", "bandwidth_hz", "offset_hz", "snr_db"),
    [
        (25e6, 643e-6, 9e6, 3e6, 10.0),
        (25e6, 1.5e-3, 0.8e6, -7e6, 5.0),
        (25e6, 325e-6, 2e6, 1e6, 15.0),
        (2e6, 577e-6, 250e3, 300e3, 10.0),
        (2e6, 3e-3, 500e3, -400e3, 3.0),
    ],
)
def test_burst_is_measured(
    rate: float, duration_s: float, bandwidth_hz: float, offset_hz: float, snr_db: float
) -> None:
    rng = np.random.default_rng(10)
    n = int(rate * 0.02)
    x = noise(n, rng)
    start = n // 3
    add_at(x, band_noise_burst(duration_s, bandwidth_hz, snr_db, rate, rng), start, offset_hz, rate)
    spec = spectrogram(x, rate, choose_nfft(rate))
    bursts = find_bursts(spec, time_floor(spec.power), BurstConfig())
    assert len(bursts) == 1, bursts
    b = bursts[0]
    assert b.duration_s == pytest.approx(duration_s, rel=0.10)
    assert b.t_start_s == pytest.approx(start / rate, abs=0.1 * duration_s)
    assert b.freq_offset_hz == pytest.approx(offset_hz, abs=max(spec.bin_hz, 0.02 * bandwidth_hz))
    # Hann leakage widens a brick-wall band by about one bin on each side
    assert b.bandwidth_hz == pytest.approx(
        0.99 * bandwidth_hz, abs=max(0.15 * bandwidth_hz, 2.5 * spec.bin_hz)
    )
    assert b.snr_db == pytest.approx(snr_db, abs=1.5)


def test_noise_alone_gives_nothing_at_the_alert_cut() -> None:
    """Receiver noise: at the default frame Pfa (1e-2) a rare weak candidate, always under
    stage 2's alert cut; at a frame Pfa of 1e-4, nothing at all."""
    cut = FusionSettings().min_confidence
    strict = RfConfig(bursts=BurstConfig(pfa_frame=1e-4))
    found, found_strict = [], []
    for seed in range(2):
        for config, out in ((RfConfig(), found), (strict, found_strict)):
            rng = np.random.default_rng([11, seed])
            for _ in range(100):
                out += detect_rf(noise(100_000, rng), 2e6, 897.5e6, config=config)
            for _ in range(5):
                out += detect_rf(noise(500_000, rng), 25e6, 2437e6, config=config)
    assert found_strict == []
    assert len(found) <= 6, found  # 210 frames at 1e-2: at most ~2 expected
    assert all(d.confidence < cut for d in found), found


def test_dc_spike_is_not_a_burst() -> None:
    rng = np.random.default_rng(12)
    x = noise(500_000, rng) + np.complex64(0.02 + 0.01j)
    assert detect_rf(x, 25e6, 2437e6) == []


def test_clipping_does_not_explode() -> None:
    rng = np.random.default_rng(13)
    x = noise(500_000, rng)
    add_at(x, band_noise_burst(2e-3, 10e6, 60.0, 25e6, rng), 100_000, 2e6, 25e6)
    clipped = (np.clip(x.real, -1, 1) + 1j * np.clip(x.imag, -1, 1)).astype(np.complex64)
    dets = detect_rf(clipped, 25e6, 2437e6, full_scale_dbm=-10.0)
    assert 1 <= len(dets) <= 5
    assert all(np.isfinite([d.snr_db, d.freq_hz, d.bandwidth_hz]).all() for d in dets)


def test_all_zero_and_short_frames() -> None:
    assert detect_rf(np.zeros(100_000, np.complex64), 2e6, 900e6) == []
    assert detect_rf(np.zeros(10, np.complex64), 2e6, 900e6) == []
    assert detect_rf(np.zeros((1, 100_000), np.complex64), 2e6, 900e6) == []


def test_gsm_burst_train_is_gsm_uplink() -> None:
    rng = np.random.default_rng(14)
    x = gsm_call(100_000, 2e6, bursts=10, snr_db=10.0, offset_hz=300e3, rng=rng)
    dets = detect_rf(x, 2e6, 897.5e6, full_scale_dbm=-20.0)
    assert _signatures(dets) == ["gsm_uplink"]
    d = dets[0]
    assert d.kind == "handset"
    assert d.burst_count == 10
    assert d.freq_hz == pytest.approx(897.8e6, abs=40e3)
    assert 150e3 < d.bandwidth_hz < 350e3
    assert d.rssi_dbm is not None and d.confidence > 0.8


def test_gsm_burst_in_downlink_band_is_not_a_handset() -> None:
    rng = np.random.default_rng(15)
    x = gsm_call(100_000, 2e6, bursts=10, snr_db=10.0, offset_hz=300e3, rng=rng)
    dets = detect_rf(x, 2e6, 942.5e6)
    assert dets and all(d.signature != "gsm_uplink" and d.kind != "handset" for d in dets)


def test_droneid_burst() -> None:
    rng = np.random.default_rng(16)
    fs, fc = 25e6, 2437e6
    x = noise(500_000, rng)
    add_at(x, band_noise_burst(643e-6, 8.95e6, 3.0, fs, rng), 120_000, 2444.5e6 - fc, fs)
    dets = detect_rf(x, fs, fc)
    assert _signatures(dets) == ["dji_droneid"]
    assert dets[0].kind == "drone"
    assert dets[0].freq_hz == pytest.approx(2444.5e6, abs=200e3)


def test_elrs_and_wifi_frame() -> None:
    """Demo-like 2.4 GHz frame: hopping LoRa packets plus a Wi-Fi beacon on channel 6."""
    rng = np.random.default_rng(17)
    fs, fc = 25e6, 2437e6
    x = noise(500_000, rng)
    channels = [2426.4e6, 2426.4e6, 2431.4e6, 2431.4e6, 2445.4e6, 2445.4e6]
    for i, f in enumerate(channels):
        add_at(
            x, lora_packet(1.507e-3, 812.5e3, 5, 8.0, fs, rng), int(i * 2e-3 * fs) + 500, f - fc, fs
        )
    add_at(x, band_noise_burst(0.6e-3, 16.6e6, 12.0, fs, rng), int(15e-3 * fs), 0.0, fs)
    dets = detect_rf(x, fs, fc)
    by_sig = {d.signature: d for d in dets}
    assert set(by_sig) == {"elrs_2g4", "wifi_ap"}, dets
    assert by_sig["elrs_2g4"].burst_count == 6
    assert by_sig["elrs_2g4"].kind == "drone"
    assert by_sig["wifi_ap"].kind == "other"


def test_ocusync_video_frames() -> None:
    rng = np.random.default_rng(18)
    fs, fc = 25e6, 2437e6
    x = noise(500_000, rng)
    for k in range(4):  # 5 ms frames, 70 % on, 10 MHz
        add_at(
            x, band_noise_burst(3.5e-3, 9e6, 5.0, fs, rng), int((0.5e-3 + k * 5e-3) * fs), -5e6, fs
        )
    dets = detect_rf(x, fs, fc)
    assert _signatures(dets) == ["dji_ocusync_video"]
    assert dets[0].burst_count == 4


def test_continuous_downlink_carrier() -> None:
    rng = np.random.default_rng(19)
    fs = 2e6
    x = noise(100_000, rng)
    add_at(x, band_noise_burst(0.05, 200e3, 20.0, fs, rng), 0, -500e3, fs)
    dets = detect_rf(x, fs, 945e6)
    assert _signatures(dets) == ["cellular_downlink"]
    assert dets[0].kind == "other"


def test_unknown_burst_is_not_forced() -> None:
    rng = np.random.default_rng(20)
    fs, fc = 25e6, 2437e6
    x = noise(500_000, rng)
    add_at(x, band_noise_burst(5e-3, 4e6, 10.0, fs, rng), 100_000, 3e6, fs)  # 4 MHz x 5 ms
    dets = detect_rf(x, fs, fc)
    assert _signatures(dets) == ["unknown_burst"]
    assert dets[0].kind == "other"


def test_real_gsm_capture() -> None:
    if not GSM_CAPTURE.exists():
        pytest.skip(f"real capture not available: {GSM_CAPTURE}")
    sigmf = pytest.importorskip("sigmf")
    meta = sigmf.fromfile(str(GSM_CAPTURE))
    x = meta.read_samples().astype(np.complex64)
    dets = detect_rf(x, meta.sample_rate, 890.2e6)
    assert _signatures(dets) == ["gsm_uplink"]
    d = dets[0]
    assert d.burst_count == 4
    assert d.freq_hz == pytest.approx(890.2e6, abs=30e3)
    assert d.t_start_s == pytest.approx(385 / meta.sample_rate, abs=40e-6)
    assert d.confidence > 0.9
