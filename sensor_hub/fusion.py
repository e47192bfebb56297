"""Stage 2: turn candidate detections into alerts, one per intruder (pure logic, injected
clock).

Tracks (`sensor_hub/tracks.py`): each threat detection (kind drone or handset, confidence
at least `min_confidence`) joins the open track of its intruder, or starts one: a radio
family heard at a consistent level per sensor, a rotor near a drone track at a consistent
blade-pass fundamental (`tracks.rotor_match`). Detections of
kind ``other`` (Wi-Fi APs, ovens, staff radios) are stored by the caller and never
alerted. Each track is localised from its own evidence (RSSI multilateration, acoustic
bearings, else the loudest sensor with a wide radius) and placed in the smallest zone and
cell holding its fix.

Persistence (M-of-N over time): a track raises an alert only once it has detections in
at least M distinct frames within a window, per modality:

    RF:        rf_min_frames (3) frames within rf_window_s (5 s)
    acoustic:  acoustic_min_frames (4) frames within acoustic_window_s (8 s); 6 frames
               for a rotor heard alone under 110 Hz, the confusers' fundamentals
               (`FusionSettings.acoustic_frames_needed`)

The windows are read on the sensors' time stamps, anywhere in the evidence the track
keeps (`Track.add`: what arrived within max(window) by the hub's clock, or is stamped
within it of the newest detection; `persistent_in`): frames arriving out of order count
as in order, a hub working through a backlog still sees whole windows, and one detection
stamped far off (a sensor clock that jumped, or a sensor set an hour wrong beside a
right one) neither wipes the track's other evidence nor holds its alert back.

False-alarm arithmetic: if one frame gives a false detection of a threat class
with probability p (independently per frame), and a sensor sends F frames/s,
the window holds n = F·W frames and the chance that M or more are false is
P = sum_{k>=M} C(n,k) p^k (1-p)^(n-k) ≈ C(n,M) p^M for small p. With the demo's
2.4 GHz collector (F = 5/s, W = 5 s, n = 25, M = 3) and p = 1e-3 per frame,
P ≈ 2300 · 1e-9 = 2.3e-6 per window; windows start at most F times a second,
so the false-alert rate is ≤ 5 · 3600 · 24 · 2.3e-6 ≈ 1 per day per sensor;
p = 1e-4 gives ≈ 1e-3 per day. The detector's per-frame false-detection
rate of threat labels is what the bench scripts measure. For acoustic frames that
independence does not hold: confuser mixtures give drone-like combs in runs of frames;
counting only the frames of one rotor f0 track is what keeps them from persisting
(bench/acoustic_false_alarms.py). Splitting detections into tracks never makes a
false alert out of noise (a track's frames are a subset of its kind's), but it can split
one intruder in two (a rotor read at an unrelated f0 for four frames): the f0 gate's
width (x1.35 a step, octave reads, x1.69 over the 8 s it remembers) is set to avoid that.

Suppression (`sensor_hub/suppression.py`): a detection matching an allow rule, or from
a sensor in maintenance, is annotated with the reason (``suppressed``) and stored. A
track most of whose detections are suppressed is shown as an alert in state
``suppressed`` (event ``alert.suppressed``): visible, never paging.

Lifecycle: created -> updated (at most every update_interval_s, plus whenever the set
of sensors or signatures grows, the zone changes or severity rises) -> acknowledged
(operator) -> resolved (operator, or automatically after quiet_s without a detection).
A resolved track is remembered for reopen_s: a recurrence of the same intruder in that
time reopens the same alert (``alert.reopened``, same id) instead of paging anew.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from sensor_hub.errors import ConflictError, NotFoundError
from sensor_hub.schemas import Alert, AlertKind, Detection, EventType, Location, Severity
from sensor_hub.settings import FusionSettings, SiteConfig
from sensor_hub.suppression import in_maintenance, suppression_reason
from sensor_hub.tracks import (
    Track,
    TrackSettings,
    choose_track,
    family_of,
    localise_track,
    persistent_in,
)

Clock = Callable[[], datetime]
log = logging.getLogger(__name__)

_RANK = ["low", "medium", "high", "critical"]


@dataclass(frozen=True, slots=True)
class AlertChange:
    type: EventType
    alert: Alert
    new: bool = False  # the alert did not exist before: its build-up detections are its own


def _new_id() -> str:
    return "alr_" + uuid.uuid4().hex[:16]


def combine_confidence(values: Iterable[float]) -> float:
    """Independent evidence: 1 - prod(1 - c), capped below certainty."""
    miss = 1.0
    for c in values:
        miss *= 1.0 - min(max(c, 0.0), 1.0)
    return round(min(1.0 - miss, 0.999), 4)


def _severity(kind: AlertKind, modalities: set[str]) -> Severity:
    if kind == "drone":
        return "critical" if len(modalities) > 1 else "high"
    if kind == "handset":
        return "medium"
    return "high"


class Fusion:
    def __init__(
        self,
        settings: FusionSettings,
        site: SiteConfig,
        clock: Clock,
        tracks: TrackSettings = TrackSettings(),
    ) -> None:
        self._settings = settings
        self._site = site
        self._clock = clock
        self._track_settings = tracks
        self._tracks: list[Track] = []  # open, then resolved ones kept for reopen_s
        self._by_alert: dict[str, Track] = {}
        #: the last `process` call's detections (annotated with `suppressed` where a rule
        #: applies) and the alert each now belongs to, for the caller to store
        self.links: list[tuple[Detection, str | None]] = []

    def _window(self, modality: str, track: Track) -> tuple[timedelta, int]:
        s = self._settings
        if modality == "acoustic":
            needed = s.acoustic_frames_needed(track.rotor_f0_hz())
            return timedelta(seconds=s.acoustic_window_s), needed
        return timedelta(seconds=s.rf_window_s), s.rf_min_frames

    def _horizon_s(self) -> float:
        """How long a track's evidence counts (the longer persistence window)."""
        return max(self._settings.rf_window_s, self._settings.acoustic_window_s)

    def _persistent(self, track: Track, modality: str, since: datetime | None = None) -> bool:
        """M distinct frames of the modality (a frame: a sensor's time stamp) within its
        window, anywhere in the track's kept evidence (by the sensors' time stamps);
        since: only evidence received from then on (the hub's clock)."""
        window, needed = self._window(modality, track)
        frames = {
            (h.t, h.sensor_id)
            for h in track.frames
            if h.modality == modality and (since is None or h.rx >= since)
        }
        return persistent_in((t for t, _ in frames), window, needed)

    def _fix_places(self, track: Track) -> tuple[str | None, str | None] | None:
        """(zone, cell) of the track's fix when it is tight enough to tell zones apart
        (radius <= zone_radius_m; the cell only within cell_radius_m), else None."""
        fix, s = track.fix, self._settings
        if fix is None or fix.method == "sensor" or fix.radius_m > s.zone_radius_m:
            return None
        zone, cell = self._site.place_of(fix.x_m, fix.y_m)
        return zone, cell if fix.radius_m <= s.cell_radius_m else None

    def _places(self, track: Track) -> set[str] | None:
        """The zones and cells the track is known to be in (None: use the sensor's zone,
        suppression's default)."""
        places = self._fix_places(track)
        return None if places is None else {p for p in places if p is not None}

    def process(self, detections: Iterable[Detection]) -> list[AlertChange]:
        """Feed one frame's detections (or several); return the alert changes they cause.
        `self.links` then says where each detection went."""
        now = self._clock()
        changes: list[AlertChange] = []
        touched: dict[int, Track] = {}
        placed: list[tuple[Detection, Track | None]] = []
        horizon = self._horizon_s()
        for det in detections:
            maintenance = in_maintenance(self._site, det.sensor_id, det.t_start)
            if det.kind == "other" or det.confidence < self._settings.min_confidence or maintenance:
                # a sensor under maintenance is no evidence: stored, never part of a track
                reason = suppression_reason(det, self._site)
                placed.append((det.model_copy(update={"suppressed": reason}), None))
                continue
            track = choose_track(det, self._live(now), self._site, self._track_settings)
            if track is None:
                track = Track(site=det.site, kind=det.kind, family=family_of(det))
                self._tracks.append(track)
            elif track.family == "acoustic" and det.modality == "rf":
                track.family = family_of(det)  # the rotor's radio is heard now
            reason = suppression_reason(det, self._site, self._places(track))
            track.add(det, reason, horizon, now)
            track.note_rotor(det, self._track_settings)
            track.last_rx = now
            placement = self._site.placement(det.sensor_id)
            if placement is not None and placement.zone:
                votes = track.zone_votes
                votes[placement.zone] = votes.get(placement.zone, 0.0) + det.confidence
            touched[id(track)] = track
            placed.append((det.model_copy(update={"suppressed": reason}), track))
        for track in touched.values():
            change = self._evaluate(track, now)
            if change is not None:
                changes.append(change)
        # the alert each detection now belongs to (a track's first alert covers its frame)
        self.links = [
            (det, track.alert.id if track is not None and track.alert is not None else None)
            for det, track in placed
        ]
        return changes

    def _live(self, now: datetime) -> list[Track]:
        """Tracks a detection may join: heard within quiet_s (alert open, or not yet
        persistent), or resolved and heard within max(quiet_s, reopen_s) (`tick` forgets
        them after that)."""
        s = self._settings
        out = []
        for t in self._tracks:
            resolved = t.alert is not None and t.alert.state == "resolved"
            limit = max(s.quiet_s, s.reopen_s) if resolved else s.quiet_s
            if t.last_rx is not None and (now - t.last_rx).total_seconds() < limit:
                out.append(t)
        return out

    def _locate(self, track: Track, now: datetime) -> None:
        if track.last_fix is not None and (now - track.last_fix).total_seconds() < 1.0:
            return
        track.last_fix = now
        try:
            track.fix = localise_track(track, now, self._site, self._track_settings)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            # degenerate evidence (a solver that does not converge on odd levels): keep the
            # last fix; an alert without a better place is still an alert
            log.exception("localisation failed for a %s track; keeping its last fix", track.kind)

    def _alert_fields(self, track: Track, now: datetime) -> dict[str, object]:
        """Location, zone and cell: the fix's zone when the fix is tight enough to tell
        zones apart (radius <= zone_radius_m), its cell when it is tighter still (<=
        cell_radius_m); otherwise the zone of the loudest sensor (indoors walls make RSSI
        distances unreliable, but the nearest sensor is still the loudest), else of the
        sensors that heard it most."""
        self._locate(track, now)
        fix = track.fix
        zone, cell = self._fix_places(track) or (None, None)
        if zone is None:
            since = now - timedelta(seconds=self._track_settings.rssi_window_s)
            loudest = track.loudest(since)
            placement = self._site.placement(loudest) if loudest is not None else None
            zone = placement.zone if placement is not None else None
        if zone is None and track.zone_votes:
            zone = max(track.zone_votes, key=lambda z: track.zone_votes[z])
        location = (
            Location(x_m=round(fix.x_m, 1), y_m=round(fix.y_m, 1), radius_m=round(fix.radius_m, 1))
            if fix is not None
            else None
        )
        return {"zone": zone, "cell": cell, "location": location}

    def _evaluate(self, track: Track, now: datetime) -> AlertChange | None:
        confidence = combine_confidence(track.best_confidence.values())
        modalities = {h.modality for h in track.frames}
        suppressed = track.suppression(self._horizon_s())
        latest = max(h.t for h in track.recent(self._horizon_s()))
        if track.alert is None:
            if not any(self._persistent(track, m) for m in modalities):
                return None
            frames = list(track.frames)
            alert = Alert(
                id=_new_id(),
                site=track.site,
                kind=track.kind,
                signatures=sorted({k.split("/", 1)[1] for k in track.best_confidence}),
                state="suppressed" if suppressed else "active",
                severity=_severity(track.kind, modalities),
                confidence=confidence,
                first_seen=min(h.t for h in frames),
                last_seen=latest,
                updated_at=now,
                sensors=sorted({h.sensor_id for h in frames}),
                detection_count=len(frames),
                note=f"suppressed: {suppressed}" if suppressed else None,
                suppressed_by=suppressed,
                **self._alert_fields(track, now),
            )
            track.alert = alert
            track.last_emit = now
            track.emitted_sensors = list(alert.sensors)
            self._by_alert[alert.id] = track
            return AlertChange(
                "alert.suppressed" if suppressed else "alert.created", alert, new=True
            )
        old = track.alert
        reopened = old.state == "resolved"
        if reopened and not any(
            self._persistent(track, m, since=old.updated_at) for m in modalities
        ):
            return None  # a stray detection does not reopen: the intruder must persist again
        severity = _severity(track.kind, modalities)
        if not reopened and _RANK.index(old.severity) > _RANK.index(severity):
            severity = old.severity
        state = old.state
        if reopened:
            state = "suppressed" if suppressed else "active"
        # a suppressed intruder that no rule covers any more (its window closed, or most of
        # what is heard now is not the allowed emitter) pages like a new alert; an active
        # alert is never hidden by a rule that starts to match later
        unsuppressed = old.state == "suppressed" and not suppressed
        if unsuppressed:
            state = "active"
        new = old.model_copy(
            update={
                "state": state,
                "confidence": max(confidence, old.confidence) if not reopened else confidence,
                "severity": severity,
                "updated_at": now,
                "last_seen": max(old.last_seen, latest),
                "signatures": sorted({*old.signatures,
                                      *(k.split("/", 1)[1] for k in track.best_confidence)}),
                "sensors": sorted({*old.sensors, *(h.sensor_id for h in track.frames)}),
                "detection_count": old.detection_count + 1,
                "note": (
                    "reopened: the intruder is back" if reopened
                    else f"no longer covered by {old.suppressed_by}" if unsuppressed
                    else old.note
                ),
                "suppressed_by": suppressed if state == "suppressed" else None,
                **self._alert_fields(track, now),
            }
        )  # fmt: skip
        track.alert = new
        if unsuppressed:
            track.last_emit = now
            track.emitted_sensors = list(new.sensors)
            return AlertChange("alert.created", new)
        if reopened:
            self._by_alert[new.id] = track
            track.last_emit = now
            track.emitted_sensors = list(new.sensors)
            return AlertChange("alert.reopened", new)
        grew = (
            set(new.sensors) != set(track.emitted_sensors)
            or new.severity != old.severity
            or new.zone != old.zone
            or new.signatures != old.signatures
        )
        interval = self._settings.update_interval_s
        due = track.last_emit is None or (now - track.last_emit).total_seconds() >= interval
        if grew or due:
            track.last_emit = now
            track.emitted_sensors = list(new.sensors)
            kind: EventType = "alert.suppressed" if new.state == "suppressed" else "alert.updated"
            return AlertChange(kind, new)
        return None

    def tick(self) -> list[AlertChange]:
        """Resolve alerts quiet for quiet_s; forget tracks quiet for reopen_s."""
        now = self._clock()
        quiet = timedelta(seconds=self._settings.quiet_s)
        reopen = timedelta(seconds=max(self._settings.reopen_s, self._settings.quiet_s))
        changes: list[AlertChange] = []
        keep: list[Track] = []
        for track in self._tracks:
            idle = now - track.last_rx if track.last_rx is not None else quiet
            alert = track.alert
            if idle >= quiet and alert is not None and alert.state != "resolved":
                resolved = alert.model_copy(
                    update={"state": "resolved", "updated_at": now,
                            "note": "auto-resolved after quiet period"}
                )  # fmt: skip
                track.alert = resolved
                changes.append(AlertChange("alert.resolved", resolved))
            if idle >= quiet and alert is None:
                continue  # never persistent: nothing to reopen
            if idle < reopen:
                keep.append(track)
            elif track.alert is not None:
                self._by_alert.pop(track.alert.id, None)
        self._tracks = keep
        return changes

    def operator_action(self, alert: Alert, action: str, note: str) -> AlertChange:
        """Apply ack/resolve to an alert (live or loaded from the store)."""
        now = self._clock()
        if alert.state == "resolved":
            raise ConflictError(f"alert {alert.id} is already resolved")
        if action == "ack":
            if alert.state == "acknowledged":
                raise ConflictError(f"alert {alert.id} is already acknowledged")
            new_state, type_ = "acknowledged", "alert.acknowledged"
        elif action == "resolve":
            new_state, type_ = "resolved", "alert.resolved"
        else:
            raise NotFoundError(f"no action {action!r}")
        track = self._by_alert.get(alert.id)
        current = track.alert if track is not None and track.alert is not None else alert
        updated = current.model_copy(
            update={"state": new_state, "updated_at": now, "note": note or None}
        )
        if track is not None:
            track.alert = updated
        return AlertChange(type_, updated)  # type: ignore[arg-type]

    def live_alert(self, alert_id: str) -> Alert | None:
        track = self._by_alert.get(alert_id)
        if track is None or track.alert is None or track.alert.state == "resolved":
            return None
        return track.alert
