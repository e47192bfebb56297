"""Harmonic-sum analysis of one frame: the rotor comb's f0, its harmonic clusters and the
confuser cues measured on it (SIGNALS.md §6 "Log harmonic sum").

For every f0 on a log grid and harmonic k <= K, the "peak excess" of the band
k*f0*(1 +- tolerance) is standardised against noise alone (z); the harmonic sum
S(f0) = sum_k w_k z_k / sqrt(sum_k w_k^2) with prior weights w_k is N(0, 1) under noise;
the best over k <= K for K >= min_lines -> octave checks -> f0 refined from the band
centroids -> the confuser cues of `acoustic_cues` and `acoustic_features`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from detectors.acoustic_config import F64, I64, AcousticConfig, CombAnalysis
from detectors.acoustic_cues import comb_share, low_fundamental, single_line_share
from detectors.acoustic_features import (
    comb_dropouts,
    line_is_machine_like,
    peak_z_law,
    range_sums,
    standardise_peaks,
)
from detectors.acoustic_spectrum import (
    band_edges,
    half_spectra,
    whitened_spectrum,
)
from detectors.acoustic_subframes import CommonEnvelope, common_envelope
from detectors.arrays import median
from detectors.units import power_to_db


def harmonic_weights(config: AcousticConfig) -> F64:
    """(max_harmonics,) prior weight of each harmonic band in the harmonic sum.

    SIGNALS.md §4: the first `flat_harmonics` harmonics are about equal, then the comb
    rolls off by 3-6 dB per harmonic; the weights follow the gentle end of that range
    (`rolloff_db` per harmonic). Decreasing weights also make a sub-harmonic f0/m score
    below f0 (its matching bands are every m-th, at lower weight: Hermes 1988)."""
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    w: F64 = 10.0 ** (-config.rolloff_db * np.maximum(k - config.flat_harmonics, 0.0) / 20.0)
    return w


@dataclass(frozen=True, slots=True)
class _Grid:
    """The f0 grid and its harmonic bands for one (config, bin width, bin count)."""

    f0_hz: F64  # (P,)
    usable: NDArray[np.bool_]  # (P, K): the band lies below the band limit
    lo: I64  # (P, K) band edges, bins
    hi: I64
    weights: F64  # (P, K) prior weights, 0 where unusable
    norm: F64  # (P,) sqrt(sum of squared weights)
    partial_norm: F64  # (P, K - min_lines + 1) the same over k <= K
    law: tuple[F64, F64, F64]  # `peak_z_law` of every band


@lru_cache(maxsize=8)
def _grid(config: AcousticConfig, df: float, n_bins: int) -> _Grid | None:
    f0_top = min(config.f0_max_hz, config.band_limit_hz / (config.min_lines + config.tolerance))
    if f0_top <= config.f0_min_hz:
        return None
    grid = np.geomspace(config.f0_min_hz, f0_top, config.f0_points)
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    centres = grid[:, None] * k[None, :]
    usable = centres * (1 + config.tolerance) < config.band_limit_hz
    lo, hi = band_edges(centres, df, n_bins, config)
    w = np.where(usable, harmonic_weights(config)[None, :], 0.0)
    norm = np.sqrt(np.maximum(np.sum(w * w, axis=1), 1e-12))
    partial = np.sqrt(np.maximum(np.cumsum(w * w, axis=1)[:, config.min_lines - 1 :], 1e-12))
    law = peak_z_law(hi - lo + 1, config.peak_threshold, config.floor_rel_sigma)
    return _Grid(grid, usable, lo, hi, w, norm, partial, law)


def _octave_checks(
    i_best: int, grid: F64, s: F64, z: F64, w: F64, usable: NDArray[np.bool_],
    present: NDArray[np.bool_], config: AcousticConfig,
) -> int:  # fmt: skip
    k = np.arange(1, config.max_harmonics + 1)
    odd = k % 2 == 1
    # octave up: when the odd bands carry under a quarter of what the even bands carry,
    # f0 is a sub-harmonic of the comb (the half-integer bands of 2 f0 are empty, the HIR
    # test of §6); a lone odd band is typically the shaft line RPM/60 = BPF/2
    j_up = int(np.argmin(np.abs(np.log(grid / (2 * grid[i_best])))))
    contrib = np.maximum(w[i_best] * z[i_best], 0.0)
    if (
        float(np.sum(contrib[odd])) < 0.25 * float(np.sum(contrib[~odd]))
        and abs(math.log(grid[j_up] / (2 * grid[i_best]))) < 0.01
        and np.count_nonzero(usable[j_up]) >= config.min_lines
    ):
        i_best = j_up
    # octave down: a comb at f0 also scores at 2 f0 / 3 f0 (every 2nd / 3rd band); go down
    # to f0/d when that scores nearly as well and the bands in between hold clusters too
    for divisor in (2, 3):
        target = grid[i_best] / divisor
        if target < config.f0_min_hz:
            continue
        j = int(np.argmin(np.abs(np.log(grid / target))))
        if abs(math.log(grid[j] / target)) > 0.01 or s[j] < config.octave_ratio * s[i_best]:
            continue
        between = usable[j] & (k % divisor != 0)
        if np.any(between) and np.mean(present[j][between]) >= 0.5:
            i_best = j
    return i_best


#: relative half width (|ln ratio|) of the f0 ranges `exclude_hz` removes from the search
EXCLUDE_WIDTH = 0.08


def excluded(grid_hz: F64, exclude_hz: tuple[float, ...]) -> NDArray[np.bool_]:
    """(P,) grid f0s within EXCLUDE_WIDTH of e/2, e, 2e or 3e for any e in exclude_hz: a
    source already accounted for, whose harmonics would also make combs there."""
    out = np.zeros(grid_hz.shape[0], dtype=bool)
    for e in exclude_hz:
        for m in (0.5, 1.0, 2.0, 3.0):
            out |= np.abs(np.log(grid_hz / (m * e))) <= EXCLUDE_WIDTH
    return out


def analyse_comb(
    x: NDArray[np.float32],
    sample_rate_hz: float,
    config: AcousticConfig,
    exclude_hz: tuple[float, ...] = (),
) -> CombAnalysis | None:
    """Harmonic-sum analysis of a mono signal x (n,) float32 at sample_rate_hz; f0s near
    `exclude_hz` (`excluded`) are left out of the search (None when the best comb left
    lies there after the octave checks)."""
    if round(config.segment_s * sample_rate_hz) < 64 or x.shape[0] < 64:
        return None
    spec = whitened_spectrum(x, sample_rate_hz, config)
    g = _grid(config, spec.df, spec.power.shape[0])
    if g is None:
        return None
    grid, usable, lo, hi, w = g.f0_hz, g.usable, g.lo, g.hi, g.weights
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    z_raw = np.where(usable, standardise_peaks(range_sums(spec.csum_peaks, lo, hi), *g.law), 0.0)
    z = np.clip(z_raw, config.z_min, config.z_cap)
    present_all = usable & (z >= config.line_z)
    # weighted Stouffer sum: N(0, 1) at every f0 under noise alone; with `partial_sums`,
    # the best of the sums over k <= K for K >= min_lines (far away, air absorption and
    # the roll-off leave only the first harmonics above the floor)
    if config.partial_sums:
        s = np.max(np.cumsum(w * z, axis=1)[:, config.min_lines - 1 :] / g.partial_norm, axis=1)
    else:
        s = np.sum(w * z, axis=1) / g.norm
    # cross-check: harmonic product over k <= hps_harmonics as a sum of clipped logs
    # (Noll 1969; clipped, since one notched harmonic would zero a true product)
    hps = np.sum(np.maximum(z[:, : config.hps_harmonics], 0.0), axis=1)
    f0_hps = float(grid[int(np.argmax(hps))])

    if not np.isfinite(s).any():
        return None  # a frame of overflowing values: nothing to measure
    s = np.where(np.isfinite(s), s, -np.inf)
    skip = excluded(grid, exclude_hz) if exclude_hz else None
    if skip is not None:
        if skip.all():
            return None
        s_all = s
        s = np.where(skip, -np.inf, s)
    # clipped bands tie on a strong comb over a range of f0: break ties with the unclipped z
    tied = np.flatnonzero(s >= s.max() - 1e-9)
    i_first = (
        int(tied[np.argmax(np.sum(w[tied] * z_raw[tied], axis=1))])
        if tied.shape[0] > 1
        else int(tied[0])
    )
    i_best = _octave_checks(i_first, grid, s, z, w, usable, present_all, config)
    if skip is not None:
        if skip[i_best]:
            return None
        s = s_all  # the score is taken against the whole grid, as for the best comb
    present = present_all[i_best]
    f0 = float(grid[i_best])
    lo_b, hi_b = lo[i_best], hi[i_best]
    with np.errstate(divide="ignore", invalid="ignore"):  # a noiseless frame has a 0 floor
        ratio_all = np.where(
            usable, range_sums(spec.csum_power, lo, hi) / range_sums(spec.csum_floor, lo, hi), 1.0
        )
    ratio = ratio_all[i_best]
    # refine f0: weighted least squares of band centroids (net excess power) vs k
    if np.count_nonzero(present) >= 2:
        sel = np.flatnonzero(present)
        excess = [np.maximum(spec.power[a : b + 1] - spec.floor[a : b + 1], 0.0)
                  for a, b in zip(lo_b[sel], hi_b[sel], strict=True)]  # fmt: skip
        centroid = np.array([
            np.sum(e * np.arange(a, a + e.shape[0])) / max(float(np.sum(e)), 1e-300)
            for e, a in zip(excess, lo_b[sel], strict=True)
        ]) * spec.df  # fmt: skip
        weight = z[i_best][sel]
        f0 = float(np.sum(weight * k[sel] * centroid) / np.sum(weight * k[sel] ** 2))

    score = float(s[i_best] - median(s))
    machine: list[bool] = []
    dropouts = 0
    share = 1.0
    low = None
    strong, single = 0, 0.0
    envelope = CommonEnvelope(0.0, 1.0)
    peak_db = max(
        (power_to_db(float(np.max(spec.power[a : b + 1] / spec.floor[a : b + 1])))
         for a, b in zip(lo_b[present], hi_b[present], strict=True)),
        default=0.0,
    )  # fmt: skip
    # the confuser tests cost more than the rest: only for combs that could be reported
    if np.count_nonzero(present) >= config.min_lines and score >= config.min_score:
        low = low_fundamental(spec, f0, config)
        nperseg = min(round(config.segment_s * sample_rate_hz), x.shape[0])
        half = half_spectra(x, nperseg)
        machine = [
            line_is_machine_like(
                spec.power, spec.floor, int(lo_b[i]), int(hi_b[i]), half, spec.df,
                0.5 * nperseg / sample_rate_hz, mains_hz=config.mains_hz,
                mains_tolerance=config.mains_tolerance,
            )
            for i in np.flatnonzero(present)
        ]  # fmt: skip
        dropouts = comb_dropouts(x, sample_rate_hz, f0 * k[present], config.tolerance)
        share = comb_share(spec, f0, config)
        harmonics = np.flatnonzero(present) + 1
        strong, single = single_line_share(spec, f0, harmonics, config)
        # the single-frame rule looks at loud combs only (on weaker ones noise sets the
        # envelope); the modulation history pools the p-value of every reportable comb
        loud_rule = peak_db >= config.split_peak_db and math.isfinite(config.common_depth_db)
        if loud_rule or config.measure_modulation:
            envelope = common_envelope(x, sample_rate_hz, f0 * k[present], config.tolerance)
    net = range_sums(spec.csum_power, lo_b, hi_b) - range_sums(spec.csum_floor, lo_b, hi_b)
    line_power = float(np.sum(net[present]) * spec.df)
    return CombAnalysis(
        f0_hz=f0,
        score=score,
        grid_hz=grid,
        harmonic_sum=s,
        band_snr_db=np.where(usable[i_best], power_to_db(ratio), 0.0),
        band_z=z[i_best],
        present=present,
        f0_hps_hz=f0_hps,
        # weighted by z: the phase test is reliable on strong lines, a coin toss on weak ones
        machine_fraction=(
            float(np.sum(z[i_best][present] * np.asarray(machine)) / np.sum(z[i_best][present]))
            if machine
            else 0.0
        ),
        line_power=max(line_power, 0.0),
        dropouts=dropouts,
        comb_share=share,
        peak_db=peak_db,
        low_fundamental_hz=low,
        strong_bands=strong,
        single_line_share=single,
        common_depth_db=envelope.depth_db,
        common_p_value=envelope.p_value,
        z_grid=z,
        ratio_grid=ratio_all,
        line_ratio=np.minimum(spec.power / np.maximum(spec.floor, 1e-300), 1e30),
        bin_hz=spec.df,
    )
