"""Continuous carriers: bins that are busy for the whole frame.

A bin whose own time-floor (`NoiseFloor.per_bin`) sits well above the receiver noise of
the span (median of the per-bin floors, assuming carriers fill less than half the span) is
occupied all the time: a downlink, a video link, an analogue FPV transmitter. Such bins
are invisible to the burst detector (a burst is measured against its own bin's floor),
so they are reported here, as bursts lasting the whole frame.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from detectors.arrays import median
from detectors.bursts import Burst, occupied_band
from detectors.floor import NoiseFloor
from detectors.floor_track import FloorTrack
from detectors.spectra import Spectrogram
from detectors.units import db_to_power, power_to_db


def _is_receiver_artefact(lo: int, hi: int, dc_bin: int, dc_guard_bins: int) -> bool:
    """A DC spike (run within `dc_guard_bins` of the centre bin), or a receiver passband
    narrower than the span (run straddling DC symmetrically). A real carrier tuned exactly
    to the centre frequency is missed by the second test: tune off-centre."""
    if abs(lo - dc_bin) <= dc_guard_bins and abs(hi - dc_bin) <= dc_guard_bins:
        return True
    asymmetry = abs((dc_bin - lo) - (hi - dc_bin))
    return lo < dc_bin < hi and asymmetry <= max(2, (hi - lo + 1) // 10)


def runs(flags: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[first, last + 1) of each run of True, in order."""
    steps = np.diff(flags.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = (steps == 1).nonzero()[0].tolist()
    stops = (steps == -1).nonzero()[0].tolist()
    return list(zip(starts, stops, strict=True))


def carrier_burst(
    spec: Spectrogram, band: tuple[float, float, float], excess: float, signal: float,
    cells: int, *, tracked: bool = False,
) -> Burst:  # fmt: skip
    """A carrier spanning the whole snapshot: band = (low edge, high edge, centroid) in
    bins, excess its mean power over the noise, signal its power (full scale)."""
    lo_edge, hi_edge, centroid = band
    return Burst(
        t_start_s=0.0,
        duration_s=spec.n_frames * spec.frame_s,
        freq_offset_hz=spec.bin_offset_hz(centroid),
        bandwidth_hz=(hi_edge - lo_edge) * spec.bin_hz,
        snr_db=power_to_db(excess),
        mean_power_dbfs=power_to_db(signal),
        peak_power_dbfs=power_to_db(signal),
        cells=cells,
        tracked=tracked,
    )


def find_carriers(
    spec: Spectrogram,
    noise: NoiseFloor,
    *,
    min_excess_db: float = 6.0,
    min_bins: int = 3,
    dc_guard_bins: int = 2,
) -> list[Burst]:
    """Carriers present throughout the frame, as `Burst`s spanning [0, frame duration].

    A run of occupied bins that lies entirely within `dc_guard_bins` of the centre bin is
    the receiver's DC offset / LO leakage, not an emitter, and is skipped.
    """
    per_bin = noise.per_bin.astype(np.float64)
    receiver = median(per_bin)
    if receiver <= 0.0:
        return []
    rel = per_bin / receiver
    occupied = rel > db_to_power(min_excess_db)
    if not occupied.any():  # the usual case: no carrier
        return []
    carriers = []
    for lo, stop in runs(occupied):
        hi = stop - 1
        if _is_receiver_artefact(lo, hi, spec.dc_bin, dc_guard_bins):
            continue
        pad = max(2, (hi - lo + 1) // 4)
        a, b = max(0, lo - pad), min(per_bin.shape[0], hi + pad + 1)
        band = occupied_band(per_bin[a:b] - receiver, occupied[a:b])
        if band is None:
            continue
        lo_edge, hi_edge, centroid = (v + a for v in band)
        if hi_edge - lo_edge < min_bins - 0.5:
            continue
        b0, b1 = int(np.floor(lo_edge + 0.5)), int(np.ceil(hi_edge - 0.5)) + 1
        excess = float(np.mean(rel[b0:b1] - 1.0))
        signal = float(np.sum(per_bin[b0:b1] - receiver))
        carriers.append(
            carrier_burst(
                spec, (lo_edge, hi_edge, centroid), excess, signal, (b1 - b0) * spec.n_frames
            )
        )
    return carriers


#: a carrier's rectangular-window leakage k bins away is ~P / (π k)² (sinc² skirts):
#: bins where that exceeds this share of the noise are left out of the tracked test
LEAKAGE_SHARE = 0.01
#: a continuous emitter's band is widened by this share of its width on each side
SKIRT_SHARE = 1.0
#: bins averaged in the flat-vs-Hann floor comparison that finds other leakage (bursts')
LEAK_SMOOTH_BINS = 32


def tracked_carriers(
    spec: Spectrogram,
    noise: NoiseFloor,
    flat_noise: NoiseFloor,
    found: list[Burst],
    track: FloorTrack,
    key: Hashable,
    *,
    dc_guard_bins: int = 2,
    guard_bins: int = 2,
) -> list[Burst]:
    """Continuous emitters too weak for `find_carriers`, found against the sensor's
    receiver-shape reference (`floor_track`) on the rectangular-window floor
    (`flat_noise`: independent bins, every sample counted), as bursts spanning the frame
    (`Burst.tracked`); the frame then teaches the reference. Left out of both: the DC
    bins, the bands of the emitters already `found` (with their leakage reach; continuous
    ones with SKIRT_SHARE of their width each side), and bins whose flat floor stands
    over the Hann floor (`noise`) by 4 sigma over LEAK_SMOOTH_BINS bins: a strong
    burst's or carrier's rectangular leakage."""
    n = flat_noise.per_bin.shape[0]
    if n < track.config.min_span_bins or spec.n_frames < track.config.min_spectrogram_frames:
        return []  # a narrowband receiver, or a short frame (see `FloorTrackConfig`)
    per_bin = flat_noise.per_bin.astype(np.float64)
    busy = np.zeros(n, dtype=bool)
    busy[max(spec.dc_bin - dc_guard_bins, 0) : spec.dc_bin + dc_guard_bins + 1] = True
    for b in found:  # bursts lift their bins' floors by their duty cycle, and leak
        reach = guard_bins + math.ceil(
            math.sqrt(max(db_to_power(b.snr_db), 0.0) / (math.pi**2 * LEAKAGE_SHARE))
        )
        centre = b.freq_offset_hz / spec.bin_hz + spec.dc_bin
        half = 0.5 * b.bandwidth_hz / spec.bin_hz
        if b.duration_s >= 0.9 * spec.n_frames * spec.frame_s:
            # a continuous emitter's skirts (an FM video link's sidebands) reach beyond
            # its measured band: theirs, not another emitter's
            half *= 1.0 + 2.0 * SKIRT_SHARE
        lo, hi = math.floor(centre - half) - reach, math.ceil(centre + half) + reach + 1
        busy[max(lo, 0) : max(min(hi, n), 0)] = True
    hann = noise.per_bin.astype(np.float64)
    ratio = per_bin / np.maximum(hann, 1e-30)
    smooth = ndimage.uniform_filter1d(ratio, LEAK_SMOOTH_BINS, mode="nearest")
    spread = 4.0 * max(flat_noise.rel_std, 1e-3) * math.sqrt(2.0 / LEAK_SMOOTH_BINS)
    busy |= smooth > median(smooth) * (1.0 + spread)
    out = []
    level = median(per_bin[~busy]) if not busy.all() else 0.0
    for band in track.observe(key, per_bin, flat_noise.rel_std, busy):
        width = band.hi - band.lo
        out.append(
            carrier_burst(
                spec,
                (band.lo - 0.5, band.hi - 0.5, 0.5 * (band.lo + band.hi - 1)),
                band.excess,
                band.excess * level * width,
                width * spec.n_frames,
                tracked=True,
            )
        )
    return out
