"""Burst segmentation on a spectrogram: CFAR mask -> connected regions -> measured bursts.

1. Each cell is divided by its bin's noise floor (`floor.time_floor`), so noise cells are
   unit-mean exponential.
2. The ratio is box-averaged at a few time x frequency scales; a cell is "hot" when a box
   average exceeds the known-noise threshold for the per-cell Pfa (`cfar`), with the
   box's effective number of independent cells (Hann bins are correlated).
3. Hot cells are merged across gaps of a couple of cells and labelled (`scipy.ndimage`).
4. A region holding a strong narrow burst on top of a wider, weaker one (an RC packet
   during a Wi-Fi frame) is split: each is measured with the other painted out
   (`overlaid`).
5. Each region is re-measured on the raw ratio: 99 % power bandwidth from the frequency
   profile, start/end at the half-excess crossings of the time profile, in-band SNR.
6. A region is kept only if its measured box passes a burst-level energy test at
   `pfa_burst` and the minimum size, which is what keeps noise-only frames silent.
7. Splatter and re-measured pieces of stronger bursts are dropped (`splatter`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special

from detectors.burst_types import Burst as Burst  # re-exported: part of the API
from detectors.cfar import known_noise_pfa, known_noise_threshold
from detectors.floor import NoiseFloor
from detectors.overlaid import split_overlaid
from detectors.spectra import Spectrogram, effective_cells
from detectors.splatter import SplatterConfig, drop_by_products
from detectors.units import power_to_db

F32 = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class BurstConfig:
    """Segmentation settings.

    pfa_frame: false-alarm probability per frame of the hot-cell scan: split evenly over
      the scales (the fixed `kernels` and the pyramid levels) and, within a scale, over
      the box positions it tests (Bonferroni: a 3 x 3 box of 27 x 81 blocks has a few
      hundred positions in a frame, a 3 x 3 box of cells hundreds of thousands, so big
      boxes get the lower thresholds they deserve). A hot region is the detection; the
      burst-level test below only confirms the measured box.
    pfa_burst: false-alarm probability of the energy test on a measured burst box.
    kernels: box-average scales as (frames, bins), tested at every cell.
    pyramid_step / pyramid_levels: the block pyramid of `_hot_and_fine` (3 x 3 boxes of
      step^i x step^j blocks, i, j < levels).
    split_excess_db / split_widening: a region is split when cells this far above its
      typical hot cell form a part that the rest is at least this many times wider than.
    splatter: what counts as a by-product of a stronger burst (`splatter`).
    min_frames / min_bins / min_cells: the smallest burst box kept. Boxes under ~24 cells
      (60 µs x 200 kHz at 25 MS/s, 100 µs x 100 kHz at 2 MS/s) match no signature, and a
      box that small, measured on the very cells that made it hot, is where the
      burst-level test's Pfa is least true.
    """

    pfa_frame: float = 1e-4
    pfa_burst: float = 1e-7
    kernels: tuple[tuple[int, int], ...] = ((3, 3),)
    pyramid_step: int = 3
    pyramid_levels: int = 5
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
        if not self.kernels or any(t < 1 or f < 1 for t, f in self.kernels):
            raise ValueError(f"kernels must be non-empty (frames, bins) >= 1, got {self.kernels=}")


def _block_mean(x: F32, dt: int, df: int) -> F32:
    """Mean over non-overlapping dt x df blocks (trailing partial blocks dropped)."""
    t, f = (x.shape[0] // dt) * dt, (x.shape[1] // df) * df
    if dt == 1 and df == 1:
        return x
    blocks = x[:t, :f].reshape(t // dt, dt, f // df, df)
    return np.asarray(blocks.mean(axis=(1, 3), dtype=np.float32), dtype=np.float32)


def _scales(config: BurstConfig, n_frames: int, n_bins: int) -> list[tuple[int, int]]:
    """Decimation factors (dt, df) of the pyramid: powers of `pyramid_step` up to the
    `pyramid_levels`-th, as long as a 3 x 3 box of blocks fits in the frame."""
    steps = [config.pyramid_step**i for i in range(config.pyramid_levels)]
    found = [(dt, df) for dt in steps for df in steps
             if 3 * dt <= n_frames and 3 * df <= n_bins]  # fmt: skip
    return sorted(found, key=lambda s: (s[0] * s[1], s))  # finest first


def _threshold(pfa: float, n_eff: float, floor_rel_std: float, bins: int) -> float:
    """Known-noise threshold on a box mean, raised for the floor's own uncertainty: the
    floor of `bins` independent bins is off by floor_rel_std / sqrt(bins), which a box of
    many cells would otherwise read as signal (the "SNR wall")."""
    base = known_noise_threshold(pfa, n_eff)
    z = float(special.ndtri(1.0 - pfa)) if pfa < 0.5 else 0.0
    return float(base * (1.0 + z * floor_rel_std / np.sqrt(max(bins, 1))))


def _hot_and_fine(
    ratio: F32, spec: Spectrogram, noise: NoiseFloor, config: BurstConfig
) -> tuple[NDArray[np.bool_], F32]:
    """`hot_cells` mask and the ratio box-averaged at the finest kernel.

    A burst of T x B cells is found best by a box of about its own size (the energy
    detector's deflection grows as the square root of the cells it sums), so besides the
    fixed `kernels` the ratio is averaged over a pyramid of dt x df blocks (dt, df powers
    of `pyramid_step`) and a 3 x 3 box of blocks is tested at each level: boxes from
    3 x 3 to 3·step^(L-1) cells a side in both directions, any aspect, for about twice
    the cost of one pass over the spectrogram. The per-cell Pfa is split over all tests.
    """
    n_frames, n_bins = ratio.shape
    scales = [sc for sc in _scales(config, n_frames, n_bins) if sc != (1, 1)]
    pfa_scale = config.pfa_frame / (len(config.kernels) + len(scales))
    mask = np.zeros(ratio.shape, dtype=bool)
    fine = ratio
    for i, (frames, bins) in enumerate(config.kernels):
        frames_eff = min(frames, n_frames)
        bins_eff = min(bins, n_bins)
        n_eff = effective_cells(spec.window, spec.nfft, frames_eff, bins_eff)
        threshold = np.float32(_threshold(pfa_scale / ratio.size, n_eff, noise.rel_std, bins_eff))
        smoothed = ndimage.uniform_filter(ratio, size=(frames_eff, bins_eff), mode="nearest")
        mask |= smoothed > threshold
        if i == 0:
            fine = smoothed
    cache: dict[tuple[int, int], F32] = {(1, 1): ratio}
    step = config.pyramid_step
    for dt, df in scales:
        # build from the next finer level (each level is one cheap reshape-mean away)
        src = (dt // step, df) if dt > 1 else (dt, df // step)
        level = cache.get((dt, df))
        if level is None:
            finer = cache[src]
            level = _block_mean(finer, dt // src[0], df // src[1])
            cache[(dt, df)] = level
        n_eff = effective_cells(spec.window, spec.nfft, 3 * dt, 3 * df)
        pfa = pfa_scale / level.size
        threshold = np.float32(_threshold(pfa, n_eff, noise.rel_std, 3 * df))
        hot = ndimage.uniform_filter(level, size=3, mode="nearest") > threshold
        if not hot.any():
            continue
        # a hot block box marks its 3 x 3 blocks at full resolution, unless a finer scale
        # already found something there: coarse boxes are for weak, wide bursts, and
        # would otherwise bridge the gaps between strong ones (a GSM burst train)
        hot = ndimage.maximum_filter(hot.view(np.uint8), size=3).view(bool)
        labels, _ = ndimage.label(hot)
        n_rows, n_cols = hot.shape
        for k, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            # blocks of this component that no finer detection touches (within one block)
            r0, r1 = max(0, box[0].start - 1), min(n_rows, box[0].stop + 1)
            c0, c1 = max(0, box[1].start - 1), min(n_cols, box[1].stop + 1)
            near = mask[r0 * dt : r1 * dt, c0 * df : c1 * df]
            taken = near.reshape(r1 - r0, dt, c1 - c0, df).any(axis=(1, 3))
            taken = ndimage.maximum_filter(taken.view(np.uint8), size=3).view(bool)
            part = (labels[r0:r1, c0:c1] == k) & ~taken
            if part.any():
                full = np.repeat(np.repeat(part, dt, axis=0), df, axis=1)
                mask[r0 * dt : r1 * dt, c0 * df : c1 * df] |= full
    return mask, fine


def hot_cells(
    ratio: F32, spec: Spectrogram, noise: NoiseFloor, config: BurstConfig
) -> NDArray[np.bool_]:
    """(n_frames, n_bins) mask of cells whose box-averaged ratio exceeds the CFAR threshold."""
    return _hot_and_fine(ratio, spec, noise, config)[0]


def _runs_containing(flags: NDArray[np.bool_], index: int) -> tuple[int, int]:
    """[lo, hi] inclusive of the run of True in `flags` containing `index` (flags[index] True)."""
    lo = index
    while lo > 0 and flags[lo - 1]:
        lo -= 1
    hi = index
    while hi < flags.shape[0] - 1 and flags[hi + 1]:
        hi += 1
    return lo, hi


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
    closed = ndimage.binary_closing(significant, structure=np.ones(3, dtype=bool))
    closed |= significant  # closing may erode at the array ends
    peak = int(np.argmax(np.where(closed, excess_power, -np.inf)))
    lo, hi = _runs_containing(closed, peak)
    run = np.clip(excess_power[lo : hi + 1], 0.0, None)
    total = float(run.sum())
    if total <= 0.0:
        return None
    cum = np.concatenate(([0.0], np.cumsum(run))) / total
    edges = np.arange(lo, hi + 2, dtype=np.float64) - 0.5
    lo_edge = float(np.interp(0.005, cum, edges))
    hi_edge = float(np.interp(0.995, cum, edges))
    centroid = float(np.sum(run * np.arange(lo, hi + 1)) / total)
    return lo_edge, hi_edge, centroid


def _on_level(values: NDArray[np.float64]) -> float:
    """Typical level of a burst's frames: median of the frames above a quarter of the
    90th percentile (the region may hold noise-only frames too)."""
    top = float(np.percentile(values, 90))
    on = values[values >= 0.25 * top] if top > 0 else values  # excess can be <= 0 in noise
    return float(np.median(on)) if on.size else top


def _time_extent(profile: NDArray[np.float64], core: slice, sigma: float) -> tuple[float, float]:
    """Fractional frame positions (start, end) where the excess `profile` crosses half its
    median level around the strongest part of `core`. Dips of up to 3 frames inside a burst
    (data-dependent spectra, fading) are bridged."""
    smooth = profile
    level = _on_level(profile[core])
    if level < 6.0 * sigma and profile.shape[0] >= 3:
        smooth = ndimage.uniform_filter1d(profile, 3, mode="nearest")
        level = _on_level(smooth[core])
    half = 0.5 * level
    above = smooth >= half
    above |= ndimage.binary_closing(above, structure=np.ones(5, dtype=bool))
    start_idx = core.start + int(np.argmax(smooth[core]))
    lo, hi = _runs_containing(above, start_idx)
    # fractional crossing between lo-1 (below) and lo (above), and hi and hi+1
    if lo > 0:
        a, b = smooth[lo - 1], smooth[lo]
        start = lo - 1 + (half - a) / (b - a) if b > a else float(lo)
    else:
        start = -0.5
    if hi < smooth.shape[0] - 1:
        a, b = smooth[hi], smooth[hi + 1]
        end = hi + (a - half) / (a - b) if a > b else float(hi)
    else:
        end = smooth.shape[0] - 0.5
    return float(start), float(end)


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

    A region found by a coarse box can be much longer than its burst, which dilutes the
    band measurement: when the burst measured in it spans well under the region, it is
    measured again on its own span (band and time extent then agree)."""
    first = _measure_once(ratio, spec, noise, region, config)
    if first is None:
        narrowed = _narrow_in_time(spec, noise, region)
        if narrowed is None:
            return None
        return _measure_once(ratio, spec, noise, narrowed, config)
    ts = region[0]
    fa = max(0, int(np.floor(first.t_start_s / spec.frame_s)))
    fb = min(ratio.shape[0], int(np.ceil(first.t_end_s / spec.frame_s)))
    if fb - fa >= 0.6 * (ts.stop - ts.start):
        return first
    half_bins = 0.5 * first.bandwidth_hz / spec.bin_hz
    centre = first.freq_offset_hz / spec.bin_hz + spec.nfft // 2
    b0 = max(0, int(np.floor(centre - half_bins)))
    b1 = min(ratio.shape[1], int(np.ceil(centre + half_bins)) + 1)
    second = _measure_once(ratio, spec, noise, (slice(fa, fb), slice(b0, max(b1, b0 + 1))),
                           config)  # fmt: skip
    return second if second is not None else first


def _narrow_in_time(
    spec: Spectrogram, noise: NoiseFloor, region: tuple[slice, slice]
) -> tuple[slice, slice] | None:
    """The part of a long region where its bins hold the most excess power: the run of
    the (smoothed) time profile above half its peak. None when that is the whole region."""
    ts, fs = region
    n = ts.stop - ts.start
    if n < 12:
        return None
    floor = noise.floor[fs].astype(np.float64)
    profile = (spec.power[ts, fs] - floor.astype(np.float32)).sum(axis=1, dtype=np.float64)
    profile = ndimage.uniform_filter1d(profile, max(3, (n // 16) | 1), mode="nearest")
    peak = int(np.argmax(profile))
    if profile[peak] <= 0.0:
        return None
    lo, hi = _runs_containing(profile >= 0.5 * profile[peak], peak)
    if hi - lo + 1 >= 0.8 * n:
        return None
    return slice(ts.start + lo, ts.start + hi + 1), fs


def _measure_once(
    ratio: F32,
    spec: Spectrogram,
    noise: NoiseFloor,
    region: tuple[slice, slice],
    config: BurstConfig,
) -> Burst | None:
    n_frames, n_bins = ratio.shape
    ts, fs = region
    core_frames = ts.stop - ts.start
    floor = noise.floor.astype(np.float64)
    pad_f = max(3, (fs.stop - fs.start) // 4)
    band: tuple[float, float, float] | None = None
    # a weak wide burst is significant over its band, not bin by bin: when single bins do
    # not show the band the hot region found, test bins averaged over a running window
    smooth = max(1, ((fs.stop - fs.start) // 8) | 1)
    for _ in range(6):  # widen the search until the band ends inside it
        f0, f1 = max(0, fs.start - pad_f), min(n_bins, fs.stop + pad_f)
        mean_power = spec.power[ts, f0:f1].mean(axis=0, dtype=np.float64)
        band = None
        for width in (1, smooth) if smooth > 1 else (1,):
            excess = mean_power / floor[f0:f1] - 1.0
            if width > 1:
                excess = ndimage.uniform_filter1d(excess, width, mode="nearest")
            n_eff = effective_cells(spec.window, spec.nfft, core_frames, width)
            significant = excess > 3.0 / np.sqrt(n_eff)
            # bins blinded by a carrier or the DC spike (own floor far above their
            # neighbours') cannot show a burst; let the band run through them
            significant |= noise.per_bin[f0:f1] > 2.0 * noise.smoothed[f0:f1]
            power = mean_power - floor[f0:f1]
            if width > 1:
                power = ndimage.uniform_filter1d(power, width, mode="nearest")
            band = occupied_band(power, significant)
            if band is None:
                continue
            lo_b, hi_b = int(np.floor(band[0] + 0.5)), int(np.ceil(band[1] - 0.5)) + 1
            weak = float(np.mean(excess[max(lo_b, 0) : max(hi_b, lo_b + 1)])) < 1.0  # < 0 dB/cell
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
    b0 = max(0, int(np.floor(lo_edge + 0.5)))
    b1 = min(n_bins, int(np.ceil(hi_edge - 0.5)) + 1)
    n_band = b1 - b0
    if n_band < config.min_bins:
        return None

    pad_t = max(3, core_frames // 4)
    t0, t1 = max(0, ts.start - pad_t), min(n_frames, ts.stop + pad_t)
    band_floor = floor[b0:b1]
    profile = (spec.power[t0:t1, b0:b1] - band_floor).sum(axis=1, dtype=np.float64)
    core = slice(ts.start - t0, ts.stop - t0)
    sigma = float(np.sqrt(np.sum(band_floor**2)))
    start_f, end_f = _time_extent(profile, core, sigma)
    start_f += t0
    end_f += t0
    fa = max(0, int(np.ceil(start_f)))
    fb = min(n_frames, int(np.floor(end_f)) + 1)
    if fb - fa < config.min_frames:
        return None
    t_start = max(0.0, spec.frame_centre_s(start_f))
    t_end = min(n_frames * spec.frame_s, spec.frame_centre_s(end_f))
    if t_end - t_start < config.min_duration_s:
        return None

    box = ratio[fa:fb, b0:b1]
    if box.size < config.min_cells:
        return None
    mean_ratio = float(box.mean(dtype=np.float64))
    n_eff = effective_cells(spec.window, spec.nfft, fb - fa, n_band)
    if mean_ratio <= 1.0 or known_noise_pfa(mean_ratio, n_eff) > config.pfa_burst:
        return None

    per_frame = profile[fa - t0 : fb - t0]
    signal_power = float(per_frame.mean())
    return Burst(
        t_start_s=t_start,
        duration_s=t_end - t_start,
        freq_offset_hz=spec.bin_offset_hz(centroid),
        bandwidth_hz=(hi_edge - lo_edge) * spec.bin_hz,
        snr_db=power_to_db(signal_power / float(np.sum(noise.smoothed[b0:b1]))),
        mean_power_dbfs=power_to_db(signal_power),
        peak_power_dbfs=power_to_db(float(per_frame.max())),
        cells=int(box.size),
        # `_time_extent` only reaches frame 0 / the last frame when the burst is still on there
        cut_start=start_f <= 0.0,
        cut_end=end_f >= n_frames - 1.0,
    )


def _shrink(span: slice, margin: int) -> slice:
    start, stop = int(span.start), int(span.stop)
    if stop - start > 2 * margin:
        return slice(start + margin, stop - margin)
    mid = (start + stop) // 2
    return slice(mid, mid + 1)


def _overlap(a: Burst, b: Burst) -> float:
    """Overlap of two bursts' time-frequency boxes, relative to the smaller box."""
    dt = min(a.t_end_s, b.t_end_s) - max(a.t_start_s, b.t_start_s)
    a_lo, a_hi = a.freq_offset_hz - a.bandwidth_hz / 2, a.freq_offset_hz + a.bandwidth_hz / 2
    b_lo, b_hi = b.freq_offset_hz - b.bandwidth_hz / 2, b.freq_offset_hz + b.bandwidth_hz / 2
    df = min(a_hi, b_hi) - max(a_lo, b_lo)
    if dt <= 0 or df <= 0:
        return 0.0
    smaller = min(a.duration_s * a.bandwidth_hz, b.duration_s * b.bandwidth_hz)
    return dt * df / smaller if smaller > 0 else 0.0


def _deduplicate(bursts: list[Burst]) -> list[Burst]:
    """Drop bursts mostly inside a bigger one (a burst split into regions at low SNR is
    measured from each fragment)."""
    kept: list[Burst] = []
    for b in sorted(bursts, key=lambda x: x.duration_s * x.bandwidth_hz, reverse=True):
        if all(_overlap(b, k) < 0.7 for k in kept):
            kept.append(b)
    return kept


def _dilate(mask: NDArray[np.bool_], frames: int, bins: int) -> NDArray[np.bool_]:
    """Binary dilation by a (2 frames + 1) x (2 bins + 1) rectangle (separable, fast)."""
    grown = ndimage.maximum_filter(mask.view(np.uint8), size=(2 * frames + 1, 2 * bins + 1))
    result: NDArray[np.bool_] = grown.view(bool)
    return result


def _regions(mask: NDArray[np.bool_], config: BurstConfig) -> list[tuple[slice, slice]]:
    """Bounding boxes of the hot regions (merged across small gaps), largest first if capped."""
    merged = _dilate(mask, config.merge_frames, config.merge_bins)
    labels, count = ndimage.label(merged, structure=np.ones((3, 3), dtype=bool))
    boxes = ndimage.find_objects(labels)
    regions = [
        (_shrink(ts, config.merge_frames), _shrink(fs, config.merge_bins))
        for ts, fs in (b for b in boxes if b is not None)
    ]
    if count > config.max_regions:
        sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
        keep = np.argsort(sizes)[::-1][: config.max_regions]
        regions = [regions[i] for i in sorted(keep)]
    return regions


def find_bursts(spec: Spectrogram, noise: NoiseFloor, config: BurstConfig) -> list[Burst]:
    """All bursts of a spectrogram, in time order.

    spec: spectrogram of the frame; noise: its floor (`floor.time_floor`).
    Known limit: bursts that touch in time and frequency and are of similar strength form
    one region and are measured as the dominant one.
    """
    ratio = (spec.power / noise.floor).astype(np.float32, copy=False)
    mask, fine = _hot_and_fine(ratio, spec, noise, config)
    if not mask.any():
        return []
    bursts: list[Burst] = []
    for region in _regions(mask, config):
        views = split_overlaid(
            fine,
            spec,
            noise,
            region,
            min_frames=config.min_frames,
            min_bins=config.min_bins,
            excess_db=config.split_excess_db,
            widening=config.split_widening,
        ) or [(ratio, spec, region)]
        for view_ratio, view_spec, part in views:
            burst = measure_region(view_ratio, view_spec, noise, part, config)
            if burst is not None:
                bursts.append(burst)
    bursts = _deduplicate(drop_by_products(bursts, spec.frame_s, config.splatter))
    bursts.sort(key=lambda b: (b.t_start_s, b.freq_offset_hz))
    return bursts
