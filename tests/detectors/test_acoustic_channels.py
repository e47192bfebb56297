"""Multichannel frames: the comb search reads one channel, the quietest
(`detectors.acoustic_spectrum.analysed_channel`), not the channel mean."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.acoustic import detect_rotor
from detectors.acoustic_spectrum import analysed_channel
from tests.detectors.test_acoustic import FS, line_snr_noise, pink, rotor_cluster_comb


def test_the_quietest_channel_is_analysed() -> None:
    rng = np.random.default_rng(1)
    quiet = rng.standard_normal(1000).astype(np.float32)
    windy = 10 * rng.standard_normal(1000).astype(np.float32)
    assert np.array_equal(analysed_channel(np.stack([windy, quiet])), quiet)
    assert np.array_equal(analysed_channel(np.stack([quiet, windy, windy])), quiet)
    assert np.array_equal(analysed_channel(quiet), quiet)
    with pytest.raises(ValueError, match="audio must be"):
        analysed_channel(np.zeros((2, 2, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="no channel"):
        analysed_channel(np.zeros((0, 10), dtype=np.float32))


def test_a_broken_microphone_does_not_silence_the_station() -> None:
    """A channel with a NaN sample (overflowing power included) is passed over."""
    rng = np.random.default_rng(3)
    x = (rotor_cluster_comb(185.0, 10, rng) + line_snr_noise(19.0, rng)).astype(np.float32)
    broken = np.zeros_like(x)
    broken[5] = np.nan
    for pair in (np.stack([broken, x]), np.stack([x, np.full_like(x, 3e38)])):
        assert np.array_equal(analysed_channel(pair), x)
        dets = detect_rotor(pair, FS)
        assert len(dets) == 1 and dets[0].f0_hz == pytest.approx(185.0, rel=0.04)


def _heard(rng: np.random.Generator) -> np.ndarray:
    """A rotor comb over an outdoor-like (pink) background, as a live microphone hears it."""
    rotor = rotor_cluster_comb(185.0, 10, rng)
    return rotor + 0.5 * float(np.std(rotor)) * pink(int(FS), rng)


def test_a_comb_under_wind_on_one_microphone_is_found_on_the_other() -> None:
    rng = np.random.default_rng(2)
    quiet = _heard(rng)
    windy = quiet + 30.0 * float(np.std(quiet)) * pink(int(FS), rng)
    dets = detect_rotor(np.stack([windy, quiet]).astype(np.float32), FS)
    assert len(dets) == 1
    assert dets[0].f0_hz == pytest.approx(185.0, rel=0.04)
    assert dets[0].confidence >= 0.5


def test_a_dead_microphone_quieter_than_the_live_one_is_passed_over() -> None:
    """A dead capsule leaves its converter's flat noise, quieter than a live microphone
    on a still night: the live channel is searched, and the station still hears."""
    rng = np.random.default_rng(4)
    live = _heard(rng).astype(np.float32)
    dead = (1e-3 * float(np.std(live)) * rng.standard_normal(int(FS))).astype(np.float32)
    for pair in (np.stack([dead, live]), np.stack([live, dead])):
        assert np.array_equal(analysed_channel(pair), live)
        dets = detect_rotor(pair, FS)
        assert len(dets) == 1 and dets[0].f0_hz == pytest.approx(185.0, rel=0.04)
    # every channel dead: the quietest is searched, as before
    deader = 0.5 * dead
    assert np.array_equal(analysed_channel(np.stack([dead, deader])), deader)


def test_a_broadband_source_at_two_spaced_microphones_is_not_a_drone() -> None:
    """Noise from one direction reaches two microphones 0.8-1.4 m apart in path with a
    delay; their mean comb-filters it (a ripple of period c / delay across the spectrum)
    into combs the search passes at the alert cut, where either microphone alone hears
    plain noise."""
    mean_hits = one_hits = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = int(FS)
        source = rng.standard_normal(n + 200)
        delay = 37 + seed % 20  # samples at 16 kHz: 0.8-1.4 m
        pair = np.stack([source[200 : 200 + n], source[200 - delay : 200 - delay + n]])
        pair = (pair + 0.05 * rng.standard_normal((2, n))).astype(np.float32)
        one_hits += any(d.confidence >= 0.5 for d in detect_rotor(pair, FS))
        mean = pair.mean(axis=0)
        mean_hits += any(d.confidence >= 0.5 for d in detect_rotor(mean, FS))
    assert one_hits == 0
    assert mean_hits >= 2  # what the channel mean did (3 of these 40 frames)
