"""Spectral building blocks of the rotor-comb detector (SIGNALS.md §6, "Acoustic front end").

All functions are pure and vectorised over a one-sided power spectrum `power` (m,) float64
of a Hann-windowed frame (bin `df` Hz); `floor` is the mean noise power per bin there.

- `running_median_floor`: noise floor as a running median over ±half_width bins, scaled by
  1/ln 2 (the median of an exponential (chi-square 2) bin is ln 2 times its mean);
  evaluated every `hop` bins and interpolated, which keeps it well under a millisecond.
- `band_sums`: power and floor integrated over many [lo, hi] bin ranges at once.
- `hann_effective_cells` / `band_significance`: the energy-detector statistics of §6 for a
  band sum of B correlated Hann bins: sum/floor ~ Gamma(n, 1/n) under noise alone, with n
  from the lag-1 / lag-2 power correlations of Hann bins (4/9, 1/36); significance is
  -log10 Pfa = -log10 Q(n, n * ratio).
- `line_is_machine_like`: a line whose net excess power sits in one main lobe (±2 bins) and
  whose phase advances between the two half frames as a steady tone's would.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from scipy import special

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: power correlation of neighbouring Hann bins at lags 1 and 2 (spectra.bin_power_correlation)
_HANN_RHO1 = 4.0 / 9.0
_HANN_RHO2 = 1.0 / 36.0


def running_median_floor(power: F64, half_width_bins: int, hop_bins: int = 16) -> F64:
    """Mean noise power per bin: median over ±half_width_bins / ln 2, edges held."""
    width = 2 * half_width_bins + 1
    padded = np.pad(power, half_width_bins, mode="edge")
    windows = sliding_window_view(padded, width)[::hop_bins]
    centres = np.arange(0, power.shape[0], hop_bins, dtype=np.float64)
    med = np.median(windows, axis=1)
    floor: F64 = np.interp(np.arange(power.shape[0], dtype=np.float64), centres, med) / np.log(2.0)
    return floor


def band_sums(values: F64, lo: I64, hi: I64) -> F64:
    """Sum of values[lo:hi + 1] for every (lo, hi) pair (any shape), by cumulative sums."""
    csum = np.concatenate(([0.0], np.cumsum(values)))
    out: F64 = csum[hi + 1] - csum[lo]
    return out


def hann_effective_cells(bins: NDArray[np.integer], segments: int = 1) -> F64:
    """Independent-cell equivalent of a sum of `bins` adjacent Hann bins (x segments)."""
    b = np.asarray(bins, dtype=np.float64)
    var = (
        b
        + 2.0 * np.maximum(b - 1.0, 0.0) * _HANN_RHO1
        + 2.0 * np.maximum(b - 2.0, 0.0) * _HANN_RHO2
    )
    cells: F64 = segments * b * b / var
    return cells


def band_significance(ratio: F64, cells: F64, cap: float) -> F64:
    """-log10 of the chance that noise alone gives a band sum/floor >= ratio, clipped to cap."""
    # below the mean (ratio <= 1) Pfa > ~0.4: not worth the incomplete-gamma evaluation
    above = ratio > 1.0
    sig = np.zeros(np.broadcast(ratio, cells).shape)
    with np.errstate(divide="ignore"):
        sig[above] = -np.log10(special.gammaincc(cells[above], cells[above] * ratio[above]))
    out: F64 = np.clip(sig, 0.0, cap)
    return out


def line_is_machine_like(
    power: F64,
    floor: F64,
    lo: int,
    hi: int,
    half_spectra: tuple[NDArray[np.complex128], NDArray[np.complex128]],
    df: float,
    half_duration_s: float,
    *,
    lobe_fraction: float = 0.8,
    phase_tolerance_rad: float = 0.6,
) -> bool:
    """True when the band's net excess power sits in one Hann main lobe and is phase-stable.

    A rotor harmonic is a cluster (rotors differ 1-5 %, RPM jitter), so its excess spreads
    over many bins and its phase between the two half frames does not follow one steady
    frequency; plant hum, servos and fans give one bin-wide, steady line.
    """
    seg = power[lo : hi + 1] - floor[lo : hi + 1]
    total = float(np.sum(seg))
    if total <= 0.0:
        return False
    p = int(np.argmax(power[lo : hi + 1])) + lo
    a, b = max(lo, p - 2), min(hi, p + 2)
    if float(np.sum(power[a : b + 1] - floor[a : b + 1])) < lobe_fraction * total:
        return False
    # steady tone: the phase advances by 2 pi f T between half frames (T = half duration)
    if 0 < p < power.shape[0] - 1:
        la, lb, lc = np.log(power[p - 1 : p + 2] + 1e-300)
        den = la - 2.0 * lb + lc
        delta = 0.5 * (la - lc) / den if abs(den) > 1e-12 else 0.0
        f_hz = (p + float(np.clip(delta, -0.5, 0.5))) * df
    else:
        f_hz = p * df
    first, second = half_spectra
    half_df = 1.0 / half_duration_s
    k = min(round(f_hz / half_df), first.shape[0] - 1)
    measured = np.angle(second[k] * np.conj(first[k]))
    expected = 2.0 * np.pi * f_hz * half_duration_s
    error = float(np.angle(np.exp(1j * (measured - expected))))
    return abs(error) <= phase_tolerance_rad
