"""Analytic checks of the dB helpers, CFAR thresholds and the spectral front end."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from detectors.cfar import (
    ca_cfar_alpha,
    ca_cfar_pfa,
    known_noise_pfa,
    known_noise_threshold,
    os_cfar_pfa,
    os_cfar_scale,
)
from detectors.floor import order_statistic_mean, time_floor
from detectors.spectra import (
    bin_power_correlation,
    choose_nfft,
    effective_cells,
    spectrogram,
    welch_psd,
)
from detectors.units import DB_FLOOR, amplitude_to_db, db_to_power, power_to_db


class TestUnits:
    def test_silence_maps_to_floor(self) -> None:
        assert power_to_db(0.0) == DB_FLOOR
        assert power_to_db(-1.0) == DB_FLOOR
        assert power_to_db(0.0, floor_db=-120.0) == -120.0
        assert amplitude_to_db(0.0) == DB_FLOOR

    def test_array_is_finite(self) -> None:
        out = power_to_db(np.array([0.0, 1e-400, 1.0, 100.0]))
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out[2:], [0.0, 20.0])

    @pytest.mark.parametrize("db", [-90.0, -3.0, 0.0, 13.5, 60.0])
    def test_round_trip(self, db: float) -> None:
        assert power_to_db(db_to_power(db)) == pytest.approx(db, abs=1e-12)
        assert amplitude_to_db(math.sqrt(db_to_power(db))) == pytest.approx(db, abs=1e-12)


class TestCfar:
    # SIGNALS.md §6 table, Pfa 1e-3
    @pytest.mark.parametrize(("n", "alpha"), [(8, 10.97), (16, 8.64), (32, 7.71), (64, 7.29)])
    def test_ca_alpha_matches_table(self, n: int, alpha: float) -> None:
        assert ca_cfar_alpha(n, 1e-3) == pytest.approx(alpha, abs=0.01)
        assert ca_cfar_pfa(ca_cfar_alpha(n, 1e-3), n) == pytest.approx(1e-3, rel=1e-9)

    @pytest.mark.parametrize(("n", "k", "scale"), [(16, 12, 7.42), (32, 24, 6.09), (64, 48, 5.51)])
    def test_os_scale_matches_table(self, n: int, k: int, scale: float) -> None:
        assert os_cfar_scale(n, k, 1e-3) == pytest.approx(scale, abs=0.01)
        assert os_cfar_pfa(os_cfar_scale(n, k, 1e-3), n, k) == pytest.approx(1e-3, rel=1e-6)

    def test_known_noise(self) -> None:
        assert known_noise_threshold(1e-3) == pytest.approx(math.log(1e3))
        t = known_noise_threshold(1e-6, 10.0)
        assert special.gammaincc(10.0, 10.0 * t) == pytest.approx(1e-6, rel=1e-6)
        assert known_noise_pfa(t, 10.0) == pytest.approx(1e-6, rel=1e-6)

    def test_empirical_pfa_of_averaged_cells(self) -> None:
        rng = np.random.default_rng(1)
        cells = rng.exponential(size=(200_000, 4)).mean(axis=1)
        t = known_noise_threshold(1e-3, 4)
        assert np.mean(cells > t) == pytest.approx(1e-3, rel=0.25)

    def test_rejects_bad_pfa(self) -> None:
        with pytest.raises(ValueError, match="pfa"):
            ca_cfar_alpha(16, 1.5)


class TestSpectra:
    @pytest.mark.parametrize(
        ("rate", "nfft"), [(25e6, 512), (2e6, 64), (1.0833e6, 32), (50e6, 1024), (100e3, 16)]
    )
    def test_choose_nfft(self, rate: float, nfft: int) -> None:
        assert choose_nfft(rate) == nfft
        assert rate / nfft <= 50e3 or nfft == 16

    @pytest.mark.parametrize("bin_offset", [-200, -17, 0, 3, 101])
    def test_tone_lands_in_its_bin(self, bin_offset: int) -> None:
        fs, nfft = 25e6, 512
        n = np.arange(nfft * 20)
        tone = np.exp(2j * np.pi * bin_offset * n / nfft).astype(np.complex64)
        spec = spectrogram(tone, fs, nfft)
        peak = int(np.argmax(spec.power.mean(axis=0)))
        assert spec.freqs_hz[peak] == pytest.approx(bin_offset * fs / nfft)
        # bins of a frame sum to mean |x|^2: a unit tone reads 1/ENBW = 2/3 (Hann) in its
        # bin and 1.0 over its main lobe
        assert spec.power[:, peak].mean() == pytest.approx(2 / 3, rel=1e-3)
        assert spec.power[:, peak - 1 : peak + 2].sum(axis=1).mean() == pytest.approx(1.0, rel=1e-3)

    def test_noise_power_is_preserved(self) -> None:
        rng = np.random.default_rng(2)
        x = (rng.standard_normal(64 * 4000) + 1j * rng.standard_normal(64 * 4000)) / np.sqrt(2)
        spec = spectrogram(x.astype(np.complex64), 2e6, 64)
        assert spec.power.sum(axis=1).mean() == pytest.approx(1.0, rel=0.01)
        assert spec.power.dtype == np.float32

    def test_hann_bin_correlation(self) -> None:
        assert bin_power_correlation("hann", 512, 1) == pytest.approx(4 / 9, rel=1e-6)
        assert bin_power_correlation("hann", 512, 2) == pytest.approx(1 / 36, rel=1e-6)
        assert bin_power_correlation("hann", 512, 3) == pytest.approx(0.0, abs=1e-9)
        assert effective_cells("hann", 512, 4, 1) == pytest.approx(4.0)

    def test_welch_psd_of_sine(self) -> None:
        fs = 16_000.0
        t = np.arange(int(fs)) / fs
        psd = welch_psd(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32), fs, 8192)
        peak = int(np.argmax(psd.psd))
        assert psd.freqs_hz[peak] == pytest.approx(1000.0, abs=psd.bin_hz)
        # integrated power of a unit sine = 0.5
        assert float(np.sum(psd.psd) * psd.bin_hz) == pytest.approx(0.5, rel=0.02)


class TestFloor:
    def test_order_statistic_mean(self) -> None:
        assert order_statistic_mean(1, 1) == pytest.approx(1.0)
        assert order_statistic_mean(2, 1) == pytest.approx(0.5)

    def test_time_floor_is_unbiased_and_ignores_bursts(self) -> None:
        rng = np.random.default_rng(3)
        power = rng.exponential(2.0, size=(1000, 64)).astype(np.float32)
        power[:250, 10:20] *= 1000.0  # 25 % busy bins
        floor = time_floor(power, quantile=0.1, smooth_bins=1)
        assert np.median(floor.per_bin) == pytest.approx(2.0, rel=0.05)
        # the 10 % order statistic sits at ~13 % of the 750 free cells: biased ~1.4x, bounded
        assert np.all(floor.per_bin[10:20] < 2.0 * 2.0)
