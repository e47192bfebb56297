"""Shortcuts of the rotor-comb detector's confuser tests give what the long way gives:
one STFT for the envelope and the dropouts, z thresholds without cube roots, the
low-fundamental lines from a cached table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.acoustic import AcousticConfig
from detectors.acoustic_cues import _low_bands
from detectors.acoustic_features import (
    band_peak_z,
    band_peak_z_at_least,
    comb_dropouts,
    peak_z_law,
)
from detectors.acoustic_subframes import common_envelope, frame_pieces, piece_power
from tests.detectors.test_acoustic import FS, pink, rotor_cluster_comb

CONFIG = AcousticConfig()


@pytest.mark.parametrize("z", [-3.0, 0.0, 2.0, 4.5])
def test_band_peak_z_at_least_is_the_z_test(z: float) -> None:
    rng = np.random.default_rng(3)
    bins = rng.integers(1, 300, 20_000)
    sums = rng.exponential(1.0, bins.shape[0]) * bins * rng.uniform(0.0, 0.3, bins.shape[0])
    sums[::7] = 0.0
    args = (CONFIG.peak_threshold, CONFIG.floor_rel_sigma)
    # sums at the threshold too (and an ulp either side): the z there rounds either way
    mean, offset, scale = peak_z_law(bins, *args)
    at = mean * np.maximum(offset + z * scale, 0.0) ** 3
    sums[1::5] = at[1::5]
    sums[2::5] = np.nextafter(at[2::5], np.inf)
    sums[3::5] = np.nextafter(at[3::5], -np.inf)
    expected = band_peak_z(sums, bins, *args) >= z
    np.testing.assert_array_equal(band_peak_z_at_least(sums, bins, z, *args), expected)


def test_frame_pieces_serve_the_envelope_and_the_dropouts() -> None:
    rng = np.random.default_rng(4)
    x = (0.05 * rotor_cluster_comb(185.0, 10, rng) + 0.01 * pink(int(FS), rng)).astype(np.float32)
    centres = 185.0 * np.arange(1, 8)
    pieces = frame_pieces(x, FS, centres, CONFIG.tolerance)
    assert pieces is not None and pieces.shape[0] == 15
    shared = common_envelope(x, FS, centres, CONFIG.tolerance, power=pieces)
    assert shared == common_envelope(x, FS, centres, CONFIG.tolerance)
    # the dropout pieces are every other one (periodic Hann, float32 FFT: the same count)
    own = comb_dropouts(x, FS, centres, CONFIG.tolerance)
    assert comb_dropouts(x, FS, centres, CONFIG.tolerance, power=pieces[0::2]) == own
    # the pieces stop at the top glided band: all bins give the same counts
    n = int(0.125 * FS)
    full = piece_power(x, n, n // 2, n // 2 + 1)
    assert pieces.shape[1] < full.shape[1]
    assert comb_dropouts(x, FS, centres, CONFIG.tolerance, power=full[0::2]) == own
    assert common_envelope(x, FS, centres, CONFIG.tolerance, power=full) == shared
    with pytest.raises(ValueError, match="pieces"):
        comb_dropouts(x, FS, centres, CONFIG.tolerance, power=pieces)
    # 1.5 s: the dropout pieces are longer than the envelope's, each takes its own
    assert frame_pieces(np.tile(x, 2)[: int(1.5 * FS)], FS, centres, CONFIG.tolerance) is None


def _low_bands_by_table(f0_hz: float, config: AcousticConfig) -> tuple[np.ndarray, ...]:
    """`_low_bands` as a full (d, m) table with f0 in every comparison (the reference)."""
    top = min(config.max_harmonics * f0_hz, config.band_limit_hz)
    d = np.arange(2, 9)
    g = f0_hz / d
    searched = (g < config.min_f0_hz) & (g >= 10.0)
    d, g = d[searched], g[searched]
    if d.shape[0] == 0:
        return d, d, g
    m = np.arange(1, math.floor(top / g[-1]) + 1)
    keep = (m >= np.ceil(100.0 / g)[:, None]) & (m <= np.floor(top / g)[:, None])
    keep &= m % d[:, None] != 0
    near = np.maximum(np.round(m / d[:, None]), 1.0) * f0_hz
    keep &= np.abs(m * g[:, None] - near) > 2.0 * config.tolerance * near
    counts = np.count_nonzero(keep, axis=1)
    enough = counts >= max(config.low_min_bands, 1)
    return d[enough], counts[enough], (m * g[:, None])[keep & enough[:, None]]


def test_low_bands_from_the_cached_table_are_the_full_table() -> None:
    rng = np.random.default_rng(5)
    # 50-400 Hz holds lines exactly 2 x tolerance off a comb line (m = 23, 27 for d = 5)
    for f0 in np.concatenate((np.geomspace(20.0, 2_600.0, 3_000), rng.uniform(50.0, 400.0, 3_000))):
        for got, want in zip(_low_bands(float(f0), CONFIG), _low_bands_by_table(float(f0), CONFIG),
                             strict=True):  # fmt: skip
            np.testing.assert_array_equal(got, want)


def test_threshold_test_where_the_level_is_zero() -> None:
    """line_z at -offset / scale of a band width (the z of a zero sum): the z decides,
    not the rounding of offset + z * scale (a review's case)."""
    _, offset, scale = peak_z_law(np.array([3]), 2.5, 0.13)
    z = float(-offset[0] / scale[0])
    expected = band_peak_z(np.array([0.0]), np.array([3]), 2.5, 0.13) >= z
    got = band_peak_z_at_least(np.array([0.0]), np.array([3]), z, 2.5, 0.13)
    np.testing.assert_array_equal(got, expected)
