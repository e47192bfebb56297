"""The numpy twins of the burst profiles' plain-Python helpers give the same values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from detectors import burst_profiles, burst_scan, bursts, scan_levels, spectra
from detectors.cfar import box_sums
from detectors.floor import block_floor
from detectors.overlaid import dilate_box
from detectors.rf import MAX_ABS_SAMPLE, _within_range
from detectors.spectra import frame_pairs, spectrogram
from tests.detectors import detector_signals as sig


@pytest.mark.parametrize("seed", range(4))
def test_bridged_and_run_around_arrays_match_the_lists(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(500):
        n = int(rng.integers(1, 150))
        flags = rng.random(n) < rng.random()
        for reach in (1, 2):
            expected = burst_profiles._bridged(flags.tolist(), reach)
            assert burst_profiles._bridged_array(flags, reach).tolist() == expected
        index = int(rng.integers(0, n))
        expected_run = burst_profiles.run_around(flags.tolist(), index)
        assert burst_profiles._run_around_array(flags, index) == expected_run


@pytest.mark.parametrize("seed", range(4))
def test_time_extent_paths_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(500):
        n = int(rng.integers(3, 150))
        profile = rng.normal(size=n) + rng.random() * 5.0 * (np.arange(n) > n // 3)
        c0 = int(rng.integers(0, n))
        c1 = int(rng.integers(c0 + 1, n + 1))
        sigma = float(rng.random() * 2.0)
        expected = burst_profiles._time_extent_list(profile.tolist(), (c0, c1), sigma)
        assert burst_profiles._time_extent_array(profile, (c0, c1), sigma) == expected


def test_occupied_band_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 200))
        excess = rng.normal(size=n) + 3.0 * (np.abs(np.arange(n) - n / 2) < n / 5)
        significant = rng.random(n) < 0.6
        monkeypatch.setattr(burst_profiles, "_SHORT", 10**9)
        expected = burst_profiles.occupied_band(excess, significant)
        monkeypatch.setattr(burst_profiles, "_SHORT", 0)
        assert burst_profiles.occupied_band(excess, significant) == expected


def test_fine_ratio_is_the_box_average_of_the_ratio() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        n, m = (int(v) for v in rng.integers(3, 40, size=2))
        power = (rng.random((n, m)) * 10.0).astype(np.float32)
        floor = (rng.random(m) + 0.5).astype(np.float32)
        r0, c0 = int(rng.integers(0, n)), int(rng.integers(0, m))
        region = (
            slice(r0, int(rng.integers(r0 + 1, n + 1))),
            slice(c0, int(rng.integers(c0 + 1, m + 1))),
        )
        expected = (box_sums(power / floor, 3, 3) * np.float32(1.0 / 9.0))[region]
        np.testing.assert_array_equal(bursts._fine_ratio(power, floor, region), expected)


@pytest.mark.parametrize("seed", range(3))
def test_merge_boxes_closure_matches_the_union_find(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(200):
        n, size = int(rng.integers(0, 60)), int(rng.integers(20, 300))
        boxes = []
        corners = rng.integers(0, size, (n, 2)).tolist()
        for r, c in corners:
            boxes.append((r, r + int(rng.integers(1, 30)), c, c + int(rng.integers(1, 30))))
        cases.append((boxes, int(rng.integers(0, 4)), int(rng.integers(0, 4))))
    by_closure = [burst_scan.merge_boxes(*case) for case in cases]
    monkeypatch.setattr(burst_scan, "_CLOSURE_MAX", -1)
    assert [burst_scan.merge_boxes(*case) for case in cases] == by_closure


@pytest.mark.parametrize(
    ("sample", "inside"),
    [
        (0.5 + 0.5j, True),
        (MAX_ABS_SAMPLE * (0.7 + 0.7j), True),  # |x| = 0.99 x the bound, parts above bound / sqrt 2
        (MAX_ABS_SAMPLE * (0.8 + 0.8j), False),  # parts under the bound, |x| over it
        (-2.0 * MAX_ABS_SAMPLE, False),
        (complex(np.nan, 0.0), False),
        (complex(0.0, np.inf), False),
    ],
)
def test_within_range_bounds_the_magnitude(sample: complex, inside: bool) -> None:
    x = np.full(64, 0.1 + 0.1j, dtype=np.complex64)
    x[17] = sample
    assert _within_range(x) is inside


def test_dilate_box_is_the_boolean_box_sum() -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        n, m = (int(v) for v in rng.integers(1, 40, size=2))
        flags = rng.random((n, m)) < rng.random() * 0.3
        for frames, bins in ((3, 7), (1, 1), (2, 4), (5, 3), (4, 8)):
            frames, bins = min(frames, n), min(bins, m)
            expected = box_sums(flags, frames, bins, pad_value=False)
            np.testing.assert_array_equal(dilate_box(flags, frames, bins), expected)


def _gsm_spectrogram(seed: int, snr_db: float) -> tuple[np.ndarray, np.ndarray, float]:
    rate = 2e6
    rng = np.random.default_rng(seed)
    x = sig.gsm_call(100_000, rate, 10, snr_db, 300e3, rng)
    # a weak wide burst beside the call: found by coarser levels than the call's bursts
    wide = sig.band_noise_burst(8e-3, 800e3, -3.0, rate, rng)
    sig.add_at(x, wide, 30_000, -500e3, rate)
    spec = spectrogram(x, rate, 64, with_pairs=True)
    assert spec.pairs is not None
    noise = block_floor(spec.power, pairs=spec.pairs)
    return spec.power, noise.floor, noise.rel_std


def test_frame_pairs_feed_the_same_floor() -> None:
    rng = np.random.default_rng(5)
    x = sig.gsm_call(100_000, 2e6, 10, 20.0, 300e3, rng)
    spec = spectrogram(x, 2e6, 64, with_pairs=True)
    assert spec.pairs is not None
    np.testing.assert_array_equal(spec.pairs, frame_pairs(spec.power))
    direct = block_floor(spec.power)
    shared = block_floor(spec.power, pairs=spec.pairs)
    np.testing.assert_allclose(shared.floor, direct.floor, rtol=1e-5)
    assert shared.rel_std == direct.rel_std


@pytest.mark.parametrize("first_df", [2, 1])
@pytest.mark.parametrize(("seed", "snr_db"), [(0, 40.0), (1, 10.0), (2, 78.0)])
def test_side_by_side_scan_finds_the_level_by_level_boxes(
    seed: int, snr_db: float, first_df: int
) -> None:
    power, floor, rel_std = _gsm_spectrogram(seed, snr_db)
    kwargs = {
        "window": "hann",
        "nfft": 64,
        "pfa_frame": 1e-4,
        "floor_rel_std": rel_std,
        "first_df": first_df,
    }
    side = burst_scan.scan_boxes(power, floor, **kwargs)
    by_level = burst_scan.scan_boxes(power, floor, side_by_side_cells=0, **kwargs)
    assert side  # the call is found
    assert side == by_level


@pytest.mark.parametrize("nfft", [32, 64, 512])
def test_blocked_spectrogram_matches_the_whole(monkeypatch: pytest.MonkeyPatch, nfft: int) -> None:
    rng = np.random.default_rng(nfft)
    for frames in (8, 9, 101, 400):
        n = nfft * frames + 5
        x = (rng.normal(size=n) + 1j * rng.normal(size=n)).astype(np.complex64)
        monkeypatch.setattr(spectra, "FLAT_BLOCK_BYTES", 1 << 40)  # one block
        whole = spectrogram(x, 1e6, nfft, with_pairs=True, with_flat=True)
        monkeypatch.setattr(spectra, "FLAT_BLOCK_BYTES", 8 * nfft * 4)  # 4-frame blocks
        blocked = spectrogram(x, 1e6, nfft, with_pairs=True, with_flat=True)
        for name in ("power", "flat", "pairs", "flat_pairs"):
            np.testing.assert_array_equal(getattr(blocked, name), getattr(whole, name))


def test_tested_box_sums3_matches_the_whole_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_levels, "TEST_BLOCK_BYTES", 1 << 9)
    rng = np.random.default_rng(5)
    for shape in ((200, 64), (333, 17), (50, 128), (4, 3)):
        for hot_share in (0.0, 1e-3, 0.2):
            level = rng.random(shape, dtype=np.float32)
            level[rng.random(shape) < hot_share] = 40.0
            limits = (rng.random(shape[0] - 2) * 4.0 + 4.0).astype(np.float32)
            expected = scan_levels.box_sums3_rows(level)
            expected_hot = expected > limits[:, np.newaxis]
            sums, hot = scan_levels.tested_box_sums3(level, limits)
            np.testing.assert_array_equal(hot, expected_hot)
            if sums is None:
                assert not expected_hot.any()
            else:
                np.testing.assert_array_equal(sums[hot], expected[hot])


def test_component_boxes_match_plain_labels() -> None:
    rng = np.random.default_rng(9)
    structure = np.ones((3, 3), dtype=bool)
    for _ in range(200):
        rows, cols = (int(v) for v in rng.integers(1, 60, size=2))
        hot = (rng.random((rows, cols)) < 0.05) & (rng.random((rows, 1)) < 0.3)
        if not hot.any():
            continue
        level = burst_scan._HotLevel(4, 2, (3, 5), hot, np.zeros(hot.shape, np.float32), 1.0)
        labels, _ = ndimage.label(hot, structure=structure)
        expected = [
            ((3 + ts.start) * 4, (3 + ts.stop + 2) * 4, (5 + fs.start) * 2, (5 + fs.stop + 2) * 2)
            for ts, fs in ndimage.find_objects(labels)
        ]
        assert burst_scan._component_boxes(level) == expected
