"""Burst segmentation on a spectrogram: energy scan -> hot regions -> measured bursts.

1. Each cell is divided by its bin's noise floor (`floor.block_floor`), so noise cells
   are unit-mean exponential.
2. The ratio is summed over a ladder of dt x df blocks (factor 2 each way, any aspect)
   and 3 x 3 boxes of blocks are tested at every block position (`burst_scan`), so that
   a weak burst is tested by a box near its own size; a box is "hot" when its mean
   exceeds the known-noise threshold (with the box's effective number of independent
   cells, Hann bins being correlated, and the floor's own uncertainty) for the frame's
   Pfa split over levels and box positions.
3. Hot boxes (coarse ones only where finer finds do not explain them) within a couple of
   cells of each other form one region.
4. A region holding a strong narrow burst on top of a wider, weaker one (an RC packet
   during a Wi-Fi frame) is split: each is measured with the other painted out
   (`overlaid`).
5. Each region is re-measured on the raw ratio: 99 % power bandwidth from the frequency
   profile, start/end at the half-excess crossings of the time profile, in-band SNR.
6. A region is kept only if its measured box passes a confirming energy test at
   `pfa_burst` and the minimum size (the scan's frame Pfa is what keeps noise-only
   frames silent; this drops boxes whose measurement lost the energy that made them hot).
7. Splatter and re-measured pieces of stronger bursts are dropped (`splatter`).

Cost: steps 1-3 read the spectrogram once and then work on block sums half its size or
less (`burst_scan`); noise-only frames stop there. Steps 4-7 touch
each region's neighbourhood only, with small-array numpy and plain Python on the short
profiles. Weak wide bursts found by coarse boxes cost a few region re-measurements each.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from detectors.burst_scan import merge_boxes, scan_boxes
from detectors.burst_types import Burst as Burst  # re-exported: part of the API
from detectors.cfar import box_sums, known_noise_pfa
from detectors.floor import NoiseFloor
from detectors.overlaid import split_overlaid
from detectors.spectra import Spectrogram, effective_cells
from detectors.splatter import SplatterConfig, deduplicate, drop_by_products
from detectors.units import power_to_db

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BurstConfig:
    """Segmentation settings.

    pfa_frame: false-alarm probability per frame of the hot-box scan (`burst_scan`): split
      evenly over its levels and, within a level, over the box positions it tests
      (Bonferroni: a 3 x 3 box of 32 x 64-cell blocks has a few hundred positions in a
      frame, one of 2 x 2-cell blocks a hundred thousand, so big boxes get the lower
      thresholds they deserve).
    pfa_burst: false-alarm probability of the energy test that confirms a measured box.
    split_excess_db / split_widening: a region is split when cells this far above its
      typical hot cell form a part that the rest is at least this many times wider than.
    splatter: what counts as a by-product of a stronger burst (`splatter`).
    min_frames / min_bins / min_cells: the smallest burst box kept. Boxes under ~24 cells
      (60 µs x 200 kHz at 25 MS/s, 100 µs x 100 kHz at 2 MS/s) match no signature, and a
      box that small, measured on the very cells that made it hot, is where the
      burst-level test's Pfa is least true.
    merge_frames / merge_bins: hot boxes this close form one region.
    """

    pfa_frame: float = 1e-4
    pfa_burst: float = 1e-7
    merge_frames: int = 2
    merge_bins: int = 2
    min_frames: int = 3
    min_bins: int = 2
    min_cells: int = 24
    min_duration_s: float = 30e-6
    max_regions: int = 400
    split_excess_db: float = 8.0
    split_widening: float = 2.0
    splatter: SplatterConfig = field(default_factory=SplatterConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.pfa_frame < 1.0 or not 0.0 < self.pfa_burst < 1.0:
            raise ValueError(f"pfa must be in (0, 1): {self.pfa_frame=}, {self.pfa_burst=}")


def occupied_band(
    excess_power: NDArray[np.float64], significant: NDArray[np.bool_]
) -> tuple[float, float, float] | None:
    """(lo_edge, hi_edge, centroid) in bin units of the band holding 99 % of the excess
    (signal) power, within the run of `significant` bins around the strongest one.

    excess_power: (n_bins,) mean power minus noise floor, linear; significant: (n_bins,)
    bins whose excess is statistically real (short gaps of up to 2 bins are bridged).
    """
    if not significant.any():
        return None
    flags = _bridged(significant.tolist(), 1)
    excess = excess_power.tolist()
    lo, hi = _run_around(flags, max((i for i, f in enumerate(flags) if f), key=excess.__getitem__))
    run = np.maximum(excess_power[lo : hi + 1], 0.0)
    total = float(run.sum())
    if total <= 0.0:
        return None
    cum = np.zeros(run.shape[0] + 1)
    run.cumsum(out=cum[1:])
    cum /= total
    edges = np.arange(lo, hi + 2, dtype=np.float64) - 0.5
    lo_edge, hi_edge = np.interp(_BAND_EDGES, cum, edges).tolist()
    centroid = float((run * np.arange(lo, hi + 1)).sum() / total)
    return lo_edge, hi_edge, centroid


_BAND_EDGES = np.array([0.005, 0.995])  # 99 % of the power between them


# A burst's time profile is a few dozen frames: plain Python on lists is cheaper there than
# numpy calls (a microsecond or more each), and gives the same floating-point results.


def _percentile(ascending: list[float], q: float) -> float:
    """numpy's default (linear) percentile of already sorted values, bit for bit."""
    n = len(ascending)
    virtual = (n - 1) * (q / 100.0)
    if virtual >= n - 1:
        return ascending[-1]
    below = math.floor(virtual)
    a, b = ascending[below], ascending[below + 1]
    gamma = virtual - below
    diff = b - a
    return b - diff * (1.0 - gamma) if gamma >= 0.5 else a + diff * gamma


def _median(ascending: list[float]) -> float:
    """numpy's median of already sorted values, bit for bit."""
    mid = len(ascending) // 2
    if len(ascending) % 2:
        return ascending[mid]
    return (ascending[mid - 1] + ascending[mid]) / 2.0


def _on_level(values: list[float]) -> float:
    """Typical level of a burst's frames: median of the frames above a quarter of the
    90th percentile (the region may hold noise-only frames too)."""
    ascending = sorted(values)
    top = _percentile(ascending, 90.0)
    on = ascending
    if top > 0:  # excess can be <= 0 in noise
        on = ascending[bisect.bisect_left(ascending, 0.25 * top) :]
    return _median(on) if on else top


def _mean3(values: list[float]) -> list[float]:
    """`scipy.ndimage.uniform_filter1d(values, 3, mode="nearest")`, bit for bit (its
    running sum)."""
    padded = [values[0], *values, values[-1]]
    total = padded[0] + padded[1] + padded[2]
    out = [total / 3]
    for i in range(1, len(values)):
        total += padded[i + 2] - padded[i - 1]
        out.append(total / 3)
    return out


def _run_around(flags: list[bool], index: int) -> tuple[int, int]:
    """[lo, hi], inclusive, of the run of True in `flags` holding `index`."""
    lo = hi = index
    while lo > 0 and flags[lo - 1]:
        lo -= 1
    while hi < len(flags) - 1 and flags[hi + 1]:
        hi += 1
    return lo, hi


def _bridged(flags: list[bool], reach: int) -> list[bool]:
    """flags | binary_closing(flags, 2 reach + 1 ones): gaps of up to 2 reach cells between
    True cells are filled, except their cells within `reach` of either end (the closing
    erodes there)."""
    out = flags[:]
    n = len(flags)
    last = -1
    for i, flag in enumerate(flags):
        if not flag:
            continue
        if last >= 0 and 1 < i - last <= 2 * reach + 1:
            for cell in range(max(last + 1, reach), min(i, n - reach)):
                out[cell] = True
        last = i
    return out


def _time_extent(profile: list[float], core: tuple[int, int], sigma: float) -> tuple[float, float]:
    """Fractional frame positions (start, end) where the excess `profile` crosses half its
    median level around the strongest part of `core` (first, last + 1). Dips of up to 3
    frames inside a burst (data-dependent spectra, fading) are bridged."""
    c0, c1 = core
    smooth = profile
    level = _on_level(profile[c0:c1])
    if level < 6.0 * sigma and len(profile) >= 3:
        smooth = _mean3(profile)
        level = _on_level(smooth[c0:c1])
    half = 0.5 * level
    above = _bridged([v >= half for v in smooth], 2)
    core_values = smooth[c0:c1]
    # around the first maximum, as np.argmax
    lo, hi = _run_around(above, c0 + core_values.index(max(core_values)))
    last = len(smooth) - 1
    # fractional crossing between lo-1 (below) and lo (above), and hi and hi+1
    if lo > 0:
        a, b = smooth[lo - 1], smooth[lo]
        start = lo - 1 + (half - a) / (b - a) if b > a else float(lo)
    else:
        start = -0.5
    if hi < last:
        a, b = smooth[hi], smooth[hi + 1]
        end = hi + (a - half) / (a - b) if a > b else float(hi)
    else:
        end = last + 0.5
    return start, end


@dataclass(frozen=True, slots=True)
class _Frame:
    """What every region's measurement reads: the spectrogram and its floor in the
    precisions the measurement uses, computed once per frame."""

    spec: Spectrogram
    noise: NoiseFloor
    floor: F64
    blind: NDArray[np.bool_]  # bins whose own floor is far above their neighbours'

    @classmethod
    def of(cls, spec: Spectrogram, noise: NoiseFloor) -> _Frame:
        # bins blinded by a carrier or the DC spike cannot show a burst
        blind = noise.per_bin > 2.0 * noise.smoothed
        return cls(spec, noise, noise.floor.astype(np.float64), blind)


def _measure(
    frame: _Frame, power: F32, row0: int, region: tuple[slice, slice], config: BurstConfig
) -> Burst | None:
    """`_measure_once`, helped for weak bursts found by coarse boxes: a region found by a
    coarse box can be much longer than its burst, which dilutes the band measurement, so
    a region that fails is measured again on the part of it holding the most excess
    power, and a burst spanning well under its region is measured again on its own span
    (band and time extent then agree)."""
    first = _measure_once(frame, power, row0, region, config)
    if first is None:
        narrowed = _narrow_in_time(frame, power, row0, region)
        if narrowed is None:
            return None
        return _measure_once(frame, power, row0, narrowed, config)
    ts = region[0]
    spec = frame.spec
    lo_row, hi_row = row0, row0 + power.shape[0]
    fa = max(lo_row, math.floor(first.t_start_s / spec.frame_s))
    fb = min(hi_row, math.ceil(first.t_end_s / spec.frame_s))
    if fb - fa >= 0.6 * (ts.stop - ts.start) or fb <= fa:
        return first
    half_bins = 0.5 * first.bandwidth_hz / spec.bin_hz
    centre = first.freq_offset_hz / spec.bin_hz + spec.nfft // 2
    b0 = max(0, math.floor(centre - half_bins))
    b1 = min(spec.power.shape[1], math.ceil(centre + half_bins) + 1)
    refined = (slice(fa, fb), slice(b0, max(b1, b0 + 1)))
    second = _measure_once(frame, power, row0, refined, config)
    return second if second is not None else first


def _narrow_in_time(
    frame: _Frame, power: F32, row0: int, region: tuple[slice, slice]
) -> tuple[slice, slice] | None:
    """The part of a long region where its bins hold the most excess power: the run of
    the (smoothed) time profile above half its peak. None when that is the whole region."""
    ts, fs = region
    n = ts.stop - ts.start
    if n < 12:
        return None
    rows = power[ts.start - row0 : ts.stop - row0, fs]
    profile = np.add.reduce(rows - frame.floor[fs], axis=1)
    profile = ndimage.uniform_filter1d(profile, max(3, (n // 16) | 1), mode="nearest")
    peak = int(np.argmax(profile))
    if profile[peak] <= 0.0:
        return None
    lo, hi = _run_around((profile >= 0.5 * profile[peak]).tolist(), peak)
    if hi - lo + 1 >= 0.8 * n:
        return None
    return slice(ts.start + lo, ts.start + hi + 1), fs


def _measure_once(
    frame: _Frame, power: F32, row0: int, region: tuple[slice, slice], config: BurstConfig
) -> Burst | None:
    """`measure_region` on rows row0 .. row0 + len(power) of the spectrogram (a region's
    neighbourhood, possibly painted by `overlaid`); region is in whole-frame rows."""
    spec = frame.spec
    n_frames, n_bins = spec.power.shape
    floor = frame.floor
    ts, fs = region
    core_frames = ts.stop - ts.start
    core_rows = power[ts.start - row0 : ts.stop - row0]
    min_excess = 3.0 / math.sqrt(core_frames)
    pad_f = max(3, (fs.stop - fs.start) // 4)
    band: tuple[float, float, float] | None = None
    f0 = 0
    # a weak wide burst is significant over its band, not bin by bin: when single bins do
    # not show the band the hot region found, test bins averaged over a running window
    smooth = max(1, ((fs.stop - fs.start) // 8) | 1)
    for _ in range(6):  # widen the search until the band ends inside it
        f0, f1 = max(0, fs.start - pad_f), min(n_bins, fs.stop + pad_f)
        mean_power = np.add.reduce(core_rows[:, f0:f1], axis=0, dtype=np.float64) / core_frames
        band = None
        for width in (1, smooth) if smooth > 1 else (1,):
            excess = mean_power / floor[f0:f1] - 1.0
            signal = mean_power - floor[f0:f1]
            limit = min_excess
            if width > 1:
                excess = ndimage.uniform_filter1d(excess, width, mode="nearest")
                signal = ndimage.uniform_filter1d(signal, width, mode="nearest")
                limit = 3.0 / math.sqrt(effective_cells(spec.window, spec.nfft, core_frames, width))
            significant = excess > limit
            # let the band run through bins blinded by a carrier or the DC spike
            significant |= frame.blind[f0:f1]
            band = occupied_band(signal, significant)
            if band is None:
                continue
            lo_b, hi_b = math.floor(band[0] + 0.5), math.ceil(band[1] - 0.5) + 1
            weak = float(np.mean(excess[max(lo_b, 0) : max(hi_b, lo_b + 1)])) < 1.0
            if band[1] - band[0] >= 0.25 * (fs.stop - fs.start) or not weak:
                break
        if band is None:
            return None
        touches_lo = band[0] < 1.0 and f0 > 0
        touches_hi = band[1] > f1 - f0 - 2.0 and f1 < n_bins
        if not (touches_lo or touches_hi):
            break
        pad_f *= 2
    if band is None:
        return None
    lo_edge, hi_edge, centroid = (v + f0 for v in band)
    b0 = max(0, math.floor(lo_edge + 0.5))
    b1 = min(n_bins, math.ceil(hi_edge - 0.5) + 1)
    n_band = b1 - b0
    if n_band < config.min_bins:
        return None

    pad_t = max(3, core_frames // 4)
    t0 = max(0, row0, ts.start - pad_t)
    t1 = min(n_frames, row0 + power.shape[0], ts.stop + pad_t)
    band_floor = floor[b0:b1]
    profile = np.add.reduce(power[t0 - row0 : t1 - row0, b0:b1] - band_floor, axis=1)
    sigma = math.sqrt(float(np.add.reduce(band_floor * band_floor)))
    start_f, end_f = _time_extent(profile.tolist(), (ts.start - t0, ts.stop - t0), sigma)
    start_f += t0
    end_f += t0
    fa = max(0, math.ceil(start_f))
    fb = min(n_frames, math.floor(end_f) + 1)
    if fb - fa < config.min_frames:
        return None
    t_start = max(0.0, spec.frame_centre_s(start_f))
    t_end = min(n_frames * spec.frame_s, spec.frame_centre_s(end_f))
    if t_end - t_start < config.min_duration_s:
        return None

    box = power[fa - row0 : fb - row0, b0:b1] / frame.noise.floor[b0:b1]
    if box.size < config.min_cells:
        return None
    mean_ratio = float(np.add.reduce(box, axis=None, dtype=np.float64)) / box.size
    n_eff = effective_cells(spec.window, spec.nfft, fb - fa, n_band)
    if mean_ratio <= 1.0 or known_noise_pfa(mean_ratio, n_eff) > config.pfa_burst:
        return None

    per_frame = profile[fa - t0 : fb - t0]
    signal_power = float(per_frame.mean())
    noise_power = float(frame.noise.smoothed[b0:b1].sum())
    snr_db, mean_db, peak_db = power_to_db(
        np.array([signal_power / noise_power, signal_power, float(per_frame.max())])
    ).tolist()
    return Burst(
        t_start_s=t_start,
        duration_s=t_end - t_start,
        freq_offset_hz=spec.bin_offset_hz(centroid),
        bandwidth_hz=(hi_edge - lo_edge) * spec.bin_hz,
        snr_db=snr_db,
        mean_power_dbfs=mean_db,
        peak_power_dbfs=peak_db,
        cells=int(box.size),
        # `_time_extent` only reaches frame 0 / the last frame when the burst is still on there
        cut_start=start_f <= 0.0,
        cut_end=end_f >= n_frames - 1.0,
        fill=float(np.count_nonzero(box >= 4.0)) / box.size,
    )


def measure_region(
    ratio: F32,
    spec: Spectrogram,
    noise: NoiseFloor,
    region: tuple[slice, slice],
    config: BurstConfig,
) -> Burst | None:
    """Measure one labelled region on the spectrogram; None if it fails the burst-level
    tests. Bandwidth and timing are measured on signal power (power minus floor), so a
    strong burst's faint skirts over a shaped noise floor do not widen it.
    ratio: spec.power / noise.floor (unused: the measurement divides the cells it reads).
    """
    del ratio
    return _measure(_Frame.of(spec, noise), spec.power, 0, region, config)


def _fine_ratio(power: F32, floor: F32, region: tuple[slice, slice]) -> F32:
    """The ratio power / floor box-averaged over 3 x 3 cells (edges repeated, as
    `scipy.ndimage.uniform_filter` mode "nearest"), on the cells of `region`."""
    ts, fs = region
    n, m = power.shape
    r0, r1 = max(0, ts.start - 1), min(n, ts.stop + 1)
    c0, c1 = max(0, fs.start - 1), min(m, fs.stop + 1)
    sums = box_sums(power[r0:r1, c0:c1] / floor[c0:c1], 3, 3)
    inside: F32 = sums[ts.start - r0 : ts.stop - r0, fs.start - c0 : fs.stop - c0]
    inside *= np.float32(1.0 / 9.0)
    return inside


def _regions(
    spec: Spectrogram, noise: NoiseFloor, config: BurstConfig
) -> list[tuple[slice, slice]]:
    """Hot regions of the scan (`burst_scan`), merged across small gaps, in cells; the
    `max_regions` largest if there are more."""
    boxes = scan_boxes(
        spec.power,
        noise.floor,
        window=spec.window,
        nfft=spec.nfft,
        pfa_frame=config.pfa_frame,
        floor_rel_std=noise.rel_std,
    )
    boxes = merge_boxes(boxes, config.merge_frames, config.merge_bins)
    if len(boxes) > config.max_regions:
        boxes.sort(key=lambda b: -(b[1] - b[0]) * (b[3] - b[2]))
        boxes = boxes[: config.max_regions]
    boxes.sort()
    return [(slice(r0, r1), slice(c0, c1)) for r0, r1, c0, c1 in boxes]


def _padded_rows(span: slice, n_frames: int) -> tuple[int, int]:
    """Rows a region's measurement reads: its own and a quarter of its length (>= 3) on
    each side (`_measure`'s time profile)."""
    pad = max(3, (span.stop - span.start) // 4)
    return max(0, span.start - pad), min(n_frames, span.stop + pad)


def find_bursts(spec: Spectrogram, noise: NoiseFloor, config: BurstConfig) -> list[Burst]:
    """All bursts of a spectrogram, in time order.

    spec: spectrogram of the frame; noise: its floor (`floor.time_floor`).
    Known limit: bursts that touch in time and frequency and are of similar strength form
    one region and are measured as the dominant one.
    """
    regions = _regions(spec, noise, config)
    if not regions:
        return []
    frame = _Frame.of(spec, noise)
    bursts: list[Burst] = []
    for region in regions:
        parts = split_overlaid(
            functools.partial(_fine_ratio, spec.power, noise.floor, region),
            spec,
            noise,
            region,
            min_frames=config.min_frames,
            min_bins=config.min_bins,
            excess_db=config.split_excess_db,
            widening=config.split_widening,
        )
        if not parts:
            burst = _measure(frame, spec.power, 0, region, config)
            if burst is not None:
                bursts.append(burst)
            continue
        ts, fs = region
        r0, r1 = _padded_rows(ts, spec.n_frames)
        for part in parts:  # each part with the other painted out, on the rows it reads
            power = spec.power[r0:r1].copy()
            box = power[ts.start - r0 : ts.stop - r0, fs]
            np.copyto(box, part.fill, where=np.isfinite(part.fill))
            burst = _measure(frame, power, r0, part.region, config)
            if burst is not None:
                bursts.append(burst)
    bursts = deduplicate(drop_by_products(bursts, spec.frame_s, config.splatter))
    bursts.sort(key=lambda b: (b.t_start_s, b.freq_offset_hz))
    return bursts
