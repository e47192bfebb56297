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
from functools import cache, lru_cache, partial

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
    WhitenedSpectrum,
    a_weighted_level_db,
    band_edges,
    half_spectra,
    whitened_spectrum,
)
from detectors.acoustic_subframes import CommonEnvelope, common_envelope, frame_pieces
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
class _Bands:
    """The distinct bands among a grid's usable (f0, k) bands (about 2/3 of them: at low
    k, neighbouring f0s share their bins), so that a statistic of the spectrum over every
    band of the grid is computed once per distinct band and gathered (the same values)."""

    lo: I64  # (U,) first bin
    hi1: I64  # (U,) last bin + 1 (where range sums read the cumulative sum)
    law: tuple[F64, F64, F64]  # (U,) `peak_z_law`
    index: I64  # (P, K) the distinct band of (f0, k), U (the fill slot) where unusable
    index_t: I64  # (K, P) the same, harmonic-major

    def sums(self, csum: F64) -> F64:
        """(U,) `range_sums` of the distinct bands from csum = cumsum0(values)."""
        out: F64 = csum[self.hi1] - csum[self.lo]
        return out

    def slots(self) -> F64:
        """(U + 1,) float64 to hold one value per distinct band and the fill value last."""
        return np.empty(self.lo.shape[0] + 1, dtype=np.float64)

    def gather(self, slots: F64) -> F64:
        """(P, K) slots[band of (f0, k)]: the fill value (slots[-1]) where unusable."""
        out: F64 = slots[self.index]
        return out

    def gather_t(self, slots: F64) -> F64:
        """(K, P) the same harmonic-major, so that sums over k run over whole rows."""
        out: F64 = slots[self.index_t]
        return out


@dataclass(frozen=True, slots=True)
class _Grid:
    """The f0 grid and its harmonic bands for one (config, bin width, bin count)."""

    f0_hz: F64  # (P,)
    usable: NDArray[np.bool_]  # (P, K): the band lies below the band limit
    lo: I64  # (P, K) band edges, bins
    hi: I64
    weights: F64  # (P, K) prior weights, 0 where unusable
    norm: F64  # (P,) sqrt(sum of squared weights)
    bands: _Bands
    weights_t: F64  # (K, P) `weights`, harmonic-major
    partial_norm_t: F64  # (K - min_lines + 1, P) `norm` over k <= K, harmonic-major


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
    pairs, which = np.unique(np.stack((lo[usable], hi[usable])), axis=1, return_inverse=True)
    index = np.full(usable.shape, pairs.shape[1], dtype=np.int64)
    index[usable] = which.reshape(-1)
    bands = _Bands(
        pairs[0], pairs[1] + 1,
        peak_z_law(pairs[1] - pairs[0] + 1, config.peak_threshold, config.floor_rel_sigma),
        index, np.ascontiguousarray(index.T),
    )  # fmt: skip
    w_t, partial_t = np.ascontiguousarray(w.T), np.ascontiguousarray(partial.T)
    for arr in (bands.lo, bands.hi1, *bands.law, bands.index, bands.index_t, w_t, partial_t):
        arr.flags.writeable = False
    return _Grid(grid, usable, lo, hi, w, norm, bands, w_t, partial_t)


@lru_cache(maxsize=8)
def _harmonic_numbers(max_harmonics: int) -> F64:
    """(max_harmonics,) k = 1, 2, ... as float64 (read-only, cached)."""
    k = np.arange(1, max_harmonics + 1, dtype=np.float64)
    k.flags.writeable = False
    return k


def _octave_checks(
    i_best: int, grid: F64, s: F64, z: F64, w: F64, usable: NDArray[np.bool_],
    present: NDArray[np.bool_], config: AcousticConfig,
) -> int:  # fmt: skip
    k = _harmonic_numbers(config.max_harmonics)
    # octave up: when the odd bands carry under a quarter of what the even bands carry,
    # f0 is a sub-harmonic of the comb (the half-integer bands of 2 f0 are empty, the HIR
    # test of §6); a lone odd band is typically the shaft line RPM/60 = BPF/2
    contrib = np.maximum(w[i_best] * z[i_best], 0.0)
    if float(contrib[0::2].sum()) < 0.25 * float(contrib[1::2].sum()):  # k odd, k even
        j_up = _nearest(grid, 2 * grid[i_best])
        if (
            abs(math.log(grid[j_up] / (2 * grid[i_best]))) < 0.01
            and np.count_nonzero(usable[j_up]) >= config.min_lines
        ):
            i_best = j_up
    # octave down: a comb at f0 also scores at 2 f0 / 3 f0 (every 2nd / 3rd band); go down
    # to f0/d when that scores nearly as well and the bands in between hold clusters too
    for divisor in (2, 3):
        target = grid[i_best] / divisor
        if target < config.f0_min_hz:
            continue
        j = _nearest(grid, target)
        if abs(math.log(grid[j] / target)) > 0.01 or s[j] < config.octave_ratio * s[i_best]:
            continue
        between = usable[j] & (k % divisor != 0)
        if np.any(between) and np.mean(present[j][between]) >= 0.5:
            i_best = j
    return i_best


def _harmonic_sum(z: F64, z_t: F64, g: _Grid, config: AcousticConfig) -> F64:
    """(P,) weighted Stouffer sum of the clipped band z (z: (P, K); z_t: (K, P) the same).

    N(0, 1) at every f0 under noise alone; with `partial_sums`, the best of the sums over
    k <= K for K >= min_lines (far away, air absorption and the roll-off leave only the
    first harmonics above the floor). The running sum over k is taken harmonic-major, row
    by row: the same additions in the same order as along each f0's row, in fewer calls.
    """
    if not config.partial_sums:
        total: F64 = np.sum(g.weights * z, axis=1) / g.norm
        return total
    running = g.weights_t * z_t
    np.cumsum(running, axis=0, out=running)
    normalised = running[config.min_lines - 1 :]
    normalised /= g.partial_norm_t
    best: F64 = np.max(normalised, axis=0)
    return best


def _unclipped_z(bands: _Bands, z_bands: F64) -> F64:
    """(P, K) unclipped z of every band, 0 where unusable."""
    slots = bands.slots()
    slots[:-1] = z_bands
    slots[-1] = 0.0
    return bands.gather(slots)


def _line_ratio(spec: WhitenedSpectrum) -> F64:
    """(m,) power over floor of every bin, capped at 1e30 (a noiseless frame has a 0 floor)."""
    ratio: F64 = np.maximum(spec.floor, 1e-300)
    np.divide(spec.power, ratio, out=ratio)
    np.minimum(ratio, 1e30, out=ratio)
    return ratio


def _band_peaks(spec: WhitenedSpectrum, lo: I64, hi: I64) -> F64:
    """(B,) the largest power / floor in each band [lo, hi], by one division over the
    bands' span and one reduceat (np.max per band: the same values)."""
    if lo.shape[0] == 0:
        return np.empty(0)
    a, b = int(lo.min()), int(hi.max()) + 1
    ratio = np.empty(b - a + 1)  # + 1: reduceat's last index may read one past the span
    np.divide(spec.power[a:b], spec.floor[a:b], out=ratio[:-1])
    ratio[-1] = 0.0
    edges = np.empty(2 * lo.shape[0], dtype=np.int64)
    edges[0::2] = lo - a
    edges[1::2] = hi + 1 - a
    out: F64 = np.maximum.reduceat(ratio, edges)[0::2]
    return out


def _nearest(grid: F64, target_hz: float) -> int:
    """argmin over the increasing grid of |ln(grid / target_hz)|, the first on a tie. The
    minimum lies at one of the two grid points around the target (|ln| falls towards it
    and rises past it), so only those two are evaluated, by the same expression."""
    above = int(np.searchsorted(grid, target_hz))
    first = max(above - 1, 0)
    return first + int(np.argmin(np.abs(np.log(grid[first : above + 1] / target_hz))))


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
    masked_bins: NDArray[np.bool_] | None = None,
) -> CombAnalysis | None:
    """Harmonic-sum analysis of a mono signal x (n,) float32 at sample_rate_hz; f0s near
    `exclude_hz` (`excluded`) are left out of the search (None when the best comb left
    lies there after the octave checks); `masked_bins` hold no peak excess
    (`whitened_spectrum`)."""
    if round(config.segment_s * sample_rate_hz) < 64 or x.shape[0] < 64:
        return None
    spec = whitened_spectrum(x, sample_rate_hz, config, masked_bins)
    g = _grid(config, spec.df, spec.power.shape[0])
    if g is None:
        return None
    grid, usable, lo, hi, w = g.f0_hz, g.usable, g.lo, g.hi, g.weights
    k = _harmonic_numbers(config.max_harmonics)
    # z of every (f0, k) band clipped to [z_min, z_cap] (np.clip's operations), and the
    # clipped 0 where the band is unusable
    z_bands = standardise_peaks(g.bands.sums(spec.csum_peaks), *g.bands.law)
    z_slots = g.bands.slots()
    np.maximum(z_bands, config.z_min, out=z_slots[:-1])
    z_slots[-1] = max(0.0, config.z_min)
    np.minimum(z_slots, config.z_cap, out=z_slots)
    z = g.bands.gather(z_slots)
    present_all = usable & (z >= config.line_z)
    s = _harmonic_sum(z, g.bands.gather_t(z_slots), g, config)
    # cross-check: harmonic product over k <= hps_harmonics as a sum of clipped logs
    # (Noll 1969; clipped, since one notched harmonic would zero a true product)
    hps = np.maximum(z[:, : config.hps_harmonics], 0.0).sum(axis=1)
    f0_hps = float(grid[int(np.argmax(hps))])

    finite = np.isfinite(s)
    if not finite.any():
        return None  # a frame of overflowing values: nothing to measure
    if not finite.all():
        s = np.where(finite, s, -np.inf)
    skip = excluded(grid, exclude_hz) if exclude_hz else None
    if skip is not None:
        if skip.all():
            return None
        s_all = s
        s = np.where(skip, -np.inf, s)
    # clipped bands tie on a strong comb over a range of f0: break ties with the unclipped z
    tied = np.flatnonzero(s >= s.max() - 1e-9)
    i_first = (
        int(tied[np.argmax(np.sum(w[tied] * _unclipped_z(g.bands, z_bands)[tied], axis=1))])
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
        ratio_slots = g.bands.slots()
        np.divide(g.bands.sums(spec.csum_power), g.bands.sums(spec.csum_floor),
                  out=ratio_slots[:-1])  # fmt: skip
    ratio_slots[-1] = 1.0
    ratio_all = g.bands.gather(ratio_slots)
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
    peak_db = max(power_to_db(_band_peaks(spec, lo_b[present], hi_b[present])).tolist(),
                  default=0.0)  # fmt: skip
    # the confuser tests cost more than the rest: only for combs that could be reported
    if np.count_nonzero(present) >= config.min_lines and score >= config.min_score:
        low = low_fundamental(spec, f0, config)
        nperseg = min(round(config.segment_s * sample_rate_hz), x.shape[0])
        # taken on the first line that needs them (a steady-looking one), once per frame
        half = cache(partial(half_spectra, x, nperseg))
        machine = [
            line_is_machine_like(
                spec.power, spec.floor, int(lo_b[i]), int(hi_b[i]), half, spec.df,
                0.5 * nperseg / sample_rate_hz, mains_hz=config.mains_hz,
                mains_tolerance=config.mains_tolerance,
            )
            for i in np.flatnonzero(present)
        ]  # fmt: skip
        centres = f0 * k[present]
        # the single-frame rule looks at loud combs only (on weaker ones noise sets the
        # envelope); the modulation history pools the p-value of every reportable comb
        loud_rule = peak_db >= config.split_peak_db and math.isfinite(config.common_depth_db)
        # one STFT for the envelope and the dropouts (the latter's pieces are every other
        # one), taken whether the envelope is wanted or not: the same dropouts either way
        pieces = frame_pieces(x, sample_rate_hz, centres, config.tolerance)
        dropouts = comb_dropouts(
            x, sample_rate_hz, centres, config.tolerance,
            power=None if pieces is None else pieces[0::2],
        )  # fmt: skip
        share = comb_share(spec, f0, config)
        harmonics = np.flatnonzero(present) + 1
        strong, single = single_line_share(spec, f0, harmonics, config)
        if loud_rule or config.measure_modulation:
            envelope = common_envelope(x, sample_rate_hz, centres, config.tolerance, power=pieces)
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
        line_ratio=_line_ratio(spec),
        bin_hz=spec.df,
        level_a_db=a_weighted_level_db(spec),
    )
