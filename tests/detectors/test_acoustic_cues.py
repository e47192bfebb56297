"""Voice/music cues of the rotor-comb detector: single lines and a common fast envelope."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.acoustic import AcousticConfig, analyse_comb, detect_rotor
from detectors.acoustic_cues import single_line_share
from detectors.acoustic_rules import comb_confidence, single_lines_unlikely
from detectors.acoustic_spectrum import whitened_spectrum
from detectors.acoustic_subframes import common_envelope
from tests.detectors.test_acoustic import FS, pink, rotor_cluster_comb

CONFIG = AcousticConfig()


#: the depth the common-envelope rule is evaluated at (it is off by default in the config)
ENVELOPE_DEPTH_DB = 3.0


def harmonic_series(f0: float, harmonics: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Exactly harmonic partials (1/k), one steady line each: a held note."""
    t = np.arange(int(FS)) / FS
    out: NDArray[np.float64] = np.sum(
        [np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k for k in range(1, harmonics + 1)],
        axis=0,
    )
    return out


def syllabic(x: NDArray[np.float64], rate_hz: float = 4.5) -> NDArray[np.float64]:
    """4-5 Hz syllabic AM, ~26 dB deep, common to every harmonic (SIGNALS.md §4)."""
    t = np.arange(x.shape[0]) / FS
    out: NDArray[np.float64] = x * (0.05 + 0.95 * 0.5 * (1 - np.cos(2 * np.pi * rate_hz * t)))
    return out


def test_exact_harmonic_lines_are_single_lines_and_rotor_clusters_are_not() -> None:
    rng = np.random.default_rng(1)
    noise = 0.02 * pink(int(FS), rng)
    note = (0.05 * harmonic_series(220.0, 6, rng) + noise).astype(np.float32)
    rotor = (0.05 * rotor_cluster_comb(185.0, 10, rng) + noise).astype(np.float32)
    harmonics = np.arange(1, 7)
    note_spec, rotor_spec = (whitened_spectrum(x, FS, CONFIG) for x in (note, rotor))
    strong, share = single_line_share(note_spec, 220.0, harmonics, CONFIG)
    assert strong >= 2 and share == pytest.approx(1.0)
    strong, share = single_line_share(rotor_spec, 185.0, harmonics, CONFIG)
    assert strong >= 2 and not single_lines_unlikely(strong, share, CONFIG)


@pytest.mark.parametrize("seed", range(3))
def test_common_envelope_flags_syllabic_am_not_a_rotor_comb(seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    centres = 185.0 * np.arange(1, 7)
    rotor = 0.05 * rotor_cluster_comb(185.0, 10, rng) + 0.01 * pink(int(FS), rng)
    voiced = syllabic(0.05 * rotor_cluster_comb(185.0, 10, rng)) + 0.01 * pink(int(FS), rng)
    steady = common_envelope(rotor.astype(np.float32), FS, centres, CONFIG.tolerance)
    modulated = common_envelope(voiced.astype(np.float32), FS, centres, CONFIG.tolerance)
    assert steady.p_value > CONFIG.common_p_value or steady.depth_db < ENVELOPE_DEPTH_DB
    assert modulated.p_value < CONFIG.common_p_value
    assert modulated.depth_db >= ENVELOPE_DEPTH_DB


def test_common_envelope_ignores_a_smooth_level_ramp() -> None:
    """An approach or a throttle change moves all harmonics together, but smoothly."""
    rng = np.random.default_rng(5)
    ramp = 10 ** (np.linspace(-6, 6, int(FS)) / 20)  # +12 dB over the frame
    x = ramp * 0.05 * rotor_cluster_comb(185.0, 10, rng) + 0.005 * pink(int(FS), rng)
    env = common_envelope(x.astype(np.float32), FS, 185.0 * np.arange(1, 7), CONFIG.tolerance)
    assert env.depth_db < ENVELOPE_DEPTH_DB


def test_held_note_with_syllabic_am_is_not_a_drone() -> None:
    rng = np.random.default_rng(3)
    x = syllabic(0.05 * harmonic_series(160.0, 12, rng)) + 0.01 * pink(int(FS), rng)
    comb = analyse_comb(x.astype(np.float32), FS, CONFIG)
    assert comb is not None
    dets = detect_rotor(x.astype(np.float32), FS)
    assert dets == [] or dets[0].confidence < 0.5


def test_split_modules_keep_the_public_names() -> None:
    import detectors.acoustic as acoustic

    for name in acoustic.__all__:
        assert hasattr(acoustic, name)


@pytest.mark.parametrize(
    ("strong", "singles", "rejected"),
    [(2, 1, False), (2, 2, True), (3, 2, False), (3, 3, True), (4, 2, False), (4, 3, True),
     (6, 3, False), (6, 4, True), (7, 4, False), (7, 5, True), (10, 5, False), (10, 6, True)],
)  # fmt: skip
def test_single_lines_judged_by_the_binomial_tail(
    strong: int, singles: int, rejected: bool
) -> None:
    """With a 0.3 chance that a loud rotor band is one line (SIGNALS.md §4 "Split peaks"),
    a count of single lines rarer than 0.1 rejects the comb."""
    assert single_lines_unlikely(strong, singles / strong, CONFIG) is rejected


def test_single_line_tail_rejects_every_share_the_fixed_three_quarters_did() -> None:
    for strong in range(2, 11):
        for singles in range(strong + 1):
            if singles / strong > 0.75:
                assert single_lines_unlikely(strong, singles / strong, CONFIG)
    assert not single_lines_unlikely(1, 1.0, CONFIG)  # one strong band: no verdict
    assert not single_lines_unlikely(5, 0.0, CONFIG)


def test_comb_of_mostly_exact_partials_with_some_clusters_is_not_a_drone() -> None:
    """4 exactly harmonic partials of a held note and 2 rotor-like clusters among the loud
    harmonics k >= 2: 4 of 6 single lines is unlikely for a rotor comb (P ~ 0.07), where
    the former fixed 3/4 share let it through (down-weighted only, as steady lines)."""
    rng = np.random.default_rng(5)
    f0 = 180.0
    t = np.arange(int(FS)) / FS
    note = sum(np.cos(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) for k in (1, 2, 3, 4, 5))
    clusters = sum(
        0.25 * np.cos(2 * np.pi * k * f0 * (1 + off) * t + rng.uniform(0, 6.3))
        for k in (6, 7) for off in (-0.02, -0.007, 0.007, 0.02)
    )  # fmt: skip
    x = (0.02 * (note + 2.0 * clusters) + 0.01 * pink(int(FS), rng)).astype(np.float32)
    comb = analyse_comb(x, FS, CONFIG)
    assert comb is not None and comb.strong_bands >= 5
    assert 0.5 < comb.single_line_share <= 0.75
    assert single_lines_unlikely(comb.strong_bands, comb.single_line_share, CONFIG)
    assert comb_confidence(comb, CONFIG) == 0.0
    assert comb_confidence(comb, dataclasses.replace(CONFIG, single_line_alpha=0.0)) > 0.0
    assert detect_rotor(x, FS) == []
