"""Hobby-drone RF emitters at waveform level (SIGNALS.md §2 rows, RC / FPV notes).

- `FrskyD16`: FrSky ACCST D16, 2-GFSK 70.02 kBd, deviation 57.1 kHz, ~4.5 ms packets every
  9 ms over 47 channels of the 299.93 kHz raster, stepped by a chanskip; optional telemetry.
- `FpvAnalogVideo`: analog FPV, FM of a PAL-like composite (line sync, blanking, a static
  luminance picture; 15.625 kHz lines, 50 Hz fields), continuous, constant envelope.
- `WifiDrone`: an 802.11 access point on the drone: beacons every 102.4 ms plus video
  data frames back to back in a 2.4 GHz channel.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from simulator.link_budget import BudgetSource, carrier, hop_set, within
from simulator.rf_emitters import (
    Burst,
    EmitterKind,
    WifiAccessPoint,
    _resampled_waveform,
    _rng,
    _salt,
    wifi_ofdm_frame,
)
from simulator.rf_waveforms import (
    TWO_PI,
    FloatArray,
    burst_gain,
    fsk_phase,
    interpolated_phase,
    overlaps,
    periodic_indices,
    phase_waveform,
)
from simulator.trajectory import Track

# ---------------------------------------------------------------- FrSky D16


@dataclass(frozen=True)
class FrskyD16:
    """FrSky ACCST D16 (CC2500) link: the pilot's radio sends one packet per 9 ms frame.

    Hop list (as `FrSkyX_init_hop`): 47 channels (c0 + i·spacing) mod 235 of the
    2404.0 MHz + k·299.93 kHz raster, skipping 0, 90 and 220; packet p uses list entry
    (p·chanskip) mod 47. With `telemetry`, the receiver on the drone answers
    `telemetry_delay_s` into each frame on the same channel.
    """

    emitter_id: str
    pilot: Track
    drone: Track
    seed: int
    start_s: float = 0.0
    end_s: float = math.inf
    eirp_dbm: float = 20.0
    telemetry: bool = True
    telemetry_eirp_dbm: float = 17.0  # (assumption)
    telemetry_delay_s: float = 5.2e-3  # FCC variant
    telemetry_s: float = 2.2e-3  # (assumption) shorter reply packet
    frame_s: float = 9e-3
    packet_s: float = 4.5e-3
    symbol_rate_hz: float = 70.02e3
    deviation_hz: float = 57.1e3
    bt: float = 0.5  # (assumption)
    first_channel_hz: float = 2404.0e6
    channel_spacing_hz: float = 299.93e3
    n_hop_channels: int = 47
    kind: EmitterKind = "drone"
    signature: str = "frsky_d16"

    @property
    def hop_channels(self) -> list[int]:
        """Raster indices (0…234) of the 47-entry hop list."""
        rng = _rng(self.seed, _salt(self.emitter_id), 0xF5C)
        channel = int(rng.integers(0, 8))
        spacing = int(rng.integers(2, 0xEA))
        if spacing % 0x2F == 0:
            spacing += 1
        out: list[int] = []
        for _ in range(self.n_hop_channels):
            val = channel
            while val in (0x00, 0x5A, 0xDC) or val in out:
                val = (val + 1) % 0xEB
            out.append(val)
            channel = (channel + spacing) % 0xEB
        return out

    @property
    def chanskip(self) -> int:
        return int(_rng(self.seed, _salt(self.emitter_id), 0x5C1).integers(1, self.n_hop_channels))

    def channel_hz(self, packet: int) -> float:
        k = self.hop_channels[(packet * self.chanskip) % self.n_hop_channels]
        return self.first_channel_hz + k * self.channel_spacing_hz

    def _burst(
        self, start: float, dur: float, freq: float, track: Track, telemetry: bool, rng_key: int
    ) -> Burst:
        rng = np.random.default_rng(rng_key)
        n_sym = round(dur * self.symbol_rate_hz)

        def phase_track() -> FloatArray:
            levels = 2.0 * np.random.default_rng(rng_key).integers(0, 2, n_sym) - 1.0
            phase, _ = fsk_phase(
                levels,
                symbol_rate_hz=self.symbol_rate_hz,
                deviation_hz=self.deviation_hz,
                bt=self.bt,
            )
            return phase

        cache: list[FloatArray] = []

        def phase_at(t: FloatArray) -> FloatArray:
            if not cache:
                cache.append(phase_track())
            return interpolated_phase(cache[0], self.symbol_rate_hz * 16)(t)

        return Burst(
            start_s=start,
            duration_s=n_sym / self.symbol_rate_hz,
            freq_hz=freq,
            bandwidth_hz=185e3,
            eirp_dbm=self.telemetry_eirp_dbm if telemetry else self.eirp_dbm,
            position_m=track.point(start),
            waveform=phase_waveform(phase_at, n_sym / self.symbol_rate_hz),
            gain=burst_gain(rng, "none"),
            source_id=f"{self.emitter_id}/{'drone' if telemetry else 'pilot'}",
        )

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        salt = _salt(self.emitter_id)
        for p in periodic_indices(
            t_from_s, t_to_s, origin_s=self.start_s, period_s=self.frame_s, longest_s=self.frame_s
        ):
            frame = self.start_s + p * self.frame_s
            if frame >= self.end_s:
                continue
            freq = self.channel_hz(p)
            key = int(_rng(self.seed, loop_index, salt, p).integers(0, 2**62))
            if overlaps(frame, self.packet_s, t_from_s, t_to_s):
                yield self._burst(frame, self.packet_s, freq, self.pilot, False, key)
            reply = frame + self.telemetry_delay_s
            if self.telemetry and overlaps(reply, self.telemetry_s, t_from_s, t_to_s):
                yield self._burst(reply, self.telemetry_s, freq, self.drone, True, key + 1)

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        """The pilot's radio and (with `telemetry`) the drone's replies, over the 47 hops."""
        on = within(t_s, self.start_s, self.end_s)
        chans = [self.first_channel_hz + k * self.channel_spacing_hz for k in self.hop_channels]
        out = [hop_set(f"{self.emitter_id}/pilot", self.pilot.point(t_s), self.eirp_dbm, chans,
                       185e3, active=on)]  # fmt: skip
        if self.telemetry:
            out.append(hop_set(f"{self.emitter_id}/drone", self.drone.point(t_s),
                               self.telemetry_eirp_dbm, chans, 185e3, active=on))  # fmt: skip
        return out


# ---------------------------------------------------------------- analog FPV video

FPV_CHANNELS_MHZ: dict[str, tuple[int, ...]] = {
    "A": (5865, 5845, 5825, 5805, 5785, 5765, 5745, 5725),
    "B": (5733, 5752, 5771, 5790, 5809, 5828, 5847, 5866),
    "E": (5705, 5685, 5665, 5645, 5885, 5905, 5925, 5945),
    "F": (5740, 5760, 5780, 5800, 5820, 5840, 5860, 5880),
    "R": (5658, 5695, 5732, 5769, 5806, 5843, 5880, 5917),
}
PAL_LINE_S = 64e-6
PAL_LINES = 625
PAL_FRAME_S = PAL_LINE_S * PAL_LINES  # 40 ms: two 20 ms fields
_BLOCKS = 32  # luminance steps per active line
#: segment starts within a line (s): sync, back porch, 32 luminance blocks, front porch
_SEG_START = np.concatenate([[0.0, 4.7e-6], 10.5e-6 + np.arange(_BLOCKS) * 1.625e-6, [62.5e-6]])
_SEG_LEN = np.diff(np.concatenate([_SEG_START, [PAL_LINE_S]]))
_VSYNC_LINES = (0, 1, 2, 312, 313, 314)  # broad-pulse lines of the two fields
#: flat (line, segment) index per 25 ns step of a frame: every segment edge is on the grid
_LUT_STEP_S = 25e-9
_SEG_LUT = (
    np.arange(PAL_LINES)[:, None] * len(_SEG_START)
    + np.searchsorted(
        _SEG_START, np.arange(round(PAL_LINE_S / _LUT_STEP_S)) * _LUT_STEP_S + 1e-12, side="right"
    )[None, :]
    - 1
).reshape(-1)


@dataclass(frozen=True)
class FpvAnalogVideo:
    """Analog FPV transmitter: FM of a composite PAL-like signal on a band/channel.

    Composite level v (0 sync tip, 0.3 blanking, 0.35–1 picture) maps to an instantaneous
    frequency (v − ½)·2·`peak_deviation_hz`. The picture is static (a seeded smooth
    image), so each 40 ms frame has the same phase increment and bursts (one per frame)
    join with continuous phase.
    """

    emitter_id: str
    drone: Track
    seed: int
    band: Literal["A", "B", "E", "F", "R"] = "R"
    channel: int = 1
    start_s: float = 0.0
    end_s: float = math.inf
    eirp_dbm: float = 14.0  # 25 mW
    peak_deviation_hz: float = 9e6
    kind: EmitterKind = "drone"
    signature: str = "fpv_analog_video"

    @property
    def carrier_hz(self) -> float:
        return FPV_CHANNELS_MHZ[self.band][self.channel - 1] * 1e6

    def _tables(self) -> tuple[FloatArray, FloatArray, float]:
        """Per (line, segment), flattened: angular frequency (rad/s) and the phase the
        segment's line a·t + b extrapolates to t = 0 of the frame; phase per frame."""
        rng = _rng(self.seed, _salt(self.emitter_id), 0xF9)
        coarse = rng.uniform(0.35, 1.0, (PAL_LINES // 25 + 2, _BLOCKS // 4 + 2))
        # bilinear upsampling of the coarse picture to 625 lines × 32 blocks
        li = np.arange(PAL_LINES) / 25.0
        bi = np.arange(_BLOCKS) / 4.0
        l0, b0 = np.floor(li).astype(int), np.floor(bi).astype(int)
        fl, fb = (li - l0)[:, None], (bi - b0)[None, :]
        pic = (
            coarse[l0][:, b0] * (1 - fl) * (1 - fb)
            + coarse[l0 + 1][:, b0] * fl * (1 - fb)
            + coarse[l0][:, b0 + 1] * (1 - fl) * fb
            + coarse[l0 + 1][:, b0 + 1] * fl * fb
        )
        level = np.full((PAL_LINES, len(_SEG_START)), 0.3)
        level[:, 0] = 0.0
        level[:, 2 : 2 + _BLOCKS] = pic
        for line in _VSYNC_LINES:  # broad pulses: ~27 µs at sync level, then blanking
            level[line] = np.where(_SEG_START < 27.3e-6, 0.0, 0.3)
        omega = TWO_PI * (level - 0.5) * 2.0 * self.peak_deviation_hz
        seg_phase = (omega * _SEG_LEN).reshape(-1)
        start_phase = np.concatenate([[0.0], np.cumsum(seg_phase)[:-1]])
        seg_t0 = (np.arange(PAL_LINES)[:, None] * PAL_LINE_S + _SEG_START[None, :]).reshape(-1)
        omega = omega.reshape(-1)
        return omega, start_phase - omega * seg_t0, float(np.sum(seg_phase))

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        tables: list[tuple[FloatArray, FloatArray, float]] = []
        phase0 = float(_rng(self.seed, loop_index, _salt(self.emitter_id)).uniform(0, TWO_PI))
        for k in periodic_indices(
            t_from_s, t_to_s, origin_s=self.start_s, period_s=PAL_FRAME_S, longest_s=PAL_FRAME_S
        ):
            start = self.start_s + k * PAL_FRAME_S
            dur = min(PAL_FRAME_S, self.end_s - start)
            if dur <= 0 or not overlaps(start, dur, t_from_s, t_to_s):
                continue

            def phase_at(t: FloatArray, k: int = k) -> FloatArray:
                if not tables:
                    tables.append(self._tables())
                omega, intercept, frame_phase = tables[0]
                q = np.minimum((t * (1.0 / _LUT_STEP_S)).astype(np.int64), len(_SEG_LUT) - 1)
                seg = _SEG_LUT[q]
                return np.asarray(
                    math.fmod(k * frame_phase, TWO_PI) + intercept[seg] + omega[seg] * t,
                    dtype=np.float64,
                )

            yield Burst(
                start_s=start,
                duration_s=dur,
                freq_hz=self.carrier_hz,
                bandwidth_hz=2.0 * self.peak_deviation_hz + 1e6,
                eirp_dbm=self.eirp_dbm,
                position_m=self.drone.point(start),
                waveform=phase_waveform(phase_at, dur),
                gain=complex(np.exp(1j * phase0)),
                source_id=self.emitter_id,
            )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        on = within(t_s, self.start_s, self.end_s)
        return [carrier(self.emitter_id, self.drone.point(t_s), self.eirp_dbm, self.carrier_hz,
                        2.0 * self.peak_deviation_hz + 1e6, active=on)]  # fmt: skip


# ---------------------------------------------------------------- Wi-Fi drone


@dataclass(frozen=True)
class WifiDrone:
    """A drone acting as an 802.11 AP (Parrot, Tello, DJI Spark/Mini Wi-Fi mode).

    Beacons come from a `WifiAccessPoint` on the drone; video data frames run back to
    back with short gaps (`video_frame_s` long, `video_airtime` of the time on average).
    """

    emitter_id: str
    drone: Track
    seed: int
    channel: int = 6
    start_s: float = 0.0
    end_s: float = math.inf
    eirp_dbm: float = 19.0
    video_frame_s: tuple[float, float] = (0.2e-3, 1.4e-3)
    video_airtime: float = 0.3  # (assumption) a few Mb/s of video at 24–54 Mb/s
    kind: EmitterKind = "drone"
    signature: str = "wifi_drone"
    _block_s: float = 10e-3

    @property
    def carrier_hz(self) -> float:
        return 2407e6 + 5e6 * self.channel

    def _beacons(self) -> WifiAccessPoint:
        return WifiAccessPoint(
            self.emitter_id, self.drone, self.seed, channel=self.channel,
            eirp_dbm=self.eirp_dbm, data_rate_per_s=0.0, start_s=self.start_s, end_s=self.end_s,
        )  # fmt: skip

    def video_frames(self, block: int, loop_index: int) -> list[tuple[float, float]]:
        """(start, duration) of the video frames inside 10 ms block `block`."""
        rng = _rng(self.seed, loop_index, _salt(self.emitter_id), 0x71D, block)
        lo, hi = self.video_frame_s
        mean_gap = 0.5 * (lo + hi) * (1.0 / self.video_airtime - 1.0)
        t = block * self._block_s + float(rng.exponential(mean_gap))
        out: list[tuple[float, float]] = []
        while True:
            dur = float(rng.uniform(lo, hi))
            if t + dur > (block + 1) * self._block_s:  # frames never straddle blocks
                return out
            out.append((t, dur))
            t += dur + 16e-6 + float(rng.exponential(mean_gap))  # SIFS + contention

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        found = list(self._beacons().bursts(t_from_s, t_to_s, loop_index))
        salt = _salt(self.emitter_id)
        b0 = math.floor((max(t_from_s, self.start_s) - 2e-3) / self._block_s)
        b1 = math.floor(min(t_to_s, self.end_s) / self._block_s)
        for b in range(b0, b1 + 1):
            for i, (start, dur) in enumerate(self.video_frames(b, loop_index)):
                if start < self.start_s or start >= self.end_s:
                    continue
                if not overlaps(start, dur, t_from_s, t_to_s):
                    continue
                rng = _rng(self.seed, loop_index, salt, 0x71E, b, i)
                frame = wifi_ofdm_frame(rng, dur)
                found.append(
                    Burst(
                        start_s=start,
                        duration_s=len(frame) / 20e6,
                        freq_hz=self.carrier_hz,
                        bandwidth_hz=16.6e6,
                        eirp_dbm=self.eirp_dbm,
                        position_m=self.drone.point(start),
                        waveform=_resampled_waveform(frame),
                        gain=burst_gain(rng, "none"),
                        source_id=self.emitter_id,
                    )
                )
        yield from sorted(found, key=lambda b: b.start_s)

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        on = within(t_s, self.start_s, self.end_s)
        return [carrier(self.emitter_id, self.drone.point(t_s), self.eirp_dbm, self.carrier_hz,
                        16.6e6, active=on)]  # fmt: skip
