"""Per-sensor modulation history of rotor combs (`detectors.acoustic_history`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.acoustic import AcousticDetection, detect_rotor_comb, detect_with_history
from detectors.acoustic_comb import excluded
from detectors.acoustic_history import (
    Candidate,
    HistoryConfig,
    HistoryRegistry,
    ModulationHistory,
    candidate,
    pooled_p_value,
)
from tests.detectors.test_acoustic import FS, pink, rotor_cluster_comb

DRONE = AcousticDetection(
    signature="rotor_harmonics", kind="drone", t_start_s=0.0, t_end_s=1.0, f0_hz=180.0,
    harmonics=5, snr_db=10.0, confidence=0.9, level_db_spl=None,
)  # fmt: skip


def frame(
    history: ModulationHistory, t0_s: float, p: float, f0_hz: float = 180.0, reported: bool = True
) -> list[AcousticDetection]:
    """One frame whose candidate comb at f0_hz has envelope p-value p (reported or not)."""
    found = [dataclasses.replace(DRONE, f0_hz=f0_hz)] if reported else []
    return history.update(t0_s, found, Candidate(f0_hz, p))


def gliding_voice(f0: float, rng: np.random.Generator) -> NDArray[np.float64]:
    """SIGNALS.md §4 `voice_music`: one f0 gliding between syllable targets (log-f0 σ 4 %,
    4.5 Hz), harmonics at 1/k, and a 4.5 Hz syllabic AM ~26 dB deep common to all of them."""
    t = np.arange(int(FS)) / FS
    knots = np.arange(-0.5, 1.5, 1 / 4.5)
    log_f = np.interp(t, knots, rng.normal(0.0, 0.04, knots.shape[0]))
    phase = 2 * np.pi * np.cumsum(f0 * np.exp(log_f)) / FS
    x = sum(np.sin(k * phase + rng.uniform(0, 6.3)) / k for k in range(1, 13))
    am = 0.05 + 0.95 * 0.5 * (1 - np.cos(2 * np.pi * 4.5 * t + rng.uniform(0, 6.3)))
    out: NDArray[np.float64] = x * am
    return out


def test_pooled_p_value_is_fishers_method_with_a_floor() -> None:
    assert pooled_p_value([], 0.01) == 1.0
    assert pooled_p_value([0.3], 0.01) == pytest.approx(0.3)
    # one tiny p-value counts as p_floor: a gust on a real rotor is not a voice
    assert pooled_p_value([1e-9], 0.01) == pytest.approx(0.01)
    assert pooled_p_value([1e-9, 0.5], 0.01) > 0.01
    # repeated moderate evidence adds up
    assert pooled_p_value([0.05] * 4, 0.01) < 0.01 < pooled_p_value([0.05], 0.01)


def test_pooled_p_value_is_uniform_under_independent_uniform_p() -> None:
    rng = np.random.default_rng(3)
    pooled = np.array([pooled_p_value(list(rng.uniform(size=4)), 0.0) for _ in range(4000)])
    assert np.mean(pooled < 0.01) == pytest.approx(0.01, abs=0.006)
    assert np.mean(pooled < 0.5) == pytest.approx(0.5, abs=0.03)


def test_history_relabels_a_repeatedly_modulated_comb_only() -> None:
    history = ModulationHistory()
    assert frame(history, 0.0, 0.02)[0].kind == "drone"  # one frame: no verdict
    out = frame(history, 1.0, 0.02)[0]
    assert (out.kind, out.signature) == ("other", "voice_music")
    # a comb an octave and more away is another source: not pooled with the voice
    assert frame(history, 2.0, 0.5, f0_hz=400.0)[0].kind == "drone"
    steady = ModulationHistory()
    assert all(frame(steady, float(t), 0.3)[0].kind == "drone" for t in range(30))


def test_a_voice_is_judged_in_its_own_narrow_pool_when_another_comb_is_near() -> None:
    """A mixture: traffic's steady comb at 96 Hz (unmodulated) within x1.35 of a voice at
    118-126 Hz dilutes the wide pool; the narrow pool holds the voice's frames alone."""
    history = ModulationHistory()
    voice = [(121.0, 0.64), (121.8, 0.009), (119.9, 0.27), (112.8, 0.34), (126.2, 0.078),
             (122.5, 0.00045), (125.1, 0.018)]  # fmt: skip
    t = 0.0
    for f0, p in voice:
        for traffic in (96.0, 97.5):
            frame(history, t, 0.6, f0_hz=traffic, reported=False)
            t += 1.0
        out = frame(history, t, p, f0_hz=f0)
        t += 1.0
    assert history.pooled(t, 125.1)[1] > 0.01  # the wide pool alone: not a voice
    assert out[0].kind == "other"


def test_two_pools_relabel_an_unmodulated_rotor_no_more_than_alpha() -> None:
    """Uniform p-values (a rotor comb) with flight jitter in f0: relabelled in under 1.5 %
    of the frames with both pools (about 0.5 % here; the wide one alone about 0.35 %)."""
    rng = np.random.default_rng(8)
    relabelled = frames = 0
    for _ in range(200):
        history = ModulationHistory()
        f0 = 180.0
        for t in range(20):
            f0 *= float(np.exp(rng.normal(0.0, 0.08)))
            relabelled += (
                frame(history, float(t), float(rng.uniform()), f0_hz=f0)[0].kind == "other"
            )
            frames += 1
    assert relabelled / frames < 0.015


def test_rejected_candidates_are_evidence_too() -> None:
    """A voice's loud syllables are rejected by single-frame rules; their envelopes still
    tell what the source at that f0 is."""
    history = ModulationHistory()
    assert frame(history, 0.0, 0.01, reported=False) == []
    assert frame(history, 1.0, 0.01, reported=False) == []
    assert frame(history, 2.0, 0.3)[0].kind == "other"
    assert len(history) == 3


def test_history_forgets_frames_outside_its_window_and_accepts_any_order() -> None:
    config = HistoryConfig(window_s=4.0)
    history = ModulationHistory(config)
    frame(history, 0.0, 0.02)
    assert frame(history, 10.0, 0.02)[0].kind == "drone"  # the first is not pooled
    late = ModulationHistory(config)
    frame(late, 11.0, 0.02)
    assert frame(late, 10.0, 0.02)[0].kind == "other"  # out of order, same window


def weak(history: ModulationHistory, t0_s: float, f0_hz: float) -> AcousticDetection:
    """A frame whose comb was reported below the alert cut (confidence 0.35)."""
    d = dataclasses.replace(DRONE, f0_hz=f0_hz, confidence=0.35)
    return history.update(t0_s, [d], Candidate(f0_hz, 0.5))[0]


def test_a_weaker_comb_continues_a_recent_track_at_the_same_f0_only() -> None:
    history = ModulationHistory()
    assert weak(history, 0.0, 180.0).confidence == 0.35  # no track yet
    frame(history, 1.0, 0.5)  # a hit at the cut, 180 Hz
    assert weak(history, 3.0, 182.0).confidence == 0.5  # within 4 %: continues it
    assert weak(history, 4.0, 200.0).confidence == 0.35  # 11 % away: another comb
    assert weak(history, 12.0, 180.0).confidence == 0.35  # 11 s after the hit: too late
    # a relabelled comb is no track to continue
    voice = ModulationHistory()
    for t in range(3):
        frame(voice, float(t), 0.01, f0_hz=120.0)
    assert weak(voice, 3.0, 120.0).kind == "other"


def test_other_kinds_pass_through_untouched() -> None:
    other = dataclasses.replace(DRONE, kind="other")
    history = ModulationHistory()
    history.update(0.0, [], Candidate(180.0, 1e-9))
    assert history.update(1.0, [other], Candidate(180.0, 1e-9)) == [other]


def test_candidate_needs_a_measured_reportable_comb() -> None:
    rng = np.random.default_rng(5)
    noise = (0.1 * pink(int(FS), rng)).astype(np.float32)
    _, comb = detect_rotor_comb(noise, FS)
    assert candidate(comb) is None and candidate(None) is None
    x = (0.1 * rotor_cluster_comb(180.0, 10, rng) + 0.1 * pink(int(FS), rng)).astype(np.float32)
    found, comb = detect_rotor_comb(x, FS)
    heard = candidate(comb)
    assert found and heard is not None
    assert heard.f0_hz == pytest.approx(found[0].f0_hz) and 0.0 <= heard.p_value <= 1.0


def test_registry_is_bounded_and_forgets_idle_sensors() -> None:
    now = [0.0]
    registry = HistoryRegistry(HistoryConfig(max_sensors=3, idle_s=10.0), clock=lambda: now[0])
    heard = Candidate(180.0, 0.5)
    for i in range(5):
        registry.update(("site", f"mic-{i}"), 0.0, [DRONE], heard)
    assert len(registry) == 3
    now[0] = 20.0
    registry.update(("site", "mic-new"), 0.0, [DRONE], heard)
    assert len(registry) == 1
    assert registry.update(("site", "mic-x"), 0.0, [], None) == []  # nothing heard: no state
    assert len(registry) == 1


@pytest.mark.parametrize("seed", range(3))
def test_a_voice_like_gliding_comb_is_relabelled_a_rotor_comb_is_not(seed: int) -> None:
    """Frames of one sensor in time order: a gliding, syllable-modulated voice comb that
    single frames report as a rotor comb is relabelled `voice_music` after a few frames;
    a rotor cluster comb of known SNR (4 rotors ±2 %, 1 % jitter) is reported throughout."""
    rng = np.random.default_rng(100 + seed)
    voice, rotor = HistoryRegistry(), HistoryRegistry()
    voice_kinds: list[str] = []
    rotor_kinds: list[str] = []
    for i in range(16):
        x = (0.08 * gliding_voice(120.0, rng) + 0.1 * pink(int(FS), rng)).astype(np.float32)
        found, comb = detect_rotor_comb(x, FS)
        voice_kinds += [d.kind for d in voice.update("v", float(i), found, candidate(comb))]
        y = (0.04 * rotor_cluster_comb(180.0, 10, rng) + 0.1 * pink(int(FS), rng)).astype(
            np.float32
        )
        found, comb = detect_rotor_comb(y, FS)
        rotor_kinds += [d.kind for d in rotor.update("r", float(i), found, candidate(comb))]
    assert voice_kinds.count("drone") <= 3 and voice_kinds.count("other") >= 4
    assert len(rotor_kinds) >= 12 and set(rotor_kinds) == {"drone"}


def test_excluded_covers_a_source_and_its_octaves() -> None:
    grid = np.array([60.0, 100.0, 120.0, 125.0, 180.0, 211.0, 240.0, 360.0, 500.0])
    mask = excluded(grid, (120.0,))
    assert mask.tolist() == [True, False, True, True, False, False, True, True, False]
    assert not excluded(grid, ()).any()


def test_a_rotor_comb_under_a_voice_is_found_by_the_second_search() -> None:
    """A gliding voice at 120 Hz and a rotor comb at 211 Hz of about the same level, one
    sensor, frames in time order: the voice wins some frames (relabelled `voice_music`);
    searching those again away from it finds the rotor comb in some of them."""
    found_plain = found_second = relabelled = 0
    for seed in range(3):
        rng = np.random.default_rng(21 + seed)
        plain, second = HistoryRegistry(), HistoryRegistry()
        for i in range(12):
            x = (
                0.1 * gliding_voice(120.0, rng)
                + 0.06 * rotor_cluster_comb(211.0, 10, rng)
                + 0.1 * pink(int(FS), rng)
            ).astype(np.float32)
            first = detect_rotor_comb(x, FS)
            one = plain.update("mic", float(i), first[0], candidate(first[1]))
            both = detect_with_history(x, FS, "mic", float(i), second, first=first)
            hits = [d.f0_hz for d in both if d.kind == "drone" and d.confidence >= 0.5]
            found_second += sum(abs(f / 211.0 - 1.0) < 0.04 for f in hits)
            found_plain += sum(
                d.kind == "drone" and d.confidence >= 0.5 and abs(d.f0_hz / 211.0 - 1.0) < 0.04
                for d in one
            )
            relabelled += sum(d.signature == "voice_music" for d in both)
    assert relabelled >= 5
    assert found_second >= found_plain + 3


def test_exclusion_leaves_a_lone_rotor_comb_unchanged() -> None:
    rng = np.random.default_rng(22)
    x = (0.05 * rotor_cluster_comb(185.0, 10, rng) + 0.1 * pink(int(FS), rng)).astype(np.float32)
    (plain,), _ = detect_rotor_comb(x, FS)
    (far,), _ = detect_rotor_comb(x, FS, exclude_hz=(300.0,))  # 150, 300, 600, 900 Hz
    assert far.f0_hz == pytest.approx(plain.f0_hz)
    assert far.confidence == pytest.approx(plain.confidence)
    found, _ = detect_rotor_comb(x, FS, exclude_hz=(185.0,))
    assert all(abs(math.log(d.f0_hz / 185.0)) > 0.08 for d in found)


def test_clock_jumps_and_bad_timestamps_neither_grow_nor_wipe_the_history() -> None:
    """Frames pool by |t0 difference|, entries are kept by arrival (bounded): a sensor
    clock stepping back an hour, one bogus future stamp or a NaN stamp neither grows the
    history nor loses the voice evidence."""
    config = HistoryConfig(max_entries=40)
    history = ModulationHistory(config)
    for t in range(3000):  # an hour back after 100 s
        t0 = float(t) if t < 100 else float(t) - 3600.0
        frame(history, t0, 0.3)
    assert len(history) == 40
    voice = ModulationHistory(config)
    frame(voice, 100.0, 0.02)
    frame(voice, 1e12, 0.3)  # one bogus stamp far in the future
    assert frame(voice, 101.0, 0.02)[0].kind == "other"  # the voice is still pooled
    assert frame(voice, math.nan, 0.02)[0].kind == "drone"  # no time: judged alone
    assert len(voice) == 3


def test_nan_p_values_and_zero_f0_are_ignored() -> None:
    history = ModulationHistory()
    frame(history, 0.0, math.nan)
    frame(history, 1.0, 0.02)
    assert frame(history, 2.0, 0.02)[0].kind == "other"  # the NaN frame added nothing
    assert len(history) == 2
    assert not history.modulated(2.0, 0.0)
    assert not history.continues(2.0, 0.0)
    assert history.pooled(2.0, math.nan) == (0, 1.0)
