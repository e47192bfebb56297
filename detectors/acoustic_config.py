"""Settings and results of the rotor-comb detector (SIGNALS.md §4 and §6).

`AcousticConfig` holds every setting of `detectors.acoustic.detect_rotor`;
`CombAnalysis` is the intermediate harmonic-sum result (exposed for evaluation and
plots); `AcousticDetection` is what stage 1 reports for one frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class AcousticConfig:
    """Settings of `detect_rotor`; every default is taken from SIGNALS.md §4/§6 or derived
    from noise statistics, none is fitted to recordings.

    working_rate_hz: the analysis stops at 0.45 x this rate (combs and most of their
      energy lie below 8 kHz, §5); faster input is not resampled, only cut.
    highpass_hz: 2nd-order Butterworth high-pass (§6 front end), applied as a weight on
      the power spectrum (Hann leakage from below it is < -80 dB at 1 Hz bins).
    segment_s: periodogram length (§6: 1 s gives 1 Hz bins, resolves rotor splits).
    floor_half_width_hz: half width of the running floor (§4 comb row: 80 Hz floor).
    floor_rel_sigma: relative std of that floor under noise (log-mean over ±80 Hz of Hann
      bins: 0.13 measured on white noise); it widens the noise law of every band.
    tolerance: relative half width of a harmonic band: rotors differ up to 5 % (±2.5 %
      around their mean) plus ~1 % jitter and half a grid step.
    peak_threshold: P/floor above which a bin counts towards a band's peak excess (4 dB).
    flat_harmonics / rolloff_db: prior weights of the harmonic sum (§4: first 2-3 equal,
      then -3 to -6 dB per harmonic; the gentle end).
    z_cap / z_min: clip of one band's z so that one loud tone cannot make a comb and one
      notched harmonic (ground reflection) cannot unmake it.
    line_z: z for a band to count as a harmonic cluster (one-sided Pfa ~0.02).
    min_f0_hz: lowest fundamental searched; lower ones (f0/d) are confusers' fundamentals
      (`low_fundamental`). min_report_f0_hz: lowest fundamental reported as a drone: the
      blade-pass span a detector must cover is 100-1 500 Hz (§5; the airframes of §4 hover
      at 142 Hz and up), while 80-100 Hz combs are the confusers' (piston props 70-90 Hz,
      tail rotors 50-120 Hz, genset firing 50-90 Hz, a mower's dense 23-28 Hz comb read
      every 4th line). A drone comb read an octave low there is not reported; its frames
      at the right octave are.
    min_lines: clusters needed for a detection; min_fill: share of the bands up to the
      highest cluster that hold one (a rotor comb has lines at every k, bar notches).
    min_score / score_mid / score_width: S needed to report, and the logistic map of S to
      confidence: score_mid is the S that noise alone exceeds in ~1e-3 of frames (so a
      frame at the alert cut 0.5 is a 1e-3 event under noise), score_width sets ~0.9 at
      the 1e-5 point.
    octave_ratio: a sub-multiple f0/d replaces f0 when it scores at least this share.
    machine_fraction / machine_penalty: share of one-bin, phase-stable lines that makes the
      comb machinery, and the confidence factor then; mains_hz / mains_tolerance: combs
      locked to k*50 Hz.
    hps_harmonics: harmonics of the HPS cross-check (reported, not used in the decision:
      on drones in manoeuvre the low harmonics smear and the HPS f0 wanders, so a penalty
      for disagreement cost recall without removing any confuser).
    partial_sums: S is the best of the normalised sums over k <= K (K >= min_lines).
    max_dropouts: 125 ms pieces in which a strong comb may vanish before it is rejected.
    strong_line / min_comb_share: bins this many times the floor are "strong tonal
      power"; the comb must hold at least this share of it (in its range).
    few_lines / loud_line_db: a comb of at most few_lines harmonics with a bin this loud
      over the floor is a siren/horn/alarm (§4), not a rotor comb.
    low_tolerance / low_min_bands: band width and count for the low-fundamental test.
    split_peak_db / single_lobe_fraction / single_line_prior / single_line_alpha: a
      harmonic band k >= 2 whose loudest bin is split_peak_db over the floor holds one
      line when its main lobe carries single_lobe_fraction of the band's peak excess; a
      loud rotor harmonic is a cluster, single in at most single_line_prior of bands (§4
      "Split peaks": 70-100 % of frames show >= 2 peaks about f0), so a comb with >= 2
      such strong bands, more of them single lines than that prior makes likely (binomial
      tail under single_line_alpha: 2 of 2, 3 of 3 or 4, 4 of 5 or 6, 5 of 7 or 8, ...),
      is not a rotor cluster comb (`acoustic_cues.single_line_share`,
      `acoustic_rules.single_lines_unlikely`).
    common_depth_db / common_p_value: a detrended common envelope this deep (dB std over
      62.5 ms steps) and this unlikely under independent harmonic fluctuations is one
      modulated source (voice, plucked music: `acoustic_subframes.common_envelope`).
      Off by default (depth inf): outdoors, turbulence and gusts modulate all of a
      distant rotor's harmonics together too; at 3 dB the rule halved music/voice false
      alerts in simulation but also rejected a frame of a real drone recording.
    measure_modulation: measure the common envelope's p-value on every candidate comb
      (enough score and lines to be reported, whether a rule then rejects it or not; not
      only on the loud ones the rule above looks at), for the per-sensor modulation
      history of `acoustic_history`, which pools it over several frames.
    """

    working_rate_hz: float = 16_000.0
    highpass_hz: float = 60.0
    segment_s: float = 1.0
    floor_half_width_hz: float = 80.0
    floor_rel_sigma: float = 0.13
    f0_min_hz: float = 70.0
    f0_max_hz: float = 2_500.0
    f0_points: int = 360
    max_harmonics: int = 10
    tolerance: float = 0.04
    min_band_bins: int = 2
    peak_threshold: float = 2.5
    flat_harmonics: int = 3
    rolloff_db: float = 3.0
    z_cap: float = 6.0
    z_min: float = -2.0
    line_z: float = 2.0
    min_f0_hz: float = 80.0
    min_report_f0_hz: float = 100.0
    min_lines: int = 2
    min_fill: float = 0.5
    min_score: float = 3.3
    score_mid: float = 3.9
    score_width: float = 0.5
    octave_ratio: float = 0.8
    machine_fraction: float = 0.6
    machine_penalty: float = 0.25
    mains_hz: float = 50.0
    mains_tolerance: float = 0.002
    hps_harmonics: int = 4
    partial_sums: bool = True
    max_dropouts: int = 2
    strong_line: float = 10.0
    few_lines: int = 3
    loud_line_db: float = 20.0
    min_comb_share: float = 0.4
    low_tolerance: float = 0.01
    low_min_bands: int = 4
    split_peak_db: float = 12.0
    single_lobe_fraction: float = 0.7
    single_line_prior: float = 0.3
    single_line_alpha: float = 0.1
    common_depth_db: float = math.inf
    common_p_value: float = 1e-3
    measure_modulation: bool = True
    min_confidence: float = 0.3

    @property
    def band_limit_hz(self) -> float:
        """Highest frequency analysed (0.45 x working rate)."""
        return 0.45 * self.working_rate_hz


@dataclass(frozen=True, slots=True)
class AcousticDetection:
    """A rotor comb heard in one audio frame.

    f0_hz: blade-pass fundamental; harmonics: harmonic clusters found among k*f0,
    k <= max_harmonics; snr_db: mean band power over the floor of those clusters (dB);
    level_db_spl: power of the clusters above the floor in dB SPL when the frame is
    calibrated, else None.
    """

    signature: str
    kind: str
    t_start_s: float
    t_end_s: float
    f0_hz: float
    harmonics: int
    snr_db: float
    confidence: float
    level_db_spl: float | None


@dataclass(frozen=True, slots=True)
class CombAnalysis:
    """Intermediate result of `analyse_comb`, exposed for evaluation and plots.

    grid_hz / harmonic_sum: (f0_points,) the weighted harmonic sum S(f0) (z units);
    score: S at the chosen f0 minus the median of S over the grid;
    band_snr_db / band_z: (max_harmonics,) per harmonic band at the chosen f0 (0 where
    k*f0 is beyond the analysed band); present: (max_harmonics,) bool clusters;
    f0_hps_hz: the harmonic-product (clipped-log HPS) estimate, for the cross-check;
    machine_fraction: share of present clusters that are one-bin, phase-stable lines;
    line_power: summed excess power of the present clusters (full-scale units);
    dropouts: 125 ms pieces in which the (strong) comb vanished (`comb_dropouts`);
    comb_share: share of the strong tonal power in the comb's range that its bands hold;
    peak_db: loudest bin of the present bands over the floor (dB);
    low_fundamental_hz: set when the comb is the upper part of a denser comb whose
      fundamental f0/d lies below `min_f0_hz` (helicopter rotors, mowers, gensets, §4);
    strong_bands / single_line_share: `acoustic_cues.single_line_share`;
    common_depth_db / common_p_value: `acoustic_subframes.common_envelope`;
    z_grid / ratio_grid: (f0_points, max_harmonics) clipped band z and band power over
      floor at every f0 of the grid (0 / 1 beyond the band limit), for integration
      across frames (`acoustic_integrate`);
    line_ratio / bin_hz: (m,) power over floor of every bin up to the band limit and the
      bin width, for the f0 and line-shape checks on the summed frames;
    level_a_db: the frame's A-weighted level in the analysed band (60 Hz high-pass
      included, up to 0.45 x the working rate), dB re full scale (add the calibration's
      full_scale_db_spl for dB(A) SPL); per microphone for a multichannel frame; NaN when
      not measured.
    """

    f0_hz: float
    score: float
    grid_hz: F64
    harmonic_sum: F64
    band_snr_db: F64
    band_z: F64
    present: NDArray[np.bool_]
    f0_hps_hz: float
    machine_fraction: float
    line_power: float
    dropouts: int = 0
    comb_share: float = 1.0
    peak_db: float = 0.0
    low_fundamental_hz: float | None = None
    strong_bands: int = 0
    single_line_share: float = 0.0
    common_depth_db: float = math.inf
    common_p_value: float = 1.0
    z_grid: F64 | None = None
    ratio_grid: F64 | None = None
    line_ratio: F64 | None = None
    bin_hz: float = 0.0
    level_a_db: float = math.nan

    @property
    def fill(self) -> float:
        """Share of the bands k = 1..(highest present) that hold a cluster."""
        ks = np.flatnonzero(self.present)
        return float(ks.shape[0] / (ks[-1] + 1)) if ks.shape[0] else 0.0

    @property
    def f0_consistent(self) -> bool:
        """The HPS estimate is f0 times 1, 2, 3, 1/2 or 1/3 (within 4 %)."""
        ratio = self.f0_hps_hz / self.f0_hz
        return any(abs(math.log(ratio / r)) < 0.04 for r in (1.0, 2.0, 3.0, 0.5, 1.0 / 3.0))
