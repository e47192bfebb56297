import math

import numpy as np
import pytest

from simulator.propagation import (
    a_weighting_db,
    air_absorption_db_per_m,
    free_space_path_loss_db,
    log_distance_path_loss_db,
    received_power_dbm,
    spherical_spl_db,
    thermal_noise_dbm,
)


@pytest.mark.parametrize(
    ("freq_hz", "distance_m", "expected_db"),
    [
        (2437e6, 1000.0, 32.45 + 20 * math.log10(2437)),
        (2437e6, 100.0, 32.45 + 20 * math.log10(2437) - 20),
        (900e6, 10.0, 32.45 + 20 * math.log10(900) - 40),
    ],
)
def test_free_space_path_loss(freq_hz: float, distance_m: float, expected_db: float) -> None:
    assert free_space_path_loss_db(freq_hz, distance_m) == pytest.approx(expected_db, abs=1e-9)


def test_log_distance_exponent_adds_loss_beyond_reference() -> None:
    fs_loss = free_space_path_loss_db(2.4e9, 100.0)
    assert log_distance_path_loss_db(2.4e9, 100.0, exponent=2.0) == pytest.approx(fs_loss)
    assert log_distance_path_loss_db(2.4e9, 100.0, exponent=3.0) == pytest.approx(fs_loss + 20.0)


def test_thermal_noise_matches_signals_md() -> None:
    # SIGNALS.md §5: 9 MHz, NF 6 -> -98.5 dBm
    assert thermal_noise_dbm(9e6, 6.0) == pytest.approx(-98.46, abs=0.01)
    assert thermal_noise_dbm(25e6, 6.0) == pytest.approx(-174 + 10 * math.log10(25e6) + 6)


def test_received_power_includes_wall_loss() -> None:
    p = received_power_dbm(33.0, 898e6, 11.4, extra_loss_db=15.0)
    assert p == pytest.approx(33.0 - free_space_path_loss_db(898e6, 11.4) - 15.0)


@pytest.mark.parametrize(
    ("f", "a_db"), [(1000.0, 0.0), (100.0, -19.1), (200.0, -10.9), (4000.0, 1.0)]
)
def test_a_weighting(f: float, a_db: float) -> None:
    assert a_weighting_db(f) == pytest.approx(a_db, abs=0.15)


def test_absorption_table_and_interpolation() -> None:
    assert air_absorption_db_per_m(500.0) == pytest.approx(2.36e-3)
    assert air_absorption_db_per_m(8000.0, "10C_70RH") == pytest.approx(0.118)
    mid = air_absorption_db_per_m(np.array([700.0]))[0]
    assert 2.36e-3 < mid < 4.08e-3


def test_spherical_spreading_table_of_signals_md() -> None:
    # SIGNALS.md §4: L_WA 85 dB -> 54 dBA at 10 m, 34 at 100 m, 28 at 200 m (±1 dB rounding)
    for r, lp in [(10.0, 54.0), (100.0, 34.0), (200.0, 28.0)]:
        assert spherical_spl_db(85.0, r) == pytest.approx(lp, abs=1.0)
