"""RSSI multilateration, bearing intersection and zone mapping against known geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_hub.localise import (
    BearingObservation,
    RssiObservation,
    bearing_fix,
    point_in_polygon,
    rssi_fix,
    smallest_containing,
)

SENSORS = [(0.0, 0.0, 6.0), (300.0, 0.0, 6.0), (0.0, 250.0, 6.0), (300.0, 250.0, 6.0)]


def _rssi(q: tuple[float, float, float], sigma_db: float, rng: np.random.Generator,
          exponent: float = 2.0, sensors: list[tuple[float, float, float]] = SENSORS,
          ) -> list[RssiObservation]:  # fmt: skip
    out = []
    for x, y, z in sensors:
        d = math.dist(q, (x, y, z))
        level = 10.0 - 10.0 * exponent * math.log10(d) + rng.normal(0.0, sigma_db)
        out.append(RssiObservation(x, y, z, level, sigma_db=max(sigma_db, 0.5)))
    return out


def test_exact_rssi_gives_the_exact_position() -> None:
    rng = np.random.default_rng(1)
    fix = rssi_fix(_rssi((120.0, 80.0, 30.0), 0.0, rng), z_m=30.0)
    assert fix is not None and fix.method == "rssi" and fix.sensors == 4
    assert math.hypot(fix.x_m - 120.0, fix.y_m - 80.0) < 0.5


def test_position_outside_the_sensors_hull_needs_the_eirp_prior() -> None:
    rng = np.random.default_rng(2)
    obs = _rssi((-150.0, 120.0, 30.0), 0.0, rng)
    # four sensors on a rectangle: an exact twin fits inside the hull (P0 11 dB higher)
    twin = rssi_fix(obs, z_m=30.0)
    assert twin is not None and math.hypot(twin.x_m + 150.0, twin.y_m - 120.0) > 100.0
    fix = rssi_fix(obs, z_m=30.0, p0_dbm=12.0, p0_sigma_db=4.0)  # a prior 2 dB off
    assert fix is not None
    assert math.hypot(fix.x_m + 150.0, fix.y_m - 120.0) < 5.0


@pytest.mark.parametrize("exponent", [2.0, 3.0])
def test_noisy_rssi_error_and_radius_coverage(exponent: float) -> None:
    """0.5 dB RSSI noise (Rician K = 8 fading, σ ≈ 1.5 dB per burst, averaged over ten
    bursts) and an EIRP prior 3 dB rms off: median error within 15 m inside the
    hull, and the 95 % radius holds the truth in at least 80 % of trials (a linearised
    bound)."""
    rng = np.random.default_rng(3)
    errors, covered = [], 0
    for _ in range(200):
        q = (rng.uniform(20, 280), rng.uniform(20, 230), 30.0)
        obs = _rssi(q, 0.5, rng, exponent)
        fix = rssi_fix(obs, exponent=exponent, z_m=30.0, p0_dbm=10.0 + rng.normal(0.0, 3.0))
        assert fix is not None
        err = math.hypot(fix.x_m - q[0], fix.y_m - q[1])
        errors.append(err)
        covered += err <= fix.radius_m
    assert float(np.median(errors)) <= 15.0
    assert covered >= 160


def test_fewer_than_three_sensors_gives_no_rssi_fix() -> None:
    rng = np.random.default_rng(4)
    assert rssi_fix(_rssi((10.0, 10.0, 30.0), 0.0, rng)[:2]) is None


def test_collinear_sensors_give_a_wide_radius() -> None:
    rng = np.random.default_rng(5)
    line = [(0.0, 0.0, 6.0), (100.0, 0.0, 6.0), (200.0, 0.0, 6.0)]
    fix = rssi_fix(_rssi((100.0, 80.0, 30.0), 1.0, rng, sensors=line), z_m=30.0)
    assert fix is not None
    assert fix.radius_m > 50.0  # mirror-image ambiguity across the line


def _bearing(p: tuple[float, float], q: tuple[float, float], noise_deg: float = 0.0,
             sigma: float = 5.0) -> BearingObservation:  # fmt: skip
    az = math.degrees(math.atan2(q[0] - p[0], q[1] - p[1])) % 360.0
    return BearingObservation(p[0], p[1], az + noise_deg, sigma_deg=sigma)


def test_two_exact_bearings_cross_at_the_source() -> None:
    q = (80.0, 140.0)
    fix = bearing_fix([_bearing((0.0, 0.0), q), _bearing((200.0, 0.0), q)])
    assert fix is not None and fix.method == "bearings"
    assert math.hypot(fix.x_m - q[0], fix.y_m - q[1]) < 1e-6


def test_noisy_bearings_error_scales_with_range() -> None:
    rng = np.random.default_rng(6)
    arrays = [(0.0, 0.0), (200.0, 0.0), (100.0, 200.0)]
    errors = []
    for _ in range(200):
        q = (rng.uniform(50, 150), rng.uniform(50, 150))
        obs = [_bearing(p, q, rng.normal(0, 3.0), sigma=3.0) for p in arrays]
        fix = bearing_fix(obs)
        assert fix is not None
        errors.append(math.hypot(fix.x_m - q[0], fix.y_m - q[1]))
    # ~100 m ranges × 3° ≈ 5 m per line; three lines
    assert float(np.median(errors)) < 10.0


def test_parallel_or_diverging_bearings_give_no_fix() -> None:
    parallel = [BearingObservation(0.0, 0.0, 0.0), BearingObservation(100.0, 0.0, 2.0)]
    assert bearing_fix(parallel) is None
    # lines cross at (50, -50), behind both arrays (they look north)
    behind = [BearingObservation(0.0, 0.0, 315.0), BearingObservation(100.0, 0.0, 45.0)]
    assert bearing_fix(behind) is None
    assert bearing_fix(parallel[:1]) is None


def test_point_in_polygon_and_smallest_zone() -> None:
    square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    assert point_in_polygon(5.0, 5.0, square)
    assert not point_in_polygon(15.0, 5.0, square)
    concave = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (5.0, 4.0), (0.0, 10.0)]
    assert not point_in_polygon(5.0, 8.0, concave)
    assert point_in_polygon(5.0, 2.0, concave)
    areas = {"yard": [(-100.0, -100.0), (100.0, -100.0), (100.0, 100.0), (-100.0, 100.0)],
             "cell-1": [(0.0, 0.0), (4.0, 0.0), (4.0, 3.0), (0.0, 3.0)]}  # fmt: skip
    assert smallest_containing(1.0, 1.0, areas) == "cell-1"
    assert smallest_containing(50.0, 50.0, areas) == "yard"
    assert smallest_containing(500.0, 50.0, areas) is None
