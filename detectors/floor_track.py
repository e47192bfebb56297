"""A per-sensor reference of the receiver's noise shape across its span, and the wide
continuous emitters it reveals.

A continuous emitter (an analogue FPV video link, a downlink) lifts its bins' own time
floor, so no burst ever stands above it; `carriers` and `rf_wide` see it only where its
bins' floors stand several dB over the span's receiver noise. But the receiver's noise
across its span has a shape (anti-alias roll-off, ripple) that stays put from frame to
frame, up to a gain. Learnt from earlier frames (`FloorTrack`), that shape turns each
bin's floor estimate into a ratio q = floor / shape that is flat for noise; a band of
B bins raised by s then stands out of the rest of the span when

    s / sqrt(σ² (1 + 1/n) (1/B + 1/B_out)) > z

(σ: one bin's floor error, `NoiseFloor.rel_std`, ~1/sqrt(frames); n: frames averaged
into the reference; B_out: the bins compared against). The rest of the span, not an
absolute level, sets the gain, so a gain step changes nothing. Bands of 16 bins up to
half the span are tried at ×√2 widths and 1/8-width steps, every test at the frame's
`pfa` split over them (Bonferroni). Wider ones fill the span (`rf_wide`).

With no reference yet (fewer than `min_frames` learnt for this tuning) nothing is
tested. The reference learns the bins that hold no emitter it or `carriers` found
(exponential memory of ~`memory_frames`; a band it found, ~16 times slower), and starts
again when the tuning changes, at a gain step (`gain_step_db`), or when the frame no
longer fits it (the out-of-band scatter over `mismatch` times its expected variance:
another receiver, a wrong history). Bands are reported in dB under the receiver noise,
so `detect_rf` caps their confidence under the alert cut (a weak lone burst): a wrong
history costs candidates, never alerts. A continuous emitter already on
when a sensor's reference was learnt is part of its background: it is found only where
the frame's own floors show it (`carriers`, `rf_wide`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import special

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class FloorTrackConfig:
    """min_frames: frames learnt before the reference is used; memory_frames: the
    reference's exponential memory; pfa: false-alarm probability per frame of the band
    test (all bands); min_bins: the narrowest band (narrower ones are the burst scan's
    and `rf_lines`'); guard_bins: bins either side of a band left out of its comparison;
    outlier_sigmas: bins of the rest this far above it (carriers) are left out too;
    mismatch: out-of-band variance ratio beyond which the reference no longer fits;
    gain_step_db: a change of the span's median floor by more than this from the last
    frame's is a gain step (a receiver's passband shape can change with its gain
    stages): the reference starts again."""

    min_frames: int = 8
    memory_frames: int = 64
    pfa: float = 1e-3
    min_bins: int = 16
    guard_bins: int = 4
    outlier_sigmas: float = 5.0
    mismatch: float = 3.0
    gain_step_db: float = 1.0


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


def _n_tests(n_bins: int, widths: tuple[int, ...]) -> int:
    return sum((n_bins - w) // max(1, w // 8) + 1 for w in widths)


def wide_bands(
    per_bin: F64,
    rel_std: float,
    shape: F64,
    ref_frames: int,
    config: FloorTrackConfig,
    busy: NDArray[np.bool_] | None = None,
) -> list[WideBand]:
    """Bands standing out of the rest of the span in per_bin / shape (see the module
    docstring), strongest first, none overlapping another; `busy` bins (emitters found
    otherwise) count as neither band nor rest."""
    n = per_bin.shape[0]
    widths = _widths(n, config.min_bins)
    if not widths or not 0.0 < rel_std < 1.0:
        return []
    busy = np.zeros(n, dtype=bool) if busy is None else busy
    q = per_bin / np.maximum(shape, 1e-30)
    middle = float(np.median(q[~busy])) if not busy.all() else 0.0
    if not middle > 0.0:
        return []
    q = np.where(busy, middle, q) / middle
    # one bin's scatter: the floor's own and the reference's, or what the span shows if
    # more (the censored mean's error model is a few per cent optimistic)
    mad = float(np.median(np.abs(q - 1.0)))
    sigma2 = max(rel_std * rel_std * (1.0 + 1.0 / max(ref_frames, 1)), (1.4826 * mad) ** 2)
    keep = ~busy & (q <= 1.0 + config.outlier_sigmas * math.sqrt(sigma2))  # carriers stay out
    kept_q = np.where(keep, q, 0.0)
    csum_q = np.concatenate(([0.0], np.cumsum(q)))
    csum_k = np.concatenate(([0.0], np.cumsum(kept_q)))
    csum_n = np.concatenate(([0], np.cumsum(keep.astype(np.int64))))
    csum_b = np.concatenate(([0], np.cumsum(busy.astype(np.int64))))
    total_k, total_n = float(csum_k[-1]), int(csum_n[-1])
    z_limit = float(special.ndtri(1.0 - config.pfa / _n_tests(n, widths)))
    g = config.guard_bins
    found: list[WideBand] = []
    for w in widths:
        lo = np.arange(0, n - w + 1, max(1, w // 8))
        hi = lo + w
        inside = (csum_q[hi] - csum_q[lo]) / w
        a, b = np.maximum(lo - g, 0), np.minimum(hi + g, n)
        out_n = total_n - (csum_n[b] - csum_n[a])
        out_mean = (total_k - (csum_k[b] - csum_k[a])) / np.maximum(out_n, 1)
        ok = out_n >= w // 2
        excess = inside / np.maximum(out_mean, 1e-30) - 1.0
        z = excess / np.sqrt(sigma2 * (1.0 / w + 1.0 / np.maximum(out_n, 1)))
        in_busy = csum_b[hi] - csum_b[lo]
        hot = np.flatnonzero(ok & (z > z_limit) & (2 * in_busy < w))
        found += [WideBand(int(lo[i]), int(hi[i]), float(excess[i]), float(z[i])) for i in hot]
    found.sort(key=lambda band: -band.z)
    kept: list[WideBand] = []
    for band in found:
        if all(band.hi <= k.lo or band.lo >= k.hi for k in kept):
            kept.append(band)
    return kept


def misfit(per_bin: F64, rel_std: float, shape: F64, busy: NDArray[np.bool_]) -> float:
    """Variance of log(per_bin / shape) over the bins not `busy`, over what noise alone
    gives (about 1 when the reference fits the frame)."""
    free = ~busy & (per_bin > 0.0) & (shape > 0.0)
    if np.count_nonzero(free) < 16 or not 0.0 < rel_std < 1.0:
        return 1.0
    r = np.log(per_bin[free] / shape[free])
    return float(np.var(r)) / (rel_std * rel_std)


def power_db_ratio(a: float, b: float) -> float:
    """10 lg(a / b); inf unless both are positive."""
    return 10.0 * math.log10(a / b) if a > 0.0 and b > 0.0 else math.inf


def band_mask(n_bins: int, bands: list[WideBand]) -> NDArray[np.bool_]:
    mask = np.zeros(n_bins, dtype=bool)
    for band in bands:
        mask[band.lo : band.hi] = True
    return mask


class FloorTrack:
    """One sensor's reference shape (thread-safe): per-bin floors over their median,
    averaged over the frames learnt for one tuning key (`observe`)."""

    #: bins of a band found against the reference are learnt this many times slower: a
    #: band that persists (an emitter left on, a reference gone wrong) fades into the
    #: background over ~memory_frames x this many frames
    BAND_SLOWDOWN = 16

    def __init__(self, config: FloorTrackConfig = FloorTrackConfig()) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._key: Hashable | None = None
        self._shape: F64 | None = None
        self._frames = 0
        self._level = 0.0  # the last frame's median floor

    @property
    def frames(self) -> int:
        """Frames learnt for the current tuning."""
        return self._frames

    def copy(self) -> FloorTrack:
        """An independent track holding the same reference."""
        out = FloorTrack(self.config)
        with self._lock:
            out._key, out._shape, out._frames = self._key, self._shape, self._frames
            out._level = self._level
        return out

    def observe(
        self, key: Hashable, per_bin: F64, rel_std: float, busy: NDArray[np.bool_]
    ) -> list[WideBand]:
        """The wide bands of this frame against the reference learnt so far for tuning
        `key` ([] before min_frames, or when the frame does not fit the reference), then
        the frame learnt: `busy` bins (carriers, found by the caller) are not, the
        bands' bins slowly, the rest at the reference's memory."""
        per_bin = np.asarray(per_bin, dtype=np.float64)
        usable = np.isfinite(per_bin) & (per_bin > 0.0)
        level = float(np.median(per_bin)) if usable.any() else 0.0
        with self._lock:
            step = abs(power_db_ratio(level, self._level)) > self.config.gain_step_db
            self._level = level
            same = (
                key == self._key
                and self._shape is not None
                and self._shape.shape == per_bin.shape
                and not step
            )
            bands: list[WideBand] = []
            fits = True
            if same and self._shape is not None:
                if self._frames >= self.config.min_frames and usable.all():
                    bands = wide_bands(
                        per_bin, rel_std, self._shape, self._frames, self.config, busy
                    )
                taken = busy | band_mask(per_bin.shape[0], bands) | ~usable
                fits = misfit(per_bin, rel_std, self._shape, taken) <= self.config.mismatch
                if not fits:
                    bands = []  # a wrong history: say nothing, learn anew
            self._learn(key, per_bin, busy | ~usable, bands, restart=not same or not fits)
        return bands

    def _learn(
        self,
        key: Hashable,
        per_bin: F64,
        busy: NDArray[np.bool_],
        bands: list[WideBand],
        *,
        restart: bool,
    ) -> None:
        free = ~busy
        rest = free & ~band_mask(per_bin.shape[0], bands)
        if np.count_nonzero(rest) < max(16, per_bin.shape[0] // 4):
            return
        if restart or self._shape is None:
            level = float(np.median(per_bin[rest]))
        else:  # the frame's gain against the reference, on the bins holding noise only
            level = float(np.median(per_bin[rest] / self._shape[rest]))
        if not level > 0.0:
            return
        shape = np.where(free, per_bin / level, 1.0)
        if restart or self._shape is None:
            self._key, self._shape, self._frames = key, shape, 1
            return
        alpha = np.full(per_bin.shape[0], 1.0 / min(self._frames + 1, self.config.memory_frames))
        alpha[band_mask(per_bin.shape[0], bands)] /= self.BAND_SLOWDOWN
        alpha[busy] = 0.0
        self._shape = (1.0 - alpha) * self._shape + alpha * shape
        self._frames += 1
