"""Weak continuous lines: a few bins whose noise floor stands above their neighbours'.

`carriers` reports bins whose own floor sits 6 dB or more over the span's receiver noise.
A continuous emitter weaker than that still lifts the floor of its bins, and when its
power sits on a few fixed frequencies the lift is far above the floor's own scatter: an
analogue FM video carrier spends its sync tips and blanking (a quarter of each 64 µs
line) on two fixed frequencies, which stand 1-3 dB over the floor when the carrier's
in-band SNR is -10 dB, while the floor of one bin is known to about ±4 % (`NoiseFloor.
rel_std`). Its picture content, spread over 15-20 MHz and changing only slowly, is
invisible to the burst scan (the floor absorbs it), so these lines are what is left.

A bin's floor is compared with the median floor of the `reference_bins` around it (the
local receiver noise, which follows a receiver's slow passband ripple), averaged over
1, 2, 4 and 8 bins. A run of bins is a line when some average over it exceeds a
Gaussian threshold on the floor's scatter (Bonferroni over bins and widths, at the
frame's false-alarm probability) plus `flatness_db`, an allowance for ripple within the
window; and when it is narrow (the edges of a wide carrier, seen against a window half
outside it, make wide runs) and clear of carriers already reported (their skirts).
Costs a median filter and a few passes over the (n_bins,) floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special

from detectors.burst_profiles import occupied_band
from detectors.burst_types import Burst
from detectors.carriers import carrier_burst, runs
from detectors.floor import NoiseFloor
from detectors.spectra import Spectrogram, effective_cells
from detectors.units import db_to_power

F64 = NDArray[np.float64]

_WIDTHS = (1, 2, 4, 8)


@dataclass(frozen=True, slots=True)
class LineConfig:
    """pfa_frame: false-alarm probability per frame, split over bins and widths.
    flatness_db: how far a receiver's own floor may rise over `reference_bins` bins
      (ripple, a weak spur is a line anyway); added to the statistical threshold.
    reference_bins: width of the running median that gives the local receiver noise.
    max_width_bins: the widest run that is a line (a quarter of the reference window).
    carrier_excess_db: bins this far over the receiver noise are `carriers`' (with their
      skirts out to max_width_bins): not lines.
    dc_guard_bins: a run this close to the centre bin is the receiver's DC offset.
    """

    pfa_frame: float = 1e-4
    flatness_db: float = 0.5
    reference_bins: int = 33
    max_width_bins: int = 8
    carrier_excess_db: float = 6.0
    dc_guard_bins: int = 2


def _thresholds(spec: Spectrogram, rel_std: float, config: LineConfig) -> list[float]:
    """Excess over the local reference that a mean over w bins (each of _WIDTHS) of a
    noise-only floor exceeds with probability pfa_frame / (bins x widths)."""
    n_bins = spec.power.shape[1]
    z = float(special.ndtri(1.0 - config.pfa_frame / (n_bins * len(_WIDTHS))))
    # the median of n noise floors scatters sqrt(pi / 2n) times one floor
    reference_var = math.pi / (2.0 * config.reference_bins)
    flatness = db_to_power(config.flatness_db) - 1.0
    out = []
    for w in _WIDTHS:
        cells = effective_cells(spec.window, spec.nfft, 1, w)  # Hann bins are correlated
        out.append(flatness + z * rel_std * math.sqrt(1.0 / cells + reference_var))
    return out


def find_lines(spec: Spectrogram, noise: NoiseFloor, config: LineConfig) -> list[Burst]:
    """Weak continuous lines of a spectrogram (see the module docstring), as `Burst`s
    spanning the whole frame, like `carriers.find_carriers`' carriers."""
    per_bin = noise.per_bin.astype(np.float64)
    n_bins = per_bin.shape[0]
    if n_bins < 2 * config.reference_bins or noise.rel_std <= 0.0:
        return []
    reference = ndimage.median_filter(per_bin, size=config.reference_bins, mode="nearest")
    excess = per_bin / np.maximum(reference, 1e-300) - 1.0
    limits = _thresholds(spec, noise.rel_std, config)
    if float(excess.max()) <= limits[-1]:  # the usual case: no line (the widest is lowest)
        return []
    flags = np.zeros(n_bins, dtype=bool)
    cumulative = np.concatenate(([0.0], np.cumsum(excess)))
    for w, limit in zip(_WIDTHS, limits, strict=True):
        means = (cumulative[w:] - cumulative[:-w]) / w  # bins i .. i + w - 1
        for i in np.flatnonzero(means > limit).tolist():
            flags[i : i + w] = True
    receiver = float(np.median(per_bin))
    carrier = per_bin > receiver * db_to_power(config.carrier_excess_db)
    near_carrier = ndimage.binary_dilation(carrier, iterations=config.max_width_bins)
    lines = []
    for first, last in runs(flags):
        # a window's flags reach past the line: keep its bins over half its peak excess
        peak = float(excess[first:last].max())
        strong = np.flatnonzero(excess[first:last] >= 0.5 * peak)
        lo, hi = first + int(strong[0]), first + int(strong[-1]) + 1
        if hi - lo > config.max_width_bins or near_carrier[lo:hi].any():
            continue
        if abs(lo - spec.dc_bin) <= config.dc_guard_bins + 1 or abs(hi - 1 - spec.dc_bin) <= (
            config.dc_guard_bins + 1
        ):
            continue
        signal = per_bin[lo:hi] - reference[lo:hi]
        band = occupied_band(signal, np.ones(hi - lo, dtype=bool))
        if band is None:
            continue
        lo_edge, hi_edge, centroid = (v + lo for v in band)
        hi_edge = max(hi_edge, lo_edge + 1.0)  # at least one bin wide
        lines.append(
            carrier_burst(
                spec,
                (lo_edge, hi_edge, centroid),
                float(np.mean(excess[lo:hi])),
                float(np.sum(signal)),
                (hi - lo) * spec.n_frames,
            )
        )
    return lines
