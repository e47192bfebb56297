"""Bursts of one emitter: channel grouping, partly seen bursts, and frame-structure checks.

1. Whole bursts with a label form groups: one per label and channel, or one per label
   for links that hop.
2. Fragments join a group they are compatible with (`rf_labels.fragment_labels`) on the
   same channel: bursts cut by the snapshot edge (their duration is a lower bound) and
   unlabelled pieces shorter than the label allows (a GSM burst cut short by a fade).
   A cut burst that joins nothing keeps its own label if its seen part already fits one,
   and is dropped otherwise: a cut fragment is never reported as `unknown_burst`.
3. Labels that need a frame structure are checked per group: `dji_ocusync_video` needs
   its 5 ms frame (two or more blocks on a 5 ms grid, 50-90 % duty) or one block longer
   than any Wi-Fi PPDU; a lone shorter block is `unknown_burst`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors.bursts import Burst
from detectors.rf_labels import UNKNOWN, Label

OCUSYNC = "dji_ocusync_video"
OCUSYNC_FRAME_S = 5e-3  # video frame, 66-77 % active (SIGNALS.md §2)
OCUSYNC_DUTY = (0.5, 0.9)  # measured duty, with slack for edge resolution
GSM = "gsm_uplink"
WIFI_AP = "wifi_ap"
#: groups whose band is one hop channel: a piece elsewhere is not theirs
HOPPING_NO_ENCLOSE = frozenset({"elrs_2g4", "elrs_900", "frsky_d16", "ble_adv"})
#: an access point sends about one frame per 20 ms snapshot (a beacon every 102.4 ms, a few
#: data frames a second: ~1 % airtime); a drone's video link keeps the channel busy (a
#: few Mb/s at 24-54 Mb/s: tens of % airtime). Four frames and a tenth of the time sit
#: between the two.
WIFI_VIDEO_MIN_FRAMES = 4
WIFI_VIDEO_AIRTIME = 0.1
WIFI_PROBE_MAX_S = 0.5e-3
OVEN_BAND_HZ = (2430e6, 2480e6)
OVEN_ON_S = 12e-3  # a magnetron is on ~10 ms of each 20 ms mains cycle
GSM_SLOT_S = 576.9e-6  # one TDMA timeslot (SIGNALS.md §2): a handset's bursts start k slots apart
GSM_SLOT_TOLERANCE_S = 40e-6
GSM_RESIDUE_DB = 20.0  # a piece this far under the call's bursts is ramp / guard residue
WIFI_PPDU_MAX_S = 5.484e-3  # 802.11 aPPDUMaxTime: anything longer and continuous is not Wi-Fi


def median_of(values: Sequence[float]) -> float:
    """`np.median` of a few floats, bit for bit, without making an array (called per burst
    and per group: numpy's machinery costs tens of microseconds a call)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


@dataclass(frozen=True, slots=True)
class LabelledBurst:
    """A burst with its absolute centre, its label and, for fragments, the labels it is
    compatible with (`fragment`: cut by the snapshot edge or shorter than its label)."""

    burst: Burst
    freq_hz: float
    signature: str
    kind: str
    fragment: bool = False
    candidates: tuple[Label, ...] = ()


@dataclass(slots=True)
class Group:
    signature: str
    kind: str
    members: list[LabelledBurst]

    def holds_channel_of(self, b: LabelledBurst, hopping: bool) -> bool:
        """Same emitter channel: any channel for a hopping link, else centres closer than
        0.4 x the wider bandwidth."""
        if hopping:
            return True
        ref = median_of([x.freq_hz for x in self.members])
        width = median_of([x.burst.bandwidth_hz for x in self.members])
        return abs(b.freq_hz - ref) <= 0.4 * max(width, b.burst.bandwidth_hz)


def periodic_fraction(starts_s: list[float], period_s: float, tolerance: float) -> float:
    """Fraction of successive start gaps that are a whole number of periods (± tolerance)."""
    if len(starts_s) < 2:
        return 0.0
    gaps = np.diff(np.sort(np.asarray(starts_s)))
    cycles = gaps / period_s
    whole = np.round(cycles)
    ok = (whole >= 1) & (np.abs(cycles - whole) <= tolerance * np.maximum(whole, 1.0))
    return float(np.mean(ok))


def _by_channel(
    bursts: list[LabelledBurst], hopping: frozenset[str], into: list[Group] | None = None
) -> list[Group]:
    groups = [] if into is None else into
    for b in sorted(bursts, key=lambda x: x.freq_hz):
        home = next(
            (
                g
                for g in groups
                if g.signature == b.signature and g.holds_channel_of(b, b.signature in hopping)
            ),
            None,
        )
        if home is None:
            groups.append(Group(b.signature, b.kind, [b]))
        else:
            home.members.append(b)
    return groups


def has_ocusync_frame(members: list[LabelledBurst], tolerance: float) -> bool:
    """Blocks on the 5 ms OcuSync frame grid with its duty cycle, or one continuous block
    longer than a Wi-Fi PPDU (a cut block's seen duration is a lower bound)."""
    if any(b.burst.duration_s > WIFI_PPDU_MAX_S for b in members):
        return True
    whole = [b.burst for b in members if not b.burst.truncated]
    starts = [b.burst.t_start_s for b in members if not b.burst.cut_start]
    if len(starts) < 2 or not whole:
        return False
    duty = median_of([b.duration_s for b in whole]) / OCUSYNC_FRAME_S
    periodic = periodic_fraction(starts, OCUSYNC_FRAME_S, tolerance) >= 0.5
    return periodic and OCUSYNC_DUTY[0] <= duty <= OCUSYNC_DUTY[1]


def _gsm_slots(g: Group) -> Group:
    """Keep the members of a GSM call that start a whole number of timeslots after its
    strongest burst; an off-slot piece far weaker than the call (the transmitter's ramp,
    or receiver residue after a burst) is not a burst of it and is dropped."""
    anchor = max(g.members, key=lambda b: b.burst.snr_db)
    keep = []
    for b in g.members:
        dt = b.burst.t_start_s - anchor.burst.t_start_s
        off = abs(dt - round(dt / GSM_SLOT_S) * GSM_SLOT_S)
        aligned = off <= GSM_SLOT_TOLERANCE_S or b.burst.cut_start
        if aligned or b.burst.snr_db > anchor.burst.snr_db - GSM_RESIDUE_DB:
            keep.append(b)
    return Group(g.signature, g.kind, keep)


RESIDUE_AFTER_S = 3e-3  # how long after an emitter's burst its residue may linger


def _residue_of(b: LabelledBurst, groups: list[Group]) -> bool:
    """An unlabelled piece on an emitter's channel, just after one of its bursts and at
    least GSM_RESIDUE_DB weaker: the transmitter's ramp-down or the receiver's recovery
    (seen in real GSM captures), not an emitter of its own."""
    for g in groups:
        if not g.members or not g.holds_channel_of(b, hopping=False):
            continue
        strongest = max(m.burst.snr_db for m in g.members)
        if b.burst.snr_db > strongest - GSM_RESIDUE_DB:
            continue
        if any(0.0 <= b.burst.t_start_s - m.burst.t_end_s <= RESIDUE_AFTER_S for m in g.members):
            return True
    return False


ENCLOSE_MARGIN_S = 5e-3  # how far outside an emitter's time span a piece of it may lie
ENCLOSE_MARGIN = 0.25  # ... and outside its measured band, as a fraction of the bandwidth
FPV = "fpv_analog_video"
#: an FM video carrier occupies at most this much (the label's widest, SIGNALS.md §2:
#: 15-20 MHz). Its measured 99 % band moves with the picture and can miss its sync-tip
#: line at the edge: the pieces that join it are those its channel can hold with it.
FPV_MAX_SPAN_HZ = 25e6


def _enclosing(b: LabelledBurst, groups: list[Group]) -> Group | None:
    """A labelled emitter whose occupied band holds this unlabelled piece, around the same
    time: a piece of its spectrum (an FM video carrier's line structure, an OFDM block cut
    short, a PUCCH edge of an LTE subframe), not an emitter of its own."""
    lo, hi = b.freq_hz - 0.5 * b.burst.bandwidth_hz, b.freq_hz + 0.5 * b.burst.bandwidth_hz
    for g in groups:
        if g.signature in HOPPING_NO_ENCLOSE or not g.members:
            continue
        widest = max(g.members, key=lambda m: m.burst.bandwidth_hz)
        centre, half = widest.freq_hz, 0.5 * widest.burst.bandwidth_hz
        start = min(m.burst.t_start_s for m in g.members) - ENCLOSE_MARGIN_S
        end = max(m.burst.t_end_s for m in g.members) + ENCLOSE_MARGIN_S
        if g.signature == FPV:
            inside = max(hi, centre + half) - min(lo, centre - half) <= FPV_MAX_SPAN_HZ
        else:
            half += ENCLOSE_MARGIN * widest.burst.bandwidth_hz
            inside = centre - half <= lo and hi <= centre + half
        if inside and start <= b.burst.t_start_s and b.burst.t_end_s <= end:
            return g
    return None


def group_bursts(
    labelled: list[LabelledBurst], hopping: frozenset[str], period_tolerance: float
) -> list[Group]:
    """Groups of bursts, one per emitter (see the module docstring)."""
    whole = [b for b in labelled if not b.fragment and b.signature != UNKNOWN]
    groups = _by_channel(whole, hopping)
    primary = len(groups)
    loose: list[LabelledBurst] = []
    for b in labelled:
        if not (b.fragment or b.signature == UNKNOWN):
            continue
        home = next(
            (
                g
                for c in b.candidates
                for g in groups[:primary]
                if g.signature == c.signature and g.holds_channel_of(b, c.signature in hopping)
            ),
            None,
        )
        if home is None and b.signature == UNKNOWN:
            home = _enclosing(b, groups[:primary])
        if home is not None:
            home.members.append(b)
        elif _residue_of(b, groups[:primary]):
            continue
        elif not (b.burst.truncated and b.signature == UNKNOWN):
            loose.append(b)
    groups = _by_channel(loose, hopping, groups)

    out = []
    for g in groups:
        if g.signature == GSM and len(g.members) >= 2:
            g = _gsm_slots(g)
        if g.signature in (WIFI_AP, OCUSYNC, UNKNOWN) and _sweeping_line(g):
            g = Group("microwave_oven", "other", g.members)
        if g.signature == WIFI_AP:
            g = _wifi_by_traffic(g)
        if g.signature == OCUSYNC and not has_ocusync_frame(g.members, period_tolerance):
            whole_members = [b for b in g.members if not b.burst.truncated]
            if not whole_members:
                continue
            in_oven_band = all(
                OVEN_BAND_HZ[0] <= b.freq_hz <= OVEN_BAND_HZ[1] for b in whole_members
            )
            short = all(b.burst.duration_s <= OVEN_ON_S for b in whole_members)
            g = (
                Group("microwave_oven", "other", whole_members)
                if in_oven_band and short
                else Group(UNKNOWN, "other", whole_members)
            )
        out.append(g)
    # unlabelled pieces inside a labelled emitter's band (seen after the loose groups form:
    # a continuous carrier, cut by both snapshot edges, is itself a loose fragment)
    named = [g for g in out if g.signature != UNKNOWN]
    kept = []
    for g in out:
        if g.signature == UNKNOWN:
            found = [_enclosing(b, named) for b in g.members]
            homes = {id(h): h for h in found if h is not None}
            if len(homes) == 1 and all(h is not None for h in found):
                next(iter(homes.values())).members.extend(g.members)
                continue
        kept.append(g)
    return _fm_video_pieces(kept)


#: pieces of a carrier on the band's edge channels (5645 and 5945 MHz) lie up to half a
#: carrier's span beyond them
FPV_BAND_HZ = (5645e6 - 0.5 * FPV_MAX_SPAN_HZ, 5945e6 + 0.5 * FPV_MAX_SPAN_HZ)
FM_MIN_SPAN_HZ = 5e6
CONTINUOUS_MIN_S = 5e-3


def _continuous(b: LabelledBurst) -> bool:
    """On for the whole snapshot: cut by both edges, or a carrier (`carriers` reports
    those from the first frame over the whole snapshot)."""
    whole = b.burst.cut_start and b.burst.cut_end
    return whole or (b.burst.t_start_s <= 1e-9 and b.burst.duration_s >= CONTINUOUS_MIN_S)


def _fm_video_pieces(groups: list[Group]) -> list[Group]:
    """Unlabelled pieces in the 5.8 GHz video band that hold at least one continuous
    carrier (on for the whole snapshot) and together span 5 MHz or more: an analog FM
    video carrier seen below the level where its whole band shows (its sync-tip and
    colour lines stand out first). Nothing else in that band is on all the time and wide."""
    pieces = [
        g for g in groups
        if g.signature == UNKNOWN
        and all(FPV_BAND_HZ[0] <= b.freq_hz <= FPV_BAND_HZ[1] for b in g.members)
    ]  # fmt: skip
    members = [b for g in pieces for b in g.members]
    if not any(_continuous(b) for b in members):
        return groups
    lo = min(b.freq_hz - 0.5 * b.burst.bandwidth_hz for b in members)
    hi = max(b.freq_hz + 0.5 * b.burst.bandwidth_hz for b in members)
    if hi - lo < FM_MIN_SPAN_HZ:
        return groups
    rest = [g for g in groups if all(g is not p for p in pieces)]
    return [*rest, Group(FPV, "drone", members)]


SWEEP_MAX_FILL = 0.3  # a line crossing its box lights under a third of it
#: a noise-like block at in-band SNR s has a share exp(-4 / (1 + s)) of its cells 6 dB
#: over the floor: 0.38 at 5 dB, so above this it fills more than a sweeping line can
SWEEP_MIN_SNR_DB = 5.0
SWEEP_MIN_WIDTH_HZ = 3e6  # a magnetron's line sweeps tens of MHz


def _sweeping_line(g: Group) -> bool:
    """Wide, strong boxes mostly empty inside, in the oven band: a magnetron's CW line
    sweeping across the band, not an OFDM block (which fills its box)."""
    strong = [
        b
        for b in g.members
        if b.burst.snr_db >= SWEEP_MIN_SNR_DB and b.burst.bandwidth_hz >= SWEEP_MIN_WIDTH_HZ
    ]
    if not strong:
        return False
    in_band = all(OVEN_BAND_HZ[0] <= b.freq_hz <= OVEN_BAND_HZ[1] for b in strong)
    return in_band and all(b.burst.fill <= SWEEP_MAX_FILL for b in strong)


def _wifi_by_traffic(g: Group) -> Group:
    """What the airtime of 20 MHz frames on one channel says about who sends them, from
    PHY shape alone (a MAC header would say more): an access point sends a beacon every
    102.4 ms and some data, so one or two frames per snapshot; a phone scanning for
    networks sends a couple of short probes (<= 0.5 ms) within a few ms on each channel;
    a drone's video link keeps the channel busy (four frames or more, a tenth of the time
    and more). The two
    reclassified labels get capped confidence in `rf` (shape only)."""
    members = [b for b in g.members if not b.burst.truncated] or g.members
    durations = [b.burst.duration_s for b in members]
    start = min(b.burst.t_start_s for b in g.members)
    end = max(b.burst.t_end_s for b in g.members)
    span = max(end - start, 1e-9)
    # frames cut by the snapshot's edges count too: what was seen of them was on air
    airtime = sum(b.burst.duration_s for b in g.members) / span
    if len(g.members) >= WIFI_VIDEO_MIN_FRAMES and airtime >= WIFI_VIDEO_AIRTIME:
        return Group("wifi_drone", "drone", g.members)
    if 2 <= len(g.members) <= 6 and max(durations) <= WIFI_PROBE_MAX_S and span <= 10e-3:
        return Group("wifi_probe", "handset", g.members)
    return g
