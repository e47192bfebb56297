"""Band plan and labelling rules for RF bursts (SIGNALS.md §2, UK band plan).

A burst is labelled by the first rule whose band, occupied bandwidth, duration and
(optional) channel raster all match; anything else is `unknown_burst`. Rules are plain
data so a site can extend or reorder them through `RfConfig.rules`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Range = tuple[float, float]

MHZ = 1e6

#: UK cellular uplinks (handset transmit), Hz.
GSM_UPLINK: tuple[Range, ...] = ((880 * MHZ, 915 * MHZ), (1710 * MHZ, 1785 * MHZ))
LTE_UPLINK: tuple[Range, ...] = (
    (703 * MHZ, 733 * MHZ),
    (832 * MHZ, 862 * MHZ),
    (880 * MHZ, 915 * MHZ),
    (1710 * MHZ, 1785 * MHZ),
    (1920 * MHZ, 1980 * MHZ),
    (2500 * MHZ, 2570 * MHZ),
)
#: Cellular downlinks (base-station transmit): never a handset.
CELLULAR_DOWNLINK: tuple[Range, ...] = (
    (758 * MHZ, 788 * MHZ),
    (791 * MHZ, 821 * MHZ),
    (925 * MHZ, 960 * MHZ),
    (1805 * MHZ, 1880 * MHZ),
    (2110 * MHZ, 2170 * MHZ),
    (2620 * MHZ, 2690 * MHZ),
)
ISM_2G4: tuple[Range, ...] = ((2390 * MHZ, 2485 * MHZ),)  # DroneID 2399.5 MHz spills below 2400
ISM_5G8: tuple[Range, ...] = ((5715 * MHZ, 5850 * MHZ),)
DRONE_BANDS: tuple[Range, ...] = ISM_2G4 + ISM_5G8
WIFI_BANDS: tuple[Range, ...] = ((2400 * MHZ, 2495 * MHZ), (5150 * MHZ, 5895 * MHZ))
FPV_5G8: tuple[Range, ...] = ((5645 * MHZ, 5945 * MHZ),)
ELRS_900: tuple[Range, ...] = ((863 * MHZ, 870 * MHZ), (915 * MHZ, 928 * MHZ))
BLE_ADV_HZ: tuple[float, ...] = (2402 * MHZ, 2426 * MHZ, 2480 * MHZ)
#: PMR bands of staff radios: TETRA (UK Airwave 380-400 MHz) and TETRA / DMR at 410-470 MHz
PMR_380: tuple[Range, ...] = ((380 * MHZ, 400 * MHZ),)
PMR_410: tuple[Range, ...] = ((410 * MHZ, 470 * MHZ),)
OVEN_BAND: tuple[Range, ...] = ((2430 * MHZ, 2480 * MHZ),)

UNKNOWN = "unknown_burst"
ANY: Range = (0.0, math.inf)


@dataclass(frozen=True, slots=True)
class Raster:
    """Channel centres at offset_hz + k * step_hz, matched within tol_hz."""

    step_hz: float
    offset_hz: float
    tol_hz: float

    def contains(self, freq_hz: float) -> bool:
        k = round((freq_hz - self.offset_hz) / self.step_hz)
        return abs(freq_hz - (self.offset_hz + k * self.step_hz)) <= self.tol_hz


@dataclass(frozen=True, slots=True)
class LabelRule:
    """One signature's envelope: the burst centre must lie in one of `bands_hz`, its
    occupied bandwidth in one of `bandwidths_hz`, its duration in `duration_s`; if
    `centres_hz` or `raster` is given, the centre must also sit on a listed channel.

    duration_quantum_s: if > 0 the duration must also be a whole number n >= 1 of this
    quantum, within `quantum_tol` (fractions of one quantum below / above n * quantum):
    LTE transmits in 1 ms subframes, measured 0.93-1.05 ms each (edge resolution).
    """

    signature: str
    kind: str
    bands_hz: tuple[Range, ...]
    bandwidths_hz: tuple[Range, ...] = (ANY,)
    duration_s: Range = ANY
    centres_hz: tuple[float, ...] = ()
    centre_tol_hz: float = 0.0
    raster: tuple[Raster, ...] = ()
    duration_quantum_s: float = 0.0
    quantum_tol: Range = (0.07, 0.05)

    def matches_place(self, freq_hz: float, bandwidth_hz: float) -> bool:
        """Band, bandwidth and channel tests (everything but the duration)."""
        if not any(lo <= freq_hz <= hi for lo, hi in self.bands_hz):
            return False
        if not any(lo <= bandwidth_hz <= hi for lo, hi in self.bandwidths_hz):
            return False
        if self.centres_hz and not any(
            abs(freq_hz - c) <= self.centre_tol_hz for c in self.centres_hz
        ):
            return False
        return not self.raster or any(r.contains(freq_hz) for r in self.raster)

    def matches_duration(self, duration_s: float) -> bool:
        if not self.duration_s[0] <= duration_s <= self.duration_s[1]:
            return False
        if self.duration_quantum_s <= 0.0:
            return True
        n = max(1, round(duration_s / self.duration_quantum_s))
        excess = duration_s / self.duration_quantum_s - n
        return -self.quantum_tol[0] <= excess <= self.quantum_tol[1]

    def matches(self, freq_hz: float, bandwidth_hz: float, duration_s: float) -> bool:
        return self.matches_place(freq_hz, bandwidth_hz) and self.matches_duration(duration_s)


WIFI_RASTER = (
    Raster(step_hz=5 * MHZ, offset_hz=2412 * MHZ, tol_hz=1.5 * MHZ),  # 2.4 GHz ch 1-13
    Raster(step_hz=5 * MHZ, offset_hz=5000 * MHZ, tol_hz=1.5 * MHZ),  # 5 GHz: 5000 + 5 ch
)

#: Priority order matters: the first matching rule wins.
DEFAULT_RULES: tuple[LabelRule, ...] = (
    LabelRule("cellular_downlink", "other", CELLULAR_DOWNLINK),
    LabelRule("gsm_uplink", "handset", GSM_UPLINK, ((100e3, 450e3),), duration_s=(250e-6, 720e-6)),
    LabelRule("lte_prach", "handset", LTE_UPLINK, ((0.9e6, 1.3e6),), duration_s=(0.75e-3, 0.95e-3)),
    # PUSCH/PUCCH: >= 1 PRB (180 kHz), whole 1 ms subframes
    LabelRule(
        "lte_uplink",
        "handset",
        LTE_UPLINK,
        ((150e3, 20.5e6),),
        duration_s=(0.9e-3, 12e-3),
        duration_quantum_s=1e-3,
    ),
    # PUCCH: one PRB-ish (180-400 kHz) for one 0.5 ms slot at a band edge (GSM, first,
    # keeps its own 577 us bursts in the shared 900 / 1800 MHz bands)
    LabelRule(
        "lte_uplink", "handset", LTE_UPLINK, ((150e3, 400e3),), duration_s=(0.42e-3, 0.56e-3)
    ),
    # several back-to-back subframes whose allocations change: edges blur, whole ms is lost
    LabelRule("lte_uplink", "handset", LTE_UPLINK, ((150e3, 20.5e6),), duration_s=(2.5e-3, 1e3)),
    LabelRule("elrs_900", "drone", ELRS_900, ((350e3, 650e3),), duration_s=(3e-3, 32e-3)),
    LabelRule("dji_droneid", "drone", DRONE_BANDS, ((7.5e6, 11e6),), duration_s=(540e-6, 700e-6)),
    LabelRule(
        "wifi_ap",
        "other",
        WIFI_BANDS,
        ((14e6, 22e6), (34e6, 42e6), (72e6, 82e6)),
        duration_s=(50e-6, 5.5e-3),  # 802.11 aPPDUMaxTime 5.484 ms
        raster=WIFI_RASTER,
    ),
    # continuous FM video outlasts an OcuSync block (3.5 ms of each 5 ms frame)
    LabelRule("fpv_analog_video", "drone", FPV_5G8, ((10e6, 25e6),), duration_s=(5e-3, 1e3)),
    # a block only; the 5 ms frame structure is checked per emitter (`rf_structure`)
    LabelRule("dji_ocusync_video", "drone", DRONE_BANDS, ((8e6, 22e6),), duration_s=(1.0e-3, 1e3)),
    LabelRule(
        "ble_adv",
        "handset",
        ISM_2G4,
        ((0.5e6, 2.5e6),),
        duration_s=(60e-6, 450e-6),
        centres_hz=BLE_ADV_HZ,
        centre_tol_hz=0.3 * MHZ,
    ),
    LabelRule("elrs_2g4", "drone", ISM_2G4, ((450e3, 1.05e6),), duration_s=(0.3e-3, 12e-3)),
    LabelRule("frsky_d16", "drone", ISM_2G4, ((100e3, 400e3),), duration_s=(3e-3, 6e-3)),
    LabelRule("microwave_oven", "other", OVEN_BAND, duration_s=(6e-3, 12e-3)),
    # staff radios: TETRA one 14.17 ms slot per 56.67 ms frame, DMR a 27.5 ms burst per
    # 30 ms slot; channels of 25 / 12.5 kHz, measured one or two bins wide
    LabelRule("tetra", "other", PMR_380 + PMR_410, ((2e3, 80e3),), duration_s=(10e-3, 20e-3)),
    LabelRule("dmr", "other", PMR_410 + PMR_380, ((2e3, 60e3),), duration_s=(22e-3, 33e-3)),
    # the part of an oven's sweep a wideband snapshot sees: a short, wide streak
    LabelRule("microwave_oven", "other", OVEN_BAND, ((3e6, 30e6),), duration_s=(0.3e-3, 1.6e-3)),
)

#: Signatures whose one emitter hops over channels within a frame: all bursts of the label
#: form one detection. The others are grouped per channel.
HOPPING_SIGNATURES: frozenset[str] = frozenset(
    {"elrs_2g4", "elrs_900", "frsky_d16", "flysky_afhds2a", "dsmx", "dji_droneid", "ble_adv"}
)


@dataclass(frozen=True, slots=True)
class Label:
    signature: str
    kind: str


def label_burst(
    freq_hz: float, bandwidth_hz: float, duration_s: float, rules: tuple[LabelRule, ...]
) -> Label:
    """Label of a burst with absolute centre `freq_hz`, occupied `bandwidth_hz` and
    `duration_s`: the first matching rule, else `unknown_burst` / `other`."""
    for rule in rules:
        if rule.matches(freq_hz, bandwidth_hz, duration_s):
            return Label(rule.signature, rule.kind)
    return Label(UNKNOWN, "other")


def fragment_labels(
    freq_hz: float,
    bandwidth_hz: float,
    duration_s: float,
    rules: tuple[LabelRule, ...],
    *,
    cut: bool,
) -> tuple[Label, ...]:
    """Labels a partly seen burst is compatible with, in priority order.

    cut: the burst touches the snapshot edge, so `duration_s` is a lower bound: rules whose
    longest duration reaches it. Otherwise the burst is a piece shorter than any rule
    allows: rules whose shortest duration exceeds it (a piece of a longer burst).
    """
    out = []
    for rule in rules:
        if not rule.matches_place(freq_hz, bandwidth_hz):
            continue
        lo, hi = rule.duration_s
        if (cut and duration_s <= hi) or (not cut and duration_s < lo):
            out.append(Label(rule.signature, rule.kind))
    return tuple(out)


def label_by_band(freq_hz: float, bandwidth_hz: float, rules: tuple[LabelRule, ...]) -> Label:
    """Label when no duration is known (swept PSD): band and bandwidth only.

    Rules tied to burst timing are skipped, except cellular uplinks (labelled by band and
    width: ~200 kHz in a GSM band is `gsm_uplink`, wider is `lte_uplink`).
    """
    for rule in rules:
        timed = rule.duration_s != ANY and rule.duration_s[1] < 1.0
        if timed and rule.kind != "handset" and not rule.raster:
            continue
        if rule.signature == "lte_prach":
            continue  # a PRACH is only told from a 6-PRB allocation by its duration
        if rule.matches_place(freq_hz, bandwidth_hz):
            return Label(rule.signature, rule.kind)
    return Label(UNKNOWN, "other")
