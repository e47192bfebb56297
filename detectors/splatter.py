"""By-products of strong bursts: splatter, switching transients and re-measured pieces.

A transmitter's spectrum is no brick wall. The on/off ramps of a 79 dB GSM burst and
the frequency jumps of LoRa chirps spread energy across the span while the burst is on
(aliased round the band edge when the span is narrow), and Hann sidelobes (-31.5 dB)
leak the burst into distant bins. That energy is born and dies with the strong burst, so
a weak region lying mostly inside the time span of a much stronger burst (padded by a
few STFT columns for the ramps) is a by-product of it, not a second emitter, when it is
more than `dynamic_range_db` weaker. A shorter region inside a burst's time span that
is centred on it and a few times wider (its skirts), or that overlaps it about as strong
in-band (SNR, a spectral density, within `remeasure_snr_db`), is that burst measured
again from a side region: drop it as well.

Both tests lose a genuine emitter only when it is hidden under a far stronger burst for
most of its duration, which the receiver's dynamic range would not resolve anyway.

`deduplicate` drops a burst lying mostly inside a bigger one: the same burst measured
again from another fragment of a low-SNR region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.burst_types import Burst


@dataclass(frozen=True, slots=True)
class SplatterConfig:
    """dynamic_range_db: a weaker burst this far below a coincident one is its splatter
      (Hann first sidelobe -31.5 dB; transmit masks -30 dB at the adjacent channel).
    edge_frames: STFT columns added to each side of the strong burst (on/off ramps).
    min_inside: fraction of the weak burst's duration that must fall in that span.
    skirt_widening: a shorter burst centred on the other (within half its bandwidth) and at
      most this many times as wide is its skirts (chirp clicks, shoulders); a wide emitter
      that happens to share the centre (a Wi-Fi channel over an RC packet) is wider still.
    remeasure_snr_db / remeasure_widening: a shorter burst at most `remeasure_widening` x
      as wide overlapping the other with an SNR within `remeasure_snr_db` of it is the
      same burst measured again.
    """

    dynamic_range_db: float = 30.0
    edge_frames: float = 3.0
    min_inside: float = 0.5
    remeasure_snr_db: float = 6.0
    remeasure_widening: float = 3.0
    skirt_widening: float = 8.0


def _inside_fraction(weak: Burst, strong: Burst, pad_s: float) -> float:
    lo = max(weak.t_start_s, strong.t_start_s - pad_s)
    hi = min(weak.t_end_s, strong.t_end_s + pad_s)
    return max(0.0, hi - lo) / weak.duration_s if weak.duration_s > 0 else 0.0


def _bands_overlap(a: Burst, b: Burst) -> bool:
    return abs(a.freq_offset_hz - b.freq_offset_hz) < 0.5 * (a.bandwidth_hz + b.bandwidth_hz)


def is_by_product(weak: Burst, strong: Burst, frame_s: float, config: SplatterConfig) -> bool:
    """True if `weak` is splatter of, or a re-measured piece of, `strong`."""
    if weak is strong:
        return False
    if _inside_fraction(weak, strong, config.edge_frames * frame_s) < config.min_inside:
        return False
    if weak.mean_power_dbfs <= strong.mean_power_dbfs - config.dynamic_range_db:
        return True
    if weak.duration_s >= strong.duration_s:
        return False
    if strong.bandwidth_hz <= 0.0:
        return False
    widening = weak.bandwidth_hz / strong.bandwidth_hz
    centred = abs(weak.freq_offset_hz - strong.freq_offset_hz) <= 0.5 * strong.bandwidth_hz
    if centred and widening <= config.skirt_widening:
        return True
    return (
        widening <= config.remeasure_widening
        and _bands_overlap(weak, strong)
        and weak.snr_db >= strong.snr_db - config.remeasure_snr_db
    )


def by_product_matrix(
    bursts: list[Burst], frame_s: float, config: SplatterConfig = SplatterConfig()
) -> NDArray[np.bool_]:
    """(n, n) matrix: entry [i, j] is `is_by_product(bursts[i], bursts[j], ...)`, the same
    tests in the same floating-point operations, for all pairs at once."""
    t0 = np.array([b.t_start_s for b in bursts])
    dur = np.array([b.duration_s for b in bursts])
    freq = np.array([b.freq_offset_hz for b in bursts])
    bw = np.array([b.bandwidth_hz for b in bursts])
    snr = np.array([b.snr_db for b in bursts])
    power = np.array([b.mean_power_dbfs for b in bursts])
    t1 = t0 + dur
    pad = config.edge_frames * frame_s
    # rows: the weak burst, columns: the strong one
    inside = np.maximum(np.minimum(t1[:, None], t1 + pad) - np.maximum(t0[:, None], t0 - pad), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(dur[:, None] > 0, inside / dur[:, None], 0.0)
        widening = bw[:, None] / bw
    coincident = fraction >= config.min_inside
    np.fill_diagonal(coincident, False)
    weaker = power[:, None] <= power - config.dynamic_range_db
    candidate = (dur[:, None] < dur) & (bw > 0.0)
    offset = np.abs(freq[:, None] - freq)
    skirts = (offset <= 0.5 * bw) & (widening <= config.skirt_widening)
    remeasured = (
        (widening <= config.remeasure_widening)
        & (offset < 0.5 * (bw[:, None] + bw))
        & (snr[:, None] >= snr - config.remeasure_snr_db)
    )
    result: NDArray[np.bool_] = coincident & (weaker | (candidate & (skirts | remeasured)))
    return result


def drop_by_products(
    bursts: list[Burst], frame_s: float, config: SplatterConfig = SplatterConfig()
) -> list[Burst]:
    """`bursts` without the by-products of the others (order kept).

    frame_s: STFT hop of the spectrogram the bursts were measured on.
    """
    if len(bursts) < 2:
        return list(bursts)
    dropped: list[bool] = np.asarray(
        by_product_matrix(bursts, frame_s, config).any(axis=1)
    ).tolist()
    return [b for b, drop in zip(bursts, dropped, strict=True) if not drop]


def box_overlaps(bursts: list[Burst]) -> NDArray[np.float64]:
    """(n, n) overlap of each pair of bursts' time-frequency boxes, relative to the smaller
    box (0 where they do not overlap or the smaller box is empty)."""
    t0 = np.array([b.t_start_s for b in bursts])
    dur = np.array([b.duration_s for b in bursts])
    freq = np.array([b.freq_offset_hz for b in bursts])
    bw = np.array([b.bandwidth_hz for b in bursts])
    t1 = t0 + dur
    lo, hi = freq - bw / 2, freq + bw / 2
    dt = np.minimum(t1[:, None], t1) - np.maximum(t0[:, None], t0)
    df = np.minimum(hi[:, None], hi) - np.maximum(lo[:, None], lo)
    area = dur * bw
    smaller = np.minimum(area[:, None], area)
    overlap: NDArray[np.float64] = np.zeros_like(dt)
    ok = (dt > 0) & (df > 0) & (smaller > 0)
    overlap[ok] = dt[ok] * df[ok] / smaller[ok]
    return overlap


def deduplicate(bursts: list[Burst], max_overlap: float = 0.7) -> list[Burst]:
    """Bursts without those lying mostly (`max_overlap` of the smaller box) inside a bigger
    one, biggest first (a burst split into regions at low SNR is measured from each
    fragment)."""
    if len(bursts) < 2:
        return list(bursts)
    overlap = box_overlaps(bursts)
    # biggest box first; a stable sort keeps the given order among equal boxes
    order = sorted(range(len(bursts)), key=lambda i: -bursts[i].duration_s * bursts[i].bandwidth_hz)
    kept: list[int] = []
    for i in order:
        if not kept or bool((overlap[i, kept] < max_overlap).all()):
            kept.append(i)
    return [bursts[i] for i in kept]
