"""Acoustic confusers: things a microphone at a prison wall hears that are not drones.

One class per entry of SIGNALS.md §4 "Confusers" (labels in `signature`, kind 'other'):
helicopter, aircraft (piston or jet), mower and strimmer (`mower_strimmer`), genset,
transformer hum and HVAC fan (`generator_hvac`), siren and car horn (`siren_horn`),
voice and music (`voice_music`), wind on the microphone (`wind`) and road traffic
(`traffic`). All but `Wind` and `Traffic` are `EmittingSource`s: a point on a `Track`
(moving ones get Doppler from the retarded time), calibrated so that their emission
while running has sound power `l_wa_db` (A-weighted), Lp(1 m) = L_WA − 11. Levels are
typical values (assumptions), ranges in the docstrings.

`flyby_track` builds the straight constant-speed passes aircraft, helicopters and cars
make.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, Literal

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d

from simulator.acoustic_emitters import (
    FREE_FIELD,
    SILENT_DB,
    Emission,
    EmittingSource,
    FloatArray,
    HarmonicSeries,
    Medium,
    NoiseBand,
    PsdFunction,
    a_weighted_power,
    ou_process,
)
from simulator.noise import complex_gaussian
from simulator.propagation import REFERENCE_PRESSURE_PA, a_weighting_db, db_to_power
from simulator.trajectory import Track, Vec3, Waypoint

AIR_DENSITY_KG_M3 = 1.225


def flyby_track(
    t_closest_s: float, closest_m: Vec3, heading_deg: float, speed_m_s: float, half_span_s: float
) -> Track:
    """Straight pass at constant speed through `closest_m` at `t_closest_s` (heading from +x
    towards +y), from t_closest − half_span to t_closest + half_span (held outside)."""
    h = math.radians(heading_deg)
    d = np.array([math.cos(h), math.sin(h), 0.0]) * speed_m_s * half_span_s
    a = np.asarray(closest_m) - d
    b = np.asarray(closest_m) + d
    return Track([Waypoint(t_closest_s - half_span_s, *map(float, a)),
                  Waypoint(t_closest_s + half_span_s, *map(float, b))])  # fmt: skip


def _cycles(f_hz: FloatArray, dt_s: float) -> FloatArray:
    return np.asarray(np.cumsum(f_hz) * dt_s, dtype=np.float64)


def _rolloff(n: int, *, flat: int, db_per_harmonic: float) -> FloatArray:
    k = np.arange(1, n + 1)
    return np.asarray(10 ** (-db_per_harmonic * np.maximum(k - flat, 0) / 20.0), dtype=np.float64)


def _pink(f: FloatArray, *, lo_hz: float = 30.0, hi_hz: float = 4000.0) -> FloatArray:
    """1/f between a 2nd-order high-pass at lo_hz and a 2nd-order low-pass at hi_hz."""
    ff = np.maximum(f, 1.0)
    return np.asarray(
        (ff**2 / (ff**2 + lo_hz**2)) / ff / (1.0 + (ff / hi_hz) ** 4), dtype=np.float64
    )


def _band(f: FloatArray, lo_hz: float, hi_hz: float) -> FloatArray:
    """Smooth band-pass (log-Gaussian between lo_hz and hi_hz), peak 1/Hz-ish."""
    ff = np.maximum(f, 1.0)
    centre = math.sqrt(lo_hz * hi_hz)
    width = math.log(hi_hz / lo_hz) / 2.0
    return np.asarray(np.exp(-0.5 * (np.log(ff / centre) / width) ** 2) / centre, dtype=np.float64)


def _smooth_gate(on: NDArray[np.bool_], dt_s: float, ramp_s: float = 0.01) -> FloatArray:
    """0/1 gate → envelope in dB with linear ramps of ramp_s (silent = SILENT_DB)."""
    n = max(1, round(ramp_s / dt_s))
    # a box of n samples, zero outside: np.convolve(on, ones(n) / n, "same") in O(len)
    g = uniform_filter1d(on.astype(np.float64), n, mode="constant")
    return np.asarray(20 * np.log10(np.maximum(g, 10 ** (SILENT_DB / 20))), dtype=np.float64)


@dataclass
class Confuser(EmittingSource):
    """A point source calibrated to sound power `l_wa_db` (A-weighted, while running)."""

    l_wa_db: float = 90.0
    kind: str = "other"
    signature: str = "other"

    def _calibrated(
        self,
        t_s: FloatArray,
        tones: list[HarmonicSeries],
        noises: list[tuple[float, NoiseBand]],
        gain_db: FloatArray | None = None,
    ) -> Emission:
        """Scale so that the nominal emission has Lp(1 m) = l_wa_db − 11 dB(A).

        tones: relative amplitudes (1.0 = the top line); noises: (band power in dB re the
        power of a unit-amplitude line, band with any PSD shape)."""
        freqs = np.arange(5.0, 12_000.0, 5.0)
        total = 0.0
        for s in tones:
            f = np.arange(1, len(s.amplitudes_pa) + 1) * s.nominal_f0_hz
            total += float(np.sum(0.5 * s.amplitudes_pa**2 * 10 ** (a_weighting_db(f) / 10)))
        weights = []
        for power_db, band in noises:
            shape = band.psd_pa2_hz(freqs)
            weights.append(0.5 * db_to_power(power_db) / (float(np.sum(shape)) * 5.0))
            total += weights[-1] * a_weighted_power(shape, freqs)
        target = REFERENCE_PRESSURE_PA**2 * db_to_power(self.l_wa_db - 11.0)
        k2 = target / total
        k = math.sqrt(k2)
        out_tones = tuple(
            HarmonicSeries(s.cycles, s.amplitudes_pa * k, s.phases_rad, s.nominal_f0_hz, s.gain_db)
            for s in tones
        )
        out_noises = tuple(
            NoiseBand(_ScaledPsd(band.psd_pa2_hz, w * k2), band.gain_db)
            for w, (_db, band) in zip(weights, noises, strict=True)
        )
        return Emission(t_s=t_s, tones=out_tones, noises=out_noises, gain_db=gain_db)


@dataclass(frozen=True)
class _ScaledPsd:
    fn: PsdFunction
    c: float

    def __call__(self, f: FloatArray) -> FloatArray:
        return np.asarray(self.fn(f) * self.c, dtype=np.float64)


def _series(
    cycles: FloatArray, rel: FloatArray, nominal_f0_hz: float, rng: np.random.Generator, *,
    impulsive: float = 0.0, gain_db: FloatArray | None = None,
) -> HarmonicSeries:  # fmt: skip
    """A harmonic series with relative amplitudes; `impulsive` in [0, 1] aligns the phases
    (a pulse train, high crest factor) instead of drawing them at random."""
    ph = rng.uniform(0, 2 * np.pi, len(rel)) * (1.0 - impulsive)
    return HarmonicSeries(cycles, np.asarray(rel, dtype=np.float64), ph, nominal_f0_hz, gain_db)


# ---------------------------------------------------------------- aircraft


@dataclass
class Helicopter(Confuser):
    """Main rotor comb at `main_bpf_hz` (10–30 Hz), tail-rotor comb at `tail_bpf_hz` (50–120
    Hz, geared to the main rotor), turbine whine (kHz), broadband; L_WA ≈ 130–140 dB."""

    l_wa_db: float = 135.0
    signature: str = "helicopter"
    main_bpf_hz: float = 18.0
    main_harmonics: int = 16
    tail_bpf_hz: float = 77.0
    tail_harmonics: int = 10
    tail_db: float = -8.0  # tail-rotor top line re the main-rotor top line
    turbine_hz: float = 4500.0
    turbine_db: float = -30.0
    broadband_db: float = -6.0  # broadband power re the main rotor's top line
    rpm_sigma: float = 0.002  # governed rotor speed: ±0.2 %
    rpm_tau_s: float = 5.0

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0x4E1)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        rpm = 1.0 + ou_process(rng, (len(t),), dt, self.rpm_sigma, self.rpm_tau_s)
        main = _cycles(self.main_bpf_hz * rpm, dt)
        tones = [
            _series(main, _rolloff(self.main_harmonics, flat=3, db_per_harmonic=2.0),
                    self.main_bpf_hz, rng, impulsive=0.7),  # blade slap: impulsive
            _series(main * (self.tail_bpf_hz / self.main_bpf_hz),
                    10 ** (self.tail_db / 20) * _rolloff(self.tail_harmonics, flat=2,
                                                         db_per_harmonic=3.0),
                    self.tail_bpf_hz, rng),
            _series(_cycles(self.turbine_hz * (1 + 0.5 * (rpm - 1)), dt),
                    np.array([10 ** (self.turbine_db / 20), 10 ** ((self.turbine_db - 10) / 20)]),
                    self.turbine_hz, rng),
        ]  # fmt: skip
        bb = NoiseBand(lambda f: _pink(f, lo_hz=20.0, hi_hz=3000.0))
        return self._calibrated(t, tones, [(self.broadband_db, bb)])


@dataclass
class Aircraft(Confuser):
    """Piston prop: BPF `prop_bpf_hz` (70–90 Hz, 2-blade at 2.1–2.7 k RPM) + harmonics and
    exhaust broadband; jet: broadband hump (≈ 0.3–2 kHz) + fan tones at `fan_bpf_hz`.
    L_WA ≈ 120–130 dB (piston), 135–150 dB (jet)."""

    l_wa_db: float = 125.0
    signature: str = "aircraft"
    engine: Literal["piston", "jet"] = "piston"
    prop_bpf_hz: float = 80.0
    prop_harmonics: int = 15
    fan_bpf_hz: float = 2400.0
    broadband_db: float = -8.0
    rpm_sigma: float = 0.003
    rpm_tau_s: float = 3.0

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0xA1C)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        rpm = 1.0 + ou_process(rng, (len(t),), dt, self.rpm_sigma, self.rpm_tau_s)
        if self.engine == "piston":
            tones = [_series(_cycles(self.prop_bpf_hz * rpm, dt),
                             _rolloff(self.prop_harmonics, flat=2, db_per_harmonic=3.0),
                             self.prop_bpf_hz, rng, impulsive=0.5)]  # fmt: skip
            bb = NoiseBand(lambda f: _pink(f, lo_hz=40.0, hi_hz=2500.0))
            return self._calibrated(t, tones, [(self.broadband_db, bb)])
        tones = [_series(_cycles(self.fan_bpf_hz * rpm, dt), np.array([1.0, 0.3, 0.1]),
                         self.fan_bpf_hz, rng)]  # fmt: skip
        jet = NoiseBand(lambda f: _band(f, 250.0, 2000.0))
        return self._calibrated(t, tones, [(15.0, jet)])  # jets: broadband-dominated


# ---------------------------------------------------------------- grounds machinery


@dataclass
class Mower(Confuser):
    """4-stroke mower: firing `rpm`/120 (2.8–3.3 k RPM → 23–28 Hz), blade line at `rpm`/60
    (47–55 Hz), dense comb of firing harmonics over 100–1000 Hz, impulsive exhaust; slow
    load dips as it cuts. L_WA ≈ 88–96 dB."""

    l_wa_db: float = 92.0
    signature: str = "mower_strimmer"
    rpm: float = 3000.0
    harmonics: int = 60
    blade_db: float = 6.0
    rpm_sigma: float = 0.01
    rpm_tau_s: float = 1.0
    load_dip: float = 0.05  # RPM sags this much under thick grass
    load_every_s: float = 8.0

    def firing_hz(self) -> float:
        return self.rpm / 120.0

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0x307)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        dips = np.zeros(len(t))
        for t_dip in np.arange(rng.uniform(0, self.load_every_s), t[-1], self.load_every_s):
            dips += self.load_dip * np.exp(-0.5 * ((t - t_dip) / 0.6) ** 2)
        rpm = (1.0 + ou_process(rng, (len(t),), dt, self.rpm_sigma, self.rpm_tau_s)) * (1 - dips)
        k = np.arange(1, self.harmonics + 1)
        f0 = self.firing_hz()
        rel = np.where(
            k * f0 <= 1000.0, 10 ** (-0.02 * k), 10 ** (-0.02 * k) * (1000 / (k * f0)) ** 2
        )
        rel[1] *= 10 ** (self.blade_db / 20)  # k = 2: the blade line at RPM/60
        rel *= 10 ** (rng.uniform(-3, 3, len(k)) / 20)
        tones = [_series(_cycles(f0 * rpm, dt), rel, f0, rng, impulsive=0.6)]
        bb = NoiseBand(lambda f: _pink(f, lo_hz=50.0, hi_hz=3000.0))
        return self._calibrated(t, tones, [(-7.0, bb)])


@dataclass
class Strimmer(Confuser):
    """2-stroke strimmer/blower/chainsaw: firing = RPM/60, idle ≈ `idle_rpm`, bursts to
    `full_rpm` (7–13 k RPM → 115–220 Hz) with fast throttle sweeps, rich harmonics with an
    odd/even pattern, impulsive exhaust. L_WA ≈ 100–112 dB."""

    l_wa_db: float = 108.0
    signature: str = "mower_strimmer"
    idle_rpm: float = 3200.0
    full_rpm: float = 10_000.0
    harmonics: int = 30
    sweep_s: float = 0.4  # throttle ramp time
    burst_s: tuple[float, float] = (1.0, 4.0)  # full-throttle durations
    idle_s: tuple[float, float] = (0.5, 3.0)
    even_db: float = -4.0

    def throttle_rpm(self, loop_index: int = 0) -> FloatArray:
        """Engine speed on the control grid, RPM."""
        rng = self.rng(loop_index, 0x251)
        t = self.control_grid()
        target = np.full(len(t), self.idle_rpm)
        s = float(t[0]) + rng.uniform(*self.idle_s)
        while s < t[-1]:
            e = s + rng.uniform(*self.burst_s)
            target[(t >= s) & (t < e)] = self.full_rpm * rng.uniform(0.9, 1.1)
            s = e + rng.uniform(*self.idle_s)
        n = max(1, round(self.sweep_s * self.control_rate_hz))
        padded = np.concatenate([np.full(n, target[0]), target])
        c = np.cumsum(padded)
        return np.asarray((c[n:] - c[:-n]) / n, dtype=np.float64)  # moving-average ramps

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0x252)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        rpm = self.throttle_rpm(loop_index)
        k = np.arange(1, self.harmonics + 1)
        rel = _rolloff(self.harmonics, flat=2, db_per_harmonic=1.5)
        rel = np.where(k % 2 == 0, rel * 10 ** (self.even_db / 20), rel)
        # louder at full throttle: +12 dB from idle to full
        gain = 12.0 * (rpm - self.full_rpm) / (self.full_rpm - self.idle_rpm)
        f_nom = self.full_rpm / 60.0
        tones = [_series(_cycles(rpm / 60.0, dt), rel, f_nom, rng, impulsive=0.8, gain_db=gain)]
        bb = NoiseBand(lambda f: _pink(f, lo_hz=100.0, hi_hz=6000.0), gain_db=gain)
        return self._calibrated(t, tones, [(-5.0, bb)])


@dataclass
class Genset(Confuser):
    """Diesel genset: shaft `mains_hz`/pole pairs (1 500/1 800 RPM → 25/30 Hz), firing at
    shaft·cylinders/2 (50–90 Hz) and its harmonics, governed to < 0.05 %; runs 24/7.
    L_WA ≈ 95–105 dB."""

    l_wa_db: float = 100.0
    signature: str = "generator_hvac"
    mains_hz: float = 50.0
    pole_pairs: int = 2
    cylinders: int = 4
    harmonics: int = 40  # of the shaft rate
    speed_sigma: float = 2e-4
    speed_tau_s: float = 10.0

    def shaft_hz(self) -> float:
        return self.mains_hz / self.pole_pairs

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0x6E5)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        speed = 1.0 + ou_process(rng, (len(t),), dt, self.speed_sigma, self.speed_tau_s)
        k = np.arange(1, self.harmonics + 1)
        order = self.cylinders / 2.0
        firing = np.isclose(np.mod(k, order), 0.0) | np.isclose(np.mod(k, order), order)
        rel = np.where(firing, 1.0, 0.15) * 10 ** (-0.6 * np.maximum(k / order - 2, 0) / 20)
        rel[0] = 0.3  # shaft (imbalance)
        f0 = self.shaft_hz()
        tones = [_series(_cycles(f0 * speed, dt), rel, f0, rng, impulsive=0.3)]
        bb = NoiseBand(lambda f: _pink(f, lo_hz=40.0, hi_hz=2000.0))
        return self._calibrated(t, tones, [(-10.0, bb)])


@dataclass
class TransformerHum(Confuser):
    """Transformer / mains hum: lines exactly at k·`mains_hz` (100 Hz strongest, 150, 200,
    300 …), following the grid frequency (± 0.01 %). L_WA ≈ 65–85 dB."""

    l_wa_db: float = 75.0
    signature: str = "generator_hvac"
    mains_hz: float = 50.0
    #: relative dB of harmonics k = 1.. of mains_hz (k = 2 is magnetostriction's 100 Hz)
    line_db: tuple[float, ...] = (-30.0, 0.0, -12.0, -6.0, -20.0, -10.0, -25.0, -15.0)
    grid_sigma: float = 1e-4
    grid_tau_s: float = 30.0

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0x7F0)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        grid = 1.0 + ou_process(rng, (len(t),), dt, self.grid_sigma, self.grid_tau_s)
        rel = 10 ** (np.array(self.line_db) / 20)
        tones = [_series(_cycles(self.mains_hz * grid, dt), rel, self.mains_hz, rng)]
        return self._calibrated(t, tones, [])


@dataclass
class HvacFan(Confuser):
    """Fan of an HVAC unit: BPF = RPM/60·blades (≈ 50–300 Hz) and harmonics, a shaft line,
    motor hum at 2·mains, airflow broadband; speed stable (< 0.05 %). L_WA ≈ 80–95 dB."""

    l_wa_db: float = 88.0
    signature: str = "generator_hvac"
    fan_rpm: float = 1450.0
    blades: int = 7
    bpf_harmonics: int = 6
    mains_hz: float = 50.0
    broadband_db: float = 5.0  # airflow power re the top line (HVAC is mostly broadband)
    speed_sigma: float = 3e-4
    speed_tau_s: float = 20.0

    def bpf_hz(self) -> float:
        return self.fan_rpm / 60.0 * self.blades

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0xFA7)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        speed = 1.0 + ou_process(rng, (len(t),), dt, self.speed_sigma, self.speed_tau_s)
        shaft = self.fan_rpm / 60.0
        rel = np.zeros(self.blades * self.bpf_harmonics)
        rel[self.blades - 1 :: self.blades] = _rolloff(self.bpf_harmonics, flat=1,
                                                       db_per_harmonic=5.0)  # fmt: skip
        rel[0] = 0.1
        hum = np.array([0.0, 0.3])
        tones = [
            _series(_cycles(shaft * speed, dt), rel, shaft, rng),
            _series(_cycles(np.full(len(t), self.mains_hz), dt), hum, self.mains_hz, rng),
        ]
        bb = NoiseBand(lambda f: _pink(f, lo_hz=60.0, hi_hz=4000.0))
        return self._calibrated(t, tones, [(self.broadband_db, bb)])


# ---------------------------------------------------------------- sirens and horns


@dataclass
class Siren(Confuser):
    """Emergency siren: f0 sweeping `f_lo_hz`…`f_hi_hz` (≈ 0.5–1.5 kHz) at `sweep_hz`
    (0.2–4 Hz: wail to yelp), few harmonics (`harmonic_db` each). L_WA ≈ 125–135 dB."""

    l_wa_db: float = 130.0
    signature: str = "siren_horn"
    f_lo_hz: float = 600.0
    f_hi_hz: float = 1400.0
    sweep_hz: float = 0.3
    harmonics: int = 3
    harmonic_db: float = -15.0

    def f0_hz(self, t_s: FloatArray) -> FloatArray:
        mid, half = 0.5 * (self.f_lo_hz + self.f_hi_hz), 0.5 * (self.f_hi_hz - self.f_lo_hz)
        return np.asarray(mid - half * np.cos(2 * np.pi * self.sweep_hz * t_s), dtype=np.float64)

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0x515)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        rel = 10 ** (self.harmonic_db * np.arange(self.harmonics) / 20)
        mid = 0.5 * (self.f_lo_hz + self.f_hi_hz)
        return self._calibrated(t, [_series(_cycles(self.f0_hz(t), dt), rel, mid, rng)], [])


@dataclass
class CarHorn(Confuser):
    """Two-tone car horn (`f_low_hz`, `f_high_hz` in 350–500 Hz), square-ish spectrum, honks
    at random (`honks_per_min`, 0.3–1.5 s each). L_WA ≈ 120–130 dB."""

    l_wa_db: float = 125.0
    signature: str = "siren_horn"
    f_low_hz: float = 400.0
    f_high_hz: float = 500.0
    harmonics: int = 12
    honks_per_min: float = 3.0
    honk_s: tuple[float, float] = (0.3, 1.5)

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0x4A5)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        on = np.zeros(len(t), dtype=bool)
        s = float(t[0]) + rng.exponential(60.0 / self.honks_per_min)
        while s < t[-1]:
            on[(t >= s) & (t < s + rng.uniform(*self.honk_s))] = True
            s += rng.exponential(60.0 / self.honks_per_min) + self.honk_s[1]
        gate = _smooth_gate(on, dt)
        k = np.arange(1, self.harmonics + 1)
        rel = np.where(k % 2 == 1, 1.0 / k, 0.3 / k)
        tones = [_series(_cycles(np.full(len(t), f), dt), rel, f, rng, gain_db=gate)
                 for f in (self.f_low_hz, self.f_high_hz)]  # fmt: skip
        return self._calibrated(t, tones, [])


# ---------------------------------------------------------------- voices and music


@dataclass
class Voice(Confuser):
    """Speech: f0 around `f0_hz` (85–255 Hz; 400+ shouting) with contours moving ≈ 20–50 %/s,
    harmonics to 4 kHz (−6 dB/octave), syllabic AM at `syllable_hz` (4–5 Hz) in talk spurts
    of < 2 s, fricative noise 2–6 kHz. L_WA ≈ 75–100 dB (normal to shouting)."""

    l_wa_db: float = 85.0
    signature: str = "voice_music"
    f0_hz: float = 120.0
    syllable_hz: float = 4.5
    contour_sigma: float = 0.06  # log-f0 spread of syllable targets
    spurt_s: tuple[float, float] = (0.6, 2.0)
    pause_s: tuple[float, float] = (0.2, 1.0)

    def f0_track(self, loop_index: int = 0) -> FloatArray:
        """f0 on the control grid, Hz: piecewise-linear in log f0 between syllable targets."""
        rng = self.rng(loop_index, 0x701)
        t = self.control_grid()
        knots = np.arange(t[0], t[-1] + 1.0, 1.0 / self.syllable_hz)
        targets = np.clip(rng.normal(0.0, self.contour_sigma, len(knots)), -0.3, 0.3)
        return np.asarray(self.f0_hz * np.exp(np.interp(t, knots, targets)), dtype=np.float64)

    def envelope_db(self, loop_index: int = 0) -> FloatArray:
        rng = self.rng(loop_index, 0x702)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        on = np.zeros(len(t), dtype=bool)
        s = float(t[0])
        while s < t[-1]:
            e = s + rng.uniform(*self.spurt_s)
            on[(t >= s) & (t < e)] = True
            s = e + rng.uniform(*self.pause_s)
        syll = 0.5 * (1.0 - np.cos(2 * np.pi * self.syllable_hz * t))  # 4–5 Hz syllabic AM
        am = 20 * np.log10(np.maximum(0.05 + 0.95 * syll, 1e-6))
        return np.asarray(_smooth_gate(on, dt, 0.03) + am, dtype=np.float64)

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0x703)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        f0 = self.f0_track(loop_index)
        n = max(1, int(4000.0 / self.f0_hz))
        k = np.arange(1, n + 1)
        # −6 dB/octave with two formant bumps (≈ 500 Hz, 1.5 kHz) at the nominal f0
        fk = k * self.f0_hz
        formants = (
            1 + 2 * np.exp(-0.5 * ((fk - 500) / 150) ** 2) + np.exp(-0.5 * ((fk - 1500) / 300) ** 2)
        )
        rel = formants / k
        env = self.envelope_db(loop_index)
        tones = [_series(_cycles(f0, dt), rel, self.f0_hz, rng, gain_db=env)]
        fric = NoiseBand(lambda f: _band(f, 2000.0, 6000.0), gain_db=env - 6.0)
        return self._calibrated(t, tones, [(-13.0, fric)])


@dataclass
class Music(Confuser):
    """Music from a radio or PA: `voices` melodic lines stepping in semitones (×2^(1/12))
    on a major scale from `tonic_hz`, notes on the beat at `tempo_bpm`, plucked envelopes,
    harmonics with 1/k roll-off, and a bass line an octave below. L_WA ≈ 80–100 dB."""

    l_wa_db: float = 90.0
    signature: str = "voice_music"
    tonic_hz: float = 220.0
    tempo_bpm: float = 120.0
    voices: int = 2
    harmonics: int = 8
    decay_s: float = 0.35

    SCALE: ClassVar[tuple[int, ...]] = (0, 2, 4, 5, 7, 9, 11, 12)

    def notes(self, loop_index: int = 0) -> list[FloatArray]:
        """f0 of each line on the control grid (bass first), Hz."""
        rng = self.rng(loop_index, 0x3A1)
        t = self.control_grid()
        beat = 60.0 / self.tempo_bpm
        idx = np.floor((t - t[0]) / beat).astype(int)
        n_beats = int(idx[-1]) + 1
        lines = []
        for v in range(self.voices + 1):
            steps = rng.choice(self.SCALE, n_beats)
            octave = -12 if v == 0 else 12 * (v - 1)
            lines.append(self.tonic_hz * 2.0 ** ((steps[idx] + octave) / 12.0))
        return lines

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0x3A2)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        beat = 60.0 / self.tempo_bpm
        since = np.mod(t - t[0], beat)
        pluck = 20 * np.log10(np.maximum(np.exp(-since / self.decay_s), 1e-6))
        pluck = np.where(since < 0.01, pluck + 20 * np.log10(np.maximum(since / 0.01, 1e-3)),
                         pluck)  # fmt: skip
        rel = 1.0 / np.arange(1, self.harmonics + 1)
        tones = [
            _series(_cycles(f, dt), rel * (1.5 if i == 0 else 1.0), float(np.median(f)), rng,
                    gain_db=pluck)
            for i, f in enumerate(self.notes(loop_index))
        ]  # fmt: skip
        return self._calibrated(t, tones, [])


# ---------------------------------------------------------------- wind on the microphone


@dataclass
class Wind:
    """Wind noise on the microphone itself: gusty pseudo-noise ∝ 1/f² below `corner_hz`
    (≈ 200 Hz), falling fast above, independent between microphones (turbulence is
    incoherent beyond a few cm). RMS ≈ `turbulence`·½ρU² unscreened (assumption),
    less `windscreen_db` (10–30 dB); gusts: U(t) = U·(1 + OU σ, τ), pressure ∝ U²."""

    emitter_id: str
    seed: int
    duration_s: float
    wind_speed_m_s: float = 3.0
    windscreen_db: float = 20.0
    gust_sigma: float = 0.35
    gust_tau_s: float = 2.0
    corner_hz: float = 200.0
    low_hz: float = 2.0
    turbulence: float = 0.15
    kind: str = "other"
    signature: str = "wind"
    _gusts: dict[int, tuple[FloatArray, FloatArray]] = field(
        init=False, repr=False, default_factory=dict
    )

    def shape(self, f: FloatArray) -> FloatArray:
        ff = np.maximum(f, 0.1)
        return np.asarray(
            1.0 / (ff**2 + self.low_hz**2) / (1.0 + (ff / self.corner_hz) ** 4), dtype=np.float64
        )

    def rms_pa(self) -> float:
        q = 0.5 * AIR_DENSITY_KG_M3 * self.wind_speed_m_s**2
        return self.turbulence * q * 10 ** (-self.windscreen_db / 20)

    def gust_factor(self, loop_index: int = 0) -> tuple[FloatArray, FloatArray]:
        """(t_s, pressure factor (U(t)/U)²) on a 20 Hz grid over the pass."""
        got = self._gusts.get(loop_index)
        if got is None:
            dt = 0.05
            t = np.arange(-1.0, self.duration_s + 2.0, dt)
            rng = np.random.default_rng([self.seed, loop_index, 0x917])
            u = np.maximum(1.0 + ou_process(rng, (len(t),), dt, self.gust_sigma, self.gust_tau_s),
                           0.0)  # fmt: skip
            got = (t, np.asarray(u**2 / np.mean(u**2), dtype=np.float64))
            self._gusts = {loop_index: got}
        return got

    def pressure_pa(
        self,
        mics_m: FloatArray,
        t0_s: float,
        sample_rate_hz: float,
        n: int,
        loop_index: int = 0,
        medium: Medium = FREE_FIELD,
    ) -> FloatArray:
        """(m, n) Pa, independent per microphone (keyed by its position), gusty."""
        del medium
        mics = np.atleast_2d(np.asarray(mics_m, dtype=np.float64))
        f = np.asarray(np.fft.rfftfreq(n, 1.0 / sample_rate_hz), dtype=np.float64)
        s = self.shape(f)
        s[0] = 0.0
        df = sample_rate_hz / n
        s *= self.rms_pa() ** 2 / (np.sum(s) * df)
        scale = np.sqrt(s * sample_rate_hz * n / 4.0)
        out = np.empty((len(mics), n))
        frame = round(t0_s * sample_rate_hz)
        for i, pos in enumerate(mics):
            key = [int(b) for b in np.frombuffer(pos.tobytes(), dtype=np.uint64)]
            rng = np.random.default_rng([self.seed, loop_index, frame + (1 << 40), *key])
            spec = complex_gaussian(rng, len(f))
            out[i] = scipy.fft.irfft(spec * scale, n)
        tg, g = self.gust_factor(loop_index)
        t = t0_s + np.arange(n) / sample_rate_hz
        return np.asarray(out * np.interp(t, tg, g)[None, :], dtype=np.float64)

    @cached_property
    def _a_weighted_pa2(self) -> float:
        """A-weighted pressure² of the steady wind (before gusts)."""
        f = np.arange(0.5, 12_000.0, 0.5)
        s = self.shape(f)
        s *= self.rms_pa() ** 2 / (np.sum(s) * 0.5)
        return a_weighted_power(s, f)

    def level_dba(self, mic_m: Vec3, t_s: float, medium: Medium = FREE_FIELD) -> float:
        del mic_m, medium
        tg, g = self.gust_factor(0)
        p2 = self._a_weighted_pa2 * float(np.interp(t_s, tg, g)) ** 2
        return 10 * math.log10(max(p2, 1e-30) / REFERENCE_PRESSURE_PA**2)


# ---------------------------------------------------------------- road traffic


@dataclass
class VehiclePassBy(Confuser):
    """One vehicle: 4-stroke firing = RPM/30 (4 cylinders; 25–150 Hz) with gear-change RPM
    steps, tyre/road noise around 0.7–1.3 kHz; silent off the road. L_WA ≈ 95–105 dB."""

    l_wa_db: float = 100.0
    signature: str = "traffic"
    enter_s: float = 0.0
    exit_s: float = 10.0
    rpm: float = 2200.0
    gear_change_s: float | None = None  # RPM drops 30 % here, then climbs back over 3 s
    tyre_db: float = 5.0  # tyre/road noise power re the top engine line

    def control_grid(self) -> FloatArray:
        """Only the time on the road (and 2 s either side): silent before and after."""
        dt = 1.0 / self.control_rate_hz
        lo = max(-self.pre_roll_s, self.enter_s - 2.0)
        hi = min(self.duration_s + 2.0, self.exit_s + 2.0)
        return np.arange(lo, max(hi, lo + 2 * dt), dt)

    def _make_emission(self, loop_index: int) -> Emission:
        rng = self.rng(loop_index, 0xCA7)
        t = self.control_grid()
        dt = 1.0 / self.control_rate_hz
        rpm = np.full(len(t), self.rpm)
        if self.gear_change_s is not None:
            after = t - self.gear_change_s
            rpm = np.where(after >= 0, self.rpm * (0.7 + 0.3 * np.clip(after / 3.0, 0, 1)), rpm)
        gate = _smooth_gate((t >= self.enter_s) & (t < self.exit_s), dt, 0.5)
        f0 = self.rpm / 30.0
        tones = [_series(_cycles(rpm / 30.0, dt), _rolloff(20, flat=2, db_per_harmonic=2.0),
                         f0, rng, impulsive=0.4, gain_db=gate)]  # fmt: skip
        tyre = NoiseBand(lambda f: _band(f, 700.0, 1300.0), gain_db=gate)
        engine_bb = NoiseBand(lambda f: _pink(f, lo_hz=30.0, hi_hz=1000.0), gain_db=gate)
        return self._calibrated(t, tones, [(self.tyre_db, tyre), (-10.0, engine_bb)])  # fmt: skip


@dataclass
class Traffic:
    """Vehicles passing along a straight road from `road_start_m` to `road_end_m` (Poisson
    arrivals at `vehicles_per_min`, speeds in `speed_m_s`, either direction), each a
    `VehiclePassBy` on the road for road length / speed (a 5–15 s audible pass-by)."""

    emitter_id: str
    seed: int
    duration_s: float
    road_start_m: Vec3
    road_end_m: Vec3
    vehicles_per_min: float = 4.0
    speed_m_s: tuple[float, float] = (10.0, 20.0)
    l_wa_db: tuple[float, float] = (95.0, 105.0)
    kind: str = "other"
    signature: str = "traffic"
    vehicles: list[VehiclePassBy] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 0x7AF])
        a, b = np.asarray(self.road_start_m), np.asarray(self.road_end_m)
        length = float(np.linalg.norm(b - a))
        self.vehicles = []
        t = -length / self.speed_m_s[0] + rng.exponential(60.0 / self.vehicles_per_min)
        i = 0
        while t < self.duration_s:
            v = rng.uniform(*self.speed_m_s)
            p, q = (a, b) if rng.random() < 0.5 else (b, a)
            t1 = t + length / v
            track = Track([Waypoint(t, *map(float, p)), Waypoint(t1, *map(float, q))])
            self.vehicles.append(VehiclePassBy(
                f"{self.emitter_id}/{i}", track, int(rng.integers(1 << 31)), self.duration_s,
                l_wa_db=rng.uniform(*self.l_wa_db), enter_s=t, exit_s=t1,
                rpm=rng.uniform(1500, 3000),
                gear_change_s=t + rng.uniform(0, t1 - t) if rng.random() < 0.5 else None,
            ))  # fmt: skip
            t += rng.exponential(60.0 / self.vehicles_per_min)
            i += 1

    def _active(self, t_from: float, t_to: float) -> list[VehiclePassBy]:
        return [v for v in self.vehicles if v.exit_s + 1.0 > t_from and v.enter_s - 1.0 < t_to]

    def pressure_pa(
        self,
        mics_m: FloatArray,
        t0_s: float,
        sample_rate_hz: float,
        n: int,
        loop_index: int = 0,
        medium: Medium = FREE_FIELD,
    ) -> FloatArray:
        mics = np.atleast_2d(np.asarray(mics_m, dtype=np.float64))
        out = np.zeros((len(mics), n))
        # sound heard now left up to a few seconds ago (roads within ~1 km)
        for v in self._active(t0_s - 3.0, t0_s + n / sample_rate_hz):
            out += v.pressure_pa(mics, t0_s, sample_rate_hz, n, loop_index, medium)
        return out

    def level_dba(self, mic_m: Vec3, t_s: float, medium: Medium = FREE_FIELD) -> float:
        p = sum(10 ** (v.level_dba(mic_m, t_s, medium) / 10) for v in self._active(t_s, t_s))
        return 10 * math.log10(max(p, 1e-30))
