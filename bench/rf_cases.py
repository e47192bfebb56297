"""Test cases for `bench/rf_quality.py`: simulator emitters, sensor tunings, truth.

A `Case` is one emitter type seen by one sensor configuration (sample rate, snapshot
length, tuning). `Case.trial(i, natural=...)` renders the i-th deterministic snapshot:
the receiver noise (regenerated from a seed, so that the same noise can be reused at
every SNR of a sweep) and the emitter's signal with its per-burst truth, at an amplitude
the caller then sets to a chosen in-band SNR.

In-band SNR (SIGNALS.md §1, §6): per complex sample inside the burst's occupied band,
SNR = P_burst / (sigma² · B / fs), where P_burst is the burst's mean power over its
nominal duration (energy / (duration · fs), measured on the rendered samples), sigma² the
receiver's total noise power per sample over the sampled band fs, and B the simulator's
occupied (99 %) bandwidth of that burst (`Burst.bandwidth_hz`). The ideal energy detector
of §6 integrates N = duration · B samples at that SNR.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from simulator.collectors import RfCollector, RfEmitter, SensorSpec
from simulator.propagation import (
    SPEED_OF_LIGHT_M_S,
    db_to_power,
    distance_m,
    thermal_noise_dbm,
)
from simulator.rf_drones import DjiDroneId, DjiOcuSyncVideo
from simulator.rf_emitters import Burst, ElrsLink, EmitterView, GsmHandset, WifiAccessPoint
from simulator.rf_handsets import LtePrach, LteUplink
from simulator.rf_handsets_wlan import BleAdvertiser, WifiProbe
from simulator.rf_hobby_drones import FpvAnalogVideo, FrskyD16, WifiDrone
from simulator.rf_site import CellularDownlink, Dmr, MicrowaveOven, Tetra
from simulator.trajectory import Track

C64 = NDArray[np.complex64]
Tuning = Literal["random", "carrier"]

SENSOR_POSITION = (0.0, 0.0, 2.0)
EMITTER = Track.fixed((0.0, 150.0, 30.0))  # distance only sets a delay: SNR is set directly
PILOT = Track.fixed((120.0, -80.0, 1.5))
#: noise sits this far below full scale (clipping is off, so only float32 precision matters)
NOISE_DBFS = -40.0
#: a randomly tuned receiver keeps the burst this far (fraction of fs) inside the band edges
EDGE_GUARD = 0.05
#: the burst of a single-burst snapshot starts at least this far inside the snapshot
TIME_GUARD_S = 0.5e-3


@dataclass(frozen=True)
class Truth:
    """One emitted burst as the sensor receives it; times in s from the snapshot's first
    sample, frequencies absolute (Hz), snr_db the in-band SNR at the chosen amplitude."""

    t_start_s: float
    t_end_s: float
    freq_lo_hz: float
    freq_hi_hz: float
    power: float  # mean power over the burst at unit amplitude, full-scale units
    bandwidth_hz: float


@dataclass(frozen=True)
class Trial:
    """One rendered snapshot, before noise and amplitude: x = noise + amplitude · signal."""

    center_freq_hz: float
    noise_seed: tuple[int, ...]
    signal: C64  # (n,) complex64 at unit amplitude
    truths: tuple[Truth, ...]
    reference: Truth  # the burst whose SNR the sweep sets

    def amplitude_for(self, snr_db: float, noise_power: float, sample_rate_hz: float) -> float:
        """Signal amplitude that puts the reference burst at `snr_db` in-band."""
        ref = self.reference
        target = db_to_power(snr_db) * noise_power * ref.bandwidth_hz / sample_rate_hz
        return math.sqrt(target / ref.power)

    def snr_db(self, truth: Truth, amplitude: float, noise_power: float, fs_hz: float) -> float:
        in_band_noise = noise_power * truth.bandwidth_hz / fs_hz
        return 10.0 * math.log10(max(amplitude**2 * truth.power / in_band_noise, 1e-30))


class OnlyBursts(EmitterView):
    """An `RfEmitter` that emits only the given bursts of another emitter."""

    def __init__(self, inner: Any, bursts: list[Burst]) -> None:
        self.inner = inner
        self.chosen = bursts

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        for b in self.chosen:
            if b.start_s < t_to_s and b.start_s + b.duration_s > t_from_s:
                yield b


EmitterFactory = Callable[[int], Any]
BurstFilter = Callable[[Burst], bool]


def _any_burst(b: Burst) -> bool:
    return True


def _from_pilot(b: Burst) -> bool:
    return b.source_id.endswith("/pilot")


def _pusch(b: Burst) -> bool:
    return "/pusch" in b.source_id and not b.source_id.endswith("-retx")


def _long_frame(b: Burst) -> bool:
    return b.duration_s > 0.9e-3  # a WifiDrone video frame, not one of its 0.4 ms beacons


@dataclass(frozen=True)
class Case:
    """One emitter type (`make(seed)`) seen by one sensor.

    pick: the bursts a snapshot is centred on (and whose SNR is set); query_s: the
    schedule window searched for them. tuning 'random': the receiver centre is drawn so
    that the picked burst lies anywhere in the band (`EDGE_GUARD` from the edges);
    'carrier': tuned to `carrier_hz` (cellular sensors sit on the carrier).
    continuous: the emitter never stops, so the "burst" is the whole snapshot.
    sensitivity: part of the Pd-vs-SNR sweep (drone and handset signatures).
    """

    name: str
    signature: str
    sample_rate_hz: float
    snapshot_s: float
    make: EmitterFactory
    query_s: tuple[float, float]
    pick: BurstFilter = _any_burst
    tuning: Tuning = "random"
    carrier_hz: float = 0.0
    continuous: bool = False
    sensitivity: bool = True
    #: emitter parameters for the sweep that fix the burst duration (None: as `make`)
    make_fixed: EmitterFactory | None = None

    @property
    def salt(self) -> int:
        return zlib.crc32(self.name.encode())

    @property
    def num_samples(self) -> int:
        return round(self.snapshot_s * self.sample_rate_hz)

    def collector(self, center_freq_hz: float) -> RfCollector:
        fs = self.sample_rate_hz
        noise_figure_db = 6.0  # SIGNALS.md §5 default
        return RfCollector(
            SensorSpec("rf-bench", "rf", "iq", SENSOR_POSITION, "bench"),
            center_freq_hz=center_freq_hz,
            sample_rate_hz=fs,
            snapshot_s=self.snapshot_s,
            period_s=self.snapshot_s,
            noise_figure_db=noise_figure_db,
            full_scale_dbm=thermal_noise_dbm(fs, noise_figure_db) - NOISE_DBFS,
            adc_clipping=False,
        )

    @property
    def noise_power(self) -> float:
        """Total receiver noise power per sample, full-scale units."""
        return db_to_power(NOISE_DBFS)

    def noise(self, trial: Trial) -> C64:
        c = self.collector(trial.center_freq_hz)
        rng = np.random.default_rng(list(trial.noise_seed))
        return c.render([], 0.0, rng, include_signals=False)

    def trial(self, index: int, *, natural: bool, fixed: bool = False) -> Trial:
        """Snapshot `index`: a picked burst at a random place in time (and frequency, for
        'random' tuning). natural=False renders that burst alone (one burst per
        snapshot); natural=True renders everything the emitter sends in the snapshot.
        fixed: use `make_fixed` (fixed burst duration) when the case has one."""
        rng = np.random.default_rng([self.salt, index, int(natural)])
        factory = self.make_fixed if fixed and self.make_fixed is not None else self.make
        emitter = factory(1000 + index)
        fs, n = self.sample_rate_hz, self.num_samples
        snapshot = n / fs
        candidates = [b for b in emitter.bursts(*self.query_s, 0) if self.pick(b)]
        if not candidates:
            raise RuntimeError(f"{self.name}: no burst to pick in {self.query_s=}")
        chosen = candidates[int(rng.integers(0, min(len(candidates), 8)))]
        if self.tuning == "carrier":
            fc = self.carrier_hz
        else:
            room = 0.5 * fs * (1.0 - 2.0 * EDGE_GUARD) - 0.5 * chosen.bandwidth_hz
            fc = chosen.freq_hz - float(rng.uniform(-max(room, 0.0), max(room, 0.0)))
        delay = float(distance_m(chosen.position_m, SENSOR_POSITION)) / SPEED_OF_LIGHT_M_S
        if self.continuous:
            t0 = chosen.start_s + delay + float(rng.uniform(0.0, 0.5 * snapshot))
        else:
            slack = max(0.0, snapshot - chosen.duration_s - 2 * TIME_GUARD_S)
            t0 = chosen.start_s + delay - TIME_GUARD_S - float(rng.uniform(0.0, slack))
        c = self.collector(fc)
        source: RfEmitter = emitter if natural or self.continuous else OnlyBursts(emitter, [chosen])
        signal = c.render([source], t0, np.random.default_rng(0), include_noise=False)
        truths = self._truths(c, source, t0, signal)
        if not truths:
            raise RuntimeError(f"{self.name}: trial {index} rendered no burst")
        if self.continuous:
            reference = _merged(truths)
            truths = [reference]
        else:
            arrival = math.ceil((chosen.start_s + delay - t0) * fs) / fs
            reference = min(truths, key=lambda t: abs(t.t_start_s - arrival))
        noise_seed = (self.salt, index, 0xA015E)
        return Trial(fc, noise_seed, signal, tuple(truths), reference)

    def _truths(self, c: RfCollector, emitter: RfEmitter, t0: float, signal: C64) -> list[Truth]:
        fs, n = self.sample_rate_hz, self.num_samples
        out = []
        for b in emitter.bursts(t0 - 2e-5, t0 + n / fs, 0):
            if not c.in_band(b.freq_hz, b.bandwidth_hz, center_freq_hz=c.center_freq_hz):
                continue
            d = float(distance_m(b.position_m, SENSOR_POSITION))
            t_arr = b.start_s + d / SPEED_OF_LIGHT_M_S
            k0 = max(0, math.ceil((t_arr - t0) * fs))
            k1 = min(n, math.ceil((t_arr + b.duration_s - t0) * fs))
            if k1 <= k0:
                continue
            seg = signal[k0:k1]
            power = float(np.vdot(seg, seg).real) / (k1 - k0)
            if power <= 0.0:
                continue
            out.append(
                Truth(
                    t_start_s=k0 / fs,
                    t_end_s=k1 / fs,
                    freq_lo_hz=b.freq_hz - 0.5 * b.bandwidth_hz,
                    freq_hi_hz=b.freq_hz + 0.5 * b.bandwidth_hz,
                    power=power,
                    bandwidth_hz=b.bandwidth_hz,
                )
            )
        return out

    def nominal(self) -> tuple[float, float]:
        """(duration s, bandwidth Hz) of the picked burst of the fixed-duration emitter
        (the whole snapshot for a continuous one)."""
        t = self.trial(0, natural=False, fixed=True).reference
        return t.t_end_s - t.t_start_s, t.bandwidth_hz


def _merged(truths: list[Truth]) -> Truth:
    """A continuous emitter's consecutive pieces as one burst over the snapshot."""
    span = sum(t.t_end_s - t.t_start_s for t in truths)
    energy = sum(t.power * (t.t_end_s - t.t_start_s) for t in truths)
    return Truth(
        t_start_s=min(t.t_start_s for t in truths),
        t_end_s=max(t.t_end_s for t in truths),
        freq_lo_hz=min(t.freq_lo_hz for t in truths),
        freq_hi_hz=max(t.freq_hi_hz for t in truths),
        power=energy / span,
        bandwidth_hz=max(t.bandwidth_hz for t in truths),
    )


# ---------------------------------------------------------------- the cases

FS_2G4 = 25e6  # 2.4 GHz ISM sensor (SIGNALS.md §5; the demo's wall sensor)
FS_5G8 = 50e6  # 5.8 GHz: an analog FPV channel is ~19 MHz wide
FS_GSM = 2e6
FS_LTE = 15.36e6  # 10 MHz LTE carrier
FS_PMR = 250e3  # TETRA / DMR channels of 12.5-25 kHz (as the gallery scenario)
SNAP_WIDE_S = 20e-3
SNAP_GSM_S = 50e-3
SNAP_PMR_S = 0.2

B20_UPLINK_HZ = 847e6
B20_DOWNLINK_HZ = 806e6


def _droneid(seed: int) -> DjiDroneId:
    return DjiDroneId("droneid", EMITTER, seed)


def _ocusync(seed: int) -> DjiOcuSyncVideo:
    return DjiOcuSyncVideo("ocusync", EMITTER, seed)


def _ocusync_fixed(seed: int) -> DjiOcuSyncVideo:
    return DjiOcuSyncVideo("ocusync", EMITTER, seed, duty_range=(0.7, 0.7))


def _elrs(seed: int) -> ElrsLink:
    return ElrsLink("elrs", PILOT, EMITTER, seed)


def _frsky(seed: int) -> FrskyD16:
    return FrskyD16("frsky", PILOT, EMITTER, seed)


def _fpv(seed: int) -> FpvAnalogVideo:
    bands: list[Literal["A", "B", "E", "F", "R"]] = ["A", "B", "E", "F", "R"]
    r = np.random.default_rng(seed)
    return FpvAnalogVideo(
        "fpv", EMITTER, seed, band=bands[int(r.integers(0, 5))], channel=int(r.integers(1, 9))
    )


def _wifi_drone(seed: int) -> WifiDrone:
    return WifiDrone("wifidrone", EMITTER, seed, channel=1 + seed % 13)


def _wifi_drone_fixed(seed: int) -> WifiDrone:
    return WifiDrone("wifidrone", EMITTER, seed, channel=1 + seed % 13, video_frame_s=(1e-3, 1e-3))


def _gsm(seed: int) -> GsmHandset:
    return GsmHandset("gsm", EMITTER, seed, 0.0, 10.0, arfcn=10 + seed % 100, wall_loss_db=0.0)


def _lte(seed: int) -> LteUplink:
    return LteUplink("lte", EMITTER, seed, behaviour="data", extra_loss_db=0.0)


def _lte_fixed(seed: int) -> LteUplink:
    return LteUplink(
        "lte", EMITTER, seed, behaviour="data", data_prbs=(8, 8), harq_bler=0.0, extra_loss_db=0.0
    )


def _lte_volte(seed: int) -> LteUplink:
    return LteUplink("lte", EMITTER, seed, behaviour="volte", extra_loss_db=0.0)


def _prach(seed: int) -> LtePrach:
    return LtePrach("prach", EMITTER, seed, access_times_s=(0.1,), extra_loss_db=0.0)


def _probe(seed: int) -> WifiProbe:
    return WifiProbe("probe", EMITTER, seed, extra_loss_db=0.0)


def _probe_fixed(seed: int) -> WifiProbe:
    return WifiProbe("probe", EMITTER, seed, probe_s=(0.3e-3, 0.3e-3), extra_loss_db=0.0)


def _ble(seed: int) -> BleAdvertiser:
    return BleAdvertiser("ble", EMITTER, seed, extra_loss_db=0.0)


def _wifi_ap(seed: int) -> WifiAccessPoint:
    return WifiAccessPoint("ap", EMITTER, seed, channel=1 + seed % 13)


def _oven(seed: int) -> MicrowaveOven:
    return MicrowaveOven("oven", EMITTER, seed)


def _tetra(seed: int) -> Tetra:
    return Tetra("tetra", EMITTER, seed, timeslot=seed % 4)


def _dmr(seed: int) -> Dmr:
    return Dmr("dmr", EMITTER, seed, timeslot=seed % 2)


def _downlink_lte(seed: int) -> CellularDownlink:
    return CellularDownlink("enb", EMITTER, seed, carrier_hz=B20_DOWNLINK_HZ)


def _downlink_gsm(seed: int) -> CellularDownlink:
    return CellularDownlink(
        "bts", EMITTER, seed, technology="gsm", carrier_hz=935.2e6 + 0.2e6 * (seed % 100)
    )


CASES: tuple[Case, ...] = (
    Case("dji_droneid", "dji_droneid", FS_2G4, SNAP_WIDE_S, _droneid, (0.0, 1.0)),
    Case(
        "dji_ocusync_video", "dji_ocusync_video", FS_2G4, SNAP_WIDE_S, _ocusync, (0.1, 0.2),
        make_fixed=_ocusync_fixed,
    ),
    Case("elrs_2g4", "elrs_2g4", FS_2G4, SNAP_WIDE_S, _elrs, (0.1, 0.12), _from_pilot),
    Case("frsky_d16", "frsky_d16", FS_2G4, SNAP_WIDE_S, _frsky, (0.1, 0.15), _from_pilot),
    Case("fpv_analog_video", "fpv_analog_video", FS_5G8, 10e-3, _fpv, (0.1, 0.2), continuous=True),
    Case(
        "wifi_drone", "wifi_drone", FS_2G4, SNAP_WIDE_S, _wifi_drone, (0.1, 0.3), _long_frame,
        make_fixed=_wifi_drone_fixed,
    ),
    Case("gsm_uplink", "gsm_uplink", FS_GSM, SNAP_GSM_S, _gsm, (0.1, 0.15)),
    Case(
        "lte_uplink/data", "lte_uplink", FS_LTE, SNAP_WIDE_S, _lte, (0.1, 0.2), _pusch, "carrier",
        B20_UPLINK_HZ, make_fixed=_lte_fixed,
    ),
    Case(
        "lte_uplink/volte", "lte_uplink", FS_LTE, SNAP_WIDE_S, _lte_volte, (0.1, 0.3), _pusch,
        "carrier", B20_UPLINK_HZ, sensitivity=False,
    ),
    Case("lte_prach", "lte_prach", FS_LTE, SNAP_WIDE_S, _prach, (0.0, 1.0), tuning="carrier",
         carrier_hz=B20_UPLINK_HZ),
    Case(
        "wifi_probe", "wifi_probe", FS_2G4, SNAP_WIDE_S, _probe, (0.0, 40.0),
        make_fixed=_probe_fixed,
    ),
    Case("ble_adv", "ble_adv", FS_2G4, SNAP_WIDE_S, _ble, (0.0, 1.0)),
    # not a threat: classification only
    Case("wifi_ap", "wifi_ap", FS_2G4, SNAP_WIDE_S, _wifi_ap, (0.0, 0.5), sensitivity=False),
    Case("microwave_oven", "microwave_oven", FS_2G4, SNAP_WIDE_S, _oven, (0.1, 0.2),
         sensitivity=False),
    Case("tetra", "tetra", FS_PMR, SNAP_PMR_S, _tetra, (0.0, 1.0), sensitivity=False),
    Case("dmr", "dmr", FS_PMR, SNAP_PMR_S, _dmr, (0.0, 1.0), sensitivity=False),
    Case(
        "cellular_downlink/lte", "cellular_downlink", FS_LTE, SNAP_WIDE_S, _downlink_lte,
        (0.1, 0.11), continuous=True,
        sensitivity=False,
    ),
    Case(
        "cellular_downlink/gsm", "cellular_downlink", FS_GSM, SNAP_GSM_S, _downlink_gsm,
        (0.1, 0.11), continuous=True, sensitivity=False,
    ),
)  # fmt: skip
