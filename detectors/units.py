"""Decibel helpers with a floor: silence maps to the floor, never to -inf.

Every dB conversion in `detectors/` goes through this module so that a zero or
negative power (an all-zero frame, a clipped-to-zero bin) yields a finite value.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Default floor of every dB conversion (dB re 1 of the input unit).
DB_FLOOR = -300.0

FloatArray = NDArray[np.floating[Any]]


@overload
def power_to_db(power: float, *, floor_db: float = DB_FLOOR) -> float: ...
@overload
def power_to_db(power: NDArray[Any], *, floor_db: float = DB_FLOOR) -> FloatArray: ...
def power_to_db(power: ArrayLike, *, floor_db: float = DB_FLOOR) -> float | FloatArray:
    """10·log10(power), clamped below at `floor_db`.

    power: scalar or array of linear power ratios (any float dtype; NaN stays NaN).
    Returns the same shape in dB; zero, negative or tiny powers give `floor_db`.
    """
    arr = np.asarray(power, dtype=np.float64)
    tiny = 10.0 ** (floor_db / 10.0)
    out = 10.0 * np.log10(np.maximum(arr, tiny))
    if np.ndim(out) == 0:
        return float(out)
    result: FloatArray = out
    return result


@overload
def amplitude_to_db(amplitude: float, *, floor_db: float = DB_FLOOR) -> float: ...
@overload
def amplitude_to_db(amplitude: NDArray[Any], *, floor_db: float = DB_FLOOR) -> FloatArray: ...
def amplitude_to_db(amplitude: ArrayLike, *, floor_db: float = DB_FLOOR) -> float | FloatArray:
    """20·log10(|amplitude|), clamped below at `floor_db`."""
    arr = np.abs(np.asarray(amplitude, dtype=np.float64))
    return power_to_db(arr * arr, floor_db=floor_db)


@overload
def db_to_power(db: float) -> float: ...
@overload
def db_to_power(db: NDArray[Any]) -> FloatArray: ...
def db_to_power(db: ArrayLike) -> float | FloatArray:
    """Linear power ratio of a dB value: 10^(dB/10)."""
    out = np.power(10.0, np.asarray(db, dtype=np.float64) / 10.0)
    if np.ndim(out) == 0:
        return float(out)
    return out


@overload
def a_weighting_db(freq_hz: float) -> float: ...
@overload
def a_weighting_db(freq_hz: NDArray[Any]) -> NDArray[np.float64]: ...
def a_weighting_db(freq_hz: ArrayLike) -> float | NDArray[np.float64]:
    """IEC 61672 A-weighting in dB (0 dB at 1 kHz); very low frequencies floored at −200 dB.
    (The simulator calibrates its sources with it, the acoustic detector reads levels.)"""
    f = np.maximum(np.asarray(freq_hz, dtype=np.float64), 1e-3)
    f2 = f * f
    ra = (12194.0**2 * f2 * f2) / (
        (f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
    )
    res = np.asarray(np.maximum(20.0 * np.log10(ra) + 2.0, -200.0), dtype=np.float64)
    if np.ndim(res) == 0:
        return float(res)
    return res
