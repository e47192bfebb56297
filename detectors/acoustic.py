"""Acoustic rotor-harmonic (blade-pass comb) detector, SIGNALS.md §4 and §6.

mono (channel mean) -> 1 s Hann periodogram at the native rate (1 Hz bins; Welch over
1 s segments when the frame is longer), weighted by a 2nd-order Butterworth high-pass
response (60 Hz) and cut at 0.45 x the working rate -> noise floor: running mean of log
power (±80 Hz, narrower at low frequency) -> for every f0 on a log grid and harmonic
k <= 10, the "peak excess" of the band k*f0*(1 +- 4 %): the sum over its bins of
max(P/floor - 2.5, 0), standardised against noise alone (z) -> harmonic sum
S(f0) = sum_k w_k z_k / sqrt(sum_k w_k^2) with prior weights w_k (first three harmonics
equal, then -3 dB per harmonic), N(0, 1) at each f0 under noise, the best over k <= K
for K >= 2 -> octave checks ->
cross-check by a harmonic product (clipped-log HPS over k <= 4) -> f0 refined from the
band centroids -> decision and confidence from S, with rejections for the confusers of §4.

Why bands of peaks: a rotor harmonic is a cluster, not a line (4 rotors differing 1-5 %,
RPM jitter ~1 %), so each sub-line carries ~1/4 of the power and the cluster spans
±(2-5 %)*k*f0; summing only what stands out of the floor keeps the sub-lines' power and
drops most of the noise between them.

Rejections (each a physical cue of SIGNALS.md §4/§6, none fitted to recordings):
- f0 < 80 Hz, or the comb is every d-th line of a denser comb below 80 Hz (helicopter
  main/tail rotor, 4-stroke mower, genset: `low_fundamental_hz`);
- the comb all but vanishes in 125 ms pieces of the frame (voices, a strimmer's throttle,
  horns: `dropouts`), while a rotor comb is steady over 1 s;
- under 40 % of the strong tonal power (bins >= 10 dB over the floor) in the comb's range
  lies in its bands: several tonal sources or an inharmonic set (servos, music, voices;
  `comb_share`);
- at most 3 harmonics, one of them >= 20 dB over the floor: a siren, horn or alarm (§4:
  "few harmonics with HIR > 20 dB"), where a rotor comb that loud shows many harmonics;
- one-bin, phase-stable lines (machinery, fans; `machine_fraction`, weighted by z) or a
  comb locked to k*50 Hz (mains) is down-weighted.

Confidence is a logistic in S whose midpoint `score_mid` is the S that noise alone
(white, pink and simulated site ambience) exceeds once in ~10^3 frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from detectors.acoustic_features import (
    band_peak_z,
    comb_dropouts,
    line_is_machine_like,
    log_mean_floor,
    peak_z_law,
    standardise_peaks,
)
from detectors.spectra import welch_psd
from detectors.units import power_to_db

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class AcousticConfig:
    """Settings of `detect_rotor`; every default is taken from SIGNALS.md §4/§6 or derived
    from noise statistics, none is fitted to recordings.

    working_rate_hz: the analysis stops at 0.45 x this rate (combs and most of their
      energy lie below 8 kHz, §5); faster input is not resampled, only cut.
    highpass_hz: 2nd-order Butterworth high-pass (§6 front end), applied as a weight on
      the power spectrum (Hann leakage from below it is < -80 dB at 1 Hz bins).
    segment_s: periodogram length (§6: 1 s gives 1 Hz bins, resolves rotor splits).
    floor_half_width_hz: half width of the running floor (§4 comb row: 80 Hz floor).
    floor_rel_sigma: relative std of that floor under noise (log-mean over ±80 Hz of Hann
      bins: 0.13 measured on white noise); it widens the noise law of every band.
    tolerance: relative half width of a harmonic band: rotors differ up to 5 % (±2.5 %
      around their mean) plus ~1 % jitter and half a grid step.
    peak_threshold: P/floor above which a bin counts towards a band's peak excess (4 dB).
    flat_harmonics / rolloff_db: prior weights of the harmonic sum (§4: first 2-3 equal,
      then -3 to -6 dB per harmonic; the gentle end).
    z_cap / z_min: clip of one band's z so that one loud tone cannot make a comb and one
      notched harmonic (ground reflection) cannot unmake it.
    line_z: z for a band to count as a harmonic cluster (one-sided Pfa ~0.02).
    min_lines: clusters needed for a detection; min_fill: share of the bands up to the
      highest cluster that hold one (a rotor comb has lines at every k, bar notches).
    min_score / score_mid / score_width: S needed to report, and the logistic map of S to
      confidence: score_mid is the S that noise alone exceeds in ~1e-3 of frames (so a
      frame at the alert cut 0.5 is a 1e-3 event under noise), score_width sets ~0.9 at
      the 1e-5 point.
    octave_ratio: a sub-multiple f0/d replaces f0 when it scores at least this share.
    machine_fraction / machine_penalty: share of one-bin, phase-stable lines that makes the
      comb machinery, and the confidence factor then; mains_hz / mains_tolerance: combs
      locked to k*50 Hz.
    hps_harmonics: harmonics of the HPS cross-check (reported, not used in the decision:
      on drones in manoeuvre the low harmonics smear and the HPS f0 wanders, so a penalty
      for disagreement cost recall without removing any confuser).
    partial_sums: S is the best of the normalised sums over k <= K (K >= min_lines).
    max_dropouts: 125 ms pieces in which a strong comb may vanish before it is rejected.
    strong_line / min_comb_share: bins this many times the floor are "strong tonal
      power"; the comb must hold at least this share of it (in its range).
    few_lines / loud_line_db: a comb of at most few_lines harmonics with a bin this loud
      over the floor is a siren/horn/alarm (§4), not a rotor comb.
    low_tolerance / low_min_bands: band width and count for the low-fundamental test.
    """

    working_rate_hz: float = 16_000.0
    highpass_hz: float = 60.0
    segment_s: float = 1.0
    floor_half_width_hz: float = 80.0
    floor_rel_sigma: float = 0.13
    f0_min_hz: float = 70.0
    f0_max_hz: float = 2_500.0
    f0_points: int = 360
    max_harmonics: int = 10
    tolerance: float = 0.04
    min_band_bins: int = 2
    peak_threshold: float = 2.5
    flat_harmonics: int = 3
    rolloff_db: float = 3.0
    z_cap: float = 6.0
    z_min: float = -2.0
    line_z: float = 2.0
    min_f0_hz: float = 80.0
    min_lines: int = 2
    min_fill: float = 0.5
    min_score: float = 3.3
    score_mid: float = 3.9
    score_width: float = 0.5
    octave_ratio: float = 0.8
    machine_fraction: float = 0.6
    machine_penalty: float = 0.25
    mains_hz: float = 50.0
    mains_tolerance: float = 0.002
    hps_harmonics: int = 4
    partial_sums: bool = True
    max_dropouts: int = 2
    strong_line: float = 10.0
    few_lines: int = 3
    loud_line_db: float = 20.0
    min_comb_share: float = 0.4
    low_tolerance: float = 0.01
    low_min_bands: int = 4
    min_confidence: float = 0.3

    @property
    def band_limit_hz(self) -> float:
        """Highest frequency analysed (0.45 x working rate)."""
        return 0.45 * self.working_rate_hz


@dataclass(frozen=True, slots=True)
class AcousticDetection:
    """A rotor comb heard in one audio frame.

    f0_hz: blade-pass fundamental; harmonics: harmonic clusters found among k*f0,
    k <= max_harmonics; snr_db: mean band power over the floor of those clusters (dB);
    level_db_spl: power of the clusters above the floor in dB SPL when the frame is
    calibrated, else None.
    """

    signature: str
    kind: str
    t_start_s: float
    t_end_s: float
    f0_hz: float
    harmonics: int
    snr_db: float
    confidence: float
    level_db_spl: float | None


@dataclass(frozen=True, slots=True)
class CombAnalysis:
    """Intermediate result of `analyse_comb`, exposed for evaluation and plots.

    grid_hz / harmonic_sum: (f0_points,) the weighted harmonic sum S(f0) (z units);
    score: S at the chosen f0 minus the median of S over the grid;
    band_snr_db / band_z: (max_harmonics,) per harmonic band at the chosen f0 (0 where
    k*f0 is beyond the analysed band); present: (max_harmonics,) bool clusters;
    f0_hps_hz: the harmonic-product (clipped-log HPS) estimate, for the cross-check;
    machine_fraction: share of present clusters that are one-bin, phase-stable lines;
    line_power: summed excess power of the present clusters (full-scale units);
    dropouts: 125 ms pieces in which the (strong) comb vanished (`comb_dropouts`);
    comb_share: share of the strong tonal power in the comb's range that its bands hold;
    peak_db: loudest bin of the present bands over the floor (dB);
    low_fundamental_hz: set when the comb is the upper part of a denser comb whose
      fundamental f0/d lies below `min_f0_hz` (helicopter rotors, mowers, gensets, §4).
    """

    f0_hz: float
    score: float
    grid_hz: F64
    harmonic_sum: F64
    band_snr_db: F64
    band_z: F64
    present: NDArray[np.bool_]
    f0_hps_hz: float
    machine_fraction: float
    line_power: float
    dropouts: int = 0
    comb_share: float = 1.0
    peak_db: float = 0.0
    low_fundamental_hz: float | None = None

    @property
    def fill(self) -> float:
        """Share of the bands k = 1..(highest present) that hold a cluster."""
        ks = np.flatnonzero(self.present)
        return float(ks.shape[0] / (ks[-1] + 1)) if ks.shape[0] else 0.0

    @property
    def f0_consistent(self) -> bool:
        """The HPS estimate is f0 times 1, 2, 3, 1/2 or 1/3 (within 4 %)."""
        ratio = self.f0_hps_hz / self.f0_hz
        return any(abs(math.log(ratio / r)) < 0.04 for r in (1.0, 2.0, 3.0, 0.5, 1.0 / 3.0))


def _mono(audio: NDArray[Any]) -> NDArray[np.float32]:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ValueError(f"audio must be (n,) or (n_channels, n), got {x.shape=}")
    return x


@lru_cache(maxsize=16)
def _highpass_power(cutoff_hz: float, df: float, n_bins: int) -> F64:
    """|H(f)|^2 of a 2nd-order Butterworth high-pass on bins k*df (read-only, cached)."""
    f = np.arange(n_bins, dtype=np.float64) * df
    r4 = (f / cutoff_hz) ** 4
    h2: F64 = r4 / (1.0 + r4)
    h2.flags.writeable = False
    return h2


def harmonic_weights(config: AcousticConfig) -> F64:
    """(max_harmonics,) prior weight of each harmonic band in the harmonic sum.

    SIGNALS.md §4: the first `flat_harmonics` harmonics are about equal, then the comb
    rolls off by 3-6 dB per harmonic; the weights follow the gentle end of that range
    (`rolloff_db` per harmonic). Decreasing weights also make a sub-harmonic f0/m score
    below f0 (its matching bands are every m-th, at lower weight: Hermes 1988)."""
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    w: F64 = 10.0 ** (-config.rolloff_db * np.maximum(k - config.flat_harmonics, 0.0) / 20.0)
    return w


def _band_edges(
    centres_hz: F64, df: float, n_bins: int, config: AcousticConfig, tolerance: float | None = None
) -> tuple[I64, I64]:
    tol = config.tolerance if tolerance is None else tolerance
    half = np.maximum(centres_hz * tol / df, config.min_band_bins)
    lo = np.clip(np.floor(centres_hz / df - half), 0, n_bins - 1).astype(np.int64)
    hi = np.clip(np.ceil(centres_hz / df + half), 0, n_bins - 1).astype(np.int64)
    return lo, hi


@dataclass(frozen=True, slots=True)
class _Spectrum:
    """Whitened 1 s spectrum up to the band limit, bin df Hz, as cumulative sums (m + 1,)
    of power, floor and peak excess max(power / floor - peak_threshold, 0)."""

    power: F64
    floor: F64
    csum_power: F64
    csum_floor: F64
    csum_peaks: F64
    df: float

    def bands(
        self, centres_hz: F64, config: AcousticConfig, tolerance: float | None = None
    ) -> tuple[F64, F64, I64, I64]:
        """(peak z, band power / floor, lo, hi) of bands centred on `centres_hz`."""
        lo, hi = _band_edges(centres_hz, self.df, self.power.shape[0], config, tolerance)
        ratio = _range_sums(self.csum_power, lo, hi) / _range_sums(self.csum_floor, lo, hi)
        z = band_peak_z(
            _range_sums(self.csum_peaks, lo, hi), hi - lo + 1, config.peak_threshold,
            config.floor_rel_sigma,
        )  # fmt: skip
        return z, ratio, lo, hi


def _cumsum(values: F64) -> F64:
    out: F64 = np.concatenate(([0.0], np.cumsum(values)))
    return out


def _range_sums(csum: F64, lo: I64, hi: I64) -> F64:
    out: F64 = csum[hi + 1] - csum[lo]
    return out


def _spectrum(x: NDArray[np.float32], sample_rate_hz: float, config: AcousticConfig) -> _Spectrum:
    nperseg = min(x.shape[0], round(config.segment_s * sample_rate_hz))
    df = float(sample_rate_hz / nperseg)
    if x.shape[0] < 2 * nperseg:  # one segment: the periodogram (Welch of one)
        spec = scipy.fft.rfft(x[:nperseg] * _hann32(nperseg))
        w = _hann32(nperseg)
        raw = (spec.real * spec.real + spec.imag * spec.imag).astype(np.float64)
        raw *= 2.0 / (sample_rate_hz * float(np.sum(w.astype(np.float64) ** 2)))
    else:
        raw = welch_psd(x, sample_rate_hz, nperseg).psd.astype(np.float64)
    m = min(raw.shape[0], math.ceil(0.5 * config.working_rate_hz / df) + 1)
    power = raw[:m] * _highpass_power(config.highpass_hz, df, m)
    floor = log_mean_floor(power, max(3, round(config.floor_half_width_hz / df)))
    peaks = np.maximum(power / floor - config.peak_threshold, 0.0)
    peaks[: math.ceil(config.highpass_hz / df)] = 0.0  # below the high-pass: no comb sought
    return _Spectrum(power, floor, _cumsum(power), _cumsum(floor), _cumsum(peaks), df)


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
    lo, hi = _band_edges(centres, df, n_bins, config)
    w = np.where(usable, harmonic_weights(config)[None, :], 0.0)
    norm = np.sqrt(np.maximum(np.sum(w * w, axis=1), 1e-12))
    partial = np.sqrt(np.maximum(np.cumsum(w * w, axis=1)[:, config.min_lines - 1 :], 1e-12))
    law = peak_z_law(hi - lo + 1, config.peak_threshold, config.floor_rel_sigma)
    return _Grid(grid, usable, lo, hi, w, norm, partial, law)


def _low_fundamental(spec: _Spectrum, f0_hz: float, config: AcousticConfig) -> float | None:
    """f0/d (d = 2..8) below min_f0_hz whose in-between lines m*f0/d (m not a multiple of
    d, 100 Hz .. K*f0, clear of the comb's own bands) mostly stand out too, else None:
    the comb at f0 is then only every d-th line of a low-fundamental source (helicopter
    main/tail rotor, 4-stroke mower, genset: §4 confusers; §6 hard reject f0 < 60 Hz).
    Those sources are governed to < 1 %: their lines are looked for in ±1 % bands."""
    top = min(config.max_harmonics * f0_hz, config.band_limit_hz)
    divisors: list[int] = []
    centres: list[F64] = []
    for divisor in range(2, 9):
        g = f0_hz / divisor
        if g >= config.min_f0_hz:
            continue  # handled by the octave-down check on the grid
        if g < 10.0:
            break
        m = np.arange(math.ceil(100.0 / g), math.floor(top / g) + 1)
        m = m[m % divisor != 0]
        # a rotor cluster at k*f0 spans ±tolerance and more: keep clear of it
        near = np.maximum(np.round(m / divisor), 1.0) * f0_hz
        m = m[np.abs(m * g - near) > 2.0 * config.tolerance * near]
        if m.shape[0] >= config.low_min_bands:
            divisors += [divisor] * m.shape[0]
            centres.append(m * g)
    if not centres:
        return None
    # f0 of a dense comb is only known to a few per cent (its wide bands catch two lines at
    # high k): look for the low fundamental within ±5 % of f0/d
    scale = 1.0 + np.linspace(-0.05, 0.05, 21)
    z, _, _, _ = spec.bands(np.outer(scale, np.concatenate(centres)), config, config.low_tolerance)
    hit = z >= config.line_z
    which = np.asarray(divisors)
    for divisor in dict.fromkeys(divisors):  # in increasing order
        share = np.mean(hit[:, which == divisor], axis=1)
        if np.max(share) >= 0.5:
            return float(f0_hz / divisor * scale[int(np.argmax(share))])
    return None


def _comb_share(spec: _Spectrum, f0_hz: float, config: AcousticConfig) -> float:
    """Share of the strong tonal power (bins >= strong_line x floor) between f0/2 and the
    top harmonic band that lies in the comb's bands (1.0 when there is none): a rotor comb
    is the only strong tonal source in its range, music and several voices are not."""
    top = min((config.max_harmonics + 0.5) * f0_hz, config.band_limit_hz)
    a, b = round(0.5 * f0_hz / spec.df), min(round(top / spec.df), spec.power.shape[0] - 1)
    ratio = spec.power[a : b + 1] / spec.floor[a : b + 1]
    strong = np.where(ratio >= config.strong_line, ratio - 1.0, 0.0)
    total = float(np.sum(strong))
    if total <= 0.0:
        return 1.0
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    lo, hi = _band_edges(k * f0_hz, spec.df, spec.power.shape[0], config)
    inside = np.zeros(b - a + 1, dtype=bool)
    for i, j in zip(lo, hi, strict=True):
        inside[max(i - a, 0) : max(j - a + 1, 0)] = True
    return float(np.sum(strong[inside]) / total)


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


def analyse_comb(
    x: NDArray[np.float32], sample_rate_hz: float, config: AcousticConfig
) -> CombAnalysis | None:
    """Harmonic-sum analysis of a mono signal x (n,) float32 at sample_rate_hz."""
    if round(config.segment_s * sample_rate_hz) < 64 or x.shape[0] < 64:
        return None
    spec = _spectrum(x, sample_rate_hz, config)
    g = _grid(config, spec.df, spec.power.shape[0])
    if g is None:
        return None
    grid, usable, lo, hi, w = g.f0_hz, g.usable, g.lo, g.hi, g.weights
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    z_raw = np.where(usable, standardise_peaks(_range_sums(spec.csum_peaks, lo, hi), *g.law), 0.0)
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
    # clipped bands tie on a strong comb over a range of f0: break ties with the unclipped z
    tied = np.flatnonzero(s >= s.max() - 1e-9)
    i_first = (
        int(tied[np.argmax(np.sum(w[tied] * z_raw[tied], axis=1))])
        if tied.shape[0] > 1
        else int(tied[0])
    )
    i_best = _octave_checks(i_first, grid, s, z, w, usable, present_all, config)
    present = present_all[i_best]
    f0 = float(grid[i_best])
    lo_b, hi_b = lo[i_best], hi[i_best]
    ratio = _range_sums(spec.csum_power, lo_b, hi_b) / _range_sums(spec.csum_floor, lo_b, hi_b)
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

    score = float(s[i_best] - np.median(s))
    machine: list[bool] = []
    dropouts = 0
    comb_share = 1.0
    low = None
    # the confuser tests cost more than the rest: only for combs that could be reported
    if np.count_nonzero(present) >= config.min_lines and score >= config.min_score:
        low = _low_fundamental(spec, f0, config)
        nperseg = min(round(config.segment_s * sample_rate_hz), x.shape[0])
        half = _half_spectra(x, nperseg)
        machine = [
            line_is_machine_like(
                spec.power, spec.floor, int(lo_b[i]), int(hi_b[i]), half, spec.df,
                0.5 * nperseg / sample_rate_hz,
            )
            for i in np.flatnonzero(present)
        ]  # fmt: skip
        dropouts = comb_dropouts(x, sample_rate_hz, f0 * k[present], config.tolerance)
        comb_share = _comb_share(spec, f0, config)
    peak_db = max(
        (power_to_db(float(np.max(spec.power[a : b + 1] / spec.floor[a : b + 1])))
         for a, b in zip(lo_b[present], hi_b[present], strict=True)),
        default=0.0,
    )  # fmt: skip
    net = _range_sums(spec.csum_power, lo_b, hi_b) - _range_sums(spec.csum_floor, lo_b, hi_b)
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
        comb_share=comb_share,
        peak_db=peak_db,
        low_fundamental_hz=low,
    )


def _half_spectra(
    x: NDArray[np.float32], n: int
) -> tuple[NDArray[np.complex64], NDArray[np.complex64]]:
    """Hann spectra of the two halves of the first n samples (phase-stability check)."""
    h = n // 2
    w = _hann32(h)
    halves = scipy.fft.rfft(x[: 2 * h].reshape(2, h) * w, axis=1)
    return halves[0], halves[1]


@lru_cache(maxsize=16)
def _hann32(n: int) -> NDArray[np.float32]:
    w = np.hanning(n + 1)[:n].astype(np.float32)  # periodic Hann
    w.flags.writeable = False
    return w


def _mains_locked(f0_hz: float, config: AcousticConfig) -> bool:
    base = config.mains_hz
    n = round(f0_hz / base)
    return n >= 1 and abs(f0_hz - n * base) <= config.mains_tolerance * f0_hz


def comb_confidence(comb: CombAnalysis, config: AcousticConfig = AcousticConfig()) -> float:
    """Confidence that the comb is a multirotor (0 when a hard rule rejects it)."""
    lines = int(np.count_nonzero(comb.present))
    if comb.f0_hz < config.min_f0_hz or lines < config.min_lines:
        return 0.0
    if comb.fill < config.min_fill or comb.score < config.min_score:
        return 0.0
    if comb.low_fundamental_hz is not None or comb.dropouts >= config.max_dropouts:
        return 0.0
    if comb.comb_share < config.min_comb_share:
        return 0.0
    if lines <= config.few_lines and comb.peak_db >= config.loud_line_db:
        return 0.0
    confidence = 1.0 / (1.0 + math.exp(-(comb.score - config.score_mid) / config.score_width))
    if comb.machine_fraction >= config.machine_fraction or (
        _mains_locked(comb.f0_hz, config) and comb.machine_fraction >= 0.5
    ):
        confidence *= config.machine_penalty
    return confidence


def detect_rotor(
    audio: NDArray[Any],
    sample_rate_hz: float,
    *,
    full_scale_db_spl: float | None = None,
    config: AcousticConfig = AcousticConfig(),
) -> list[AcousticDetection]:
    """Detect a multirotor blade-pass comb in one audio frame (typically 1 s).

    audio: (n_channels, n) or (n,) float32, full scale 1.0 (channels are averaged);
    sample_rate_hz: audio rate (analysed up to 0.45 x `config.working_rate_hz`);
    full_scale_db_spl: SPL of a signal of RMS 1.0 (a 1.0 = 1 Pa scale gives 93.98 dB).
    Returns [] or one `AcousticDetection` with signature 'rotor_harmonics', kind 'drone'.
    """
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz=}")
    x = _mono(audio)
    duration_s = x.shape[0] / sample_rate_hz
    # a comb of min_lines harmonics of min_f0 must fit below Nyquist, with the high-pass below
    too_slow = sample_rate_hz < 2.5 * config.min_lines * config.min_f0_hz
    if x.shape[0] < 16 or too_slow or not np.any(x):
        return []
    if not float(np.max(np.abs(x))) <= 1e6:  # full scale is 1.0: not from a microphone
        return []
    comb = analyse_comb(x, sample_rate_hz, config)
    if comb is None:
        return []
    confidence = comb_confidence(comb, config)
    if confidence < config.min_confidence:
        return []
    level = None
    if full_scale_db_spl is not None and comb.line_power > 0.0:
        level = full_scale_db_spl + power_to_db(comb.line_power)
    return [
        AcousticDetection(
            signature="rotor_harmonics",
            kind="drone",
            t_start_s=0.0,
            t_end_s=duration_s,
            f0_hz=comb.f0_hz,
            harmonics=int(np.count_nonzero(comb.present)),
            snr_db=float(np.mean(comb.band_snr_db[comb.present])),
            confidence=round(confidence, 3),
            level_db_spl=level,
        )
    ]
