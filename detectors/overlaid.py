"""Two emitters in one hot region: a strong narrow burst on a wider, weaker plateau.

An RC packet during a Wi-Fi frame touches it in time and frequency, so the CFAR mask
joins them and the region would be measured as one odd burst (9-16 MHz wide, as long as
both together). `split_overlaid` finds the strong part (cells well above the region's
typical hot cell, on without gaps), checks that the rest is another emitter rather than
the strong burst's own skirts (wider, and on for several frames away from the strong
part's on/off ramps, not exactly when it is), and returns one view per part in which
the other part is painted out: back to the noise floor around the strong part, and
filled with the plateau's level in each frame under it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from detectors.floor import NoiseFloor
from detectors.spectra import Spectrogram

F32 = NDArray[np.float32]


def _dilate(mask: NDArray[np.bool_], frames: int, bins: int) -> NDArray[np.bool_]:
    grown = ndimage.maximum_filter(mask.view(np.uint8), size=(2 * frames + 1, 2 * bins + 1))
    result: NDArray[np.bool_] = grown.view(bool)
    return result


def _paint(
    spec: Spectrogram, noise: NoiseFloor, region: tuple[slice, slice], fill: NDArray[np.float32]
) -> tuple[F32, Spectrogram]:
    """(ratio, spectrogram) with the region's cells replaced by `fill` where it is finite."""
    power = spec.power.copy()
    box = power[region]
    np.copyto(box, fill, where=np.isfinite(fill))
    ratio = (power / noise.floor).astype(np.float32, copy=False)
    return ratio, Spectrogram(power, spec.sample_rate_hz, spec.nfft, spec.window)


def _longest_run(flags: NDArray[np.bool_]) -> int:
    labels, count = ndimage.label(flags)
    return int(np.bincount(labels[labels > 0]).max()) if count else 0


def split_overlaid(
    fine: F32,
    spec: Spectrogram,
    noise: NoiseFloor,
    region: tuple[slice, slice],
    *,
    min_frames: int,
    min_bins: int,
    excess_db: float,
    widening: float,
) -> list[tuple[F32, Spectrogram, tuple[slice, slice]]]:
    """Views in which to measure the parts of a region holding a strong burst on top of a
    wider weak one, or [] if the region is one burst. fine: ratio box-averaged over 3 x 3.

    Strong cells sit `excess_db` above the region's median hot cell; the split needs
    the rest (the plateau) to span `widening` x the strong part's bins, so a burst's
    own leakage skirts rarely trigger it (and when they do, `splatter` drops them).
    """
    ts, fs = region
    if ts.stop - ts.start < min_frames or fs.stop - fs.start < 4 * min_bins:
        return []
    smooth = fine[region]
    hot = smooth > 4.0  # 6 dB: the plateau itself is well above the CFAR threshold here
    if hot.sum() < 36:
        return []
    level = float(np.median(smooth[hot]))
    strong = smooth > level * 10.0 ** (excess_db / 10.0)
    n_strong = int(strong.sum())
    if n_strong < 9 or n_strong > 0.5 * hot.sum():
        return []
    near = _dilate(strong, 1, 3)  # Hann main lobe: +-2 bins
    plateau = hot & ~near
    strong_bins = np.flatnonzero(strong.any(axis=0))
    plateau_bins = np.flatnonzero(plateau.any(axis=0))
    if plateau.sum() < 0.3 * hot.sum() or plateau_bins.size < widening * (
        strong_bins[-1] - strong_bins[0] + 1
    ):
        return []
    # the strong part must be one burst, on without gaps: the data-dependent spectral
    # peaks of a single GMSK or OFDM burst come and go
    strong_rows: NDArray[np.bool_] = np.asarray(near.any(axis=1), dtype=bool)
    on_rows = np.flatnonzero(strong_rows)
    if _longest_run(strong_rows) < max(min_frames, 0.9 * (on_rows[-1] - on_rows[0] + 1)):
        return []
    # A burst's own skirts are on when it is, or only at its on/off ramps; another
    # emitter's plateau is on for several frames away from the strong part's ramps, and
    # not for the whole of it.
    first, last = int(on_rows[0]), int(on_rows[-1])
    ramps = np.zeros_like(strong_rows)
    ramps[max(0, first - 2) : first + 3] = True
    ramps[max(0, last - 2) : last + 3] = True
    plateau_width = plateau.sum(axis=1)
    plateau_on = plateau_width >= max(3, 0.5 * int(plateau_width.max()))
    own = plateau_on & ndimage.binary_dilation(strong_rows, iterations=2)
    if own.sum() > 0.75 * strong_rows.sum() and not (plateau_on & ~own).any():
        return []
    if _longest_run(np.asarray(plateau_on & ~ramps, dtype=bool)) < min_frames:
        return []
    power = spec.power[region]
    floor = noise.floor[fs][np.newaxis, :]
    # strong view: everything but the strong part back to the noise floor
    strong_fill = np.where(near, np.nan, np.broadcast_to(floor, power.shape)).astype(np.float32)
    # plateau view: the strong part replaced by the plateau's level in the same frame
    row_level = np.full((power.shape[0], 1), float(np.median(noise.floor[fs])), np.float32)
    rows = plateau.any(axis=1)
    row_level[rows, 0] = np.nanmedian(np.where(plateau[rows], power[rows], np.nan), axis=1)
    plateau_fill = np.where(near, np.broadcast_to(row_level, power.shape), np.nan).astype(
        np.float32
    )
    frames = np.flatnonzero(near.any(axis=1))
    strong_region = (
        slice(ts.start + int(frames[0]), ts.start + int(frames[-1]) + 1),
        slice(fs.start + int(strong_bins[0]), fs.start + int(strong_bins[-1]) + 1),
    )
    views = []
    for fill, part in ((strong_fill, strong_region), (plateau_fill, region)):
        part_ratio, part_spec = _paint(spec, noise, region, fill)
        views.append((part_ratio, part_spec, part))
    return views
