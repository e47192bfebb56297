"""Multi-scale energy scan of a spectrogram: where are the boxes that hold more than noise?

The ratio power / floor is summed over dt x df blocks (dt, df = 2, 4, 8, ...: a ladder
of factor 2 in each dimension, any aspect), and at every level a 3 x 3 box of blocks
(6 x 6 to 3·2^k cells a side) is tested at every block position against the known-noise
threshold for the frame's Pfa split evenly over levels and positions (Bonferroni), with
the box's effective number of independent cells (Hann bins are correlated) and the
floor's own uncertainty. A burst of T x B cells meets a box within a factor sqrt(2) of
its size and offset by at most one block in each dimension.

Cost: the full-resolution spectrogram is read once (frame pairs, normalised by the
floor); every level is built from the previous one by adding neighbouring rows or
columns, and the levels of one df are stacked in one array so that the box sums and the
threshold test are a few whole-array operations per df (total work about 6 passes over
half the spectrogram). Only levels with hot boxes go on to labelling, which runs on
their (small) hot grids.

A hot box is kept unless a box found at a finer level lies within one block of it:
coarse boxes are for weak, wide bursts, and would otherwise bridge the gaps between
strong ones (a GSM call). Boxes within `merge` cells of each other form one region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special

from detectors.cfar import known_noise_threshold
from detectors.spectra import effective_cells

F32 = NDArray[np.float32]
Box = tuple[int, int, int, int]  # rows [r0, r1) x bins [c0, c1), cells

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def box_threshold(pfa: float, n_eff: float, floor_rel_std: float, bins: int) -> float:
    """Known-noise threshold on a box mean, raised for the floor's own uncertainty: the
    floor of `bins` independent bins is off by floor_rel_std / sqrt(bins), which a box of
    many cells would otherwise read as signal (the "SNR wall")."""
    base = known_noise_threshold(pfa, n_eff)
    z = float(special.ndtri(1.0 - pfa)) if pfa < 0.5 else 0.0
    return float(base * (1.0 + z * floor_rel_std / math.sqrt(max(bins, 1))))


def ladder(size: int, first: int = 2) -> list[int]:
    """Block sizes first, 2 first, 4 first ... while a 3-block box fits in `size` cells."""
    out = []
    d = first
    while 3 * d <= size:
        out.append(d)
        d *= 2
    return out


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """Levels of a scan of an (n_frames, n_bins) spectrogram and their thresholds.

    dts: time block sizes; offsets[i]: first row of level dts[i] in the stacked array;
    rows[i]: its number of rows; dfs: bin block sizes; limits[k]: (stacked rows - 2,)
    float32 threshold on the 3 x 3 box sums of block level dfs[k] (inf on rows whose box
    would reach into the next level).
    """

    dts: tuple[int, ...]
    offsets: tuple[int, ...]
    rows: tuple[int, ...]
    dfs: tuple[int, ...]
    limits: tuple[F32, ...]

    @property
    def bounds(self) -> list[int]:
        """First row and end of the box positions of each time level, in turn."""
        return [
            v
            for first, n in zip(self.offsets, self.rows, strict=True)
            for v in (first, first + n - 2)
        ]

    @property
    def n_levels(self) -> int:
        return len(self.dts) * len(self.dfs)


@lru_cache(maxsize=64)
def scan_plan(
    n_frames: int,
    n_bins: int,
    window: str,
    nfft: int,
    pfa_frame: float,
    floor_rel_std: float,
) -> ScanPlan:
    """The levels and thresholds for a frame of this shape (cached: the same sensor sends
    the same shape every frame; `floor_rel_std` is rounded by the caller)."""
    dts, dfs = ladder(n_frames), ladder(n_bins)
    offsets, rows = [], []
    total = 0
    for dt in dts:
        offsets.append(total)
        rows.append(n_frames // dt)
        total += n_frames // dt
    n_levels = len(dts) * len(dfs)
    limits = []
    for df in dfs:
        cols = n_bins // df
        limit = np.full(max(total - 2, 0), np.inf, dtype=np.float32)
        for dt, first, count in zip(dts, offsets, rows, strict=True):
            positions = (count - 2) * (cols - 2)
            pfa = pfa_frame / n_levels / positions
            n_eff = effective_cells(window, nfft, 3 * dt, 3 * df)
            mean = box_threshold(pfa, n_eff, floor_rel_std, 3 * df)
            limit[first : first + count - 2] = mean * 9 * dt * df
        limits.append(limit)
    return ScanPlan(tuple(dts), tuple(offsets), tuple(rows), tuple(dfs), tuple(limits))


def _box_sums3(level: F32) -> F32:
    """Sums over the 3 x 3 boxes of `level` (rows, cols) lying inside it: (rows - 2,
    cols - 2), entry (i, j) the box whose top-left block is (i, j)."""
    rows, cols = level.shape
    if cols > _NARROW or not level.flags.c_contiguous:
        across = level[:, :-2] + level[:, 1:-1]
        across += level[:, 2:]
        sums = across[:-2] + across[1:-1]
        sums += across[2:]
        return sums
    # narrow rows: add along the flat array (one contiguous pass instead of a short one
    # per row); the two sums per row that run into the next row are cut off at the end
    flat = level.reshape(-1)
    along = np.empty(rows * cols, dtype=level.dtype)
    np.add(flat[:-2], flat[1:-1], out=along[:-2])
    along[:-2] += flat[2:]
    along[-2:] = 0.0
    wide = along.reshape(rows, cols)
    out = wide[:-2] + wide[1:-1]
    out += wide[2:]
    narrow: F32 = out[:, : cols - 2]
    return narrow


_NARROW = 64  # columns up to which `_box_sums3` works on the flat array


class _Residual:
    """Box sums with the boxes already found (and one of their blocks around) painted out
    at the noise mean: a coarse box whose excess lies (almost) all in finer finds is
    explained by them; one with excess left outside them holds more (the rest of a weak
    burst those finds are pieces of, or a weaker emitter beside them).

    The painted image (the 2 x 2 blocks, painted ones set to their noise mean 4) is summed
    into the blocks of each level that asks, by pairwise additions from a finer level
    already summed; a level summed before later finds painted more is patched over their
    rectangles only. So the test of a level is a few whole-array operations on its own
    grid around its hot positions: every box edge is on that grid (block sizes are even).
    Painted cells hold exactly the noise mean, so a box over a strong burst's painted
    cells sums to noise without cancellation.
    """

    def __init__(self, blocks: F32) -> None:
        self._blocks = blocks
        self._painted: F32 | None = None
        self._rects: list[Box] = []  # painted, in 2 x 2 blocks, in order
        # painted image per level block, and how many of _rects it holds
        self._levels: dict[tuple[int, int], tuple[F32, int]] = {}
        self.found: list[Box] = []

    def add(self, boxes: list[Box], dt: int, df: int) -> None:
        rows, cols = self._blocks.shape
        if self._painted is None:
            self._painted = self._blocks.copy()
        for r0, r1, c0, c1 in boxes:
            self.found.append((r0, r1, c0, c1))
            a, b = max(0, (r0 - dt) // 2), min(rows, (r1 + dt) // 2)
            c, d = max(0, (c0 - df) // 2), min(cols, (c1 + df) // 2)
            self._painted[a:b, c:d] = np.float32(4.0)  # the noise mean of a 2 x 2 block
            self._rects.append((a, b, c, d))

    def _level(self, h: int, w: int) -> F32:
        """The painted image summed over blocks of h x w 2 x 2-blocks (h, w powers of 2)."""
        painted = self._painted
        assert painted is not None
        if (h, w) == (1, 1):
            return painted
        cached = self._levels.get((h, w))
        if cached is not None:
            level, done = cached
            for a, b, c, d in self._rects[done:]:  # patch what was painted since
                i0, i1 = a // h, min(level.shape[0], -(-b // h))
                j0, j1 = c // w, min(level.shape[1], -(-d // w))
                if i1 > i0 and j1 > j0:
                    part = painted[i0 * h : i1 * h, j0 * w : j1 * w]
                    level[i0:i1, j0:j1] = part.reshape(i1 - i0, h, j1 - j0, w).sum(axis=(1, 3))
        elif h > 1 and (w == 1 or (h // 2, w) in self._levels):
            finer = self._level(h // 2, w)
            rows = finer.shape[0] // 2 * 2
            level = np.add(finer[0:rows:2], finer[1:rows:2])
        else:
            finer = self._level(h, w // 2)
            cols = finer.shape[1] // 2 * 2
            level = np.add(finer[:, 0:cols:2], finer[:, 1:cols:2])
        self._levels[(h, w)] = (level, len(self._rects))
        return level

    def still_hot(self, level: _HotLevel) -> bool:
        """Clear (in place) the hot positions of `level` whose excess the found boxes near
        them explain; whether any are left."""
        if self._painted is None:
            return True
        dt, df, (i0, j0) = level.dt, level.df, level.origin
        rows, cols = level.hot.shape
        painted = self._level(dt // 2, df // 2)[i0 : i0 + rows + 2, j0 : j0 + cols + 2]
        # explained: what is left is noise-like (half the threshold's excess), or a small
        # part of the box's excess (a weak burst's fragments leave more); with R the
        # painted box sum, S the box sum, C its cells and L the threshold on S:
        # R - C <= (L - C) / 2 or R - C <= (S - C) / 4, i.e. 4 R - 3 C <= max(2 L - C, S)
        cells = 9 * dt * df
        rest = _box_sums3(painted)
        rest *= np.float32(4.0)
        rest -= np.float32(3 * cells)
        hot = level.hot
        hot &= rest > np.maximum(level.sums, np.float32(2.0 * level.limit - cells))
        return bool(hot.any())


@dataclass(frozen=True, slots=True)
class _HotLevel:
    """The hot box positions of one level (dt, df), cut to their bounding box (whose first
    position is `origin` in the level's grid): `hot` (rows, cols) bool, writable; `sums`
    the box sums there; `limit` the threshold they crossed."""

    dt: int
    df: int
    origin: tuple[int, int]
    hot: NDArray[np.bool_]
    sums: F32
    limit: float


def _component_boxes(level: _HotLevel) -> list[Box]:
    """Cell boxes of the connected groups of hot box positions of one level: the union of
    their boxes."""
    labels, _ = ndimage.label(level.hot, structure=_EIGHT_CONNECTED)
    dt, df, (r, c) = level.dt, level.df, level.origin
    boxes = []
    for found in ndimage.find_objects(labels):
        if found is None:
            continue
        ts, fs = found
        i0, i1 = r + int(ts.start), r + int(ts.stop) + 2  # blocks i0 .. i1 - 1
        j0, j1 = c + int(fs.start), c + int(fs.stop) + 2
        boxes.append((i0 * dt, i1 * dt, j0 * df, j1 * df))
    return boxes


def scan_boxes(
    power: F32,
    floor: F32,
    *,
    window: str,
    nfft: int,
    pfa_frame: float,
    floor_rel_std: float,
) -> list[Box]:
    """Boxes (cells) of the hot regions of `power` (n_frames, n_bins) float32 with per-bin
    noise `floor` (n_bins,), finest level first; [] when nothing crosses."""
    n, m = power.shape
    plan = scan_plan(n, m, window, nfft, pfa_frame, round(floor_rel_std, 4))
    if not plan.dts or not plan.dfs:
        return []
    inv = np.float32(1.0) / np.maximum(floor, np.float32(1e-30))
    half = n // 2 * 2
    pairs = np.add(power[0:half:2], power[1:half:2])  # the only full-size pass
    pairs *= inv
    width = m // 2 * 2
    stacked = np.empty((plan.offsets[-1] + plan.rows[-1], m // 2), dtype=np.float32)
    np.add(pairs[:, 0:width:2], pairs[:, 1:width:2], out=stacked[: plan.rows[0]])
    for k in range(1, len(plan.dts)):
        prev = stacked[plan.offsets[k - 1] : plan.offsets[k - 1] + plan.rows[k - 1]]
        even, first = plan.rows[k] * 2, plan.offsets[k]
        np.add(prev[0:even:2], prev[1:even:2], out=stacked[first : first + plan.rows[k]])
    base = stacked[: plan.rows[0]]  # level (2, 2)
    hot_levels: list[_HotLevel] = []
    for k, df in enumerate(plan.dfs):
        if k:
            stacked = _pair_columns(stacked)
        sums = _box_sums3(stacked)
        hot = sums > plan.limits[k][:, np.newaxis]
        if not hot.any():  # noise-only frames stop here
            continue
        hot_rows = np.flatnonzero(hot.any(axis=1))
        ends = np.searchsorted(hot_rows, plan.bounds).tolist()
        # per level, the columns with a hot position (the last 2 rows of each level are
        # never hot: their boxes would reach into the next level)
        level_cols = np.logical_or.reduceat(hot, plan.offsets, axis=0)
        for i, (dt, first) in enumerate(zip(plan.dts, plan.offsets, strict=True)):
            lo, hi = ends[2 * i], ends[2 * i + 1]
            if lo == hi:
                continue
            r0, r1 = int(hot_rows[lo]), int(hot_rows[hi - 1]) + 1
            hot_cols = np.flatnonzero(level_cols[i])
            c0, c1 = int(hot_cols[0]), int(hot_cols[-1]) + 1
            limit = float(plan.limits[k][first])
            origin = (r0 - first, c0)
            hot_levels.append(
                _HotLevel(dt, df, origin, hot[r0:r1, c0:c1], sums[r0:r1, c0:c1], limit)
            )
    residual = _Residual(base)
    for level in sorted(hot_levels, key=lambda h: (h.dt * h.df, h.dt, h.df)):
        if residual.still_hot(level):
            residual.add(_component_boxes(level), level.dt, level.df)
    return residual.found


def _pair_columns(x: F32) -> F32:
    """Sums of neighbouring column pairs of x (rows, cols): (rows, cols // 2), C-ordered.
    With an even number of columns the pairs never straddle two rows, so they are taken
    along the flat array (one strided pass instead of a short one per row)."""
    rows, cols = x.shape
    if cols % 2 == 0 and x.flags.c_contiguous:
        flat = x.reshape(-1)
        paired: F32 = np.add(flat[0::2], flat[1::2]).reshape(rows, cols // 2)
        return paired
    even = cols // 2 * 2
    return np.add(x[:, 0:even:2], x[:, 1:even:2])


def merge_boxes(boxes: list[Box], reach_rows: int, reach_cols: int) -> list[Box]:
    """Bounding boxes of the groups of boxes that overlap or are at most 2 `reach_rows` rows
    and 2 `reach_cols` columns apart (transitively)."""
    if len(boxes) < 2:
        return list(boxes)
    a = np.array(boxes, dtype=np.int64)
    gap_r, gap_c = 2 * reach_rows + 1, 2 * reach_cols + 1  # as a dilation by `reach` each way
    close = (
        (a[:, None, 0] < a[None, :, 1] + gap_r)
        & (a[None, :, 0] < a[:, None, 1] + gap_r)
        & (a[:, None, 2] < a[None, :, 3] + gap_c)
        & (a[None, :, 2] < a[:, None, 3] + gap_c)
    )
    if len(boxes) <= _CLOSURE_MAX:
        return _merged_by_closure(a, close)
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(close, 1)), strict=True):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(root(i), []).append(i)
    merged = []
    for members in groups.values():
        g = a[members]
        merged.append(
            (int(g[:, 0].min()), int(g[:, 1].max()), int(g[:, 2].min()), int(g[:, 3].max()))
        )
    return merged


_CLOSURE_MAX = 128  # boxes up to which `merge_boxes` groups them by a matrix closure


def _merged_by_closure(a: NDArray[np.int64], close: NDArray[np.bool_]) -> list[Box]:
    """`merge_boxes`' groups from its (reflexive, symmetric) `close` matrix: the transitive
    closure by repeated squaring (a few small float32 matrix products, exact for these
    counts), each group labelled by its first member, in the order of first members (as
    the union-find gives them)."""
    reach = close.astype(np.float32)
    while True:
        grown = (reach @ reach) > 0.0
        if np.array_equal(grown, reach > 0.0):
            break
        reach = grown.astype(np.float32)
    labels = np.argmax(reach > 0.0, axis=1)  # the first member of each box's group
    firsts = np.flatnonzero(labels == np.arange(labels.shape[0]))
    big = np.iinfo(np.int64).max
    lo_r = np.full(a.shape[0], big, dtype=np.int64)
    lo_c = np.full(a.shape[0], big, dtype=np.int64)
    hi_r = np.zeros(a.shape[0], dtype=np.int64)
    hi_c = np.zeros(a.shape[0], dtype=np.int64)
    np.minimum.at(lo_r, labels, a[:, 0])
    np.maximum.at(hi_r, labels, a[:, 1])
    np.minimum.at(lo_c, labels, a[:, 2])
    np.maximum.at(hi_c, labels, a[:, 3])
    return list(
        zip(
            lo_r[firsts].tolist(),
            hi_r[firsts].tolist(),
            lo_c[firsts].tolist(),
            hi_c[firsts].tolist(),
            strict=True,
        )
    )
