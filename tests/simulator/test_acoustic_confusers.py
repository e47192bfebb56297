"""Confusers measured on rendered audio against SIGNALS.md §4 ("Confusers") and §5."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.signal import stft, welch

from simulator.acoustic_confusers import (
    Aircraft,
    CarHorn,
    Confuser,
    Genset,
    Helicopter,
    HvacFan,
    Mower,
    Music,
    Siren,
    Strimmer,
    Traffic,
    TransformerHum,
    Voice,
    Wind,
    flyby_track,
)
from simulator.acoustic_emitters import (
    AcousticSource,
    Emission,
    EmittingSource,
    HarmonicSeries,
    Medium,
    RotorSource,
)
from simulator.audio_collector import AudioCollector, circular_array
from simulator.collectors import SensorSpec
from simulator.propagation import REFERENCE_PRESSURE_PA, a_weighting_db
from simulator.trajectory import Track

FS = 16_000.0
MIC = (0.0, 0.0, 0.0)
#: ISO 9613-1 dB/km at 15 °C / 70 % RH, copied from the SIGNALS.md §4 table
ALPHA_15C_70RH = {125.0: 0.38, 1000.0: 4.08, 4000.0: 26.6}


def _render(src: AcousticSource, t0: float, seconds: float, fs: float = FS) -> np.ndarray:
    n = round(seconds * fs)
    return np.asarray(src.pressure_pa(np.array([MIC]), t0, fs, n)[0])


def _spectrum(x: np.ndarray, fs: float = FS) -> tuple[np.ndarray, np.ndarray]:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    return np.fft.rfftfreq(len(x), 1 / fs), np.asarray(10 * np.log10(spec + 1e-30))


def _peak_hz(x: np.ndarray, lo: float, hi: float, fs: float = FS) -> float:
    """Strongest line in [lo, hi], refined by parabolic interpolation of the log spectrum."""
    f, p = _spectrum(x, fs)
    band = np.flatnonzero((f >= lo) & (f <= hi))
    i = int(band[np.argmax(p[band])])
    y0, y1, y2 = p[i - 1], p[i], p[i + 1]
    return float(f[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) * (f[1] - f[0]))


def _dba(p_pa: np.ndarray, fs: float = FS) -> float:
    spec = np.abs(np.fft.rfft(p_pa)) ** 2
    f = np.fft.rfftfreq(len(p_pa), 1 / fs)
    ms = 2 * np.sum(spec * 10 ** (a_weighting_db(f) / 10)) / len(p_pa) ** 2
    return float(10 * np.log10(ms / REFERENCE_PRESSURE_PA**2))


@dataclass
class _Tone(EmittingSource):
    """One steady line of sound power `l_w_db` (unweighted) at `freq_hz`."""

    freq_hz: float = 1000.0
    l_w_db: float = 100.0
    kind: str = "other"
    signature: str = "test_tone"

    def _make_emission(self, loop_index: int) -> Emission:
        t = self.control_grid()
        p_rms_1m = REFERENCE_PRESSURE_PA * 10 ** ((self.l_w_db - 11.0) / 20)
        series = HarmonicSeries(self.freq_hz * (t - t[0]), np.array([math.sqrt(2) * p_rms_1m]),
                                np.zeros(1), self.freq_hz)  # fmt: skip
        return Emission(t_s=t, tones=(series,))


@pytest.mark.parametrize("freq_hz", sorted(ALPHA_15C_70RH))
@pytest.mark.parametrize("r_m", [10.0, 100.0, 500.0, 1000.0])
def test_spreading_and_absorption(freq_hz: float, r_m: float) -> None:
    src = _Tone("t", Track.fixed((r_m, 0.0, 0.0)), 1, 10.0, freq_hz=freq_hz, l_w_db=100.0)
    x = _render(src, 5.0, 1.0)
    lp = 20 * math.log10(float(np.sqrt(np.mean(x**2))) / REFERENCE_PRESSURE_PA)
    expected = 100.0 - 11.0 - 20 * math.log10(r_m) - ALPHA_15C_70RH[freq_hz] * r_m / 1000
    print(f"{freq_hz:6.0f} Hz at {r_m:6.0f} m: Lp {lp:6.2f} dB, expected {expected:6.2f} dB")
    assert lp == pytest.approx(expected, abs=1.0)
    assert lp == pytest.approx(expected, abs=0.2)  # tighter than asked


def test_helicopter_combs_land_where_configured() -> None:
    # closest approach at t = 20 s, 600 m away: radial velocity ≈ 0 there, no Doppler
    heli = Helicopter("h", flyby_track(20.0, (0.0, 600.0, 150.0), 0.0, 40.0, 40.0), 1, 60.0,
                      main_bpf_hz=18.0, tail_bpf_hz=77.0)  # fmt: skip
    r = math.hypot(600.0, 150.0)
    x = _render(heli, 20.0 + r / 343.0 - 2.0, 4.0)
    main = _peak_hz(x, 10.0, 30.0)
    tail = _peak_hz(x, 74.0, 80.0)  # between main-rotor harmonics 4 (72 Hz) and 5 (90 Hz)
    f, p = _spectrum(x)
    lines = [p[np.argmin(np.abs(f - k * 18.0))] for k in range(1, 6)]
    floor = np.median(p[(f > 5) & (f < 200)])
    print(f"helicopter at {r:.0f} m: main {main:.2f} Hz, tail {tail:.2f} Hz, main-comb lines "
          f"{np.round(np.array(lines) - floor, 1)} dB over the median, "
          f"{_dba(x):.1f} dBA")  # fmt: skip
    assert main == pytest.approx(18.0, abs=0.2)
    assert tail == pytest.approx(77.0, abs=0.5)
    assert min(lines) - floor > 20.0  # a comb at k·18 Hz
    assert _dba(x) > 55.0  # loud at ~ 1 km range (L_WA 135)


def test_helicopter_pass_is_slow_and_doppler_smooth() -> None:
    v = 40.0
    heli = Helicopter("h", flyby_track(45.0, (0.0, 300.0, 150.0), 0.0, v, 45.0), 2, 90.0)
    mic = np.array([MIC])
    tau = np.array([20.0, 70.0])
    shifts: list[float] = []
    expect: list[float] = []
    for t_emit in tau:  # emitted at t_emit, heard r/c later
        r = float(np.linalg.norm(np.asarray(heli.track.point(t_emit))))
        x = heli.pressure_pa(mic, t_emit + r / 343.0 - 2.0, FS, 4 * 16000)[0]
        p = np.asarray(heli.track.point(t_emit))
        v_r = float(np.dot(heli.track.velocity(t_emit), -p / np.linalg.norm(p)))
        expect.append(77.0 * 343.0 / (343.0 - v_r))
        shifts.append(_peak_hz(x, expect[-1] - 2.5, expect[-1] + 2.5))
    print(f"tail rotor approaching {shifts[0]:.2f} Hz (expect {expect[0]:.2f}), "
          f"receding {shifts[1]:.2f} Hz (expect {expect[1]:.2f})")  # fmt: skip
    assert shifts == pytest.approx(expect, rel=0.004)
    assert shifts[0] > 1.1 * 77.0 and shifts[1] < 0.92 * 77.0


def test_aircraft_prop_bpf_and_doppler() -> None:
    plane = Aircraft("a", flyby_track(30.0, (0.0, 200.0, 300.0), 0.0, 60.0, 60.0), 3, 60.0)
    x = _render(plane, 30.0 + math.hypot(200, 300) / 343.0 - 1.0, 2.0)
    f0 = _peak_hz(x, 60.0, 100.0)
    print(f"aircraft prop BPF at closest approach {f0:.2f} Hz")
    assert f0 == pytest.approx(80.0, abs=0.6)  # 70–90 Hz, small residual Doppler
    jet = Aircraft("j", Track.fixed((0.0, 300.0, 300.0)), 3, 20.0, engine="jet")
    xj = _render(jet, 5.0, 1.0)
    f, p = welch(xj, fs=FS, nperseg=1024)
    assert 150.0 < f[np.argmax(np.where(f < 1500, p, 0))] < 1500.0  # broadband hump


def test_mower_comb_spacing_and_blade_line() -> None:
    mower = Mower("m", Track.fixed((15.0, 0.0, 0.5)), 4, 30.0, rpm=3000.0, rpm_sigma=0.002,
                  load_dip=0.0)  # fmt: skip
    x = _render(mower, 5.0, 4.0)
    f, p = _spectrum(x)
    hits = 0
    for k in range(4, 41):  # 100–1000 Hz
        band = (f > k * 25.0 - 1.0) & (f < k * 25.0 + 1.0)
        ref = (f > k * 25.0 - 11.0) & (f < k * 25.0 + 11.0)
        hits += p[band].max() - np.median(p[ref]) > 10.0
    firing = _peak_hz(x, 20.0, 30.0)
    blade = _peak_hz(x, 45.0, 57.0)
    print(f"mower: firing {firing:.2f} Hz, blade {blade:.2f} Hz, {hits}/37 comb lines "
          f"≥ 10 dB in 100–1000 Hz (spacing 25 Hz)")  # fmt: skip
    assert firing == pytest.approx(25.0, rel=0.01)  # 2.8–3.3 k RPM → 23–28 Hz
    assert blade == pytest.approx(50.0, rel=0.01)  # 47–55 Hz
    assert hits >= 30


def test_strimmer_sweeps_between_idle_and_full_throttle() -> None:
    s = Strimmer("s", Track.fixed((10.0, 0.0, 1.0)), 5, 30.0)
    rpm = s.throttle_rpm()
    t = s.control_grid()
    fast = np.abs(np.diff(rpm)) * s.control_rate_hz  # RPM/s
    full = float(np.argmax(rpm > 0.95 * rpm.max()))
    x = _render(s, float(t[int(full)]) + 0.3, 0.5)
    f0 = _peak_hz(x, 100.0, 240.0)
    print(f"strimmer: RPM {rpm.min():.0f}–{rpm.max():.0f}, max slew {fast.max():.0f} RPM/s, "
          f"firing at full throttle {f0:.1f} Hz")  # fmt: skip
    assert rpm.max() / 60 * 0.98 >= 115.0 and rpm.max() / 60 <= 225.0
    assert fast.max() > 10_000.0  # idle → full in well under a second
    assert 115.0 < f0 < 225.0
    crest = np.max(np.abs(x)) / np.sqrt(np.mean(x**2))
    assert crest > 3.0  # impulsive exhaust


@pytest.mark.parametrize(
    ("make", "lo", "hi", "nominal"),
    [
        (lambda: TransformerHum("x", Track.fixed((20.0, 0.0, 2.0)), 6, 90.0), 95, 105, 100.0),
        (lambda: Genset("g", Track.fixed((20.0, 0.0, 1.0)), 7, 90.0), 45, 55, 50.0),
        (lambda: HvacFan("h", Track.fixed((20.0, 0.0, 5.0)), 8, 90.0), 160, 180, 1450 / 60 * 7),
    ],
)
def test_machinery_lines_are_stable(make, lo: float, hi: float, nominal: float) -> None:  # type: ignore[no-untyped-def]
    src = make()
    f = [_peak_hz(_render(src, t0, 4.0), lo, hi) for t0 in (0.0, 20.0, 40.0, 60.0, 80.0)]
    spread = (max(f) - min(f)) / np.mean(f)
    print(f"{type(src).__name__}: line {np.round(f, 3)} Hz over 80 s, spread {100 * spread:.4f} %")
    assert spread < 1e-3  # < 0.1 % over a minute (drones wobble 0.5–5 %)
    assert np.mean(f) == pytest.approx(nominal, rel=1e-3)  # exactly k·50 Hz for the hum


@pytest.mark.parametrize("sweep_hz", [0.5, 3.0])
def test_siren_sweep_range_and_rate(sweep_hz: float) -> None:
    siren = Siren("s", Track.fixed((100.0, 0.0, 1.0)), 8, 20.0, f_lo_hz=600.0, f_hi_hz=1400.0,
                  sweep_hz=sweep_hz)  # fmt: skip
    x = _render(siren, 2.0, 8.0)
    f, t, z = stft(x, fs=FS, nperseg=512, noverlap=448)
    band = (f > 300) & (f < 2000)
    track = f[band][np.argmax(np.abs(z[band]), axis=0)][4:-4]
    rate = np.fft.rfftfreq(len(track), t[1] - t[0])
    spec = np.abs(np.fft.rfft(track - track.mean()))
    measured = float(rate[np.argmax(spec)])
    print(f"siren {sweep_hz} Hz: f0 {track.min():.0f}–{track.max():.0f} Hz, "
          f"sweep rate {measured:.2f} Hz")  # fmt: skip
    assert track.min() == pytest.approx(600.0, rel=0.05)
    assert track.max() == pytest.approx(1400.0, rel=0.05)
    assert measured == pytest.approx(sweep_hz, rel=0.15)


def test_car_horn_pair() -> None:
    horn = CarHorn("c", Track.fixed((30.0, 0.0, 1.0)), 9, 120.0, honks_per_min=20.0)
    x = _render(horn, 0.0, 60.0)
    print(f"horn pair: {_peak_hz(x, 350, 450):.1f} Hz and {_peak_hz(x, 450, 550):.1f} Hz")
    assert _peak_hz(x, 350, 450) == pytest.approx(400.0, abs=0.5)
    assert _peak_hz(x, 450, 550) == pytest.approx(500.0, abs=0.5)
    frames = x.reshape(-1, 1600)
    on = np.sqrt(np.mean(frames**2, axis=1))
    assert np.mean(on < 1e-3 * on.max()) > 0.3  # honks, not a drone


def test_voice_syllabic_am_and_pitch_contours() -> None:
    v = Voice("v", Track.fixed((5.0, 0.0, 1.6)), 10, 40.0, f0_hz=120.0, syllable_hz=4.5)
    x = _render(v, 2.0, 16.0)
    env = np.sqrt(np.mean(x.reshape(-1, 160) ** 2, axis=1))  # 10 ms RMS
    e = env - env.mean()
    fr = np.fft.rfftfreq(len(e), 0.01)
    am = float(fr[np.argmax(np.where((fr > 1) & (fr < 20), np.abs(np.fft.rfft(e)), 0))])
    f0 = v.f0_track()
    rate = np.abs(np.diff(np.log(f0))) * v.control_rate_hz
    print(f"voice: AM peak {am:.2f} Hz, pitch {f0.min():.0f}–{f0.max():.0f} Hz, "
          f"median |d ln f0/dt| {100 * np.median(rate):.0f} %/s")  # fmt: skip
    assert 4.0 <= am <= 5.0
    assert f0.min() >= 85.0 and f0.max() <= 255.0
    assert 0.2 <= float(np.median(rate)) <= 0.5


def test_music_moves_in_semitones() -> None:
    m = Music("m", Track.fixed((10.0, 0.0, 2.0)), 11, 20.0)
    for line in m.notes():
        steps = 12 * np.log2(line / m.tonic_hz)
        assert np.allclose(steps, np.round(steps), atol=1e-9)
        assert len(np.unique(np.round(steps))) > 3


def test_wind_spectrum_and_windscreen() -> None:
    w20 = Wind("w", 1, 20.0, wind_speed_m_s=5.0, windscreen_db=20.0)
    w10 = Wind("w", 1, 20.0, wind_speed_m_s=5.0, windscreen_db=10.0)
    x20, x10 = _render(w20, 3.0, 4.0), _render(w10, 3.0, 4.0)
    f, p = welch(x20, fs=FS, nperseg=4096)
    sel = (f > 15) & (f < 100)
    slope = float(np.polyfit(np.log10(f[sel]), 10 * np.log10(p[sel]), 1)[0])
    gain = 20 * math.log10(np.std(x10) / np.std(x20))
    print(f"wind: PSD slope {slope:.1f} dB/decade below 100 Hz (1/f² = −20), "
          f"windscreen 10 vs 20 dB: {gain:.1f} dB; {_dba(x20):.1f} dBA")  # fmt: skip
    assert slope == pytest.approx(-20.0, abs=3.0)
    assert gain == pytest.approx(10.0, abs=0.5)
    assert np.sum(p[f < 200]) > 0.9 * np.sum(p)  # the energy sits below ~200 Hz


def test_traffic_pass_bys() -> None:
    tr = Traffic("road", 12, 120.0, (-150.0, 40.0, 0.5), (150.0, 40.0, 0.5),
                 vehicles_per_min=3.0)  # fmt: skip
    durations = [v.exit_s - v.enter_s for v in tr.vehicles]
    assert all(15.0 <= d <= 30.0 for d in durations)  # 300 m at 10–20 m/s: audible 5–15 s
    v = next(v for v in tr.vehicles if v.enter_s > 5.0)
    mid = 0.5 * (v.enter_s + v.exit_s)
    x = tr.pressure_pa(np.array([MIC]), mid, FS, 16000)[0]
    f, p = welch(x, fs=FS, nperseg=2048)
    tyre = np.sum(p[(f > 700) & (f < 1300)]) / np.sum(p[(f > 300) & (f < 3000)])
    assert tyre > 0.4
    assert 25.0 <= v.rpm / 30.0 <= 150.0


def _continuous() -> list[Confuser]:
    at = Track.fixed((20.0, 0.0, 0.0))
    return [Helicopter("h", at, 1, 30.0), Aircraft("a", at, 1, 30.0), Mower("m", at, 1, 30.0),
            Genset("g", at, 1, 30.0), TransformerHum("t", at, 1, 30.0),
            HvacFan("f", at, 1, 30.0), Siren("s", at, 1, 30.0, sweep_hz=1.0)]  # fmt: skip


@pytest.mark.parametrize("src", _continuous(), ids=lambda s: type(s).__name__)
def test_confuser_levels_follow_l_wa(src: Confuser) -> None:
    x = _render(src, 5.0, 2.0)
    heard = np.linspace(5.0, 7.0, 81)  # power mean over the frame (a siren sweeps A(f))
    expected = 10 * math.log10(np.mean([10 ** (src.level_dba(MIC, t) / 10) for t in heard]))
    lw = src.l_wa_db
    print(f"{type(src).__name__}: {_dba(x):.1f} dBA at 20 m, level_dba {expected:.1f}, "
          f"L_WA − 11 − 20·lg 20 = {lw - 11 - 20 * math.log10(20):.1f}")  # fmt: skip
    assert _dba(x) == pytest.approx(expected, abs=1.0)
    assert expected == pytest.approx(lw - 11 - 20 * math.log10(20.0), abs=0.5)
    assert src.kind == "other"


def _scene(seed: int) -> list[AcousticSource]:
    return [
        RotorSource("d", flyby_track(10.0, (0.0, 40.0, 30.0), 0.0, 8.0, 20.0), seed, 60.0),
        Helicopter("h", flyby_track(20.0, (0.0, 900.0, 200.0), 30.0, 45.0, 40.0), seed, 60.0),
        Mower("m", Track.fixed((40.0, -20.0, 0.5)), seed, 60.0),
        Genset("g", Track.fixed((-60.0, 15.0, 1.0)), seed, 60.0),
    ]


def _array(fs: float = FS) -> AudioCollector:
    return AudioCollector(SensorSpec("a", "acoustic", "audio", (0.0, 0.0, 2.0), "z"),
                          sample_rate_hz=fs, mic_offsets_m=circular_array(4, 0.25),
                          medium=Medium(ground_reflection=0.8))  # fmt: skip


def test_determinism() -> None:
    a = _array().render(_scene(5), 12.0, np.random.default_rng(1))
    b = _array().render(_scene(5), 12.0, np.random.default_rng(1))
    c = _array().render(_scene(6), 12.0, np.random.default_rng(1))
    assert a.shape == (4, 16000)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("ground", [0.0, 0.8])
def test_render_cost(ground: float) -> None:
    """1 s of 16 kHz audio, a drone and 3 confusers, 4 microphones."""
    arr = AudioCollector(SensorSpec("a", "acoustic", "audio", (0.0, 0.0, 2.0), "z"),
                         mic_offsets_m=circular_array(4, 0.25),
                         medium=Medium(ground_reflection=ground))  # fmt: skip
    scene = _scene(1)
    rng = np.random.default_rng(0)
    arr.render(scene, 5.0, rng)  # builds each source's emission once per pass
    times = []
    for k in range(6, 12):
        t = time.perf_counter()
        arr.render(scene, float(k), rng)
        times.append(time.perf_counter() - t)
    best, med = 1e3 * min(times), 1e3 * float(np.median(times))
    print(f"render cost, ground R={ground}: {med:.1f} ms median, {best:.1f} ms best per frame")
    assert med < 400.0  # generous for slow CI; see the printed figure
