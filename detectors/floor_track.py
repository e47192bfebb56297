"""A per-sensor reference of the receiver's noise shape across its span, and the wide
continuous emitters it reveals.

A continuous emitter (an analogue FPV video link, a downlink) lifts its bins' own time
floor, so no burst ever stands above it; `carriers` and `rf_wide` see it only where its
bins' floors stand several dB over the span's receiver noise. But the receiver's noise
across its span has a shape (anti-alias roll-off, ripple) that stays put from frame to
frame, up to a gain. Learnt from earlier frames (`FloorTrack`, one reference per tuning),
that shape turns each bin's floor estimate into a ratio q = floor / shape that is flat
for noise; a band of B bins raised by s then stands out of the rest of the span when

    s / sqrt(σ² (1 + 1/n) (1/B + 1/B_out)) > z

(σ: one bin's floor scatter, the larger of `NoiseFloor.rel_std` and what the span shows;
n: frames averaged into the reference; B_out: the bins compared against). The rest of
the span, not an absolute level, sets the gain, so a gain drift changes nothing. Bands
of 16 bins up to half the span are tried at ×√2 widths and 1/8-width steps, every test
at the frame's `pfa` split over them (Bonferroni). Wider ones fill the span (`rf_wide`).
Bins standing alone over their neighbours (the DC spike, a narrow line: `rf_lines`' and
`carriers`' business) and the caller's `busy` bins count on neither side.

The reference learns every frame's bins except the busy ones, at a memory of
~`memory_frames`; where the frame stands locally over it (a band found, or a 32-bin mean
3 σ up) ~`SLOWDOWN` times slower, so that an emitter coming on is not learnt before it is
seen. It starts again when the tuning is new (the last `max_tunings` are kept), at a gain
step (`gain_step_db`: a receiver's passband can change with its gain stages), or when
the frame no longer fits it: outside the bands found, the variance of log(floor / shape)
over `mismatch` times what neighbouring-bin differences show (noise alone: about 1; a
wrong or stale shape: more), or a band 6 dB up that the frame's own floors did not show
(`carriers` would have), or one reaching into the span's outer 1/32 (its roll-off).
Nothing is tested before `min_frames`, nor while emitters found in the frame take more
than half the span; a frame with unusable floors (a dropout) is neither tested nor
learnt. A continuous emitter already on when the reference was learnt, or one coming on
more slowly than the memory, is part of the background.

What this test finds is reported as an emitter of its own, its confidence capped under
stage 2's alert cut (`Burst.tracked`, `rf.group_emitters`): a wrong history costs
candidates, not alerts.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special

from detectors.arrays import cumsum0, median

F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class FloorTrackConfig:
    """min_frames: frames learnt before the reference is used; memory_frames: the
    reference's exponential memory; max_tunings: references kept per sensor; pfa:
    false-alarm probability per frame of the band test (all bands); min_bins: the
    narrowest band (narrower ones are the burst scan's and `rf_lines`'); guard_bins:
    bins either side of a band left out of its comparison; outlier_sigmas: a bin this
    far over its neighbours' median counts on neither side; mismatch: variance ratio
    beyond which the reference no longer fits; gain_step_db: a change of the span's
    median floor by more than this from the reference's is a gain step; min_span_bins:
    narrower spectra are not tracked (`carriers.tracked_carriers`: a narrowband receiver
    has no room for a wide emitter and a rest of the span to compare it with), nor
    spectrograms of fewer frames (`min_spectrogram_frames`: their floors are an order
    statistic alone, whose scatter is not modelled); carrier_excess: a band this far over
    the rest (6 dB) is a carrier `carriers` sees, so found only here it is the
    reference's error."""

    min_frames: int = 8
    memory_frames: int = 64
    max_tunings: int = 8
    pfa: float = 1e-3
    min_bins: int = 16
    guard_bins: int = 4
    outlier_sigmas: float = 5.0
    mismatch: float = 3.0
    gain_step_db: float = 1.0
    min_span_bins: int = 128
    min_spectrogram_frames: int = 128
    carrier_excess: float = 3.0


@dataclass(frozen=True, slots=True)
class WideBand:
    """A band [lo, hi) of bins standing `excess` (relative) over the rest of the span."""

    lo: int
    hi: int
    excess: float
    z: float


@lru_cache(maxsize=32)
def _widths(n_bins: int, min_bins: int) -> tuple[int, ...]:
    out: list[int] = []
    w = float(min_bins)
    while round(w) <= n_bins // 2:
        if not out or round(w) != out[-1]:
            out.append(round(w))
        w *= math.sqrt(2.0)
    return tuple(out)


@lru_cache(maxsize=32)
def _z_limit(n_bins: int, min_bins: int, pfa: float) -> float:
    """The per-test z of a frame Pfa split over every (width, position) tested."""
    tests = sum((n_bins - w) // max(1, w // 8) + 1 for w in _widths(n_bins, min_bins))
    return float(special.ndtri(1.0 - pfa / max(tests, 1)))


def lone_bins(q: F64, sigma: float, outlier_sigmas: float) -> Mask:
    """Bins standing more than outlier_sigmas x sigma over the median of their 9."""
    lone: Mask = q - ndimage.median_filter(q, size=9, mode="nearest") > outlier_sigmas * sigma
    return lone


def wide_bands(
    per_bin: F64,
    rel_std: float,
    shape: F64,
    ref_frames: int,
    config: FloorTrackConfig,
    busy: Mask | None = None,
) -> list[WideBand]:
    """Bands standing out of the rest of the span in per_bin / shape (see the module
    docstring), strongest first, none overlapping another."""
    n = per_bin.shape[0]
    widths = _widths(n, config.min_bins)
    if not widths or not 0.0 < rel_std < 1.0:
        return []
    busy = np.zeros(n, dtype=bool) if busy is None else busy
    q = per_bin / np.maximum(shape, 1e-30)
    if busy.all():
        return []
    middle = median(q[~busy])
    if not middle > 0.0:
        return []
    q = q / middle
    # one bin's scatter: the floor's own and the reference's (an exponential memory of
    # m frames keeps ~1/(2m) of a frame's variance), or what the span shows if more
    mad = 1.4826 * median(np.abs(q[~busy] - 1.0))
    ref_var = 1.0 / min(max(ref_frames, 1), 2 * config.memory_frames)
    sigma2 = max(rel_std * rel_std * (1.0 + ref_var), mad * mad)
    sigma = math.sqrt(sigma2)
    counted = ~busy & ~lone_bins(q, sigma, config.outlier_sigmas)
    rest = counted & (q <= 1.0 + config.outlier_sigmas * sigma)  # carriers stay out
    csum_in = cumsum0(np.where(counted, q, 0.0))
    n_in = cumsum0(counted.astype(np.int64))
    csum_out = cumsum0(np.where(rest, q, 0.0))
    n_out_all = cumsum0(rest.astype(np.int64))
    total_out, count_out = float(csum_out[-1]), int(n_out_all[-1])
    z_limit = _z_limit(n, config.min_bins, config.pfa)
    g = config.guard_bins
    found: list[WideBand] = []
    for w in widths:
        lo = np.arange(0, n - w + 1, max(1, w // 8))
        hi = lo + w
        k_in = n_in[hi] - n_in[lo]
        inside = (csum_in[hi] - csum_in[lo]) / np.maximum(k_in, 1)
        a, b = np.maximum(lo - g, 0), np.minimum(hi + g, n)
        k_out = count_out - (n_out_all[b] - n_out_all[a])
        out_mean = (total_out - (csum_out[b] - csum_out[a])) / np.maximum(k_out, 1)
        ok = (k_out >= w // 2) & (2 * k_in >= w)
        excess = inside / np.maximum(out_mean, 1e-30) - 1.0
        z = excess / np.sqrt(sigma2 * (1.0 / np.maximum(k_in, 1) + 1.0 / np.maximum(k_out, 1)))
        hot = np.flatnonzero(ok & (z > z_limit))
        found += [WideBand(int(lo[i]), int(hi[i]), float(excess[i]), float(z[i])) for i in hot]
    found.sort(key=lambda band: -band.z)
    kept: list[WideBand] = []
    for band in found:
        if all(band.hi <= k.lo or band.lo >= k.hi for k in kept):
            kept.append(band)
    return kept


def misfit(per_bin: F64, shape: F64, free: Mask) -> float:
    """Variance of log(per_bin / shape) over the `free` bins, over half that of its
    differences 3 bins apart (the bin-to-bin scatter alone, windowed neighbours being
    correlated only 1-2 bins apart): about 1 when the shape fits, more when it does
    not (a wrong or stale reference, or a new emitter wider than a few bins)."""
    idx = np.flatnonzero(free)
    if idx.shape[0] < 32:
        return 1.0
    r = np.log(per_bin[idx] / shape[idx])
    d = r[3:] - r[:-3]
    noise = 0.5 * float(np.var(d))
    return float(np.var(r)) / noise if noise > 0.0 else 1.0


def power_db_ratio(a: float, b: float) -> float:
    """10 lg(a / b); inf unless both are positive."""
    return 10.0 * math.log10(a / b) if a > 0.0 and b > 0.0 else math.inf


def band_mask(n_bins: int, bands: list[WideBand]) -> Mask:
    mask = np.zeros(n_bins, dtype=bool)
    for band in bands:
        mask[band.lo : band.hi] = True
    return mask


@dataclass(frozen=True, slots=True)
class _Reference:
    shape: F64  # per-bin floor over the span's noise level
    frames: int  # frames learnt
    level: float  # the last frame's median floor over the shape (its gain)


class FloorTrack:
    """One sensor's reference shapes (thread-safe), one per tuning key (`observe`)."""

    #: where the frame stands over the reference, it is learnt this many times slower
    SLOWDOWN = 16

    def __init__(self, config: FloorTrackConfig = FloorTrackConfig()) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._refs: OrderedDict[Hashable, _Reference] = OrderedDict()

    def frames(self, key: Hashable) -> int:
        """Frames learnt for tuning `key` (0: none)."""
        with self._lock:
            ref = self._refs.get(key)
        return 0 if ref is None else ref.frames

    def copy(self) -> FloorTrack:
        """An independent track holding the same references."""
        out = FloorTrack(self.config)
        with self._lock:
            out._refs = OrderedDict(self._refs)
        return out

    def observe(self, key: Hashable, per_bin: F64, rel_std: float, busy: Mask) -> list[WideBand]:
        """The wide bands of this frame against the reference learnt so far for tuning
        `key` (see the module docstring), then the frame learnt."""
        per_bin = np.asarray(per_bin, dtype=np.float64)
        n = per_bin.shape[0]
        free = ~busy
        if (
            not np.all(np.isfinite(per_bin))
            or not np.all(per_bin > 0.0)
            or np.count_nonzero(free) < max(32, n // 4)
        ):
            return []  # a dropout, or a span mostly taken: neither tested nor learnt
        with self._lock:
            ref = self._refs.get(key)
            if ref is not None and ref.shape.shape != per_bin.shape:
                ref = None
            bands: list[WideBand] = []
            if ref is not None:
                level = median(per_bin[free] / ref.shape[free])
                if abs(power_db_ratio(level, ref.level)) > self.config.gain_step_db:
                    ref = None  # a gain step: the passband may have changed with it
                elif ref.frames >= self.config.min_frames and 2 * np.count_nonzero(free) >= n:
                    # (with most of the span taken by emitters found, the rest is too
                    # little, and too disturbed by their duty cycles, to compare with)
                    bands = wide_bands(per_bin, rel_std, ref.shape, ref.frames, self.config, busy)
                if ref is not None and not self._fits(per_bin, ref, free, bands):
                    ref, bands = None, []  # a wrong or stale history: say nothing, learn anew
            self._refs[key] = self._learn(ref, per_bin, rel_std, free, bands)
            self._refs.move_to_end(key)
            while len(self._refs) > self.config.max_tunings:
                self._refs.popitem(last=False)
        return bands

    def _fits(self, per_bin: F64, ref: _Reference, free: Mask, bands: list[WideBand]) -> bool:
        """Whether the frame fits the reference: the bins outside the bands found look
        like noise about it (`misfit`), no band stands `carrier_excess` over the rest
        (`carriers` would have seen it in the frame's own floors had it been an emitter),
        and none reaches into the outer 1/32 of the span, where receivers roll off: a band
        there is most likely a roll-off the reference has and the frame no longer has."""
        n = per_bin.shape[0]
        rest = free & ~band_mask(n, bands)
        if misfit(per_bin, ref.shape, rest) > self.config.mismatch:
            return False
        edge = max(self.config.guard_bins, n // 32)
        return all(
            band.excess < self.config.carrier_excess and edge <= band.lo and band.hi <= n - edge
            for band in bands
        )

    def _learn(
        self,
        ref: _Reference | None,
        per_bin: F64,
        rel_std: float,
        free: Mask,
        bands: list[WideBand],
    ) -> _Reference:
        if ref is None:
            level = median(per_bin[free])
            return _Reference(np.where(free, per_bin / level, 1.0), 1, level)
        # bins where the frame stands over the reference learn slowly: a band found, or
        # a 32-bin stretch 3 sigma up (an emitter coming on, not yet significant); the
        # frame's gain comes from the others (a raised band would bias it, and the rest
        # of the reference would drift down under it)
        slow = band_mask(per_bin.shape[0], bands)
        gain = per_bin / ref.shape
        level = median(gain[free & ~slow])
        raised = ndimage.uniform_filter1d(gain / level - 1.0, 32, mode="nearest")
        slow |= raised > 3.0 * rel_std / math.sqrt(32)
        if np.count_nonzero(free & ~slow) >= 32:
            level = median(gain[free & ~slow])
        shape = per_bin / level
        alpha = np.full(per_bin.shape[0], 1.0 / min(ref.frames + 1, self.config.memory_frames))
        alpha[slow] /= self.SLOWDOWN
        alpha[~free] = 0.0
        return _Reference((1.0 - alpha) * ref.shape + alpha * shape, ref.frames + 1, level)
