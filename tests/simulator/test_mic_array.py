"""Microphone arrays: inter-channel delays, coherence, ground reflection (SIGNALS.md §4, §5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.signal import coherence, welch

from simulator.acoustic_confusers import Wind
from simulator.acoustic_emitters import (
    Emission,
    EmittingSource,
    Medium,
    NoiseBand,
    RotorSource,
)
from simulator.audio_collector import AudioCollector, circular_array, linear_array
from simulator.collectors import AudioCollector as ReExported
from simulator.collectors import SensorSpec
from simulator.trajectory import Track

C = 343.0


@dataclass
class _Noise(EmittingSource):
    """White-ish broadband noise, 1 Pa² over 50 Hz – 0.45·fs at 1 m (a test source)."""

    kind: str = "other"
    signature: str = "test_noise"

    def _make_emission(self, loop_index: int) -> Emission:
        def psd(f: np.ndarray) -> np.ndarray:
            return np.where(f > 50.0, 1e-4, 0.0)

        return Emission(t_s=self.control_grid(), noises=(NoiseBand(psd),))


def _array(fs: float, offsets: tuple[tuple[float, float, float], ...], *,
           medium: Medium | None = None) -> AudioCollector:  # fmt: skip
    return AudioCollector(SensorSpec("arr", "acoustic", "audio", (0.0, 0.0, 2.0), "z"),
                          sample_rate_hz=fs, frame_s=1.0, mic_offsets_m=offsets,
                          medium=medium or Medium())  # fmt: skip


def _lag_samples(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Lag of b behind a (samples) by cross-correlation with parabolic refinement."""
    n = len(a) + len(b)
    xc = np.fft.irfft(np.conj(np.fft.rfft(a, n)) * np.fft.rfft(b, n), n)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    vals = np.concatenate([xc[: max_lag + 1], xc[-max_lag:]])
    order = np.argsort(lags)
    lags, vals = lags[order], vals[order]
    i = int(np.argmax(vals))
    y0, y1, y2 = vals[i - 1], vals[i], vals[i + 1]
    return float(lags[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2))


def test_audio_collector_is_reexported_and_header_counts_channels() -> None:
    assert ReExported is AudioCollector
    arr = _array(48_000.0, linear_array(4, 0.5 / 3))
    h = arr.header(site="s", seq=0, boot_id="b", t0_ns=0)
    assert h.num_channels == 4
    assert arr.render([], 0.0, np.random.default_rng(0)).shape == (4, 48_000)
    with pytest.raises(ValueError, match="microphones"):
        _array(16_000.0, ())


@pytest.mark.parametrize("bearing_deg", [20.0, 60.0, 90.0, 135.0])
def test_inter_mic_delays_match_geometry(bearing_deg: float) -> None:
    """4 mics on x over 0.5 m; a broadband source 80 m away at `bearing_deg` from +x."""
    fs = 48_000.0
    arr = _array(fs, linear_array(4, 0.5 / 3))
    th = math.radians(bearing_deg)
    src = _Noise("n", Track.fixed((80 * math.cos(th), 80 * math.sin(th), 2.0)), 7, 5.0)
    x = arr.render_pa([src], 1.0, np.random.default_rng(0), include_noise=False)
    mics = arr.mic_positions_m
    pos = np.asarray(src.track.point(0.0))
    for j in (1, 2, 3):
        # exact far/near-field geometry: difference of path lengths (≈ d·cos θ / c)
        expected = (np.linalg.norm(pos - mics[j]) - np.linalg.norm(pos - mics[0])) / C * fs
        far_field = -(mics[j, 0] - mics[0, 0]) * math.cos(th) / C * fs
        lag = _lag_samples(x[0], x[j], 80)
        print(f"θ={bearing_deg:5.1f}° mic 0→{j}: lag {lag:+.3f} samples, "
              f"geometry {expected:+.3f}, d·cosθ/c {far_field:+.3f}")  # fmt: skip
        assert lag == pytest.approx(expected, abs=1.0)
        assert lag == pytest.approx(far_field, abs=1.0)
        assert lag == pytest.approx(expected, abs=0.1)  # in fact sub-sample exact


def test_each_channel_equals_a_single_mic_at_that_position() -> None:
    """Every source arrives at every mic with its own retarded time and level."""
    fs = 16_000.0
    offsets = circular_array(4, 0.3)
    arr = _array(fs, offsets)
    drone = RotorSource("d", Track.fixed((30.0, 20.0, 25.0)), seed=3, duration_s=10.0)
    x = arr.render_pa([drone], 2.0, np.random.default_rng(0), include_noise=False)
    for i, off in enumerate(offsets):
        mono = _array(fs, (off,))
        y = mono.render_pa([drone], 2.0, np.random.default_rng(0), include_noise=False)
        # (tonal absorption uses the array-mean range: differences far below −60 dB)
        assert np.max(np.abs(x[i] - y)) < 1e-3 * np.max(np.abs(y))


def test_wind_is_incoherent_while_a_drone_line_is_coherent() -> None:
    fs = 16_000.0
    arr = AudioCollector(SensorSpec("arr", "acoustic", "audio", (0.0, 0.0, 2.0), "z"),
                         sample_rate_hz=fs, frame_s=4.0,
                         mic_offsets_m=((-0.25, 0.0, 0.0), (0.25, 0.0, 0.0)))  # fmt: skip
    drone = RotorSource("d", Track.fixed((20.0, 10.0, 15.0)), seed=1, duration_s=20.0,
                        jitter_sigma=0.0, rotor_offset_sigma=0.0)  # fmt: skip
    wind = Wind("w", seed=5, duration_s=20.0, wind_speed_m_s=5.0, windscreen_db=15.0)
    x = arr.render_pa([drone, wind], 2.0, np.random.default_rng(0))
    f, coh = coherence(x[0], x[1], fs=fs, nperseg=4096)
    _, pxx = welch(x[0], fs=fs, nperseg=4096)
    low = (f > 5.0) & (f < 200.0)
    low &= np.abs(f - drone.hover_bpf_hz(loaded=True) / 2) > 10  # away from the shaft line
    f_line = 3 * drone.hover_bpf_hz(loaded=True)
    i_line = int(np.argmin(np.abs(f - f_line)))
    wind_db = 10 * np.log10(np.mean(pxx[low]))
    print(f"wind coherence below 200 Hz: median {np.median(coh[low]):.3f}, "
          f"max {np.max(coh[low]):.3f} (wind PSD {wind_db:.1f} dB re Pa²/Hz); "
          f"drone k=3 line at {f[i_line]:.1f} Hz: {coh[i_line]:.4f}")  # fmt: skip
    assert np.median(coh[low]) < 0.1
    assert np.max(coh[low]) < 0.3
    assert coh[i_line] > 0.9
    # the wind dominates that band: it is there, not absent
    _, p_quiet = welch(arr.render_pa([drone], 2.0, np.random.default_rng(0))[0], fs=fs,
                       nperseg=4096)  # fmt: skip
    assert np.mean(pxx[low]) > 100 * np.mean(p_quiet[low])


def test_ground_image_source_makes_the_expected_comb() -> None:
    """Source and mic 2 m up, 50 m apart: path difference Δ = √(50² + 4²) − 50, notches at
    (2n+1)·c/(2Δ), peaks at n·c/Δ, depth (1 − R·r/r')² with R = 0.8."""
    fs = 16_000.0
    src = _Noise("n", Track.fixed((50.0, 0.0, 2.0)), 11, 10.0)
    free = AudioCollector(SensorSpec("m", "acoustic", "audio", (0.0, 0.0, 2.0), "z"),
                          sample_rate_hz=fs, frame_s=2.0)  # fmt: skip
    ground = AudioCollector(SensorSpec("m", "acoustic", "audio", (0.0, 0.0, 2.0), "z"),
                            sample_rate_hz=fs, frame_s=2.0,
                            medium=Medium(ground_reflection=0.8))  # fmt: skip
    a = free.render_pa([src], 1.0, np.random.default_rng(0), include_noise=False)
    b = ground.render_pa([src], 1.0, np.random.default_rng(0), include_noise=False)
    f, pa = welch(a, fs=fs, nperseg=2048)
    _, pb = welch(b, fs=fs, nperseg=2048)
    r1, r2 = 50.0, math.hypot(50.0, 4.0)
    notch, peak = C / (2 * (r2 - r1)), C / (r2 - r1)
    ratio = 10 * np.log10(pb / pa)
    at_notch = float(ratio[np.argmin(np.abs(f - notch))])
    at_peak = float(ratio[np.argmin(np.abs(f - peak))])
    g = 0.8 * r1 / r2
    print(f"ground comb: notch {notch:.0f} Hz {at_notch:+.1f} dB "
          f"(theory {20 * math.log10(1 - g):+.1f}), peak {peak:.0f} Hz {at_peak:+.1f} dB "
          f"(theory {20 * math.log10(1 + g):+.1f})")  # fmt: skip
    assert at_notch < -8.0
    assert at_peak == pytest.approx(20 * math.log10(1 + g), abs=1.0)
