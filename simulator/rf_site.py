"""Not-a-threat RF emitters found at a site (SIGNALS.md §2: interferers and confusers).

- `MicrowaveOven`: magnetron on half-wave rectified 50 Hz mains: keyed ~10 ms of each
  20 ms, a noisy CW line whose frequency follows the supply voltage over tens of MHz.
  Each on-period is split into short time chunks, each a burst with its own narrow
  frequency span, so a narrowband sensor sees the part of the sweep inside its band.
- `Tetra`: π/4-DQPSK 18 ksym/s RRC 0.35 in 25 kHz, 4-slot TDMA (14.167 ms slots,
  56.67 ms frames); a mobile keys one slot per frame (not frame 18), a base all slots.
- `Dmr`: 4FSK 4.8 ksym/s (±648, ±1944 Hz) in 12.5 kHz, 27.5 ms bursts in 30 ms slots,
  one slot of each 60 ms frame.
- `CellularDownlink`: a continuous downlink carrier: LTE OFDM (1.4–20 MHz, full load,
  one burst per 1 ms subframe) or a GSM BCCH carrier (GMSK, all slots keyed).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Literal

import numpy as np

from simulator.link_budget import BudgetSource, carrier, within
from simulator.ofdm import LTE_SCS_HZ, LTE_SUBFRAME_S, lte_numerology, ofdm_synthesize
from simulator.rf_emitters import (
    GSM_BIT_RATE_HZ,
    GSM_FRAME_S,
    Burst,
    Complex64Array,
    EmitterKind,
    _rng,
    _salt,
    phasor,
)
from simulator.rf_handsets import lte_cp_s
from simulator.rf_waveforms import (
    TWO_PI,
    ComplexArray,
    FloatArray,
    burst_gain,
    fsk_phase,
    interpolated_phase,
    interpolated_waveform,
    overlaps,
    periodic_indices,
    phase_waveform,
    pulse_shaped,
    random_qpsk,
    rate_cached_waveform,
    rrc_taps,
    unit_power,
)
from simulator.trajectory import Track

# ---------------------------------------------------------------- microwave oven


@dataclass(frozen=True)
class MicrowaveOven:
    """A domestic oven leaking around 2.45 GHz while cooking.

    In each mains cycle the magnetron runs for `on_fraction` of the period; its
    frequency f(τ) = centre − sweep/2 + sweep·sin(πτ/T_on) follows the supply voltage,
    plus FM noise of rms `fm_noise_hz` (coarse random walk, smoothed over ~2 µs).
    """

    emitter_id: str
    position: Track
    seed: int
    start_s: float = 0.0
    end_s: float = math.inf
    centre_hz: float = 2455e6
    sweep_hz: float = 30e6
    eirp_dbm: float = 0.0
    mains_hz: float = 50.0
    on_fraction: float = 0.5
    fm_noise_hz: float = 300e3  # (assumption)
    chunk_s: float = 0.5e-3
    kind: EmitterKind = "other"
    signature: str = "microwave_oven"

    @property
    def on_s(self) -> float:
        return self.on_fraction / self.mains_hz

    def frequency_hz(self, tau: FloatArray) -> FloatArray:
        """Sweep (without noise) relative to centre_hz at τ s into the on-period."""
        return np.asarray(self.sweep_hz * (np.sin(np.pi * tau / self.on_s) - 0.5), dtype=np.float64)

    def _sweep_phase(self, tau: FloatArray) -> FloatArray:
        t_on = self.on_s
        return np.asarray(
            TWO_PI
            * self.sweep_hz
            * (t_on / np.pi * (1.0 - np.cos(np.pi * tau / t_on)) - 0.5 * tau),
            dtype=np.float64,
        )

    def _noise_phase(self, cycle: int, loop_index: int) -> FloatArray:
        """FM noise phase at 1 MS/s over one on-period."""
        rng = _rng(self.seed, loop_index, _salt(self.emitter_id), cycle)
        n = math.ceil(self.on_s * 1e6) + 2
        f = np.convolve(rng.standard_normal(n), np.ones(3) / math.sqrt(3), mode="same")
        return np.asarray(np.cumsum(f * self.fm_noise_hz) * (TWO_PI / 1e6), dtype=np.float64)

    @cached_property
    def _chunk_plan(self) -> tuple[tuple[float, float, float, float], ...]:
        """(τ0, duration, centre offset, bandwidth) of each chunk of an on-period: the
        same in every mains cycle."""
        plan = []
        for j in range(math.ceil(self.on_s / self.chunk_s - 1e-9)):
            tau0 = j * self.chunk_s
            dur = min(self.chunk_s, self.on_s - tau0)
            edges = self.frequency_hz(np.linspace(tau0, tau0 + dur, 9))
            lo, hi = float(edges.min()) - self.fm_noise_hz, float(edges.max()) + self.fm_noise_hz
            plan.append((tau0, dur, 0.5 * (lo + hi), hi - lo))
        return tuple(plan)

    def _chunk(
        self,
        cycle: int,
        j: int,
        start: float,
        loop_index: int,
        gain: complex,
        noise: list[FloatArray],
    ) -> Burst:
        tau0, dur, mid, bandwidth = self._chunk_plan[j]

        def waveform(
            t_first_s: float, sample_rate_hz: float, n: int, offset_hz: float
        ) -> Complex64Array:
            if not noise:  # shared by the cycle's chunks, drawn when one is first heard
                noise.append(self._noise_phase(cycle, loop_index))
            tt = t_first_s + np.arange(n, dtype=np.float64) / sample_rate_hz
            tau = tau0 + tt
            phase = self._sweep_phase(tau) + interpolated_phase(noise[0], 1e6)(tau)
            phase += TWO_PI * (offset_hz - mid) * tau  # continuous across chunks
            out = phasor(phase)
            out[(tt < 0) | (tt >= dur)] = 0.0
            return out

        return Burst(
            start_s=start + tau0,
            duration_s=dur,
            freq_hz=self.centre_hz + mid,
            bandwidth_hz=bandwidth,
            eirp_dbm=self.eirp_dbm,
            position_m=self.position.point(start),
            waveform=waveform,
            gain=gain,
            source_id=self.emitter_id,
        )

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        period = 1.0 / self.mains_hz
        for cycle in periodic_indices(
            t_from_s, t_to_s, origin_s=self.start_s, period_s=period, longest_s=self.on_s
        ):
            start = self.start_s + cycle * period
            if start >= self.end_s:
                continue
            gain: complex | None = None  # one phase per on-period
            noise: list[FloatArray] = []
            for j in range(len(self._chunk_plan)):
                t = start + j * self.chunk_s
                if overlaps(t, self.chunk_s, t_from_s, t_to_s) and t < self.end_s:
                    if gain is None:
                        rng = _rng(self.seed, loop_index, _salt(self.emitter_id), 0x0E, cycle)
                        gain = burst_gain(rng, "none")
                    yield self._chunk(cycle, j, start, loop_index, gain, noise)

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        """The whole sweep (plus FM noise) as the occupied band of an on-period."""
        on = within(t_s, self.start_s, self.end_s)
        return [carrier(self.emitter_id, self.position.point(t_s), self.eirp_dbm, self.centre_hz,
                        self.sweep_hz + 2.0 * self.fm_noise_hz, active=on,
                        note=f"keyed {self.on_fraction:.0%} of each mains cycle")]  # fmt: skip


# ---------------------------------------------------------------- TETRA

TETRA_SYMBOL_RATE_HZ = 18e3
TETRA_SLOT_S = 255 / TETRA_SYMBOL_RATE_HZ  # 14.167 ms
TETRA_FRAME_S = 4 * TETRA_SLOT_S  # 56.67 ms
_SPS = 32  # native oversampling of the narrowband linear modulations


def pi4_dqpsk(rng: np.random.Generator, n_symbols: int, *, ramp_symbols: int = 2) -> ComplexArray:
    """π/4-DQPSK, RRC α 0.35, at 32 samples per symbol, raised-cosine power ramps."""
    steps = np.array([np.pi / 4, 3 * np.pi / 4, -3 * np.pi / 4, -np.pi / 4])
    symbols = np.exp(1j * np.cumsum(steps[rng.integers(0, 4, n_symbols)]))
    x = pulse_shaped(symbols, rrc_taps(0.35, _SPS), _SPS)
    r = ramp_symbols * _SPS
    ramp = np.sin(0.5 * np.pi * (np.arange(r) + 0.5) / r) ** 2
    x[:r] *= ramp
    x[-r:] *= ramp[::-1]
    return unit_power(x)


@dataclass(frozen=True)
class Tetra:
    """A TETRA radio: `mode='mobile'` keys `timeslot` of each frame (except frame 18 of
    the multiframe, the control frame); `mode='base'` keys every slot of every frame."""

    emitter_id: str
    position: Track
    seed: int
    start_s: float = 0.0
    end_s: float = math.inf
    carrier_hz: float = 382.5125e6  # UK Airwave uplink 380–385 MHz
    mode: Literal["mobile", "base"] = "mobile"
    timeslot: int = 0
    eirp_dbm: float = 30.0  # 1 W hand portable
    mobile_keyed_symbols: int = 247  # slot less ramp and guard time
    kind: EmitterKind = "other"
    signature: str = "tetra"

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        for k in periodic_indices(
            t_from_s, t_to_s, origin_s=self.start_s, period_s=TETRA_SLOT_S, longest_s=TETRA_SLOT_S
        ):
            frame, slot = divmod(k, 4)
            if self.mode == "mobile" and (slot != self.timeslot or frame % 18 == 17):
                continue
            n_sym = self.mobile_keyed_symbols if self.mode == "mobile" else 255
            start, dur = self.start_s + k * TETRA_SLOT_S, n_sym / TETRA_SYMBOL_RATE_HZ
            if start >= self.end_s or not overlaps(start, dur, t_from_s, t_to_s):
                continue
            rng = _rng(self.seed, loop_index, _salt(self.emitter_id), k)
            key = int(rng.integers(0, 2**62))
            yield Burst(
                start_s=start,
                duration_s=dur,
                freq_hz=self.carrier_hz,
                bandwidth_hz=25e3,
                eirp_dbm=self.eirp_dbm,
                position_m=self.position.point(start),
                waveform=interpolated_waveform(
                    partial(pi4_dqpsk, np.random.default_rng(key), n_sym),
                    TETRA_SYMBOL_RATE_HZ * _SPS,
                ),
                gain=burst_gain(rng, "none"),
                source_id=self.emitter_id,
            )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        on = within(t_s, self.start_s, self.end_s)
        return [carrier(self.emitter_id, self.position.point(t_s), self.eirp_dbm, self.carrier_hz,
                        25e3, active=on)]  # fmt: skip


# ---------------------------------------------------------------- DMR

DMR_SYMBOL_RATE_HZ = 4.8e3
DMR_SLOT_S = 30e-3
DMR_BURST_S = 27.5e-3
DMR_FRAME_S = 2 * DMR_SLOT_S


@dataclass(frozen=True)
class Dmr:
    """A DMR tier II radio keying one `timeslot` of each 60 ms frame (27.5 ms bursts
    centred in the 30 ms slot); 4FSK with outer deviation 1944 Hz, Gaussian-smoothed."""

    emitter_id: str
    position: Track
    seed: int
    start_s: float = 0.0
    end_s: float = math.inf
    carrier_hz: float = 453.5e6
    timeslot: int = 0
    eirp_dbm: float = 37.0  # 5 W portable
    kind: EmitterKind = "other"
    signature: str = "dmr"

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        origin = self.start_s + self.timeslot * DMR_SLOT_S + 0.5 * (DMR_SLOT_S - DMR_BURST_S)
        n_sym = round(DMR_BURST_S * DMR_SYMBOL_RATE_HZ)
        for k in periodic_indices(
            t_from_s, t_to_s, origin_s=origin, period_s=DMR_FRAME_S, longest_s=DMR_BURST_S
        ):
            start = origin + k * DMR_FRAME_S
            if start >= self.end_s or not overlaps(start, DMR_BURST_S, t_from_s, t_to_s):
                continue
            rng = _rng(self.seed, loop_index, _salt(self.emitter_id), k)
            levels = np.array([-1.0, -1 / 3, 1 / 3, 1.0])[rng.integers(0, 4, n_sym)]
            phase, rate = fsk_phase(
                levels, symbol_rate_hz=DMR_SYMBOL_RATE_HZ, deviation_hz=1944.0, bt=0.5
            )
            yield Burst(
                start_s=start,
                duration_s=DMR_BURST_S,
                freq_hz=self.carrier_hz,
                bandwidth_hz=12.5e3,
                eirp_dbm=self.eirp_dbm,
                position_m=self.position.point(start),
                waveform=phase_waveform(interpolated_phase(phase, rate), DMR_BURST_S),
                gain=burst_gain(rng, "none"),
                source_id=self.emitter_id,
            )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        on = within(t_s, self.start_s, self.end_s)
        return [carrier(self.emitter_id, self.position.point(t_s), self.eirp_dbm, self.carrier_hz,
                        12.5e3, active=on)]  # fmt: skip


# ---------------------------------------------------------------- cellular downlink


@dataclass(frozen=True)
class CellularDownlink:
    """A base station's continuous downlink carrier (default LTE B20, 806 MHz, 10 MHz).

    `technology='lte'`: every subframe fully loaded QPSK on 12·N_RB subcarriers (DC
    empty), normal CP. `technology='gsm'`: a BCCH carrier, GMSK on every timeslot, one
    burst per TDMA frame.
    """

    emitter_id: str
    position: Track
    seed: int
    technology: Literal["lte", "gsm"] = "lte"
    start_s: float = 0.0
    end_s: float = math.inf
    carrier_hz: float = 806e6
    carrier_bandwidth_hz: float = 10e6  # LTE only
    eirp_dbm: float = 60.0  # (assumption) macro sector, per carrier
    kind: EmitterKind = "other"
    signature: str = "cellular_downlink"

    @property
    def occupied_bandwidth_hz(self) -> float:
        if self.technology == "gsm":
            return 250e3
        return 12 * lte_numerology(self.carrier_bandwidth_hz)[0] * LTE_SCS_HZ

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        period = GSM_FRAME_S if self.technology == "gsm" else LTE_SUBFRAME_S
        n_used = round(self.occupied_bandwidth_hz / LTE_SCS_HZ)
        sub = np.concatenate([np.arange(-n_used // 2, 0), np.arange(1, n_used // 2 + 1)])
        sub = sub.astype(np.float64)
        for k in periodic_indices(
            t_from_s, t_to_s, origin_s=self.start_s, period_s=period, longest_s=period
        ):
            start = self.start_s + k * period
            dur = min(period, self.end_s - start)
            if dur <= 0 or not overlaps(start, dur, t_from_s, t_to_s):
                continue
            rng = _rng(self.seed, loop_index, _salt(self.emitter_id), k)
            key = int(rng.integers(0, 2**62))
            if self.technology == "lte":

                def make(fs: float, key: int = key) -> Complex64Array:
                    grid = random_qpsk(np.random.default_rng(key), (14, n_used))
                    return ofdm_synthesize(
                        grid, sub, spacing_hz=LTE_SCS_HZ, cp_s=lte_cp_s(), sample_rate_hz=fs
                    )

                waveform = rate_cached_waveform(make)
            else:
                n_bits = round(period * GSM_BIT_RATE_HZ)
                bits = np.random.default_rng(key).integers(0, 2, n_bits)
                phase, rate = fsk_phase(
                    2.0 * bits - 1.0,
                    symbol_rate_hz=GSM_BIT_RATE_HZ,
                    deviation_hz=GSM_BIT_RATE_HZ / 4,
                    bt=0.3,
                )
                waveform = phase_waveform(interpolated_phase(phase, rate), period)
            yield Burst(
                start_s=start,
                duration_s=dur,
                freq_hz=self.carrier_hz,
                bandwidth_hz=self.occupied_bandwidth_hz,
                eirp_dbm=self.eirp_dbm,
                position_m=self.position.point(start),
                waveform=waveform,
                gain=burst_gain(rng, "none"),
                source_id=self.emitter_id,
            )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        on = within(t_s, self.start_s, self.end_s)
        return [carrier(self.emitter_id, self.position.point(t_s), self.eirp_dbm, self.carrier_hz,
                        self.occupied_bandwidth_hz, active=on)]  # fmt: skip
