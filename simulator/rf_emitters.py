"""RF emitters built from protocol parameters (SIGNALS.md §2, §5).

An emitter is a schedule of `Burst`s. A burst knows when it leaves the antenna, where
from, on which carrier and at which EIRP, and how to draw its own complex baseband
waveform (unit mean power while keyed) on any sample grid. Waveforms are generated
from seeds derived from (scenario seed, loop, emitter, burst number), so a burst looks
the same whichever sensor or window renders it, and runs are reproducible.

Waveforms here:
- LoRa packets (ExpressLRS 2.4 GHz, 500 Hz mode): SF5 up-chirps at 812.5 kHz, preamble,
  sync word, 2.25 down-chirp SFD, payload; continuous phase, analytic on any grid.
- GSM normal bursts: GMSK BT 0.3 at 270.833 kb/s, differential encoding, TSC 0, power
  ramps inside the guard period.
- 802.11a/g-style OFDM frames: L-STF, L-LTF, then 64-point OFDM symbols with 16-sample
  cyclic prefix at 20 MS/s, resampled to the sensor rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d
from scipy.signal import firwin, resample_poly
from scipy.special import erfc

from simulator.trajectory import Track, Vec3

if TYPE_CHECKING:
    from simulator.link_budget import BudgetSource

Complex64Array = NDArray[np.complex64]
#: waveform(t_first_s, sample_rate_hz, n, offset_hz) -> (n,) complex64, unit power while keyed,
#: shifted by offset_hz (carrier minus the receiver's centre); t_first_s is the time of the
#: first sample measured from the burst start (>= 0). The offset's phase is 0 at burst start.
Waveform = Callable[[float, float, int, float], Complex64Array]
EmitterKind = Literal["drone", "handset", "other"]


@dataclass(frozen=True)
class Burst:
    start_s: float  # scenario time at which the burst leaves the antenna
    duration_s: float
    freq_hz: float  # carrier
    bandwidth_hz: float  # occupied (99 %)
    eirp_dbm: float
    position_m: Vec3
    waveform: Waveform = field(compare=False, repr=False)
    extra_loss_db: float = 0.0  # walls, body
    gain: complex = 1.0 + 0.0j  # fading, unit mean power
    source_id: str = ""


_PHASOR_BITS = 16
_PHASOR_TABLE = np.exp(2j * np.pi * np.arange(1 << _PHASOR_BITS) / (1 << _PHASOR_BITS)).astype(
    np.complex64
)


def phasor(phase_rad: NDArray[np.float64]) -> Complex64Array:
    """exp(j·phase) as complex64 from a 65,536-point table: the phase is rounded to 2π/65536
    (error ≤ 4.8e-5 rad, spurs and EVM below −86 dB, far under any receiver's noise), 6×
    cheaper than float32 cos and sin."""
    x = np.multiply(phase_rad, (1 << _PHASOR_BITS) / (2.0 * np.pi), dtype=np.float64)
    np.rint(x, out=x)
    k = x.astype(np.int64)
    k &= (1 << _PHASOR_BITS) - 1
    return np.take(_PHASOR_TABLE, k)


def shift_phase(
    t_first_s: float, sample_rate_hz: float, n: int, offset_hz: float
) -> NDArray[np.float64]:
    tt = t_first_s + np.arange(n, dtype=np.float64) / sample_rate_hz
    return (2.0 * np.pi * offset_hz) * tt


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key])


def _lazy(make: Callable[..., Waveform], *args: int) -> Waveform:
    """A waveform built by `make(*args)` on its first call (most bursts are never rendered:
    they fall outside every sensor's band), then reused."""
    built: list[Waveform] = []

    def waveform(
        t_first_s: float, sample_rate_hz: float, n: int, offset_hz: float
    ) -> Complex64Array:
        if not built:
            built.append(make(*args))
        return built[0](t_first_s, sample_rate_hz, n, offset_hz)

    return waveform


def _salt(name: str) -> int:
    """A stable 32-bit number per emitter id (hash() is salted per process)."""
    return int.from_bytes(name.encode()[:16].ljust(16, b"\0"), "little") % (2**31 - 1)


class EmitterView:
    """Base of emitters (RF or acoustic) that show another one (`inner`) differently (gated
    by a schedule, reduced to chosen bursts): identity reads through."""

    inner: Any

    @property
    def emitter_id(self) -> str:
        return str(self.inner.emitter_id)

    @property
    def kind(self) -> str:
        return str(self.inner.kind)

    @property
    def signature(self) -> str:
        return str(self.inner.signature)


# ---------------------------------------------------------------- LoRa (ExpressLRS)


#: (assumption) the modem's PLL smooths the chirp's frequency jumps: Gaussian, σ 0.7 µs.
#: Without it an SF5 packet's 99 % bandwidth is ≈1.18 × BW; with it ≈1.04 × BW.
LORA_FREQ_SMOOTHING_S = 0.7e-6


def lora_waveform(
    symbols: NDArray[np.int64],
    *,
    spreading_factor: int,
    bandwidth_hz: float,
    preamble_symbols: int = 12,
    sync_symbols: tuple[int, int] = (8, 16),
    payload_phase_rad: float = 0.0,
    smoothing_s: float = LORA_FREQ_SMOOTHING_S,
) -> tuple[Waveform, float]:
    """A LoRa packet; returns (waveform, time on air in s).

    Chirp instantaneous frequency for symbol value s (M = 2^SF chips, Ts = M/BW):
    f(u) = BW·(((u + s/M) mod 1) − ½), u = time within the symbol / Ts; down-chirps are
    −f(u) with s = 0. The frequency track is smoothed (`smoothing_s`) and integrated on
    the requested grid from the start of the packet, so any window of it is consistent.
    """
    m = 2**spreading_factor
    ts = m / bandwidth_hz
    values = [0] * preamble_symbols + list(sync_symbols) + [0, 0, 0] + [int(s) % m for s in symbols]
    direction = [1] * (preamble_symbols + len(sync_symbols)) + [-1, -1, -1] + [1] * len(symbols)
    n_pre = preamble_symbols + len(sync_symbols)
    # the third down-chirp lasts a quarter symbol
    lengths = np.array([0.25 * ts if i == n_pre + 2 else ts for i in range(len(values))])
    starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    duration = float(np.sum(lengths))
    vals32 = (np.array(values, dtype=np.float64) / m).astype(np.float32)
    bw_dirs32 = (bandwidth_hz * np.array(direction, dtype=np.float64)).astype(np.float32)
    starts32 = starts.astype(np.float32)

    def waveform(
        t_first_s: float, sample_rate_hz: float, n: int, offset_hz: float
    ) -> Complex64Array:
        k_first = math.floor(t_first_s * sample_rate_hz + 1e-9)
        frac = t_first_s - k_first / sample_rate_hz
        total = math.ceil((duration - frac) * sample_rate_hz)
        # symbol index per sample from the symbol boundaries on the grid (no search)
        bounds = np.clip(np.ceil((starts - frac) * sample_rate_hz - 1e-9), 0, total).astype(np.intp)
        idx = np.repeat(np.arange(len(values), dtype=np.intp), np.diff(np.append(bounds, total)))
        # float32 is exact enough within a packet (≤ 0.1 ns in time, ≤ 0.1 Hz in frequency);
        # the phase integral below is float64
        tt = np.arange(total, dtype=np.float32) * np.float32(1.0 / sample_rate_hz)
        tt += np.float32(frac)
        u = (tt - starts32[idx]) * np.float32(1.0 / ts)
        u += vals32[idx]
        u -= np.floor(u)  # mod 1 (np.remainder is 70× slower)
        u -= np.float32(0.5)
        u *= bw_dirs32[idx]  # f_inst, Hz
        f_inst = u
        width = round(smoothing_s * math.sqrt(6.0) * sample_rate_hz)
        if width > 1:  # two box passes: a near-Gaussian of σ = smoothing_s, O(n) at any width
            f_inst = uniform_filter1d(f_inst, width, mode="nearest")
            f_inst = uniform_filter1d(f_inst, width, mode="nearest")
        phase = np.cumsum(f_inst, dtype=np.float64)
        phase *= 2.0 * np.pi / sample_rate_hz
        phase[bounds[min(n_pre + 3, len(bounds) - 1)] :] += payload_phase_rad
        seg = slice(k_first, k_first + n)
        phase = phase[seg]
        w = 2.0 * np.pi * offset_hz
        ramp = np.arange(k_first, k_first + len(phase), dtype=np.float64)  # float64 times
        ramp *= w / sample_rate_hz
        ramp += w * frac
        phase += ramp
        if len(phase) == n:
            return phasor(phase)
        out = np.zeros(n, dtype=np.complex64)
        out[: len(phase)] = phasor(phase)
        return out

    return waveform, duration


@dataclass
class ElrsLink:
    """ExpressLRS 2.4 GHz LoRa link, 500 Hz mode (SIGNALS.md §2).

    The handset (pilot's radio) sends every packet slot except each `telemetry_ratio`-th,
    in which the receiver on the drone answers on the same channel. The channel changes
    every `hop_interval` packets along a seeded FHSS list over 80 channels
    2400.4 + k MHz; each pass through the list starts with the sync channel (40).
    """

    emitter_id: str
    pilot: Track
    drone: Track
    seed: int
    start_s: float = 0.0
    end_s: float = math.inf
    eirp_dbm: float = 20.0  # ≤20 dBm (EU)
    telemetry_eirp_dbm: float = 17.0  # (assumption) receiver telemetry power
    telemetry_ratio: int = 16  # 1:16 (ELRS offers 1:2 ... 1:128)
    packet_interval_s: float = 2e-3  # 500 Hz
    time_on_air_s: float = 1.507e-3
    spreading_factor: int = 5
    bandwidth_hz: float = 812.5e3
    hop_interval: int = 4
    n_channels: int = 80
    first_channel_hz: float = 2400.4e6
    channel_spacing_hz: float = 1e6
    crystal_ppm: float = 0.0  # fixed carrier offset of this transmitter
    kind: EmitterKind = "drone"
    signature: str = "elrs_2g4"

    def __post_init__(self) -> None:
        rng = _rng(self.seed, _salt(self.emitter_id), 0xF455)
        sync = self.n_channels // 2
        others = np.array([c for c in range(self.n_channels) if c != sync])
        passes = [np.concatenate([[sync], rng.permutation(others)]) for _ in range(4)]
        self.hop_sequence: NDArray[np.int64] = np.concatenate(passes).astype(np.int64)
        m = 2**self.spreading_factor
        payload = self.time_on_air_s * self.bandwidth_hz / m - (12 + 2 + 2.25)
        self.payload_symbols = max(1, round(payload))
        _, self.packet_time_on_air_s = lora_waveform(
            np.zeros(self.payload_symbols, dtype=np.int64),
            spreading_factor=self.spreading_factor,
            bandwidth_hz=self.bandwidth_hz,
        )
        self._phases: dict[tuple[int, int], NDArray[np.complex128]] = {}

    def channel_hz(self, packet: int) -> float:
        k = int(self.hop_sequence[(packet // self.hop_interval) % len(self.hop_sequence)])
        return self.first_channel_hz + k * self.channel_spacing_hz

    def is_telemetry(self, packet: int) -> bool:
        return packet % self.telemetry_ratio == self.telemetry_ratio - 1

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        lo = max(self.start_s, t_from_s - self.time_on_air_s)
        hi = min(self.end_s, t_to_s)
        if hi <= lo:
            return
        p0 = max(0, math.floor((lo - self.start_s) / self.packet_interval_s))
        p1 = math.ceil((hi - self.start_s) / self.packet_interval_s)
        salt = _salt(self.emitter_id)
        for p in range(p0, p1 + 1):
            start = self.start_s + p * self.packet_interval_s
            if start + self.time_on_air_s <= t_from_s or start >= t_to_s or start >= self.end_s:
                continue
            telemetry = self.is_telemetry(p)
            wf = _lazy(self._packet_waveform, loop_index, salt, p)
            track = self.drone if telemetry else self.pilot
            carrier = self.channel_hz(p)
            yield Burst(
                start_s=start,
                duration_s=self.packet_time_on_air_s,
                freq_hz=carrier * (1.0 + self.crystal_ppm * 1e-6),
                bandwidth_hz=self.bandwidth_hz,
                eirp_dbm=self.telemetry_eirp_dbm if telemetry else self.eirp_dbm,
                position_m=track.point(start),
                waveform=wf,
                gain=self._packet_phasor(loop_index, salt, p),
                source_id=f"{self.emitter_id}/{'drone' if telemetry else 'pilot'}",
            )

    _PHASE_BLOCK: ClassVar[int] = 4096  # packets whose carrier phases are drawn together

    def _packet_phasor(self, loop_index: int, salt: int, packet: int) -> complex:
        """The carrier phase of a packet, e^{jφ}; drawn a block of packets at a time (one
        generator per block, not per packet: most packets fall outside a sensor's band)."""
        block, i = divmod(packet, self._PHASE_BLOCK)
        key = (loop_index, block)
        phases = self._phases.get(key)
        if phases is None:
            rng = _rng(self.seed, loop_index, salt, block, 0x9A5E)
            phases = np.exp(1j * rng.uniform(0, 2 * np.pi, self._PHASE_BLOCK))
            if len(self._phases) > 8:
                self._phases.clear()
            self._phases[key] = phases
        return complex(phases[i])

    def _packet_waveform(self, loop_index: int, salt: int, packet: int) -> Waveform:
        rng = _rng(self.seed, loop_index, salt, packet)
        symbols = rng.integers(0, 2**self.spreading_factor, self.payload_symbols)
        wf, _ = lora_waveform(
            symbols,
            spreading_factor=self.spreading_factor,
            bandwidth_hz=self.bandwidth_hz,
            payload_phase_rad=float(rng.uniform(0, 2 * np.pi)),
        )
        return wf

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        """The pilot's radio and the drone's telemetry, each over the 80-channel hop set."""
        from simulator.link_budget import hop_set, within

        chans = [
            self.first_channel_hz + k * self.channel_spacing_hz for k in range(self.n_channels)
        ]
        on = within(t_s, self.start_s, self.end_s)
        return [
            hop_set(f"{self.emitter_id}/pilot", self.pilot.point(t_s), self.eirp_dbm, chans,
                    self.bandwidth_hz, active=on),
            hop_set(f"{self.emitter_id}/drone", self.drone.point(t_s), self.telemetry_eirp_dbm,
                    chans, self.bandwidth_hz, active=on),
        ]  # fmt: skip


# ---------------------------------------------------------------- GSM (GMSK)

GSM_BIT_RATE_HZ = 1625e3 / 6  # 270.833 kb/s
GSM_FRAME_S = 120e-3 / 26  # 4.615 ms
GSM_SLOT_S = GSM_FRAME_S / 8  # 576.9 µs
#: training sequence code 0 (TS 45.002)
GSM_TSC0 = (0, 0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 1, 1, 1)
_RAMP_BITS = 2  # power ramp each side, inside the 8.25-bit guard
_EXTRA_BITS = 2  # bits keyed at full power either side of the 148 (power-time mask)


@lru_cache(maxsize=4)
def _gmsk_phase_pulse(bt: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """q(τ): integral of the Gaussian frequency pulse (in bit periods), 0 → ½ over ±2.5 T."""
    tau = np.linspace(-2.5, 2.5, 4001)
    k = 2.0 * np.pi * bt / math.sqrt(math.log(2.0))
    g = 0.25 * (erfc(k * (tau - 0.5) / math.sqrt(2.0)) - erfc(k * (tau + 0.5) / math.sqrt(2.0)))
    q = np.cumsum(g)
    q *= 0.5 / q[-1]
    return tau, q


_GMSK_STEPS = 1024  # points per bit of the pattern phase tables


@lru_cache(maxsize=4)
def _gmsk_pattern_phases(bt: float) -> NDArray[np.float64]:
    """(243, _GMSK_STEPS + 1): for every pattern of the five symbols around a bit (each
    −1, 0 or +1; base-3 digits, bit j−2 least significant), Σ_off a_off·q(x − off) at
    x = −½ … ½ bit from the bit's centre: the phase within a bit is one table read."""
    tau_tab, q_tab = _gmsk_phase_pulse(bt)
    x = np.linspace(-0.5, 0.5, _GMSK_STEPS + 1)
    q = np.stack([np.interp(x - off, tau_tab, q_tab) for off in (-2, -1, 0, 1, 2)])
    digits = (np.arange(243)[:, None] // 3 ** np.arange(5)[None, :]) % 3 - 1  # (243, 5)
    return np.asarray(digits.astype(np.float64) @ q, dtype=np.float64)


def gmsk_waveform(
    bits: NDArray[np.int64], *, bit_rate_hz: float = GSM_BIT_RATE_HZ, bt: float = 0.3
) -> tuple[Waveform, float]:
    """GMSK (h = ½) of differentially encoded bits with raised-cosine power ramps.

    The keyed span is `_RAMP_BITS + len(bits) + _RAMP_BITS` bit periods; returns
    (waveform, keyed duration in s).
    """
    tb = 1.0 / bit_rate_hz
    d = np.bitwise_xor(bits, np.concatenate([[1], bits[:-1]]))
    a = (1 - 2 * d).astype(np.float64)
    a = np.concatenate([np.ones(_RAMP_BITS), a, np.ones(_RAMP_BITS)])
    nb = len(a)
    # bit k is centred at (k + ½)·Tb; pad so that neighbours of any bit exist
    pad = 3
    ap = np.concatenate([np.zeros(pad), a, np.zeros(pad)])
    cum = np.concatenate([[0.0], np.cumsum(ap)])
    table = _gmsk_pattern_phases(bt).reshape(-1)
    # each bit's pattern of its five neighbours, as a row offset into the flat table
    digits = np.rint(ap + 1).astype(np.int64)
    pattern = np.zeros(len(ap), dtype=np.int64)
    for i, off in enumerate((-2, -1, 0, 1, 2)):
        pattern[2:-2] += digits[2 + off : len(ap) - 2 + off] * 3**i
    row = pattern * (_GMSK_STEPS + 1)
    duration = nb * tb

    def waveform(
        t_first_s: float, sample_rate_hz: float, n: int, offset_hz: float
    ) -> Complex64Array:
        tt = (t_first_s + np.arange(n, dtype=np.float64) / sample_rate_hz) / tb  # bit units
        j = np.floor(tt).astype(np.int64) + pad
        jc = np.clip(j, 3, nb + pad - 1)
        # bits fully integrated: indices < j - 2 contribute ½ each
        phase = 0.5 * cum[jc - 2]
        # time from the centre of bit jc, in table steps (clipped: outside the keyed span
        # the samples are silenced below)
        u = tt - (jc - pad)
        u *= _GMSK_STEPS
        np.clip(u, 0.0, _GMSK_STEPS - 1e-6, out=u)
        i = u.astype(np.int64)
        u -= i
        i += row[jc]
        lo = table[i]
        phase += lo + u * (table[i + 1] - lo)
        phase *= np.pi
        phase += (2.0 * np.pi * offset_hz * tb) * tt
        out = phasor(phase)
        # raised-cosine power ramps over _RAMP_BITS at each end (amplitude sin(π/2·u)),
        # silent outside the keyed span; tt increases, so each piece is a slice
        r = _RAMP_BITS
        k0, k1, k2, k3 = np.searchsorted(tt, [0.0, r, nb - r, nb], side="left")
        out[:k0] = 0.0
        out[k0:k1] *= np.sin((0.5 * np.pi / r) * tt[k0:k1]).astype(np.float32)
        out[k2:k3] *= np.sin((0.5 * np.pi / r) * (nb - tt[k2:k3])).astype(np.float32)
        out[k3:] = 0.0
        return out

    return waveform, duration


def gsm_normal_burst_bits(rng: np.random.Generator) -> NDArray[np.int64]:
    """3 tail + 57 data + 1 stealing + 26 training + 1 stealing + 57 data + 3 tail = 148 bits,
    with `_EXTRA_BITS` dummy ones either side (keyed inside the guard)."""
    data = rng.integers(0, 2, 116)
    tail = [0, 0, 0]
    extra = [1] * _EXTRA_BITS
    return np.array(
        extra
        + tail
        + list(data[:57])
        + [0]
        + list(GSM_TSC0)
        + [0]
        + list(data[57:])
        + tail
        + extra,
        dtype=np.int64,
    )


@dataclass
class GsmHandset:
    """A handset in a GSM-900 voice call: one normal burst per TDMA frame on its timeslot.

    Traffic channel TCH/F in a 26-multiframe (24 TCH + 1 SACCH keyed, frame 25 idle),
    no DTX; ARFCN n → uplink 890 + 0.2·n MHz.
    """

    emitter_id: str
    position: Track
    seed: int
    call_start_s: float
    call_end_s: float
    arfcn: int = 40
    timeslot: int = 2
    eirp_dbm: float = 33.0
    wall_loss_db: float = 15.0
    fading: Literal["none", "rayleigh"] = "none"
    kind: EmitterKind = "handset"
    signature: str = "gsm_uplink"

    @property
    def carrier_hz(self) -> float:
        return 890e6 + 0.2e6 * self.arfcn

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        offset = self.timeslot * GSM_SLOT_S
        lo = max(self.call_start_s, t_from_s - GSM_SLOT_S)
        hi = min(self.call_end_s, t_to_s)
        if hi <= lo:
            return
        f0 = max(0, math.floor((lo - self.call_start_s - offset) / GSM_FRAME_S))
        f1 = math.ceil((hi - self.call_start_s - offset) / GSM_FRAME_S)
        salt = _salt(self.emitter_id)
        for fn in range(f0, f1 + 1):
            if fn % 26 == 25:  # idle frame of the 26-multiframe
                continue
            start = self.call_start_s + offset + fn * GSM_FRAME_S
            if start >= self.call_end_s or start >= t_to_s:
                continue
            rng = _rng(self.seed, loop_index, salt, fn)
            wf, dur = gmsk_waveform(gsm_normal_burst_bits(rng))
            if start + dur <= t_from_s:
                continue
            g = complex(np.exp(1j * rng.uniform(0, 2 * np.pi)))
            if self.fading == "rayleigh":
                g = complex((rng.standard_normal() + 1j * rng.standard_normal()) / math.sqrt(2))
            yield Burst(
                start_s=start,
                duration_s=dur,
                freq_hz=self.carrier_hz,
                bandwidth_hz=250e3,
                eirp_dbm=self.eirp_dbm,
                position_m=self.position.point(start),
                waveform=wf,
                extra_loss_db=self.wall_loss_db,
                gain=g,
                source_id=self.emitter_id,
            )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        from simulator.link_budget import carrier, within

        on = within(t_s, self.call_start_s, self.call_end_s)
        return [carrier(self.emitter_id, self.position.point(t_s), self.eirp_dbm, self.carrier_hz,
                        250e3, active=on, extra_loss_db=self.wall_loss_db)]  # fmt: skip


# ---------------------------------------------------------------- Wi-Fi (OFDM)

WIFI_FS_HZ = 20e6
# L-STF on subcarriers -26..26 (IEEE 802.11-2020 eq. 17-6), scaled by sqrt(13/6)
_STF_NONZERO = {
    -24: 1 + 1j, -20: -1 - 1j, -16: 1 + 1j, -12: -1 - 1j, -8: -1 - 1j, -4: 1 + 1j,
    4: -1 - 1j, 8: -1 - 1j, 12: 1 + 1j, 16: 1 + 1j, 20: 1 + 1j, 24: 1 + 1j,
}  # fmt: skip
# L-LTF on subcarriers -26..26 (the two halves as printed in the standard, DC = 0)
_LTF_L = [1, 1, -1, -1, 1, 1, -1, 1, -1, 1, 1, 1, 1, 1, 1, -1, -1, 1, 1, -1, 1, -1, 1, 1, 1, 1]
_LTF_H = [1, -1, -1, 1, 1, -1, 1, -1, 1, -1, -1, -1, -1, -1, 1, 1, -1, -1, 1, -1, 1, -1, 1, 1, 1, 1]
_LTF = [*_LTF_L, 0, *_LTF_H]
_PILOTS = (-21, -7, 7, 21)


def _ofdm_symbol(freq: dict[int, complex] | NDArray[np.complex128]) -> NDArray[np.complex128]:
    x = np.zeros(64, dtype=np.complex128)
    if isinstance(freq, dict):
        for k, v in freq.items():
            x[k % 64] = v
    else:  # array over subcarriers -26..26
        for i, k in enumerate(range(-26, 27)):
            x[k % 64] = freq[i]
    return np.fft.ifft(x) * 8.0  # 64/sqrt(64): unit power for unit-power carriers spread over 64


def wifi_ofdm_frame(rng: np.random.Generator, duration_s: float) -> NDArray[np.complex128]:
    """An 802.11a/g OFDM PPDU at 20 MS/s: L-STF (8 µs), L-LTF (8 µs), then 4 µs QPSK symbols."""
    stf_sym = _ofdm_symbol({k: v * math.sqrt(13 / 6) for k, v in _STF_NONZERO.items()})
    stf = np.tile(stf_sym[:16], 10)
    ltf_sym = _ofdm_symbol(np.array(_LTF, dtype=np.complex128))
    ltf = np.concatenate([ltf_sym[-32:], ltf_sym, ltf_sym])
    n_sym = max(1, round((duration_s - 16e-6) / 4e-6))
    used = np.array([k for k in range(-26, 27) if k != 0])
    qpsk = (rng.integers(0, 2, (n_sym, 52)) * 2 - 1) + 1j * (
        rng.integers(0, 2, (n_sym, 52)) * 2 - 1
    )
    qpsk /= math.sqrt(2)
    grid = np.zeros((n_sym, 64), dtype=np.complex128)
    grid[:, used % 64] = qpsk
    grid[:, np.array(_PILOTS) % 64] = 1.0
    body = np.fft.ifft(grid, axis=1) * 8.0
    body = np.concatenate([body[:, -16:], body], axis=1).reshape(-1)
    x = np.concatenate([stf, ltf, body])
    return np.asarray(x / math.sqrt(np.mean(np.abs(x) ** 2)), dtype=np.complex128)


@lru_cache(maxsize=32)
def resampling_filter(up: int, down: int) -> NDArray[np.float64]:
    """The taps `scipy.signal.resample_poly(x, up, down)` designs by default (Kaiser β 5,
    20·max(up, down) + 1 taps), designed once per ratio."""
    max_rate = max(up, down)
    taps = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    return np.asarray(taps, dtype=np.float64)


def _resampled_waveform(x20: NDArray[np.complex128]) -> Waveform:
    cache: dict[float, NDArray[np.complex64]] = {}

    def waveform(
        t_first_s: float, sample_rate_hz: float, n: int, offset_hz: float
    ) -> Complex64Array:
        y = cache.get(sample_rate_hz)
        if y is None:
            ratio = Fraction(sample_rate_hz / WIFI_FS_HZ).limit_denominator(1000)
            if ratio == 1:
                y = x20.astype(np.complex64)
            else:
                up, down = ratio.numerator, ratio.denominator
                h = resampling_filter(up, down)
                y = resample_poly(x20, up, down, window=h).astype(np.complex64)
            cache[sample_rate_hz] = y
        i0 = round(t_first_s * sample_rate_hz)
        out = np.zeros(n, dtype=np.complex64)
        seg = y[max(i0, 0) : max(i0, 0) + n]
        out[: len(seg)] = seg
        if offset_hz != 0.0:
            out *= phasor(shift_phase(t_first_s, sample_rate_hz, n, offset_hz))
        return out

    return waveform


@dataclass
class WifiAccessPoint:
    """An access point on one 20 MHz channel: beacons every 102.4 ms plus Poisson data frames."""

    emitter_id: str
    position: Track
    seed: int
    channel: int = 6
    eirp_dbm: float = 17.0
    beacon_interval_s: float = 0.1024
    beacon_duration_s: float = 0.4e-3
    data_rate_per_s: float = 8.0
    data_duration_s: tuple[float, float] = (0.1e-3, 1.5e-3)
    start_s: float = 0.0
    end_s: float = math.inf
    kind: EmitterKind = "other"
    signature: str = "wifi_ap"
    _block_s: float = 0.1

    @property
    def carrier_hz(self) -> float:
        return 2407e6 + 5e6 * self.channel

    def _burst(self, start: float, dur: float, rng: np.random.Generator) -> Burst:
        return Burst(
            start_s=start,
            duration_s=dur,
            freq_hz=self.carrier_hz,
            bandwidth_hz=16.6e6,
            eirp_dbm=self.eirp_dbm,
            position_m=self.position.point(start),
            waveform=_resampled_waveform(wifi_ofdm_frame(rng, dur)),
            gain=complex(np.exp(1j * rng.uniform(0, 2 * np.pi))),
            source_id=self.emitter_id,
        )

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        lo = max(self.start_s, t_from_s - 2e-3)
        hi = min(self.end_s, t_to_s)
        if hi <= lo:
            return
        salt = _salt(self.emitter_id)
        phase = _rng(self.seed, salt).uniform(0, self.beacon_interval_s)
        found: list[tuple[float, float, tuple[int, ...]]] = []
        b0 = math.floor((lo - phase) / self.beacon_interval_s)
        b1 = math.ceil((hi - phase) / self.beacon_interval_s)
        for b in range(b0, b1 + 1):
            start = phase + b * self.beacon_interval_s
            found.append((start, self.beacon_duration_s, (1, b)))
        for blk in range(math.floor(lo / self._block_s), math.floor(hi / self._block_s) + 1):
            rng = _rng(self.seed, loop_index, salt, 2, blk)
            count = rng.poisson(self.data_rate_per_s * self._block_s)
            for i in range(count):
                start = (blk + rng.uniform()) * self._block_s
                dur = rng.uniform(*self.data_duration_s)
                found.append((start, dur, (2, blk, i)))
        for start, dur, key in sorted(found, key=lambda f: f[0]):
            if start + dur <= t_from_s or start >= t_to_s:
                continue
            if start < self.start_s or start >= self.end_s:
                continue
            rng = _rng(self.seed, loop_index, salt, *key)
            yield self._burst(start, dur, rng)

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        from simulator.link_budget import carrier, within

        on = within(t_s, self.start_s, self.end_s)
        return [carrier(self.emitter_id, self.position.point(t_s), self.eirp_dbm, self.carrier_hz,
                        16.6e6, active=on)]  # fmt: skip
