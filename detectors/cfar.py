"""Detection thresholds from a target false-alarm probability (SIGNALS.md §6).

All thresholds are multipliers on a noise-power estimate of square-law
(power) cells whose noise is exponential (complex Gaussian input):

* known noise, average of N independent cells: Pfa = Γ(N, N·t)/Γ(N)
  (`scipy.special.gammaincc`), so t = gammainccinv(N, Pfa)/N;
* CA-CFAR over N reference cells: α = N·(Pfa^(−1/N) − 1), Pfa = (1 + α/N)^(−N);
* OS-CFAR, k-th smallest of N reference cells: Pfa = ∏_{i<k} (N−i)/(N−i+T).

`cfar_mask` applies the known-noise test to box averages of a spectrogram divided by
its noise floor (the hot cells that `bursts` segments), with the box sums computed by
whole-array additions (`PaddedImage`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

from detectors.spectra import effective_cells

F32 = NDArray[np.float32]


def _check_pfa(pfa: float) -> None:
    if not 0.0 < pfa < 1.0:
        raise ValueError(f"pfa must be in (0, 1), got {pfa=}")


def known_noise_threshold(pfa: float, n_cells: float = 1.0) -> float:
    """Threshold on the *mean* of `n_cells` independent exponential cells, in units of the
    noise mean, for false-alarm probability `pfa` when the noise power is known.

    n_cells may be fractional (an effective number of degrees of freedom / 2).
    n_cells = 1 gives ln(1/pfa) (6.91 at 1e-3).
    """
    _check_pfa(pfa)
    if n_cells <= 0:
        raise ValueError(f"n_cells must be > 0, got {n_cells=}")
    return float(special.gammainccinv(n_cells, pfa)) / n_cells


def known_noise_pfa(threshold: float, n_cells: float = 1.0) -> float:
    """Inverse of `known_noise_threshold`: Pfa of a mean-of-cells threshold (noise mean = 1)."""
    return float(special.gammaincc(n_cells, threshold * n_cells))


def ca_cfar_alpha(n_ref: int, pfa: float) -> float:
    """CA-CFAR multiplier α on the *mean* of `n_ref` reference cells: α = N(Pfa^(−1/N) − 1).

    N = 16, Pfa = 1e-3 gives 8.64 (SIGNALS.md §6 table).
    """
    _check_pfa(pfa)
    if n_ref < 1:
        raise ValueError(f"n_ref must be >= 1, got {n_ref=}")
    return float(n_ref * (pfa ** (-1.0 / n_ref) - 1.0))


def ca_cfar_pfa(alpha: float, n_ref: int) -> float:
    """Pfa of CA-CFAR with multiplier `alpha` on the mean of `n_ref` cells: (1 + α/N)^(−N)."""
    return float((1.0 + alpha / n_ref) ** (-n_ref))


def os_cfar_pfa(scale: float, n_ref: int, k: int) -> float:
    """Pfa of OS-CFAR with threshold `scale` × (k-th smallest of `n_ref` cells)."""
    if not 1 <= k <= n_ref:
        raise ValueError(f"need 1 <= k <= n_ref, got {k=}, {n_ref=}")
    log_pfa = sum(math.log((n_ref - i) / (n_ref - i + scale)) for i in range(k))
    return math.exp(log_pfa)


def os_cfar_scale(n_ref: int, k: int, pfa: float) -> float:
    """OS-CFAR multiplier T on the k-th ordered reference cell for a target `pfa`.

    N = 16, k = 12, Pfa = 1e-3 gives 7.42 (SIGNALS.md §6 table).
    """
    _check_pfa(pfa)
    if not 1 <= k <= n_ref:
        raise ValueError(f"need 1 <= k <= n_ref, got {k=}, {n_ref=}")
    target = math.log(pfa)

    def excess(scale: float) -> float:
        return math.log(os_cfar_pfa(scale, n_ref, k)) - target

    upper = 1.0
    while excess(upper) > 0.0:
        upper *= 2.0
    return float(optimize.brentq(excess, 0.0, upper, xtol=1e-10))


def exponential_quantile(q: float) -> float:
    """q-quantile of a unit-mean exponential cell: −ln(1 − q). Divide an order statistic
    of noise-only power cells by this to estimate the noise mean."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q=}")
    return -math.log1p(-q)


# --- cell averaging over time x frequency boxes -------------------------------------------
#
# `scipy.ndimage.uniform_filter` walks every line of the image separately, which costs a
# few ns per cell and axis (strided along time). The same box sums as whole-array
# additions of shifted copies run at memory speed. The image is padded and laid out flat,
# row after row: a shift by one bin is a shift by 1, by one frame a shift by the padded
# width, so every addition is one contiguous pass, and the padding columns keep a row's
# windows out of the next row. A window of 2w elements is two of w; a 9 x 9 box is 3 x 3
# boxes of 3 x 3 cells.


def run_sums(x: NDArray[Any], size: int, stride: int = 1) -> NDArray[Any]:
    """y[i] = x[i] + x[i + stride] + ... + x[i + (size - 1) stride] for a 1-D x, length
    len(x) - (size - 1) stride: one addition per doubling (2, 4, ... terms) and one per
    further set bit of `size`. Boolean x gives the OR of the terms."""
    if size < 1 or (size - 1) * stride >= x.shape[0]:
        raise ValueError(f"{size=} x {stride=} does not fit {x.shape=}")
    combine = np.logical_or if x.dtype == np.bool_ else np.add
    n_out = x.shape[0] - (size - 1) * stride
    total: NDArray[Any] | None = None
    offset = 0  # terms already in `total`
    part, width = x, 1  # part[i] sums `width` terms from i
    for bit in range(size.bit_length()):
        if bit:
            reach = width * stride
            part = combine(part[: part.shape[0] - reach], part[reach:])
            width *= 2
        if size >> bit & 1:
            piece = part[offset * stride : offset * stride + n_out]
            total = piece if total is None else combine(total, piece)
            offset += width
    assert total is not None
    return total


@dataclass(frozen=True, slots=True)
class PaddedImage:
    """An (n_rows, n_cols) image padded by `margin` = (top, bottom, left, right) cells
    and laid out flat (`flat`, row stride `width`), with one spare zero row at the end
    so that every box anchored on a cell of the image reads inside the array."""

    flat: NDArray[Any]
    shape: tuple[int, int]
    margin: tuple[int, int, int, int]

    @property
    def width(self) -> int:
        return self.shape[1] + self.margin[2] + self.margin[3]

    @property
    def rows(self) -> NDArray[Any]:
        """The padded image as 2-D rows (without the spare row)."""
        return self.flat.reshape(-1, self.width)[:-1]

    @classmethod
    def empty(
        cls, shape: tuple[int, int], margin: tuple[int, int, int, int], dtype: Any
    ) -> PaddedImage:
        """An uninitialised padded image (the spare row zeroed): fill `rows`, then `pad`."""
        n, m = shape
        top, bottom, left, right = margin
        rows = np.empty((top + n + bottom + 1, left + m + right), dtype=dtype)
        rows[-1] = 0
        return cls(rows.reshape(-1), shape, margin)

    def pad(self, value: float | None = None, *, filled: tuple[int, int] | None = None) -> None:
        """Fill the margins around the padded rows `filled` (default: the image's own):
        copies of the edge cells (value None) or `value`; rows outside `filled` copy its
        first or last row."""
        _, m = self.shape
        top, bottom, left, _ = self.margin
        rows = self.rows
        f0, f1 = filled if filled is not None else (top, rows.shape[0] - bottom)
        inner = rows[f0:f1]
        if value is None:
            inner[:, :left] = inner[:, left : left + 1]
            inner[:, left + m :] = inner[:, left + m - 1 : left + m]
            rows[:f0] = rows[f0]
            rows[f1:] = rows[f1 - 1]
        else:
            inner[:, :left] = value
            inner[:, left + m :] = value
            rows[:f0] = value
            rows[f1:] = value

    def box_sums(self, boxes: list[tuple[int, int]]) -> list[NDArray[Any]]:
        """Sum over each cell's box of (frames, bins) cells, centred as
        `scipy.ndimage.uniform_filter` centres it, for each box: a flat array whose entry
        r * width + c is image cell (r, c) (c < n_cols; the rest is padding). A box whose
        sides are multiples of an earlier box's is summed from that one's sums."""
        width = self.width
        top, _, left, _ = self.margin
        n_out = self.shape[0] * width
        anchored: dict[tuple[int, int], NDArray[Any]] = {}  # sums over the box below-right
        out = []
        for frames, bins in boxes:
            base = next(((f, b) for f, b in anchored if frames % f == 0 and bins % b == 0), None)
            if base is None:
                sums = run_sums(run_sums(self.flat, bins), frames, width)
            else:
                f, b = base
                sums = run_sums(run_sums(anchored[base], bins // b, b), frames // f, f * width)
            anchored[(frames, bins)] = sums
            first = (top - frames // 2) * width + left - bins // 2
            out.append(sums[first : first + n_out])
        return out


def box_sums(
    x: NDArray[Any], frames: int, bins: int, *, pad_value: float | None = None
) -> NDArray[Any]:
    """Sum of each cell's box of `frames` x `bins` cells of a (n_frames, n_bins) image,
    centred as `scipy.ndimage.uniform_filter` centres it (an even size reaches one cell
    further back than forward).

    pad_value: None replicates the edge cells (mode "nearest"); else cells beyond the
    edges have this value. Boolean images give the OR over the box (a dilation).
    """
    n, m = x.shape
    margin = (frames // 2, (frames - 1) // 2, bins // 2, (bins - 1) // 2)
    image = PaddedImage.empty((n, m), margin, x.dtype)
    image.rows[margin[0] : margin[0] + n, margin[2] : margin[2] + m] = x
    image.pad(pad_value)
    (sums,) = image.box_sums([(frames, bins)])
    result: NDArray[Any] = sums.reshape(n, image.width)[:, :m]
    return result


# --- hot cells of a spectrogram ---------------------------------------------------------

#: Cells per block of rows of `cfar_mask`: its temporaries stay in cache.
BLOCK_CELLS = 1 << 17


@lru_cache(maxsize=256)
def box_threshold(window: str, nfft: int, frames: int, bins: int, pfa: float) -> float:
    """Known-noise threshold on the mean ratio of a `frames` x `bins` box of spectrogram
    cells at per-cell `pfa`, with the box's effective number of independent cells
    (`spectra.effective_cells`: neighbouring bins are correlated through the window)."""
    return known_noise_threshold(pfa, effective_cells(window, nfft, frames, bins))


@dataclass(frozen=True, slots=True)
class CfarMask:
    """Hot cells of a spectrogram (`mask`, (n_frames, n_bins)) and the box sums of the
    first kernel per block of rows, which `fine` reads back."""

    mask: NDArray[np.bool_]
    power: F32
    floor: F32
    fine_box: tuple[int, int]
    fine_blocks: list[tuple[int, F32]]  # (first row, (rows, n_bins) box sums)

    def fine(self, region: tuple[slice, slice]) -> F32:
        """The ratio power / floor box-averaged over the first kernel, on the cells of
        `region` (rows, bins): the CFAR pass's own sums, recomputed only for a region
        that spans two blocks."""
        ts, fs = region
        frames, bins = self.fine_box
        scale = np.float32(1.0 / (frames * bins))
        for first, sums in self.fine_blocks:
            if first <= ts.start and ts.stop <= first + sums.shape[0]:
                inside: F32 = sums[ts.start - first : ts.stop - first, fs] * scale
                return inside
        n, m = self.power.shape
        r0, r1 = max(0, ts.start - frames // 2), min(n, ts.stop + (frames - 1) // 2)
        c0, c1 = max(0, fs.start - bins // 2), min(m, fs.stop + (bins - 1) // 2)
        sums = box_sums(self.power[r0:r1, c0:c1] / self.floor[c0:c1], frames, bins)
        across: F32 = sums[ts.start - r0 : ts.stop - r0, fs.start - c0 : fs.stop - c0] * scale
        return across


def cfar_mask(
    power: F32,
    floor: F32,
    kernels: Sequence[tuple[int, int]],
    pfa_cell: float,
    *,
    window: str,
    nfft: int,
    block_cells: int = BLOCK_CELLS,
) -> CfarMask:
    """Cells of power (n_frames, n_bins) whose ratio to floor (n_bins,), averaged over a
    box of any of the `kernels` (frames, bins) around the cell, exceeds the known-noise
    threshold (`box_threshold`) for `pfa_cell` split evenly over the kernels.

    Box edges beyond the frame repeat the edge cells (`scipy.ndimage` mode "nearest").
    Runs over blocks of about `block_cells` cells (whole rows, with the kernels' reach of
    neighbouring rows), so that every temporary stays small and in cache; a box whose
    sides are multiples of an earlier kernel's (9 x 9 after 3 x 3) is summed from that
    kernel's sums.
    """
    n, m = power.shape
    pfa = pfa_cell / len(kernels)
    boxes = [(min(f, n), min(b, m)) for f, b in kernels]
    limits = [
        np.float32(box_threshold(window, nfft, f, b, pfa)) * np.float32(f * b) for f, b in boxes
    ]
    lo_t, hi_t = max(f // 2 for f, _ in boxes), max((f - 1) // 2 for f, _ in boxes)
    lo_f, hi_f = max(b // 2 for _, b in boxes), max((b - 1) // 2 for _, b in boxes)
    step = max(1, block_cells // m)
    mask = np.empty((n, m), dtype=bool)
    fine_blocks = []
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        h0, h1 = max(0, r0 - lo_t), min(n, r1 + hi_t)  # neighbouring rows that exist
        image = PaddedImage.empty((r1 - r0, m), (lo_t, hi_t, lo_f, hi_f), np.float32)
        filled = (h0 - (r0 - lo_t), h1 - (r0 - lo_t))  # the rest is beyond the frame
        np.divide(power[h0:h1], floor, out=image.rows[filled[0] : filled[1], lo_f : lo_f + m])
        image.pad(filled=filled)
        hot: NDArray[np.bool_] | None = None
        for sums, limit in zip(image.box_sums(boxes), limits, strict=True):
            if hot is None:
                fine_blocks.append((r0, sums.reshape(r1 - r0, image.width)[:, :m]))
                hot = sums > limit
            else:
                hot |= sums > limit
        assert hot is not None
        mask[r0:r1] = hot.reshape(r1 - r0, image.width)[:, :m]
    return CfarMask(mask, power, floor, boxes[0], fine_blocks)
