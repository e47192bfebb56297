"""Integration of the rotor-comb statistic across frames (`detectors.acoustic_integrate`)."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.acoustic import detect_rotor_comb, detect_with_history
from detectors.acoustic_config import AcousticConfig, CombAnalysis
from detectors.acoustic_history import HistoryRegistry
from detectors.acoustic_integrate import (
    CombIntegrator,
    IntegratorConfig,
    IntegratorRegistry,
    _alone_in_sum,
    integrated_detection,
    refine_f0,
    sharp_line_share,
    tainted,
)
from tests.detectors.test_acoustic import FS, line_snr_noise, pink, rotor_cluster_comb


def _noise_comb(rng: np.random.Generator, pink_noise: bool) -> CombAnalysis | None:
    x = 0.1 * (pink(int(FS), rng) if pink_noise else rng.standard_normal(int(FS)))
    found, comb = detect_rotor_comb(x.astype(np.float32), FS)
    assert not found or found[0].confidence < 0.5
    return comb


def _drone_comb(rng: np.random.Generator, snr_db: float) -> tuple[bool, CombAnalysis | None]:
    x = rotor_cluster_comb(185.0, 10, rng) + line_snr_noise(snr_db, rng)
    found, comb = detect_rotor_comb(x.astype(np.float32), FS)
    return bool(found and found[0].confidence >= 0.5), comb


def test_noise_alone_never_triggers_over_many_frames() -> None:
    """The sum of n frames' band z is again standard under noise: at the single-frame
    design rate (~1e-3 per decision at the alert cut), 300 white/pink frames through
    integrators of 4 and 8 frames give at most one alert each (expected ~0.3)."""
    rng = np.random.default_rng(71)
    combs = [_noise_comb(rng, pink_noise=bool(i % 2)) for i in range(300)]
    for frames in (4, 8):
        integ = CombIntegrator(IntegratorConfig(frames=frames))
        alerts = 0
        for i, c in enumerate(combs):
            d = integ.update(float(i), 1.0, FS, c)
            alerts += bool(d and d.confidence >= 0.5)
        assert alerts <= 1


def test_summed_noise_z_keeps_the_single_frame_law() -> None:
    """Z = sum z_i / sqrt(n) over noise frames has mean ~0 and std ~1 per band."""
    rng = np.random.default_rng(72)
    combs = [_noise_comb(rng, pink_noise=False) for _ in range(24)]
    zs = np.asarray([c.z_grid for c in combs if c is not None and c.z_grid is not None])
    big = zs.reshape(6, 4, *zs.shape[1:]).sum(axis=0) / np.sqrt(6)
    used = big[:, :, :3]  # the low bands exist at every f0 of the grid
    assert abs(float(np.mean(used))) < 0.2
    assert 0.7 < float(np.std(used)) < 1.3


def test_weak_comb_below_the_single_frame_cut_is_found_after_k_frames() -> None:
    """At 12 dB line SNR no single frame reaches the alert cut; 6 frames summed do, at the
    right f0."""
    rng = np.random.default_rng(73)
    integ = CombIntegrator(IntegratorConfig(frames=6))
    single, found = 0, []
    for i in range(12):
        hit, comb = _drone_comb(rng, 12.0)
        single += hit
        d = integ.update(float(i), 1.0, FS, comb, reported=hit)
        if d is not None and d.confidence >= 0.5:
            assert d.f0_hz == pytest.approx(185.0, rel=0.04)
            assert d.signature == "rotor_harmonics" and d.kind == "drone"
            found.append(i)
    assert single <= 2
    assert len(found) >= 4  # the first frames lack the spread the sum needs
    assert min(found) >= 1  # needs at least two frames


def test_gap_sample_rate_and_missing_analysis_reset_the_history() -> None:
    rng = np.random.default_rng(74)
    combs = [_drone_comb(rng, 12.0)[1] for _ in range(4)]
    integ = CombIntegrator(IntegratorConfig(frames=6))
    for i, c in enumerate(combs[:3]):
        integ.update(float(i), 1.0, FS, c)
    assert len(integ) == 3
    integ.update(5.0, 1.0, FS, combs[3])  # t0 jump of 3 frames
    assert len(integ) == 1
    integ.update(6.0, 1.0, FS, combs[0])
    assert len(integ) == 2
    integ.update(5.0, 1.0, FS, combs[1])  # backwards (replay, reordering)
    assert len(integ) == 1
    integ.update(6.0, 1.0, 48_000.0, combs[2])  # another sample rate
    assert len(integ) == 1
    integ.update(7.0, 1.0, 48_000.0, None)  # silence / unusable frame
    assert len(integ) == 0


def test_a_frame_a_confuser_rule_rejected_blocks_the_window() -> None:
    cfg = AcousticConfig()
    rng = np.random.default_rng(75)
    _hit, comb = _drone_comb(rng, 20.0)
    assert comb is not None and comb.score >= cfg.min_score
    assert not tainted(comb, cfg)
    voice = dataclasses.replace(comb, dropouts=cfg.max_dropouts)
    assert tainted(voice, cfg)
    integ = CombIntegrator(IntegratorConfig(frames=4))
    assert integ.update(0.0, 1.0, FS, voice) is None
    assert integ.update(1.0, 1.0, FS, comb) is None  # the voice frame is still in the window
    for t in (2.0, 3.0):
        assert integ.update(t, 1.0, FS, comb) is None
    assert integ.update(4.0, 1.0, FS, comb) is not None  # the voice frame left the window


def test_reported_frames_return_nothing_but_enter_the_history() -> None:
    rng = np.random.default_rng(76)
    integ = CombIntegrator()
    for i in range(3):
        _hit, comb = _drone_comb(rng, 20.0)
        assert integ.update(float(i), 1.0, FS, comb, reported=True) is None
    assert len(integ) == 3


def test_integrated_detection_needs_frames() -> None:
    assert integrated_detection([], [], np.geomspace(70, 2500, 360), 1.0) is None


def test_registry_is_bounded_and_forgets_idle_sensors() -> None:
    now = [0.0]
    reg = IntegratorRegistry(IntegratorConfig(max_sensors=3, idle_s=10.0), clock=lambda: now[0])
    rng = np.random.default_rng(77)
    comb = _noise_comb(rng, pink_noise=False)
    for i in range(5):
        reg.update(("s", f"mic-{i}", 1), 0.0, 1.0, FS, comb)
    assert len(reg) == 3
    now[0] = 5.0
    reg.update(("s", "mic-4", 1), 1.0, 1.0, FS, comb)
    now[0] = 12.0
    reg.update(("s", "mic-9", 1), 0.0, 1.0, FS, comb)
    assert len(reg) == 2  # mic-2 and mic-3 idle for 12 s: dropped
    reg.reset()
    assert len(reg) == 0


def test_concurrent_updates_smoke() -> None:
    """Threads feeding many sensors (and sharing some) neither raise nor corrupt state."""
    rng = np.random.default_rng(78)
    combs = [_drone_comb(rng, 14.0)[1] for _ in range(4)]
    reg = IntegratorRegistry(IntegratorConfig(max_sensors=8))
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(60):
                reg.update(("s", f"mic-{(w + i) % 12}", 1), float(i), 1.0, FS, combs[i % 4])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(reg) <= 8


def _hum(rng: np.random.Generator, snr_db: float) -> NDArray[np.float64]:
    """Transformer hum: exact lines at 100, 200, 300, 400 Hz (mains 50 Hz, ± 0.01 %) in
    white noise; each line snr_db over the 1 Hz-bin floor."""
    t = np.arange(int(FS)) / FS
    grid = 1.0 + 1e-4 * rng.standard_normal()
    x = sum(np.cos(2 * np.pi * k * 100.0 * grid * t + rng.uniform(0, 6.3)) for k in (1, 2, 3, 4))
    s2 = (0.5 / 10 ** (snr_db / 10)) * FS / 2  # a unit cosine puts 1/2 in its 1 Hz bin
    out: NDArray[np.float64] = np.asarray(x) + rng.standard_normal(int(FS)) * np.sqrt(s2)
    return out


def test_known_weak_rotor_comb_is_found_and_its_f0_refined() -> None:
    """A 185 Hz rotor comb too weak for one frame: the summed frames report it within 2 %
    (the refined f0, not only the 1 % grid)."""
    rng = np.random.default_rng(81)
    integ = CombIntegrator()
    found = []
    for i in range(10):
        hit, comb = _drone_comb(rng, 13.0)
        d = integ.update(float(i), 1.0, FS, comb, reported=hit)
        if d is not None and d.confidence >= 0.5:
            found.append(d.f0_hz)
    assert len(found) >= 4
    assert np.all(np.abs(np.asarray(found) / 185.0 - 1.0) < 0.02)


def test_stable_mains_hum_is_never_reported_by_the_sum() -> None:
    """Hum lines at k*100 Hz held to 0.01 %: one frame may not score, but the sum piles
    them into single bins locked to the mains: rejected (f0 refined to 100 Hz and
    single-lobe harmonics), frame after frame."""
    rng = np.random.default_rng(82)
    integ = CombIntegrator()
    for i in range(12):
        _found, comb = detect_rotor_comb(_hum(rng, 6.0).astype(np.float32), FS)
        assert integ.update(float(i), 1.0, FS, comb) is None


def test_stable_hum_off_the_mains_grid_is_rejected_by_its_line_shape() -> None:
    """The same steady lines at 3 % off the 50/60 Hz grid (a fan, a genset): the window's
    harmonics are single Hann lobes, so the sum rejects them too."""
    zs, ratios, lines = [], [], []
    rng = np.random.default_rng(83)
    t = np.arange(int(FS)) / FS
    for _ in range(6):
        x = sum(np.cos(2 * np.pi * k * 103.0 * t + rng.uniform(0, 6.3)) for k in (1, 2, 3, 4))
        x = np.asarray(x) + rng.standard_normal(int(FS)) * np.sqrt(0.5 / 10**0.6 * FS / 2)
        _found, comb = detect_rotor_comb(x.astype(np.float32), FS)
        assert comb is not None and comb.z_grid is not None and comb.line_ratio is not None
        zs.append(comb.z_grid)
        ratios.append(comb.ratio_grid)
        lines.append(comb.line_ratio)
    mean = np.mean(np.asarray(lines), axis=0)
    ks = np.arange(1, 5)
    assert refine_f0(mean, comb.bin_hz, 104.0, ks, np.ones(4), AcousticConfig()) == (
        pytest.approx(103.0, rel=0.005)
    )
    bands, single = sharp_line_share(mean, comb.bin_hz, 103.0, ks, AcousticConfig())
    assert bands == 3 and single == 1.0
    assert integrated_detection(zs, ratios, comb.grid_hz, 1.0, line_ratios=lines,
                                bin_hz=comb.bin_hz) is None  # fmt: skip


def test_one_loud_frame_is_not_carried_over_into_the_next_frames() -> None:
    """A single frame with a strong comb followed by noise: the sum never reports the
    comb in the following frames (the sum without its strongest frame is noise, and the
    newest frame does not hold the comb)."""
    rng = np.random.default_rng(84)
    integ = CombIntegrator()
    hit, comb = _drone_comb(rng, 25.0)
    assert hit
    assert integ.update(0.0, 1.0, FS, comb, reported=True) is None
    for i in range(1, 7):
        c = _noise_comb(rng, pink_noise=bool(i % 2))
        d = integ.update(float(i), 1.0, FS, c)
        assert d is None or d.confidence < 0.5


def test_two_loud_frames_need_support_in_the_newest_frame() -> None:
    """Two loud frames then noise: leaving out the strongest still leaves a comb, but the
    newest frame does not support it, so nothing is carried over."""
    rng = np.random.default_rng(85)
    integ = CombIntegrator()
    for i in range(2):
        hit, comb = _drone_comb(rng, 25.0)
        assert hit
        integ.update(float(i), 1.0, FS, comb, reported=True)
    for i in range(2, 8):
        d = integ.update(float(i), 1.0, FS, _noise_comb(rng, pink_noise=False))
        assert d is None or d.confidence < 0.5


def test_a_summed_comb_under_the_blade_pass_span_is_not_reported() -> None:
    """The integrator reports no more than one frame would: a weak 90 Hz comb summed over
    frames stays unreported (`min_report_f0_hz`, 100 Hz), and such a frame does not taint
    the window (a low f0 is not a confuser cue)."""
    rng = np.random.default_rng(74)
    integ = CombIntegrator(IntegratorConfig(frames=8))
    for i in range(10):
        x = 0.008 * rotor_cluster_comb(90.0, 10, rng) + 0.05 * pink(int(FS), rng)
        found, comb = detect_rotor_comb(x.astype(np.float32), FS)
        assert not found
        assert comb is None or not tainted(comb, AcousticConfig())
        d = integ.update(float(i), 1.0, FS, comb)
        assert d is None or d.confidence < 0.5 or d.f0_hz >= 100.0


def test_a_weighted_level_reads_a_calibrated_tone() -> None:
    t = np.arange(int(FS)) / FS
    tone_1k = (np.sqrt(2.0) * 0.1 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    _, comb = detect_rotor_comb(tone_1k, FS)
    assert comb is not None and comb.level_a_db == pytest.approx(-20.0, abs=0.05)
    tone_100 = (np.sqrt(2.0) * 0.1 * np.sin(2 * np.pi * 100.0 * t)).astype(np.float32)
    _, comb = detect_rotor_comb(tone_100, FS)
    # A-weighting -19.1 dB at 100 Hz, the 60 Hz high-pass another -0.5 dB
    assert comb is not None and comb.level_a_db == pytest.approx(-39.7, abs=0.2)


def _mean_ratio(lines_hz: list[float], value: float, m: int = 4000) -> NDArray[np.float64]:
    r = np.ones(m)
    for f in lines_hz:
        r[round(f)] = value
    return r


def test_the_sum_is_judged_by_the_one_spectrum_cues() -> None:
    cfg = AcousticConfig()
    rotor = [k * 185.0 for k in range(1, 9)]
    assert _alone_in_sum(_mean_ratio(rotor, 10.0), 1.0, 185.0, cfg)
    # every 6th line of a dense 20 Hz comb (a helicopter's main rotor): low fundamental
    dense = [20.0 * k for k in range(5, 75)]
    assert not _alone_in_sum(_mean_ratio(dense, 10.0), 1.0, 120.0, cfg)
    # a weak comb among louder steady lines elsewhere (music, an engine): comb share
    other = [131.0, 262.0, 393.0, 524.0, 655.0, 786.0, 917.0]
    assert not _alone_in_sum(_mean_ratio(rotor, 4.0) * _mean_ratio(other, 30.0), 1.0, 185.0, cfg)


def _quiet_frames(rng: np.random.Generator, n: int, snr_db: float) -> list[NDArray[np.float32]]:
    return [
        (rotor_cluster_comb(185.0, 10, rng) + line_snr_noise(snr_db, rng)).astype(np.float32)
        for _ in range(n)
    ]


@pytest.mark.parametrize(("level_dba", "calibrated", "summed"), [
    (30.0, True, True), (50.0, True, False), (30.0, False, False),
])  # fmt: skip
def test_the_hub_path_sums_frames_only_at_a_quiet_calibrated_station(
    level_dba: float, calibrated: bool, summed: bool
) -> None:
    """`detect_with_history` reports the sum's comb for a weak hover the frames alone
    miss, while the station hears at most `max_level_dba` (from the frames' calibration);
    a louder station, or one without a calibration, gets the single frames only."""
    frames = _quiet_frames(np.random.default_rng(76), 12, 12.0)
    _, first = detect_rotor_comb(frames[0], FS)
    assert first is not None
    full_scale = level_dba - first.level_a_db if calibrated else None
    registry = HistoryRegistry()
    single = integrated = 0
    for i, x in enumerate(frames):
        alone = detect_rotor_comb(x, FS)[0]
        out = detect_with_history(x, FS, "mic", float(i), registry, full_scale_db_spl=full_scale)
        hit = any(d.kind == "drone" and d.confidence >= 0.5 for d in out)
        alone_hit = any(d.confidence >= 0.5 for d in alone)
        single += alone_hit
        integrated += hit and not alone_hit
    assert single <= 2
    assert (integrated >= 4) if summed else (integrated == 0)


def test_a_multichannel_level_is_each_microphones() -> None:
    """Diffuse noise partly cancels in the channel mean; the level is a microphone's."""
    rng = np.random.default_rng(77)
    four = np.stack([0.01 * pink(int(FS), rng) for _ in range(4)]).astype(np.float32)
    levels = []
    for channel in four:
        _, comb = detect_rotor_comb(channel, FS)
        assert comb is not None
        levels.append(10 ** (comb.level_a_db / 10))
    _, array_comb = detect_rotor_comb(four, FS)
    assert array_comb is not None
    # the channel mean alone reads 6 dB low; corrected by the broadband ratio, within 1 dB
    assert array_comb.level_a_db == pytest.approx(10 * np.log10(np.mean(levels)), abs=1.0)


@pytest.mark.parametrize(
    "config", [AcousticConfig(max_harmonics=8), AcousticConfig(min_report_f0_hz=200.0)]
)
def test_the_sum_uses_the_callers_settings(config: AcousticConfig) -> None:
    frames = _quiet_frames(np.random.default_rng(78), 10, 12.0)
    _, first = detect_rotor_comb(frames[0], FS, config=config)
    assert first is not None
    full_scale = 30.0 - first.level_a_db
    registry = HistoryRegistry()
    for i, x in enumerate(frames):
        out = detect_with_history(
            x, FS, "mic", float(i), registry, full_scale_db_spl=full_scale, config=config
        )
        assert all(d.f0_hz >= config.min_report_f0_hz for d in out if d.kind == "drone")


def test_the_sums_comb_share_sets_learnt_plant_lines_aside() -> None:
    """A quiet station with a steady 300 Hz line (13 dB over the 1 Hz floor) and a weak
    hover: once the line is learnt (a minute), the summed comb is not vetoed for it."""
    rng = np.random.default_rng(79)
    t = np.arange(int(FS)) / FS
    registry = HistoryRegistry()
    full_scale = None
    summed = 0
    for i in range(120):
        noise = line_snr_noise(12.0, rng)
        line = np.sqrt(2 * np.var(noise) / (FS / 2) * 10**1.3) * np.sin(2 * np.pi * 300.0 * t)
        x = (rotor_cluster_comb(185.0, 10, rng) + noise + line).astype(np.float32)
        alone, comb = detect_rotor_comb(x, FS)
        assert comb is not None
        if full_scale is None:
            full_scale = 30.0 - comb.level_a_db
        out = detect_with_history(x, FS, "mic", float(i), registry, full_scale_db_spl=full_scale)
        hit = any(d.kind == "drone" and d.confidence >= 0.5 for d in out)
        if i >= 60:
            summed += hit and not any(d.confidence >= 0.5 for d in alone)
    assert summed >= 6  # 2 when the line counted against the comb share
