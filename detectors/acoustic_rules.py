"""Decision rules of the rotor-comb detector: from a `CombAnalysis` to a confidence.

Rejections (each a physical cue of SIGNALS.md §4/§6, none fitted to recordings):
- f0 < 100 Hz (`min_report_f0_hz`), or the comb is every d-th line of a denser comb
  below 80 Hz (helicopter main/tail rotor, 4-stroke mower, genset: `low_fundamental_hz`);
- the comb all but vanishes in 125 ms pieces of the frame (voices, a strimmer's throttle,
  horns: `dropouts`), while a rotor comb is steady over 1 s;
- under 40 % of the strong tonal power (bins >= 10 dB over the floor) in the comb's range
  lies in its bands: several tonal sources or an inharmonic set (servos, music, voices;
  `comb_share`);
- at most 3 harmonics, one of them >= 20 dB over the floor: a siren, horn or alarm (§4:
  "few harmonics with HIR > 20 dB"), where a rotor comb that loud shows many harmonics;
- >= 2 strong harmonics (k >= 2, 12 dB over the floor), more of them one exactly
  harmonic line than a rotor comb makes likely, since a rotor harmonic that loud is a
  cluster of sub-lines (music, horns, fans: `single_line_share`, `single_lines_unlikely`);
- a fast envelope common to all harmonics within the frame, >= 3 dB deep after the linear
  trend is removed and unlikely (p < 1e-3) under independent per-harmonic fluctuation
  (syllabic AM of voices, plucked notes: `common_depth_db`, `common_p_value`);
- one-bin, phase-stable lines (machinery, fans; `machine_fraction`, weighted by z) or a
  comb locked to k*50 Hz (mains) is down-weighted.

Confidence is a logistic in S whose midpoint `score_mid` is the S that noise alone
(white, pink and simulated site ambience) exceeds once in ~10^3 frames.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from detectors.acoustic_config import AcousticConfig, CombAnalysis


def mains_locked(f0_hz: float, config: AcousticConfig) -> bool:
    base = config.mains_hz
    n = round(f0_hz / base)
    return n >= 1 and abs(f0_hz - n * base) <= config.mains_tolerance * f0_hz


def single_lines_unlikely(strong: int, share: float, config: AcousticConfig) -> bool:
    """`strong` (>= 2) strong bands, `share` of them single lines: that many single lines
    would be rarer than `single_line_alpha` if each band of a rotor comb were a single
    line with probability `single_line_prior` (the binomial tail P(X >= singles))."""
    if strong < 2:
        return False
    singles = round(share * strong)
    if singles == 0:
        return False
    tail = float(special.bdtrc(singles - 1, strong, config.single_line_prior))
    return tail < config.single_line_alpha


def comb_confidence(comb: CombAnalysis, config: AcousticConfig = AcousticConfig()) -> float:
    """Confidence that the comb is a multirotor (0 when a hard rule rejects it)."""
    lines = int(np.count_nonzero(comb.present))
    if comb.f0_hz < config.min_report_f0_hz or lines < config.min_lines:
        return 0.0
    if comb.fill < config.min_fill or comb.score < config.min_score:
        return 0.0
    if comb.low_fundamental_hz is not None or comb.dropouts >= config.max_dropouts:
        return 0.0
    if comb.comb_share < config.min_comb_share:
        return 0.0
    if lines <= config.few_lines and comb.peak_db >= config.loud_line_db:
        return 0.0
    if single_lines_unlikely(comb.strong_bands, comb.single_line_share, config):
        return 0.0
    if (
        comb.common_depth_db >= config.common_depth_db
        and comb.common_p_value < config.common_p_value
    ):
        return 0.0
    confidence = 1.0 / (1.0 + math.exp(-(comb.score - config.score_mid) / config.score_width))
    if comb.machine_fraction >= config.machine_fraction or (
        mains_locked(comb.f0_hz, config) and comb.machine_fraction >= 0.5
    ):
        confidence *= config.machine_penalty
    return confidence
