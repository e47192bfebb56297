"""Continuous carriers: bins that are busy for the whole frame.

A bin whose own time-floor (`NoiseFloor.per_bin`) sits well above the receiver noise of
the span (median of the per-bin floors, assuming carriers fill less than half the span) is
occupied all the time: a downlink, a video link, an analogue FPV transmitter. Such bins
are invisible to the burst detector (a burst is measured against its own bin's floor),
so they are reported here, as bursts lasting the whole frame.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from numpy.typing import NDArray

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


def _median(values: NDArray[np.float64]) -> float:
    """`np.median` of a 1-D float64 array, bit for bit, from one partition."""
    n = values.shape[0]
    mid = n // 2
    if n % 2:
        return float(np.partition(values, mid)[mid])
    part = np.partition(values, (mid - 1, mid))
    return (float(part[mid - 1]) + float(part[mid])) / 2.0


def runs(flags: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[first, last + 1) of each run of True, in order."""
    steps = np.diff(flags.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = (steps == 1).nonzero()[0].tolist()
    stops = (steps == -1).nonzero()[0].tolist()
    return list(zip(starts, stops, strict=True))


def carrier_burst(
    spec: Spectrogram, band: tuple[float, float, float], excess: float, signal: float,
    cells: int,
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
    receiver = _median(per_bin)
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


def tracked_carriers(
    spec: Spectrogram,
    flat_noise: NoiseFloor,
    found: list[Burst],
    track: FloorTrack,
    key: Hashable,
    *,
    guard_bins: int = 2,
) -> list[Burst]:
    """Continuous emitters too weak for `find_carriers`, found against the sensor's
    receiver-shape reference (`floor_track`) on the rectangular-window floor, as bursts
    spanning the frame; the frame then teaches the reference, except the bins of the
    carriers already `found` (those bands are not reported twice)."""
    per_bin = flat_noise.per_bin.astype(np.float64)
    n = per_bin.shape[0]
    busy = np.zeros(n, dtype=bool)
    whole = spec.n_frames * spec.frame_s
    for b in found:
        if b.duration_s < 0.9 * whole:
            continue  # bursts: the censored floor ignores them
        lo = int(np.floor((b.freq_offset_hz - 0.5 * b.bandwidth_hz) / spec.bin_hz)) + spec.dc_bin
        hi = int(np.ceil((b.freq_offset_hz + 0.5 * b.bandwidth_hz) / spec.bin_hz)) + spec.dc_bin
        busy[max(lo - guard_bins, 0) : max(min(hi + guard_bins + 1, n), 0)] = True
    out = []
    for band in track.observe(key, per_bin, flat_noise.rel_std, busy):
        if busy[band.lo : band.hi].any():
            continue
        level = float(np.median(per_bin))
        out.append(
            carrier_burst(
                spec,
                (band.lo - 0.5, band.hi - 0.5, 0.5 * (band.lo + band.hi - 1)),
                band.excess,
                band.excess * level * (band.hi - band.lo),
                (band.hi - band.lo) * spec.n_frames,
            )
        )
    return out
