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
    across = level[:, :-2] + level[:, 1:-1]
    across += level[:, 2:]
    sums = across[:-2] + across[1:-1]
    sums += across[2:]
    return sums


def _integral(blocks: F32) -> NDArray[np.float64]:
    """Summed-area table of `blocks` (rows, cols): (rows + 1, cols + 1) float64."""
    rows, cols = blocks.shape
    table = np.zeros((rows + 1, cols + 1), dtype=np.float64)
    np.cumsum(blocks, axis=0, dtype=np.float64, out=table[1:, 1:])
    np.cumsum(table[1:, 1:], axis=1, out=table[1:, 1:])
    return table


class _Residual:
    """Box sums with the boxes already found (and one of their blocks around) painted out
    at the noise mean: a coarse box whose excess lies (almost) all in finer finds is
    explained by them; one with excess left outside them holds more (the rest of a weak
    burst those finds are pieces of, or a weaker emitter beside them). Reads summed-area
    tables of the 2 x 2 blocks (the painted-out part only over the bounding box of the
    painted cells), built on first use; every box edge is on that grid (block sizes are
    even)."""

    def __init__(self, blocks: F32) -> None:
        self._blocks = blocks
        self._whole: NDArray[np.float64] | None = None
        self._removed: NDArray[np.float64] | None = None  # table of blocks - painted
        self._painted: list[Box] = []  # in 2 x 2 blocks
        self.found: list[Box] = []

    def add(self, boxes: list[Box], dt: int, df: int) -> None:
        rows, cols = self._blocks.shape
        for r0, r1, c0, c1 in boxes:
            self.found.append((r0, r1, c0, c1))
            self._painted.append(
                (max(0, (r0 - dt) // 2), min(rows, (r1 + dt) // 2),
                 max(0, (c0 - df) // 2), min(cols, (c1 + df) // 2))
            )  # fmt: skip
            self._removed = None

    def _removed_table(self) -> tuple[NDArray[np.float64], int, int]:
        """Summed-area table of what painting removed, over the painted bounding box, and
        that box's first row and column."""
        p = np.array(self._painted)
        a, b, c, d = int(p[:, 0].min()), int(p[:, 1].max()), int(p[:, 2].min()), int(p[:, 3].max())
        if self._removed is None:
            removed = np.zeros((b - a, d - c), dtype=np.float32)
            for r0, r1, c0, c1 in self._painted:
                part = self._blocks[r0:r1, c0:c1]
                removed[r0 - a : r1 - a, c0 - c : c1 - c] = part - np.float32(4.0)  # noise: 4
            self._removed = _integral(removed)
        return self._removed, a, c

    def still_hot(self, hot: NDArray[np.bool_], dt: int, df: int, limit: float) -> None:
        """Clear (in place) the hot positions of level (dt, df) whose excess the found
        boxes near them explain."""
        if not self._painted:
            return
        # boxes that meet no painted box keep rest == whole, above both bounds
        i, j = np.nonzero(hot)
        if self._whole is None:
            self._whole = _integral(self._blocks)
        removed, r_off, c_off = self._removed_table()
        hdt, hdf = dt // 2, df // 2  # position boxes in 2 x 2 blocks
        a, b = i * hdt, (i + 3) * hdt
        c, d = j * hdf, (j + 3) * hdf
        w = self._whole
        box_cells = 9 * dt * df
        whole = w[b, d] - w[a, d] - w[b, c] + w[a, c] - box_cells
        n_r, n_c = removed.shape[0] - 1, removed.shape[1] - 1
        a, b = np.clip(a - r_off, 0, n_r), np.clip(b - r_off, 0, n_r)
        c, d = np.clip(c - c_off, 0, n_c), np.clip(d - c_off, 0, n_c)
        r = removed
        rest = whole - (r[b, d] - r[a, d] - r[b, c] + r[a, c])
        # explained: what is left is noise-like (half the threshold's excess), or a small
        # part of the box's excess (a weak burst's fragments leave more)
        explained = (rest <= 0.5 * (limit - box_cells)) | (rest <= 0.25 * whole)
        hot[i[explained], j[explained]] = False


def _component_boxes(hot: NDArray[np.bool_], dt: int, df: int) -> list[Box]:
    """Cell boxes of the connected groups of hot box positions of one level: the union of
    their boxes."""
    labels, _ = ndimage.label(hot, structure=_EIGHT_CONNECTED)
    boxes = []
    for found in ndimage.find_objects(labels):
        if found is None:
            continue
        ts, fs = found
        i0, i1 = int(ts.start), int(ts.stop) + 2  # blocks i0 .. i1 - 1
        j0, j1 = int(fs.start), int(fs.stop) + 2
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
    hot_levels: list[tuple[int, int, int, NDArray[np.bool_]]] = []
    for k, df in enumerate(plan.dfs):
        if k:
            cols = stacked.shape[1] // 2 * 2
            stacked = np.add(stacked[:, 0:cols:2], stacked[:, 1:cols:2])
        hot = _box_sums3(stacked) > plan.limits[k][:, np.newaxis]
        if not hot.any():
            continue
        for dt, first, count in zip(plan.dts, plan.offsets, plan.rows, strict=True):
            part = hot[first : first + count - 2]
            if part.any():
                hot_levels.append((dt * df, dt, df, part.copy()))
    residual = _Residual(base)
    for _, dt, df, part in sorted(hot_levels, key=lambda h: h[:3]):
        k = plan.dts.index(dt)
        residual.still_hot(part, dt, df, float(plan.limits[plan.dfs.index(df)][plan.offsets[k]]))
        if part.any():
            residual.add(_component_boxes(part, dt, df), dt, df)
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
