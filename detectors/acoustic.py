"""Acoustic rotor-harmonic (blade-pass comb) detector, SIGNALS.md §4 and §6.

mono -> 60 Hz 2nd-order Butterworth high-pass -> 16 kHz -> Welch PSD with 0.5 s Hann
segments (~2 Hz bins) -> whitening: dB minus a running median over ±30 Hz, clipped to
0-20 dB (= line prominence) -> log-harmonic sum over a log f0 grid with octave check ->
count harmonic lines -> decision: f0 >= 80 Hz, >= 4 lines, score above a floor, not a
mains-locked comb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, signal

from detectors.spectra import welch_psd
from detectors.units import power_to_db

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AcousticConfig:
    """Settings of `detect_rotor` (defaults from SIGNALS.md §6, not fitted to recordings).

    line_prominence_db: a harmonic counts as a line when its prominence reaches this.
    min_score_db: max harmonic sum minus its median over the f0 grid.
    mains_tolerance: relative distance of f0 to a multiple of `mains_hz` that makes a
      comb suspect of being plant hum; it is then penalised unless its lines are spread.
    """

    working_rate_hz: float = 16_000.0
    highpass_hz: float = 60.0
    segment_s: float = 0.5
    whitening_half_width_hz: float = 30.0
    prominence_max_db: float = 20.0
    f0_min_hz: float = 70.0
    f0_max_hz: float = 2_500.0
    f0_points: int = 360
    max_harmonics: int = 10
    tolerance: float = 0.01
    min_f0_hz: float = 80.0
    min_lines: int = 4
    line_prominence_db: float = 8.0
    min_score_db: float = 3.0
    octave_ratio: float = 0.8
    mains_hz: float = 50.0
    mains_tolerance: float = 0.002
    mains_penalty: float = 0.25
    min_confidence: float = 0.3


@dataclass(frozen=True, slots=True)
class AcousticDetection:
    """A rotor comb heard in one audio frame.

    f0_hz: blade-pass fundamental; harmonics: lines found among k*f0, k <= max_harmonics;
    snr_db: mean prominence of those lines over the local floor; level_db_spl: power of
    the lines in dB SPL when the frame is calibrated, else None.
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

    grid_hz / harmonic_sum_db: (f0_points,) the log-harmonic sum S(f0);
    line_prominence_db: (harmonics considered,) prominence at k*f0 for the chosen f0.
    """

    f0_hz: float
    score_db: float
    grid_hz: F64
    harmonic_sum_db: F64
    line_prominence_db: F64
    line_freqs_hz: F64
    spread_fraction: float
    line_power: float


def _mono(audio: NDArray[Any]) -> NDArray[np.float32]:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ValueError(f"audio must be (n,) or (n_channels, n), got {x.shape=}")
    return x


def _condition(
    x: NDArray[np.float32], sample_rate_hz: float, config: AcousticConfig
) -> tuple[NDArray[np.float32], float]:
    """High-pass, then resample to the working rate (if the input is faster)."""
    sos = signal.butter(2, config.highpass_hz, btype="highpass", fs=sample_rate_hz, output="sos")
    y = signal.sosfilt(sos, x).astype(np.float32)
    rate = sample_rate_hz
    if sample_rate_hz > config.working_rate_hz * 1.001:
        frac = math.gcd(round(config.working_rate_hz), round(sample_rate_hz))
        up = round(config.working_rate_hz) // frac
        down = round(sample_rate_hz) // frac
        y = signal.resample_poly(y, up, down).astype(np.float32)
        rate = sample_rate_hz * up / down
    return y, rate


def _window_max(
    values: F64, lo: NDArray[np.int64], hi: NDArray[np.int64]
) -> tuple[F64, NDArray[np.int64]]:
    """Max of values[lo[i]:hi[i]+1] and its index, for many windows at once."""
    width = int(np.max(hi - lo)) + 1
    idx = lo[..., None] + np.arange(width)
    valid = idx <= hi[..., None]
    idx = np.minimum(idx, values.shape[0] - 1)
    gathered = np.where(valid, values[idx], -np.inf)
    arg = np.argmax(gathered, axis=-1)
    best = np.take_along_axis(gathered, arg[..., None], axis=-1)[..., 0]
    return best, np.take_along_axis(idx, arg[..., None], axis=-1)[..., 0]


def _interpolated_peaks(p_db: F64, idx: NDArray[np.int64]) -> F64:
    """Fractional bin positions of peaks by parabolic interpolation on the dB spectrum."""
    i = np.clip(idx, 1, p_db.shape[0] - 2)
    a, b, c = p_db[i - 1], p_db[i], p_db[i + 1]
    denom = a - 2.0 * b + c
    safe = np.where(np.abs(denom) > 1e-12, denom, -1.0)
    delta = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / safe, 0.0)
    result: F64 = i + np.clip(delta, -0.5, 0.5)
    return result


def analyse_comb(
    x: NDArray[np.float32], sample_rate_hz: float, config: AcousticConfig
) -> CombAnalysis | None:
    """Log-harmonic-sum analysis of a conditioned mono signal (n,) float32."""
    nperseg = round(config.segment_s * sample_rate_hz)
    psd = welch_psd(x, sample_rate_hz, nperseg)
    df = psd.bin_hz
    p_db: F64 = np.asarray(power_to_db(psd.psd.astype(np.float64), floor_db=-250.0), np.float64)
    half = max(1, round(config.whitening_half_width_hz / df))
    floor_db = ndimage.median_filter(p_db, size=2 * half + 1, mode="nearest")
    prom = np.clip(p_db - floor_db, 0.0, config.prominence_max_db)

    nyq_use = 0.45 * sample_rate_hz
    grid = np.geomspace(config.f0_min_hz, min(config.f0_max_hz, nyq_use / 2), config.f0_points)
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    harm = grid[:, None] * k[None, :]
    usable = harm < nyq_use
    lo = np.floor(harm * (1 - config.tolerance) / df).astype(np.int64)
    hi = np.ceil(harm * (1 + config.tolerance) / df).astype(np.int64)
    hi = np.maximum(hi, lo + 2)  # at least three bins
    lo = np.clip(lo, 0, prom.shape[0] - 1)
    hi = np.clip(hi, 0, prom.shape[0] - 1)
    best, _ = _window_max(prom, lo, hi)
    best = np.where(usable, best, 0.0)
    counts = np.maximum(usable.sum(axis=1), 1)
    s = best.sum(axis=1) / counts
    s = np.where(usable.sum(axis=1) >= config.min_lines, s, 0.0)
    if not np.any(s > 0):
        return None

    i_best = int(np.argmax(s))
    # octave check: a comb at f0 also scores well at 2 f0 / 3 f0 (every 2nd / 3rd line);
    # go down to best/d when that scores nearly as well and the lines between are real
    for divisor in (2, 3):
        target = grid[i_best] / divisor
        if target < config.f0_min_hz:
            continue
        j = int(np.argmin(np.abs(np.log(grid / target))))
        if abs(math.log(grid[j] / target)) > 0.01 or s[j] < config.octave_ratio * s[i_best]:
            continue
        between = usable[j] & (k.astype(int) % divisor != 0)
        if np.mean(best[j][between] >= config.line_prominence_db) >= 0.5:
            i_best = j
    # refine f0 on the chosen lines: least-squares slope of peak frequency vs harmonic number
    f0 = float(grid[i_best])
    n_harm = int(min(config.max_harmonics, math.floor(nyq_use / f0)))
    kk = np.arange(1, n_harm + 1, dtype=np.float64)
    lo1 = np.clip(np.floor(kk * f0 * (1 - config.tolerance) / df).astype(np.int64), 0, None)
    hi1 = np.ceil(kk * f0 * (1 + config.tolerance) / df).astype(np.int64)
    hi1 = np.minimum(np.maximum(hi1, lo1 + 2), prom.shape[0] - 1)
    _, line_idx = _window_max(p_db, lo1, hi1)
    line_prom = prom[line_idx]
    line_freqs = _interpolated_peaks(p_db, line_idx) * df
    strong = line_prom >= config.line_prominence_db
    if strong.sum() >= 2:
        f0 = float(np.sum(line_freqs[strong] * kk[strong]) / np.sum(kk[strong] ** 2))

    # spread: a rotor line is a cluster (rotors differ 1-5 %), a mains line one bin wide
    spread = 0
    for idx in line_idx[strong]:
        lo_w = max(0, idx - max(3, int(0.03 * psd.freqs_hz[idx] / df)))
        hi_w = min(prom.shape[0], idx + max(4, int(0.03 * psd.freqs_hz[idx] / df) + 1))
        window = prom[lo_w:hi_w]
        above = window >= prom[idx] - 6.0
        spread += int(np.count_nonzero(above) > 3)
    spread_fraction = spread / max(1, int(strong.sum()))

    lin = psd.psd.astype(np.float64)
    floor_lin = np.power(10.0, floor_db / 10.0)
    line_power = 0.0
    for idx in line_idx[strong]:
        a, b = max(0, idx - 2), min(lin.shape[0], idx + 3)
        line_power += float(np.sum(np.clip(lin[a:b] - floor_lin[a:b], 0.0, None)) * df)

    return CombAnalysis(
        f0_hz=f0,
        score_db=float(s[i_best] - np.median(s)),
        grid_hz=grid,
        harmonic_sum_db=s,
        line_prominence_db=line_prom,
        line_freqs_hz=line_freqs,
        spread_fraction=float(spread_fraction),
        line_power=line_power,
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
    if x.shape[0] < 16 or not np.any(x):
        return []
    y, rate = _condition(x, sample_rate_hz, config)
    comb = analyse_comb(y, rate, config)
    if comb is None:
        return []
    strong = comb.line_prominence_db >= config.line_prominence_db
    lines = int(np.count_nonzero(strong))
    if comb.f0_hz < config.min_f0_hz or lines < config.min_lines:
        return []
    if comb.score_db < config.min_score_db:
        return []
    confidence = 1.0 / (1.0 + math.exp(-(comb.score_db - 6.0) / 1.5))
    confidence *= min(1.0, 0.5 + lines / 12.0)
    if _mains_locked(comb.f0_hz, config) and comb.spread_fraction < 0.25:
        confidence *= config.mains_penalty
    if confidence < config.min_confidence:
        return []
    level = None
    if full_scale_db_spl is not None:
        level = full_scale_db_spl + power_to_db(comb.line_power)
    return [
        AcousticDetection(
            signature="rotor_harmonics",
            kind="drone",
            t_start_s=0.0,
            t_end_s=duration_s,
            f0_hz=comb.f0_hz,
            harmonics=lines,
            snr_db=float(np.mean(comb.line_prominence_db[strong])),
            confidence=round(confidence, 3),
            level_db_spl=level,
        )
    ]
