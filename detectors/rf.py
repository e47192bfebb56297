"""RF entry point: one complex-baseband frame in, one detection per emitter out.

spectrogram (`spectra`: one rectangular-window FFT, the Hann power taken from it) -> noise
floor per bin of each (`floor`) -> scanned bursts (`bursts`: the energy scan reads the
rectangular-window power, which keeps every degree of freedom, and the Hann power where
strong bursts would leak; measured without the splatter of stronger bursts), continuous
carriers (`carriers`; `rf_wide` for those filling most of the span) and weak continuous
lines (`rf_lines`) -> label per burst (`rf_labels`) -> group bursts of one emitter, attach
fragments and check frame structure (`rf_groups`) -> `RfDetection`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.bursts import Burst, BurstConfig, find_bursts
from detectors.carriers import find_carriers, tracked_carriers
from detectors.floor import block_floor
from detectors.floor_track import FloorTrack
from detectors.rf_groups import (
    Group,
    LabelledBurst,
    group_bursts,
    median_of,
    periodic_fraction,
)
from detectors.rf_labels import (
    DEFAULT_RULES,
    HOPPING_SIGNATURES,
    UNKNOWN,
    Label,
    LabelRule,
    fragment_labels,
    label_burst,
)
from detectors.rf_lines import LineConfig, find_lines
from detectors.rf_wide import WideCarrierConfig, find_wide_carriers
from detectors.spectra import choose_nfft, spectrogram

GSM_FRAME_S = 4.615e-3  # 8 x 576.9 µs TDMA frame (SIGNALS.md §2)
#: labels a PHY shape cannot prove (Wi-Fi traffic patterns, BLE adverts): reported, but
#: below stage 2's alert cut until another sensor or modality corroborates them
SHAPE_ONLY_SIGNATURES = frozenset({"wifi_drone", "wifi_probe", "ble_adv"})
UNKNOWN_MAX_CONFIDENCE = 0.4
#: samples are full scale 1.0; a frame with |x| beyond this is not from a receiver
MAX_ABS_SAMPLE = 1e6


@dataclass(frozen=True, slots=True)
class RfConfig:
    """Settings of `detect_rf`.

    max_bin_hz: the FFT size is the smallest power of two giving bins at most this wide,
      and at least `min_nfft` (narrowband receivers: 7.8 kHz bins at 250 kS/s resolve
      12.5 / 25 kHz radio channels).
    floor_quantile: order statistic over time (of 8-frame block sums, `floor.block_floor`)
      that starts the per-bin noise floor.
    flat_floor_tile_bins: the flat (rectangular-window) floor also censors blocks whose
      4-block tile over this many bins around theirs stands out (`block_floor`'s tile
      test: a weak burst a few bins wide hardly lifts its own bins' floor); 1: off.
    carrier_min_excess_db: a bin busy all frame is a carrier when its floor exceeds the
      span's receiver noise by this much.
    lines: weaker continuous lines, a few bins above their neighbours' floor (`rf_lines`).
    wide_carriers: carriers filling more than half the span (`rf_wide`).
    min_snr_db: bursts below this in-band SNR are dropped (significance is tested by the
      scan at `bursts.pfa_frame`; this only bounds what the floor estimate can resolve).
    weak_snr_db / weak_max_confidence: an emitter seen in fewer than 3 bursts below this
      SNR is ambiguous; its confidence is capped below stage 2's 0.5 alert cut.
    """

    max_bin_hz: float = 50e3
    min_nfft: int = 32
    floor_quantile: float = 0.05
    floor_smooth_bins: int = 7
    flat_floor_tile_bins: int = 5
    bursts: BurstConfig = field(default_factory=BurstConfig)
    carrier_min_excess_db: float = 6.0
    lines: LineConfig = field(default_factory=LineConfig)
    wide_carriers: WideCarrierConfig = field(default_factory=WideCarrierConfig)
    dc_guard_bins: int = 2
    min_snr_db: float = -25.0
    rules: tuple[LabelRule, ...] = DEFAULT_RULES
    hopping_signatures: frozenset[str] = HOPPING_SIGNATURES
    gsm_frame_s: float = GSM_FRAME_S
    period_tolerance: float = 0.03
    weak_snr_db: float = 6.0
    weak_max_confidence: float = 0.45


@dataclass(frozen=True, slots=True)
class RfDetection:
    """One emitter seen in one RF frame.

    Times in s from the first sample of the frame; freq_hz is the absolute RF centre (median
    over bursts for a hopping emitter); bandwidth_hz the median occupied (99 %) bandwidth
    of its bursts; snr_db the median in-band SNR per sample; rssi_dbm the median in-band
    power in dBm when the frame's full-scale power is known.
    """

    signature: str
    kind: str
    t_start_s: float
    t_end_s: float
    freq_hz: float
    bandwidth_hz: float
    snr_db: float
    rssi_dbm: float | None
    confidence: float
    burst_count: int


def _as_iq(iq: NDArray[Any]) -> NDArray[np.complex64]:
    x = np.asarray(iq)
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1:
        raise ValueError(f"iq must be (n,) or (1, n), got {x.shape=}")
    if not np.iscomplexobj(x):
        raise ValueError(f"iq must be complex, got {x.dtype=}")
    return x.astype(np.complex64, copy=False)


def _within_range(x: NDArray[np.complex64]) -> bool:
    """Every |x| <= MAX_ABS_SAMPLE (False for NaN): from the extremes of the real and
    imaginary parts (two passes without a temporary), and |x| itself only when a part
    comes within a factor sqrt(2) of the bound."""
    parts = x.view(np.float32)
    extreme = max(float(np.max(parts)), -float(np.min(parts)))
    if extreme <= MAX_ABS_SAMPLE / math.sqrt(2.0):
        return True
    return float(np.max(np.abs(x))) <= MAX_ABS_SAMPLE


def _confidence(signature: str, group: list[LabelledBurst], config: RfConfig) -> float:
    snr = median_of([b.burst.snr_db for b in group])
    snr_term = min(max((snr - config.min_snr_db) / 20.0, 0.0), 1.0)
    if signature == "gsm_uplink":
        starts = [b.burst.t_start_s for b in group if not b.burst.cut_start]
        evidence = periodic_fraction(starts, config.gsm_frame_s, config.period_tolerance)
    else:
        evidence = min(1.0, (len(group) - 1) / 3.0)
    confidence = 0.4 + 0.3 * snr_term + 0.3 * evidence
    if signature == UNKNOWN:  # something is there, but nothing says what: stays low
        confidence = min(0.5 * confidence, UNKNOWN_MAX_CONFIDENCE)
    if signature in SHAPE_ONLY_SIGNATURES:
        confidence = min(confidence, config.weak_max_confidence)
    if snr < config.weak_snr_db and len(group) < 3:
        confidence = min(confidence, config.weak_max_confidence)
    return round(min(max(confidence, 0.0), 1.0), 3)


def _detection(
    signature: str,
    kind: str,
    group: list[LabelledBurst],
    full_scale_dbm: float | None,
    config: RfConfig,
) -> RfDetection:
    # the emitter's own bursts, not the narrow pieces of its spectrum it absorbed
    widest = max(b.burst.bandwidth_hz for b in group)
    main = [b for b in group if b.burst.bandwidth_hz >= 0.5 * widest]
    rssi = None
    if full_scale_dbm is not None:
        rssi = full_scale_dbm + median_of([b.burst.mean_power_dbfs for b in main])
    return RfDetection(
        signature=signature,
        kind=kind,
        t_start_s=min(b.burst.t_start_s for b in group),
        t_end_s=max(b.burst.t_end_s for b in group),
        freq_hz=median_of([b.freq_hz for b in main]),
        bandwidth_hz=median_of([b.burst.bandwidth_hz for b in main]),
        snr_db=median_of([b.burst.snr_db for b in main]),
        rssi_dbm=rssi,
        confidence=(
            min(_confidence(signature, main, config), config.weak_max_confidence)
            if any(b.burst.tracked for b in group)  # only as good as the sensor's history
            else _confidence(signature, main, config)
        ),
        burst_count=len(main),
    )


def label_bursts(
    bursts: list[Burst], center_freq_hz: float, rules: tuple[LabelRule, ...]
) -> list[LabelledBurst]:
    """Label each burst by its centre (RF, Hz), bandwidth and duration; a burst cut by the
    snapshot edge or too short for any label also gets the labels it may be a piece of."""
    out = []
    for b in bursts:
        freq = center_freq_hz + b.freq_offset_hz
        label = label_burst(freq, b.bandwidth_hz, b.duration_s, rules)
        fragment = b.truncated
        candidates: tuple[Label, ...] = ()
        if fragment or label.signature == UNKNOWN:
            candidates = fragment_labels(freq, b.bandwidth_hz, b.duration_s, rules, cut=fragment)
        out.append(LabelledBurst(b, freq, label.signature, label.kind, fragment, candidates))
    return out


def group_emitters(
    labelled: list[LabelledBurst], full_scale_dbm: float | None, config: RfConfig
) -> list[RfDetection]:
    """One detection per emitter: bursts of one label, per channel unless the label hops,
    with the fragments that belong to it (`rf_groups.group_bursts`)."""
    # a band found only against the sensor's history (`Burst.tracked`) is an emitter of its
    # own: grouped with real bursts it would lend them its label, or they it their cap
    own = [b for b in labelled if not b.burst.tracked]
    groups: list[Group] = group_bursts(own, config.hopping_signatures, config.period_tolerance)
    groups += [Group(b.signature, b.kind, [b]) for b in labelled if b.burst.tracked]
    detections = [
        _detection(g.signature, g.kind, g.members, full_scale_dbm, config) for g in groups
    ]
    detections.sort(key=lambda d: (d.t_start_s, d.freq_hz))
    return detections


def detect_rf(
    iq: NDArray[Any],
    sample_rate_hz: float,
    center_freq_hz: float,
    *,
    full_scale_dbm: float | None = None,
    config: RfConfig = RfConfig(),
    floor_track: FloorTrack | None = None,
) -> list[RfDetection]:
    """Detect and label the RF emitters of one frame.

    iq: (n,) or (1, n) complex64, full scale = 1.0; sample_rate_hz: complex sample rate;
    center_freq_hz: RF tuning of baseband 0 Hz; full_scale_dbm: power in dBm of a
    full-scale (|x|^2 = 1) signal at the antenna, if calibrated.
    floor_track: the sensor's receiver-shape reference (`floor_track.FloorTrack`), which
    this frame is tested against (weak wide continuous emitters) and then teaches.
    Returns one `RfDetection` per emitter seen in the frame (bursts of one label grouped
    per channel, or across channels for hopping links), sorted by start time.
    """
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz=}")
    x = _as_iq(iq)
    if x.size and not _within_range(x):
        return []  # beyond any ADC's range: powers would overflow; nothing to measure
    nfft = choose_nfft(sample_rate_hz, max_bin_hz=config.max_bin_hz, min_nfft=config.min_nfft)
    if x.shape[0] < 8 * nfft:
        return []
    spec = spectrogram(x, sample_rate_hz, nfft, with_pairs=True, with_flat=True)
    noise = block_floor(
        spec.power,
        quantile=config.floor_quantile,
        smooth_bins=config.floor_smooth_bins,
        pairs=spec.pairs,
    )
    assert spec.flat is not None
    flat_noise = block_floor(
        spec.flat,
        quantile=config.floor_quantile,
        smooth_bins=config.floor_smooth_bins,
        pairs=spec.flat_pairs,
        window="boxcar",
        tile_bins=config.flat_floor_tile_bins,
    )
    bursts = find_bursts(spec, noise, config.bursts, flat_noise)
    bursts += find_carriers(
        spec,
        noise,
        min_excess_db=config.carrier_min_excess_db,
        dc_guard_bins=config.dc_guard_bins,
    )
    bursts += find_wide_carriers(spec, noise, config.wide_carriers)
    if floor_track is not None:
        key = (round(sample_rate_hz), nfft, round(center_freq_hz))
        bursts += tracked_carriers(
            spec, noise, flat_noise, bursts, floor_track, key, dc_guard_bins=config.dc_guard_bins
        )
    bursts += find_lines(spec, noise, config.lines)
    bursts = [b for b in bursts if b.snr_db >= config.min_snr_db]
    labelled = label_bursts(bursts, center_freq_hz, config.rules)
    return group_emitters(labelled, full_scale_dbm, config)
