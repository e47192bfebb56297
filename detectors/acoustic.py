"""Acoustic rotor-harmonic (blade-pass comb) detector, SIGNALS.md §4 and §6.

mono -> 60 Hz 2nd-order Butterworth high-pass -> 16 kHz -> 1 s Hann periodogram (1 Hz bins;
Welch over 1 s segments when the frame is longer) -> noise floor: running median over
±80 Hz -> for every f0 on a log grid and harmonic k <= 10, the power integrated over the
band k*f0*(1 +- 3 %) (at least ±2 bins) against the floor integrated over the same band ->
per-band significance -log10 Pfa from the Gamma law of a sum of Hann bins (the energy
detector of §6) -> log-harmonic sum S(f0) = sum_k (clipped significance - its noise mean)
-> octave checks -> f0 refined from the band centroids -> decision: f0 >= 80 Hz, >= 4
harmonic clusters, score above a floor; combs of one-bin, phase-stable lines (machinery)
and narrow combs locked to k*50 Hz (mains) are down-weighted.

Why bands and not peaks: a rotor harmonic is a cluster, not a line (4 rotors differing
1-5 %, RPM jitter ~1 %), so each sub-line carries ~1/4 of the power and the cluster spans
±(2-5 %)*k*f0, tens of Hz at k >= 4; a peak picker at ±1 % with a ±30 Hz median floor
misses it while the integrated band keeps all of its power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from detectors.acoustic_features import (
    band_significance,
    band_sums,
    hann_effective_cells,
    line_is_machine_like,
    running_median_floor,
)
from detectors.spectra import welch_psd
from detectors.units import power_to_db

F64 = NDArray[np.float64]

#: mean of -log10(U), U uniform: what a noise-only band adds to the harmonic sum on average
_NOISE_SIGNIFICANCE = 1.0 / math.log(10.0)


@dataclass(frozen=True, slots=True)
class AcousticConfig:
    """Settings of `detect_rotor`; every default is taken from SIGNALS.md §4/§6 or derived
    from its false-alarm arithmetic, none is fitted to recordings.

    segment_s: periodogram length (§6: 1 s gives 1 Hz bins, resolves rotor splits).
    floor_half_width_hz: running-median floor half width (§4 comb row: 80 Hz floor),
      wide enough that a 60 Hz-wide cluster does not lift its own floor.
    tolerance: relative half width of a harmonic band; rotors differ up to 5 % (±2.5 %
      around their mean) plus ~0.5 % hover jitter (p5-p95 1 %) -> 3 %.
    min_band_bins: band half width floor in bins (a Hann main lobe is ±2 bins).
    floor_uncertainty_db: the running-median floor is only known to ~1 dB on real,
      non-Gaussian backgrounds (§6 SNR wall: 1 dB -> -3.3 dB); band ratios are divided by
      it before the significance test, so wide bands cannot count on a floor bias.
    line_significance: -log10 Pfa for a band to count as a harmonic cluster; 2 (Pfa 1e-2)
      gives P(>= 4 of 10 bands) ~ 2e-6 per f0 under noise, ~2e-4 per frame over the grid,
      before persistence (§6: M-of-N).
    significance_cap: clip of one band's significance so one loud tone cannot make a comb.
    min_score: harmonic sum minus its median over the grid (units of -log10 Pfa).
    score_mid / score_width: logistic map of the score to confidence; the midpoint is the
      score of four harmonics at Pfa 1e-3 among ten bands (4 * 3 - 10 * 0.43 ~ 7.7) rounded
      down to 6, so that a just-countable comb sits at ~0.7.
    min_fill: share of the bands up to the highest cluster that hold a cluster; a rotor
      comb has lines at every k (a ground notch may remove one, §6 HPS note), a siren's
      turning points or a few unrelated tones fall on scattered k.
    machine_fraction: share of the comb's lines that are one-bin, phase-stable for the comb
      to be called machinery (fans, servos, hum); it is then multiplied by machine_penalty.
    mains_tolerance: relative distance of f0 to a multiple of `mains_hz` for plant hum.
    """

    working_rate_hz: float = 16_000.0
    highpass_hz: float = 60.0
    segment_s: float = 1.0
    floor_half_width_hz: float = 80.0
    f0_min_hz: float = 70.0
    f0_max_hz: float = 2_500.0
    f0_points: int = 360
    max_harmonics: int = 10
    tolerance: float = 0.03
    min_band_bins: int = 2
    floor_uncertainty_db: float = 0.5
    line_significance: float = 1.3
    significance_cap: float = 8.0
    min_f0_hz: float = 80.0
    min_lines: int = 4
    min_score: float = 7.0
    score_mid: float = 9.0
    score_width: float = 2.0
    octave_ratio: float = 0.8
    min_fill: float = 0.5
    machine_fraction: float = 0.75
    machine_penalty: float = 0.25
    mains_hz: float = 50.0
    mains_tolerance: float = 0.002
    min_confidence: float = 0.3


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

    grid_hz / harmonic_sum: (f0_points,) the log-harmonic sum S(f0) (units of -log10 Pfa);
    band_snr_db / band_significance: (max_harmonics,) per harmonic band at the chosen f0
    (0 where k*f0 is beyond the usable band); present: (max_harmonics,) bool clusters;
    machine_fraction: share of present clusters that are one-bin, phase-stable lines;
    line_power: summed excess power of the present clusters (full-scale units);
    low_fundamental_hz: set when the comb is the upper part of a denser comb whose
      fundamental f0/d lies below `min_f0_hz` (helicopter rotors, mowers, gensets, §4).
    """

    f0_hz: float
    score: float
    grid_hz: F64
    harmonic_sum: F64
    band_snr_db: F64
    band_significance: F64
    present: NDArray[np.bool_]
    machine_fraction: float
    line_power: float
    low_fundamental_hz: float | None = None

    @property
    def fill(self) -> float:
        """Share of the bands k = 1..(highest present) that hold a cluster."""
        ks = np.flatnonzero(self.present)
        return float(ks.shape[0] / (ks[-1] + 1)) if ks.shape[0] else 0.0


def _mono(audio: NDArray[Any]) -> NDArray[np.float32]:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ValueError(f"audio must be (n,) or (n_channels, n), got {x.shape=}")
    return x


@lru_cache(maxsize=16)
def _highpass_sos(cutoff_hz: float, sample_rate_hz: float) -> NDArray[np.float64]:
    # sosfilt needs a writable array: callers get a copy of this cached design
    sos: NDArray[np.float64] = signal.butter(
        2, cutoff_hz, btype="highpass", fs=sample_rate_hz, output="sos"
    )
    return sos


@lru_cache(maxsize=16)
def _hann(n: int) -> NDArray[np.float64]:
    w: NDArray[np.float64] = signal.windows.hann(n, sym=False)
    w.flags.writeable = False
    return w


def _condition(
    x: NDArray[np.float32], sample_rate_hz: float, config: AcousticConfig
) -> tuple[NDArray[np.float32], float]:
    """High-pass, then resample to the working rate (if the input is faster)."""
    y = signal.sosfilt(_highpass_sos(config.highpass_hz, sample_rate_hz).copy(), x).astype(
        np.float32
    )
    rate = sample_rate_hz
    if sample_rate_hz > config.working_rate_hz * 1.001:
        frac = math.gcd(round(config.working_rate_hz), round(sample_rate_hz))
        up = round(config.working_rate_hz) // frac
        down = round(sample_rate_hz) // frac
        y = signal.resample_poly(y, up, down).astype(np.float32)
        rate = sample_rate_hz * up / down
    return y, rate


def _band_edges(
    centres_hz: F64, df: float, n_bins: int, config: AcousticConfig
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    half = np.maximum(centres_hz * config.tolerance / df, config.min_band_bins)
    lo = np.clip(np.floor(centres_hz / df - half), 0, n_bins - 1).astype(np.int64)
    hi = np.clip(np.ceil(centres_hz / df + half), 0, n_bins - 1).astype(np.int64)
    return lo, hi


def _half_spectra(
    y: NDArray[np.float32], n: int
) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
    """Hann spectra of the two halves of the first n samples (phase-stability check)."""
    h = n // 2
    w = _hann(h)
    first = np.fft.rfft(y[:h].astype(np.float64) * w)
    second = np.fft.rfft(y[h : 2 * h].astype(np.float64) * w)
    return first, second


def _low_fundamental(
    power: F64,
    floor: F64,
    df: float,
    f0_hz: float,
    segments: int,
    nyq_use: float,
    config: AcousticConfig,
) -> float | None:
    """f0/d (d = 2..8) below min_f0_hz whose in-between bands m*f0/d (m not a multiple of
    d, 100 Hz .. K*f0) mostly hold clusters too, else None: the comb at f0 is then only
    every d-th line of a low-fundamental source (helicopter main/tail rotor, 4-stroke
    mower, genset: §4 confusers; §6 hard reject f0 < 60 Hz)."""
    top = min(config.max_harmonics * f0_hz, nyq_use)
    for divisor in range(2, 9):
        g = f0_hz / divisor
        if g >= config.min_f0_hz:
            continue  # handled by the octave-down check on the grid
        if g < 10.0:
            break
        m = np.arange(math.ceil(100.0 / g), math.floor(top / g) + 1)
        m = m[m % divisor != 0]
        if m.shape[0] < config.min_lines:
            continue
        lo, hi = _band_edges(m * g, df, power.shape[0], config)
        ratio = band_sums(power, lo, hi) / band_sums(floor, lo, hi)
        ratio *= 10.0 ** (-config.floor_uncertainty_db / 10.0)
        sig = band_significance(ratio, hann_effective_cells(hi - lo + 1, segments), 1.0e3)
        if np.mean(sig >= config.line_significance) >= 0.5:
            return float(g)
    return None


def analyse_comb(
    x: NDArray[np.float32], sample_rate_hz: float, config: AcousticConfig
) -> CombAnalysis | None:
    """Band log-harmonic-sum analysis of a conditioned mono signal (n,) float32."""
    nperseg = min(x.shape[0], round(config.segment_s * sample_rate_hz))
    if nperseg < 64:
        return None
    psd = welch_psd(x, sample_rate_hz, nperseg)
    df = float(sample_rate_hz / nperseg)
    power = psd.psd.astype(np.float64)
    floor = running_median_floor(power, max(3, round(config.floor_half_width_hz / df)))
    floor = np.maximum(floor, np.finfo(np.float64).tiny)
    n_bins = power.shape[0]

    nyq_use = 0.45 * sample_rate_hz
    f0_top = min(config.f0_max_hz, nyq_use / ((config.min_lines) * (1 + config.tolerance)))
    if f0_top <= config.f0_min_hz:
        return None
    grid = np.geomspace(config.f0_min_hz, f0_top, config.f0_points)
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    centres = grid[:, None] * k[None, :]
    usable = centres * (1 + config.tolerance) < nyq_use
    lo, hi = _band_edges(centres, df, n_bins, config)
    ratio = band_sums(power, lo, hi) / band_sums(floor, lo, hi)
    cells = hann_effective_cells(hi - lo + 1, psd.segments)
    margin = 10.0 ** (-config.floor_uncertainty_db / 10.0)
    sig = band_significance(ratio * margin, cells, config.significance_cap)
    sig = np.where(usable, sig, 0.0)
    present_all = usable & (sig >= config.line_significance)
    s = np.sum(np.where(usable, sig - _NOISE_SIGNIFICANCE, 0.0), axis=1)

    i_best = int(np.argmax(s))
    odd = k.astype(int) % 2 == 1
    # octave up: when the odd bands carry under a quarter (-6 dB) of what the even bands
    # carry, f0 is a sub-harmonic of the comb (the half-integer bands of 2 f0 are empty,
    # the HIR test of §6); a lone odd band is typically the shaft line RPM/60 = BPF/2
    j_up = int(np.argmin(np.abs(np.log(grid / (2 * grid[i_best])))))
    contrib = np.where(usable[i_best], sig[i_best] - _NOISE_SIGNIFICANCE, 0.0)
    s_even = float(np.sum(contrib[~odd]))
    if (
        float(np.sum(contrib[odd])) < 0.25 * s_even
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
        between = usable[j] & (k.astype(int) % divisor != 0)
        if np.any(between) and np.mean(present_all[j][between]) >= 0.5:
            i_best = j

    present = present_all[i_best]
    f0 = float(grid[i_best])
    # refine f0: weighted least squares of band centroids (net excess power) vs k
    excess = np.maximum(power - floor, 0.0)
    freqs = np.arange(n_bins, dtype=np.float64) * df
    lo_b, hi_b = lo[i_best], hi[i_best]
    if np.count_nonzero(present) >= 2:
        w_band = band_sums(excess, lo_b, hi_b)
        centroid = band_sums(excess * freqs, lo_b, hi_b) / np.maximum(w_band, 1e-300)
        weight = np.where(present, sig[i_best], 0.0)
        f0 = float(np.sum(weight * k * centroid) / np.sum(weight * k * k))

    low = _low_fundamental(power, floor, df, f0, psd.segments, nyq_use, config)
    half = _half_spectra(x, nperseg)
    machine = [
        line_is_machine_like(
            power, floor, int(lo_b[i]), int(hi_b[i]), half, df, 0.5 * nperseg / sample_rate_hz
        )
        for i in np.flatnonzero(present)
    ]
    line_power = float(np.sum(band_sums(power - floor, lo_b, hi_b)[present]) * df)
    return CombAnalysis(
        f0_hz=f0,
        score=float(s[i_best] - np.median(s)),
        grid_hz=grid,
        harmonic_sum=s,
        band_snr_db=np.where(usable[i_best], power_to_db(ratio[i_best]), 0.0),
        band_significance=sig[i_best],
        present=present,
        machine_fraction=float(np.mean(machine)) if machine else 0.0,
        line_power=max(line_power, 0.0),
        low_fundamental_hz=low,
    )


def _mains_locked(f0_hz: float, config: AcousticConfig) -> bool:
    base = config.mains_hz
    n = round(f0_hz / base)
    return n >= 1 and abs(f0_hz - n * base) <= config.mains_tolerance * f0_hz


def detect_rotor(
    audio: NDArray[Any],
    sample_rate_hz: float,
    *,
    full_scale_db_spl: float | None = None,
    config: AcousticConfig = AcousticConfig(),
) -> list[AcousticDetection]:
    """Detect a multirotor blade-pass comb in one audio frame (typically 1 s).

    audio: (n_channels, n) or (n,) float32, full scale 1.0 (channels are averaged);
    sample_rate_hz: audio rate (resampled to `config.working_rate_hz` if higher);
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
    y, rate = _condition(x, sample_rate_hz, config)
    comb = analyse_comb(y, rate, config)
    if comb is None:
        return []
    lines = int(np.count_nonzero(comb.present))
    if comb.f0_hz < config.min_f0_hz or lines < config.min_lines:
        return []
    if comb.fill < config.min_fill:
        return []
    if comb.low_fundamental_hz is not None:
        return []
    if comb.score < config.min_score:
        return []
    confidence = 1.0 / (1.0 + math.exp(-(comb.score - config.score_mid) / config.score_width))
    confidence *= min(1.0, 0.5 + lines / 8.0)
    if comb.machine_fraction >= config.machine_fraction or (
        _mains_locked(comb.f0_hz, config) and comb.machine_fraction >= 0.5
    ):
        confidence *= config.machine_penalty
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
            harmonics=lines,
            snr_db=float(np.mean(comb.band_snr_db[comb.present])),
            confidence=round(confidence, 3),
            level_db_spl=level,
        )
    ]
