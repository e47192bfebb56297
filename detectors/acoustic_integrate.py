"""Incoherent integration of the rotor-comb statistic across consecutive frames (issue 5).

One 1 s frame gives 1 Hz bins; a distant drone's harmonics sit a few dB over that floor
and the per-frame harmonic sum stays under the alert cut. A hovering rotor comb is steady
over seconds (hover jitter p5-p95 ~1 %, SIGNALS.md §4), noise is independent from frame to
frame, so summing the frames' per-band statistics grows the comb as n and the noise as
sqrt(n).

What is summed: every frame's `CombAnalysis.z_grid`, the clipped per-band peak-excess z at
every f0 of the grid and every harmonic k (under noise alone each z is standardised:
mean 0, variance 1). Over the last n <= `frames` frames,

    Z(f0, k) = sum_i z_i(f0, k) / sqrt(n)

again has mean 0 and variance 1 under noise, with a lighter tail than one frame's z (a sum
of independent terms), so the harmonic sum S(f0) built from Z exactly as `analyse_comb`
builds it from z has, per decision, at most the single-frame null law: the single-frame
thresholds (`min_score`, `score_mid`, `line_z`) keep the false-alarm rate per decision.
Nothing is calibrated on data. A slowly gliding f0 needs no search: a harmonic band is
k*f0*(1 +- 4 %) wide, so drifts of a few % over the window stay in the same bands.

Confusers: the cheap rules that need only the summed bands are applied again (f0 floor,
lines, fill, octave checks). The rules that need the waveform (dropouts, comb share,
single partials, low fundamental, machine lines) run on each frame; a window holding a
frame whose comb passed the score but was rejected or down-weighted by one of them does
not integrate (`tainted`): integration is for combs too weak for any one frame, not for
sources a rule already recognised. Two of those cues read one spectrum and are applied
again to the frames' mean power over floor (`_alone_in_sum`): the low fundamental (a
helicopter's main rotor, whose dense comb no single frame showed strongly enough) and
the comb share (steady tonal sources beside it). The f0 floor holds for the refined f0
too. Three checks belong to the sum itself:

- steady machinery: f0 is refined on the frames' mean power-over-floor spectrum (band
  centroids, as `analyse_comb` does on one frame); a comb locked to k*50 or k*60 Hz
  (mains, transformers) or whose harmonics k >= 2 are mostly one Hann main lobe over the
  whole window is rejected. Hums, gensets and fans hold their frequency to < 0.1 % for
  minutes (SIGNALS.md §4 `generator_hvac`), so n frames pile up in one bin; a rotor
  harmonic is a cluster (rotors 1-5 % apart) that RPM jitter (σ 0.5-2 %, τ 0.2-1 s)
  smears further over seconds;
- carry-over: the evidence must be spread over the window: the sum without its
  strongest frame must still reach `min_score`, and the newest frame must support the
  comb on its own, its harmonic sum at the integrated f0 at least `support_z`
  (2.0, a few % under noise). Otherwise a comb that one or two loud frames put into
  the sum would be reported again in each following frame, and stage 2 would count
  those frames as persistence;
- frames the single-frame path reported enter the sum but the sum is not reported for
  them (they already speak for themselves).

Pure logic, no I/O: `CombIntegrator` holds one sensor's history; `IntegratorRegistry`
holds many, bounded in count and idle time, thread-safe (a lock per sensor state).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from detectors.acoustic_comb import _octave_checks, harmonic_weights
from detectors.acoustic_config import F64, I64, AcousticConfig, AcousticDetection, CombAnalysis
from detectors.acoustic_cues import comb_share, low_fundamental
from detectors.acoustic_rules import comb_confidence, mains_locked, single_lines_unlikely
from detectors.acoustic_spectrum import WhitenedSpectrum, band_edges
from detectors.arrays import cumsum0
from detectors.sensor_states import SensorStates
from detectors.units import power_to_db

MAX_SNR_DB = 200.0
F32_MAX = float(np.finfo(np.float32).max)  # ratios are kept in float32


@dataclass(frozen=True, slots=True)
class IntegratorConfig:
    """frames: window (frames summed, the newest included); min_frames: frames needed
    before a decision; max_gap: a t0 step outside (0.5, max_gap) frame durations resets the
    history (lost frames, replays, clock jumps); max_sensors / idle_s: the registry keeps at
    most this many sensor states and drops those not updated for idle_s seconds; support_z:
    the newest frame's own harmonic sum at the integrated f0 must reach this (the line_z
    level: a one-sided ~2 % event for one N(0, 1) sum, a few % for the best of the partial
    sums: the comb is still there); mains_hz: grid frequencies whose
    multiples a summed comb may not be locked to; max_level_dba: frames are summed
    only while the microphone hears at most this A-weighted level (dB SPL; never without a
    calibration): quiet sites and nights (SIGNALS.md §4: quiet rural night 25-35 dBA),
    where range falls shortest of the limit. There, on the false-alarm bench with every
    confuser ten times as far (30 dBA, sources -20 dB), the sum added no alert in 48
    station-hours; summed at any level, in the 45 dBA bench, it added two (BENCHMARKS.md,
    eleventh session). Limits: frames arriving out of order (the hub's worker threads)
    start the sum again; each summing sensor keeps ~365 kB; a steady line 10x the floor
    in the comb's range (a hum harmonic) fails the sum's comb share until the sensor has
    learnt it as a plant line (a minute), and its frames' own comb share can still taint
    the window (a synthetic hover beside a 13 dB line at 300 Hz: 11 summed hits in a
    minute, 30 without the line, 2 before plant lines were set aside). A summed hit at
    the cut counts in stage 2 and in the history's track continuation like a frame's,
    though consecutive sums share frames."""

    frames: int = 6
    min_frames: int = 2
    frame_z_cap: float = math.inf
    max_gap: float = 1.5
    support_z: float = 2.0
    mains_hz: tuple[float, ...] = (50.0, 60.0)
    max_level_dba: float = 38.0
    max_sensors: int = 256
    idle_s: float = 300.0


@dataclass(frozen=True, slots=True)
class _Entry:
    t0_s: float
    duration_s: float
    sample_rate_hz: float
    z: F64  # (P, K) clipped band z, float32 in memory
    ratio: F64  # (P, K) band power over floor
    line_ratio: F64 | None  # (m,) bin power over floor
    tainted: bool


def tainted(comb: CombAnalysis, config: AcousticConfig) -> bool:
    """The frame's comb scored as a candidate but a confuser rule of `acoustic_rules`
    rejected or down-weighted it (low fundamental, dropouts, comb share, loud few lines,
    single partials, common envelope, machine lines). Too few lines, a low fill or a low
    f0 are not confuser cues (a weak comb shows them) and do not taint."""
    if comb.score < config.min_score:
        return False
    lines = int(np.count_nonzero(comb.present))
    if (
        comb.f0_hz < config.min_report_f0_hz
        or lines < config.min_lines
        or comb.fill < config.min_fill
    ):
        return False
    plain = 1.0 / (1.0 + math.exp(-(comb.score - config.score_mid) / config.score_width))
    return comb_confidence(comb, config) < 0.999 * plain


@lru_cache(maxsize=8)
def _weights(config: AcousticConfig, grid: tuple[float, ...]) -> tuple[F64, F64, F64]:
    f0 = np.asarray(grid)
    k = np.arange(1, config.max_harmonics + 1, dtype=np.float64)
    usable = f0[:, None] * k[None, :] * (1 + config.tolerance) < config.band_limit_hz
    w = np.where(usable, harmonic_weights(config)[None, :], 0.0)
    partial = np.sqrt(np.maximum(np.cumsum(w * w, axis=1)[:, config.min_lines - 1 :], 1e-12))
    return usable.astype(np.float64), w, partial


def refine_f0(mean_ratio: F64, bin_hz: float, f0_hz: float, ks: I64, weights: F64,
              config: AcousticConfig) -> float:  # fmt: skip
    """f0 from the centroids of the excess over `peak_threshold` (what stands clear of the
    averaged noise) in the bands k*f0 (ks: (j,) harmonic numbers, weights: (j,)), by
    weighted least squares of centroid vs k; f0_hz unchanged when no band has any."""
    kf = ks.astype(np.float64)
    lo, hi = band_edges(kf * f0_hz, bin_hz, mean_ratio.shape[0], config)
    cents, use = [], []
    for a, b in zip(lo, hi, strict=True):
        e = np.maximum(mean_ratio[a : b + 1] - config.peak_threshold, 0.0)
        total = float(np.sum(e))
        use.append(total > 0.0)
        cents.append(float(np.sum(e * np.arange(a, b + 1))) / total if total > 0.0 else 0.0)
    sel = np.asarray(use)
    if not np.any(sel):
        return f0_hz
    centroid = np.asarray(cents)[sel] * bin_hz
    w, k = np.maximum(weights[sel], 1e-6), kf[sel]
    return float(np.sum(w * k * centroid) / np.sum(w * k * k))


def sharp_line_share(
    mean_ratio: F64, bin_hz: float, f0_hz: float, ks: I64, config: AcousticConfig
) -> tuple[int, float]:
    """(bands, share of them that are one line) among harmonics k >= 2 of f0 in the mean
    power-over-floor spectrum of the window: a band counts when its loudest bin clears
    `peak_threshold`, and is one line when the Hann main lobe (±2 bins) of that bin holds
    `single_lobe_fraction` of the band's excess over the threshold (as
    `acoustic_cues.single_line_share` on one frame)."""
    k = ks[ks >= 2].astype(np.float64)
    if k.shape[0] == 0:
        return 0, 0.0
    lo, hi = band_edges(k * f0_hz, bin_hz, mean_ratio.shape[0], config)
    bands = single = 0
    for a, b in zip(lo, hi, strict=True):
        r = mean_ratio[a : b + 1]
        p = int(np.argmax(r))
        excess = np.maximum(r - config.peak_threshold, 0.0)
        total = float(np.sum(excess))
        if total <= 0.0:
            continue
        bands += 1
        single += float(np.sum(excess[max(p - 2, 0) : p + 3])) >= (
            config.single_lobe_fraction * total
        )
    return bands, (single / bands if bands else 0.0)


def _locked(f0_hz: float, grid_hz: tuple[float, ...], tolerance: float) -> bool:
    for base in grid_hz:
        n = round(f0_hz / base)
        if n >= 1 and abs(f0_hz - n * base) <= tolerance * f0_hz:
            return True
    return False


def _alone_in_sum(
    mean_ratio: F64,
    bin_hz: float,
    f0_hz: float,
    config: AcousticConfig,
    plant_mask: NDArray[np.bool_] | None = None,
) -> bool:
    """The summed comb at f0 passes the single-frame cues that read one spectrum, here the
    frames' mean power over floor: it is not every d-th line of a denser comb below
    `min_f0_hz` (a helicopter's main rotor, a mower: `acoustic_cues.low_fundamental`),
    and it holds `min_comb_share` of the steady strong tonal power in its range
    (`acoustic_cues.comb_share`: music, fans and engines beside it), the sensor's learnt
    plant lines (`plant_mask`, `acoustic_plant`) set aside: a hum harmonic or a fan line
    beside a distant drone is no other source of the kind this cue is for. On the mean of
    n frames a noise bin rarely clears the peak threshold, so both read steady lines."""
    floor = np.ones_like(mean_ratio)
    peaks = np.maximum(mean_ratio - config.peak_threshold, 0.0)
    peaks[: math.ceil(config.highpass_hz / bin_hz)] = 0.0
    spec = WhitenedSpectrum(
        mean_ratio, floor, cumsum0(mean_ratio), cumsum0(floor), cumsum0(peaks), bin_hz
    )
    if low_fundamental(spec, f0_hz, config) is not None:
        return False
    if plant_mask is not None and plant_mask.shape == mean_ratio.shape:
        aside = np.where(plant_mask, 1.0, mean_ratio)  # at the floor: no tonal power
        spec = dataclasses.replace(spec, power=aside)  # comb_share reads power and floor
    return comb_share(spec, f0_hz, config) >= config.min_comb_share


def integrated_detection(
    zs: list[F64],
    ratios: list[F64],
    grid_hz: F64,
    duration_s: float,
    config: AcousticConfig = AcousticConfig(),
    frame_z_cap: float = math.inf,
    *,
    line_ratios: list[F64] | None = None,
    bin_hz: float = 0.0,
    newest_sum: F64 | None = None,
    support_z: float = -math.inf,
    mains_hz: tuple[float, ...] = (50.0, 60.0),
    plant_mask: NDArray[np.bool_] | None = None,
) -> AcousticDetection | None:
    """Decide on the frames' summed band z (each (P, K), oldest first); None below the cut.
    frame_z_cap: each frame's z is first clipped to it (`IntegratorConfig.frame_z_cap`);
    line_ratios: the frames' (m,) bin power over floor (bin width bin_hz), for the f0
    refinement and the steady-machinery checks (skipped when None); newest_sum: (P,) the
    newest frame's own harmonic sum, which must reach support_z at the chosen f0."""
    n = len(zs)
    if n == 0:
        return None
    usable_f, w, partial = _weights(config, tuple(float(v) for v in grid_hz))
    usable = usable_f > 0
    big_z = np.sum(np.minimum(np.asarray(zs, dtype=np.float64), frame_z_cap), axis=0) / math.sqrt(n)
    z = np.where(usable, np.clip(big_z, config.z_min, config.z_cap), 0.0)
    present_all = usable & (z >= config.line_z)
    if config.partial_sums:
        s = np.max(np.cumsum(w * z, axis=1)[:, config.min_lines - 1 :] / partial, axis=1)
    else:
        s = np.sum(w * z, axis=1) / np.sqrt(np.maximum(np.sum(w * w, axis=1), 1e-12))
    if not np.isfinite(s).all():
        return None
    i_first = int(np.argmax(s))
    i_best = _octave_checks(i_first, grid_hz, s, z, w, usable, present_all, config)
    f0 = float(grid_hz[i_best])
    present = present_all[i_best]
    lines = int(np.count_nonzero(present))
    score = float(s[i_best] - np.median(s))
    if f0 < config.min_report_f0_hz or lines < config.min_lines or score < config.min_score:
        return None
    ks = np.flatnonzero(present)
    if ks.shape[0] / (ks[-1] + 1) < config.min_fill or mains_locked(f0, config):
        return None
    if newest_sum is not None and not float(newest_sum[i_best]) >= support_z:
        return None  # the comb is not in the newest frame: carried over by older ones
    if n >= 2:
        # spread: the sum must still make the cut without its strongest frame
        rows = np.minimum(np.asarray(zs, dtype=np.float64)[:, i_best, :], frame_z_cap)
        contrib = np.sum(w[i_best] * np.clip(rows, config.z_min, config.z_cap), axis=1)
        rest = np.delete(rows, int(np.argmax(contrib)), axis=0)
        z_rest = np.clip(np.sum(rest, axis=0) / math.sqrt(n - 1), config.z_min, config.z_cap)
        z_rest = np.where(usable[i_best], z_rest, 0.0)
        if config.partial_sums:
            s_rest = float(np.max(np.cumsum(w[i_best] * z_rest)[config.min_lines - 1 :]
                                  / partial[i_best]))  # fmt: skip
        else:
            s_rest = float(np.sum(w[i_best] * z_rest) / math.sqrt(np.sum(w[i_best] ** 2)))
        if s_rest - float(np.median(s)) < config.min_score:
            return None
    if line_ratios and bin_hz > 0.0 and all(r.shape == line_ratios[0].shape for r in line_ratios):
        mean_ratio = np.mean(np.asarray(line_ratios, dtype=np.float64), axis=0)
        f0 = refine_f0(mean_ratio, bin_hz, f0, ks + 1, z[i_best][ks], config)
        if f0 < config.min_report_f0_hz or _locked(f0, mains_hz, config.mains_tolerance):
            return None
        if not _alone_in_sum(mean_ratio, bin_hz, f0, config, plant_mask):
            return None
        bands, single = sharp_line_share(mean_ratio, bin_hz, f0, ks + 1, config)
        if single_lines_unlikely(bands, single, config):
            return None
    confidence = 1.0 / (1.0 + math.exp(-(score - config.score_mid) / config.score_width))
    if confidence < config.min_confidence:
        return None
    ratio = np.mean(np.asarray(ratios, dtype=np.float64)[:, i_best, :], axis=0)[present]
    snr = float(np.mean(power_to_db(np.maximum(ratio, 1e-30))))
    return AcousticDetection(
        signature="rotor_harmonics",
        kind="drone",
        t_start_s=0.0,
        t_end_s=duration_s,
        f0_hz=f0,
        harmonics=lines,
        snr_db=float(np.clip(snr, -MAX_SNR_DB, MAX_SNR_DB)),
        confidence=round(confidence, 3),
        level_db_spl=None,
    )


class CombIntegrator:
    """The last `frames` frames' band statistics of one sensor (one channel layout)."""

    def __init__(
        self,
        config: IntegratorConfig = IntegratorConfig(),
        acoustic: AcousticConfig = AcousticConfig(),
    ) -> None:
        self.config = config
        self.acoustic = acoustic
        self.lock = threading.Lock()
        self._history: deque[_Entry] = deque(maxlen=config.frames)
        self._grid: F64 | None = None

    def __len__(self) -> int:
        return len(self._history)

    def reset(self) -> None:
        self._history.clear()
        self._grid = None

    def update(
        self,
        t0_s: float,
        duration_s: float,
        sample_rate_hz: float,
        comb: CombAnalysis | None,
        *,
        reported: bool = False,
        acoustic: AcousticConfig | None = None,
        plant_mask: NDArray[np.bool_] | None = None,
    ) -> AcousticDetection | None:
        """Add one frame (in time order; the caller holds `lock` when shared) and return the
        integrated detection, or None. `reported`: the single-frame path already reported
        this frame, so nothing is returned (the frame still enters the history);
        acoustic: the settings the frame's comb was analysed with (another than before
        starts the sum again); plant_mask: the sensor's learnt plant lines on this frame's
        bins (`acoustic_plant`), set aside by the sum's comb share."""
        if acoustic is not None and acoustic != self.acoustic:
            self.reset()
            self.acoustic = acoustic
        if comb is None or comb.z_grid is None or comb.ratio_grid is None:
            self.reset()
            return None
        if self._history:
            last = self._history[-1]
            step = (t0_s - last.t0_s) / max(last.duration_s, 1e-9)
            if (
                last.sample_rate_hz != sample_rate_hz
                or abs(last.duration_s - duration_s) > 1e-3 * max(duration_s, 1e-9)
                or not 0.5 < step <= self.config.max_gap
                or self._grid is None
                or self._grid.shape != comb.grid_hz.shape
                or not np.array_equal(self._grid, comb.grid_hz)
            ):
                self.reset()
        self._grid = comb.grid_hz
        self._history.append(
            _Entry(
                t0_s, duration_s, sample_rate_hz,
                comb.z_grid.astype(np.float32),
                np.minimum(comb.ratio_grid, F32_MAX).astype(np.float32),
                None
                if comb.line_ratio is None
                else np.minimum(comb.line_ratio, F32_MAX).astype(np.float32),
                tainted(comb, self.acoustic),
            )
        )  # fmt: skip
        n = len(self._history)
        if reported or n < self.config.min_frames or any(e.tainted for e in self._history):
            return None
        return integrated_detection(
            [e.z for e in self._history],
            [e.ratio for e in self._history],
            comb.grid_hz,
            duration_s,
            self.acoustic,
            self.config.frame_z_cap,
            line_ratios=[e.line_ratio for e in self._history if e.line_ratio is not None],
            bin_hz=comb.bin_hz,
            newest_sum=comb.harmonic_sum,
            support_z=self.config.support_z,
            mains_hz=self.config.mains_hz,
            plant_mask=plant_mask,
        )


class IntegratorRegistry:
    """Per-sensor `CombIntegrator`s keyed by e.g. (site, sensor_id, channels); bounded:
    at most `max_sensors` states (least recently used dropped) and none idle longer than
    `idle_s` (by `clock`, monotonic seconds). Thread-safe: the registry lock guards the
    map, each state's lock its history."""

    def __init__(
        self,
        config: IntegratorConfig = IntegratorConfig(),
        acoustic: AcousticConfig = AcousticConfig(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.acoustic = acoustic
        self._states: SensorStates[CombIntegrator] = SensorStates(
            lambda: CombIntegrator(config, acoustic), config.max_sensors, config.idle_s, clock
        )

    def __len__(self) -> int:
        return len(self._states)

    def reset(self) -> None:
        """Forget every sensor (tests, benches)."""
        self._states.clear()

    def update(
        self,
        key: Hashable,
        t0_s: float,
        duration_s: float,
        sample_rate_hz: float,
        comb: CombAnalysis | None,
        *,
        reported: bool = False,
        acoustic: AcousticConfig | None = None,
        plant_mask: NDArray[np.bool_] | None = None,
    ) -> AcousticDetection | None:
        """`CombIntegrator.update` on the state of `key` (created on first use)."""
        state = self._states.use(key)
        with state.lock:
            return state.update(
                t0_s, duration_s, sample_rate_hz, comb, reported=reported, acoustic=acoustic,
                plant_mask=plant_mask,
            )  # fmt: skip
