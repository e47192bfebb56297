"""Robust noise-floor estimates from order statistics of power cells.

A mean would be dragged up by the very bursts we want to find; a low order
statistic over time is not, as long as a bin is free for more than `quantile`
of the frame. The k-th smallest of n unit-mean exponential cells has expectation
sum_{i<k} 1/(n-i), which turns the order statistic into an unbiased noise mean.

An order statistic alone is imprecise, though (the 5 % quantile of 1 000 cells is
known to ±14 %), and a big detection box averages thousands of cells whose floor
error does not average out. So the order statistic only starts a censored mean:
cells below `censor` times the current estimate are averaged and divided by the
conditional mean of a unit exponential below that point, three times over
(E[x | x < c] = (1 − (1 + c)e^−c) / (1 − e^−c), 0.84 at c = 3). That uses ~95 % of
the cells of a noise-only bin (±3.3 % for 1 000 cells), and still ignores bursts
stronger than a few dB; weak bursts barely lift it (a burst at in-band SNR s with
duty d lifts it by about d·s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special, stats

from detectors.spectra import effective_cells

F32 = NDArray[np.float32]

_TINY = np.float32(1e-30)


@lru_cache(maxsize=256)
def order_statistic_mean(n: int, k: int) -> float:
    """Expected k-th smallest (1-based) of n independent unit-mean exponential variables."""
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got {k=}, {n=}")
    return float(np.sum(1.0 / (n - np.arange(k, dtype=np.float64))))


def kth_smallest_per_column(values: F32, k: int, *, group: int = 8) -> F32:
    """k-th smallest (1-based) of each column of `values` (n_rows, n_cols): the same values
    as np.partition(values, k - 1, axis=0)[k - 1], a few times faster on tall arrays.

    The minima of `group` consecutive rows are cells of the column, so the k-th smallest
    of them bounds the k-th smallest cell from above with at least k cells at or under
    it; for noise about 1.2 k are. Only those candidates are gathered (grouped by column
    with a radix sort) and sorted, in a table with one short row per column.
    """
    n, m = values.shape
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= {n}, got {k=}")
    n_groups = n // group
    if n_groups < k or m < 2:
        exact: F32 = np.partition(values, k - 1, axis=0)[k - 1]
        return exact
    minima = values[: n_groups * group].reshape(n_groups, group, m).min(axis=1).T.copy()
    minima.sort(axis=1)  # short contiguous rows: a vectorised sort, faster than partition
    bound = minima[:, k - 1].copy()  # contiguous: it is broadcast over every row
    flat = np.flatnonzero(values <= bound)
    columns = flat & (m - 1) if m & (m - 1) == 0 else flat % m
    order = np.argsort(columns.astype(np.int16 if m <= 1 << 15 else np.int32), kind="stable")
    columns = columns[order]
    counts = np.bincount(columns, minlength=m)
    width = max(k, int(counts.max()))
    first_slot = np.arange(m) * width - (np.cumsum(counts) - counts)
    table = np.full(m * width, np.inf, dtype=values.dtype)
    table[np.arange(flat.shape[0]) + first_slot[columns]] = values.reshape(-1)[flat[order]]
    rows = table.reshape(m, width)
    rows.sort(axis=1)
    out: F32 = rows[:, k - 1]
    short = np.flatnonzero(counts < k)  # NaN cells only: rank those columns directly
    if short.size:
        out[short] = np.partition(values[:, short], k - 1, axis=0)[k - 1]
    return out


@dataclass(frozen=True, slots=True)
class NoiseFloor:
    """Per-bin noise power of a spectrogram (same units as `Spectrogram.power`).

    per_bin: (n_bins,) float32, order statistic over time of each bin alone: high where a
    continuous carrier (or a DC spike) sits.
    smoothed: (n_bins,) float32, running median of per_bin across `smooth_bins` bins: the
    receiver noise with carriers narrower than half the window removed.
    floor: (n_bins,) float32, what bursts are measured against (`level_floor`): where a
    bin's own estimate agrees with its neighbours' (within `LEVEL_Z` of its scatter), the
    mean of the agreeing estimates over `LEVEL_BINS` bins around it, so that its scatter
    and the lift a burst gives its own bins average out; elsewhere the higher of the
    bin's own estimate and that mean (a carrier or the DC spike: a bin that is always
    busy is never a burst; a noise bin whose estimate came out low is not trusted).
    """

    per_bin: F32
    smoothed: F32
    floor: F32
    #: relative standard deviation of one bin's floor estimate (noise-only bin)
    rel_std: float = 0.0
    #: independent bins averaged into `floor` where it is levelled: a box's floor error
    #: is rel_std / sqrt(max(its independent bins, this)) (`scan_levels.scan_plan`)
    level_bins: float = 1.0


#: a bin's estimate agrees with its neighbours' median when within this many of its
#: standard deviations (noise-only bins: all but ~3e-3)
LEVEL_Z = 3.0
#: bins averaged into a levelled floor (`level_floor`)
LEVEL_BINS = 15


def level_floor(per_bin: F32, smoothed: F32, rel_std: float, level_bins: int = LEVEL_BINS) -> F32:
    """The floor bursts are measured against (see `NoiseFloor.floor`): per_bin where it
    departs from the running median `smoothed` by more than LEVEL_Z x rel_std, else the
    mean of the agreeing bins' estimates among the `level_bins` around it (the higher of
    the two where it departs). A plain max(per_bin, smoothed) would sit about 0.4 rel_std
    high everywhere, and a weak wide burst reads such a bias, and the lift it gives its
    own bins' floor, as missing SNR."""
    if level_bins <= 1 or per_bin.shape[0] < level_bins:
        return np.maximum(per_bin, smoothed)
    agree = np.abs(per_bin - smoothed) <= np.float32(LEVEL_Z * rel_std) * smoothed
    weights = agree.astype(np.float32)
    total = ndimage.uniform_filter1d(per_bin * weights, level_bins, mode="nearest")
    count = ndimage.uniform_filter1d(weights, level_bins, mode="nearest")
    levelled = total / np.maximum(count, np.float32(1e-6))
    ok = agree & (count * level_bins >= 0.5 * level_bins)
    floor: F32 = np.where(ok, levelled, np.maximum(per_bin, levelled)).astype(np.float32)
    return floor


def _censored_mean(power: F32, start: F32, censor: float) -> tuple[F32, float]:
    """Per-bin censored exponential mean (see the module docstring), and its relative
    standard deviation for a noise-only bin."""
    c = float(censor)
    kept_mean = (1.0 - (1.0 + c) * np.exp(-c)) / (1.0 - np.exp(-c))
    mu = start
    for _ in range(3):
        below = power < np.float32(c) * mu
        count = np.maximum(below.sum(axis=0), 1)
        total = np.where(below, power, np.float32(0.0)).sum(axis=0, dtype=np.float64)
        mu = np.maximum((total / count / kept_mean).astype(np.float32), _TINY)
    # variance of the mean of a unit exponential truncated at c, over n·(1 - e^-c) cells
    second = 2.0 - (c * c + 2.0 * c + 2.0) * np.exp(-c)
    second /= 1.0 - np.exp(-c)
    var = (second - kept_mean**2) / kept_mean**2
    n_kept = power.shape[0] * (1.0 - np.exp(-c))
    return mu.astype(np.float32), float(np.sqrt(var / n_kept))


def time_floor(
    power: F32,
    *,
    quantile: float = 0.1,
    smooth_bins: int = 7,
    censor: float = 3.0,
    level_bins: int = 1,
    window: str = "hann",
) -> NoiseFloor:
    """Noise floor per frequency bin of power (n_frames, n_bins): the `quantile` order
    statistic over time (frames on axis 0), refined by a censored mean (`censor` times
    the estimate; 0 keeps the order statistic)."""
    if power.ndim != 2:
        raise ValueError(f"power must be (n_frames, n_bins), got {power.shape=}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile=}")
    n = int(power.shape[0])
    k = min(n, max(1, round(quantile * n)))
    kth = kth_smallest_per_column(power, k)
    per_bin = np.maximum(kth / np.float32(order_statistic_mean(n, k)), _TINY).astype(np.float32)
    rel_std = 1.0
    if censor > 0 and n >= 8:
        per_bin, rel_std = _censored_mean(power, per_bin, censor)
    return _finish(per_bin, smooth_bins, rel_std, level_bins, window)


def _finish(
    per_bin: F32, smooth_bins: int, rel_std: float, level_bins: int, window: str
) -> NoiseFloor:
    """The `NoiseFloor` of per-bin estimates with relative error rel_std (1.0: unknown,
    an order statistic alone; then the floor is not levelled) of a spectrogram taken
    with `window` (neighbouring Hann bins are correlated: fewer independent bins)."""
    size = max(1, smooth_bins | 1)
    smoothed = ndimage.median_filter(per_bin, size=size, mode="nearest").astype(np.float32)
    if rel_std >= 1.0 or level_bins <= 1 or per_bin.shape[0] < level_bins:
        return NoiseFloor(per_bin, smoothed, np.maximum(per_bin, smoothed), rel_std, 1.0)
    floor = level_floor(per_bin, smoothed, rel_std, level_bins)
    independent = effective_cells(window, per_bin.shape[0], 1, level_bins)
    return NoiseFloor(per_bin, smoothed, floor, rel_std, independent)


@lru_cache(maxsize=64)
def _truncated_gamma_moments(shape: int, censor: float) -> tuple[float, float, float]:
    """(P(X < c), E[X | X < c], E[X^2 | X < c]) of X ~ Gamma(shape, scale 1/shape) (unit
    mean: the mean of `shape` unit exponential cells), censored at c = `censor`."""
    g, gc = float(shape), float(shape) * censor
    kept = float(special.gammainc(g, gc))
    first = float(special.gammainc(g + 1.0, gc)) / kept
    second = (g + 1.0) / g * float(special.gammainc(g + 2.0, gc)) / kept
    return kept, first, second


@lru_cache(maxsize=64)
def _tile_censored_moments(
    shape: int, censor: float, tile_cells: int, tile_p: float, jitter: float
) -> tuple[float, float, float, float]:
    """(P(kept), E[X | kept], E[X^2 | kept], tile limit) of one block sum X ~ Gamma(shape,
    scale 1/shape) (unit mean) kept when X < `censor` and its tile (X and tile_cells - 1
    more independent block sums like it, Gamma((tile_cells - 1) shape) together) sums under
    the limit: the 1 - tile_p quantile of a noise-only tile (returned as a multiple of the
    tile's mean) times 1 + d, d ~ N(0, jitter^2) the relative error of the tile's expected
    noise. Exact law, by Gauss quadrature over X (Legendre) and d (Hermite): a threshold
    that scatters censors a little more on average than one that does not."""
    g = float(shape)
    rest = (tile_cells - 1) * g
    limit = float(special.gammaincinv(tile_cells * g, 1.0 - tile_p)) / (tile_cells * g)
    top = float(censor)
    x, wx = np.polynomial.legendre.leggauss(96)
    x, wx = 0.5 * top * (x + 1.0), 0.5 * top * wx
    d, wd = np.polynomial.hermite_e.hermegauss(15)
    wd = wd / wd.sum()
    room = tile_cells * limit * (1.0 + jitter * d[:, np.newaxis]) - x  # (d, x)
    weight = wd[:, np.newaxis] * wx * stats.gamma.pdf(x, g, scale=1.0 / g)
    weight = weight * special.gammainc(rest, g * np.maximum(room, 0.0))
    kept = float(weight.sum())
    first = float((weight * x).sum()) / kept
    second = float((weight * x * x).sum()) / kept
    return kept, first, second, limit


def _tile_sums(values: F32, tile_blocks: int) -> F32:
    """(n_bins, n_tiles) sums of `tile_blocks` consecutive columns of `values`
    (n_bins, n_blocks), the columns past the last whole tile left out (strided adds:
    a reduction over a short last axis is several times slower)."""
    whole = values.shape[1] // tile_blocks * tile_blocks
    sums = values[:, 0:whole:tile_blocks].copy()
    for offset in range(1, tile_blocks):
        sums += values[:, offset:whole:tile_blocks]
    return sums


def _near(values: F32, tile_bins: int) -> F32:
    """Sums of `values` (n_bins, ...) over the `tile_bins` bins centred on each,
    circular in frequency."""
    half, n = tile_bins // 2, values.shape[0]
    padded = np.concatenate((values[n - half :], values, values[:half]))
    near = padded[:n].copy()
    for shift in range(1, 2 * half + 1):
        near += padded[shift : shift + n]
    return near


def _tile_censor(
    kept_cells: F32,
    near: F32,
    last: tuple[F32, F32, F32, F32, float],
    tile_blocks: int,
    tile_bins: int,
    limit: float,
) -> None:
    """Zero in `kept_cells` (n_bins, n_blocks; 1.0 where kept) the blocks whose tile
    (`tile_blocks` consecutive blocks over the `tile_bins` bins centred on theirs; `near`:
    the tiles' sums, `_near(_tile_sums(blocks))`) sums over `limit` times its expected
    noise. Blocks past the last whole tile, and every block of a bin that would lose
    more than half its tiles (a busy neighbour), are left as they are.
    A tile's expected noise comes from the blocks its bins kept in the last pass outside
    that tile, so that a tile's own noise does not move its own limit (which would bias
    the floor low); `last`: that pass's kept sums and kept counts per bin and tile
    (`_tile_sums`), its totals and counts per bin, and its conditional mean `first`."""
    tile_kept, tile_count, total, count, first = last
    others = total[:, np.newaxis] - tile_kept
    other_count = np.maximum(count[:, np.newaxis] - tile_count, np.float32(1.0))
    expected = others / (other_count * np.float32(first))  # a block sum's mean
    ok = near < np.float32(limit * tile_blocks) * _near(expected, tile_bins)
    n_tiles = ok.shape[1]
    ok[ok.sum(axis=1) < 0.5 * n_tiles] = True
    whole = n_tiles * tile_blocks
    kept_cells[:, :whole] *= np.repeat(ok, tile_blocks, axis=1)


@lru_cache(maxsize=256)
def _gamma_quantile(shape: int, q: float) -> float:
    """q-quantile of a Gamma(shape, 1) variable (cached: a sensor's frames share it)."""
    return float(special.gammaincinv(shape, q))


def _block_sums_by_bin(power: F32, g: int, n_blocks: int, pairs: F32 | None) -> F32:
    """(n_bins, n_blocks) sums of g consecutive frames, transposed (one contiguous row per
    bin): from the frame pairs by pairwise additions when g is a power of two and they
    are given (a quarter of a pass over the spectrogram instead of a whole one), the last
    addition written straight into the transposed layout; else summed directly."""
    if pairs is not None and g >= 4 and g & (g - 1) == 0:
        level = pairs[: n_blocks * (g // 2)]
        while level.shape[0] > 2 * n_blocks:
            level = np.add(level[0::2], level[1::2])
        by_bin = np.empty((level.shape[1], n_blocks), dtype=np.float32)
        np.add(level[0::2], level[1::2], out=by_bin.T)
        return by_bin
    sums = np.add.reduce(power[: n_blocks * g].reshape(n_blocks, g, -1), axis=1)
    transposed: F32 = np.ascontiguousarray(sums.T)
    return transposed


def block_floor(
    power: F32,
    *,
    frames_per_block: int = 8,
    quantile: float = 0.05,
    smooth_bins: int = 7,
    censor: float = 2.0,
    pairs: F32 | None = None,
    level_bins: int = LEVEL_BINS,
    window: str = "hann",
    tile_bins: int = 1,
    tile_blocks: int = 4,
    tile_p: float = 0.025,
) -> NoiseFloor:
    """`time_floor` from sums of `frames_per_block` consecutive frames per bin: the order
    statistic and the censored mean (cells below `censor` times the estimate, conditional
    mean of a truncated Gamma law) run on an array `frames_per_block` times smaller, at
    about the same precision (a block of g noise cells is Gamma(g), so its censored mean
    keeps ~99 % of the cells at c = 2 for g = 8). Falls back to `time_floor` when the
    frame holds fewer than 16 blocks.

    window: the spectrogram's window (`Spectrogram.window`; "boxcar" for its flat power).
    power: (n_frames, n_bins) float32; pairs: its frame pairs (`spectra.frame_pairs`), if
    already summed.
    tile_bins > 1 (independent bins only: the flat spectrogram): a block is also censored
    when its tile, `tile_blocks` blocks x the `tile_bins` bins centred on its own, sums
    above its noise-only 1 - `tile_p` quantile, so that a weak burst a few bins wide, too
    weak to pass `censor` in one bin's block but standing ~3 sigma out over the tile,
    hardly lifts the floor of its own bins (a receiver's shape is the same in every
    tile of a bin, a burst is not). The kept blocks' conditional mean under noise alone
    (the exact joint law of a block and its tile) keeps the estimate unbiased.
    Costs at most one pass over `power` (the block sums); the rest runs
    on the (n_bins, n_blocks) transposed block sums, contiguous per bin, with the
    censored sums as float32 matrix-vector products (BLAS; 1e-6 relative, far inside
    the estimate's own scatter).
    """
    if power.ndim != 2:
        raise ValueError(f"power must be (n_frames, n_bins), got {power.shape=}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile=}")
    g = int(frames_per_block)
    n_blocks = power.shape[0] // g
    if g < 1 or n_blocks < 16:
        return time_floor(power, quantile=quantile, smooth_bins=smooth_bins, level_bins=level_bins)
    blocks = _block_sums_by_bin(power, g, n_blocks, pairs)  # (bins, blocks)
    k = min(n_blocks, max(1, round(quantile * n_blocks)))
    kth = np.sort(blocks, axis=1)[:, k - 1]  # short contiguous rows: faster than partition
    # the k-th smallest of n_blocks Gamma(g, 1) sums sits near their k / (n + 1) quantile
    unit_kth = _gamma_quantile(g, k / (n_blocks + 1.0))
    mu = np.maximum(kth * np.float32(g / unit_kth), _TINY)  # mean of a block sum
    kept, first, second = _truncated_gamma_moments(g, censor)
    # at least 12 tiles: with fewer, the tiles' expected noise is too uncertain for the
    # correction below (noise only: -0.08 % at 12 tiles, -0.4 % at 6)
    tiled = tile_bins > 1 and n_blocks >= 12 * tile_blocks and blocks.shape[0] >= tile_bins
    if tiled:
        own_first = first
        # the relative error of a tile's expected noise: tile_bins floor estimates, each
        # from the n_blocks - tile_blocks blocks outside the tile
        own_var = (second - first * first) / (first * first) / kept
        jitter = math.sqrt(own_var / (n_blocks - tile_blocks) / tile_bins)
        kept, first, second, tile_limit = _tile_censored_moments(
            g, censor, tile_bins * tile_blocks, tile_p, round(jitter, 4)
        )
    limit = np.float32(censor)
    ones = np.ones(n_blocks, dtype=np.float32)
    # a kept block's weight in the count: its conditional mean over `first` (tiled: the
    # blocks past the last whole tile are censored by `censor` alone)
    scale = ones
    if tiled:
        scale = ones.copy()
        scale[n_blocks - n_blocks % tile_blocks :] = own_first / first
        near = _near(_tile_sums(blocks, tile_blocks), tile_bins)
    previous: NDArray[np.bool_] | None = None
    last: tuple[F32, F32, F32, F32, float] | None = None
    for _ in range(3):
        below = blocks < (limit * mu)[:, np.newaxis]
        kept_cells = below.astype(np.float32)
        weights, factor = scale, first
        if tiled and last is None:  # the first pass by `censor` alone: the tiles' noise
            weights, factor = ones, own_first
        elif tiled and last is not None:
            _tile_censor(kept_cells, near, last, tile_blocks, tile_bins, tile_limit)
            below = kept_cells > 0
        if previous is not None and np.array_equal(below, previous):
            break  # the same cells again: the same estimate
        count = np.maximum(kept_cells @ weights, np.float32(1.0))
        tile_count = _tile_sums(kept_cells, tile_blocks) if tiled else ones
        kept_cells *= blocks
        total = kept_cells @ ones
        mu = np.maximum(total / count / np.float32(factor), _TINY)
        if tiled:
            last = (_tile_sums(kept_cells, tile_blocks), tile_count, total, count, factor)
        previous = below if factor == first else None  # (not after the untiled pass)
    per_bin = (mu / np.float32(g)).astype(np.float32)
    rel_std = math.sqrt((second - first * first) / (first * first) / (n_blocks * kept))
    return _finish(per_bin, smooth_bins, rel_std, level_bins, window)
