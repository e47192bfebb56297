"""Learned plant lines and their veto (`detectors.acoustic_plant`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from detectors.acoustic import AcousticDetection, detect_rotor_comb, detect_with_history
from detectors.acoustic_config import AcousticConfig
from detectors.acoustic_history import HistoryConfig, HistoryRegistry
from detectors.acoustic_plant import (
    PLANT_SIGNATURE,
    PlantConfig,
    PlantLines,
    machine_fundamentals,
    survives,
    touches,
)
from tests.detectors.test_acoustic import FS, comb, pink, rotor_cluster_comb

DRONE = AcousticDetection(
    signature="rotor_harmonics", kind="drone", t_start_s=0.0, t_end_s=1.0, f0_hz=180.0,
    harmonics=5, snr_db=10.0, confidence=0.9, level_db_spl=None,
)  # fmt: skip


def ratio_with_lines(rng: np.random.Generator, bins: list[int], m: int = 400) -> np.ndarray:
    """A power-over-floor spectrum: Exp(1) noise and 10x lines at `bins`."""
    r = rng.exponential(1.0, m)
    r[bins] = 10.0
    return r


def test_a_steady_line_is_learnt_after_early_frames_with_its_guard() -> None:
    """A line in every frame that never leaves its bin is learnt from `early_frames` on."""
    rng = np.random.default_rng(1)
    plant = PlantLines()
    masks = []
    for _ in range(80):
        assert plant.update(ratio_with_lines(rng, [169, 338]), 1.0)
        masks.append(plant.mask())
    first = PlantConfig().early_frames - 1  # index of the frame that completes them
    assert all(m is None for m in masks[:first])
    mask = masks[first]
    assert mask is not None
    assert set(np.flatnonzero(mask)) == set(range(167, 172)) | set(range(336, 341))
    # nothing learnt below min_hz (the high-pass), however steady
    low = PlantLines()
    for _ in range(80):
        low.update(ratio_with_lines(rng, [30]), 1.0)
    assert low.mask() is None


def test_a_line_in_under_confined_occupancy_of_the_frames_is_not_learnt() -> None:
    rng = np.random.default_rng(11)
    plant = PlantLines()
    for i in range(300):
        plant.update(ratio_with_lines(rng, [250] if i % 5 < 2 else []), 1.0)  # 40 %
    assert plant.mask() is None


def test_a_steady_line_heard_in_most_frames_of_a_mixture_is_learnt() -> None:
    """A fan's line that other sources and wind hide in a third of the frames (pair share
    ~0.67 < occupancy) still never leaves its bin: a plant line once `min_frames` are
    learnt (before them, only a line in nearly every frame is)."""
    rng = np.random.default_rng(12)
    plant = PlantLines()
    for i in range(120):
        plant.update(ratio_with_lines(rng, [169] if i % 3 else []), 1.0)
        if i + 1 < PlantConfig().min_frames:
            assert plant.mask() is None
    mask = plant.mask()
    assert mask is not None and mask[169] and not mask[338]


def test_a_line_whose_peaks_wander_around_its_bin_is_not_learnt() -> None:
    """A peak at one bin in half the frames, in the others 2-3 bins away (a rotor harmonic
    whose sub-lines take turns; a simulated hover's best pair held under 0.4 of the peaks
    around it): not confined, so not a plant line."""
    rng = np.random.default_rng(13)
    plant = PlantLines()
    for i in range(300):
        at = 184 if i % 2 else 184 + int(rng.choice([-3, -2, 2, 3]))
        plant.update(ratio_with_lines(rng, [at]), 1.0)
    assert plant.mask() is None


def test_a_line_between_two_bins_is_learnt() -> None:
    """A steady line halfway between bins peaks in either, frame by frame."""
    rng = np.random.default_rng(2)
    plant = PlantLines()
    for _ in range(80):
        plant.update(ratio_with_lines(rng, [200 + int(rng.integers(2))]), 1.0)
    mask = plant.mask()
    assert mask is not None and mask[200] and mask[201]


def test_a_wandering_rotor_line_is_never_learnt() -> None:
    """A harmonic whose peak moves over ±2 % of 184 Hz from frame to frame (hover jitter,
    4 rotors) holds no bin: nothing is masked after 10 minutes."""
    rng = np.random.default_rng(3)
    plant = PlantLines()
    for _ in range(600):
        peaks = [round(184 * (1 + rng.normal(0, 0.01) + off)) for off in (-0.02, 0.02)]
        plant.update(ratio_with_lines(rng, peaks), 1.0)
        assert plant.mask() is None


def test_frames_of_another_shape_are_skipped_then_learnt_again() -> None:
    rng = np.random.default_rng(4)
    plant = PlantLines()
    for _ in range(70):
        plant.update(ratio_with_lines(rng, [100]), 1.0)
    assert plant.mask() is not None
    # a frame one sample short of 1 s at 16 kHz has the same bins
    assert plant.update(ratio_with_lines(rng, [100]), 16000 / 15999)
    # a few frames of another length are neither learnt nor judged, and wipe nothing
    for _ in range(PlantConfig().relearn_frames - 2):
        assert not plant.update(ratio_with_lines(rng, [100]), 0.5)
    assert not plant.update(ratio_with_lines(rng, [100], m=300), 1.0)  # another band
    assert plant.update(ratio_with_lines(rng, [100]), 1.0)
    assert plant.mask() is not None
    # a lasting change starts the learning again on the new shape
    flags = [plant.update(ratio_with_lines(rng, [100]), 0.5) for _ in range(12)]
    assert flags == [False] * (PlantConfig().relearn_frames - 1) + [True] * 3
    assert plant.mask() is None
    assert not plant.update(np.ones(2), 1.0)  # too short to hold a peak
    assert not plant.update(ratio_with_lines(rng, [100]), 0.0)  # no bin width


def test_survives_keeps_the_comb_found_without_the_plant_lines() -> None:
    weaker = dataclasses.replace(DRONE, f0_hz=183.0, confidence=0.6)
    kept = survives(DRONE, [weaker])
    assert (kept.kind, kept.signature, kept.confidence) == ("drone", "rotor_harmonics", 0.6)
    for masked in ([], [dataclasses.replace(DRONE, f0_hz=250.0)]):
        out = survives(DRONE, masked)
        assert (out.kind, out.signature) == ("other", PLANT_SIGNATURE)


def test_touches_reads_the_present_bands_only() -> None:
    x = comb(180.0, 6, np.random.default_rng(5), spread=0.02) + 0.01 * pink(
        int(FS), np.random.default_rng(6)
    )
    _, analysis = detect_rotor_comb(x.astype(np.float32), FS)
    assert analysis is not None and analysis.line_ratio is not None
    mask = np.zeros(analysis.line_ratio.shape[0], dtype=bool)
    assert not touches(analysis, mask, AcousticConfig())
    absent = [k for k in range(1, 11) if not analysis.present[k - 1]]
    assert absent  # a 6-harmonic comb: the bands above are not present
    mask[round(absent[-1] * analysis.f0_hz / analysis.bin_hz)] = True
    assert not touches(analysis, mask, AcousticConfig())
    mask[round(2 * analysis.f0_hz / analysis.bin_hz)] = True
    assert touches(analysis, mask, AcousticConfig())


def fan_lines(rng: np.random.Generator, f0: float = 180.0) -> np.ndarray:
    """Exact, steady harmonic lines (a fan's blade pass) in pink noise."""
    t = np.arange(int(FS)) / FS
    x = 0.01 * pink(int(FS), rng)
    for k in range(1, 7):
        x = x + 0.02 / k * np.sin(2 * np.pi * f0 * k * t + 1.3 * k)
    return x


def test_a_comb_made_of_learnt_plant_lines_is_relabelled() -> None:
    """A fan's lines (alone rejected by the one-frame machine test) are learnt over a
    minute; a frame reported as a drone comb on those very lines is then machinery."""
    rng = np.random.default_rng(7)
    registry = HistoryRegistry()
    for t in range(70):
        detect_with_history(fan_lines(rng).astype(np.float32), FS, "mic", float(t), registry)
    x = fan_lines(rng).astype(np.float32)
    _, analysis = detect_rotor_comb(x, FS)
    assert analysis is not None
    out = detect_with_history(x, FS, "mic", 70.0, registry, first=([DRONE], analysis))
    assert [(d.kind, d.signature) for d in out] == [("other", PLANT_SIGNATURE)]


def test_a_fan_hidden_in_a_third_of_the_frames_is_still_learnt() -> None:
    """The fan's lines are missing from every third frame (a gust, a louder source: in
    the false-alarm bench a fan under wind and voices held its bins in 0.6-0.75 of the
    frames); they never leave their bins, so after a minute a drone comb reported on them
    is machinery."""
    rng = np.random.default_rng(17)
    registry = HistoryRegistry()
    for t in range(70):
        x = fan_lines(rng) if t % 3 else 0.01 * pink(int(FS), rng)
        detect_with_history(x.astype(np.float32), FS, "mic", float(t), registry)
    x = fan_lines(rng).astype(np.float32)
    _, analysis = detect_rotor_comb(x, FS)
    assert analysis is not None
    out = detect_with_history(x, FS, "mic", 70.0, registry, first=([DRONE], analysis))
    assert [(d.kind, d.signature) for d in out] == [("other", PLANT_SIGNATURE)]


@pytest.mark.parametrize("seed", [8, 9])
def test_a_drone_on_a_fans_fundamental_is_still_a_drone(seed: int) -> None:
    """After a minute of fan lines at 180 Hz, a rotor comb arrives at the same f0: its
    clusters (rotors ±0.7-2 %, RPM jitter) stand beside the masked lines, so it stays."""
    rng = np.random.default_rng(seed)
    registry = HistoryRegistry()
    for t in range(70):
        detect_with_history(fan_lines(rng).astype(np.float32), FS, "mic", float(t), registry)
    hits = 0
    for t in range(70, 80):
        x = fan_lines(rng) + 0.05 * rotor_cluster_comb(180.0, 8, rng)
        out = detect_with_history(x.astype(np.float32), FS, "mic", float(t), registry)
        hits += any(d.kind == "drone" and d.confidence >= 0.5 for d in out)
        assert not any(d.signature == PLANT_SIGNATURE for d in out)
    assert hits >= 8


def test_noise_only_frames_leave_the_modulation_histories_alone() -> None:
    """Every analysed frame teaches the plant lines, in a store of their own: sensors
    sending only noise neither create nor evict other sensors' modulation histories."""
    rng = np.random.default_rng(12)
    registry = HistoryRegistry(HistoryConfig(max_sensors=2))
    for i in range(5):
        x = 0.01 * pink(int(FS), rng)
        detect_with_history(x.astype(np.float32), FS, f"mic-{i}", 0.0, registry)
    assert len(registry) == 0


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([338, 508, 677], [169.2]),  # k = 2, 3, 4 of a fan (the highest fundamental)
        ([100, 200, 300, 1203], [100.0]),  # a line of another source is left out of the fit
        ([338, 508, 677, 100, 200, 300], [169.2, 100.0]),  # a fan beside a transformer
        ([338, 508], []),  # two lines are no series
        ([250, 377, 611], []),
        ([100, 150, 200], []),  # only a fundamental under min_series_bins explains all
    ],
)
def test_machine_fundamentals(lines: list[int], expected: list[float]) -> None:
    found = machine_fundamentals(np.array(lines), PlantConfig())
    assert found == pytest.approx(expected, abs=0.2)


def test_a_series_of_learnt_lines_masks_the_rest_of_it() -> None:
    """Three steady lines at k = 2, 3, 4 of 169 Hz (the fundamental and k = 5 buried in
    wind and voices, so never learnt) mask the machine's whole series."""
    rng = np.random.default_rng(21)
    plant = PlantLines()
    for _ in range(20):
        plant.update(ratio_with_lines(rng, [338, 508, 677], m=1200), 1.0)
    mask = plant.mask()
    assert mask is not None
    for k in (1, 5, 6):
        assert mask[round(169.25 * k)]
    assert not mask[250] and not mask[1000]
    alone = PlantLines(PlantConfig(series_lines=99))  # without the series: the three only
    for _ in range(20):
        alone.update(ratio_with_lines(rng, [338, 508, 677], m=1200), 1.0)
    bare = alone.mask()
    assert bare is not None and not bare[169] and not bare[846]
