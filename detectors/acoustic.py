"""Acoustic rotor-harmonic (blade-pass comb) detector, SIGNALS.md §4 and §6.

`detect_rotor` is stage 1's entry point for audio frames. The work is split by what it
holds:

- `acoustic_config`: settings (`AcousticConfig`) and results (`CombAnalysis`,
  `AcousticDetection`);
- `acoustic_spectrum`: the whitened 1 s spectrum (high-pass weight, floor, peak excess);
- `acoustic_features`: per-band statistics (peak-excess z, one-bin machine lines, comb
  dropouts in 125 ms pieces);
- `acoustic_cues`: confuser cues on a candidate comb (low fundamental, comb share);
- `acoustic_comb`: the harmonic sum over an f0 grid, octave checks, f0 refinement;
- `acoustic_rules`: rejections and the confidence map (`comb_confidence`);
- `acoustic_history`: one sensor's recent combs (voice/music pooling, track
  continuation), which `detect_with_history` consults frame by frame.
- `acoustic_plant`: one sensor's learned steady machinery lines, which veto a comb that
  stands only on them (`generator_hvac`).

Why bands of peaks: a rotor harmonic is a cluster, not a line (4 rotors differing 1-5 %,
RPM jitter ~1 %), so each sub-line carries ~1/4 of the power and the cluster spans
±(2-5 %)*k*f0; summing only what stands out of the floor keeps the sub-lines' power and
drops most of the noise between them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.acoustic_comb import analyse_comb, harmonic_weights
from detectors.acoustic_config import AcousticConfig, AcousticDetection, CombAnalysis
from detectors.acoustic_history import HistoryRegistry, candidate
from detectors.acoustic_plant import PlantConfig, survives, touches
from detectors.acoustic_rules import comb_confidence
from detectors.acoustic_spectrum import analysed_channel
from detectors.units import power_to_db

__all__ = [
    "AcousticConfig",
    "AcousticDetection",
    "CombAnalysis",
    "analyse_comb",
    "comb_confidence",
    "detect_rotor",
    "detect_rotor_comb",
    "detect_with_history",
    "harmonic_weights",
]


MAX_SNR_DB = 200.0


def detect_rotor(
    audio: NDArray[Any],
    sample_rate_hz: float,
    *,
    full_scale_db_spl: float | None = None,
    config: AcousticConfig = AcousticConfig(),
) -> list[AcousticDetection]:
    """Detect a multirotor blade-pass comb in one audio frame (see `detect_rotor_comb`),
    judged on its own: the envelope p-value that only a history pools is not measured."""
    if config.measure_modulation:
        config = dataclasses.replace(config, measure_modulation=False)
    found, _comb = detect_rotor_comb(
        audio, sample_rate_hz, full_scale_db_spl=full_scale_db_spl, config=config
    )
    return found


def detect_rotor_comb(
    audio: NDArray[Any],
    sample_rate_hz: float,
    *,
    full_scale_db_spl: float | None = None,
    config: AcousticConfig = AcousticConfig(),
    exclude_hz: tuple[float, ...] = (),
    masked_bins: NDArray[np.bool_] | None = None,
) -> tuple[list[AcousticDetection], CombAnalysis | None]:
    """Detect a multirotor blade-pass comb in one audio frame (typically 1 s).

    audio: (n_channels, n) or (n,) float32, full scale 1.0 (the quietest channel is
      searched: `acoustic_spectrum.analysed_channel`);
    sample_rate_hz: audio rate (analysed up to 0.45 x `config.working_rate_hz`);
    full_scale_db_spl: SPL of a signal of RMS 1.0 (a 1.0 = 1 Pa scale gives 93.98 dB).
    Returns ([] or one `AcousticDetection` with signature 'rotor_harmonics', kind 'drone';
    the frame's `CombAnalysis`, None when the frame could not be analysed), the analysis
    being what `acoustic_integrate` sums across frames. exclude_hz: fundamentals of sources
    already accounted for (`acoustic_comb.excluded`), left out of the search;
    masked_bins: (m,) bins of the frame's spectrum whose lines are known to be something
    else (`acoustic_plant`), given no peak excess.
    """
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz=}")
    x = analysed_channel(audio)
    duration_s = x.shape[0] / sample_rate_hz
    # a comb of min_lines harmonics of min_f0 must fit below Nyquist, with the high-pass below
    too_slow = sample_rate_hz < 2.5 * config.min_lines * config.min_f0_hz
    if x.shape[0] < 16 or too_slow or not np.any(x):
        return [], None
    if not float(np.max(np.abs(x))) <= 1e6:  # full scale is 1.0: not from a microphone
        return [], None
    comb = analyse_comb(x, sample_rate_hz, config, exclude_hz, masked_bins)
    if comb is None:
        return [], None
    confidence = comb_confidence(comb, config)
    if confidence < config.min_confidence:
        return [], comb
    level = None
    if full_scale_db_spl is not None and comb.line_power > 0.0:
        level = full_scale_db_spl + power_to_db(comb.line_power)
    detection = AcousticDetection(
        signature="rotor_harmonics",
        kind="drone",
        t_start_s=0.0,
        t_end_s=duration_s,
        f0_hz=comb.f0_hz,
        harmonics=int(np.count_nonzero(comb.present)),
        # a noiseless synthetic comb has a zero floor: report a large finite SNR
        snr_db=float(np.clip(np.mean(comb.band_snr_db[comb.present]), -MAX_SNR_DB, MAX_SNR_DB)),
        confidence=round(confidence, 3),
        level_db_spl=level,
    )
    return [detection], comb


def _plant_veto(
    found: list[AcousticDetection],
    comb: CombAnalysis | None,
    mask: NDArray[np.bool_] | None,
    plant: PlantConfig,
    audio: NDArray[Any],
    sample_rate_hz: float,
    full_scale_db_spl: float | None,
    config: AcousticConfig,
    exclude_hz: tuple[float, ...] = (),
) -> list[AcousticDetection]:
    """`found` with its drone combs judged by the search run again without the plant
    lines (`acoustic_plant.survives`), when any lies in the comb's bands."""
    if mask is None or comb is None or not any(d.kind == "drone" for d in found):
        return found
    if not touches(comb, mask, config):
        return found
    masked, _ = detect_rotor_comb(
        audio, sample_rate_hz, full_scale_db_spl=full_scale_db_spl, config=config,
        exclude_hz=exclude_hz, masked_bins=mask,
    )  # fmt: skip
    return [survives(d, masked, plant) if d.kind == "drone" else d for d in found]


def detect_with_history(
    audio: NDArray[Any],
    sample_rate_hz: float,
    key: Hashable,
    t0_s: float,
    registry: HistoryRegistry,
    *,
    full_scale_db_spl: float | None = None,
    config: AcousticConfig = AcousticConfig(),
    first: tuple[list[AcousticDetection], CombAnalysis | None] | None = None,
) -> list[AcousticDetection]:
    """`detect_rotor_comb` on one frame of sensor `key`, judged by its history; when the
    frame's comb is a modulated source (relabelled, or a rejected candidate whose pooled
    evidence says so), the search is run once more with that source's f0 (and its
    octaves) left out, so that a rotor comb heard under a voice is still found. The second
    comb enters the same history, and is reported only as the continuation of a track the
    sensor heard on its own (`ModulationHistory.continues`: a hit at the cut within
    `continue_s` before, f0 within `continue_tolerance`): a song has several lines, and
    what is left of it once its loudest line is removed is no rotor comb. Every analysed
    frame also teaches the sensor's plant lines (`acoustic_plant`), and a drone comb of
    either search with plant lines in its bands stands only if the same search without
    them finds it again (`acoustic_plant.survives`; else `generator_hvac`, kind other).
    While the microphone hears a quiet site (`IntegratorConfig.max_level_dba`), the frame
    also enters the sensor's sum of recent frames, whose comb is reported when the frame
    reported none (`acoustic_integrate`: a distant hover, too weak for one frame).
    first: the frame's `detect_rotor_comb` result when the caller already has it."""
    # the channel every search of this frame reads, chosen once (a multichannel frame's
    # choice takes a spectrum per channel: `acoustic_spectrum.analysed_channel`)
    audio = analysed_channel(audio)
    found, comb = (
        first
        if first is not None
        else detect_rotor_comb(
            audio, sample_rate_hz, full_scale_db_spl=full_scale_db_spl, config=config
        )
    )
    heard = candidate(comb, config)
    quiet = _quiet(comb, registry, full_scale_db_spl)
    judge = quiet or heard is not None or any(d.kind == "drone" for d in found)
    mask = registry.plant_lines(key, comb, judge=judge)
    plant = registry.config.plant
    found = _plant_veto(found, comb, mask, plant, audio, sample_rate_hz, full_scale_db_spl, config)
    out = registry.update(key, t0_s, found, heard)
    voices = [d.f0_hz for d in out if d.signature == "voice_music"]
    if not voices and heard is not None and registry.modulated(key, t0_s, heard.f0_hz):
        voices.append(heard.f0_hz)
    if voices:
        again, comb2 = detect_rotor_comb(
            audio, sample_rate_hz, full_scale_db_spl=full_scale_db_spl, config=config,
            exclude_hz=tuple(voices),
        )  # fmt: skip
        again = _plant_veto(
            again, comb2, mask, plant, audio, sample_rate_hz, full_scale_db_spl, config,
            tuple(voices),
        )  # fmt: skip
        second = registry.update(key, t0_s, [], candidate(comb2, config))
        kept = [d for d in again if registry.continues(key, t0_s, d.f0_hz)]
        out = out + second + registry.update(key, t0_s, kept, None)
    if not quiet:
        return out
    duration_s = np.shape(audio)[-1] / sample_rate_hz
    return _integrated(out, comb, mask, registry, key, t0_s, duration_s, sample_rate_hz, config)


def _quiet(
    comb: CombAnalysis | None, registry: HistoryRegistry, full_scale_db_spl: float | None
) -> bool:
    """The calibrated microphone hears at most the sum's level limit (an unknown level,
    NaN, is not quiet)."""
    if comb is None or full_scale_db_spl is None:
        return False
    return bool(full_scale_db_spl + comb.level_a_db <= registry.config.integrate.max_level_dba)


def _integrated(
    out: list[AcousticDetection],
    comb: CombAnalysis | None,
    mask: NDArray[np.bool_] | None,
    registry: HistoryRegistry,
    key: Hashable,
    t0_s: float,
    duration_s: float,
    sample_rate_hz: float,
    config: AcousticConfig,
) -> list[AcousticDetection]:
    """The sensor's sum of recent frames (`acoustic_integrate`), for a frame of a quiet
    station (`_quiet`; the others are left out of the sum, which then starts again): its
    comb, judged by the history like any other, when the frame reported none."""
    reported = any(d.kind == "drone" for d in out)
    extra = registry.sums.update(
        key, t0_s, duration_s, sample_rate_hz, comb, reported=reported, acoustic=config,
        plant_mask=mask,
    )  # fmt: skip
    if extra is None:
        return out
    return out + registry.update(key, t0_s, [extra], None)
