"""Multi-scale energy scan of a spectrogram: where are the boxes that hold more than noise?

The ratio power / floor is summed over dt x df blocks (dt, df = 2, 4, 8, ...: a ladder
of factor 2 in each dimension, any aspect; df from 1 on request, `first_df`), and at
every level a 3 x 3 box of blocks (6 x 6, or 6 x 3, to 3·2^k cells a side) is tested at
every block position against the known-noise
threshold for the frame's Pfa split evenly over levels and positions (Bonferroni), with
the box's effective number of independent cells (Hann bins are correlated) and the
floor's own uncertainty. A burst of T x B cells meets a box within a factor sqrt(2) of
its size and offset by at most one block in each dimension.

Cost: the full-resolution spectrogram is read once, as the frame pairs it shares with
the noise floor (`spectra.frame_pairs`), normalised by the floor; every level is built
from the previous one by adding neighbouring rows or columns (`scan_levels`), and the
levels of one df are stacked in one array so that the box sums and the threshold test
are a few whole-array operations per df, or for all of them at once when the
spectrogram is small (a GSM uplink at 2 MS/s: 36 levels on one array of 60 columns).
Only levels with hot boxes go on to labelling, which runs on their (small) hot grids;
on a small spectrogram the residual test below runs on every level at once too.

A hot box is kept unless a box found at a finer level lies within one block of it:
coarse boxes are for weak, wide bursts, and would otherwise bridge the gaps between
strong ones (a GSM call). Boxes within `merge` cells of each other form one region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from detectors.scan_levels import (
    ScanPlan,
    box_sums3,
    box_sums3_in_place,
    fill_ladder,
    fill_side,
    scan_plan,
    tested_box_sums3,
)
from detectors.spectra import frame_pairs

F32 = NDArray[np.float32]
Box = tuple[int, int, int, int]  # rows [r0, r1) x bins [c0, c1), cells

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


class _Residual:
    """Box sums with the boxes already found (and one of their blocks around) painted out
    at the noise mean: a coarse box whose excess lies (almost) all in finer finds is
    explained by them; one with excess left outside them holds more (the rest of a weak
    burst those finds are pieces of, or a weaker emitter beside them).

    The painted image (the base 2 x df0 blocks, df0 the finest bin block, 1 or 2; painted
    ones set to their noise mean 2 df0) is summed into the blocks of each level that asks,
    by pairwise additions from a finer level already summed; a level summed before later
    finds painted more is patched over their rectangles only. So the test of a level is a
    few whole-array operations on its own grid around its hot positions: every box edge
    is on that grid (block sizes are multiples of the base block's). Painted cells hold
    exactly the noise mean, so a box over a strong burst's painted cells sums to noise
    without cancellation.
    """

    def __init__(self, blocks: F32, df0: int = 2) -> None:
        self._blocks = blocks
        self._df0 = df0
        self._painted: F32 | None = None
        self._rects: list[Box] = []  # painted, in base blocks, in order
        # painted image per level block, and how many of _rects it holds
        self._levels: dict[tuple[int, int], tuple[F32, int]] = {}
        self.found: list[Box] = []

    def add(self, boxes: list[Box], dt: int, df: int) -> None:
        rows, cols = self._blocks.shape
        df0 = self._df0
        if self._painted is None:
            self._painted = self._blocks.copy()
        for r0, r1, c0, c1 in boxes:
            self.found.append((r0, r1, c0, c1))
            a, b = max(0, (r0 - dt) // 2), min(rows, (r1 + dt) // 2)
            c, d = max(0, (c0 - df) // df0), min(cols, (c1 + df) // df0)
            self._painted[a:b, c:d] = np.float32(2 * df0)  # a base block's noise mean
            self._rects.append((a, b, c, d))

    @property
    def painted(self) -> F32:
        """The base blocks with the found boxes painted (the blocks until one is)."""
        return self._blocks if self._painted is None else self._painted

    def _level(self, h: int, w: int) -> F32:
        """The painted image summed over blocks of h x w base blocks (h, w powers of 2)."""
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
        painted = self._level(dt // 2, df // self._df0)[i0 : i0 + rows + 2, j0 : j0 + cols + 2]
        # explained: what is left is noise-like (half the threshold's excess), or a small
        # part of the box's excess (a weak burst's fragments leave more); with R the
        # painted box sum, S the box sum, C its cells and L the threshold on S:
        # R - C <= (L - C) / 2 or R - C <= (S - C) / 4, i.e. 4 R - 3 C <= max(2 L - C, S)
        cells = 9 * dt * df
        rest = box_sums3(painted)
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
    their boxes. Labelled with each run of empty rows cut to one (which still separates
    the groups, in the same order): bursts hot for a few rows apiece leave most of a
    level's rows empty."""
    hot_rows: NDArray[np.bool_] = np.asarray(level.hot.any(axis=1), dtype=bool)
    kept = hot_rows.copy()
    kept[1:] |= hot_rows[:-1]
    rows = kept.nonzero()[0]  # of level.hot, in the labelled image
    if not rows.size:
        return []
    labels, _ = ndimage.label(level.hot[rows], structure=_EIGHT_CONNECTED)
    dt, df, (r, c) = level.dt, level.df, level.origin
    boxes = []
    for found in ndimage.find_objects(labels):
        if found is None:
            continue
        ts, fs = found
        # blocks i0 .. i1 - 1 (a group's first and last rows are hot: kept rows)
        i0, i1 = r + int(rows[ts.start]), r + int(rows[ts.stop - 1]) + 3
        j0, j1 = c + int(fs.start), c + int(fs.stop) + 2
        boxes.append((i0 * dt, i1 * dt, j0 * df, j1 * df))
    return boxes


#: level cells up to which the bin levels are tested side by side (512 kB of float32: the
#: arrays stay in cache, and few enough that the heap is not trimmed and re-faulted)
SIDE_BY_SIDE_CELLS = 1 << 17


def scan_boxes(
    power: F32,
    floor: F32,
    *,
    window: str,
    nfft: int,
    pfa_frame: float,
    floor_rel_std: float,
    level_bins: float = 1.0,
    cell: tuple[int, int] = (1, 1),
    pairs: F32 | None = None,
    side_by_side_cells: int = SIDE_BY_SIDE_CELLS,
    first_df: int = 2,
) -> list[Box]:
    """Boxes (cells) of the hot regions of `power` (n_frames, n_bins) float32 with per-bin
    noise `floor` (n_bins,) (relative error floor_rel_std per bin, shared over
    `level_bins`: `floor.NoiseFloor`), finest level first; [] when nothing crosses. cell:
    (frames, bins) of the original spectrogram averaged into each cell of `power` (its
    noise cells then have that many degrees of freedom more). pairs: the
    frame pairs of `power` (`spectra.frame_pairs`), if already summed. first_df: the
    finest bin block, 2 or 1 (boxes from 3 cells wide: `scan_levels.scan_plan`).
    Spectrograms whose levels hold at most `side_by_side_cells` block sums are scanned
    every level at once (`_scan_side_by_side`; the same boxes up to float32 rounding of
    the painted sums)."""
    n, m = power.shape
    plan = scan_plan(
        n, m, window, nfft, pfa_frame, round(floor_rel_std, 4), level_bins, cell, first_df
    )
    if not plan.dts or not plan.dfs:
        return []
    inv = np.float32(1.0) / np.maximum(floor, np.float32(1e-30))
    if pairs is None:
        pairs = frame_pairs(power)  # the only full-size pass
    total_rows = plan.offsets[-1] + plan.rows[-1]
    stacked = np.empty((total_rows, m // first_df), dtype=np.float32)
    _normalised_blocks(pairs, inv, stacked[: plan.rows[0]])
    if total_rows * plan.columns[-1] <= side_by_side_cells:
        return _scan_side_by_side(plan, stacked)
    hot_levels: list[_HotLevel] = []
    for k, part in enumerate(fill_ladder(plan, stacked)):
        # whole rows: the test is one contiguous pass, and the last 2 columns (zeroed)
        # are never hot; only the bin levels with hot positions keep their sums
        sums, hot = tested_box_sums3(part, plan.level_limits(k))
        if sums is not None and hot.any():
            hot_levels += _hot_levels(plan, k, hot, sums)
    if not hot_levels:  # noise-only frames stop here
        return []
    residual = _Residual(stacked[: plan.rows[0]], first_df)  # level (2, first_df)
    for level in sorted(hot_levels, key=lambda h: (h.dt * h.df, h.dt, h.df)):
        if residual.still_hot(level):
            residual.add(_component_boxes(level), level.dt, level.df)
    return residual.found


def _hot_levels(plan: ScanPlan, k: int, hot: NDArray[np.bool_], sums: F32) -> list[_HotLevel]:
    """The levels of bin level dfs[k] with hot positions in `hot` (stacked rows x
    positions, or whole rows whose last 2 columns are never hot), cut to their bounding
    boxes."""
    df = plan.dfs[k]
    hot_rows = np.flatnonzero(hot.any(axis=1))
    if not hot_rows.size:
        return []
    ends = np.searchsorted(hot_rows, plan.bounds).tolist()
    # per level, the columns with a hot position (the last 2 rows of each level are
    # never hot: their boxes would reach into the next level)
    level_cols = np.logical_or.reduceat(hot, plan.offsets, axis=0)
    out = []
    for i, (dt, first) in enumerate(zip(plan.dts, plan.offsets, strict=True)):
        lo, hi = ends[2 * i], ends[2 * i + 1]
        if lo == hi:
            continue
        r0, r1 = int(hot_rows[lo]), int(hot_rows[hi - 1]) + 1
        hot_cols = np.flatnonzero(level_cols[i])
        c0, c1 = int(hot_cols[0]), int(hot_cols[-1]) + 1
        limit = float(plan.limit[first, plan.columns[k]])
        origin = (r0 - first, c0)
        out.append(_HotLevel(dt, df, origin, hot[r0:r1, c0:c1], sums[r0:r1, c0:c1], limit))
    return out


def _normalised_blocks(pairs: F32, inv: NDArray[np.floating[Any]], out: F32) -> None:
    """out[i, j] = pairs[i, 2j] inv[2j] + pairs[i, 2j + 1] inv[2j + 1]: the ratio to the
    floor summed over 2 x 2 cells (one half-size temporary, freed on return: the scan
    keeps its big temporaries few, so that the heap is not trimmed and faulted in again
    every frame); out[i, j] = pairs[i, j] inv[j] (2 x 1 cells) when `out` is as wide as
    `pairs`."""
    if out.shape[1] == pairs.shape[1]:
        np.multiply(pairs, inv, out=out)
        return
    width = out.shape[1] * 2
    np.multiply(pairs[:, 0:width:2], inv[0:width:2], out=out)
    out += pairs[:, 1:width:2] * inv[1:width:2]


def _level_at(plan: ScanPlan, i: int, k: int, flags: NDArray[np.bool_], sums: F32) -> _HotLevel:
    """Level (dts[i], dfs[k]) of the side-by-side `flags` (which has positions set there)
    and `sums`, cut to the bounding box of its set positions."""
    first, c_lo = plan.offsets[i], plan.columns[k]
    rows = slice(first, first + plan.rows[i] - 2)
    cols = slice(c_lo, plan.columns[k + 1] - 2)
    own = flags[rows, cols]
    set_rows = np.flatnonzero(own.any(axis=1))
    set_cols = np.flatnonzero(own.any(axis=0))
    r0, r1 = int(set_rows[0]), int(set_rows[-1]) + 1
    c0, c1 = int(set_cols[0]), int(set_cols[-1]) + 1
    return _HotLevel(
        plan.dts[i],
        plan.dfs[k],
        (r0, c0),
        own[r0:r1, c0:c1],
        sums[rows, cols][r0:r1, c0:c1],
        float(plan.limit[first, c_lo]),
    )


def _scan_side_by_side(plan: ScanPlan, stacked: F32) -> list[Box]:
    """`scan_boxes` for a small spectrogram, every level at once: the bin levels side by
    side in one array (boxes straddling two of them get inf limits), so that the box sums
    and the test of all the levels are a few whole-array operations; and so is the
    residual test (`_Residual`) of every level still to go: after each level that finds
    boxes, the painted image's levels are summed again the same way (most frames need
    that once or twice: the finest level finds the bursts, coarser ones are explained
    by them), and the next level in turn with positions left finds the next boxes.
    stacked: (stacked rows, n_bins // dfs[0]) float32 with the (2, dfs[0]) blocks in its
    first rows.
    """
    rows0 = plan.rows[0]
    side = np.empty((stacked.shape[0], plan.columns[-1]), dtype=np.float32)
    fill_side(plan, stacked, side)
    work = np.empty_like(side)
    sums = box_sums3_in_place(side, work)  # written over `side`
    hot = sums > plan.limit
    if not hot.any():  # noise-only frames stop here
        return []
    base = stacked[:rows0].copy()  # `stacked` takes the painted image below
    n_df = len(plan.dfs)
    row_starts = np.asarray(plan.offsets, dtype=np.intp)
    col_starts = np.asarray(plan.columns[:-1], dtype=np.intp)

    def level_any(flags: NDArray[np.bool_]) -> list[bool]:
        """Whether each level (index i * n_df + k) has a position set in `flags`."""
        by_row = np.logical_or.reduceat(flags, row_starts, axis=0)
        listed: list[bool] = np.logical_or.reduceat(by_row, col_starts, axis=1).ravel().tolist()
        return listed

    on = level_any(hot)
    pending = [ik for ik in plan.order if on[ik[0] * n_df + ik[1]]]
    residual = _Residual(base, plan.dfs[0])
    flags = hot  # the first level with hot positions has nothing to be explained by
    painted: F32 | None = None
    while pending:
        i, k = pending.pop(0)
        level = _level_at(plan, i, k, flags, sums)
        residual.add(_component_boxes(level), level.dt, level.df)
        if not pending:
            break
        if painted is None:
            painted = np.empty_like(side)
        stacked[:rows0] = residual.painted
        fill_side(plan, stacked, painted)
        rest = box_sums3_in_place(painted, work)
        # explained as in `_Residual.still_hot`: 4 R - 3 C <= max(2 L - C, S)
        rest *= np.float32(4.0)
        rest -= plan.three_cells
        bound = np.maximum(sums, plan.explained, out=work[: sums.shape[0]])
        flags = hot & (rest > bound)
        left = level_any(flags)
        while pending and not left[pending[0][0] * n_df + pending[0][1]]:
            pending.pop(0)
    return residual.found


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
