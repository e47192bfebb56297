"""DJI drone RF emitters at waveform level (SIGNALS.md §2 rows and the DJI notes).

- `DjiDroneId`: DJI DroneID, 9-symbol OFDM burst (NFFT 1024 at 15.36 MS/s, 600 × 15 kHz,
  CP 80/72, QPSK, Zadoff-Chu roots 600 and 147 in symbols 4 and 6), one per ~620 ms,
  13 bursts on a channel of the 2.4 GHz raster, then a hop.
- `DjiOcuSyncVideo`: OcuSync video downlink, 10 or 20 MHz OFDM at 15 kHz with LTE-like
  cyclic prefixes, one block per 5 ms frame keyed 66–77 % of the frame, fixed channel.

Hobby links (FrSky, analog FPV, Wi-Fi drones) are in `simulator.rf_hobby_drones`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from simulator.link_budget import BudgetSource, carrier, hop_set, within
from simulator.ofdm import ofdm_synthesize, zadoff_chu
from simulator.rf_emitters import (
    Burst,
    Complex64Array,
    EmitterKind,
    _rng,
    _salt,
)
from simulator.rf_waveforms import (
    ComplexArray,
    burst_gain,
    overlaps,
    periodic_indices,
    random_qpsk,
    rate_cached_waveform,
)
from simulator.trajectory import Track

# ---------------------------------------------------------------- DJI DroneID

DRONEID_FS_HZ = 15.36e6
DRONEID_NFFT = 1024
DRONEID_USED = 600
#: cyclic prefix per symbol: long on the first and last (9 880 samples = 643.2 µs)
DRONEID_CP = (80, 72, 72, 72, 72, 72, 72, 72, 80)
DRONEID_ZC_SYMBOLS = (3, 5)  # 0-based: symbols 4 and 6
DRONEID_ZC_ROOTS = (600, 147)
#: Bender 2022 2.4 GHz raster (MHz)
DRONEID_2G4_HZ = (2399.5e6, 2414.5e6, 2429.5e6, 2444.5e6, 2459.5e6, 2474.5e6)


def droneid_zc_carriers(root: int) -> ComplexArray:
    """The 600 subcarrier values of a ZC symbol: ZC(root, 601) without its centre element."""
    return np.delete(zadoff_chu(root, DRONEID_USED + 1), DRONEID_USED // 2)


DRONEID_SUBCARRIERS = np.concatenate(
    [np.arange(-DRONEID_USED // 2, 0), np.arange(1, DRONEID_USED // 2 + 1)]
).astype(np.float64)


def droneid_grid(
    rng: np.random.Generator, roots: tuple[int, int] = DRONEID_ZC_ROOTS
) -> ComplexArray:
    """(9, 600) subcarrier values, lowest first (DC skipped): QPSK, ZC in symbols 4 and 6."""
    grid = random_qpsk(rng, (len(DRONEID_CP), DRONEID_USED))
    for sym, root in zip(DRONEID_ZC_SYMBOLS, roots, strict=True):
        grid[sym] = droneid_zc_carriers(root)
    return grid


def droneid_burst(
    rng: np.random.Generator, sample_rate_hz: float = DRONEID_FS_HZ
) -> Complex64Array:
    """One DroneID burst (643.2 µs) at any rate, unit mean power."""
    return ofdm_synthesize(
        droneid_grid(rng),
        DRONEID_SUBCARRIERS,
        spacing_hz=15e3,
        cp_s=[c / DRONEID_FS_HZ for c in DRONEID_CP],
        sample_rate_hz=sample_rate_hz,
    )


@dataclass(frozen=True)
class DjiDroneId:
    """DJI DroneID broadcast from the drone: one 643 µs burst per `period_s`.

    `bursts_per_channel` consecutive bursts share a channel of `channels_hz`; the next
    channel is drawn from a seeded permutation of the list and always differs.
    """

    emitter_id: str
    drone: Track
    seed: int
    start_s: float = 0.0
    end_s: float = math.inf
    eirp_dbm: float = 20.0
    period_s: float = 0.62
    bursts_per_channel: int = 13
    channels_hz: tuple[float, ...] = DRONEID_2G4_HZ
    zc_roots: tuple[int, int] = DRONEID_ZC_ROOTS
    crystal_ppm: float = 0.0
    kind: EmitterKind = "drone"
    signature: str = "dji_droneid"

    @property
    def burst_duration_s(self) -> float:
        return (DRONEID_NFFT * len(DRONEID_CP) + sum(DRONEID_CP)) / DRONEID_FS_HZ

    def _permutation(self, block: int) -> list[int]:
        rng = _rng(self.seed, _salt(self.emitter_id), 0xD1D, block)
        perm: list[int] = rng.permutation(len(self.channels_hz)).tolist()
        if block > 0 and len(perm) > 1:
            prev = _rng(self.seed, _salt(self.emitter_id), 0xD1D, block - 1)
            if perm[0] == int(prev.permutation(len(self.channels_hz))[-1]):
                perm[0], perm[1] = perm[1], perm[0]
        return perm

    def channel_hz(self, burst_index: int) -> float:
        hop = burst_index // self.bursts_per_channel
        n = len(self.channels_hz)
        return self.channels_hz[self._permutation(hop // n)[hop % n]]

    @property
    def first_burst_s(self) -> float:
        return self.start_s + float(_rng(self.seed, _salt(self.emitter_id)).uniform(0, 0.1))

    def _maker(self, burst_seed: int) -> Callable[[float], Complex64Array]:
        def make(sample_rate_hz: float) -> Complex64Array:
            grid = droneid_grid(np.random.default_rng(burst_seed), self.zc_roots)
            return ofdm_synthesize(
                grid,
                DRONEID_SUBCARRIERS,
                spacing_hz=15e3,
                cp_s=[c / DRONEID_FS_HZ for c in DRONEID_CP],
                sample_rate_hz=sample_rate_hz,
            )

        return make

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        dur, origin, salt = self.burst_duration_s, self.first_burst_s, _salt(self.emitter_id)
        for k in periodic_indices(
            t_from_s, t_to_s, origin_s=origin, period_s=self.period_s, longest_s=dur
        ):
            start = origin + k * self.period_s
            if start >= self.end_s or not overlaps(start, dur, t_from_s, t_to_s):
                continue
            rng = _rng(self.seed, loop_index, salt, k)
            burst_seed = int(rng.integers(0, 2**31))
            yield Burst(
                start_s=start,
                duration_s=dur,
                freq_hz=self.channel_hz(k) * (1.0 + self.crystal_ppm * 1e-6),
                bandwidth_hz=9.0e6,
                eirp_dbm=self.eirp_dbm,
                position_m=self.drone.point(start),
                waveform=rate_cached_waveform(self._maker(burst_seed)),
                gain=burst_gain(rng, "none"),
                source_id=self.emitter_id,
            )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        """From the drone, over its DroneID channel list (one 9 MHz burst at a time)."""
        on = within(t_s, self.start_s, self.end_s)
        return [hop_set(self.emitter_id, self.drone.point(t_s), self.eirp_dbm, self.channels_hz,
                        9.0e6, active=on)]  # fmt: skip


# ---------------------------------------------------------------- OcuSync video


@dataclass(frozen=True)
class DjiOcuSyncVideo:
    """OcuSync video downlink from the drone: per 5 ms frame one OFDM block of a whole
    number of symbols, keyed for a seeded fraction in `duty_range` of the frame."""

    emitter_id: str
    drone: Track
    seed: int
    start_s: float = 0.0
    end_s: float = math.inf
    center_freq_hz: float = 2406.5e6
    channel_bandwidth_hz: float = 10e6  # 10 or 20 MHz
    eirp_dbm: float = 23.0
    frame_s: float = 5e-3
    duty_range: tuple[float, float] = (0.66, 0.77)
    kind: EmitterKind = "drone"
    signature: str = "dji_ocusync_video"

    def __post_init__(self) -> None:
        if self.channel_bandwidth_hz not in (10e6, 20e6):
            raise ValueError(f"{self.channel_bandwidth_hz=} must be 10e6 or 20e6")

    @property
    def nfft(self) -> int:
        return 1024 if self.channel_bandwidth_hz == 10e6 else 2048

    @property
    def native_rate_hz(self) -> float:
        return self.nfft * 15e3

    @property
    def occupied_bandwidth_hz(self) -> float:
        return 0.6 * self.nfft * 15e3 / 1.024  # 600 or 1200 subcarriers

    def _cp(self, n_symbols: int) -> list[int]:
        first, other = 80 * self.nfft // 1024, 72 * self.nfft // 1024
        return [first if i % 7 == 0 else other for i in range(n_symbols)]

    def _frame(self, rng: np.random.Generator) -> tuple[int, float]:
        """(symbols, keyed duration in s) of one frame."""
        symbol_s = (self.nfft + 72 * self.nfft // 1024) / self.native_rate_hz
        lo, hi = self.duty_range
        n = round(rng.uniform(lo, hi) * self.frame_s / symbol_s)
        n_lo, n_hi = math.ceil(lo * self.frame_s / symbol_s), int(hi * self.frame_s / symbol_s)
        n = min(max(n, n_lo), n_hi)
        return n, (n * self.nfft + sum(self._cp(n))) / self.native_rate_hz

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        salt, n_used = _salt(self.emitter_id), round(self.occupied_bandwidth_hz / 15e3)
        sub = np.concatenate([np.arange(-n_used // 2, 0), np.arange(1, n_used // 2 + 1)])
        sub = sub.astype(np.float64)
        for k in periodic_indices(
            t_from_s, t_to_s, origin_s=self.start_s, period_s=self.frame_s, longest_s=self.frame_s
        ):
            start = self.start_s + k * self.frame_s
            if start >= self.end_s:
                continue
            rng = _rng(self.seed, loop_index, salt, k)
            n_sym, dur = self._frame(rng)
            if not overlaps(start, dur, t_from_s, t_to_s):
                continue
            burst_seed = int(rng.integers(0, 2**31))

            def make(fs: float, s: int = burst_seed, n: int = n_sym) -> Complex64Array:
                grid = random_qpsk(np.random.default_rng(s), (n, n_used))
                cp_s = [c / self.native_rate_hz for c in self._cp(n)]
                return ofdm_synthesize(grid, sub, spacing_hz=15e3, cp_s=cp_s, sample_rate_hz=fs)

            yield Burst(
                start_s=start,
                duration_s=dur,
                freq_hz=self.center_freq_hz,
                bandwidth_hz=self.occupied_bandwidth_hz,
                eirp_dbm=self.eirp_dbm,
                position_m=self.drone.point(start),
                waveform=rate_cached_waveform(make),
                gain=burst_gain(rng, "none"),
                source_id=self.emitter_id,
            )

    def budget_sources(self, t_s: float) -> list[BudgetSource]:
        on = within(t_s, self.start_s, self.end_s)
        return [carrier(self.emitter_id, self.drone.point(t_s), self.eirp_dbm,
                        self.center_freq_hz, self.occupied_bandwidth_hz, active=on)]  # fmt: skip
