"""Weak continuous lines (`rf_lines`) and carriers wider than half the span (`rf_wide`)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.floor import block_floor
from detectors.rf_lines import LineConfig, find_lines
from detectors.rf_wide import WideCarrierConfig, find_wide_carriers
from detectors.spectra import spectrogram

FS_HZ = 25e6
NFFT = 512
N_SAMPLES = 500_000  # 20 ms


def _noise(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=N_SAMPLES) + 1j * rng.normal(size=N_SAMPLES)
    return (x / np.sqrt(2.0)).astype(np.complex64)


def _tone(freq_hz: float, snr_db: float) -> np.ndarray:
    """A tone at `snr_db` over the noise in one bin (noise power 1 over the span)."""
    power = 10 ** (snr_db / 10) / NFFT
    t = np.arange(N_SAMPLES) / FS_HZ
    return (np.sqrt(power) * np.exp(2j * np.pi * freq_hz * t)).astype(np.complex64)


def _band_noise(seed: int, lo_hz: float, hi_hz: float, snr_db: float) -> np.ndarray:
    """White noise filtered to [lo_hz, hi_hz) at `snr_db` per bin over the receiver noise."""
    rng = np.random.default_rng(seed)
    spectrum = rng.normal(size=N_SAMPLES) + 1j * rng.normal(size=N_SAMPLES)
    freqs = np.fft.fftfreq(N_SAMPLES, 1.0 / FS_HZ)
    spectrum[(freqs < lo_hz) | (freqs >= hi_hz)] = 0.0
    x = np.fft.ifft(spectrum)
    x *= np.sqrt(10 ** (snr_db / 10) * (hi_hz - lo_hz) / FS_HZ / np.mean(np.abs(x) ** 2))
    return x.astype(np.complex64)


def _lines(x: np.ndarray) -> list[float]:
    spec = spectrogram(x, FS_HZ, NFFT)
    return [b.freq_offset_hz for b in find_lines(spec, block_floor(spec.power), LineConfig())]


@pytest.mark.parametrize("seed", range(5))
def test_receiver_noise_has_no_lines(seed: int) -> None:
    assert _lines(_noise(seed)) == []


@pytest.mark.parametrize("freq_hz", [-7.3e6, 2.1e6, 9.6e6])
def test_a_weak_tone_is_a_line_on_its_bin(freq_hz: float) -> None:
    # about 2 dB over the floor in its bin (far under `carriers`' 6 dB); the floor is known
    # to about 3 %
    found = _lines(_noise(1) + _tone(freq_hz, 0.0))
    assert len(found) == 1
    assert found[0] == pytest.approx(freq_hz, abs=FS_HZ / NFFT)


def test_a_tone_on_dc_is_the_receivers_offset() -> None:
    assert _lines(_noise(2) + _tone(0.0, 0.0)) == []


def _wide(x: np.ndarray) -> list[tuple[float, float]]:
    spec = spectrogram(x, FS_HZ, NFFT)
    found = find_wide_carriers(spec, block_floor(spec.power), WideCarrierConfig())
    return [(b.freq_offset_hz, b.bandwidth_hz) for b in found]


def test_receiver_noise_has_no_wide_carrier() -> None:
    assert _wide(_noise(3)) == []


def test_a_carrier_over_most_of_the_span_is_found() -> None:
    (found,) = _wide(_noise(4) + _band_noise(5, -9e6, 7e6, 15.0))
    centre_hz, bandwidth_hz = found
    assert centre_hz == pytest.approx(-1e6, abs=0.3e6)
    assert bandwidth_hz == pytest.approx(16e6, rel=0.05)


def test_a_passband_centred_on_dc_is_the_receiver() -> None:
    assert _wide(_noise(6) + _band_noise(7, -8e6, 8e6, 15.0)) == []
