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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from sensor_hub.schemas import FrameHeader
from simulator.acoustic_emitters import Ambience, RotorSource
from simulator.propagation import (
    REFERENCE_PRESSURE_PA,
    SPEED_OF_LIGHT_M_S,
    db_to_amplitude,
    db_to_power,
    distance_m,
    received_power_dbm,
    thermal_noise_dbm,
)
from simulator.rf_emitters import Burst
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


# ---------------------------------------------------------------- RF


@dataclass(frozen=True)
class RfCollector:
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

    def in_band(self, freq_hz: float, bandwidth_hz: float) -> bool:
        return abs(freq_hz - self.center_freq_hz) + 0.5 * bandwidth_hz <= 0.5 * self.sample_rate_hz

    def received_dbm(self, burst: Burst) -> float:
        d = float(distance_m(burst.position_m, self.spec.position))
        return received_power_dbm(
            burst.eirp_dbm,
            burst.freq_hz,
            d,
            extra_loss_db=burst.extra_loss_db,
            path_loss_exponent=self.path_loss_exponent,
        )

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
        n, fs, fc = self.num_samples, self.sample_rate_hz, self.center_freq_hz
        if include_noise:  # the noise array becomes the output buffer: one pass fewer
            sigma = math.sqrt(db_to_power(self.noise_dbm - self.full_scale_dbm) / 2.0)
            noise = rng.standard_normal(2 * n, dtype=np.float32)
            noise *= np.float32(sigma)
            out = noise.view(np.complex64)
        else:
            out = np.zeros(n, dtype=np.complex64)
        t_end = t0_s + n / fs
        pos = self.spec.position
        for em in emitters if include_signals else ():
            for b in em.bursts(t0_s - 2e-5, t_end, loop_index):  # 2e-5 s: up to 6 km away
                if not self.in_band(b.freq_hz, b.bandwidth_hz):
                    continue
                d = float(distance_m(b.position_m, pos))
                t_arr = b.start_s + d / SPEED_OF_LIGHT_M_S
                k0 = max(0, math.ceil((t_arr - t0_s) * fs))
                k1 = min(n, math.ceil((t_arr + b.duration_s - t0_s) * fs))
                if k1 <= k0:
                    continue
                t_first = t0_s + k0 / fs - t_arr
                amp = db_to_amplitude(self.received_dbm(b) - self.full_scale_dbm) * b.gain
                w = b.waveform(t_first, fs, k1 - k0, b.freq_hz - fc)
                w *= np.complex64(amp)
                out[k0:k1] += w
        return out

    def header(self, *, site: str, seq: int, boot_id: str, t0_ns: int) -> FrameHeader:
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
            center_freq_hz=self.center_freq_hz,
            gain_db=self.gain_db,
            full_scale_dbm=self.full_scale_dbm,
        )


# ---------------------------------------------------------------- audio


@dataclass(frozen=True)
class AudioCollector:
    spec: SensorSpec
    sample_rate_hz: float = 16_000.0
    frame_s: float = 1.0
    full_scale_db_spl: float = 120.0
    datatype: Literal["ri16_le", "rf32_le"] = "ri16_le"
    ambience: Ambience = field(default_factory=Ambience)

    @property
    def num_samples(self) -> int:
        return round(self.frame_s * self.sample_rate_hz)

    @property
    def frame_duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz

    @property
    def full_scale_pa(self) -> float:
        return REFERENCE_PRESSURE_PA * db_to_amplitude(self.full_scale_db_spl)

    def frames_per_pass(self, duration_s: float) -> int:
        return max(0, math.floor(duration_s / self.frame_duration_s + 1e-9))

    def frame_start_s(self, k: int) -> float:
        return k * self.frame_duration_s

    def render_pa(
        self,
        sources: Sequence[RotorSource],
        t0_s: float,
        rng: np.random.Generator,
        loop_index: int = 0,
        *,
        include_noise: bool = True,
        include_signals: bool = True,
    ) -> NDArray[np.float64]:
        """(n,) sound pressure in Pa at the microphone for the frame starting at t0_s."""
        n, fs = self.num_samples, self.sample_rate_hz
        pos = self.spec.position
        p = np.zeros(n, dtype=np.float64)
        freqs = np.asarray(np.fft.rfftfreq(n, 1.0 / fs), dtype=np.float64)
        psd: NDArray[np.float64] = (
            self.ambience.psd(freqs) if include_noise else np.zeros(len(freqs), dtype=np.float64)
        )
        for src in sources if include_signals else ():
            p += src.lines_pa(pos, t0_s, fs, n, loop_index)
            psd = psd + src.broadband_psd(pos, t0_s + 0.5 * n / fs, freqs)
        if include_noise or include_signals:
            scale = np.sqrt(psd * fs * n / 4.0)
            spec = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * scale
            spec[0] = 0.0
            p += np.fft.irfft(spec, n)
        return p

    def render(
        self,
        sources: Sequence[RotorSource],
        t0_s: float,
        rng: np.random.Generator,
        loop_index: int = 0,
        *,
        include_noise: bool = True,
        include_signals: bool = True,
    ) -> NDArray[np.float32]:
        """(n,) float32 samples at full scale 1.0 (= `full_scale_db_spl` RMS)."""
        p = self.render_pa(
            sources, t0_s, rng, loop_index,
            include_noise=include_noise, include_signals=include_signals,
        )  # fmt: skip
        return (p / self.full_scale_pa).astype(np.float32)

    def header(self, *, site: str, seq: int, boot_id: str, t0_ns: int) -> FrameHeader:
        return FrameHeader(
            site=site,
            sensor_id=self.spec.sensor_id,
            seq=seq,
            boot_id=boot_id,
            kind="audio",
            t0_ns=t0_ns,
            sample_rate_hz=self.sample_rate_hz,
            datatype=self.datatype,
            num_samples=self.num_samples,
            full_scale_db_spl=self.full_scale_db_spl,
        )


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
