"""Link budgets for the simulator: RF path loss and noise, acoustic spreading and absorption.

Formulas and tables come from SIGNALS.md §4 and §5; the names carry units.

Calibration conventions used by every virtual collector (and stated in the frame header):

- RF iq: a complex sample stream of mean power mean(|x|²) at full scale 1.0 carries
  ``full_scale_dbm + 10·lg(mean(|x|²))`` dBm at the antenna port (0 dBi antenna).
- Audio: samples of RMS value ``a`` (full scale 1.0) carry ``full_scale_db_spl + 20·lg(a)``
  dB SPL, re 20 µPa (so a steady 1.0 is full_scale_db_spl and a unit sine 3 dB less).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.units import a_weighting_db as a_weighting_db  # re-exported: one formula

FloatArray = NDArray[np.float64]

SPEED_OF_LIGHT_M_S = 299_792_458.0
SPEED_OF_SOUND_M_S = 343.0
THERMAL_NOISE_DBM_PER_HZ = -174.0
REFERENCE_PRESSURE_PA = 20e-6
#: spherical spreading from sound power to pressure at 1 m: 10·lg(4π) ≈ 11 dB
SPHERICAL_SPREADING_DB = 11.0

# ---------------------------------------------------------------- dB helpers (floored)

DB_FLOOR = -300.0


def power_to_db(power: float) -> float:
    return 10.0 * math.log10(max(power, 10.0 ** (DB_FLOOR / 10.0)))


def db_to_power(db: float) -> float:
    return float(10.0 ** (db / 10.0))


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


# ---------------------------------------------------------------- RF


def free_space_path_loss_db(freq_hz: float, distance_m: float) -> float:
    """Friis: 32.45 + 20·lg f_MHz + 20·lg d_km (distance floored at 1 m)."""
    d_km = max(distance_m, 1.0) / 1000.0
    return 32.45 + 20.0 * math.log10(freq_hz / 1e6) + 20.0 * math.log10(d_km)


def log_distance_path_loss_db(
    freq_hz: float, distance_m: float, *, exponent: float = 2.0, reference_m: float = 1.0
) -> float:
    """Free space up to `reference_m`, then 10·n·lg(d/d0); n = 2 is free space."""
    d = max(distance_m, reference_m)
    return free_space_path_loss_db(freq_hz, reference_m) + 10.0 * exponent * math.log10(
        d / reference_m
    )


def thermal_noise_dbm(bandwidth_hz: float, noise_figure_db: float) -> float:
    """−174 dBm/Hz + 10·lg B + NF."""
    return THERMAL_NOISE_DBM_PER_HZ + 10.0 * math.log10(bandwidth_hz) + noise_figure_db


def received_power_dbm(
    eirp_dbm: float,
    freq_hz: float,
    distance_m: float,
    *,
    extra_loss_db: float = 0.0,
    path_loss_exponent: float = 2.0,
    rx_gain_dbi: float = 0.0,
) -> float:
    """EIRP − path loss − wall/body loss + receive antenna gain."""
    loss = log_distance_path_loss_db(freq_hz, distance_m, exponent=path_loss_exponent)
    return eirp_dbm - loss - extra_loss_db + rx_gain_dbi


# ---------------------------------------------------------------- acoustic

#: ISO 9613-1 air absorption in dB/km at octave centres (SIGNALS.md §4)
ABSORPTION_FREQS_HZ = np.array([63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0])
ABSORPTION_DB_PER_KM: dict[str, FloatArray] = {
    "10C_70RH": np.array([0.12, 0.41, 1.04, 1.92, 3.66, 9.70, 33.1, 118.0]),
    "15C_70RH": np.array([0.10, 0.38, 1.12, 2.36, 4.08, 8.78, 26.6, 95.0]),
    "20C_30RH": np.array([0.19, 0.61, 1.42, 2.51, 5.01, 14.1, 48.9, 168.0]),
    "30C_50RH": np.array([0.09, 0.35, 1.24, 3.56, 7.03, 11.7, 24.6, 74.0]),
}


@overload
def air_absorption_db_per_m(freq_hz: float, condition: str = ...) -> float: ...
@overload
def air_absorption_db_per_m(freq_hz: NDArray[Any], condition: str = ...) -> FloatArray: ...
def air_absorption_db_per_m(freq_hz: ArrayLike, condition: str = "15C_70RH") -> float | FloatArray:
    """α(f) in dB/m, log-log interpolation of the octave table (f² below 63 Hz, flat log slope
    extrapolated above 8 kHz)."""
    table = ABSORPTION_DB_PER_KM[condition]
    f = np.maximum(np.asarray(freq_hz, dtype=np.float64), 1.0)
    lf, lt = np.log(ABSORPTION_FREQS_HZ), np.log(table)
    slope_hi = (lt[-1] - lt[-2]) / (lf[-1] - lf[-2])
    logf = np.log(f)
    out = np.interp(logf, lf, lt)
    out = np.where(logf < lf[0], lt[0] + 2.0 * (logf - lf[0]), out)
    out = np.where(logf > lf[-1], lt[-1] + slope_hi * (logf - lf[-1]), out)
    res = np.asarray(np.exp(out) / 1000.0, dtype=np.float64)
    if np.ndim(res) == 0:
        return float(res)
    return res


def spherical_spl_db(
    sound_power_db: float, distance_m: float, *, freq_hz: float = 500.0, condition: str = "15C_70RH"
) -> float:
    """Free field Lp(r) = L_W − 11 − 20·lg r − α(f)·r (SIGNALS.md §4)."""
    r = max(distance_m, 0.1)
    return (
        sound_power_db
        - SPHERICAL_SPREADING_DB
        - 20.0 * math.log10(r)
        - air_absorption_db_per_m(freq_hz, condition) * r
    )


def spl_to_pa_rms(spl_db: float) -> float:
    return REFERENCE_PRESSURE_PA * db_to_amplitude(spl_db)


def pa_rms_to_spl(pa_rms: float) -> float:
    return 20.0 * math.log10(max(pa_rms, 1e-15) / REFERENCE_PRESSURE_PA)


def distance_m(a: ArrayLike, b: ArrayLike) -> FloatArray:
    """Euclidean distance along the last axis (positions as (..., 3) metres)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return np.asarray(np.sqrt(np.sum(d * d, axis=-1)), dtype=np.float64)


# ---------------------------------------------------------------- walls and fading


@dataclass(frozen=True)
class Wall:
    """A vertical wall along a ground segment (site metres) with a through-loss in dB.

    `height_m` None: the wall (a building face) is taller than any path; otherwise a path
    that crosses the segment above `height_m` passes over it (a drone over the perimeter).
    """

    start_m: tuple[float, float]
    end_m: tuple[float, float]
    attenuation_db: float
    height_m: float | None = None

    def crossed_by(self, a: Sequence[float], b: Sequence[float]) -> bool:
        """Whether the straight path a → b ((x, y, z) metres) passes through the wall."""
        ax, ay, bx, by = float(a[0]), float(a[1]), float(b[0]), float(b[1])
        (px, py), (qx, qy) = self.start_m, self.end_m
        rx, ry, sx, sy = bx - ax, by - ay, qx - px, qy - py
        denom = rx * sy - ry * sx
        if denom == 0.0:  # parallel (or a vertical path): it never goes through the face
            return False
        t = ((px - ax) * sy - (py - ay) * sx) / denom  # along the path
        u = ((px - ax) * ry - (py - ay) * rx) / denom  # along the wall
        if not (0.0 <= t <= 1.0 and 0.0 <= u <= 1.0):
            return False
        if self.height_m is None:
            return True
        z = float(a[2]) + t * (float(b[2]) - float(a[2]))
        return z <= self.height_m


def wall_loss_db(a: Sequence[float], b: Sequence[float], walls: Iterable[Wall]) -> float:
    """Sum of the attenuations of the walls crossed by the straight path a → b."""
    return sum((w.attenuation_db for w in walls if w.crossed_by(a, b)), 0.0)


FadingModel = Literal["none", "rayleigh", "rician"]


def fading_gain(
    model: FadingModel, rng: np.random.Generator, *, rician_k_db: float = 6.0
) -> complex:
    """One flat-fading channel coefficient of unit mean power.

    Rayleigh: CN(0, 1). Rician with K = 10^(K_dB/10): a line-of-sight part of power K/(K+1)
    at a random phase plus a CN(0, 1/(K+1)) scattered part. "none": 1.
    """
    if model == "none":
        return 1.0 + 0.0j
    scattered = complex(rng.standard_normal(), rng.standard_normal()) / math.sqrt(2.0)
    if model == "rayleigh":
        return scattered
    k = 10.0 ** (rician_k_db / 10.0)
    los = complex(np.exp(1j * rng.uniform(0.0, 2.0 * np.pi)))
    return math.sqrt(k / (k + 1.0)) * los + math.sqrt(1.0 / (k + 1.0)) * scattered
