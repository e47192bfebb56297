"""Continuous carriers wider than half the span: a downlink filling most of the receiver.

`carriers` takes the span's receiver noise as the median of the per-bin floors, which
holds while carriers fill less than half the span. A 10 MHz LTE downlink seen at
15.36 MS/s fills 60 % of it: the median is then the carrier's own level and nothing
stands above it. The per-bin floors are then bimodal: the carrier's bins and, well
below them, the receiver's. So when the span's low floors (`low_quantile`) sit more
than `min_excess_db` under its median, the bins above the geometric middle of the two
are occupied, the receiver noise is the median of the others, and each run of occupied
bins whose mean floor exceeds that noise by `min_excess_db` is a carrier.

A receiver whose passband is narrower than its span (an anti-alias filter rolling off
at both edges) looks the same, with the occupied run centred on DC: such runs are
skipped, as `carriers` skips them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.burst_profiles import occupied_band
from detectors.burst_types import Burst
from detectors.carriers import carrier_burst, runs
from detectors.floor import NoiseFloor
from detectors.spectra import Spectrogram
from detectors.units import db_to_power


@dataclass(frozen=True, slots=True)
class WideCarrierConfig:
    """low_quantile: quantile of the per-bin floors taken as the receiver's side.
    min_excess_db: how far a carrier's mean floor must exceed the receiver noise.
    min_bins: the narrowest run reported (narrower ones are `carriers`' or `rf_lines`').
    centred_tolerance: a run straddling DC with its two sides equal within this share of
      its width (at least 2 bins) is the receiver's passband.
    """

    low_quantile: float = 0.1
    min_excess_db: float = 6.0
    min_bins: int = 8
    centred_tolerance: float = 0.1


def find_wide_carriers(
    spec: Spectrogram, noise: NoiseFloor, config: WideCarrierConfig
) -> list[Burst]:
    """Carriers filling more than half the span, as `Burst`s spanning the whole frame
    (like `carriers.find_carriers`' carriers); [] unless the per-bin floors are bimodal."""
    per_bin = noise.per_bin.astype(np.float64)
    n_bins = per_bin.shape[0]
    if n_bins < 4 * config.min_bins:
        return []
    # order statistics from one partition: the low quantile and the (upper) median
    k_low, k_mid = int(config.low_quantile * (n_bins - 1)), n_bins // 2
    ranked = np.partition(per_bin, (k_low, k_mid))
    low, high = float(ranked[k_low]), float(ranked[k_mid])
    excess = db_to_power(config.min_excess_db)
    if low <= 0.0 or high <= excess * low:  # the usual case: the median is the receiver
        return []
    occupied = per_bin > np.sqrt(low * high)
    if occupied.all():
        return []
    receiver = float(np.median(per_bin[~occupied]))
    dc = spec.dc_bin
    carriers = []
    for lo, hi in runs(occupied):
        width = hi - lo
        if width < config.min_bins:
            continue
        asymmetry = abs((dc - lo) - (hi - 1 - dc))
        if lo < dc < hi - 1 and asymmetry <= max(2, config.centred_tolerance * width):
            continue  # the receiver's own passband
        mean_excess = float(np.mean(per_bin[lo:hi])) / receiver - 1.0
        if mean_excess + 1.0 < excess:
            continue
        signal = per_bin[lo:hi] - receiver
        band = occupied_band(signal, np.ones(width, dtype=bool))
        if band is None:
            continue
        edges = (band[0] + lo, band[1] + lo, band[2] + lo)
        total = float(np.sum(signal))
        carriers.append(carrier_burst(spec, edges, mean_excess, total, width * spec.n_frames))
    return carriers
