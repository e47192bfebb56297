"""Virtual edge collectors: render what a fixed sensor hears and publish it live.

`RfCollector` is an SDR capturing snapshots (`snapshot_s` of IQ every `period_s`; the
receiver is blind between snapshots, as a collector sharing one SDR with other work is).
`AudioCollector` is a microphone delivering back-to-back PCM frames. Both render from
the scenario's emitters through `simulator.propagation`, add receiver noise, and scale
to full scale 1.0 with the calibration stated in their frame header
(see `simulator.propagation` for the conventions).

`run_live` publishes a scenario in real time (or faster), looping it.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from sensor_hub.codec import int_wire
from sensor_hub.schemas import FrameHeader
from simulator.audio_collector import AudioCollector as AudioCollector
from simulator.link_budget import frequency_spans
from simulator.noise import gaussian32, gaussian_table32, noise_indices
from simulator.propagation import (
    SPEED_OF_LIGHT_M_S,
    FadingModel,
    Wall,
    db_to_amplitude,
    db_to_power,
    distance_m,
    fading_gain,
    received_power_dbm,
    thermal_noise_dbm,
    wall_loss_db,
)
from simulator.rf_emitters import Burst, Complex64Array
from simulator.trajectory import Vec3

if TYPE_CHECKING:
    from simulator.scenario import Scenario

Modality = Literal["rf", "acoustic"]


@dataclass(frozen=True)
class SensorSpec:
    """What the hub needs to know about a sensor: identity, where, what it produces."""

    sensor_id: str
    modality: Modality
    kind: Literal["iq", "audio", "psd"]
    position: Vec3  # site-local (x_m, y_m, z_m)
    zone: str


class RfEmitter(Protocol):
    @property
    def emitter_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def signature(self) -> str: ...

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterable[Burst]: ...


class SharedBursts:
    """An `RfEmitter` that remembers its last few `bursts(...)` answers.

    `capture.record` asks each emitter for a snapshot's bursts twice, once to render the
    samples and once to annotate them; wrapping the emitters in this makes the second ask
    free. The bursts are the same objects (bursts are deterministic in their arguments,
    so the samples do not change). Other attributes read through to the emitter.
    """

    _KEEP = 4  # snapshots remembered: render and annotation of one frame ask in a row

    def __init__(self, emitter: RfEmitter) -> None:
        self.emitter = emitter
        self._memo: dict[tuple[float, float, int], tuple[Burst, ...]] = {}

    @property
    def emitter_id(self) -> str:
        return self.emitter.emitter_id

    @property
    def kind(self) -> str:
        return self.emitter.kind

    @property
    def signature(self) -> str:
        return self.emitter.signature

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> tuple[Burst, ...]:
        key = (t_from_s, t_to_s, loop_index)
        found = self._memo.get(key)
        if found is None:
            found = tuple(self.emitter.bursts(t_from_s, t_to_s, loop_index))
            if len(self._memo) >= self._KEEP:
                del self._memo[next(iter(self._memo))]
            self._memo[key] = found
        return found

    def __getattr__(self, name: str) -> object:
        if name == "emitter":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.emitter, name)


# ---------------------------------------------------------------- RF


@dataclass(frozen=True)
class RfCollector:
    """An SDR taking `snapshot_s` of IQ every `period_s`, tuned by a fixed centre or a sweep.

    Channel from each burst to the sensor: log-distance path loss (`path_loss_exponent`),
    the burst's own extra loss, the `walls` crossed by the straight path, optional flat
    fading per burst (`fading`, deterministic from `fading_seed`, the loop, the burst and
    the sensor) and the receiver's local-oscillator error (`frequency_offset_ppm`: the LO
    runs at f_c·(1 + ppm·10⁻⁶), so a carrier f appears at f − f_c·(1 + ppm·10⁻⁶) in
    baseband while the header states the nominal f_c). I and Q clip at full scale 1.0 as
    an ADC does (`adc_clipping`).

    Tuning: with `sweep` ((centre_hz, dwell_s), ...) the receiver visits the centres in
    turn, repeating from t = 0 of each scenario pass; a snapshot uses the centre of the
    dwell in which it starts and hears only what falls in that band.
    """

    spec: SensorSpec
    center_freq_hz: float
    sample_rate_hz: float
    snapshot_s: float
    period_s: float
    noise_figure_db: float = 6.0
    full_scale_dbm: float = -30.0
    #: ADC full scale referred to the ADC input; gain_db = adc_full_scale_dbm − full_scale_dbm
    adc_full_scale_dbm: float = 0.0
    datatype: Literal["ci16_le", "ci8", "cf32_le"] = "ci16_le"
    path_loss_exponent: float = 2.0
    start_offset_s: float = 0.0
    sweep: tuple[tuple[float, float], ...] = ()
    walls: tuple[Wall, ...] = ()
    fading: FadingModel = "none"
    rician_k_db: float = 6.0
    fading_seed: int = 0
    frequency_offset_ppm: float = 0.0
    adc_clipping: bool = True
    #: frames in one scenario pass, so that `header(seq=...)` finds a looped frame's dwell
    frames_per_loop: int | None = None

    def __post_init__(self) -> None:
        if any(dwell <= 0 for _, dwell in self.sweep):
            raise ValueError(f"sweep dwells must be > 0 s: {self.sweep=}")

    @property
    def num_samples(self) -> int:
        return round(self.snapshot_s * self.sample_rate_hz)

    @property
    def frame_duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz

    @property
    def gain_db(self) -> float:
        return self.adc_full_scale_dbm - self.full_scale_dbm

    @property
    def noise_dbm(self) -> float:
        """Thermal noise over the whole sampled band, −174 + 10·lg fs + NF."""
        return thermal_noise_dbm(self.sample_rate_hz, self.noise_figure_db)

    @property
    def sweep_cycle_s(self) -> float:
        return sum(dwell for _, dwell in self.sweep)

    def frames_per_pass(self, duration_s: float) -> int:
        return max(
            0,
            math.floor(
                (duration_s - self.start_offset_s - self.frame_duration_s) / self.period_s + 1e-9
            )
            + 1,
        )

    def frame_start_s(self, k: int) -> float:
        return self.start_offset_s + k * self.period_s

    def center_freq_at(self, t_s: float) -> float:
        """Nominal centre frequency tuned at scenario time t_s (within a pass)."""
        if not self.sweep:
            return self.center_freq_hz
        u = (t_s + 1e-9) % self.sweep_cycle_s  # 1 ns: a snapshot on a dwell edge is the next's
        for centre, dwell in self.sweep:
            if u < dwell:
                return centre
            u -= dwell
        return self.sweep[-1][0]  # rounding at the cycle's end

    def frame_center_freq_hz(self, k: int) -> float:
        return self.center_freq_at(self.frame_start_s(k))

    def in_band(
        self, freq_hz: float, bandwidth_hz: float, *, center_freq_hz: float | None = None
    ) -> bool:
        fc = self.center_freq_hz if center_freq_hz is None else center_freq_hz
        return abs(freq_hz - fc) + 0.5 * bandwidth_hz <= 0.5 * self.sample_rate_hz

    def wall_loss_db(self, position_m: Vec3) -> float:
        return wall_loss_db(position_m, self.spec.position, self.walls)

    def received_dbm(self, burst: Burst) -> float:
        """Mean received power (before fading) of a burst at the antenna port."""
        d = float(distance_m(burst.position_m, self.spec.position))
        return received_power_dbm(
            burst.eirp_dbm,
            burst.freq_hz,
            d,
            extra_loss_db=burst.extra_loss_db + self.wall_loss_db(burst.position_m),
            path_loss_exponent=self.path_loss_exponent,
        )

    def channel_gain(self, burst: Burst, loop_index: int) -> complex:
        """This sensor's flat-fading coefficient for one burst (1 without fading); the
        rendered amplitude is burst.gain × this × the link budget's amplitude."""
        if self.fading == "none":
            return 1.0 + 0.0j
        key = (burst.source_id, round(burst.start_s * 1e9), round(burst.freq_hz))
        rng = np.random.default_rng(
            [self.fading_seed & 0xFFFFFFFF, loop_index, _stable_id(self.spec.sensor_id),
             _stable_id(repr(key))]
        )  # fmt: skip
        return fading_gain(self.fading, rng, rician_k_db=self.rician_k_db)

    def render(
        self,
        emitters: Sequence[RfEmitter],
        t0_s: float,
        rng: np.random.Generator,
        loop_index: int = 0,
        *,
        include_noise: bool = True,
        include_signals: bool = True,
    ) -> NDArray[np.complex64]:
        """(n,) complex64 baseband at full scale 1.0 for the snapshot starting at t0_s."""
        n = self.num_samples
        if include_noise:  # the noise array becomes the output buffer: one pass fewer
            out = gaussian32(rng, 2 * n, self._noise_sigma).view(np.complex64)
        else:
            out = np.zeros(n, dtype=np.complex64)
        for k0, k1, w in self._signals(emitters, t0_s, loop_index) if include_signals else ():
            out[k0:k1] += w
        if self.adc_clipping:
            np.clip(out.view(np.float32), -1.0, 1.0, out=out.view(np.float32))
        return out

    def render_wire(
        self,
        emitters: Sequence[RfEmitter],
        t0_s: float,
        rng: np.random.Generator,
        loop_index: int = 0,
    ) -> NDArray[np.signedinteger[Any]]:
        """The snapshot as an integer datatype's interleaved I/Q words: exactly
        `samples_to_wire(render(...))`, but samples that hold only noise go straight from
        the noise table to the wire dtype; floats are formed only where signals are."""
        wire = int_wire(self.datatype)
        if wire is None:
            raise ValueError(f"{self.datatype} is not an integer datatype")
        dtype, scale = wire
        info = np.iinfo(dtype)
        table = gaussian_table32(self._noise_sigma)
        idx = noise_indices(rng, 2 * self.num_samples)

        def to_wire(x: NDArray[np.float32]) -> NDArray[np.signedinteger[Any]]:
            if self.adc_clipping:
                np.clip(x, -1.0, 1.0, out=x)
            x *= np.float32(scale)
            np.rint(x, out=x)
            np.clip(x, info.min, info.max, out=x)
            return x.astype(dtype)

        out = np.take(to_wire(table.copy()), idx)
        signals = self._signals(emitters, t0_s, loop_index)
        for lo, hi in _merged((k0, k1) for k0, k1, _ in signals):
            x = np.take(table, idx[2 * lo : 2 * hi]).view(np.complex64)
            for k0, k1, w in signals:  # in render's order: the same float sums
                if k0 < hi and k1 > lo:
                    x[k0 - lo : k1 - lo] += w
            out[2 * lo : 2 * hi] = to_wire(x.view(np.float32))
        return out

    def may_hear(self, emitters: Sequence[RfEmitter], lo_hz: float) -> list[RfEmitter]:
        """The emitters some of whose frequency plan falls in the band around lo_hz (the
        rest cannot be heard: their bursts need not be drawn)."""
        lo, hi = lo_hz - 0.5 * self.sample_rate_hz, lo_hz + 0.5 * self.sample_rate_hz
        out = []
        for em in emitters:
            spans = frequency_spans(em)
            if spans is None or any(a < hi and b > lo for a, b in spans):
                out.append(em)
        return out

    @property
    def _noise_sigma(self) -> float:
        """Per-component noise standard deviation at full scale 1.0."""
        return math.sqrt(db_to_power(self.noise_dbm - self.full_scale_dbm) / 2.0)

    def _signals(
        self, emitters: Sequence[RfEmitter], t0_s: float, loop_index: int
    ) -> list[tuple[int, int, Complex64Array]]:
        """(k0, k1, samples) of every burst heard in the snapshot, full scale 1.0."""
        n, fs = self.num_samples, self.sample_rate_hz
        fc = self.center_freq_at(t0_s)
        lo_hz = fc * (1.0 + self.frequency_offset_ppm * 1e-6)  # the actual local oscillator
        t_end = t0_s + n / fs
        pos = self.spec.position
        out: list[tuple[int, int, Complex64Array]] = []
        for em in self.may_hear(emitters, lo_hz):
            for b in em.bursts(t0_s - 2e-5, t_end, loop_index):  # 2e-5 s: up to 6 km away
                if not self.in_band(b.freq_hz, b.bandwidth_hz, center_freq_hz=lo_hz):
                    continue
                d = float(distance_m(b.position_m, pos))
                t_arr = b.start_s + d / SPEED_OF_LIGHT_M_S
                k0 = max(0, math.ceil((t_arr - t0_s) * fs))
                k1 = min(n, math.ceil((t_arr + b.duration_s - t0_s) * fs))
                if k1 <= k0:
                    continue
                t_first = t0_s + k0 / fs - t_arr
                gain = b.gain * self.channel_gain(b, loop_index)
                amp = db_to_amplitude(self.received_dbm(b) - self.full_scale_dbm) * gain
                w = b.waveform(t_first, fs, k1 - k0, b.freq_hz - lo_hz)
                w *= np.complex64(amp)
                out.append((k0, k1, w))
        return out

    def header(
        self, *, site: str, seq: int, boot_id: str, t0_ns: int, frame_index: int | None = None
    ) -> FrameHeader:
        """Frame header; `frame_index` (within the pass) picks a sweep's centre, else `seq`
        (modulo `frames_per_loop` when set) does."""
        if frame_index is None:
            frame_index = seq % self.frames_per_loop if self.frames_per_loop else seq
        return FrameHeader(
            site=site,
            sensor_id=self.spec.sensor_id,
            seq=seq,
            boot_id=boot_id,
            kind="iq",
            t0_ns=t0_ns,
            sample_rate_hz=self.sample_rate_hz,
            datatype=self.datatype,
            num_samples=self.num_samples,
            center_freq_hz=self.frame_center_freq_hz(frame_index),
            gain_db=self.gain_db,
            full_scale_dbm=self.full_scale_dbm,
        )


def _stable_id(name: str) -> int:
    """A 32-bit number per string that does not change between processes (unlike hash())."""
    return zlib.crc32(name.encode())


Collector = RfCollector | AudioCollector

# ---------------------------------------------------------------- live publishing

Publish = Callable[[str, bytes, int, bool], Awaitable[None]]


async def _sleep_until(deadline: float, stop: asyncio.Event | None) -> bool:
    """Sleep until the monotonic deadline; True if stopped meanwhile."""
    delay = deadline - time.monotonic()
    if stop is None:
        if delay > 0:
            await asyncio.sleep(delay)
        return False
    if stop.is_set():
        return True
    if delay > 0:
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            return False
    return stop.is_set()


async def run_live(
    scenario: Scenario,
    publish: Publish,
    *,
    speed: float = 1.0,
    loop: bool = True,
    stop: asyncio.Event | None = None,
    boot_id: str | None = None,
    start_time_ns: int | None = None,
) -> int:
    """Publish every message of the scenario when it is due (scenario time / speed).

    Loops with a new `loop_index` (new noise, bits, jitter; same trajectories) while `loop`;
    seq keeps increasing across loops, one random boot_id per call unless given. Frames
    carry scenario time: t0_ns = start_time_ns + scenario offset (so at speed > 1 they run
    ahead of the wall clock). Frame generation runs in a worker thread so that the event
    loop stays responsive. Returns the number of messages published.
    """
    if speed <= 0:
        raise ValueError(f"{speed=} must be > 0")
    boot = boot_id if boot_id is not None else secrets.token_hex(8)
    base_ns = start_time_ns if start_time_ns is not None else time.time_ns()
    mono0 = time.monotonic()
    sent = 0
    loop_index = 0
    while True:
        pass_ns = base_ns + round(loop_index * scenario.duration_s * 1e9)
        pass_offset_s = loop_index * scenario.duration_s
        it = scenario.messages(pass_ns, loop_index=loop_index, boot_id=boot)
        while True:
            msg = await asyncio.to_thread(next, it, None)
            if msg is None:
                break
            if await _sleep_until(mono0 + (pass_offset_s + msg.due_s) / speed, stop):
                return sent
            await publish(msg.topic, msg.payload, msg.qos, msg.retain)
            sent += 1
        if not loop or (stop is not None and stop.is_set()):
            return sent
        loop_index += 1


def _merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of half-open ranges as sorted, disjoint ranges."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
