"""Burst segmentation on a spectrogram: energy scan -> hot regions -> measured bursts.

1. Each cell is divided by its bin's noise floor (`floor.block_floor`), so noise cells
   are unit-mean exponential.
2. The ratio is summed over a ladder of dt x df blocks (factor 2 each way, any aspect)
   and 3 x 3 boxes of blocks are tested at every block position (`burst_scan`), so that
   a weak burst is tested by a box near its own size; a box is "hot" when its mean
   exceeds the known-noise threshold (with the box's effective number of independent
   cells and the floor's own uncertainty) for the frame's Pfa split over levels and box
   positions. The scan reads the rectangular-window power (`Spectrogram.flat`: every
   degree of freedom; there, whose bins are independent, with boxes from 3 bins wide,
   `FLAT_FIRST_DF`), again averaged over 3 x 3 cells (box sides between the ladder's),
   except where strong bursts or steady carriers would leak; those cells get the Hann
   power's scan (`_regions`).
3. Hot boxes (coarse ones only where finer finds do not explain them) within a couple of
   cells of each other form one region.
4. A region holding a strong narrow burst on top of a wider, weaker one (an RC packet
   during a Wi-Fi frame) is split: each is measured with the other painted out
   (`overlaid`).
5. Each region is re-measured on the raw ratio (Hann; a weak one on the rectangular
   power, whose leakage is then far under the noise): 99 % power bandwidth from the
   frequency profile (bins averaged where single ones do not show a weak burst),
   start/end at the half-excess crossings of the time profile (both averaged enough for
   a weak burst to stand 4 sigma over the noise), in-band SNR.
6. A region is kept only if its measured box passes a confirming energy test at
   `pfa_burst` (on the rectangular power) and the minimum size (the scan's frame Pfa is
   what keeps noise-only frames silent; this drops boxes whose measurement lost the
   energy that made them hot).
   Where its burst leaves a long stretch of the region's time span uncovered, that
   stretch is measured too, with the burst painted out (bursts a few frames apart, such
   as 802.11 frames after a short backoff, share a region).
7. Splatter and re-measured pieces of stronger bursts are dropped (`splatter`).

Cost: steps 1-3 read the spectrogram once and then work on block sums half its size or
less (`burst_scan`); noise-only frames stop there. Steps 4-7 touch
each region's neighbourhood only, with small-array numpy and plain Python on the short
profiles. Weak wide bursts found by coarse boxes cost a few region re-measurements each.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from detectors.burst_profiles import occupied_band as occupied_band  # re-exported: API
from detectors.burst_profiles import run_around, time_extent
from detectors.burst_scan import merge_boxes, scan_boxes
from detectors.burst_types import Burst as Burst  # re-exported: part of the API
from detectors.cfar import known_noise_pfa
from detectors.floor import NoiseFloor
from detectors.overlaid import split_overlaid
from detectors.spectra import Spectrogram, effective_cells, frame_pairs
from detectors.splatter import SplatterConfig, deduplicate, drop_by_products
from detectors.units import power_to_db

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BurstConfig:
    """Segmentation settings.

    pfa_frame: false-alarm probability per frame of the hot-box scans (`burst_scan`): split
      evenly over the scans (`_regions`), then over their levels and, within a level,
      over the box positions it tests
      (Bonferroni: a 3 x 3 box of 32 x 64-cell blocks has a few hundred positions in a
      frame, one of 2 x 2-cell blocks a hundred thousand, so big boxes get the lower
      thresholds they deserve). 1e-2: Bonferroni over ~10⁵ positions is conservative,
      so noise-only snapshots give a detection about 2e-3 of the time (`bench/rf_quality.py`
      part 4), and such a detection is one weak burst, whose confidence `detect_rf` caps
      under stage 2's alert cut (`RfConfig.weak_max_confidence`): this rate is one of
      low-confidence candidates, not of alerts. Against 1e-4 it lowers the SNR at Pd 0.9
      by 0.3-0.8 dB.
    pfa_burst: false-alarm probability of the energy test that confirms a measured box
      (the frame's false alarms are the scan's; this only checks that the measurement kept
      the energy that made the region hot, so a loose test, as the ideal detector's 1e-3).
    pfa_rest: the same for the further bursts looked for in a region's uncovered frames,
      a search over pieces of the region (strict: else the tail of a burst's region
      yields short noise pieces).
    split_excess_db / split_widening: a region is split when cells this far above its
      typical hot cell form a part that the rest is at least this many times wider than.
    splatter: what counts as a by-product of a stronger burst (`splatter`).
    min_frames / min_bins / min_cells: the smallest burst box kept. Boxes under ~24 cells
      (60 µs x 200 kHz at 25 MS/s, 100 µs x 100 kHz at 2 MS/s) match no signature, and a
      box that small, measured on the very cells that made it hot, is where the
      burst-level test's Pfa is least true.
    merge_frames / merge_bins: hot boxes this close form one region.
    rest_min_frames / max_rest_bursts / rest_range_db: a region's burst that leaves this
      many of its frames uncovered on one side has them measured too, up to this many
      bursts per region; what is found there more than rest_range_db under the region's
      burst is its transmitter's ramps or the receiver's recovery (real GSM captures
      show both), not a burst.
    """

    pfa_frame: float = 1e-2
    pfa_burst: float = 1e-3
    pfa_rest: float = 1e-7
    merge_frames: int = 2
    merge_bins: int = 2
    min_frames: int = 3
    min_bins: int = 2
    min_cells: int = 24
    min_duration_s: float = 30e-6
    max_regions: int = 400
    rest_min_frames: int = 10
    max_rest_bursts: int = 8
    rest_range_db: float = 20.0
    split_excess_db: float = 8.0
    split_widening: float = 2.0
    splatter: SplatterConfig = field(default_factory=SplatterConfig)

    def __post_init__(self) -> None:
        if not all(0.0 < p < 1.0 for p in (self.pfa_frame, self.pfa_burst, self.pfa_rest)):
            raise ValueError(
                f"pfa must be in (0, 1): {self.pfa_frame=}, {self.pfa_burst=}, {self.pfa_rest=}"
            )


@dataclass(frozen=True, slots=True)
class _Frame:
    """What every region's measurement reads: the spectrogram and its floor in the
    precisions the measurement uses, computed once per frame."""

    spec: Spectrogram
    noise: NoiseFloor
    floor: F64
    blind: NDArray[np.bool_]  # bins whose own floor is far above their neighbours'
    #: the floor of spec.flat (rectangular window), when the confirming test reads it
    flat_floor: F32 | None = None

    @classmethod
    def of(cls, spec: Spectrogram, noise: NoiseFloor, scan_noise: NoiseFloor | None) -> _Frame:
        # bins blinded by a carrier or the DC spike cannot show a burst
        blind = noise.per_bin > 2.0 * noise.smoothed
        flat_floor = None if spec.flat is None or scan_noise is None else scan_noise.floor
        return cls(spec, noise, noise.floor.astype(np.float64), blind, flat_floor)


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
    lo, hi = run_around((profile >= 0.5 * profile[peak]).tolist(), peak)
    if hi - lo + 1 >= 0.8 * n:
        return None
    return slice(ts.start + lo, ts.start + hi + 1), fs


def _band_smoothing(core_rows: F32, floor: F64, fs: slice) -> int:
    """Bins to average the band test over for a weak burst: enough that the region's mean
    excess per bin, over its frames, stands 4 sigma over the noise (1 when single bins
    already show it), up to half the region's width."""
    width: int = fs.stop - fs.start
    if width < 6:
        return 1
    total = np.add.reduce(core_rows[:, fs], axis=None, dtype=np.float64)
    excess = float(total) / (core_rows.shape[0] * float(np.add.reduce(floor[fs]))) - 1.0
    z = excess * math.sqrt(core_rows.shape[0])
    if z >= 4.0:
        return 1
    need: int = math.ceil((4.0 / max(z, 0.1)) ** 2) | 1
    return min(need, (width // 2) | 1)


#: bins a weak narrow burst's band test averages over when single bins show too little
#: of it (`_measure_once`)
NARROW_SMOOTH = 3


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
    smooth = max(1, ((fs.stop - fs.start) // 8) | 1, _band_smoothing(core_rows, floor, fs))
    # a wide burst's own nulls (802.11 OFDM's DC subcarrier: 312.5 kHz, 2 % of its band)
    # fall below significance first: gaps up to a 24th of the region are bridged
    bridge = max(1, (fs.stop - fs.start) // 48)
    # a weak narrow burst (a few bins) whose single bins show less than min_bins of it is
    # tested over NARROW_SMOOTH bins too
    widths = (1, smooth) if smooth > 1 else (1, NARROW_SMOOTH)
    for _ in range(6):  # widen the search until the band ends inside it
        f0, f1 = max(0, fs.start - pad_f), min(n_bins, fs.stop + pad_f)
        mean_power = np.add.reduce(core_rows[:, f0:f1], axis=0, dtype=np.float64) / core_frames
        band = None
        for width in widths:
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
            band = occupied_band(signal, significant, bridge)
            if band is None:
                continue
            lo_b, hi_b = math.floor(band[0] + 0.5), math.ceil(band[1] - 0.5) + 1
            in_band = slice(max(lo_b, 0), max(hi_b, lo_b + 1))
            weak = float(np.add.reduce(excess[in_band])) / (in_band.stop - in_band.start) < 1.0
            if smooth == 1:
                if weak and hi_b - lo_b < config.min_bins and width == 1:
                    continue
                break
            if band[1] - band[0] >= 0.25 * (fs.stop - fs.start):
                break
            # a narrow band that holds most of the region's signal power is the burst;
            # one that does not is a noise peak (or a spectral line) of a weak wide burst
            in_region = float(np.add.reduce(signal[fs.start - f0 : fs.stop - f0]))
            if not weak and float(np.add.reduce(signal[in_band])) >= 0.5 * in_region:
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
    start_f, end_f = time_extent(profile, (ts.start - t0, ts.stop - t0), sigma)
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
    if not _confirmed(frame, power, box, (fa, fb, b0, b1), config.pfa_burst):
        return None

    per_frame = profile[fa - t0 : fb - t0]
    signal_power = float(np.add.reduce(per_frame)) / per_frame.shape[0]  # its mean
    noise_power = float(np.add.reduce(frame.noise.smoothed[b0:b1]))
    peak_power = float(np.maximum.reduce(per_frame))
    snr_db, mean_db, peak_db = power_to_db(
        np.array([signal_power / noise_power, signal_power, peak_power])
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
        # `time_extent` only reaches frame 0 / the last frame when the burst is still on there
        cut_start=start_f <= 0.0,
        cut_end=end_f >= n_frames - 1.0,
        fill=float(np.count_nonzero(box >= 4.0)) / box.size,
    )


def _confirmed(
    frame: _Frame, power: F32, box: F32, cells: tuple[int, int, int, int], pfa: float
) -> bool:
    """The energy test on a measured box at `pfa`: on the rectangular-window power when
    the frame has it and `power` is the spectrogram itself (not painted), as the scan
    tested it (all the degrees of freedom); else on `box`, the Hann power over its floor."""
    spec = frame.spec
    fa, fb, b0, b1 = cells
    window = spec.window
    if spec.flat is not None and frame.flat_floor is not None and power is spec.power:
        box = spec.flat[fa:fb, b0:b1] / frame.flat_floor[b0:b1]
        window = "boxcar"
    mean_ratio = float(np.add.reduce(box, axis=None, dtype=np.float64)) / box.size
    n_eff = effective_cells(window, spec.nfft, fb - fa, b1 - b0)
    return mean_ratio > 1.0 and known_noise_pfa(mean_ratio, n_eff) <= pfa


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
    return _measure(_Frame.of(spec, noise, None), spec.power, 0, region, config)


def _fine_ratio(power: F32, floor: F32, region: tuple[slice, slice]) -> F32:
    """The ratio power / floor box-averaged over 3 x 3 cells (edges repeated, as
    `scipy.ndimage.uniform_filter` mode "nearest"), on the cells of `region`: the same
    values as `cfar.box_sums` (the same order of additions), on the region and its
    one-cell rim only."""
    ts, fs = region
    n, m = power.shape
    r0, r1 = max(0, ts.start - 1), min(n, ts.stop + 1)
    c0, c1 = max(0, fs.start - 1), min(m, fs.stop + 1)
    # a region at the frame's edge repeats its edge cells
    top, bottom = int(r0 == ts.start), int(r1 == ts.stop)
    left, right = int(c0 == fs.start), int(c1 == fs.stop)
    ratio = np.empty((top + r1 - r0 + bottom, left + c1 - c0 + right), dtype=np.float32)
    inner = ratio[top : ratio.shape[0] - bottom, left : ratio.shape[1] - right]
    np.divide(power[r0:r1, c0:c1], floor[c0:c1], out=inner)
    if left:
        ratio[top : top + r1 - r0, 0] = ratio[top : top + r1 - r0, 1]
    if right:
        ratio[top : top + r1 - r0, -1] = ratio[top : top + r1 - r0, -2]
    if top:
        ratio[0] = ratio[1]
    if bottom:
        ratio[-1] = ratio[-2]
    across = ratio[:, 1:-1] + ratio[:, 2:]
    np.add(ratio[:, :-2], across, out=across)  # x[j] + (x[j + 1] + x[j + 2])
    inside: F32 = across[1:-1] + across[2:]
    np.add(across[:-2], inside, out=inside)
    inside *= np.float32(1.0 / 9.0)
    return inside


#: a frame pair with a cell this many times its floor (Hann, 2 frames summed: ~11 dB per
#: cell; noise alone: P = e^-24 x 25 = 1e-9 per cell, 2e-4 per 25 MS/s x 20 ms frame)
#: holds a strong burst, whose rectangular-window sidelobes (-13 dB and down) spread over
#: tens of bins
STRONG_PAIR_RATIO = 24.0
#: a bin whose flat floor exceeds its Hann floor by this factor holds the leakage of a
#: steady carrier (or the DC spike): rectangular sidelobes fall as 1/k^2 only, and a 60
#: dB tone lifts the flat floor 6 dB even 12 MHz away at 25 MS/s
LEAKY_FLOOR_RATIO = 1.25
#: the flat scan runs again on the spectrogram averaged over these (frames, bins): box
#: sides 9·2^k between the 6·2^k of the plain scan, so that a burst meets a box nearer
#: its size (3 x 3 alone found as many bursts at ideal + 3 dB as 3 x 1, 1 x 3 and 3 x 3
#: together, each scan at a share of the frame's Pfa, at a ninth of the cost)
AVERAGED_SCANS: tuple[tuple[int, int], ...] = ((3, 3),)
#: the plain flat scan's finest bin block: 1, boxes from 3 bins wide (a burst 3-4 bins
#: wide, such as a 185 kHz RC packet in 48.8 kHz bins, loses ~1 dB in the 6-bin boxes
#: of 2-bin blocks)
FLAT_FIRST_DF = 1


def _scan(
    power: F32,
    floor: NoiseFloor,
    pairs: F32 | None,
    window: str,
    nfft: int,
    pfa_frame: float,
    cell: tuple[int, int] = (1, 1),
    first_df: int = 2,
) -> list[tuple[int, int, int, int]]:
    return scan_boxes(
        power,
        floor.floor,
        window=window,
        nfft=nfft,
        pfa_frame=pfa_frame,
        floor_rel_std=floor.rel_std,
        level_bins=floor.level_bins,
        cell=cell,
        pairs=pairs,
        first_df=first_df,
    )


def _averaged(power: F32, cell: tuple[int, int]) -> F32:
    """power (n_frames, n_bins) averaged over cells of `cell` (frames, bins), the cells
    the division leaves over dropped: strided additions (numpy sums a length-3 axis
    slowly)."""
    ft, fb = cell
    out = power
    if ft > 1:
        n = power.shape[0] // ft
        out = np.add(power[0 : n * ft : ft], power[1 : n * ft : ft])
        for i in range(2, ft):
            out += power[i : n * ft : ft]
    if fb > 1:
        m = out.shape[1] // fb
        summed = np.add(out[:, 0 : m * fb : fb], out[:, 1 : m * fb : fb])
        for j in range(2, fb):
            summed += out[:, j : m * fb : fb]
        out = summed
    if out is power:
        return power
    out *= np.float32(1.0 / (ft * fb))
    return out


def _flat_scans(
    spec: Spectrogram,
    scan_noise: NoiseFloor,
    strong: NDArray[np.bool_],
    leaky: NDArray[np.bool_],
    pfa: float,
) -> list[tuple[int, int, int, int]]:
    """The scans of the rectangular-window power (`Spectrogram.flat`) with the frame
    pairs holding a strong burst and the bins holding a carrier's leakage painted at the
    floor's noise mean: on its own cells (boxes from 3 bins wide, `FLAT_FIRST_DF`) and
    averaged over each of `AVERAGED_SCANS`, `pfa` split evenly over them; boxes in
    spectrogram cells."""
    assert spec.flat is not None
    floor = scan_noise.floor
    pairs = spec.flat_pairs if spec.flat_pairs is not None else frame_pairs(spec.flat)
    if strong.any() or leaky.any():
        pairs = pairs.copy()
        pairs[strong] = 2.0 * floor
        pairs[:, leaky] = 2.0 * floor[leaky]
    share = pfa / (1 + len(AVERAGED_SCANS))
    boxes = _scan(spec.flat, scan_noise, pairs, "boxcar", spec.nfft, share, first_df=FLAT_FIRST_DF)
    strong_frames = np.repeat(strong, 2)  # a trailing odd frame is in no pair: unpainted
    for ft, fb in AVERAGED_SCANS:
        power = _averaged(spec.flat, (ft, fb))
        n, m = power.shape
        avg_floor = floor[: m * fb].reshape(m, fb).mean(axis=1, dtype=np.float32)
        if strong.any():  # an averaged row with a strong frame in it
            rows = np.zeros(n * ft, dtype=bool)
            rows[: min(n * ft, strong_frames.shape[0])] = strong_frames[: n * ft]
            power[rows.reshape(n, ft).any(axis=1)] = avg_floor
        if leaky.any():
            cols = leaky[: m * fb].reshape(m, fb).any(axis=1)
            power[:, cols] = avg_floor[cols]
        noise = dataclasses.replace(scan_noise, floor=avg_floor)
        found = _scan(power, noise, None, "boxcar", spec.nfft, share, (ft, fb))
        boxes += [(r0 * ft, r1 * ft, c0 * fb, c1 * fb) for r0, r1, c0, c1 in found]
    return boxes


def _regions(
    spec: Spectrogram, noise: NoiseFloor, config: BurstConfig, scan_noise: NoiseFloor | None
) -> list[tuple[slice, slice]]:
    """Hot regions of the scan (`burst_scan`), merged across small gaps, in cells; the
    `max_regions` largest if there are more.

    With the rectangular-window power (`Spectrogram.flat`) and its floor, the scan reads
    it (`_flat_scans`), but for the frame pairs that hold a strong burst and the bins
    where a steady carrier leaks: rectangular sidelobes would light up or raise the floor
    of tens of bins around them. Where there are such cells the Hann power is scanned
    too, as a second test (each scan at half the frame's Pfa; all of it when nothing is
    left to the flat scan), for the strong bursts and anything near them."""
    pfa = config.pfa_frame
    if spec.flat is None or scan_noise is None:
        boxes = _scan(spec.power, noise, spec.pairs, spec.window, spec.nfft, pfa)
    else:
        pairs = spec.pairs if spec.pairs is not None else frame_pairs(spec.power)
        strong = np.max(pairs / noise.floor, axis=1) > STRONG_PAIR_RATIO
        leaky = scan_noise.floor > np.float32(LEAKY_FLOOR_RATIO) * noise.floor
        if not strong.any() and not leaky.any():  # the flat scans alone
            boxes = _flat_scans(spec, scan_noise, strong, leaky, pfa)
        elif strong.all() or leaky.all():  # nothing left to them
            boxes = _scan(spec.power, noise, pairs, spec.window, spec.nfft, pfa)
        else:
            boxes = _scan(spec.power, noise, pairs, spec.window, spec.nfft, 0.5 * pfa)
            boxes += _flat_scans(spec, scan_noise, strong, leaky, 0.5 * pfa)
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


def _measure_all(frame: _Frame, region: tuple[slice, slice], config: BurstConfig) -> list[Burst]:
    """The burst of a region and, where it leaves `rest_min_frames` or more of the region's
    time span uncovered, the bursts there, each measured with the ones found painted out
    (the region's bins back to the floor over their frames): hot boxes reach up to two
    blocks past a burst, so bursts a few frames apart (802.11 frames after a SIFS and a
    short backoff) form one region."""
    spec = frame.spec
    first = _measure(frame, spec.power, 0, region, config)
    if first is None:
        return []
    ts, fs = region
    found = [first]
    rest_config: BurstConfig | None = None  # made when a gap is measured
    r0, r1 = _padded_rows(ts, spec.n_frames)
    power: F32 | None = None
    todo = [first]
    while todo and len(found) < config.max_rest_bursts:
        burst = todo.pop()
        fa = max(ts.start, math.floor(burst.t_start_s / spec.frame_s) - 1)
        fb = min(ts.stop, math.ceil(burst.t_end_s / spec.frame_s) + 1)
        gaps = [(ts.start, fa), (fb, ts.stop)]
        gaps = [(a, b) for a, b in gaps if b - a >= config.rest_min_frames]
        if not gaps:
            continue
        if power is None or rest_config is None:
            power = spec.power[r0:r1].copy()
            rest_config = dataclasses.replace(config, pfa_burst=config.pfa_rest)
        power[fa - r0 : fb - r0, fs] = frame.noise.floor[fs]
        for a, b in gaps:
            rest = _measure(frame, power, r0, (slice(a, b), fs), rest_config)
            if rest is None or rest.snr_db < first.snr_db - config.rest_range_db:
                continue  # a strong burst's ramps and the receiver's recovery
            if len(found) < config.max_rest_bursts:
                found.append(rest)
                todo.append(rest)
    return found


#: a region whose every bin averages less excess than this over its frames (in-band SNR
#: per cell under 0 dB) is measured on the rectangular-window power: its leakage
#: (sidelobes -13 dB and lower) stays far under the noise there
WEAK_EXCESS = 1.0


def _flat_frame(spec: Spectrogram, scan_noise: NoiseFloor | None) -> _Frame | None:
    """The frame as the rectangular-window power and its floor (`Spectrogram.flat`)."""
    if spec.flat is None or scan_noise is None:
        return None
    flat = dataclasses.replace(
        spec, power=spec.flat, window="boxcar", pairs=spec.flat_pairs, flat=None, flat_pairs=None
    )
    return _Frame.of(flat, scan_noise, None)


def _weak(frame: _Frame, region: tuple[slice, slice]) -> bool:
    """Whether no bin of the region (and a few around it) averages WEAK_EXCESS or more
    over the region's frames: a weak burst, which the Hann window's lost degrees of
    freedom (`Spectrogram.flat`) would hide from its own measurement."""
    ts, fs = region
    n_bins = frame.spec.power.shape[1]
    b0, b1 = max(0, fs.start - 2), min(n_bins, fs.stop + 2)
    rows = frame.spec.power[ts, b0:b1]
    mean = np.add.reduce(rows, axis=0, dtype=np.float64) / (ts.stop - ts.start)
    excess = mean / frame.floor[b0:b1] - 1.0
    return bool(np.all(excess[~frame.blind[b0:b1]] < WEAK_EXCESS))


def find_bursts(
    spec: Spectrogram,
    noise: NoiseFloor,
    config: BurstConfig,
    scan_noise: NoiseFloor | None = None,
) -> list[Burst]:
    """All bursts of a spectrogram, in time order.

    spec: spectrogram of the frame; noise: its floor (`floor.block_floor`); scan_noise:
    the floor of `spec.flat`, when the scan is to read it.
    Known limit: bursts that touch in time and frequency and are of similar strength form
    one region and are measured as the dominant one.
    """
    regions = _regions(spec, noise, config, scan_noise)
    if not regions:
        return []
    frame = _Frame.of(spec, noise, scan_noise)
    flat_frame = _flat_frame(spec, scan_noise)
    bursts: list[Burst] = []
    for region in regions:
        if flat_frame is not None and _weak(frame, region):
            bursts += _measure_all(flat_frame, region, config)
            continue
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
            bursts += _measure_all(frame, region, config)
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
