"""RF sensitivity pieces: the rectangular-window scan power, the levelled floor, and weak
bursts found within a few dB of the ideal energy detector while noise stays silent."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from detectors.floor import LEVEL_BINS, block_floor
from detectors.rf import detect_rf
from detectors.spectra import spectrogram
from tests.detectors.detector_signals import add_at, band_noise_burst, noise

RATE = 25e6
NOISE_POWER = 1e-4


def _ideal_snr_db(n: float, pfa: float = 1e-3, pd: float = 0.9) -> float:
    """In-band SNR at which the ideal energy detector over n complex samples (known
    noise, known burst position) reaches pd at pfa (exact chi-squared, SIGNALS.md §6)."""
    gamma = special.gammainccinv(n, pfa)

    def miss(snr_db: float) -> float:
        return float(special.gammaincc(n, gamma / (1.0 + 10 ** (snr_db / 10.0)))) - pd

    return float(optimize.brentq(miss, -40.0, 20.0))


def test_hann_power_is_taken_from_the_flat_fft() -> None:
    rng = np.random.default_rng(1)
    for nfft in (64, 512, 63):
        x = noise(nfft * 100, rng)
        x += (0.05 * np.exp(2j * np.pi * 0.123 * np.arange(x.size))).astype(np.complex64)
        direct = spectrogram(x, RATE, nfft)
        both = spectrogram(x, RATE, nfft, with_flat=True, with_pairs=True)
        boxcar = spectrogram(x, RATE, nfft, window="boxcar")
        assert both.flat is not None and both.flat_pairs is not None
        np.testing.assert_allclose(both.power, direct.power, rtol=0, atol=1e-6 * direct.power.max())
        np.testing.assert_allclose(both.flat, boxcar.power, rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="hann"):
        spectrogram(x, RATE, 64, window="blackman", with_flat=True)


def test_levelled_floor_is_unbiased_and_keeps_carriers() -> None:
    rng = np.random.default_rng(2)
    x = noise(int(RATE * 0.02), rng, NOISE_POWER)
    carrier_bin = 100
    tone = np.exp(2j * np.pi * (carrier_bin - 256) / 512 * np.arange(x.size))
    x += (0.1 * tone).astype(np.complex64)
    spec = spectrogram(x, RATE, 512, with_pairs=True)
    floor = block_floor(spec.power, pairs=spec.pairs)
    true = NOISE_POWER / 512
    assert floor.level_bins == LEVEL_BINS
    quiet = np.abs(np.arange(512) - carrier_bin) > 10
    quiet[250:262] = False  # not the DC bin's neighbourhood either
    # a max(per_bin, smoothed) floor sits ~0.4 rel_std (> 1 %) high; the levelled one not
    assert float(np.mean(floor.floor[quiet])) / true == pytest.approx(1.0, abs=0.005)
    spread = float(np.std(floor.floor[quiet] / true))
    assert spread < 2.0 * floor.rel_std / np.sqrt(LEVEL_BINS)
    assert floor.floor[carrier_bin] == floor.per_bin[carrier_bin] > 100 * true
    assert floor.box_floor_var(1) == pytest.approx(floor.rel_std**2 / LEVEL_BINS)
    assert floor.box_floor_var(60) == pytest.approx(floor.rel_std**2 / 60)


@pytest.mark.parametrize(
    ("duration_s", "bandwidth_hz", "margin_db"),
    [
        (643e-6, 9e6, 3.5),  # DroneID-like: an OFDM symbol train, 9 MHz
        (1.5e-3, 0.8e6, 4.5),  # an ELRS-like packet
    ],
)
def test_weak_burst_found_near_the_ideal_detector(
    duration_s: float, bandwidth_hz: float, margin_db: float
) -> None:
    """At `margin_db` over the ideal detector's Pd-0.9 SNR (Pfa 1e-3, told where the burst
    is) the scanning detector finds the burst in at least 9 of 10 frames (before the
    rectangular-window scan and the levelled floor it needed about 5.5 and 6.5 dB)."""
    snr_db = _ideal_snr_db(duration_s * bandwidth_hz) + margin_db
    found = 0
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        n = int(RATE * 0.02)
        x = noise(n, rng, NOISE_POWER)
        offset = float(rng.uniform(-0.3, 0.3)) * RATE
        start = int(rng.integers(n // 10, n // 2))
        burst = band_noise_burst(duration_s, bandwidth_hz, snr_db, RATE, rng, NOISE_POWER)
        add_at(x, burst, start, offset, RATE)
        t0, t1 = start / RATE, start / RATE + duration_s
        for d in detect_rf(x, RATE, 0.0):
            in_time = d.t_start_s < t1 and d.t_end_s > t0
            if in_time and abs(d.freq_hz - offset) < 0.5 * (bandwidth_hz + d.bandwidth_hz):
                found += 1
                break
    assert found >= 9, (snr_db, found)


def test_noise_alone_stays_silent() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = noise(int(RATE * 0.02), rng, NOISE_POWER)
        assert detect_rf(x, RATE, 2.437e9) == []
