"""Profiles of a burst: its occupied band from the mean spectrum of its frames, its start
and end from the time profile of its band (`bursts` measures every region with these).

A burst's profiles are short (a few dozen frames or bins): plain Python on lists is
cheaper there than numpy calls (a microsecond or more each) and gives the same
floating-point results; longer ones (a Wi-Fi frame's 400 bins, a long OcuSync block)
take numpy twins of the same steps, which give the same values (the crossovers were
measured).
"""

from __future__ import annotations

import bisect
import math

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

_SHORT = 96  # spectra longer than this take the numpy path (lists are faster up to here)
_SHORT_PROFILE = 256  # ... and time profiles longer than this


def occupied_band(
    excess_power: NDArray[np.float64], significant: NDArray[np.bool_], reach: int = 1
) -> tuple[float, float, float] | None:
    """(lo_edge, hi_edge, centroid) in bin units of the band holding 99 % of the excess
    (signal) power, within the run of `significant` bins around the strongest one.

    excess_power: (n_bins,) mean power minus noise floor, linear; significant: (n_bins,)
    bins whose excess is statistically real (gaps of up to 2 `reach` bins are bridged).
    """
    if not significant.any():
        return None
    if significant.shape[0] > _SHORT:
        flag_array = _bridged_array(significant, reach)
        strongest = int(np.argmax(np.where(flag_array, excess_power, -np.inf)))
        lo, hi = _run_around_array(flag_array, strongest)
    else:
        flags = _bridged(significant.tolist(), reach)
        excess = excess_power.tolist()
        strongest = max((i for i, f in enumerate(flags) if f), key=excess.__getitem__)
        lo, hi = run_around(flags, strongest)
    run = np.maximum(excess_power[lo : hi + 1], 0.0)
    total = float(run.sum())
    if total <= 0.0:
        return None
    cum = np.zeros(run.shape[0] + 1)
    run.cumsum(out=cum[1:])
    cum /= total
    edges = np.arange(lo, hi + 2, dtype=np.float64) - 0.5
    lo_edge, hi_edge = np.interp(_BAND_EDGES, cum, edges).tolist()
    centroid = float((run * np.arange(lo, hi + 1)).sum() / total)
    return lo_edge, hi_edge, centroid


_BAND_EDGES = np.array([0.005, 0.995])  # 99 % of the power between them


def _percentile(ascending: list[float], q: float) -> float:
    """numpy's default (linear) percentile of already sorted values, bit for bit."""
    n = len(ascending)
    virtual = (n - 1) * (q / 100.0)
    if virtual >= n - 1:
        return ascending[-1]
    below = math.floor(virtual)
    a, b = ascending[below], ascending[below + 1]
    gamma = virtual - below
    diff = b - a
    return b - diff * (1.0 - gamma) if gamma >= 0.5 else a + diff * gamma


def _median(ascending: list[float]) -> float:
    """numpy's median of already sorted values, bit for bit."""
    mid = len(ascending) // 2
    if len(ascending) % 2:
        return ascending[mid]
    return (ascending[mid - 1] + ascending[mid]) / 2.0


def _on_level(values: list[float]) -> float:
    """Typical level of a burst's frames: median of the frames above a quarter of the
    90th percentile (the region may hold noise-only frames too)."""
    ascending = sorted(values)
    top = _percentile(ascending, 90.0)
    on = ascending
    if top > 0:  # excess can be <= 0 in noise
        on = ascending[bisect.bisect_left(ascending, 0.25 * top) :]
    return _median(on) if on else top


def _mean3(values: list[float]) -> list[float]:
    """`scipy.ndimage.uniform_filter1d(values, 3, mode="nearest")`, bit for bit (its
    running sum)."""
    padded = [values[0], *values, values[-1]]
    total = padded[0] + padded[1] + padded[2]
    out = [total / 3]
    for i in range(1, len(values)):
        total += padded[i + 2] - padded[i - 1]
        out.append(total / 3)
    return out


def run_around(flags: list[bool], index: int) -> tuple[int, int]:
    """[lo, hi], inclusive, of the run of True in `flags` holding `index`."""
    lo = hi = index
    while lo > 0 and flags[lo - 1]:
        lo -= 1
    while hi < len(flags) - 1 and flags[hi + 1]:
        hi += 1
    return lo, hi


def _bridged(flags: list[bool], reach: int) -> list[bool]:
    """flags | binary_closing(flags, 2 reach + 1 ones): gaps of up to 2 reach cells between
    True cells are filled, except their cells within `reach` of either end (the closing
    erodes there)."""
    out = flags[:]
    n = len(flags)
    last = -1
    for i, flag in enumerate(flags):
        if not flag:
            continue
        if last >= 0 and 1 < i - last <= 2 * reach + 1:
            for cell in range(max(last + 1, reach), min(i, n - reach)):
                out[cell] = True
        last = i
    return out


def _bridged_array(flags: NDArray[np.bool_], reach: int) -> NDArray[np.bool_]:
    """`_bridged` of a boolean array: a cell is filled when the True cells before and after
    it are at most 2 reach + 1 apart, unless it lies within `reach` of either end."""
    n = flags.shape[0]
    index = np.arange(n)
    before = np.maximum.accumulate(np.where(flags, index, -2 * n))
    after = np.minimum.accumulate(np.where(flags, index, 3 * n)[::-1])[::-1]
    filled = after - before <= 2 * reach + 1
    filled[:reach] = False
    filled[n - reach :] = False
    out: NDArray[np.bool_] = flags | filled
    return out


def _run_around_array(flags: NDArray[np.bool_], index: int) -> tuple[int, int]:
    """`run_around` of a boolean array."""
    off_before = np.flatnonzero(~flags[:index])
    off_after = np.flatnonzero(~flags[index + 1 :])
    lo = int(off_before[-1]) + 1 if off_before.size else 0
    hi = index + int(off_after[0]) if off_after.size else flags.shape[0] - 1
    return lo, hi


def time_extent(
    profile: NDArray[np.float64], core: tuple[int, int], sigma: float
) -> tuple[float, float]:
    """Fractional frame positions (start, end) where the excess `profile` (n_frames,)
    crosses half its median level around the strongest part of `core` (first, last + 1).
    Dips of up to 3 frames inside a burst (data-dependent spectra, fading) are bridged."""
    if profile.shape[0] > _SHORT_PROFILE:
        return _time_extent_array(profile, core, sigma)
    return _time_extent_list(profile.tolist(), core, sigma)


def _smoothing(core_sum: float, core: tuple[int, int], sigma: float) -> int:
    """Frames to average the time profile over before its half-level crossings are read:
    3, or for a weak burst (its mean excess over its core under ~2.3 sigma per frame)
    enough that the average stands 4 sigma over the noise, up to half the core (a
    symmetric running mean of a step still crosses half its level at the step).
    core_sum: the profile summed over core (first, last + 1)."""
    c0, c1 = core
    mean = core_sum / max(c1 - c0, 1)
    z = mean / sigma if sigma > 0.0 else math.inf
    if z * math.sqrt(3.0) >= 4.0:
        return 3
    width = math.ceil((4.0 / max(z, 0.1)) ** 2) | 1
    return max(3, min(width, ((c1 - c0) // 2) | 1))


def _time_extent_array(
    profile: NDArray[np.float64], core: tuple[int, int], sigma: float
) -> tuple[float, float]:
    """`_time_extent_list` with numpy on a long profile (the same values)."""
    c0, c1 = core
    smooth = profile
    level = _on_level(profile[c0:c1].tolist())
    if level < 6.0 * sigma:
        width = _smoothing(float(np.sum(profile[core[0] : core[1]])), core, sigma)
        smooth = ndimage.uniform_filter1d(profile, width, mode="nearest")
        level = _on_level(smooth[c0:c1].tolist())
    half = 0.5 * level
    above = _bridged_array(smooth >= half, 2)
    lo, hi = _run_around_array(above, c0 + int(np.argmax(smooth[c0:c1])))
    return _crossings(smooth, lo, hi, half)


def _time_extent_list(
    profile: list[float], core: tuple[int, int], sigma: float
) -> tuple[float, float]:
    """`_time_extent` in plain Python on a short profile."""
    c0, c1 = core
    smooth = profile
    level = _on_level(profile[c0:c1])
    if level < 6.0 * sigma and len(profile) >= 3:
        width = _smoothing(sum(profile[core[0] : core[1]]), core, sigma)
        if width == 3:
            smooth = _mean3(profile)
        else:
            smooth = ndimage.uniform_filter1d(np.array(profile), width, mode="nearest").tolist()
        level = _on_level(smooth[c0:c1])
    half = 0.5 * level
    above = _bridged([v >= half for v in smooth], 2)
    core_values = smooth[c0:c1]
    # around the first maximum, as np.argmax
    lo, hi = run_around(above, c0 + core_values.index(max(core_values)))
    return _crossings(smooth, lo, hi, half)


def _crossings(
    smooth: list[float] | NDArray[np.float64], lo: int, hi: int, half: float
) -> tuple[float, float]:
    """Fractional frame positions where `smooth` crosses `half` between frames lo - 1
    (below) and lo (above), and hi and hi + 1; the profile's edges when lo, hi are its
    first and last frame."""
    last = len(smooth) - 1
    if lo > 0:
        a, b = float(smooth[lo - 1]), float(smooth[lo])
        start = lo - 1 + (half - a) / (b - a) if b > a else float(lo)
    else:
        start = -0.5
    if hi < last:
        a, b = float(smooth[hi]), float(smooth[hi + 1])
        end = hi + (a - half) / (a - b) if a > b else float(hi)
    else:
        end = last + 0.5
    return start, end
