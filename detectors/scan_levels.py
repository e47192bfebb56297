"""The level ladder of the burst scan (`burst_scan`): block sums of a spectrogram's ratio
to its floor over dt x df cells (dt = 2, 4, 8, ...; df = 2, 4, 8, ... or, with
`first_df` 1, 1, 2, 4, ...), their 3 x 3 box sums, and the thresholds those are tested
against.

Layout: the time levels of one bin level are stacked in one array (`ScanPlan.offsets`),
each built from the one above by adding neighbouring rows; the bin levels are built
from each other by adding neighbouring columns, and a small spectrogram puts them side
by side (`ScanPlan.columns`), so that the box sums and the test of every level are a
few whole-array operations. A 3 x 3 box of dt x df blocks holds 9 dt df cells; its
threshold is the known-noise one for its effective number of independent cells (Hann
bins are correlated) at the frame's Pfa split over levels and positions (Bonferroni),
raised for the floor's own uncertainty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from detectors.cfar import known_noise_threshold
from detectors.spectra import effective_cells

F32 = NDArray[np.float32]


def box_threshold(pfa: float, n_eff: float, floor_var: float) -> float:
    """Known-noise threshold on a box mean, for the floor's own uncertainty too: a floor
    off by e (relative variance `floor_var` over the box's bins) scales the box mean by
    1 / (1 + e), which a box of many cells would otherwise read as signal (the "SNR
    wall"). The two variances add: the box mean is tested as a Gamma law with the
    shape that matches 1 / n_eff + floor_var."""
    return known_noise_threshold(pfa, 1.0 / (1.0 / n_eff + floor_var))


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
    rows[i]: its number of rows; dfs: bin block sizes (dfs[0] the base blocks' width:
    the stacked array's first rows hold the 2 x dfs[0] blocks); columns[k]: first column of block
    size dfs[k] in the side-by-side array (n_bins // dfs[k] columns each); limit:
    (stacked rows - 2, side-by-side columns - 2) float32 threshold on the 3 x 3 box sums
    there, one value per level, inf where a box would reach into the next level (the
    last 2 rows of a time level, the last 2 columns of a bin level), laid out as the
    sums are so that the test of every level is one plain comparison.
    """

    dts: tuple[int, ...]
    offsets: tuple[int, ...]
    rows: tuple[int, ...]
    dfs: tuple[int, ...]
    columns: tuple[int, ...]
    limit: F32
    #: the residual test's constants in the layout of `limit`: 3 C and 2 L - C, with C
    #: the cells of a level's box and L its limit (`_Residual.still_hot`)
    three_cells: F32
    explained: F32
    #: (time level, bin level) index pairs, finest box first (the residual test's order)
    order: tuple[tuple[int, int], ...]

    def level_limits(self, k: int) -> F32:
        """(stacked rows - 2,) the thresholds of bin level dfs[k], one per row (inf on
        the last 2 rows of each time level)."""
        column: F32 = self.limit[:, self.columns[k]]
        return column

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
    level_bins: float = 1.0,
    cell: tuple[int, int] = (1, 1),
    first_df: int = 2,
) -> ScanPlan:
    """The levels and thresholds for a frame of this shape (cached: the same sensor sends
    the same shape every frame; `floor_rel_std` is rounded by the caller). The floor's
    error over a box of B bins is floor_rel_std / sqrt(max(independent bins of B,
    level_bins)) (`floor.NoiseFloor`). cell: (frames, bins) of the spectrogram averaged
    into each cell scanned (a coarser grid of box sizes). first_df: the finest bin block
    (2, or 1 for boxes 3 cells wide: one more bin level, with twice the positions of the
    next, all counted in the Bonferroni split)."""
    if first_df not in (1, 2):
        raise ValueError(f"first_df must be 1 or 2, got {first_df=}")
    dts, dfs = ladder(n_frames), ladder(n_bins, first_df)
    offsets, rows = [], []
    total = 0
    for dt in dts:
        offsets.append(total)
        rows.append(n_frames // dt)
        total += n_frames // dt
    columns = [0]
    for df in dfs:
        columns.append(columns[-1] + n_bins // df)
    n_levels = len(dts) * len(dfs)
    shape = (max(total - 2, 0), columns[-1])  # whole rows; the last 2 columns are never tested
    limit = np.full(shape, np.inf, dtype=np.float32)
    three_cells = np.zeros(shape, dtype=np.float32)
    explained = np.full(shape, np.inf, dtype=np.float32)
    for df, c0 in zip(dfs, columns, strict=False):
        cols = n_bins // df
        for dt, first, count in zip(dts, offsets, rows, strict=True):
            positions = (count - 2) * (cols - 2)
            pfa = pfa_frame / n_levels / positions
            n_eff = effective_cells(window, nfft, 3 * dt * cell[0], 3 * df * cell[1])
            bins = effective_cells(window, nfft, 1, 3 * df * cell[1])
            floor_var = floor_rel_std**2 / max(bins, level_bins, 1.0)
            mean = box_threshold(pfa, n_eff, floor_var)
            box = (slice(first, first + count - 2), slice(c0, c0 + cols - 2))
            limit[box] = mean * 9 * dt * df
            cells = 9 * dt * df
            three_cells[box] = 3 * cells
            explained[box] = np.float32(2.0 * float(limit[box][0, 0]) - cells)
    for grid in (limit, three_cells, explained):
        grid.flags.writeable = False
    order = sorted(
        ((i, k) for i in range(len(dts)) for k in range(len(dfs))),
        key=lambda ik: (dts[ik[0]] * dfs[ik[1]], dts[ik[0]], dfs[ik[1]]),
    )
    return ScanPlan(
        tuple(dts),
        tuple(offsets),
        tuple(rows),
        tuple(dfs),
        tuple(columns),
        limit,
        three_cells,
        explained,
        tuple(order),
    )


def box_sums3_rows(level: F32) -> F32:
    """`box_sums3` of a C-contiguous `level` as whole rows: (rows - 2, cols), C-ordered,
    the last 2 columns (boxes that would wrap into the next row) set to 0, so that a test
    on them is one contiguous pass. Added along the flat array: one contiguous pass per
    addition instead of a short one per row; the same additions as `box_sums3`."""
    rows, cols = level.shape
    flat = level.reshape(-1)
    along = np.empty(rows * cols, dtype=level.dtype)
    np.add(flat[:-2], flat[1:-1], out=along[:-2])
    along[:-2] += flat[2:]
    along[-2:] = 0.0
    wide = along.reshape(rows, cols)
    out: F32 = wide[:-2] + wide[1:-1]
    out += wide[2:]
    out[:, cols - 2 :] = 0.0
    return out


#: bytes of a row block of `tested_box_sums3`: its partial sums stay in the core's cache
TEST_BLOCK_BYTES = 1 << 17


def tested_box_sums3(level: F32, limits: F32) -> tuple[F32 | None, NDArray[np.bool_]]:
    """`box_sums3_rows` of a C-contiguous `level` and the test sums > limits[:, newaxis]
    (limits: one per row of sums), with the same additions and comparisons, a block of
    rows at a time, so that each block's partial sums are still in cache for the next
    pass (a wideband frame's levels are megabytes). The sums are kept from the first
    block with a hot position on (above it: 0), and are None when nothing is hot (a
    noise-only frame's big levels then cost no memory for them): only the sums of hot
    positions are read (`burst_scan._Residual.still_hot`)."""
    rows, cols = level.shape
    block = max(1, TEST_BLOCK_BYTES // (4 * cols))
    if rows - 2 <= 2 * block:  # small: the whole array at once
        whole = box_sums3_rows(level)
        return whole, whole > limits[:, np.newaxis]
    flat = level.reshape(-1)
    sums: F32 | None = None
    hot = np.empty((rows - 2, cols), dtype=bool)
    along = np.empty((block + 2) * cols, dtype=level.dtype)
    out = np.empty((block, cols), dtype=level.dtype)
    for a in range(0, rows - 2, block):
        b = min(rows - 2, a + block)
        size = (b - a + 2) * cols
        src = flat[a * cols : a * cols + size]
        part = along[:size]
        np.add(src[:-2], src[1:-1], out=part[:-2])
        part[:-2] += src[2:]
        part[-2:] = 0.0  # (sums wrapping into the next row: zeroed below)
        wide = part.reshape(b - a + 2, cols)
        box = out[: b - a]
        np.add(wide[:-2], wide[1:-1], out=box)
        box += wide[2:]
        box[:, cols - 2 :] = 0.0
        np.greater(box, limits[a:b, np.newaxis], out=hot[a:b])
        if sums is None and hot[a:b].any():
            sums = np.zeros((rows - 2, cols), dtype=level.dtype)  # (blocks above: not hot)
        if sums is not None:
            sums[a:b] = box
    return sums, hot


def box_sums3(level: F32) -> F32:
    """Sums over the 3 x 3 boxes of `level` (rows, cols) lying inside it: (rows - 2,
    cols - 2), entry (i, j) the box whose top-left block is (i, j)."""
    if level.flags.c_contiguous:
        narrow: F32 = box_sums3_rows(level)[:, : level.shape[1] - 2]
        return narrow
    across = level[:, :-2] + level[:, 1:-1]
    across += level[:, 2:]
    sums: F32 = across[:-2] + across[1:-1]
    sums += across[2:]
    return sums


def fill_ladder(plan: ScanPlan, stacked: F32) -> Iterator[F32]:
    """Complete the stacked time levels of `stacked` (its first plan.rows[0] rows hold
    the (2, dfs[0]) blocks) in place, then give each bin level in turn, its columns
    paired from the one before: one array per bin level, all time levels stacked
    (`ScanPlan`). A caller done with a level when it asks for the next holds two at a
    time, the one it has and the one being paired from it (a wideband frame's levels are
    megabytes: fewer of them alive, less heap to grow and fault in every frame)."""
    for k in range(1, len(plan.dts)):
        prev = stacked[plan.offsets[k - 1] : plan.offsets[k - 1] + plan.rows[k - 1]]
        even, first = plan.rows[k] * 2, plan.offsets[k]
        np.add(prev[0:even:2], prev[1:even:2], out=stacked[first : first + plan.rows[k]])
    part = stacked
    yield part
    for _ in plan.dfs[1:]:
        part = pair_columns(part)
        yield part


def fill_side(plan: ScanPlan, stacked: F32, side: F32) -> None:
    """Every level side by side in `side` (stacked rows, plan.columns[-1]): `stacked`
    (stacked rows, plan.columns[1]) holds the (2, dfs[0]) blocks in its first plan.rows[0]
    rows; its time levels are completed in place (`fill_ladder`, contiguous arrays: one
    pass per addition) and each bin level is copied into its columns."""
    np.concatenate(list(fill_ladder(plan, stacked)), axis=1, out=side)


def box_sums3_in_place(level: F32, work: F32) -> F32:
    """`box_sums3` of a C-contiguous `level`, written over it (the box whose top-left
    block is (i, j) at level[i, j]; the last 2 rows and columns are left over), with
    `work` (at least level.size) for the partial sums: the same additions, without
    allocating. Returns whole rows, (rows - 2, cols), contiguous (the last 2 columns hold
    sums that wrapped into the next row: test them against inf)."""
    rows, cols = level.shape
    flat = level.reshape(-1)
    along = work.reshape(-1)[: rows * cols]
    np.add(flat[:-2], flat[1:-1], out=along[:-2])
    along[:-2] += flat[2:]
    along[-2:] = 0.0
    wide = along.reshape(rows, cols)
    np.add(wide[:-2], wide[1:-1], out=level[:-2])
    level[:-2] += wide[2:]
    sums: F32 = level[:-2]
    return sums


def pair_columns(x: F32) -> F32:
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
