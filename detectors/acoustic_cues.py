"""Confuser cues measured on a candidate comb (SIGNALS.md §4 "Confusers").

- `low_fundamental`: the comb is every d-th line of a denser comb below `min_f0_hz`
  (helicopter main/tail rotor, 4-stroke mower, genset);
- `comb_share`: share of the strong tonal power in the comb's range that its bands hold
  (music, several voices, servos: several tonal sources);
- `single_line_share`: strong harmonics that are one exactly harmonic line rather than a
  rotor cluster (music, horns, fans).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from detectors.acoustic_config import F64, I64, AcousticConfig
from detectors.acoustic_spectrum import WhitenedSpectrum, band_edges


def low_fundamental(spec: WhitenedSpectrum, f0_hz: float, config: AcousticConfig) -> float | None:
    """f0/d (d = 2..8) below min_f0_hz whose in-between lines m*f0/d (m not a multiple of
    d, 100 Hz .. K*f0, clear of the comb's own bands) mostly stand out too, else None:
    the comb at f0 is then only every d-th line of a low-fundamental source (helicopter
    main/tail rotor, 4-stroke mower, genset: §4 confusers; §6 hard reject f0 < 60 Hz).
    Those sources are governed to < 1 %: their lines are looked for in ±1 % bands."""
    divisors, counts, centres = _low_bands(f0_hz, config)
    if divisors.shape[0] == 0:
        return None
    # f0 of a dense comb is only known to a few per cent (its wide bands catch two lines at
    # high k): look for the low fundamental within ±5 % of f0/d
    scale = _LOW_SCALES
    # (np.outer's products; methods rather than np.* wrappers on these small arrays)
    out = spec.band_z_at_least(scale[:, None] * centres[None, :], config.line_z, config,
                               config.low_tolerance)  # fmt: skip
    starts = np.zeros(counts.shape[0], dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    # per divisor, the share of its bands standing out, at each of the scales
    shares = np.add.reduceat(out, starts, axis=1) / counts
    found = np.flatnonzero(shares.max(axis=0) >= 0.5)
    if found.shape[0] == 0:
        return None
    i = int(found[0])  # the smallest divisor whose bands mostly stand out
    return float(f0_hz / int(divisors[i]) * scale[int(shares[:, i].argmax())])


def _low_bands(f0_hz: float, config: AcousticConfig) -> tuple[I64, I64, F64]:
    """(divisors d, their band counts, the centres m*f0/d of their bands one divisor after
    the other) of `low_fundamental`: d = 2..8 with 10 Hz <= f0/d < min_f0_hz holding at
    least low_min_bands bands; m*f0/d from 100 Hz to the top harmonic, m not a multiple
    of d, clear of the comb's own bands (`_clear_lines`)."""
    top = min(config.max_harmonics * f0_hz, config.band_limit_hz)
    m, d, edge = _clear_lines(config.max_harmonics, config.tolerance)
    g = f0_hz / d  # f0/d of each line's divisor
    # higher f0/d: the octave-down check
    keep = (g < config.min_f0_hz) & (g >= 10.0)
    keep &= m >= np.ceil(100.0 / g)
    keep &= m <= np.floor(top / g)
    # lines exactly 2 x tolerance off a comb line: rounding at this f0 decides, as it did
    at = edge[keep[edge]]
    if at.shape[0]:
        near = np.maximum(np.round(m[at] / d[at]), 1.0) * f0_hz
        keep[at] = np.abs(m[at] * g[at] - near) > 2.0 * config.tolerance * near
    counts = np.bincount(d[keep], minlength=9)  # per d = 0..8
    enough = counts >= max(config.low_min_bands, 1)
    keep &= enough[d]
    divisors = np.flatnonzero(enough)
    centres: F64 = (m * g)[keep]
    return divisors, counts[divisors], centres


@lru_cache(maxsize=8)
def _clear_lines(max_harmonics: int, tolerance: float) -> tuple[I64, I64, I64]:
    """(m, d, edge): every line m*f0/d of `_low_bands` before its f0-dependent limits, d =
    2..8 then m = 1..max_harmonics*d (+1 spare), m not a multiple of d and farther from
    the nearest comb line r*f0 than 2 x tolerance x r*f0, i.e. |m - r d| > 2 tolerance r d
    (f0 divides out); edge: the indices of those lines exactly that far (within 1e-9),
    kept here and judged per f0 (read-only, cached)."""
    d = np.arange(2, 9)[:, None]
    m = np.arange(1, max_harmonics * 8 + 2)[None, :]
    near = np.maximum(np.round(m / d), 1.0) * d
    gap = np.abs(m - near) - 2.0 * tolerance * near
    keep = (m <= max_harmonics * d + 1) & (m % d != 0) & (gap > -1e-9 * near)
    on_edge = np.abs(gap[keep]) <= 1e-9 * near[keep]
    lines = (
        np.broadcast_to(m, keep.shape)[keep], np.broadcast_to(d, keep.shape)[keep],
        np.flatnonzero(on_edge),
    )  # fmt: skip
    for arr in lines:
        arr.flags.writeable = False
    return lines


#: the low fundamental is looked for within ±5 % of f0/d (`low_fundamental`)
_LOW_SCALES = 1.0 + np.linspace(-0.05, 0.05, 21)


def comb_share(spec: WhitenedSpectrum, f0_hz: float, config: AcousticConfig) -> float:
    """Share of the strong tonal power (bins >= strong_line x floor) between f0/2 and the
    top harmonic band that lies in the comb's bands (1.0 when there is none): a rotor comb
    is the only strong tonal source in its range, music and several voices are not."""
    top = min((config.max_harmonics + 0.5) * f0_hz, config.band_limit_hz)
    a, b = round(0.5 * f0_hz / spec.df), min(round(top / spec.df), spec.power.shape[0] - 1)
    ratio = spec.power[a : b + 1] / spec.floor[a : b + 1]
    strong = np.where(ratio >= config.strong_line, ratio - 1.0, 0.0)
    total = float(strong.sum())
    if total <= 0.0:
        return 1.0
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    lo, hi = band_edges(k * f0_hz, spec.df, spec.power.shape[0], config)
    inside = np.zeros(b - a + 1, dtype=bool)
    for i, j in zip(lo.tolist(), hi.tolist(), strict=True):
        inside[max(i - a, 0) : max(j - a + 1, 0)] = True
    return float(strong[inside].sum() / total)


def single_line_share(
    spec: WhitenedSpectrum, f0_hz: float, harmonics: NDArray[np.int64], config: AcousticConfig
) -> tuple[int, float]:
    """(strong bands, share of them holding one line) among harmonics k >= 2 of f0.

    A band is strong when its loudest bin stands `split_peak_db` over the floor: a rotor
    harmonic that loud is a cluster (4 rotors 1-5 % apart, RPM jitter; SIGNALS.md §4
    "Rotor spread", "Split peaks"), so its sub-lines 3-6 dB weaker still clear the peak
    threshold and share the band's peak excess. A band holds one line when the main lobe
    (±2 bins) of its loudest bin carries `single_lobe_fraction` of that excess: a note's
    or a voiced sound's exactly harmonic partial, a horn, a fan. k = 1 is left out: at
    150-200 Hz the rotor sub-lines lie within a few bins of one another.
    """
    k = harmonics[harmonics >= 2].astype(np.float64)
    if k.shape[0] == 0:
        return 0, 0.0
    lo, hi = band_edges(k * f0_hz, spec.df, spec.power.shape[0], config)
    strong = single = 0
    loud = 10.0 ** (config.split_peak_db / 10.0)
    for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
        ratio = spec.power[a : b + 1] / spec.floor[a : b + 1]
        p = int(ratio.argmax())
        if ratio[p] < loud:
            continue
        excess = np.maximum(ratio - config.peak_threshold, 0.0)
        strong += 1
        lobe = float(excess[max(p - 2, 0) : p + 3].sum())
        single += lobe >= config.single_lobe_fraction * float(excess.sum())
    return strong, (single / strong if strong else 0.0)
