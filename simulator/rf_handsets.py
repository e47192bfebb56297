"""LTE handset RF emitters at waveform level (SIGNALS.md §2 handset rows, §3 behaviour).

- `LteUplink`: SC-FDMA subframes (15 kHz, 14 symbols per 1 ms, normal CP). PUSCH on
  scheduled PRBs (DFT-spread QPSK, DMRS in symbols 3 and 10, 0-based), PUCCH format 1a
  on the edge PRBs m and N−1−m swapping per 0.5 ms slot, one HARQ retransmission 8 ms
  after a failed PUSCH, optional SRS in the last symbol. Behaviours: `volte` (PUSCH every
  20 ms, PUCCH ACKs for the downlink voice), `data` (PUSCH in most subframes),
  `idle` (background-data sessions every few minutes, SIGNALS.md §3).
- `LtePrach`: format 0 preamble, CP 103.125 µs + 800 µs Zadoff-Chu (839, 1.25 kHz).

Wi-Fi probes and BLE adverts are in `simulator.rf_handsets_wlan`. All handset emitters
take a power (`eirp_dbm`, after power control), wall/body loss (`extra_loss_db`) and
per-burst fading (`fading`: 'none' = random phase, 'rayleigh').
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from simulator.link_budget import BudgetSource, carrier, hop_set, within
from simulator.ofdm import (
    LTE_SCS_HZ,
    LTE_SUBFRAME_S,
    dft_spread,
    low_papr_sequence,
    lte_numerology,
    ofdm_synthesize,
    zadoff_chu,
)
from simulator.rf_emitters import (
    Burst,
    Complex64Array,
    EmitterKind,
    _rng,
    _salt,
)
from simulator.rf_waveforms import (
    ComplexArray,
    Fading,
    burst_gain,
    overlaps,
    random_qpsk,
    rate_cached_waveform,
)
from simulator.trajectory import Track

# ---------------------------------------------------------------- LTE uplink

_PUCCH_RESERVED_PRB = 2  # PRBs kept free of PUSCH at each carrier edge
_DMRS_SYMBOLS = (3, 10)
_PUCCH_DMRS = (2, 3, 4)  # per slot, format 1/1a/1b


def lte_cp_s(n_symbols: int = 14) -> list[float]:
    """Normal CP in seconds: 160 then 6 × 144 samples at 30.72 MS/s, per slot."""
    return [(160 if i % 7 == 0 else 144) / 30.72e6 for i in range(n_symbols)]


@dataclass(frozen=True)
class UplinkTx:
    """What one subframe carries: PUSCH on [prb0, prb0 + n_prb) or PUCCH index m; SRS."""

    channel: Literal["pusch", "pucch", "srs"]
    prb0: int = 0
    n_prb: int = 0
    retransmission: bool = False
    srs: bool = False


@dataclass(frozen=True)
class LteUplink:
    """An LTE handset's uplink on one FDD carrier (default B20, 847 MHz, 10 MHz)."""

    emitter_id: str
    position: Track
    seed: int
    behaviour: Literal["idle", "volte", "data"] = "volte"
    start_s: float = 0.0
    end_s: float = math.inf
    carrier_hz: float = 847e6
    carrier_bandwidth_hz: float = 10e6
    eirp_dbm: float = 23.0
    extra_loss_db: float = 15.0
    fading: Fading = "none"
    harq_bler: float = 0.1
    volte_period_s: float = 20e-3
    volte_prbs: tuple[int, int] = (2, 4)
    data_prbs: tuple[int, int] = (6, 40)
    data_subframe_fraction: float = 0.8
    srs_period_s: float = 0.0  # 0: no SRS; else 2…320 ms
    idle_session_interval_s: float = 300.0
    idle_session_s: tuple[float, float] = (0.1, 2.0)
    kind: EmitterKind = "handset"
    signature: str = "lte_uplink"

    @property
    def n_rb(self) -> int:
        return lte_numerology(self.carrier_bandwidth_hz)[0]

    def _r(self, loop_index: int, *key: int) -> np.random.Generator:
        return _rng(self.seed, loop_index, _salt(self.emitter_id), *key)

    def sessions(self, t_to_s: float, loop_index: int) -> list[tuple[float, float]]:
        """(start, end) of the RRC-connected periods that start before t_to_s."""
        if self.behaviour != "idle":
            return [(self.start_s, self.end_s)]
        out: list[tuple[float, float]] = []
        t, i = self.start_s, 0
        while True:
            r = self._r(loop_index, 0x5E5, i)
            t += float(r.exponential(self.idle_session_interval_s))
            if t >= min(t_to_s, self.end_s):
                return out
            dur = float(r.uniform(*self.idle_session_s))
            out.append((t, min(t + dur, self.end_s)))
            t += dur
            i += 1

    @cached_property
    def _volte_phase(self) -> int:
        """The subframe (mod 20) of this phone's VoLTE grants."""
        return int(self._r(0, 0xF0).integers(0, 20))

    def _new_pusch(self, sf: int, loop_index: int) -> UplinkTx | None:
        if self.behaviour == "volte":
            if sf % round(self.volte_period_s / LTE_SUBFRAME_S) != self._volte_phase % 20:
                return None
            r = self._r(loop_index, 0xA11, sf)
            n = int(r.integers(self.volte_prbs[0], self.volte_prbs[1] + 1))
        else:
            r = self._r(loop_index, 0xA11, sf)
            if r.random() >= self.data_subframe_fraction:
                return None
            n = int(r.integers(self.data_prbs[0], self.data_prbs[1] + 1))
        n = min(n, self.n_rb - 2 * _PUCCH_RESERVED_PRB)
        prb0 = int(r.integers(_PUCCH_RESERVED_PRB, self.n_rb - _PUCCH_RESERVED_PRB - n + 1))
        return UplinkTx("pusch", prb0, n)

    def _failed(self, sf: int, loop_index: int) -> bool:
        return bool(self._r(loop_index, 0xBAD, sf).random() < self.harq_bler)

    def _retransmits(self, sf: int, loop_index: int, depth: int = 2) -> UplinkTx | None:
        """The failed PUSCH of sf − 8 that sf repeats (a new grant displaced by a
        retransmission is never sent, looked back `depth` HARQ rounds)."""
        if sf < 8 or depth == 0:
            return None
        old = self._new_pusch(sf - 8, loop_index)
        if old is None or not self._failed(sf - 8, loop_index):
            return None
        if self._retransmits(sf - 8, loop_index, depth - 1) is not None:
            return None
        return old

    def plan(self, sf: int, loop_index: int) -> UplinkTx | None:
        """What subframe `sf` (counted from start_s) carries, if anything."""
        srs = self.srs_period_s > 0 and sf % round(self.srs_period_s / LTE_SUBFRAME_S) == 0
        old = self._retransmits(sf, loop_index)
        if old is not None:
            return UplinkTx("pusch", old.prb0, old.n_prb, retransmission=True, srs=srs)
        new = self._new_pusch(sf, loop_index)
        if new is not None:
            return UplinkTx("pusch", new.prb0, new.n_prb, srs=srs)
        r = self._r(loop_index, 0xACC, sf)
        if self.behaviour == "volte":
            ack = sf % round(self.volte_period_s / LTE_SUBFRAME_S) == (self._volte_phase + 10) % 20
        else:
            ack = bool(r.random() < 0.5)
        if ack:
            return UplinkTx("pucch", int(r.integers(0, _PUCCH_RESERVED_PRB)), 1, srs=srs)
        return UplinkTx("srs") if srs else None

    def grid(
        self, tx: UplinkTx, rng: np.random.Generator
    ) -> tuple[ComplexArray, NDArray[np.int64]]:
        """(14, n_cols) subcarrier values and the carrier subcarrier index of each column."""
        n_sc, cells = 12 * self.n_rb, {}
        if tx.channel == "pusch":
            m = 12 * tx.n_prb
            cols = np.arange(12 * tx.prb0, 12 * tx.prb0 + m)
            data = dft_spread(random_qpsk(rng, (14, m)))
            root = int(rng.integers(1, 30))
            for sym in range(14):
                if sym in _DMRS_SYMBOLS:
                    shift = float(rng.uniform(0, 2 * np.pi))
                    cells[sym] = (cols, low_papr_sequence(root, m, shift))
                else:
                    cells[sym] = (cols, data[sym])
        elif tx.channel == "pucch":
            base = low_papr_sequence(int(rng.integers(1, 30)), 12)
            ack = complex(random_qpsk(rng, 1)[0])
            for sym in range(14):
                prb = tx.prb0 if sym < 7 else self.n_rb - 1 - tx.prb0  # slot hopping
                shift = float(rng.integers(0, 12)) * 2 * np.pi / 12
                value = base * np.exp(1j * shift * np.arange(12))
                if sym % 7 not in _PUCCH_DMRS:
                    value = value * ack
                cells[sym] = (np.arange(12 * prb, 12 * prb + 12), value)
        if tx.srs or tx.channel == "srs":
            lo, hi = 12 * _PUCCH_RESERVED_PRB, n_sc - 12 * _PUCCH_RESERVED_PRB
            cols = np.arange(lo, hi, 2)  # comb 2
            cells[13] = (cols, low_papr_sequence(int(rng.integers(1, 30)), len(cols)))
        used = np.unique(np.concatenate([c for c, _ in cells.values()]))
        out = np.zeros((14, len(used)), dtype=np.complex128)
        for sym, (cols, vals) in cells.items():
            out[sym, np.searchsorted(used, cols)] = vals
        return out, used

    def span(self, tx: UplinkTx) -> tuple[int, int]:
        """First and last carrier subcarrier index the subframe occupies."""
        n_sc = 12 * self.n_rb
        edges = []
        if tx.channel == "pusch":
            edges += [12 * tx.prb0, 12 * (tx.prb0 + tx.n_prb) - 1]
        elif tx.channel == "pucch":
            edges += [12 * tx.prb0, 12 * (self.n_rb - tx.prb0) - 1]
        if tx.srs or tx.channel == "srs":
            edges += [12 * _PUCCH_RESERVED_PRB, n_sc - 12 * _PUCCH_RESERVED_PRB - 2]
        return min(edges), max(edges)

    def _burst(self, sf: int, tx: UplinkTx, loop_index: int) -> Burst:
        rng = self._r(loop_index, 0xB0, sf)
        grid_seed = int(rng.integers(0, 2**62))
        k_lo, k_hi = self.span(tx)
        centre = 0.5 * (k_lo + k_hi)  # subcarrier index of the span's centre
        first = 13 if tx.channel == "srs" else 0
        cp = lte_cp_s()[first:]
        start = self.start_s + sf * LTE_SUBFRAME_S + sum(lte_cp_s()[:first]) + first / LTE_SCS_HZ

        def make(fs: float) -> Complex64Array:
            grid, cols = self.grid(tx, np.random.default_rng(grid_seed))
            sub = (cols - centre).astype(np.float64)
            return ofdm_synthesize(
                grid[first:], sub, spacing_hz=LTE_SCS_HZ, cp_s=cp, sample_rate_hz=fs
            )

        n_sc = 12 * self.n_rb
        return Burst(
            start_s=start,
            duration_s=sum(cp) + len(cp) / LTE_SCS_HZ,
            freq_hz=self.carrier_hz + (centre - n_sc / 2 + 0.5) * LTE_SCS_HZ,
            bandwidth_hz=(k_hi - k_lo + 1) * LTE_SCS_HZ,
            eirp_dbm=self.eirp_dbm,
            position_m=self.position.point(start),
            waveform=rate_cached_waveform(make),
            extra_loss_db=self.extra_loss_db,
            gain=burst_gain(rng, self.fading),
            source_id=f"{self.emitter_id}/{tx.channel}{'-retx' if tx.retransmission else ''}",
        )

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        for s0, s1 in self.sessions(t_to_s, loop_index):
            lo, hi = max(s0, t_from_s), min(s1, t_to_s)
            if hi <= lo:
                continue
            sf0 = max(0, math.floor((lo - self.start_s) / LTE_SUBFRAME_S))
            sf1 = math.ceil((hi - self.start_s) / LTE_SUBFRAME_S)
            first_sf = math.ceil((s0 - self.start_s) / LTE_SUBFRAME_S - 1e-9)
            for sf in range(max(sf0, first_sf), sf1):
                tx = self.plan(sf, loop_index)
                if tx is not None:
                    yield self._burst(sf, tx, loop_index)

    @property
    def typical_prbs(self) -> int:
        """PRBs of a typical new PUSCH grant (the mean of the behaviour's range)."""
        lo, hi = self.volte_prbs if self.behaviour == "volte" else self.data_prbs
        return min(round(0.5 * (lo + hi)), self.n_rb - 2 * _PUCCH_RESERVED_PRB)

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        """The carrier span as 180 kHz PRBs; the SNR refers to a typical PUSCH grant."""
        on = within(t_s, self.start_s, self.end_s)
        n_sc = 12 * self.n_rb
        prbs = [self.carrier_hz + (12 * k + 6 - n_sc / 2) * LTE_SCS_HZ for k in range(self.n_rb)]
        return [hop_set(self.emitter_id, self.position.point(t_s), self.eirp_dbm, prbs,
                        12 * self.typical_prbs * LTE_SCS_HZ, active=on,
                        extra_loss_db=self.extra_loss_db, channel_bandwidth_hz=12 * LTE_SCS_HZ,
                        note=f"{self.behaviour}, PUSCH of {self.typical_prbs} PRB")]  # fmt: skip


# ---------------------------------------------------------------- LTE PRACH

PRACH_LENGTH = 839
PRACH_SCS_HZ = 1.25e3
PRACH_CP_S = 3168 / 30.72e6  # 103.125 µs
PRACH_SEQUENCE_S = 1.0 / PRACH_SCS_HZ  # 800 µs


def prach_preamble_carriers(root: int, cyclic_shift: int) -> ComplexArray:
    """The 839 subcarrier values (lowest first) of preamble x_u((n + C_v) mod 839)."""
    x = np.roll(zadoff_chu(root, PRACH_LENGTH), -cyclic_shift)
    return np.asarray(np.fft.fftshift(np.fft.fft(x)) / math.sqrt(PRACH_LENGTH), np.complex128)


@dataclass(frozen=True)
class LtePrach:
    """Random-access preambles (format 0), one per access event.

    Events are `access_times_s` if given, else a seeded Poisson process of mean spacing
    `mean_interval_s` between start_s and end_s; each starts on the next 1 ms subframe.
    The 6-PRB block starts at `prb_offset` (default: centred on the carrier).
    """

    emitter_id: str
    position: Track
    seed: int
    access_times_s: tuple[float, ...] = ()
    mean_interval_s: float = 300.0
    start_s: float = 0.0
    end_s: float = math.inf
    carrier_hz: float = 847e6
    carrier_bandwidth_hz: float = 10e6
    prb_offset: int | None = None
    root: int = 129
    ncs: int = 13
    eirp_dbm: float = 23.0
    extra_loss_db: float = 15.0
    fading: Fading = "none"
    kind: EmitterKind = "handset"
    signature: str = "lte_prach"

    @property
    def block_centre_hz(self) -> float:
        n_rb = lte_numerology(self.carrier_bandwidth_hz)[0]
        prb = n_rb // 2 - 3 if self.prb_offset is None else self.prb_offset
        return self.carrier_hz + ((prb + 3) * 12 - 6 * n_rb + 0.5) * LTE_SCS_HZ

    def events(self, t_to_s: float, loop_index: int) -> list[float]:
        if self.access_times_s:
            times = [t for t in self.access_times_s if self.start_s <= t < self.end_s]
        else:
            times, t, i = [], self.start_s, 0
            while True:
                t += float(
                    _rng(self.seed, loop_index, _salt(self.emitter_id), 0xAC, i).exponential(
                        self.mean_interval_s
                    )
                )
                if t >= min(t_to_s, self.end_s):
                    break
                times.append(t)
                i += 1
        return [math.ceil(t / LTE_SUBFRAME_S - 1e-9) * LTE_SUBFRAME_S for t in times]

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        dur = PRACH_CP_S + PRACH_SEQUENCE_S
        sub = np.arange(PRACH_LENGTH, dtype=np.float64) - PRACH_LENGTH // 2
        for i, start in enumerate(self.events(t_to_s, loop_index)):
            if not overlaps(start, dur, t_from_s, t_to_s):
                continue
            rng = _rng(self.seed, loop_index, _salt(self.emitter_id), 0xAD, i)
            shift = int(rng.integers(0, PRACH_LENGTH // self.ncs)) * self.ncs
            grid = prach_preamble_carriers(self.root, shift)[None, :]

            def make(fs: float, grid: ComplexArray = grid) -> Complex64Array:
                return ofdm_synthesize(
                    grid, sub, spacing_hz=PRACH_SCS_HZ, cp_s=[PRACH_CP_S], sample_rate_hz=fs
                )

            yield Burst(
                start_s=start,
                duration_s=dur,
                freq_hz=self.block_centre_hz,
                bandwidth_hz=1.08e6,
                eirp_dbm=self.eirp_dbm,
                position_m=self.position.point(start),
                waveform=rate_cached_waveform(make),
                extra_loss_db=self.extra_loss_db,
                gain=burst_gain(rng, self.fading),
                source_id=self.emitter_id,
            )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        on = within(t_s, self.start_s, self.end_s)
        return [carrier(self.emitter_id, self.position.point(t_s), self.eirp_dbm,
                        self.block_centre_hz, 1.08e6, active=on,
                        extra_loss_db=self.extra_loss_db)]  # fmt: skip
