"""Acoustic sources: the rendering engine, multirotor drones (`rotor_harmonics`) and ambience.

Every source on the site implements `AcousticSource`: given microphone positions it
returns the sound pressure (Pa) each one hears over a frame. Most sources are an
`EmittingSource`: a point on a `Track` emitting an `Emission` (harmonic series with
time-varying f0 and envelope, plus broadband noise bands) described on a control grid of
emission time. The engine samples the emission at the retarded time τ = t − r(τ)/c of
each microphone and each sample (Doppler and exact inter-microphone delays follow),
divides by r (spherical spreading) and applies ISO 9613-1 absorption α(f)·r for the
scenario's air condition, so that Lp = L_WA − 11 − 20·lg r − α(f)·r (SIGNALS.md §4).
An optional image source in the ground plane z = 0 with reflection coefficient R adds
the ground reflection (SIGNALS.md §5: R 0.8 default when enabled, 0.6 grass, 0.95
concrete).

Harmonic series are rendered through a per-frame wavetable of one fundamental period
(linear lookup into 8192 points, spurs < −75 dB), so the cost does not grow with the
number of harmonics. Broadband noise is a deterministic function of emission time:
blocks of Gaussian noise at 2× the output rate, shaped in frequency (with the linear
interpolator's sinc² response divided out), joined by short power-complementary crossfades
and keyed by (seed, loop, block), then read at the retarded time by linear interpolation;
the same noise therefore reaches every microphone (and every sensor) with its own delay,
and frames join without seams. Noise bands that share an envelope are rendered as one.

A rotor source is a comb of blade-pass harmonics per rotor plus broadband noise. Its
rotor speed follows the hover rule n = √(m·g / (N·C_T·ρ·D⁴)) rev/s (BPF = B·n), scaled
by a flight-phase factor (forward flight, manoeuvres), fixed per-rotor offsets and an
Ornstein–Uhlenbeck jitter (the "random walk σ, τ" of SIGNALS.md). The mass drops when
the payload is released, and the BPF with it.

Pressures are in pascal; PSDs are one-sided in Pa²/Hz; positions are site metres.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Protocol

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from scipy.signal import lfilter

from simulator.noise import complex_gaussian
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
PsdFunction = Callable[[FloatArray], FloatArray]

G_M_S2 = 9.81
AIR_DENSITY_KG_M3 = 1.225
THRUST_COEFFICIENT = 0.10
#: SIGNALS.md §5 ground: image source R 0.8 (0.6 grass … 0.95 concrete)
DEFAULT_GROUND_REFLECTION = 0.8
_CONTROL_RATE_HZ = 1000.0
_PRE_ROLL_S = 3.0  # the track starts before t = 0: sound heard at t = 0 left earlier
SILENT_DB = -200.0  # an envelope at this level is off
_TABLE_SIZE = 8192
_NOISE_OVERSAMPLE = 2
_NOISE_BLOCK = 16384  # emission samples per noise block
_NOISE_TAPER = 2048  # blocks overlap by this much (hop: _NOISE_BLOCK − _NOISE_TAPER)
_NOISE_BAND_EDGE = 0.45  # noise is band-limited to 0.45·fs of the output rate
_RETARD_STEP_S = 1e-3  # retarded time is solved on this grid and interpolated
_MIRROR = np.array([1.0, 1.0, -1.0])  # image in the ground plane z = 0


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


def _rotor_broadband_raw(freqs_hz: FloatArray) -> FloatArray:
    f = np.maximum(freqs_hz, 1.0)
    pink = (f**2 / (f**2 + 100.0**2)) / f
    bump = 4.0 * np.exp(-((np.log(f / 2500.0)) ** 2) / (2 * 0.45**2)) / 2500.0
    return np.asarray(pink + bump, dtype=np.float64)


_ROTOR_BB_GRID = np.arange(0.0, 8000.0, 1.0)
_ROTOR_BB_NORM = float(np.sum(_rotor_broadband_raw(_ROTOR_BB_GRID)))


def rotor_broadband_shape(freqs_hz: FloatArray) -> FloatArray:
    """Pink-ish turbulence with a 1–5 kHz motor/turbulence bump, unit integral over 0–8 kHz."""
    return np.asarray(_rotor_broadband_raw(freqs_hz) / _ROTOR_BB_NORM, dtype=np.float64)


# ---------------------------------------------------------------- the source port


@dataclass(frozen=True)
class Medium:
    """The air and ground between sources and microphones (ISO 9613-1 condition, image R)."""

    condition: str = "15C_70RH"
    speed_of_sound_m_s: float = SPEED_OF_SOUND_M_S
    #: reflection coefficient of one image source in the ground plane z = 0; 0 = off
    ground_reflection: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ground_reflection <= 1.0:
            raise ValueError(f"{self.ground_reflection=} must lie in [0, 1]")


FREE_FIELD = Medium()


class AcousticSource(Protocol):
    """Anything a microphone can hear: drones and confusers alike."""

    @property
    def emitter_id(self) -> str: ...
    @property
    def kind(self) -> str: ...  # 'drone' | 'other'
    @property
    def signature(self) -> str: ...  # rotor_harmonics, helicopter, …, wind, traffic

    def pressure_pa(
        self,
        mics_m: FloatArray,
        t0_s: float,
        sample_rate_hz: float,
        n: int,
        loop_index: int = 0,
        medium: Medium = FREE_FIELD,
    ) -> FloatArray:
        """(m, n) float64 sound pressure, Pa, at microphones `mics_m` (m, 3) for the samples
        at t0_s + i/sample_rate_hz."""
        ...

    def level_dba(self, mic_m: Vec3, t_s: float, medium: Medium = FREE_FIELD) -> float:
        """Expected free-field A-weighted level (dB re 20 µPa) at a microphone at t_s."""
        ...


# ---------------------------------------------------------------- emission description


@dataclass(frozen=True)
class HarmonicSeries:
    """Σ_k a_k·cos(2π·k·φ(τ) + θ_k): lines at k·f0(τ) with f0 = dφ/dτ (emission time τ)."""

    cycles: FloatArray  # (n_ctrl,) φ on the emission control grid, cycles
    amplitudes_pa: FloatArray  # (K,) peak amplitude of harmonic k = 1..K at 1 m, Pa
    phases_rad: FloatArray  # (K,)
    nominal_f0_hz: float  # calibration (A-weighting) uses k·nominal_f0_hz
    gain_db: FloatArray | None = None  # (n_ctrl,) envelope

    @cached_property
    def _tables(self) -> dict[int, FloatArray]:
        return {}

    def table(self, harmonics: int) -> FloatArray:
        """One period of the first `harmonics` harmonics as a lookup table (memoised)."""
        got = self._tables.get(harmonics)
        if got is None:
            amps = np.where(np.arange(len(self.amplitudes_pa)) < harmonics, self.amplitudes_pa, 0)
            got = self._tables[harmonics] = _harmonic_table(amps, self.phases_rad)
        return got

    @cached_property
    def linear_gain(self) -> FloatArray:
        """The envelope as an amplitude factor on the control grid (1 without one)."""
        return np.ones(1) if self.gain_db is None else _linear_gain(self.gain_db)


@dataclass(frozen=True)
class NoiseBand:
    """Broadband noise of one-sided PSD `psd_pa2_hz(f)` at 1 m, times an envelope."""

    psd_pa2_hz: PsdFunction
    gain_db: FloatArray | None = None  # (n_ctrl,)

    @cached_property
    def a_weighted_psd(self) -> FloatArray:
        """S(f)·A(f)² on `_LEVEL_FREQS_HZ` (what `level_dba` sums)."""
        return np.asarray(self.psd_pa2_hz(_LEVEL_FREQS_HZ) * _LEVEL_A_WEIGHT, dtype=np.float64)


@dataclass(frozen=True)
class Emission:
    """What a source emits over one scenario pass, on a uniform emission-time grid."""

    t_s: FloatArray  # (n_ctrl,)
    tones: tuple[HarmonicSeries, ...] = ()
    noises: tuple[NoiseBand, ...] = ()
    gain_db: FloatArray | None = None  # (n_ctrl,) common (scintillation)

    @cached_property
    def tone_rates_hz(self) -> tuple[FloatArray, ...]:
        """f0(τ) = dφ/dτ of each tone on the control grid (computed once per emission)."""
        return tuple(np.gradient(s.cycles, self.t_s) for s in self.tones)

    @cached_property
    def noise_groups(self) -> tuple[tuple[NoiseBand, FloatArray | None], ...]:
        """The noise bands merged by envelope: (band of summed PSD, linear amplitude gain on
        the control grid or None), one noise stream to render per distinct envelope."""
        groups: list[tuple[FloatArray | None, list[PsdFunction]]] = []
        for band in self.noises:
            for gain_db, psds in groups:
                if gain_db is band.gain_db or (
                    gain_db is not None
                    and band.gain_db is not None
                    and np.array_equal(gain_db, band.gain_db)
                ):
                    psds.append(band.psd_pa2_hz)
                    break
            else:
                groups.append((band.gain_db, [band.psd_pa2_hz]))
        return tuple(
            (NoiseBand(psds[0] if len(psds) == 1 else _SummedPsd(tuple(psds)), g), _linear(g))
            for g, psds in groups
        )

    @cached_property
    def linear_gain(self) -> FloatArray | None:
        """The common envelope as an amplitude factor on the control grid."""
        return _linear(self.gain_db)


@dataclass(frozen=True)
class _SummedPsd:
    parts: tuple[PsdFunction, ...]

    def __call__(self, f: FloatArray) -> FloatArray:
        return np.asarray(sum(p(f) for p in self.parts), dtype=np.float64)


def _linear(gain_db: FloatArray | None) -> FloatArray | None:
    return None if gain_db is None else _linear_gain(gain_db)


def _linear_gain(gain_db: FloatArray) -> FloatArray:
    return np.asarray(10.0 ** (gain_db / 20.0), dtype=np.float64)


def harmonic_amplitudes(
    top_pa: float, n_harmonics: int, *, flat: int, rolloff_db: float
) -> FloatArray:
    """A_k = A_1 for k ≤ flat, then −rolloff_db per harmonic (peak Pa at 1 m)."""
    k = np.arange(1, n_harmonics + 1)
    rel = -rolloff_db * np.maximum(k - flat, 0)
    return np.asarray(top_pa * 10 ** (rel / 20.0), dtype=np.float64)


def ou_process(
    rng: np.random.Generator, shape: tuple[int, ...], dt_s: float, sigma: float, tau_s: float
) -> FloatArray:
    """Ornstein–Uhlenbeck steps along the last axis, stationary from the first sample."""
    a = math.exp(-dt_s / tau_s)
    b = math.sqrt(1 - a * a) * sigma
    w = rng.standard_normal(shape)
    w[..., 0] /= max(math.sqrt(1 - a * a), 1e-12)
    return np.asarray(lfilter([b], [1.0, -a], w, axis=-1), dtype=np.float64)


def _harmonic_table(amplitudes: FloatArray, phases: FloatArray) -> FloatArray:
    """One fundamental period of Σ a_k cos(2πk x + θ_k) on _TABLE_SIZE + 1 points."""
    spec = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
    k = min(len(amplitudes), _TABLE_SIZE // 2 - 1)
    spec[1 : k + 1] = amplitudes[:k] * np.exp(1j * phases[:k]) * (_TABLE_SIZE / 2)
    table = scipy.fft.irfft(spec, _TABLE_SIZE)
    return np.asarray(np.append(table, table[0]), dtype=np.float64)


def _table_lookup(table: FloatArray, cycles: FloatArray) -> FloatArray:
    pos = (cycles - np.floor(cycles)) * _TABLE_SIZE
    i = np.minimum(pos.astype(np.intp), _TABLE_SIZE - 1)
    frac = pos - i
    lo = table[i]
    return np.asarray(lo + frac * (table[i + 1] - lo), dtype=np.float64)


@dataclass(frozen=True)
class RetardedGrid:
    """τ and r on a uniform grid of reception times: every `step` samples from the frame's
    first, `tau`/`r` (m, G) with (G − 1)·step >= n − 1 (the last point may lie past the
    frame). Slow quantities are evaluated here and `upsample`d to every sample."""

    step: int
    n: int
    tau: FloatArray
    r: FloatArray

    def upsample(self, values: FloatArray) -> FloatArray:
        """(m, G) grid values linearly interpolated to (m, n) samples (uniform: no search)."""
        if self.step == 1:
            return values[:, : self.n]
        frac = np.arange(self.step, dtype=np.float64) / self.step
        out = values[:, :-1, None] + np.diff(values, axis=-1)[:, :, None] * frac
        return out.reshape(values.shape[0], -1)[:, : self.n]


def retarded_grid(
    track: Track,
    mics_m: FloatArray,
    t0_s: float,
    sample_rate_hz: float,
    n: int,
    *,
    speed_of_sound_m_s: float = SPEED_OF_SOUND_M_S,
) -> RetardedGrid:
    """Emission time τ with t = τ + r(τ)/c and the path length r(τ) on a 1 ms grid.

    Exact where the source is fixed or moves uniformly over the frame's emission times
    (a quadratic per grid point); otherwise (a waypoint inside) solved by fixed-point
    iteration (contraction v/c). τ(t) is smooth: linear interpolation between 1 ms points
    errs by ≤ (1 ms)²/8 · v²/(c·r) (1e-8 s for a drone passing 5 m away).
    """
    mics = np.asarray(mics_m, dtype=np.float64)
    c = speed_of_sound_m_s
    step = max(1, round(_RETARD_STEP_S * sample_rate_hz)) if n > 1 else 1
    g = -(-(n - 1) // step) + 1  # grid points: (g - 1)·step >= n - 1
    tg = np.arange(g, dtype=np.float64) * (step / sample_rate_hz)  # reception time − t0_s
    if track.is_fixed:  # r is constant: τ = t − r/c exactly
        r0 = distance_m(track.at(t0_s), mics)
        tau = t0_s + tg[None, :] - (r0 / c)[:, None]
        return RetardedGrid(step, n, tau, np.repeat(r0[:, None], g, axis=1))
    # the earliest emission heard in the frame: r(τ) <= r(t) / (1 − v_max/c)
    r_now = distance_m(track.at(np.array([t0_s, t0_s + tg[-1]])), mics[:, None, :])
    earliest = t0_s - float(np.max(r_now)) / (c - min(track.max_speed_m_s, 0.9 * c)) - 1e-3
    piece = track.linear_piece(earliest, t0_s + float(tg[-1]))
    if piece is not None:  # uniform motion: |q + v·u| = c·(t − u) is a quadratic in u
        p_lo, v = piece
        q = (p_lo + v * (t0_s - earliest))[None, :] - mics  # (m, 3) at t0_s, re each mic
        a = float(v @ v) - c * c  # < 0
        b = (q @ v)[:, None] + (c * c) * tg[None, :]  # (m, g)
        cc = np.sum(q * q, axis=1)[:, None] - (c * tg[None, :]) ** 2
        root = np.sqrt(b * b - a * cc)
        u = np.where(b > 0, cc / np.minimum(-b - root, -1e-300), (root - b) / a)
        return RetardedGrid(step, n, t0_s + u, c * (tg[None, :] - u))
    tc = t0_s + tg
    mics3 = mics[:, None, :]  # (m, 1, 3)

    def dist(tau: FloatArray) -> FloatArray:
        return distance_m(track.at(tau), mics3)

    tau = np.broadcast_to(tc, (len(mics), len(tc))).copy()
    r = dist(tau)
    for _ in range(30):
        new = tc - r / c
        done = float(np.max(np.abs(new - tau))) < 1e-9
        tau = new
        r = dist(tau)
        if done:
            break
    return RetardedGrid(step, n, tau, r)


def retarded_point(
    track: Track, mic_m: Vec3, t_s: float, speed_of_sound_m_s: float = SPEED_OF_SOUND_M_S
) -> tuple[float, float]:
    """(τ, r) for one microphone and one reception time (fixed-point iteration on floats)."""
    tau = t_s
    r = 0.0
    for _ in range(60):
        x, y, z = track.point(tau)
        r = math.sqrt((x - mic_m[0]) ** 2 + (y - mic_m[1]) ** 2 + (z - mic_m[2]) ** 2)
        new = t_s - r / speed_of_sound_m_s
        if abs(new - tau) < 1e-9:
            return new, r
        tau = new
    return tau, r


class _NoiseBank:
    """Broadband emission noise as a deterministic function of emission time."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._blocks: dict[tuple[int, int, int, int], FloatArray] = {}
        self._segments: dict[tuple[int, int, int, int], FloatArray] = {}
        self._used_bins: dict[tuple[int, int], int] = {}  # bins below the band edge
        self._filters: dict[tuple[int, int], FloatArray] = {}
        # flat-top window with sine/cosine tapers of _NOISE_TAPER: neighbours overlap only
        # there, power-complementary (sin² + cos² = 1), so each sample is drawn ~1.14 times
        ramp = np.sin(0.5 * np.pi * (np.arange(_NOISE_TAPER) + 0.5) / _NOISE_TAPER)
        self._window = np.concatenate([ramp, np.ones(_NOISE_BLOCK - 2 * _NOISE_TAPER), ramp[::-1]])
        self._hop = _NOISE_BLOCK - _NOISE_TAPER

    def _filter(self, band_index: int, band: NoiseBand, fs_hz: float) -> FloatArray:
        key = (band_index, round(fs_hz))
        filt = self._filters.get(key)
        if filt is None:
            fs_e = _NOISE_OVERSAMPLE * fs_hz
            f = np.asarray(np.fft.rfftfreq(_NOISE_BLOCK, 1.0 / fs_e), dtype=np.float64)
            psd = np.where(f < _NOISE_BAND_EDGE * fs_hz, band.psd_pa2_hz(f), 0.0)
            psd[0] = 0.0
            # reading by linear interpolation filters the stream by sinc²(f/fs_e)
            filt = np.sqrt(psd * fs_e * _NOISE_BLOCK / 4.0) / np.sinc(f / fs_e) ** 2
            self._filters[key] = filt
            self._used_bins[key] = int(np.flatnonzero(filt)[-1]) + 1 if np.any(filt) else 0
        return filt

    def _block(
        self, band_index: int, band: NoiseBand, loop_index: int, fs_hz: float, b: int
    ) -> FloatArray:
        key = (band_index, loop_index, round(fs_hz), b)
        blk = self._blocks.get(key)
        if blk is None:
            # a counter-based generator keyed by the block: 3x cheaper to set up than a
            # seed sequence, and any block can be drawn in any order
            k0 = self._seed & 0xFFFFFFFF | (loop_index & 0xFFFF) << 32 | (band_index & 0xFFFF) << 48
            k1 = (b & ((1 << 40) - 1)) | (round(fs_hz) & 0xFFFFFF) << 40
            rng = np.random.Generator(np.random.Philox(key=[k0, k1]))
            filt = self._filter(band_index, band, fs_hz)
            spec = np.zeros(len(filt), dtype=np.complex128)
            used = self._used_bins[(band_index, round(fs_hz))]
            spec[:used] = complex_gaussian(rng, used) * filt[:used]
            blk = scipy.fft.irfft(spec, _NOISE_BLOCK)
            blk *= self._window
            if len(self._blocks) > 256:  # segments keep what is read: drop the oldest half
                for old in list(self._blocks)[:128]:
                    del self._blocks[old]
            self._blocks[key] = blk
        return blk

    def _segment(
        self, band_index: int, band: NoiseBand, loop_index: int, fs_hz: float, s: int
    ) -> FloatArray:
        """Stream samples [s·hop, (s + 1)·hop): block s, its start overlapped by the end of
        block s − 1."""
        key = (band_index, loop_index, round(fs_hz), s)
        seg = self._segments.get(key)
        if seg is None:
            hop = self._hop
            seg = self._block(band_index, band, loop_index, fs_hz, s)[:hop].copy()
            seg[:_NOISE_TAPER] += self._block(band_index, band, loop_index, fs_hz, s - 1)[hop:]
            if len(self._segments) > 4096:  # frames move forward: drop the oldest half
                for old in list(self._segments)[:2048]:
                    del self._segments[old]
            self._segments[key] = seg
        return seg

    def sample(
        self, band_index: int, band: NoiseBand, loop_index: int, fs_hz: float, tau_s: FloatArray
    ) -> FloatArray:
        """Emission noise read at emission times tau_s (any shape), Pa at 1 m."""
        fs_e = _NOISE_OVERSAMPLE * fs_hz
        pos = tau_s * fs_e
        hop = self._hop
        s_lo = math.floor(float(np.min(pos))) // hop
        s_hi = (math.floor(float(np.max(pos))) + 1) // hop
        buf = np.concatenate(
            [self._segment(band_index, band, loop_index, fs_hz, s) for s in range(s_lo, s_hi + 1)]
        )
        x = pos - s_lo * hop
        i = x.astype(np.intp)
        frac = x - i
        lo = buf[i]
        return np.asarray(lo + frac * (buf[i + 1] - lo), dtype=np.float64)


def _gain_at(t_ctrl: FloatArray, lin: FloatArray, grid: RetardedGrid) -> FloatArray | float:
    """An amplitude envelope on the control grid read at the frame's emission times: a
    scalar when it is constant over them (the common case: a source that is simply on),
    else (m, n) interpolated on the 1 ms grid and upsampled."""
    tau = grid.tau
    i0 = max(0, int(np.searchsorted(t_ctrl, float(np.min(tau)))) - 1)
    i1 = int(np.searchsorted(t_ctrl, float(np.max(tau)))) + 1
    seg = lin[i0:i1]
    if len(seg) and float(np.min(seg)) == float(np.max(seg)):
        return float(seg[0])
    return grid.upsample(np.interp(tau, t_ctrl, lin))


def _env_power(g: FloatArray | None, t_ctrl: FloatArray, tau: float) -> float:
    return 1.0 if g is None else db_to_power(float(np.interp(tau, t_ctrl, g)))


_PAD = 128  # samples rendered beyond each end of a frame (> the absorption filter's reach)

#: the frequency grid of `level_dba`'s broadband sums, and A(f)² on it
_LEVEL_FREQS_HZ = np.arange(5.0, 12_000.0, 5.0)
_LEVEL_A_WEIGHT = np.power(10.0, a_weighting_db(_LEVEL_FREQS_HZ) / 10.0)


@functools.lru_cache(maxsize=8)
def _level_absorption(condition: str) -> FloatArray:
    alpha = air_absorption_db_per_m(_LEVEL_FREQS_HZ, condition)
    alpha.flags.writeable = False
    return alpha


#: the ground reflection is added in frequency (`_steady_echo`) when its extra delay drifts
#: by at most this many samples over a frame (0.03 rad at 8 kHz) and fits in the pads
_ECHO_DRIFT_SAMPLES = 0.01


def _steady_echo(grid: RetardedGrid, m: int, sample_rate_hz: float) -> bool:
    """True when rows m: (the microphones' images) hear rows :m delayed by a constant."""
    delay = (grid.tau[:m] - grid.tau[m:]) * sample_rate_hz  # (m, G) samples
    return bool(
        np.all(np.abs(delay) <= _PAD / 2) and np.all(np.ptp(delay, axis=1) <= _ECHO_DRIFT_SAMPLES)
    )


@functools.lru_cache(maxsize=16)
def _rfft_freqs(n: int, sample_rate_hz: float) -> FloatArray:
    f = np.asarray(scipy.fft.rfftfreq(n, 1.0 / sample_rate_hz), dtype=np.float64)
    f.flags.writeable = False
    return f


@functools.lru_cache(maxsize=16)
def _absorption_grid(n: int, sample_rate_hz: float, condition: str) -> FloatArray:
    """α(f) in dB/m on the rfft grid of n samples (read-only: shared between calls)."""
    alpha = air_absorption_db_per_m(np.fft.rfftfreq(n, 1.0 / sample_rate_hz), condition)
    alpha.flags.writeable = False
    return alpha


def absorb_rows(
    x: FloatArray,
    sample_rate_hz: float,
    r_m: FloatArray,
    condition: str,
    *,
    echo: tuple[FloatArray, FloatArray] | None = None,
) -> FloatArray:
    """Apply α(f)·r per row (r_m: (m,), metres) as a zero-phase filter in frequency, and
    with `echo` = (gains, delays_s) per row add a delayed, scaled copy (x + g·x(t − δ))."""
    n = x.shape[-1]
    alpha = _absorption_grid(n, sample_rate_hz, condition)
    if echo is None and float(np.max(alpha) * np.max(r_m)) < 0.01:
        return x
    gain: NDArray[np.floating[Any]] | NDArray[np.complexfloating[Any, Any]]
    gain = np.exp(alpha[None, :] * (-math.log(10.0) / 20.0 * r_m[:, None]))
    if echo is not None:
        g, delay = echo
        f = _rfft_freqs(n, sample_rate_hz)
        gain = gain * (1.0 + g[:, None] * np.exp((-2j * np.pi * delay)[:, None] * f[None, :]))
    spec = scipy.fft.rfft(x, axis=-1)
    spec *= gain
    return np.asarray(scipy.fft.irfft(spec, n, axis=-1), dtype=np.float64)


@dataclass
class EmittingSource:
    """A point source on a track; subclasses describe what it emits (`_make_emission`)."""

    emitter_id: str
    track: Track
    seed: int
    duration_s: float
    #: how early emission must be known: sound heard at t = 0 left up to this long before
    pre_roll_s: ClassVar[float] = 15.0
    control_rate_hz: ClassVar[float] = _CONTROL_RATE_HZ
    _emissions: dict[int, Emission] = field(init=False, repr=False, default_factory=dict)
    _bank: _NoiseBank = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._bank = _NoiseBank(self.seed)

    def _make_emission(self, loop_index: int) -> Emission:
        raise NotImplementedError

    def control_grid(self) -> FloatArray:
        dt = 1.0 / self.control_rate_hz
        return np.arange(-self.pre_roll_s, self.duration_s + 2.0, dt)

    def rng(self, loop_index: int, tag: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, loop_index, tag])

    def emission(self, loop_index: int = 0) -> Emission:
        """The emission of one pass (cached: the last two loops)."""
        em = self._emissions.get(loop_index)
        if em is None:
            em = self._make_emission(loop_index)
            self._emissions = {k: v for k, v in self._emissions.items() if k == loop_index - 1}
            self._emissions[loop_index] = em
        return em

    def position_m(self, t_s: float) -> Vec3:
        return self.track.point(t_s)

    def pressure_pa(
        self,
        mics_m: FloatArray,
        t0_s: float,
        sample_rate_hz: float,
        n: int,
        loop_index: int = 0,
        medium: Medium = FREE_FIELD,
    ) -> FloatArray:
        """(m, n) float64 sound pressure, Pa, at microphones mics_m (m, 3)."""
        return self.render(mics_m, t0_s, sample_rate_hz, n, loop_index, medium)

    def render(
        self,
        mics_m: FloatArray,
        t0_s: float,
        sample_rate_hz: float,
        n: int,
        loop_index: int = 0,
        medium: Medium = FREE_FIELD,
        *,
        tones: bool = True,
        noises: bool = True,
    ) -> FloatArray:
        """Like `pressure_pa`, optionally without the tonal or the broadband part."""
        mics = np.atleast_2d(np.asarray(mics_m, dtype=np.float64))
        m = len(mics)
        em = self.emission(loop_index)
        # the ground reflection: the same source heard at the microphones' images in z = 0
        reflect = medium.ground_reflection > 0.0
        rows = np.vstack([mics, mics * _MIRROR]) if reflect else mics
        # rendered with >= _PAD samples either side, dropped at the end: the filters applied
        # in frequency (absorption) wrap around into the pads only
        c = medium.speed_of_sound_m_s
        t_pad = t0_s - _PAD / sample_rate_hz
        n_pad = int(scipy.fft.next_fast_len(n + 2 * _PAD, real=True))  # FFT-friendly length
        grid = retarded_grid(self.track, rows, t_pad, sample_rate_hz, n_pad,
                             speed_of_sound_m_s=c)  # fmt: skip
        echo = None
        if reflect and _steady_echo(grid, m, sample_rate_hz):
            # the reflection is the direct sound delayed by a constant: render the direct
            # path only and add the reflection in frequency, with the absorption
            ratio = (
                medium.ground_reflection * np.mean(grid.r[:m], axis=1) / np.mean(grid.r[m:], axis=1)
            )
            echo = (ratio, np.mean(grid.tau[:m] - grid.tau[m:], axis=1))
            grid = RetardedGrid(grid.step, grid.n, grid.tau[:m], grid.r[:m])
            reflect = False
        tau = grid.upsample(grid.tau)
        acc = np.zeros((grid.tau.shape[0], n_pad), dtype=np.float64)
        if tones:
            acc += self._render_tones(em, grid, sample_rate_hz)
        if noises and em.noises:
            acc += self._noise(em, grid, tau, sample_rate_hz, loop_index)
        # spreading 1/r and the common envelope: slow, formed on the grid
        scale = 1.0 / np.maximum(grid.r, 1.0)
        if em.linear_gain is not None:
            scale = scale * np.interp(grid.tau, em.t_s, em.linear_gain)
        acc *= grid.upsample(scale)
        if reflect:
            acc = acc[:m] + medium.ground_reflection * acc[m:]
        # absorption over the direct path, applied to both: the reflection's path is longer
        # by 2·h_s·h_m/r at most, which α(f) turns into < 0.1 dB at 8 kHz
        acc = absorb_rows(acc, sample_rate_hz, np.mean(grid.r[:m], axis=1), medium.condition,
                          echo=echo)  # fmt: skip
        return np.ascontiguousarray(acc[:, _PAD : _PAD + n])

    def _noise(
        self, em: Emission, grid: RetardedGrid, tau: FloatArray, sample_rate_hz: float,
        loop_index: int,
    ) -> FloatArray:  # fmt: skip
        """The broadband emission read at emission times tau (envelopes applied), Pa at 1 m."""
        bb = np.zeros(tau.shape, dtype=np.float64)
        for j, (band, lin) in enumerate(em.noise_groups):
            x = self._bank.sample(j, band, loop_index, sample_rate_hz, tau)
            bb += x if lin is None else x * _gain_at(em.t_s, lin, grid)
        return bb

    def _render_tones(self, em: Emission, grid: RetardedGrid, sample_rate_hz: float) -> FloatArray:
        """The harmonic series at the frame's emission times, Pa at 1 m (absorption comes
        after): the phase is read on the 1 ms grid and upsampled (it is smooth in t)."""
        tau = grid.tau
        out = np.zeros((tau.shape[0], grid.n), dtype=np.float64)
        dt = float(em.t_s[1] - em.t_s[0])
        i0 = max(0, int(np.searchsorted(em.t_s, float(np.min(tau)))) - 1)
        i1 = min(len(em.t_s), int(np.searchsorted(em.t_s, float(np.max(tau)))) + 2)
        nyquist = 0.5 * sample_rate_hz
        for s in em.tones:
            seg = s.cycles[i0:i1]
            f0_max = float(np.max(np.diff(seg))) / dt if len(seg) > 1 else s.nominal_f0_hz
            k = np.arange(1, len(s.amplitudes_pa) + 1)
            keep = k * max(f0_max, 1e-9) * 1.2 < nyquist  # 1.2: Doppler headroom
            if not np.any(keep):
                continue
            table = s.table(int(np.count_nonzero(keep)))
            cyc = grid.upsample(np.interp(tau, em.t_s, s.cycles))
            line = _table_lookup(table, cyc)
            if s.gain_db is not None:
                line *= _gain_at(em.t_s, s.linear_gain, grid)
            out += line
        return out

    def line_spectrum(
        self, mic_m: Vec3, t_s: float, medium: Medium = FREE_FIELD
    ) -> tuple[float, FloatArray, FloatArray]:
        """(r_m, line frequencies Hz, line SPL dB) of every harmonic heard at mic_m at t_s
        (free field, emission frequencies, envelopes included; silent lines left out)."""
        em = self.emission(0)
        tau, r = retarded_point(self.track, mic_m, t_s, medium.speed_of_sound_m_s)
        r = max(r, 1.0)
        common = _env_power(em.gain_db, em.t_s, tau)
        fs_, ls_ = [], []
        for s, rate in zip(em.tones, em.tone_rates_hz, strict=True):
            f0 = float(np.interp(tau, em.t_s, rate))
            f = np.arange(1, len(s.amplitudes_pa) + 1) * max(f0, 1e-3)
            p2 = 0.5 * s.amplitudes_pa**2 * common * _env_power(s.gain_db, em.t_s, tau)
            db = 10 * np.log10(np.maximum(p2, 1e-30) / r**2 / REFERENCE_PRESSURE_PA**2)
            db -= air_absorption_db_per_m(f, medium.condition) * r
            audible = p2 > 1e-20
            fs_.append(f[audible])
            ls_.append(db[audible])
        if not fs_:
            return r, np.zeros(0), np.zeros(0)
        return r, np.concatenate(fs_), np.concatenate(ls_)

    def level_dba(self, mic_m: Vec3, t_s: float, medium: Medium = FREE_FIELD) -> float:
        """Expected free-field A-weighted level at mic_m at t_s (lines at their f0 then)."""
        em = self.emission(0)
        tau, r = retarded_point(self.track, mic_m, t_s, medium.speed_of_sound_m_s)
        r = max(r, 1.0)

        def env(g: FloatArray | None) -> float:
            return _env_power(g, em.t_s, tau)

        total = 0.0
        for s, rate in zip(em.tones, em.tone_rates_hz, strict=True):
            f0 = float(np.interp(tau, em.t_s, rate))
            f = np.arange(1, len(s.amplitudes_pa) + 1) * max(f0, 1e-3)
            w = a_weighting_db(f) - air_absorption_db_per_m(f, medium.condition) * r
            total += env(s.gain_db) * float(np.sum(0.5 * s.amplitudes_pa**2 * 10 ** (w / 10)))
        absorb = np.exp(_level_absorption(medium.condition) * (-math.log(10.0) / 10.0 * r))
        df = float(_LEVEL_FREQS_HZ[1] - _LEVEL_FREQS_HZ[0])
        for band in em.noises:
            total += env(band.gain_db) * float(np.dot(band.a_weighted_psd, absorb)) * df
        total *= env(em.gain_db) / r**2
        return 10.0 * math.log10(max(total, 1e-30) / REFERENCE_PRESSURE_PA**2)


# ---------------------------------------------------------------- multirotor drones


@dataclass(frozen=True)
class _RotorTrack:
    t_s: FloatArray  # control grid
    cycles: FloatArray  # (rotors, n) accumulated blade-pass cycles
    bpf_hz: FloatArray  # (rotors, n)
    gain_db: FloatArray  # (n,) slow scintillation


@dataclass
class RotorSource(EmittingSource):
    """A multirotor (defaults: DJI Phantom-class with a 0.5 kg contraband payload)."""

    pre_roll_s: ClassVar[float] = _PRE_ROLL_S
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
        super().__post_init__()
        rng = np.random.default_rng([self.seed, 0xAC0])
        k = np.arange(1, self.harmonics + 1)
        rel = -self.rolloff_db_per_harmonic * np.maximum(k - self.flat_harmonics, 0)
        rel = rel + rng.uniform(-self.line_spread_db, self.line_spread_db, len(k))
        self._rel_db = rel.astype(np.float64)
        self._offsets = rng.normal(0.0, self.rotor_offset_sigma, self.rotors)
        self._phases = rng.uniform(0, 2 * np.pi, (self.rotors, self.harmonics + 1))
        # calibrate the top line so that the hover comb + broadband give L_WA at 1 m
        f0 = self.hover_bpf_hz(loaded=True)
        freqs = _ROTOR_BB_GRID
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
        half = self.jitter_sigma * math.sqrt(0.5)
        common = ou_process(rng, (len(t),), dt, half, self.jitter_tau_s)
        own = ou_process(rng, (self.rotors, len(t)), dt, half, self.jitter_tau_s)
        bpf = hover * factor * (1.0 + self._offsets[:, None]) * (1.0 + common + own)
        cycles = np.cumsum(bpf, axis=1) * dt
        scint = ou_process(
            rng, (len(t),), dt, self.scintillation_sigma_db, self.scintillation_tau_s
        )
        return _RotorTrack(t_s=t, cycles=cycles, bpf_hz=bpf, gain_db=scint)

    def _make_emission(self, loop_index: int) -> Emission:
        trk = self.rotor_track(loop_index)
        b = self.blades
        amp_k = np.sqrt(2.0 * self._top_line_pa2 / self.rotors * db_to_power_array(self._rel_db))
        shaft_amp = math.sqrt(2.0 * self._top_line_pa2 / self.rotors) * 10 ** (
            self.shaft_line_db / 20.0
        )
        tones = []
        for i in range(self.rotors):
            # one series per rotor on the shaft rate: line m = B·k is BPF harmonic k
            amps = np.zeros(b * self.harmonics)
            phases = np.zeros(b * self.harmonics)
            amps[b - 1 :: b] = amp_k
            phases[b - 1 :: b] = self._phases[i, : self.harmonics]
            amps[0] += shaft_amp
            phases[0] = self._phases[i, -1] if b > 1 else phases[0]
            tones.append(
                HarmonicSeries(cycles=trk.cycles[i] / b, amplitudes_pa=amps, phases_rad=phases,
                               nominal_f0_hz=self.hover_bpf_hz(loaded=True) / b)
            )  # fmt: skip
        bb_scale = self._top_line_pa2 * db_to_power(self.broadband_db)

        def bb(f: FloatArray) -> FloatArray:
            return np.asarray(rotor_broadband_shape(f) * bb_scale, dtype=np.float64)

        return Emission(t_s=trk.t_s, tones=tuple(tones), noises=(NoiseBand(bb),),
                        gain_db=trk.gain_db)  # fmt: skip

    def emission_times(self, mic_m: Vec3, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Retarded time τ with t = τ + r(τ)/c, and r(τ), at arbitrary times t_s."""
        tau = t_s.copy()
        r = distance_m(self.track.at(tau), mic_m)
        for _ in range(30):
            new = t_s - r / SPEED_OF_SOUND_M_S
            done = float(np.max(np.abs(new - tau))) < 1e-9
            tau = new
            r = distance_m(self.track.at(tau), mic_m)
            if done:
                break
        return tau, r

    def lines_pa(
        self, mic_m: Vec3, t0_s: float, sample_rate_hz: float, n: int, loop_index: int
    ) -> FloatArray:
        """Tonal part (BPF harmonics and shaft line of every rotor) at the microphone, Pa."""
        mics = np.array([mic_m], dtype=np.float64)
        out = self.render(mics, t0_s, sample_rate_hz, n, loop_index, noises=False)
        return np.asarray(out[0], dtype=np.float64)

    def broadband_psd(self, mic_m: Vec3, t_mid_s: float, freqs_hz: FloatArray) -> FloatArray:
        """Expected broadband rotor noise at the microphone, Pa²/Hz (one-sided)."""
        _tau, r = self.emission_times(mic_m, np.array([t_mid_s]))
        rr = max(float(r[0]), 1.0)
        s = rotor_broadband_shape(freqs_hz) * self._top_line_pa2 * db_to_power(self.broadband_db)
        absorb = 10 ** (-air_absorption_db_per_m(freqs_hz) * rr / 10.0)
        return np.asarray(s * absorb / rr**2, dtype=np.float64)

    def bpf_at(self, t_emit_s: float, loop_index: int = 0) -> float:
        """Mean BPF over the rotors at emission time t_emit_s (truth for tests and labels)."""
        return float(np.mean(self.rotor_bpfs_at(t_emit_s, loop_index)))

    def rotor_bpfs_at(self, t_emit_s: float, loop_index: int = 0) -> FloatArray:
        """Each rotor's BPF at emission time t_emit_s (they differ by a few per cent)."""
        trk = self.rotor_track(loop_index)
        return np.array([np.interp(t_emit_s, trk.t_s, trk.bpf_hz[i]) for i in range(self.rotors)])


@dataclass(frozen=True)
class Ambience:
    """Site background (pink-ish, `level_dba`) plus microphone self-noise (white)."""

    level_dba: float = 45.0
    self_noise_dba: float = 20.0

    def psd(self, freqs_hz: FloatArray) -> FloatArray:
        bg = scaled_to_dba(pinkish_shape(freqs_hz), freqs_hz, self.level_dba)
        mic = scaled_to_dba(white_shape(freqs_hz), freqs_hz, self.self_noise_dba)
        return np.asarray(bg + mic, dtype=np.float64)
