"""Rotor-harmonic detector on synthetic combs and noise."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.acoustic import AcousticConfig, analyse_comb, comb_confidence, detect_rotor
from detectors.acoustic_features import (
    band_peak_z,
    line_is_machine_like,
    log_mean_floor,
    range_sums,
)
from detectors.acoustic_spectrum import half_spectra, whitened_spectrum
from detectors.arrays import cumsum0

FS = 16_000.0


def pink(n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    w = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / FS)
    w[1:] /= np.sqrt(f[1:])
    w[0] = 0.0
    x = np.fft.irfft(w, n)
    out: NDArray[np.float64] = x / x.std()
    return out


def comb(
    f0: float,
    harmonics: int,
    rng: np.random.Generator,
    fs: float = FS,
    duration_s: float = 1.0,
    spread: float = 0.0,
) -> NDArray[np.float64]:
    """k*f0 lines, first 3 equal then -4 dB per harmonic; `spread` splits each line into
    4 rotors at relative offsets (-1.5, -0.5, 0.5, 1.5) * spread."""
    t = np.arange(int(fs * duration_s)) / fs
    x = np.zeros_like(t)
    rotors = [0.0] if spread == 0 else [-1.5 * spread, -0.5 * spread, 0.5 * spread, 1.5 * spread]
    for k in range(1, harmonics + 1):
        amp = 1.0 if k <= 3 else 10 ** (-(k - 3) * 4 / 20)
        for r in rotors:
            x += amp / len(rotors) * np.sin(2 * np.pi * k * f0 * (1 + r) * t + rng.uniform(0, 6.3))
    return x


def rotor_cluster_comb(
    f0: float,
    harmonics: int,
    rng: np.random.Generator,
    offsets: tuple[float, ...] = (-0.02, -0.007, 0.007, 0.02),
    jitter_sigma: float = 0.01,
    jitter_tau_s: float = 0.5,
) -> NDArray[np.float64]:
    """4 rotors at f0 * (1 + offset), each with an Ornstein-Uhlenbeck RPM jitter (sigma,
    tau) on 1 s; harmonic k of every rotor, first 3 equal then -4.5 dB per harmonic."""
    n = int(FS)
    step = 160  # 10 ms control steps
    a = np.exp(-step / (FS * jitter_tau_s))
    x = np.zeros(n)
    for off in offsets:
        walk = np.empty(n // step)
        walk[0] = rng.standard_normal() * jitter_sigma  # start in steady state
        for i in range(1, walk.shape[0]):
            walk[i] = a * walk[i - 1] + rng.standard_normal() * jitter_sigma * np.sqrt(1 - a * a)
        jitter = np.repeat(walk, step)
        cycles = np.cumsum(f0 * (1 + off) * (1 + jitter)) / FS
        for k in range(1, harmonics + 1):
            amp = 1.0 if k <= 3 else 10 ** (-(k - 3) * 4.5 / 20)
            x += amp / len(offsets) * np.cos(2 * np.pi * k * cycles + rng.uniform(0, 6.3))
    return x


def siren(rng: np.random.Generator, rate_hz: float = 1.0) -> NDArray[np.float64]:
    """0.5-1.5 kHz sinusoidal sweep at rate_hz with 3 harmonics (-6 dB each)."""
    t = np.arange(int(FS)) / FS
    inst = 1_000.0 + 500.0 * np.sin(2 * np.pi * rate_hz * t + rng.uniform(0, 6.3))
    phase = 2 * np.pi * np.cumsum(inst) / FS
    out: NDArray[np.float64] = np.sum([0.5**h * np.sin((h + 1) * phase) for h in range(3)], axis=0)
    return out


@pytest.mark.parametrize("f0", [150.0, 185.0, 214.0, 380.0])
def test_clustered_rotor_comb_with_jitter_in_pink_noise(f0: float) -> None:
    """Rotor offsets ±2 %, RPM jitter 1 %: each harmonic is a cluster, not a line."""
    rng = np.random.default_rng(int(f0) + 1)
    x = 0.03 * rotor_cluster_comb(f0, 12, rng) + 0.05 * pink(int(FS), rng)
    dets = detect_rotor(x.astype(np.float32), FS)
    assert len(dets) == 1
    assert dets[0].f0_hz == pytest.approx(f0, rel=0.03)
    assert dets[0].harmonics >= 4
    assert dets[0].confidence >= 0.5


@pytest.mark.parametrize("level", [1e-4, 1e-2, 0.3])
def test_pink_noise_at_any_level_is_not_a_drone(level: float) -> None:
    rng = np.random.default_rng(int(1e4 * level) + 3)
    for _ in range(3):
        dets = detect_rotor((level * pink(int(FS), rng)).astype(np.float32), FS)
        assert dets == [] or dets[0].confidence < 0.5


@pytest.mark.parametrize("tone_hz", [185.0, 440.0, 1_000.0])
def test_pure_tone_is_not_a_drone(tone_hz: float) -> None:
    rng = np.random.default_rng(int(tone_hz))
    t = np.arange(int(FS)) / FS
    x = 0.3 * np.sin(2 * np.pi * tone_hz * t) + 0.01 * pink(int(FS), rng)
    assert detect_rotor(x.astype(np.float32), FS) == []


@pytest.mark.parametrize("seed", range(3))
def test_siren_sweep_is_not_a_drone(seed: int) -> None:
    rng = np.random.default_rng(40 + seed)
    x = 0.2 * siren(rng) + 0.01 * pink(int(FS), rng)
    dets = detect_rotor(x.astype(np.float32), FS)
    assert dets == [] or dets[0].confidence < 0.5


def test_mains_comb_of_stable_lines_is_machinery() -> None:
    """50 Hz hum: stable, one-bin lines at 100/150/200... Hz (no fundamental)."""
    rng = np.random.default_rng(9)
    t = np.arange(int(FS)) / FS
    hum = sum(
        10 ** (-k / 20) * np.sin(2 * np.pi * 50.0 * k * t + rng.uniform(0, 6.3))
        for k in range(2, 20)
    )
    x = 0.05 * hum + 0.02 * pink(int(FS), rng)
    dets = detect_rotor(x.astype(np.float32), FS)
    assert dets == [] or dets[0].confidence < 0.5


def test_stable_machine_comb_off_mains_is_down_weighted() -> None:
    """A fan/servo-like comb of one-bin, phase-stable lines at 310 Hz (not k*50 Hz)."""
    rng = np.random.default_rng(10)
    x = 0.05 * comb(310.0, 8, rng) + 0.01 * pink(int(FS), rng)
    dets = detect_rotor(x.astype(np.float32), FS)
    assert dets == [] or dets[0].confidence < 0.5


def _hum(rng: np.random.Generator) -> NDArray[np.float64]:
    """Transformer hum: exact lines at 100, 200, 300, 400 Hz."""
    t = np.arange(int(FS)) / FS
    return sum(
        (10 ** (-k / 20) * np.sin(2 * np.pi * 100.0 * k * t + rng.uniform(0, 6.3))
         for k in range(1, 5)),
        np.zeros(int(FS)),
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_hum_beside_an_off_mains_machine_is_machinery(seed: int) -> None:
    """A transformer's 100 Hz comb and a machine's steady 103 Hz comb (a passing piston
    aircraft's prop, Doppler-shifted): each band holds two steady lines 3 % apart, which
    as a pair look like a rotor cluster. The hum line is set aside, and the machine line
    left is one steady line: machinery, not a drone."""
    rng = np.random.default_rng(70 + seed)
    x = 0.05 * _hum(rng) + 0.05 * comb(103.0, 4, rng) + 0.01 * pink(int(FS), rng)
    dets = detect_rotor(x.astype(np.float32), FS)
    assert dets == [] or dets[0].confidence < 0.5


@pytest.mark.parametrize("seed", range(3))
def test_rotor_comb_over_hum_is_still_a_drone(seed: int) -> None:
    """The hum set aside leaves the rotor clusters: a drone at 196 Hz (harmonics next to
    200, 400, 600 Hz) over a transformer's hum is still found."""
    rng = np.random.default_rng(80 + seed)
    x = 0.2 * rotor_cluster_comb(196.0, 10, rng) + 0.05 * _hum(rng) + 0.02 * pink(int(FS), rng)
    dets = detect_rotor(x.astype(np.float32), FS)
    assert len(dets) == 1 and dets[0].confidence >= 0.5
    assert dets[0].f0_hz == pytest.approx(196.0, rel=0.03)


def _band_is_machine(x: NDArray[np.float64], centre_hz: float, mains_hz: float | None) -> bool:
    spec = whitened_spectrum(x.astype(np.float32), FS, AcousticConfig())
    lo, hi = round(centre_hz * 0.96), round(centre_hz * 1.04)  # 1 Hz bins
    return line_is_machine_like(
        spec.power, spec.floor, lo, hi, half_spectra(x.astype(np.float32), int(FS)), spec.df,
        0.5, mains_hz=mains_hz,
    )  # fmt: skip


def test_machine_line_test_sets_hum_aside_and_is_unchanged_without_it() -> None:
    """One band: hum alone is machinery with or without mains_hz; hum beside a steady
    103 Hz line is machinery only once the hum is set aside; a rotor cluster beside hum
    is not machinery either way."""
    rng = np.random.default_rng(90)
    t = np.arange(int(FS)) / FS
    noise = 0.01 * rng.standard_normal(int(FS))
    hum = 0.05 * np.sin(2 * np.pi * 100.0 * t + 1.0)
    other = 0.05 * np.sin(2 * np.pi * 103.0 * t + 2.0)
    assert _band_is_machine(hum + noise, 100.0, 50.0)
    assert _band_is_machine(hum + noise, 100.0, None)
    assert not _band_is_machine(hum + other + noise, 101.5, None)
    assert _band_is_machine(hum + other + noise, 101.5, 50.0)
    rotor = 0.2 * rotor_cluster_comb(196.0, 1, rng)
    assert not _band_is_machine(0.02 * hum + rotor + noise, 198.0, 50.0)


@pytest.mark.parametrize("f0", [85.0, 95.0])
def test_comb_under_the_blade_pass_span_is_not_a_drone(f0: float) -> None:
    """80-100 Hz combs are confusers' (piston props, tail rotors, gensets, a mower's comb
    read every 4th line); the blade-pass span covered is 100-1 500 Hz (SIGNALS.md §5)."""
    rng = np.random.default_rng(int(f0))
    x = 0.2 * rotor_cluster_comb(f0, 10, rng) + 0.02 * pink(int(FS), rng)
    dets = detect_rotor(x.astype(np.float32), FS)
    assert dets == [] or dets[0].confidence < 0.5


@pytest.mark.parametrize("f0", [120.0, 185.0, 370.0, 640.0])
def test_comb_in_pink_noise(f0: float) -> None:
    """Rotor spread (0.4 % steps) without jitter: split lines 1-2 bins apart."""
    rng = np.random.default_rng(int(f0))
    x = (0.05 * comb(f0, 8, rng, spread=0.004) + 0.05 * pink(int(FS), rng)).astype(np.float32)
    dets = detect_rotor(x, FS)
    assert len(dets) == 1
    d = dets[0]
    assert d.signature == "rotor_harmonics" and d.kind == "drone"
    assert d.f0_hz == pytest.approx(f0, rel=0.02)
    assert d.harmonics >= 4
    assert d.confidence > 0.5


def test_stereo_44k1_with_calibration() -> None:
    rng = np.random.default_rng(5)
    fs = 44_100.0
    mono = 0.05 * comb(185.0, 8, rng, fs=fs, spread=0.004) + 0.05 * rng.standard_normal(int(fs))
    stereo = np.stack([mono, mono]).astype(np.float32)
    dets = detect_rotor(stereo, fs, full_scale_db_spl=94.0)
    assert len(dets) == 1
    assert dets[0].f0_hz == pytest.approx(185.0, rel=0.02)
    assert dets[0].level_db_spl is not None and 40.0 < dets[0].level_db_spl < 94.0


@pytest.mark.parametrize("seed", range(10))
def test_noise_alone_is_not_a_drone(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    assert detect_rotor((0.1 * rng.standard_normal(int(FS))).astype(np.float32), FS) == []
    assert detect_rotor((0.1 * pink(int(FS), rng)).astype(np.float32), FS) == []


@pytest.mark.parametrize("base_hz", [50.0, 100.0])
def test_mains_comb_is_rejected(base_hz: float) -> None:
    rng = np.random.default_rng(7)
    hum = comb(base_hz, 12, rng) + 0.02 * rng.standard_normal(int(FS))
    dets = detect_rotor(hum.astype(np.float32), FS)
    assert dets == [] or dets[0].confidence < 0.3


def test_spread_rotor_comb_at_mains_multiple_still_detected() -> None:
    rng = np.random.default_rng(8)
    x = 0.05 * comb(200.0, 8, rng, spread=0.004) + 0.05 * pink(int(FS), rng)
    dets = detect_rotor(x.astype(np.float32), FS)
    assert len(dets) == 1 and dets[0].f0_hz == pytest.approx(200.0, rel=0.03)


def test_silence_and_bad_shapes() -> None:
    assert detect_rotor(np.zeros(16_000, np.float32), FS) == []
    with pytest.raises(ValueError, match="audio"):
        detect_rotor(np.zeros((2, 3, 4), np.float32), FS)


# ---------------------------------------------------------------- comb statistics


def test_log_mean_floor_is_unbiased_on_white_noise() -> None:
    """E[ln P] = ln(mean) - γ for exponential bins: the floor reads the mean power."""
    rng = np.random.default_rng(21)
    ratios = []
    for _ in range(20):
        x = rng.standard_normal(int(FS))
        power = np.abs(np.fft.rfft(x * np.hanning(x.shape[0]))) ** 2
        floor = log_mean_floor(power, 80)
        ratios.append(np.log(floor[200:7800] / np.mean(power[200:7800])))
    r = np.concatenate(ratios)
    assert abs(float(np.mean(r))) < 0.02
    assert 0.08 < float(np.std(r)) < 0.2  # AcousticConfig.floor_rel_sigma = 0.13


def test_log_mean_floor_ignores_strong_lines() -> None:
    rng = np.random.default_rng(22)
    power = rng.exponential(1.0, 8001)
    power[1000:1400:20] = 1e4  # a dense comb 40 dB over the floor
    floor = log_mean_floor(power, 80)
    assert float(np.median(floor[1000:1400])) == pytest.approx(1.0, rel=0.25)


@pytest.mark.parametrize("bins", [13, 51])
def test_band_peak_z_is_standard_under_noise(bins: int) -> None:
    """Peak excess of Hann-correlated exponential bins: z has mean ~0 and std ~1."""
    rng = np.random.default_rng(bins)
    zs = []
    for _ in range(40):
        x = rng.standard_normal(int(FS))
        power = np.abs(np.fft.rfft(x * np.hanning(x.shape[0]))) ** 2
        ratio = power / np.mean(power[100:7900])
        excess = np.maximum(ratio - 2.5, 0.0)
        lo = np.arange(200, 7000, bins + 5)
        sums = range_sums(cumsum0(excess), lo, lo + bins - 1)
        zs.append(band_peak_z(sums, np.full(lo.shape, bins), 2.5, 0.0))
    z = np.concatenate(zs)
    assert abs(float(np.mean(z))) < 0.15
    assert 0.8 < float(np.std(z)) < 1.2


def line_snr_noise(snr_db: float, rng: np.random.Generator) -> NDArray[np.float64]:
    """White noise whose 1 Hz-bin power sits snr_db under the total power of one of the
    first harmonics of `rotor_cluster_comb` (4 rotor lines of amplitude 1/4: 4/32 = 1/8)."""
    # white noise of variance s² puts 2 s² / fs in each one-sided 1 Hz bin
    s2 = (0.125 / 10 ** (snr_db / 10)) * FS / 2
    out: NDArray[np.float64] = rng.standard_normal(int(FS)) * np.sqrt(s2)
    return out


@pytest.mark.parametrize(
    ("f0", "snr_db"), [(150.0, 19.0), (185.0, 19.0), (240.0, 19.0), (380.0, 19.0)]
)
def test_rotor_comb_of_known_snr_is_found_at_its_f0(f0: float, snr_db: float) -> None:
    """4 rotors at ±0.7/2 %, jitter 1 %: each of the first harmonics' total power sits
    snr_db over the 1 Hz-bin noise, i.e. ~6 dB less per rotor line, then it rolls off."""
    hits = 0
    for seed in range(5):
        rng = np.random.default_rng(seed + int(f0))
        x = rotor_cluster_comb(f0, 10, rng) + line_snr_noise(snr_db, rng)
        dets = detect_rotor(x.astype(np.float32), FS)
        if dets and dets[0].confidence >= 0.5:
            assert dets[0].f0_hz == pytest.approx(f0, rel=0.04)
            hits += 1
    assert hits >= 4


def test_missing_fundamental_and_notches_do_not_lock_on_a_subharmonic() -> None:
    """Ground-reflection notches remove k = 1 and k = 4; the comb is still at f0, not f0/3
    (the f0_min edge) nor 2 f0."""
    f0 = 212.0
    rng = np.random.default_rng(31)
    x = rotor_cluster_comb(f0, 10, rng)
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / FS)
    for k in (1, 4):
        spec[np.abs(freqs - k * f0) < 0.05 * k * f0] *= 0.05
    x = np.fft.irfft(spec, x.shape[0]) + line_snr_noise(20.0, rng)
    dets = detect_rotor(x.astype(np.float32), FS)
    assert len(dets) == 1
    assert dets[0].f0_hz == pytest.approx(f0, rel=0.04)


def test_same_comb_at_48k_and_16k() -> None:
    rng = np.random.default_rng(32)
    x16 = rotor_cluster_comb(185.0, 10, rng) + line_snr_noise(20.0, rng)
    x48 = np.fft.irfft(np.fft.rfft(x16), 3 * x16.shape[0]) * 3  # band-limited ×3
    d16 = detect_rotor(x16.astype(np.float32), FS)
    d48 = detect_rotor(x48.astype(np.float32), 3 * FS)
    assert len(d16) == len(d48) == 1
    assert d48[0].f0_hz == pytest.approx(d16[0].f0_hz, rel=0.01)


def test_white_noise_false_alarm_rate_at_the_alert_cut() -> None:
    """score_mid is set where noise alone passes the alert cut in ~1e-3 of frames."""
    rng = np.random.default_rng(33)
    alerts = 0
    for _ in range(300):
        dets = detect_rotor((0.1 * rng.standard_normal(int(FS))).astype(np.float32), FS)
        alerts += bool(dets and dets[0].confidence >= 0.5)
    assert alerts <= 3


def test_voice_like_comb_with_syllables_and_pauses_is_rejected() -> None:
    """One f0 at 120 Hz ±6 % with 4.5 Hz syllables and a pause: it comes and goes within
    the frame (`dropouts`), a rotor comb does not."""
    rng = np.random.default_rng(34)
    t = np.arange(int(FS)) / FS
    f = 120.0 * (1 + 0.06 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(f) / FS
    voice = sum(np.sin(k * phase + rng.uniform(0, 6.3)) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * 4.5 * t), 0, None) * (t < 0.7)
    x = 0.2 * voice * syllables + 0.002 * rng.standard_normal(t.shape[0])
    dets = detect_rotor(x.astype(np.float32), FS)
    assert dets == [] or dets[0].confidence < 0.5


def test_mower_like_dense_comb_is_a_low_fundamental() -> None:
    """A 4-stroke mower fires at 25 Hz: its comb at 100-1000 Hz is every line of 25 Hz, so a
    comb found at 100 Hz has filled lines in between and is rejected."""
    rng = np.random.default_rng(35)
    t = np.arange(int(FS)) / FS
    mower = sum(
        10 ** (-0.02 * k) * np.sin(2 * np.pi * 25.0 * k * t + rng.uniform(0, 6.3))
        for k in range(2, 60)
    )
    x = 0.05 * mower + 0.01 * pink(int(FS), rng)
    assert detect_rotor(x.astype(np.float32), FS) == []


def test_comb_analysis_exposes_the_cross_checks() -> None:
    rng = np.random.default_rng(36)
    x = (rotor_cluster_comb(185.0, 10, rng) + line_snr_noise(20.0, rng)).astype(np.float32)
    comb = analyse_comb(x, FS, AcousticConfig())
    assert comb is not None
    assert comb.f0_hz == pytest.approx(185.0, rel=0.03)
    assert comb.f0_consistent  # the HPS estimate agrees with the harmonic sum
    assert comb.dropouts == 0 and comb.low_fundamental_hz is None
    assert comb_confidence(comb) > 0.9


@pytest.mark.parametrize("n", [5, 40, 300, 8001])
def test_floor_window_sums_equal_the_gathered_sums(n: int) -> None:
    """The floor's sliced window sums are the same values as one gather per bin, for
    spectra too short to hold a full-width window as well."""
    from detectors.acoustic_features import _floor_windows

    values = np.random.default_rng(n).exponential(size=n)
    win = _floor_windows(n, 80, 8, 0.4)
    assert np.array_equal(win.sums(values), range_sums(cumsum0(values), win.lo, win.hi))
