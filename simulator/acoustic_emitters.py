"""Acoustic sources: multirotor drones (`rotor_harmonics`) and site ambience (SIGNALS.md §4, §5).

A rotor source is a comb of blade-pass harmonics per rotor plus broadband noise. Its
rotor speed follows the hover rule n = √(m·g / (N·C_T·ρ·D⁴)) rev/s (BPF = B·n), scaled
by a flight-phase factor (forward flight, manoeuvres), fixed per-rotor offsets and an
Ornstein–Uhlenbeck jitter (the "random walk σ, τ" of SIGNALS.md). The mass drops when
the payload is released, and the BPF with it. The sound is emitted at the retarded
time τ = t − r(τ)/c, which gives Doppler, and spreads spherically with ISO 9613-1
absorption: Lp = L_WA − 11 − 20·lg r − α(f)·r.

Pressures are in pascal; PSDs are one-sided in Pa²/Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from simulator.propagation import (
    REFERENCE_PRESSURE_PA,
    SPEED_OF_SOUND_M_S,
    a_weighting_db,
    air_absorption_db_per_m,
    db_to_power,
    distance_m,
)
from simulator.trajectory import Track, Vec3

FloatArray = NDArray[np.float64]

G_M_S2 = 9.81
AIR_DENSITY_KG_M3 = 1.225
THRUST_COEFFICIENT = 0.10
_CONTROL_RATE_HZ = 1000.0
_PRE_ROLL_S = 3.0  # the track starts before t = 0: sound heard at t = 0 left earlier


def hover_bpf_hz(
    mass_kg: float, *, rotors: int = 4, blades: int = 2, prop_diameter_m: float = 0.24
) -> float:
    """Blade-pass frequency from the hover rule (SIGNALS.md §4, C_T 0.10, ρ 1.225)."""
    n = math.sqrt(
        mass_kg * G_M_S2 / (rotors * THRUST_COEFFICIENT * AIR_DENSITY_KG_M3 * prop_diameter_m**4)
    )
    return blades * n


def a_weighted_power(psd_pa2_hz: FloatArray, freqs_hz: FloatArray) -> float:
    """∫ S(f)·A(f)² df on a uniform grid, Pa²."""
    df = float(freqs_hz[1] - freqs_hz[0])
    return float(np.sum(psd_pa2_hz * db_to_power_array(a_weighting_db(freqs_hz))) * df)


def db_to_power_array(db: FloatArray) -> FloatArray:
    return np.asarray(np.power(10.0, db / 10.0), dtype=np.float64)


def scaled_to_dba(shape: FloatArray, freqs_hz: FloatArray, level_dba: float) -> FloatArray:
    """Scale a PSD shape so that its A-weighted level is `level_dba`."""
    target = REFERENCE_PRESSURE_PA**2 * db_to_power(level_dba)
    return np.asarray(shape * (target / a_weighted_power(shape, freqs_hz)), dtype=np.float64)


def pinkish_shape(freqs_hz: FloatArray, *, highpass_hz: float = 20.0) -> FloatArray:
    """1/f above a 2nd-order high-pass: generic outdoor ambience (traffic below 1 kHz)."""
    f = np.maximum(freqs_hz, 1.0)
    hp = f**4 / (f**4 + highpass_hz**4)
    return np.asarray(hp / f, dtype=np.float64)


def white_shape(freqs_hz: FloatArray, *, highpass_hz: float = 20.0) -> FloatArray:
    f = np.maximum(freqs_hz, 1.0)
    return np.asarray(f**4 / (f**4 + highpass_hz**4), dtype=np.float64)


def rotor_broadband_shape(freqs_hz: FloatArray) -> FloatArray:
    """Pink-ish turbulence with a 1–5 kHz motor/turbulence bump, unit integral (1/Hz)."""
    f = np.maximum(freqs_hz, 1.0)
    pink = (f**2 / (f**2 + 100.0**2)) / f
    bump = 4.0 * np.exp(-((np.log(f / 2500.0)) ** 2) / (2 * 0.45**2)) / 2500.0
    s = pink + bump
    df = float(freqs_hz[1] - freqs_hz[0])
    return np.asarray(s / (np.sum(s) * df), dtype=np.float64)


@dataclass(frozen=True)
class _RotorTrack:
    t_s: FloatArray  # control grid
    cycles: FloatArray  # (rotors, n) accumulated blade-pass cycles
    bpf_hz: FloatArray  # (rotors, n)
    gain_db: FloatArray  # (n,) slow scintillation


@dataclass
class RotorSource:
    """A multirotor (defaults: DJI Phantom-class with a 0.5 kg contraband payload)."""

    emitter_id: str
    track: Track
    seed: int
    duration_s: float
    rotors: int = 4
    blades: int = 2
    mass_kg: float = 1.4
    payload_kg: float = 0.5
    drop_s: float = math.inf  # payload released at this time
    prop_diameter_m: float = 0.24
    l_wa_db: float = 85.0
    harmonics: int = 20
    flat_harmonics: int = 3  # A_k ≈ A_1 for k ≤ 3
    rolloff_db_per_harmonic: float = 4.5  # then −3…−6 dB per harmonic
    line_spread_db: float = 3.0  # ± per line, fixed per flight
    shaft_line_db: float = -20.0
    broadband_db: float = -10.0  # (assumption) broadband power re the top line's power
    rotor_offset_sigma: float = 0.02
    jitter_sigma: float = 0.01
    jitter_tau_s: float = 0.5
    scintillation_sigma_db: float = 1.0
    scintillation_tau_s: float = 3.0
    #: flight-phase RPM factor control points (t_s, factor): forward flight, manoeuvres
    rpm_factor: tuple[tuple[float, float], ...] = ((0.0, 1.0),)
    kind: str = "drone"
    signature: str = "rotor_harmonics"
    _rel_db: FloatArray = field(init=False, repr=False)
    _top_line_pa2: float = field(init=False, repr=False)
    _offsets: FloatArray = field(init=False, repr=False)
    _phases: FloatArray = field(init=False, repr=False)
    _tracks: dict[int, _RotorTrack] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 0xAC0])
        k = np.arange(1, self.harmonics + 1)
        rel = -self.rolloff_db_per_harmonic * np.maximum(k - self.flat_harmonics, 0)
        rel = rel + rng.uniform(-self.line_spread_db, self.line_spread_db, len(k))
        self._rel_db = rel.astype(np.float64)
        self._offsets = rng.normal(0.0, self.rotor_offset_sigma, self.rotors)
        self._phases = rng.uniform(0, 2 * np.pi, (self.rotors, self.harmonics + 1))
        # calibrate the top line so that the hover comb + broadband give L_WA at 1 m
        f0 = self.hover_bpf_hz(loaded=True)
        freqs = np.arange(0.0, 8000.0, 1.0)
        lines_a = np.sum(db_to_power_array(self._rel_db + a_weighting_db(k * f0)))
        bb_a = a_weighted_power(rotor_broadband_shape(freqs), freqs) * db_to_power(
            self.broadband_db
        )
        target = REFERENCE_PRESSURE_PA**2 * db_to_power(self.l_wa_db - 11.0)
        self._top_line_pa2 = target / (lines_a + bb_a)

    # ------------------------------------------------------------ physics

    def hover_bpf_hz(self, *, loaded: bool) -> float:
        mass = self.mass_kg + (self.payload_kg if loaded else 0.0)
        return hover_bpf_hz(
            mass, rotors=self.rotors, blades=self.blades, prop_diameter_m=self.prop_diameter_m
        )

    def line_levels_db_spl(self, distance_m_: float) -> FloatArray:
        """SPL of each harmonic (all rotors together) at a distance, hover BPF, with absorption."""
        k = np.arange(1, self.harmonics + 1)
        f = k * self.hover_bpf_hz(loaded=True)
        p2 = self._top_line_pa2 * db_to_power_array(self._rel_db) / max(distance_m_, 0.1) ** 2
        lp = 10 * np.log10(p2 / REFERENCE_PRESSURE_PA**2)
        return np.asarray(lp - air_absorption_db_per_m(f) * distance_m_, dtype=np.float64)

    def rotor_track(self, loop_index: int) -> _RotorTrack:
        """Rotor speeds over the whole pass (cached: the last two loops)."""
        cached = self._tracks.get(loop_index)
        if cached is None:
            cached = self._make_track(loop_index)
            self._tracks = {k: v for k, v in self._tracks.items() if k == loop_index - 1}
            self._tracks[loop_index] = cached
        return cached

    def _make_track(self, loop_index: int) -> _RotorTrack:
        dt = 1.0 / _CONTROL_RATE_HZ
        t = np.arange(-_PRE_ROLL_S, self.duration_s + 2.0, dt)
        rng = np.random.default_rng([self.seed, loop_index, 0x707])
        # mass: loaded until the drop, the flight controller settles over ~1 s
        released = np.clip(t - self.drop_s, 0.0, 1.0)
        mass = self.mass_kg + self.payload_kg * (1.0 - released)
        unit = hover_bpf_hz(
            1.0, rotors=self.rotors, blades=self.blades, prop_diameter_m=self.prop_diameter_m
        )
        hover = unit * np.sqrt(mass)
        pts = np.array(self.rpm_factor, dtype=np.float64)
        factor = np.interp(t, pts[:, 0], pts[:, 1])
        a = math.exp(-dt / self.jitter_tau_s)
        b = math.sqrt(1 - a * a) * self.jitter_sigma

        def ou(shape: tuple[int, ...], a_: float, b_: float) -> FloatArray:
            w = rng.standard_normal(shape)
            w[..., 0] /= max(math.sqrt(1 - a_ * a_), 1e-12)  # start in steady state
            return np.asarray(lfilter([b_], [1.0, -a_], w, axis=-1), dtype=np.float64)

        common = ou((len(t),), a, b * math.sqrt(0.5))
        own = ou((self.rotors, len(t)), a, b * math.sqrt(0.5))
        bpf = hover * factor * (1.0 + self._offsets[:, None]) * (1.0 + common + own)
        cycles = np.cumsum(bpf, axis=1) * dt
        a_s = math.exp(-dt / self.scintillation_tau_s)
        scint = ou((len(t),), a_s, math.sqrt(1 - a_s * a_s) * self.scintillation_sigma_db)
        return _RotorTrack(t_s=t, cycles=cycles, bpf_hz=bpf, gain_db=scint)

    def emission_times(self, mic_m: Vec3, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Retarded time τ with t = τ + r(τ)/c, and r(τ); three fixed-point steps (v ≪ c)."""
        tau = t_s.copy()
        r = distance_m(self.track.at(tau), mic_m)
        for _ in range(3):
            tau = t_s - r / SPEED_OF_SOUND_M_S
            r = distance_m(self.track.at(tau), mic_m)
        return tau, r

    def lines_pa(
        self, mic_m: Vec3, t0_s: float, sample_rate_hz: float, n: int, loop_index: int
    ) -> FloatArray:
        """Tonal part (BPF harmonics and shaft line of every rotor) at the microphone, Pa."""
        t = t0_s + np.arange(n, dtype=np.float64) / sample_rate_hz
        tau, r = self.emission_times(mic_m, t)
        trk = self.rotor_track(loop_index)
        r_mid = float(np.mean(r))
        f_nom = self.hover_bpf_hz(loaded=True)
        k = np.arange(1, self.harmonics + 1)
        absorb = 10 ** (-air_absorption_db_per_m(k * f_nom) * r_mid / 20.0)
        amp_k = np.sqrt(2.0 * self._top_line_pa2 / self.rotors * db_to_power_array(self._rel_db))
        amp_k = amp_k * absorb
        shaft_amp = math.sqrt(2.0 * self._top_line_pa2 / self.rotors) * 10 ** (
            self.shaft_line_db / 20.0
        )
        nyq = 0.5 * sample_rate_hz
        out = np.zeros(n, dtype=np.float64)
        for i in range(self.rotors):
            cyc = np.interp(tau, trk.t_s, trk.cycles[i])
            two_pi_cyc = 2.0 * np.pi * cyc
            for kk in range(self.harmonics):
                if (kk + 1) * f_nom * 1.3 >= nyq:
                    break
                out += amp_k[kk] * np.cos((kk + 1) * two_pi_cyc + self._phases[i, kk])
            out += shaft_amp * np.cos(two_pi_cyc / self.blades + self._phases[i, -1])
        gain = 10 ** (np.interp(tau, trk.t_s, trk.gain_db) / 20.0)
        return np.asarray(out * gain / np.maximum(r, 1.0), dtype=np.float64)

    def broadband_psd(self, mic_m: Vec3, t_mid_s: float, freqs_hz: FloatArray) -> FloatArray:
        """Broadband rotor noise at the microphone, Pa²/Hz (one-sided)."""
        _tau, r = self.emission_times(mic_m, np.array([t_mid_s]))
        rr = max(float(r[0]), 1.0)
        s = rotor_broadband_shape(freqs_hz) * self._top_line_pa2 * db_to_power(self.broadband_db)
        absorb = 10 ** (-air_absorption_db_per_m(freqs_hz) * rr / 10.0)
        return np.asarray(s * absorb / rr**2, dtype=np.float64)

    def bpf_at(self, t_emit_s: float, loop_index: int = 0) -> float:
        """Mean BPF over the rotors at emission time t_emit_s (truth for tests and labels)."""
        trk = self.rotor_track(loop_index)
        return float(
            np.mean([np.interp(t_emit_s, trk.t_s, trk.bpf_hz[i]) for i in range(self.rotors)])
        )


@dataclass(frozen=True)
class Ambience:
    """Site background (pink-ish, `level_dba`) plus microphone self-noise (white)."""

    level_dba: float = 45.0
    self_noise_dba: float = 20.0

    def psd(self, freqs_hz: FloatArray) -> FloatArray:
        bg = scaled_to_dba(pinkish_shape(freqs_hz), freqs_hz, self.level_dba)
        mic = scaled_to_dba(white_shape(freqs_hz), freqs_hz, self.self_noise_dba)
        return np.asarray(bg + mic, dtype=np.float64)
