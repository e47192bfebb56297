"""Analytic checks of the dB helpers, CFAR thresholds and the spectral front end."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage, signal, special

from detectors import burst_profiles, overlaid
from detectors.burst_types import Burst
from detectors.cfar import (
    PaddedImage,
    box_sums,
    box_threshold,
    ca_cfar_alpha,
    ca_cfar_pfa,
    cfar_mask,
    known_noise_pfa,
    known_noise_threshold,
    os_cfar_pfa,
    os_cfar_scale,
    run_sums,
)
from detectors.floor import kth_smallest_per_column, order_statistic_mean, time_floor
from detectors.rf_groups import median_of
from detectors.spectra import (
    bin_power_correlation,
    choose_nfft,
    effective_cells,
    spectrogram,
    welch_psd,
)
from detectors.splatter import SplatterConfig, by_product_matrix, is_by_product
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


class TestFastPaths:
    """The fast forms of the detector's building blocks against the plain numpy / scipy
    computations they replace (bit for bit where the detector relies on it)."""

    @pytest.mark.parametrize("seed", range(4))
    def test_kth_smallest_per_column_is_partition(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(50):
            n, m = int(rng.integers(1, 400)), int(rng.choice([1, 3, 16, 33, 64]))
            x = rng.exponential(size=(n, m)).astype(np.float32)
            if rng.random() < 0.3:
                x = np.round(2 * x)  # ties
            if rng.random() < 0.2:
                x[rng.random(x.shape) < 0.3] = np.nan
            k = int(rng.integers(1, n + 1))
            expected = np.partition(x, k - 1, axis=0)[k - 1]
            got = kth_smallest_per_column(x, k, group=int(rng.integers(1, 12)))
            np.testing.assert_array_equal(got, expected)

    def test_spectrogram_folds_scale_and_shift_into_the_window(self) -> None:
        rng = np.random.default_rng(5)
        for nfft in (64, 33):
            x = (rng.standard_normal(nfft * 50) + 1j * rng.standard_normal(nfft * 50)) / 7
            w = signal.get_window("hann", nfft)
            spec = np.fft.fft(x.reshape(-1, nfft) * w, axis=1)
            expected = np.fft.fftshift(np.abs(spec) ** 2, axes=1) / (nfft * np.sum(w**2))
            got = spectrogram(x.astype(np.complex64), 1e6, nfft).power
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * expected.max())

    @pytest.mark.parametrize("seed", range(3))
    def test_box_sums_are_uniform_filter(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(40):
            n, m = int(rng.integers(1, 120)), int(rng.integers(1, 70))
            frames, bins = int(rng.integers(1, 12)), int(rng.integers(1, 12))
            x = rng.exponential(size=(n, m)).astype(np.float32)
            expected = ndimage.uniform_filter(x.astype(np.float64), (frames, bins), mode="nearest")
            tol = 10 * np.finfo(np.float32).eps * frames * bins
            np.testing.assert_allclose(
                box_sums(x, frames, bins) / (frames * bins), expected, rtol=tol
            )
            hot = x > 2.0
            dilated = ndimage.maximum_filter(hot.view(np.uint8), (frames, bins)).view(bool)
            np.testing.assert_array_equal(box_sums(hot, frames, bins, pad_value=False), dilated)

    def test_run_sums_and_box_reuse(self) -> None:
        x = np.arange(20, dtype=np.float64)
        np.testing.assert_array_equal(run_sums(x, 3), x[:-2] + x[1:-1] + x[2:])
        np.testing.assert_array_equal(run_sums(x, 2, stride=4), x[:-4] + x[4:])
        rng = np.random.default_rng(6)
        cells = rng.exponential(size=(50, 40)).astype(np.float32)
        image = PaddedImage.empty(cells.shape, (4, 4, 4, 4), np.float32)
        image.rows[4:54, 4:44] = cells
        image.pad()
        boxes = [(3, 3), (9, 9)]
        for (frames, bins), sums in zip(boxes, image.box_sums(boxes), strict=True):
            direct = box_sums(cells, frames, bins)
            np.testing.assert_allclose(sums.reshape(50, image.width)[:, :40], direct, rtol=1e-6)

    def test_cfar_mask_thresholds_box_means(self) -> None:
        rng = np.random.default_rng(7)
        power = rng.exponential(size=(300, 64)).astype(np.float32)
        power[100:110, 20:26] *= 6.0  # a weak burst
        floor = rng.uniform(0.5, 1.5, 64).astype(np.float32)
        power *= floor
        kernels, pfa = ((3, 3), (9, 9)), 1e-6
        expected = np.zeros(power.shape, dtype=bool)
        for frames, bins in kernels:
            mean = ndimage.uniform_filter(
                power.astype(np.float64) / floor, (frames, bins), mode="nearest"
            )
            expected |= mean > box_threshold("hann", 64, frames, bins, pfa / 2)
        for block_cells in (1 << 10, 1 << 17):
            got = cfar_mask(
                power, floor, kernels, pfa, window="hann", nfft=64, block_cells=block_cells
            )
            np.testing.assert_array_equal(got.mask, expected)
            assert got.mask[100:110, 20:26].any()
            region = (slice(95, 130), slice(10, 30))
            fine = ndimage.uniform_filter(power / floor, 3, mode="nearest")[region]
            np.testing.assert_allclose(got.fine(region), fine, rtol=1e-5)

    def test_by_product_matrix_is_pairwise_test(self) -> None:
        rng = np.random.default_rng(8)
        config = SplatterConfig()
        for _ in range(300):
            found = [
                Burst(
                    float(rng.choice([0.0, 1e-3, rng.random() * 0.01])),
                    float(rng.choice([0.0, 5e-4, rng.random() * 5e-3])),
                    float(rng.choice([0.0, 1e5, rng.normal() * 1e6])),
                    float(rng.choice([0.0, 2e5, rng.random() * 2e6])),
                    float(rng.normal() * 20),
                    p := float(rng.normal() * 30 - 50),
                    p,
                    1,
                )
                for _ in range(int(rng.integers(1, 7)))
            ]
            expected = [[is_by_product(a, b, 32e-6, config) for b in found] for a in found]
            np.testing.assert_array_equal(by_product_matrix(found, 32e-6, config), expected)

    def test_small_array_helpers_match_numpy(self) -> None:
        rng = np.random.default_rng(9)
        for _ in range(300):
            n = int(rng.integers(1, 60))
            flags = rng.random(n) < rng.random()
            for reach in (1, 2):
                closing = ndimage.binary_closing(flags, np.ones(2 * reach + 1, dtype=bool))
                assert burst_profiles._bridged(flags.tolist(), reach) == (closing | flags).tolist()
                dilation = ndimage.binary_dilation(flags, np.ones(2 * reach + 1, dtype=bool))
                np.testing.assert_array_equal(overlaid.dilate_runs(flags, reach), dilation)
            labels, count = ndimage.label(flags)
            longest = int(np.bincount(labels[labels > 0]).max()) if count else 0
            assert overlaid.longest_run(flags) == longest
            values = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 3)
            assert median_of(values.tolist()) == float(np.median(values))
            assert overlaid.median32(values.astype(np.float32)) == float(
                np.median(values.astype(np.float32))
            )
            top = float(np.percentile(values, 90))
            on = values[values >= 0.25 * top] if top > 0 else values
            level = float(np.median(on)) if on.size else top
            assert burst_profiles._on_level(values.tolist()) == level
            if n >= 3:
                smooth = ndimage.uniform_filter1d(values, 3, mode="nearest")
                assert burst_profiles._mean3(values.tolist()) == smooth.tolist()
        cells = rng.exponential(size=(30, 50)).astype(np.float32)
        keep = rng.random(cells.shape) < 0.3
        keep[:, 0] = True
        expected = np.nanmedian(np.where(keep, cells, np.nan), axis=1)
        np.testing.assert_array_equal(overlaid.row_medians(cells, keep), expected)
