"""The link-budget protocol of RF emitters: where each transmitter is, how strong, where.

Every RF emitter class answers `budget_sources(t_s)` with one `BudgetSource` per
transmitter it models (an RC link has two: the pilot's radio and the receiver on the
drone answering with telemetry). `Scenario.link_budgets` turns them into expected
levels and SNRs at each sensor; ground truth (`TruthInterval.source_id`) and the bursts
(`Burst.source_id`) use the same ids, so truth and budgets match by id, never by guess.

Frequency plans: a fixed carrier is `freq_hz` ± `bandwidth_hz`/2. A hop set (ELRS, FrSky,
DroneID, BLE advertising, Wi-Fi probe scans) or a carrier whose transmissions land on
part of it (LTE PRBs) lists the centres it may use in `channels_hz`, each
`channel_bandwidth_hz` wide; `freq_hz` is then the set's centre and `bandwidth_hz` the
occupied bandwidth of one transmission, which is the band the in-band SNR refers to
(SIGNALS.md §1: power per complex sample inside the occupied band over thermal noise
in that band). `heard_channels` says which channels a given receiver band holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from simulator.trajectory import Vec3

#: in_band(freq_hz, bandwidth_hz) -> bool, e.g. a bound `RfCollector.in_band`
InBand = Callable[[float, float], bool]


@dataclass(frozen=True)
class BudgetSource:
    """One transmitter of an emitter at one instant (levels while keyed)."""

    source_id: str  # as `Burst.source_id` and `TruthInterval.source_id`
    position_m: Vec3
    eirp_dbm: float
    extra_loss_db: float  # the emitter's own losses (body, building); site walls come extra
    freq_hz: float  # the carrier, or the centre of the hop set / carrier span
    bandwidth_hz: float  # occupied bandwidth of one transmission (the SNR's noise band)
    active: bool  # on air (scheduled) at that instant
    channels_hz: tuple[float, ...] = ()  # hop set or sub-bands; () = the one band at freq_hz
    channel_bandwidth_hz: float = 0.0  # width of each channel; 0 = bandwidth_hz
    note: str = ""

    @property
    def span_hz(self) -> float:
        """Width of the whole band the source may occupy (hop set edge to edge)."""
        if not self.channels_hz:
            return self.bandwidth_hz
        width = self.channel_bandwidth_hz or self.bandwidth_hz
        return max(self.channels_hz) - min(self.channels_hz) + width

    def heard_channels(self, in_band: InBand) -> tuple[float, ...]:
        """The channel centres (or the carrier) that fall wholly inside a receiver's band."""
        width = self.channel_bandwidth_hz or self.bandwidth_hz
        return tuple(f for f in (self.channels_hz or (self.freq_hz,)) if in_band(f, width))


@runtime_checkable
class BudgetedEmitter(Protocol):
    def budget_sources(self, t_s: float) -> list[BudgetSource]: ...


#: frequency_spans widens each plan by this (crystal errors are tens of ppm)
SPAN_MARGIN_PPM = 100.0
#: id(emitter) -> (emitter, its spans): the emitter is kept so that its id stays unique
_SPANS: dict[int, tuple[object, tuple[tuple[float, float], ...]]] = {}


def frequency_spans(emitter: object) -> tuple[tuple[float, float], ...] | None:
    """(low, high) edges in Hz of every band the emitter's transmitters may occupy (their
    frequency plans do not change over a scenario); None when it has no budget. Receivers
    use it to skip asking an emitter for bursts that cannot fall in their band."""
    got = _SPANS.get(id(emitter))
    if got is not None and got[0] is emitter:
        return got[1]
    if not isinstance(emitter, BudgetedEmitter):
        return None
    spans = []
    for src in emitter.budget_sources(0.0):
        width = src.channel_bandwidth_hz or src.bandwidth_hz
        centres = src.channels_hz or (src.freq_hz,)
        lo = min(min(centres) - 0.5 * width, src.freq_hz - 0.5 * src.bandwidth_hz)
        hi = max(max(centres) + 0.5 * width, src.freq_hz + 0.5 * src.bandwidth_hz)
        margin = SPAN_MARGIN_PPM * 1e-6 * hi + 1e3  # transmitters' own frequency errors
        spans.append((lo - margin, hi + margin))
    if len(_SPANS) > 4096:
        _SPANS.clear()
    _SPANS[id(emitter)] = (emitter, tuple(spans))
    return tuple(spans)


def carrier(
    source_id: str, position_m: Vec3, eirp_dbm: float, freq_hz: float, bandwidth_hz: float,
    *, active: bool, extra_loss_db: float = 0.0, note: str = "",
) -> BudgetSource:  # fmt: skip
    """A transmitter on one fixed band."""
    return BudgetSource(source_id, position_m, eirp_dbm, extra_loss_db, freq_hz, bandwidth_hz,
                        active, note=note)  # fmt: skip


def hop_set(
    source_id: str, position_m: Vec3, eirp_dbm: float, channels_hz: Sequence[float],
    bandwidth_hz: float, *, active: bool, extra_loss_db: float = 0.0,
    channel_bandwidth_hz: float = 0.0, note: str = "",
) -> BudgetSource:  # fmt: skip
    """A transmitter visiting `channels_hz` (one transmission occupies `bandwidth_hz`)."""
    chans = tuple(float(f) for f in channels_hz)
    centre = 0.5 * (min(chans) + max(chans))
    return BudgetSource(source_id, position_m, eirp_dbm, extra_loss_db, centre, bandwidth_hz,
                        active, chans, channel_bandwidth_hz, note)  # fmt: skip


def within(t_s: float, start_s: float, end_s: float) -> bool:
    return start_s <= t_s < end_s
