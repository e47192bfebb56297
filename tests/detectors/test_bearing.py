"""GCC-PHAT / SRP bearing: analytic plane waves with exact inter-microphone delays."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.bearing import estimate_bearing

FS = 16_000
C = 343.0


def _square(r: float = 0.1) -> np.ndarray:
    return np.array([[r * np.cos(a), r * np.sin(a), 0.0] for a in np.arange(4) * np.pi / 2])


def _unit(az_deg: float, el_deg: float) -> np.ndarray:
    az, el = np.deg2rad(az_deg), np.deg2rad(el_deg)
    return np.array([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)])


def _plane_wave(
    mics: np.ndarray, az: float, el: float, snr_db: float, rng: np.random.Generator,
    f0: float = 185.0, n: int = FS,
) -> np.ndarray:  # fmt: skip
    """A rotor-like comb (12 harmonics, -1.5 dB each) plus a little broadband, arriving
    from (az, el): microphone i hears it (r_i·u)/c early; independent noise per mic at
    `snr_db` below the signal power."""
    f = np.fft.rfftfreq(n, 1 / FS)
    spec = np.zeros(len(f), dtype=complex)
    for k in range(1, 13):
        spec[np.argmin(np.abs(f - k * f0))] = np.exp(2j * np.pi * rng.uniform()) * 10 ** (
            -1.5 * k / 20
        )
    spec += 0.01 * (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f)))
    u = _unit(az, el)
    x = np.array([np.fft.irfft(spec * np.exp(2j * np.pi * f * (m @ u) / C), n) for m in mics])
    noise = rng.standard_normal(x.shape) * np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10))
    return x + noise


def _az_error(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def test_square_array_bearing_within_two_degrees_at_10_db() -> None:
    rng = np.random.default_rng(11)
    mics = _square()
    errors, el_errors = [], []
    for _ in range(30):
        az, el = rng.uniform(0, 360), rng.uniform(5, 45)
        b = estimate_bearing(_plane_wave(mics, az, el, 10.0, rng), FS, mics, f0_hz=185.0)
        assert b is not None and b.coherence > 0.4
        errors.append(_az_error(b.azimuth_deg, az))
        el_errors.append(abs(b.elevation_deg - el))
    assert float(np.median(errors)) <= 2.0 and max(errors) <= 6.0
    assert float(np.median(el_errors)) <= 5.0


def test_without_comb_weighting_and_with_2d_offsets() -> None:
    rng = np.random.default_rng(12)
    mics = _square(0.2)
    x = _plane_wave(mics, 123.0, 0.0, 20.0, rng)
    b = estimate_bearing(x, FS, mics[:, :2])
    assert b is not None and _az_error(b.azimuth_deg, 123.0) <= 2.0


def test_diffuse_noise_is_incoherent() -> None:
    rng = np.random.default_rng(13)
    mics = _square()
    coh = [estimate_bearing(rng.standard_normal((4, FS)), FS, mics, f0_hz=185.0) for _ in range(10)]
    assert all(b is not None and b.coherence < 0.3 for b in coh)


def test_too_short_or_degenerate_arrays_give_none() -> None:
    rng = np.random.default_rng(14)
    mics = _square()
    assert estimate_bearing(rng.standard_normal((4, 100)), FS, mics) is None
    same = np.zeros((2, 3))
    assert estimate_bearing(rng.standard_normal((2, FS)), FS, same) is None


def test_shape_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="mic_offsets_m"):
        estimate_bearing(np.zeros((4, FS)), FS, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="microphones"):
        estimate_bearing(np.zeros((3, FS)), FS, _square())
