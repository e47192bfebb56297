"""Two emitters in one hot region: a strong narrow burst on a wider, weaker plateau.

An RC packet during a Wi-Fi frame touches it in time and frequency, so the CFAR mask
joins them and the region would be measured as one odd burst (9-16 MHz wide, as long as
both together). `split_overlaid` finds the strong part (cells well above the region's
typical hot cell, on without gaps), checks that the rest is another emitter rather than
the strong burst's own skirts (wider, and on for several frames away from the strong
part's on/off ramps, not exactly when it is), and returns one part per emitter with
what to paint over the region to remove the other one: the noise floor around the
strong part, and the plateau's level in each frame under it.

Regions are small (tens of frames and bins) and there are a dozen per frame, so the
tests below use a few whole-array numpy operations each and no `scipy.ndimage` call
(whose Python-side setup alone costs tens of microseconds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.floor import NoiseFloor
from detectors.spectra import Spectrogram

F32 = NDArray[np.float32]
Flags = NDArray[np.bool_]


def dilate_runs(flags: Flags, reach: int) -> Flags:
    """Binary dilation of a 1-D mask by `reach` cells each way (nothing beyond the ends)."""
    grown = flags.copy()
    for k in range(1, reach + 1):
        grown[k:] |= flags[:-k]
        grown[:-k] |= flags[k:]
    return grown


def dilate_box(flags: Flags, frames: int, bins: int) -> Flags:
    """Binary dilation of a 2-D mask by a `frames` x `bins` box centred as
    `scipy.ndimage` centres it (an even size reaches one cell further back), nothing
    beyond the edges: `cfar.box_sums(flags, frames, bins, pad_value=False)`, from shifted
    ORs along time, then along frequency (a few small-array operations)."""
    rows, cols = flags.shape
    grown = flags.copy()
    for k in range(1, frames // 2 + 1):  # a cell's box reaches frames // 2 back
        grown[k:] |= flags[: rows - k]
    for k in range(1, (frames - 1) // 2 + 1):  # ... and (frames - 1) // 2 forward
        grown[: rows - k] |= flags[k:]
    near = grown.copy()
    for k in range(1, min(bins // 2, cols - 1) + 1):  # the same along frequency
        near[:, k:] |= grown[:, : cols - k]
    for k in range(1, min((bins - 1) // 2, cols - 1) + 1):
        near[:, : cols - k] |= grown[:, k:]
    return near


def longest_run(flags: Flags) -> int:
    """Length of the longest run of True in a 1-D mask (0 if none)."""
    return max(map(len, flags.tobytes().split(b"\0")))


@dataclass(frozen=True, slots=True)
class OverlaidPart:
    """One emitter of a split region: the box to measure it in (`region`, whole-frame
    rows and bins) and the power to paint over the split region first (`fill`, the split
    region's shape; NaN keeps a cell): the other emitter removed."""

    region: tuple[slice, slice]
    fill: F32


def median32(values: F32) -> float:
    """`np.median` of float32 values, bit for bit (the two middle values averaged in
    float32), from one partition instead of its generic machinery."""
    n = values.shape[0]
    mid = n // 2
    if n % 2:
        return float(np.partition(values, mid)[mid])
    part = np.partition(values, (mid - 1, mid))
    return float((part[mid - 1] + part[mid]) / 2)


def row_medians(values: F32, keep: Flags) -> F32:
    """Median of the `keep` cells of each row (each row keeps at least one), bit for bit
    `np.nanmedian` of the row with the other cells NaN, without its masked-array path."""
    ordered = np.sort(np.where(keep, values, np.float32(np.inf)), axis=1)
    counts = np.count_nonzero(keep, axis=1)
    rows = np.arange(values.shape[0])
    high = ordered[rows, counts // 2]
    low = ordered[rows, (counts - 1) // 2]
    medians: F32 = (low + high) / np.float32(2)
    return medians


def split_overlaid(
    fine: Callable[[], F32],
    spec: Spectrogram,
    noise: NoiseFloor,
    region: tuple[slice, slice],
    *,
    min_frames: int,
    min_bins: int,
    excess_db: float,
    widening: float,
) -> list[OverlaidPart]:
    """The parts of a region holding a strong narrow burst on top of a wider weak one, or
    [] if the region is one burst. fine: gives the region's cells of the ratio
    box-averaged over 3 x 3 (called only for a region big enough to split).

    Strong cells sit `excess_db` above the region's median hot cell; the split needs
    the rest (the plateau) to span `widening` x the strong part's bins, so a burst's
    own leakage skirts rarely trigger it (and when they do, `splatter` drops them).
    """
    ts, fs = region
    if ts.stop - ts.start < min_frames or fs.stop - fs.start < 4 * min_bins:
        return []
    smooth = fine()
    hot = smooth > 4.0  # 6 dB: the plateau itself is well above the CFAR threshold here
    n_hot = np.count_nonzero(hot)
    if n_hot < 36:
        return []
    level = median32(smooth[hot])
    strong = smooth > level * 10.0 ** (excess_db / 10.0)
    n_strong = np.count_nonzero(strong)
    if n_strong < 9 or n_strong > 0.5 * n_hot:
        return []
    near = dilate_box(strong, 3, 7)  # +-1 frame, Hann main lobe +-2 bins
    plateau = hot & ~near
    strong_bins = strong.any(axis=0).nonzero()[0]
    if np.count_nonzero(plateau) < 0.3 * n_hot or np.count_nonzero(
        plateau.any(axis=0)
    ) < widening * (strong_bins[-1] - strong_bins[0] + 1):
        return []
    # the strong part must be one burst, on without gaps: the data-dependent spectral
    # peaks of a single GMSK or OFDM burst come and go
    strong_rows: Flags = np.asarray(near.any(axis=1), dtype=bool)
    on_rows = strong_rows.nonzero()[0]
    first, last = int(on_rows[0]), int(on_rows[-1])
    if longest_run(strong_rows) < max(min_frames, 0.9 * (last - first + 1)):
        return []
    # A burst's own skirts are on when it is, or only at its on/off ramps; another
    # emitter's plateau is on for several frames away from the strong part's ramps, and
    # not for the whole of it.
    plateau_width = np.count_nonzero(plateau, axis=1)
    plateau_on = plateau_width >= max(3, 0.5 * int(plateau_width.max()))
    away = plateau_on.copy()
    away[max(0, first - 2) : first + 3] = False  # ramps
    away[max(0, last - 2) : last + 3] = False
    if longest_run(away) < min_frames:
        return []
    own = plateau_on & dilate_runs(strong_rows, 2)
    if np.count_nonzero(own) > 0.75 * len(on_rows) and not (plateau_on & ~own).any():
        return []
    power = spec.power[region]
    floor = noise.floor[fs][np.newaxis, :]
    # strong view: everything but the strong part back to the noise floor
    strong_fill = np.where(near, np.nan, np.broadcast_to(floor, power.shape)).astype(np.float32)
    # plateau view: the strong part replaced by the plateau's level in the same frame
    row_level = np.full((power.shape[0], 1), float(np.median(noise.floor[fs])), np.float32)
    rows = plateau.any(axis=1)
    row_level[rows, 0] = row_medians(power[rows], plateau[rows])
    plateau_fill = np.where(near, np.broadcast_to(row_level, power.shape), np.nan).astype(
        np.float32
    )
    frames = np.flatnonzero(near.any(axis=1))
    strong_region = (
        slice(ts.start + int(frames[0]), ts.start + int(frames[-1]) + 1),
        slice(fs.start + int(strong_bins[0]), fs.start + int(strong_bins[-1]) + 1),
    )
    return [OverlaidPart(strong_region, strong_fill), OverlaidPart(region, plateau_fill)]
