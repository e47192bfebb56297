"""Stage 2 tracks: which detections belong to one intruder, and where it is (pure logic).

A *track* is one emitter (or one drone with its radio links) as stage 2 believes it to
be; its alert is the operator's view of it. A threat detection joins a track when

- kinds agree (drone, handset);
- RF: the signature belongs to the same *family* (one radio system: `dji_droneid` and
  `dji_ocusync_video` are one DJI drone; `lte_uplink` and `lte_prach` one phone), and,
  where the track already has recent RSSIs at the same sensor, the new RSSI is within
  `rssi_gate_db` of their range: two phones of one technology in different wings are
  heard at very different levels by the same sensor, while one phone's own levels
  spread over tens of dB (LTE control and data channels at different powers, power
  control, fading), hence a range and a wide gate;
- acoustic (`rotor_harmonics`, a drone without a radio family): the drone track last
  heard, preferring one whose location the microphone can hear (within
  `acoustic_range_m`); a rotor heard with no radio track starts its own. A rotor-only
  track holds the fundamentals it heard over the last `rotor_memory_s` (`rotor_match`:
  within x1.35 of the last one, or an octave read off within x1.10, folded back, and
  all of them within x1.69), and a rotor at another fundamental starts a track of its
  own: acoustic persistence needs one sustained, drone-like f0 track, not any drone-like
  frames (confuser mixtures, a mower's dense comb, a fan, traffic and voices together,
  put a comb at a new f0 into each frame, or chain combs in 20 % steps; a drone's own
  jumps stay within the span). A drone with a radio family takes any rotor the
  microphone can hear (its radio already says it is there), and an RF detection that
  finds no track of its own radio joins the alerted, else the most heard, rotor-only
  track.

Otherwise the detection starts a new track. Tracks are localised from their own
evidence (`localise_track`): RSSI multilateration over three or more sensor positions,
else two or more acoustic bearings crossed, else the strongest sensor's position with a
wide radius.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple, TypeGuard

from sensor_hub.localise import (
    BearingObservation,
    Fix,
    RssiObservation,
    bearing_fix,
    rssi_fix,
)
from sensor_hub.schemas import Alert, AlertKind, Detection
from sensor_hub.site import SiteConfig

#: signature -> radio system; detections of one family from one place are one emitter
FAMILY: dict[str, str] = {
    "elrs_2g4": "elrs",
    "elrs_900": "elrs",
    "frsky_d16": "frsky",
    "flysky_afhds2a": "flysky",
    "dsmx": "dsmx",
    "dji_droneid": "dji",
    "dji_ocusync_video": "dji",
    "wifi_drone": "wifi_drone",
    "remote_id": "remote_id",
    "fpv_analog_video": "fpv",
    "gsm_uplink": "gsm",
    "lte_uplink": "lte",
    "lte_prach": "lte",
    "nr_uplink": "nr",
}

#: nominal EIRP (dBm) per family (SIGNALS.md §2) and the spread of real units around it:
#: the prior on P0 that tells RSSI multilateration's twin solutions apart. Handsets
#: follow network power control (tens of dB): a weak prior.
EIRP_DBM: dict[str, tuple[float, float]] = {
    "elrs": (20.0, 6.0),
    "frsky": (20.0, 6.0),
    "flysky": (20.0, 6.0),
    "dsmx": (20.0, 6.0),
    "dji": (23.0, 6.0),
    "wifi_drone": (19.0, 6.0),
    "remote_id": (10.0, 8.0),
    "fpv": (20.0, 8.0),
    "gsm": (23.0, 12.0),
    "lte": (15.0, 12.0),
    "nr": (15.0, 12.0),
}

#: assumed emitter heights (m): a drone in flight, a handset at hand height
HEIGHT_M: dict[str, float] = {"drone": 40.0, "handset": 1.5}
#: how far a drone's height may be from that (estimated with the position); handsets: fixed
HEIGHT_SIGMA_M: dict[str, float] = {"drone": 30.0}

SPEED_OF_LIGHT_M_S = 299_792_458.0


def family_of(det: Detection) -> str:
    if det.modality == "acoustic":
        return "acoustic"
    return FAMILY.get(det.signature, det.signature)


#: rotor fundamentals a track keeps at most (a few per second over `rotor_memory_s`)
ROTOR_F0S_KEPT = 64
#: detections a track keeps at most (dozens of sensors at 5 frames/s over the horizon)
HEARD_KEPT = 4096


class RotorF0(NamedTuple):
    """One rotor fundamental a track's acoustic detection gave: when heard, folded into
    the track's octave (matching), and as heard (the persistence rule's median)."""

    when: datetime
    folded_hz: float
    heard_hz: float


class Heard(NamedTuple):
    """One detection's place in its track's evidence: when the sensor says it was heard
    (t), by what and where, when the hub received it (rx, the hub's clock), and the allow
    rule it matched, if any (for the suppression verdict)."""

    t: datetime
    modality: str
    sensor_id: str
    rx: datetime
    reason: str | None


def persistent_in(times: Iterable[datetime], window: timedelta, needed: int) -> bool:
    """Whether some span of `window` holds at least `needed` of `times` (stage 2's M-of-N,
    over whatever order the detections arrived in). A span is half open, [t, t + window):
    frames stamped every 1/F s put N = F * window of them in it, the N of the M-of-N
    false-alarm arithmetic (`fusion`) and of `detect_cli.acoustic_verdict` (4 frames of
    1 s within 8 s: the fourth starts less than 8 s after the first)."""
    ts = sorted(times)
    start = 0
    for end, t in enumerate(ts):
        while start <= end and t - ts[start] >= window:
            start += 1
        if end - start + 1 >= needed:
            return True
    return False


@dataclass(frozen=True, slots=True)
class TrackSettings:
    rssi_gate_db: float = (
        20.0  # same sensor and family, this far outside the track's range: another emitter
    )
    rssi_window_s: float = 10.0  # RSSI and bearings older than this are forgotten
    acoustic_range_m: float = 600.0  # a rotor is not heard further than this (SIGNALS.md §4)
    min_rssi_sigma_db: float = 0.5  # floor of an RSSI median's uncertainty (model error)
    rssi_sigma_db: float = 4.0  # one detection's RSSI spread (fading, power control)
    bearing_sigma_deg: float = 5.0
    #: a rotor's fundamental may move this much (ratio) from the track's last one: flight
    #: jitter 7-14 %, manoeuvre sweeps +-10-30 % over 0.5-2 s (SIGNALS.md §4); real flights
    #: jump 8-19 % between 1 s frames
    rotor_f0_ratio: float = 1.35
    #: ... or this close to twice or half of it: the comb read an octave off (same rotor;
    #: folded into the track's octave)
    rotor_octave_ratio: float = 1.10
    #: and the fundamentals the track heard within `rotor_memory_s` span at most this
    #: ratio: a +-30 % sweep from the hover one either way (1.3^2, §4), where combs of a
    #: confuser mixture chained in 20 % steps drift on (228 -> 189 -> 153 -> 120 Hz)
    rotor_span_ratio: float = 1.69
    #: a rotor-only track's fundamentals are forgotten this long after they were heard
    #: (stage 2's acoustic window): a drone heard again later may have climbed, loaded or
    #: turned
    rotor_memory_s: float = 8.0


@dataclass(slots=True)
class Track:
    """One believed intruder: its evidence, its place and its alert (once persistent)."""

    site: str
    kind: AlertKind
    family: str  # the radio family, or "acoustic" for a rotor heard with no radio yet
    #: the recent detections (`add`), by arrival
    frames: deque[Heard] = field(default_factory=lambda: deque(maxlen=HEARD_KEPT))
    rssi: dict[str, deque[tuple[datetime, float, float]]] = field(default_factory=dict)
    bearings: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    best_confidence: dict[str, float] = field(default_factory=dict)  # sensor/signature
    zone_votes: dict[str, float] = field(default_factory=dict)
    alert: Alert | None = None
    fix: Fix | None = None
    last_rx: datetime | None = None
    last_emit: datetime | None = None
    last_fix: datetime | None = None
    emitted_sensors: list[str] = field(default_factory=list)
    #: the rotor fundamentals the track's acoustic detections gave, by arrival
    #: (`note_rotor` keeps `rotor_memory_s`)
    rotor_f0s: deque[RotorF0] = field(default_factory=lambda: deque(maxlen=ROTOR_F0S_KEPT))

    def rssi_span(self, sensor_id: str, since: datetime) -> tuple[float, float] | None:
        """(lowest, highest) RSSI of the track at a sensor since `since`, if any."""
        got = [r for t, r, _ in self.rssi.get(sensor_id, ()) if t >= since]
        return (min(got), max(got)) if got else None

    def loudest(self, since: datetime) -> str | None:
        """The sensor with the highest median RSSI since `since` (the nearest in path loss:
        indoors, where walls make distances unreliable, its zone is the best guess)."""
        levels = {
            sid: statistics.median(got)
            for sid, q in self.rssi.items()
            if (got := [r for t, r, _ in q if t >= since])
        }
        return max(levels, key=lambda sid: levels[sid]) if levels else None

    def add(self, det: Detection, reason: str | None, horizon_s: float, now: datetime) -> None:
        """Take a detection received at `now` (the hub's clock); `reason` is the allow rule
        that matched it, if any. Evidence is kept while it arrived within `horizon_s` of
        now or is stamped within `horizon_s` of this detection: aged by the hub's clock as
        well as the sensors', so that one detection stamped far off (a sensor clock that
        jumped, or one set an hour wrong beside a right one) neither wipes the track's
        other evidence nor stays in it, and a hub running behind its sensors (a backlog)
        still keeps a whole window of their frames."""
        self.frames.append(Heard(det.t_end, det.modality, det.sensor_id, now, reason))
        while self.frames and not (
            _within(self.frames[0].rx, now, horizon_s)
            or _within(self.frames[0].t, det.t_end, horizon_s)
        ):
            self.frames.popleft()
        if det.modality == "rf" and det.rssi_dbm is not None and det.freq_hz:
            q = self.rssi.setdefault(det.sensor_id, deque(maxlen=64))
            q.append((det.t_end, det.rssi_dbm, det.freq_hz))
        if det.bearing_deg is not None:
            self.bearings[det.sensor_id] = (det.t_end, det.bearing_deg)
        tag = f"{det.sensor_id}/{det.signature}"
        self.best_confidence[tag] = max(self.best_confidence.get(tag, 0.0), det.confidence)

    def rotor_anchor(self, t: datetime, s: TrackSettings) -> RotorAnchor | None:
        """The fundamentals a rotor heard at t must agree with to join (`rotor_match`):
        None (no constraint) for a drone with a radio family, whose own evidence already
        says it is there, and when none was heard within `rotor_memory_s` of t."""
        if self.family != "acoustic":
            return None
        recent = [r.folded_hz for r in self.rotor_f0s if _within(r.when, t, s.rotor_memory_s)]
        if not recent:
            return None
        return RotorAnchor(last_hz=recent[-1], low_hz=min(recent), high_hz=max(recent))

    def takes_rotor(self, det: Detection, s: TrackSettings) -> bool:
        """Whether a rotor detection's fundamental agrees with the track's (`rotor_match`)."""
        return rotor_match(self.rotor_anchor(det.t_end, s), det.f0_hz, s)[0]

    def note_rotor(self, det: Detection, s: TrackSettings) -> None:
        """Keep the fundamental of an acoustic detection that joined a rotor-only track
        (folded into the track's octave when it was read an octave off)."""
        if self.family != "acoustic" or det.modality != "acoustic" or not valid_f0(det.f0_hz):
            return
        _, folded = rotor_match(self.rotor_anchor(det.t_end, s), det.f0_hz, s)
        assert folded is not None
        # kept: those within the memory of this one either way (one detection stamped far
        # off, or a clock that jumped, ages out with the next detection instead of staying)
        kept = [r for r in self.rotor_f0s if _within(r.when, det.t_end, s.rotor_memory_s)]
        assert det.f0_hz is not None
        heard = RotorF0(det.t_end, folded, det.f0_hz)
        self.rotor_f0s = deque([*kept, heard], maxlen=ROTOR_F0S_KEPT)

    def rotor_f0_hz(self) -> float | None:
        """The median fundamental a rotor-only track heard over its memory, as heard (not
        folded: a drone whose first frame was read an octave low keeps its own), else
        None."""
        if self.family != "acoustic" or not self.rotor_f0s:
            return None
        return statistics.median(r.heard_hz for r in self.rotor_f0s)

    def recent(self, horizon_s: float) -> list[Heard]:
        """The kept evidence stamped within horizon_s of the newest arrival's stamp: what
        the sensors heard lately, even while a backlog flushed at once is kept whole (by
        its arrival) for persistence."""
        if not self.frames:
            return []
        ref = self.frames[-1].t
        return [h for h in self.frames if _within(h.t, ref, horizon_s)]

    def suppression(self, horizon_s: float) -> str | None:
        """The allow rule that more than half of the track's recent detections matched, if
        one did (recent: `recent(horizon_s)`, the persistence horizon, so a window that
        closes, or an emitter the rule does not cover, turns the verdict round within
        seconds)."""
        recent = self.recent(horizon_s)
        counts: dict[str, int] = {}
        for heard in recent:
            if heard.reason is not None:
                counts[heard.reason] = counts.get(heard.reason, 0) + 1
        if 2 * sum(counts.values()) <= len(recent):
            return None
        return max(counts, key=lambda r: counts[r])


def _distance_to(track: Track, x: float, y: float) -> float | None:
    if track.fix is None:
        return None
    return math.hypot(track.fix.x_m - x, track.fix.y_m - y)


def choose_track(
    det: Detection, tracks: Iterable[Track], site: SiteConfig, s: TrackSettings
) -> Track | None:
    """The open track `det` belongs to (see the module docstring), or None."""
    family = family_of(det)
    since = det.t_end - timedelta(seconds=s.rssi_window_s)
    best: tuple[tuple[float, ...], Track] | None = None  # the lowest score wins
    for tr in tracks:
        if tr.site != det.site or tr.kind != det.kind or tr.last_rx is None:
            continue
        recency = -tr.last_rx.timestamp()
        if det.modality == "rf":
            if tr.family != family and not (tr.family == "acoustic" and det.kind == "drone"):
                continue
            if det.rssi_dbm is not None:
                span = tr.rssi_span(det.sensor_id, since)
                if span is not None and not (
                    span[0] - s.rssi_gate_db <= det.rssi_dbm <= span[1] + s.rssi_gate_db
                ):
                    continue
            if tr.family == family:  # its own radio's track: the most recently heard
                score: tuple[float, ...] = (0.0, 0.0, 0.0, recency)
            else:  # a rotor-only track: the alerted one, else the best heard one
                score = (1.0, 0.0 if tr.alert is not None else 1.0, -len(tr.frames), recency)
        else:  # a rotor: the drone track the microphone can hear, else the last heard
            if not tr.takes_rotor(det, s):
                continue
            placement = site.placement(det.sensor_id)
            d = _distance_to(tr, placement.x_m, placement.y_m) if placement else None
            if d is not None and d > s.acoustic_range_m:
                continue
            score = (0.0 if d is not None else 1.0, 0.0, 0.0, recency)
        if best is None or score < best[0]:
            best = (score, tr)
    return best[1] if best is not None else None


def _within(when: datetime, t: datetime, seconds: float) -> bool:
    return abs((t - when).total_seconds()) <= seconds


def valid_f0(f0_hz: float | None) -> TypeGuard[float]:
    """A fundamental a rotor track can use: known, finite, positive."""
    return f0_hz is not None and math.isfinite(f0_hz) and f0_hz > 0.0


@dataclass(frozen=True, slots=True)
class RotorAnchor:
    """The rotor fundamentals a track held recently: the last one and their span (Hz)."""

    last_hz: float
    low_hz: float
    high_hz: float


def rotor_match(
    anchor: RotorAnchor | None, f0_hz: float | None, s: TrackSettings
) -> tuple[bool, float | None]:
    """(whether a rotor comb at f0_hz can be the rotor of a track holding `anchor`, f0_hz
    as the track holds it once it joins). A comb within `rotor_octave_ratio` of twice or
    half the last fundamental was read an octave off and is folded into the track's
    octave; it joins when the (folded) f0_hz is within `rotor_f0_ratio` of the last one
    and the span of the track's recent fundamentals with it stays within
    `rotor_span_ratio`. An unknown anchor takes any f0_hz, and an unknown f0_hz joins any
    anchor (and is not kept: None)."""
    if not valid_f0(f0_hz):
        return True, None
    assert f0_hz is not None
    if anchor is None:
        return True, f0_hz
    r = math.log(f0_hz / anchor.last_hz)
    octave = 1 if r > 0 else -1
    folded = f0_hz
    if abs(r) > math.log(s.rotor_f0_ratio) and abs(r - octave * math.log(2.0)) <= math.log(
        s.rotor_octave_ratio
    ):
        folded = f0_hz / 2.0**octave
    step = abs(math.log(folded / anchor.last_hz))
    span = max(anchor.high_hz, folded) / min(anchor.low_hz, folded)
    return step <= math.log(s.rotor_f0_ratio) and span <= s.rotor_span_ratio, folded


def _fspl_1m_db(freq_hz: float) -> float:
    return 20.0 * math.log10(4.0 * math.pi * freq_hz / SPEED_OF_LIGHT_M_S)


def localise_track(track: Track, now: datetime, site: SiteConfig, s: TrackSettings) -> Fix | None:
    """Where the track's emitter is, from its recent evidence (module docstring)."""
    since = now - timedelta(seconds=s.rssi_window_s)
    family = track.family
    height = HEIGHT_M.get(track.kind, 1.5)
    by_place: dict[tuple[float, float, float], list[float]] = {}
    freqs: list[float] = []
    for sid, q in track.rssi.items():
        p = site.placement(sid)
        recent = [(r, f) for t, r, f in q if t >= since]
        if p is None or not recent:
            continue
        by_place.setdefault((p.x_m, p.y_m, p.z_m), []).extend(r for r, _ in recent)
        freqs += [f for _, f in recent]
    n_exp = site.path_loss_exponent
    if len(by_place) >= 3 and freqs:
        obs = [
            RssiObservation(x, y, z, statistics.median(levels),
                            sigma_db=max(s.rssi_sigma_db / math.sqrt(len(levels)),
                                         s.min_rssi_sigma_db))
            for (x, y, z), levels in by_place.items()
        ]  # fmt: skip
        eirp, spread = EIRP_DBM.get(family, (20.0, 10.0))
        p0 = eirp - _fspl_1m_db(statistics.median(freqs))
        fix = rssi_fix(obs, exponent=n_exp, z_m=height, p0_dbm=p0, p0_sigma_db=spread,
                       z_sigma_m=HEIGHT_SIGMA_M.get(track.kind))  # fmt: skip
        if fix is not None:
            return fix
    bearings = []
    for sid, (t, az) in track.bearings.items():
        p = site.placement(sid)
        if p is not None and t >= since:
            bearings.append(BearingObservation(p.x_m, p.y_m, az + p.orientation_deg,
                                               sigma_deg=s.bearing_sigma_deg))  # fmt: skip
    fix = bearing_fix(bearings)
    if fix is not None:
        return fix
    # one place: the loudest sensor's, as far as the emitter's nominal EIRP says it can be
    if by_place and freqs:
        (x, y, _), levels = max(by_place.items(), key=lambda kv: statistics.median(kv[1]))
        eirp, spread = EIRP_DBM.get(family, (20.0, 10.0))
        p0 = eirp + spread - _fspl_1m_db(statistics.median(freqs))
        reach = 10.0 ** ((p0 - statistics.median(levels)) / (10.0 * n_exp))
        return Fix(x, y, float(min(max(reach, 30.0), 3000.0)), "sensor", 1)
    heard = [site.placement(h.sensor_id) for h in track.frames]
    places = {(p.x_m, p.y_m) for p in heard if p is not None}
    if len(places) == 1:
        x, y = places.pop()
        return Fix(x, y, s.acoustic_range_m if track.family == "acoustic" else 1000.0,
                   "sensor", 1)  # fmt: skip
    return None
