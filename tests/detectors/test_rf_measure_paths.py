"""The numpy twins of the burst profiles' plain-Python helpers give the same values."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import burst_profiles, burst_scan, bursts
from detectors.cfar import box_sums
from detectors.rf import MAX_ABS_SAMPLE, _within_range


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
