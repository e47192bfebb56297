"""The range bench's ideal energy detector (`bench/acoustic_oracle.py`): its noise model is
the simulator's, and its thresholds give the false-alarm probability they are set for."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from simulator.acoustic_emitters import Ambience
from simulator.collectors import AudioCollector, SensorSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from acoustic_oracle import detects, expected_pd, frame_cells, noise_power


def _mic() -> AudioCollector:
    return AudioCollector(SensorSpec("m", "acoustic", "audio", (0.0, 0.0, 0.0), "z"),
                          ambience=Ambience(level_dba=45.0, self_noise_dba=20.0))  # fmt: skip


def test_noise_power_is_the_rendered_ambience_per_bin() -> None:
    mic = _mic()
    noise = noise_power(mic)
    ratios = [
        np.abs(np.fft.rfft(mic.render([], 0.0, np.random.default_rng(seed)).astype(np.float64)))
        ** 2
        / noise
        for seed in range(4)
    ]
    x = np.concatenate([r[20:7000] for r in ratios])
    assert float(np.mean(x)) == pytest.approx(1.0, abs=0.02)  # Exp(1) per bin
    assert not np.isfinite(noise[0]) and not np.isfinite(noise[-1])  # DC, Nyquist: no cells
    assert float(np.mean(x > 3.0)) == pytest.approx(np.exp(-3.0), abs=0.005)


@pytest.mark.parametrize("cells_per_trial", [1, 8])
def test_thresholds_hold_the_false_alarm_probability(cells_per_trial: int) -> None:
    """Noise alone in the chosen bins (whatever the signal's shape): detections at pfa."""
    rng = np.random.default_rng(5)
    trials, pfa = 4000, 0.05
    shape = np.sort(rng.exponential(1.0, 300))[::-1] * np.geomspace(30.0, 0.01, 300)
    hits = 0
    for _ in range(trials):
        cells = [np.stack((shape, rng.exponential(1.0, 300))) for _ in range(cells_per_trial)]
        hits += detects(cells, pfa)
    assert hits / trials == pytest.approx(pfa, abs=4 * np.sqrt(pfa * (1 - pfa) / trials))


def test_a_tone_over_the_ambience_is_detected_and_its_absence_is_not() -> None:
    mic = _mic()
    n = mic.num_samples
    t = np.arange(n) / mic.sample_rate_hz
    tone = (3e-5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    ambience = mic.render([], 0.0, np.random.default_rng(1))
    noise = noise_power(mic)
    assert detects([frame_cells(tone, tone + ambience, noise)], 1e-3)
    assert not detects([frame_cells(tone, ambience, noise)], 1e-3)
    assert expected_pd([frame_cells(tone, ambience, noise)], 1e-3) > 0.99
    silent = np.zeros_like(tone)
    assert expected_pd([frame_cells(silent, ambience, noise)], 1e-3) == pytest.approx(1e-3)


def test_expected_pd_is_the_share_of_ambience_draws_detected() -> None:
    """The exact Pd matches the detections over many draws of the ambience."""
    rng = np.random.default_rng(11)
    snr = np.sort(rng.exponential(0.5, 40))[::-1]
    cells = [np.stack((snr, np.zeros(40)))]
    want = expected_pd(cells, 1e-2)
    hits = 0
    for _ in range(3000):
        noise = (rng.normal(size=40) + 1j * rng.normal(size=40)) / np.sqrt(2.0)
        power = np.abs(np.sqrt(snr) + noise) ** 2
        hits += detects([np.stack((snr, power))], 1e-2)
    assert hits / 3000 == pytest.approx(want, abs=0.03)
