"""Handset Wi-Fi and Bluetooth emitters (SIGNALS.md §2 `wifi_probe`, `ble_adv`; §3).

- `WifiProbe`: probe-request bursts stepping over channels 1…13, tens of ms per channel,
  every `scan_interval_s` (10 s to minutes).
- `BleAdvertiser`: legacy advertising events on 2402, 2426, 2480 MHz (GFSK 1 Msym/s,
  BT 0.5, h 0.5), PDUs ≤ 376 µs, interval 20 ms–10.24 s plus 0–10 ms advDelay.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulator.link_budget import BudgetSource, hop_set, within
from simulator.rf_emitters import (
    Burst,
    EmitterKind,
    _resampled_waveform,
    _rng,
    _salt,
    wifi_ofdm_frame,
)
from simulator.rf_waveforms import (
    Fading,
    FloatArray,
    burst_gain,
    fsk_phase,
    interpolated_phase,
    overlaps,
    periodic_indices,
    phase_waveform,
)
from simulator.trajectory import Track

# ---------------------------------------------------------------- Wi-Fi probes


@dataclass(frozen=True)
class WifiProbe:
    """A phone scanning for networks: every `scan_interval_s` (+ up to `scan_jitter_s`) a
    burst of probe requests steps through `channels`, `dwell_s` per channel."""

    emitter_id: str
    position: Track
    seed: int
    start_s: float = 0.0
    end_s: float = math.inf
    scan_interval_s: float = 30.0
    scan_jitter_s: float = 5.0
    channels: tuple[int, ...] = tuple(range(1, 14))
    dwell_s: float = 30e-3
    probes_per_channel: int = 2
    probe_s: tuple[float, float] = (0.12e-3, 0.4e-3)
    eirp_dbm: float = 17.0
    extra_loss_db: float = 15.0
    fading: Fading = "none"
    kind: EmitterKind = "handset"
    signature: str = "wifi_probe"

    def scan_start_s(self, k: int) -> float:
        r = _rng(self.seed, _salt(self.emitter_id), 0x5CA, k)
        return self.start_s + k * self.scan_interval_s + float(r.uniform(0, self.scan_jitter_s))

    def probes(self, k: int, loop_index: int) -> list[tuple[float, float, int]]:
        """(start, duration, channel) of the probe frames of scan k."""
        t0, out = self.scan_start_s(k), []
        rng = _rng(self.seed, loop_index, _salt(self.emitter_id), 0x9B, k)
        for i, ch in enumerate(self.channels):
            t = t0 + i * self.dwell_s + float(rng.uniform(0.2e-3, 2e-3))
            for _ in range(self.probes_per_channel):
                dur = float(rng.uniform(*self.probe_s))
                out.append((t, dur, ch))
                t += dur + float(rng.uniform(0.3e-3, 1.5e-3))
        return out

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        scan_s = len(self.channels) * self.dwell_s + self.scan_jitter_s
        for k in periodic_indices(
            t_from_s, t_to_s, origin_s=self.start_s, period_s=self.scan_interval_s,
            longest_s=scan_s,
        ):  # fmt: skip
            for j, (start, dur, ch) in enumerate(self.probes(k, loop_index)):
                if start >= self.end_s or not overlaps(start, dur, t_from_s, t_to_s):
                    continue
                rng = _rng(self.seed, loop_index, _salt(self.emitter_id), 0x9C, k, j)
                frame = wifi_ofdm_frame(rng, dur)
                yield Burst(
                    start_s=start,
                    duration_s=len(frame) / 20e6,
                    freq_hz=2407e6 + 5e6 * ch,
                    bandwidth_hz=16.6e6,
                    eirp_dbm=self.eirp_dbm,
                    position_m=self.position.point(start),
                    waveform=_resampled_waveform(frame),
                    extra_loss_db=self.extra_loss_db,
                    gain=burst_gain(rng, self.fading),
                    source_id=self.emitter_id,
                )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        """Over the scanned channels (one 20 MHz frame at a time)."""
        on = within(t_s, self.start_s, self.end_s)
        chans = [2407e6 + 5e6 * ch for ch in self.channels]
        return [hop_set(self.emitter_id, self.position.point(t_s), self.eirp_dbm, chans, 16.6e6,
                        active=on, extra_loss_db=self.extra_loss_db)]  # fmt: skip


# ---------------------------------------------------------------- BLE advertising

BLE_ADV_CHANNELS_HZ = (2402e6, 2426e6, 2480e6)
BLE_SYMBOL_RATE_HZ = 1e6


@lru_cache(maxsize=16)
def _adv_delays_cumsum(seed: int, loop_index: int, salt: int, n: int) -> FloatArray:
    """Cumulative advDelay (0–10 ms each) of the first n events; a prefix of any longer draw."""
    d = _rng(seed, loop_index, salt, 0xADD).uniform(0.0, 10e-3, n)
    return np.asarray(np.concatenate([[0.0], np.cumsum(d)[:-1]]), dtype=np.float64)


@dataclass(frozen=True)
class BleAdvertiser:
    """Legacy BLE advertising: per event one PDU on each of 2402, 2426, 2480 MHz,
    `channel_step_s` apart; events every `interval_s` + advDelay (0–10 ms)."""

    emitter_id: str
    position: Track
    seed: int
    start_s: float = 0.0
    end_s: float = math.inf
    interval_s: float = 0.1  # (assumption) 20 ms … 10.24 s allowed
    pdu_payload_bytes: int = 31  # AdvA 6 + AdvData ≤ 31 → ≤ 37
    channel_step_s: float = 0.6e-3
    eirp_dbm: float = 4.0  # (assumption)
    extra_loss_db: float = 15.0
    fading: Fading = "none"
    bt: float = 0.5
    modulation_index: float = 0.5
    kind: EmitterKind = "handset"
    signature: str = "ble_adv"

    def __post_init__(self) -> None:
        if not 6 <= self.pdu_payload_bytes <= 37:
            raise ValueError(f"{self.pdu_payload_bytes=} must be 6…37")
        if not 20e-3 <= self.interval_s <= 10.24:
            raise ValueError(f"{self.interval_s=} must be 20 ms … 10.24 s")

    @property
    def pdu_duration_s(self) -> float:
        """preamble 1 + access address 4 + header 2 + payload + CRC 3 bytes, 1 µs per bit."""
        return (1 + 4 + 2 + self.pdu_payload_bytes + 3) * 8 / BLE_SYMBOL_RATE_HZ

    def event_start_s(self, k: int, loop_index: int) -> float:
        n = 1 << max(6, (k + 1).bit_length())
        delays = _adv_delays_cumsum(self.seed, loop_index, _salt(self.emitter_id), n)
        return self.start_s + k * self.interval_s + float(delays[k])

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        event_s = 2 * self.channel_step_s + self.pdu_duration_s
        k0 = max(0, math.floor((t_from_s - event_s - self.start_s) / (self.interval_s + 10e-3)))
        k1 = math.ceil((t_to_s - self.start_s) / self.interval_s)
        dur = self.pdu_duration_s
        for k in range(k0, k1 + 1):
            t0 = self.event_start_s(k, loop_index)
            for c, freq in enumerate(BLE_ADV_CHANNELS_HZ):
                start = t0 + c * self.channel_step_s
                if start >= self.end_s or not overlaps(start, dur, t_from_s, t_to_s):
                    continue
                rng = _rng(self.seed, loop_index, _salt(self.emitter_id), 0xB1E, k, c)
                bits = rng.integers(0, 2, round(dur * BLE_SYMBOL_RATE_HZ))
                bits[:8] = [0, 1, 0, 1, 0, 1, 0, 1]  # preamble
                phase, rate = fsk_phase(
                    2.0 * bits - 1.0,
                    symbol_rate_hz=BLE_SYMBOL_RATE_HZ,
                    deviation_hz=0.5 * self.modulation_index * BLE_SYMBOL_RATE_HZ,
                    bt=self.bt,
                )
                yield Burst(
                    start_s=start,
                    duration_s=dur,
                    freq_hz=freq,
                    bandwidth_hz=1.0e6,
                    eirp_dbm=self.eirp_dbm,
                    position_m=self.position.point(start),
                    waveform=phase_waveform(interpolated_phase(phase, rate), dur),
                    extra_loss_db=self.extra_loss_db,
                    gain=burst_gain(rng, self.fading),
                    source_id=self.emitter_id,
                )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        """Over the three advertising channels."""
        on = within(t_s, self.start_s, self.end_s)
        return [hop_set(self.emitter_id, self.position.point(t_s), self.eirp_dbm,
                        BLE_ADV_CHANNELS_HZ, 1.0e6, active=on,
                        extra_loss_db=self.extra_loss_db)]  # fmt: skip
